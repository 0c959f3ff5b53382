//! The river's list style switch: full items (the default) or a compact list of titles with a
//! line of text each, for readers with many items.
//!
//! The choice is one of the user's reading preferences, stored by the middle tier, so it
//! follows the account to every browser (it once lived in a `view` cookie, which is no longer
//! read). It is a display choice only: nothing a forged request could set does more than
//! change how the river looks, and the edge's CSRF layer refuses cross-site posts anyway.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use middletier_api::{ListStyle, Preferences};

use super::{WebState, back_to};
use crate::accounts::CurrentUser;

#[derive(Debug, Deserialize)]
pub(super) struct ListStyleForm {
    #[serde(default)]
    view: String,
    back: Option<String>,
}

/// `POST /settings/view` (`view=compact` or `view=full`): stores the choice and goes back.
pub(super) async fn set_list_style(
    State(state): State<WebState>,
    user: CurrentUser,
    Form(form): Form<ListStyleForm>,
) -> Response {
    let list_style = match form.view.as_str() {
        "compact" => ListStyle::Compact,
        "full" => ListStyle::Full,
        _ => {
            let message = "There is no such list style: use compact or full.";
            return (StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    let preferences = Preferences {
        list_style,
        ..user.preferences
    };
    if let Err(error) = state
        .accounts
        .set_preferences(&user.name, &preferences)
        .await
    {
        let message = format!("The list style was not changed: {error}. Please try again.");
        return (StatusCode::SERVICE_UNAVAILABLE, message).into_response();
    }
    Redirect::to(back_to(form.back.as_deref()).as_str()).into_response()
}
