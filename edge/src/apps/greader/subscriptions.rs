//! Subscriptions and labels: `subscription/list`, `subscription/edit`,
//! `subscription/quickadd`, `tag/list`, `rename-tag`, `disable-tag` and `unread-count`.
//!
//! A label is one of the user's categories, and a feed is in at most one (the reader's
//! categories are flat): adding a label to a feed moves it there, removing its label leaves
//! it in none. The lists come from one `app/counts` call, which has every subscription with
//! its title (the user's own if set), category and unread count.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use middletier_api::{CategoryChange, CategoryRename, TitleChange};

use super::GreaderState;
use super::auth::AppUser;
use super::error::ApiError;
use super::ids::{READING_LIST, STARRED, Stream, feed_id, label_id};
use super::json::{Subscription, Subscriptions, Tag, Tags, UnreadCount, UnreadCounts};
use super::params::Params;

/// Most streams one `subscription/edit` or `disable-tag` changes (each is a call to the
/// middle tier).
const MAX_STREAMS_PER_CALL: usize = 100;

/// Google Reader's answer to a write.
pub(super) fn ok() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "OK").into_response()
}

/// `GET /reader/api/0/subscription/list`.
pub(super) async fn list(
    State(state): State<GreaderState>,
    user: AppUser,
) -> Result<Json<Subscriptions>, ApiError> {
    let counts = state.apps.upstream.app_counts(&user.name).await?;
    Ok(Json(Subscriptions {
        subscriptions: counts.feeds.iter().map(Subscription::from_count).collect(),
    }))
}

/// `GET /reader/api/0/tag/list`: the starred state and every label in use.
pub(super) async fn tags(
    State(state): State<GreaderState>,
    user: AppUser,
) -> Result<Json<Tags>, ApiError> {
    let counts = state.apps.upstream.app_counts(&user.name).await?;
    let mut labels: Vec<&str> = counts
        .feeds
        .iter()
        .filter_map(|feed| feed.category.as_deref())
        .filter(|c| !c.is_empty())
        .collect();
    labels.sort_unstable();
    labels.dedup();
    let tags = std::iter::once(Tag {
        id: STARRED.to_owned(),
        kind: None,
    })
    .chain(labels.into_iter().map(|label| Tag {
        id: label_id(label),
        kind: Some("folder"),
    }))
    .collect();
    Ok(Json(Tags { tags }))
}

/// `GET /reader/api/0/unread-count`: per feed, per label, and the reading list.
pub(super) async fn unread_count(
    State(state): State<GreaderState>,
    user: AppUser,
) -> Result<Json<UnreadCounts>, ApiError> {
    let counts = state.apps.upstream.app_counts(&user.name).await?;
    let usec = |ms: Option<i64>| ms.unwrap_or(0).saturating_mul(1000).to_string();
    let mut labels: BTreeMap<&str, (usize, Option<i64>)> = BTreeMap::new();
    let mut total = 0;
    let mut newest: Option<i64> = None;
    let mut unreadcounts = Vec::with_capacity(counts.feeds.len() + 1);
    for feed in &counts.feeds {
        unreadcounts.push(UnreadCount {
            id: feed_id(&feed.url),
            count: feed.unread,
            newest_item_timestamp_usec: usec(feed.newest),
        });
        if let Some(label) = feed.category.as_deref().filter(|c| !c.is_empty()) {
            let entry = labels.entry(label).or_default();
            entry.0 += feed.unread;
            entry.1 = entry.1.max(feed.newest);
        }
        total += feed.unread;
        newest = newest.max(feed.newest);
    }
    for (label, (count, newest)) in labels {
        unreadcounts.push(UnreadCount {
            id: label_id(label),
            count,
            newest_item_timestamp_usec: usec(newest),
        });
    }
    unreadcounts.push(UnreadCount {
        id: READING_LIST.to_owned(),
        count: total,
        newest_item_timestamp_usec: usec(newest),
    });
    Ok(Json(UnreadCounts {
        max: total,
        unreadcounts,
    }))
}

/// A label stream's name, or a clear refusal.
fn label(raw: &str, user: &str) -> Result<String, ApiError> {
    match Stream::parse(raw, user) {
        Ok(Stream::Label(label)) => Ok(label),
        _ => Err(ApiError::BadRequest(format!(
            "not a label: {:?}",
            raw.chars().take(100).collect::<String>()
        ))),
    }
}

/// The first label among `key`'s values, if any (other states, like newsboat's
/// `kept-unread`, are not labels and are passed over).
fn first_label(params: &Params, key: &str, user: &str) -> Option<String> {
    params
        .all(key)
        .find_map(|raw| match Stream::parse(raw, user) {
            Ok(Stream::Label(label)) => Some(label),
            _ => None,
        })
}

