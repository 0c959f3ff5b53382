//! Reading state: `edit-tag` (read and starred, on many items at once) and
//! `mark-all-as-read` (a feed, a label or everything, up to a time).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use chrono::{DateTime, Utc};
use middletier_api::{MAX_APP_NUMBERS, MarkRead, NumbersStateChange};

use super::GreaderState;
use super::auth::AppUser;
use super::error::ApiError;
use super::ids::Stream;
use super::params::Params;
use super::streams::item_numbers;
use super::subscriptions::ok;

/// `POST /reader/api/0/edit-tag` with many `i` (any id form, up to 10,000) and `a`/`r` of
/// `user/-/state/com.google/read` and `…/starred`. Item labels are refused (a label is a
/// feed's folder here); other state tags (newsboat's `kept-unread`) are passed over. Ids of no
/// item of the user's change nothing.
pub(super) async fn edit_tag(
    State(state): State<GreaderState>,
    user: AppUser,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::read(&uri, &body)?;
    user.check_action_token(&params)?;
    let numbers = item_numbers(&params, MAX_APP_NUMBERS)?;
    if numbers.is_empty() {
        return Err(ApiError::BadRequest("i= names the items".to_owned()));
    }
    let (mut read, mut starred) = (None, None);
    for (key, value) in [("r", false), ("a", true)] {
        for tag in params.all(key) {
            match Stream::parse(tag, &user.name) {
                Ok(Stream::Read) => read = Some(value),
                Ok(Stream::Unread) => read = Some(!value),
                Ok(Stream::Starred) => starred = Some(value),
                // Refused, not passed over: an app told "OK" would believe the label kept.
                Ok(Stream::Label(_)) => {
                    return Err(ApiError::BadRequest(
                        "labels on single items are not supported: a label is a feed's folder"
                            .to_owned(),
                    ));
                }
                _ => {}
            }
        }
    }
    if read.is_none() && starred.is_none() {
        return Ok(ok());
    }
    for chunk in numbers.chunks(MAX_APP_NUMBERS) {
        state
            .apps
            .upstream
            .set_numbers_state(
                &user.name,
                &NumbersStateChange {
                    numbers: chunk.to_vec(),
                    read,
                    starred,
                },
            )
            .await?;
    }
    Ok(ok())
}

/// `POST /reader/api/0/mark-all-as-read` with `s` (the reading list, a label or a feed) and
/// optionally `ts`: only items up to that time, so what arrived since the app last looked
/// stays unread. Without `ts`, up to now.
pub(super) async fn mark_all_read(
    State(state): State<GreaderState>,
    user: AppUser,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::read(&uri, &body)?;
    user.check_action_token(&params)?;
    let stream = Stream::parse(params.get("s").unwrap_or(""), &user.name)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let up_to = match params.get("ts") {
        None | Some("" | "0") => Utc::now(),
        Some(raw) => timestamp(raw).ok_or_else(|| {
            ApiError::BadRequest("ts= is a Unix time (seconds to nanoseconds)".to_owned())
        })?,
    };
    let mut mark = MarkRead {
        up_to: Some(up_to.to_rfc3339()),
        ..MarkRead::default()
    };
    match stream {
        Stream::ReadingList | Stream::Unread => {}
        Stream::Feed(url) => mark.feed = Some(url),
        Stream::Label(label) => mark.category = Some(label),
        Stream::Starred | Stream::Read => {
            return Err(ApiError::BadRequest(
                "s= is the reading list, a label or a feed".to_owned(),
            ));
        }
    }
    state.apps.upstream.app_mark_read(&user.name, &mark).await?;
    Ok(ok())
}

/// A Unix time in whichever unit apps send it: FreshRSS documents nanoseconds, apps send
/// microseconds (Google Reader's item times), seconds or milliseconds. Told apart by size:
/// any of them for a date between 1973 and 5138 falls in its own range.
fn timestamp(raw: &str) -> Option<DateTime<Utc>> {
    let value: i64 = raw.parse().ok()?;
    let micros = match value {
        ..=0 => return None,
        1..100_000_000_000 => value.checked_mul(1_000_000)?,
        100_000_000_000..100_000_000_000_000 => value.checked_mul(1_000)?,
        100_000_000_000_000..100_000_000_000_000_000 => value,
        _ => value / 1_000,
    };
    DateTime::from_timestamp_micros(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_is_read_in_any_unit_apps_send() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        for raw in [
            "1700000000",
            "1700000000000",
            "1700000000000000",
            "1700000000000000000",
        ] {
            assert_eq!(timestamp(raw), Some(at), "{raw}");
        }
        for bad in ["-5", "soon", "1.5", "99999999999999999999"] {
            assert_eq!(timestamp(bad), None, "{bad}");
        }
    }
}
