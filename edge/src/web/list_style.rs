//! The river's list style: full items (the default) or a compact list of titles with a line
//! of text each, for readers with many items.
//!
//! The choice is kept in a cookie (`view=compact`) in the reader's browser: there is no
//! per-user preferences store yet, so it follows the browser, not the account. It is a
//! display choice only: nothing a forged request could set does more than change how the
//! river looks.

use axum::Form;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::back_to;
use crate::accounts::CurrentUser;

const COOKIE: &str = "view";

/// A year: a display choice outlives sessions.
const MAX_AGE_SECS: u64 = 365 * 24 * 3600;

/// The request's browser chose the compact list.
pub(super) fn compact_list(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && value == "compact")
}

#[derive(Debug, Deserialize)]
pub(super) struct ListStyleForm {
    #[serde(default)]
    view: String,
    back: Option<String>,
}

/// `POST /settings/view` (`view=compact` or `view=full`): remembers the choice and goes back.
pub(super) async fn set_list_style(
    _user: CurrentUser,
    Form(form): Form<ListStyleForm>,
) -> Response {
    let cookie = match form.view.as_str() {
        "compact" => {
            format!("{COOKIE}=compact; Path=/; Max-Age={MAX_AGE_SECS}; HttpOnly; SameSite=Lax")
        }
        "full" => format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
        _ => {
            let message = "There is no such list style: use compact or full.";
            return (StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    let back = back_to(form.back.as_deref());
    let mut response = Redirect::to(back.as_str()).into_response();
    // Built from constants only, so always a valid header value.
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_view_cookie_saying_compact_chooses_the_compact_list() {
        let with = |cookie: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::COOKIE,
                HeaderValue::from_str(cookie).expect("ascii"),
            );
            compact_list(&headers)
        };
        assert!(with("session=abc; view=compact"));
        assert!(!with("view=full"));
        assert!(!with("preview=compact"));
        assert!(!compact_list(&HeaderMap::new()));
    }
}