/// `POST /reader/api/0/subscription/edit` with `ac=subscribe|unsubscribe|edit`, one or more
/// `s=feed/<url>`, and optionally `t` (a title per `s`), `a` and `r` (labels).
pub(super) async fn edit(
    State(state): State<GreaderState>,
    user: AppUser,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::read(&uri, &body)?;
    user.check_action_token(&params)?;
    let upstream = &state.apps.upstream;
    let action = params.get("ac").unwrap_or("");
    if !matches!(action, "subscribe" | "unsubscribe" | "edit") {
        return Err(ApiError::BadRequest(
            "ac= is subscribe, unsubscribe or edit".to_owned(),
        ));
    }
    let feeds = feeds(&params, &user.name)?;
    let titles: Vec<&str> = params.all("t").collect();
    let add = first_label(&params, "a", &user.name);
    let remove = first_label(&params, "r", &user.name);
    for (n, url) in feeds.iter().enumerate() {
        let title = titles.get(n).copied().filter(|t| !t.is_empty());
        let url = match action {
            "unsubscribe" => {
                upstream.app_unsubscribe(&user.name, url).await?;
                continue;
            }
            "subscribe" => upstream.app_subscribe(&user.name, url).await?.url,
            _ => url.clone(),
        };
        let category = match (&add, &remove) {
            (Some(label), _) => Some(Some(label.clone())),
            (None, Some(_)) => Some(None),
            (None, None) => None,
        };
        if let Some(category) = category {
            upstream
                .app_set_category(
                    &user.name,
                    &CategoryChange {
                        url: url.clone(),
                        category,
                    },
                )
                .await?;
        }
        if let Some(title) = title {
            upstream
                .set_title(
                    &user.name,
                    &TitleChange {
                        url,
                        title: Some(title.to_owned()),
                    },
                )
                .await?;
        }
    }
    Ok(ok())
}

/// The feed URLs of every `s=feed/<url>`: at least one, at most [`MAX_STREAMS_PER_CALL`].
fn feeds(params: &Params, user: &str) -> Result<Vec<String>, ApiError> {
    let mut urls = Vec::new();
    for raw in params.all("s") {
        match Stream::parse(raw, user) {
            Ok(Stream::Feed(url)) => urls.push(url),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "not a feed stream: {:?}",
                    raw.chars().take(100).collect::<String>()
                )));
            }
        }
    }
    if urls.is_empty() || urls.len() > MAX_STREAMS_PER_CALL {
        return Err(ApiError::BadRequest(format!(
            "s= names 1 to {MAX_STREAMS_PER_CALL} feeds (feed/<url>)"
        )));
    }
    Ok(urls)
}

/// `POST /reader/api/0/subscription/quickadd?quickadd=<url>`: subscribes to a URL (or
/// `feed/<url>`). A URL that is no feed answers `numResults: 0` with the reason.
pub(super) async fn quickadd(
    State(state): State<GreaderState>,
    user: AppUser,
    uri: Uri,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let params = Params::read(&uri, &body)?;
    user.check_action_token(&params)?;
    let raw = params.get("quickadd").unwrap_or("");
    let url = raw.strip_prefix("feed/").unwrap_or(raw);
    if url.is_empty() {
        return Err(ApiError::BadRequest("quickadd= names a URL".to_owned()));
    }
    match state.apps.upstream.app_subscribe(&user.name, url).await {
        Ok(change) => Ok(Json(serde_json::json!({
            "query": url,
            "numResults": 1,
            "streamId": feed_id(&change.url),
            "streamName": change.url,
        }))),
        Err(error) if error.is_bad_request() => Ok(Json(serde_json::json!({
            "query": url,
            "numResults": 0,
            "error": error.to_string(),
        }))),
        Err(error) => Err(error.into()),
    }
}

/// `POST /reader/api/0/rename-tag` with `s` and `dest`, both labels: every feed of the one
/// moves to the other (merging if it exists).
pub(super) async fn rename_tag(
    State(state): State<GreaderState>,
    user: AppUser,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::read(&uri, &body)?;
    user.check_action_token(&params)?;
    let from = label(params.get("s").unwrap_or(""), &user.name)?;
    let to = label(params.get("dest").unwrap_or(""), &user.name)?;
    state
        .apps
        .upstream
        .rename_category(&user.name, &CategoryRename { from, to })
        .await?;
    Ok(ok())
}

/// `POST /reader/api/0/disable-tag` with one or more `s` labels: their feeds are left in no
/// category.
pub(super) async fn disable_tag(
    State(state): State<GreaderState>,
    user: AppUser,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::read(&uri, &body)?;
    user.check_action_token(&params)?;
    let labels = params
        .all("s")
        .map(|raw| label(raw, &user.name))
        .collect::<Result<Vec<_>, _>>()?;
    if labels.is_empty() || labels.len() > MAX_STREAMS_PER_CALL {
        return Err(ApiError::BadRequest(format!(
            "s= names 1 to {MAX_STREAMS_PER_CALL} labels"
        )));
    }
    for label in labels {
        state
            .apps
            .upstream
            .delete_category(&user.name, &label)
            .await?;
    }
    Ok(ok())
}
