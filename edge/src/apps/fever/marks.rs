//! `mark=item&as=read|unread|saved|unsaved&id=N`, and `mark=feed|group&as=read&id=N&before=T`
//! (group 0: every feed).
//!
//! An id that is none of the user's items, feeds or groups changes nothing, and the answer is
//! the same as for one that is: nothing tells a client which numbers exist elsewhere.

use chrono::{DateTime, Utc};

use middletier_api::{MarkRead, NumbersStateChange};

use super::reads::{FeedIndex, List};
use super::{AppsState, FeverError, Params, ids};

/// Applies the request's mark, if any; answers which id list it changed.
pub(super) async fn apply(
    state: &AppsState,
    user: &str,
    params: &Params,
    feeds: &FeedIndex<'_>,
) -> Result<Option<List>, FeverError> {
    let Some(target) = params.get("mark") else {
        return Ok(None);
    };
    let bad = |message: &str| FeverError::BadRequest(message.to_owned());
    let as_ = params.get("as").ok_or_else(|| bad("mark needs as"))?;
    let id = params
        .get("id")
        .map(str::trim)
        .ok_or_else(|| bad("mark needs id"))?;
    match target.to_ascii_lowercase().as_str() {
        "item" => {
            let number = ids::parse_number(id).ok_or_else(|| bad("id must be an item id"))?;
            let (read, starred, list) = match as_ {
                "read" => (Some(true), None, List::Unread),
                "unread" => (Some(false), None, List::Unread),
                "saved" => (None, Some(true), List::Saved),
                "unsaved" => (None, Some(false), List::Saved),
                _ => return Err(bad("as must be read, unread, saved or unsaved")),
            };
            let change = NumbersStateChange {
                numbers: vec![number],
                read,
                starred,
            };
            state
                .upstream
                .set_numbers_state(user, &change)
                .await
                .map_err(FeverError::Upstream)?;
            Ok(Some(list))
        }
        kind @ ("feed" | "group") => {
            if as_ != "read" {
                return Err(bad("feeds and groups can only be marked read"));
            }
            let id: i64 = id.parse().map_err(|_| bad("id must be a number"))?;
            let up_to = up_to(params.get("before"))?;
            let scope = match (kind, id) {
                // Group 0 is Fever's "Kindling": every feed.
                ("group", 0) => Some(MarkRead {
                    feed: None,
                    category: None,
                    up_to,
                }),
                ("group", _) => feeds.category(id).map(|category| MarkRead {
                    feed: None,
                    category: Some(category.to_owned()),
                    up_to,
                }),
                _ => feeds.feed_url(id).map(|url| MarkRead {
                    feed: Some(url.to_owned()),
                    category: None,
                    up_to,
                }),
            };
            if let Some(mark) = scope {
                state
                    .upstream
                    .app_mark_read(user, &mark)
                    .await
                    .map_err(FeverError::Upstream)?;
            }
            Ok(Some(List::Unread))
        }
        _ => Err(bad("mark must be item, feed or group")),
    }
}

/// `before` (Unix seconds) as the middle tier's `up_to`: items of that time or older are
/// marked, so those that arrived after the app last looked stay unread. Missing or 0: now.
fn up_to(before: Option<&str>) -> Result<Option<String>, FeverError> {
    let seconds = match before.map(str::trim).filter(|text| !text.is_empty()) {
        None => 0,
        Some(text) => text
            .parse::<i64>()
            .map_err(|_| FeverError::BadRequest("before must be a Unix time".to_owned()))?,
    };
    if seconds <= 0 {
        return Ok(Some(Utc::now().to_rfc3339()));
    }
    DateTime::from_timestamp(seconds, 0)
        .map(|at| Some(at.to_rfc3339()))
        .ok_or_else(|| FeverError::BadRequest("before is out of range".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_is_a_unix_time_and_defaults_to_now() {
        assert_eq!(
            up_to(Some("1700000000")).ok().flatten().as_deref(),
            Some("2023-11-14T22:13:20+00:00")
        );
        assert!(up_to(None).ok().flatten().is_some());
        assert!(up_to(Some("0")).ok().flatten().is_some());
        for bad in [
            "yesterday",
            "1e9",
            "99999999999999999999",
            "9223372036854775807",
        ] {
            assert!(up_to(Some(bad)).is_err(), "{bad:?}");
        }
    }
}
