//! Reading items: `stream/contents/<stream>` (items with content, a page at a time),
//! `stream/items/ids` (references only, for apps that diff) and `stream/items/contents`
//! (these items, by id).
//!
//! A stream and its filters become one `AppItemsQuery`; the few filters the middle tier has
//! no field for (only read items, no starred ones) are applied to each page here, so a page
//! may hold fewer than `n` items while a `continuation` still leads on, as Google Reader's
//! could. `n` is clamped to what one query may answer: 1,000 items with content, 10,000
//! references.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use chrono::Utc;
use middletier_api::{AppItem, AppItemsQuery, AppOrder, ItemNumbers, MAX_APP_ITEMS, MAX_APP_REFS};

use super::GreaderState;
use super::auth::AppUser;
use super::error::ApiError;
use super::ids::{Stream, parse_item};
use super::json::{Item, ItemRef, ItemRefs, StreamContents};
use super::params::Params;

/// Items per page when the app does not say (Google Reader's default).
const DEFAULT_COUNT: usize = 20;

/// Longest continuation accepted back (the middle tier's are far shorter).
const MAX_CONTINUATION_CHARS: usize = 1024;

/// The path the stream of `stream/contents` follows.
const CONTENTS_PATH: &str = "/reader/api/0/stream/contents";

/// The path the stream of the Atom output follows.
pub(super) const ATOM_PATH: &str = "/reader/atom";

/// A query for the middle tier and what is left to filter here.
#[derive(Debug, PartialEq)]
pub(super) struct Selection {
    pub query: AppItemsQuery,
    /// Keep only read items (`it=…/read`, or the read stream itself).
    read_only: bool,
    /// Leave starred items out (`xt=…/starred`).
    no_starred: bool,
}

impl Selection {
    pub(super) fn new(
        stream: &Stream,
        params: &Params,
        user: &str,
        max: usize,
    ) -> Result<Self, ApiError> {
        let mut selection = Selection {
            query: AppItemsQuery::default(),
            read_only: false,
            no_starred: false,
        };
        let stream_error = |e: super::ids::StreamError| ApiError::BadRequest(e.to_string());
        match stream {
            Stream::ReadingList => {}
            Stream::Starred => selection.query.starred = true,
            Stream::Read => selection.read_only = true,
            Stream::Unread => selection.query.unread = true,
            Stream::Label(label) => selection.query.category = Some(label.clone()),
            Stream::Feed(url) => selection.query.feed = Some(url.clone()),
        }
        for include in params.all("it") {
            match Stream::parse(include, user).map_err(stream_error)? {
                Stream::ReadingList => {}
                Stream::Starred => selection.query.starred = true,
                Stream::Read => selection.read_only = true,
                Stream::Unread => selection.query.unread = true,
                Stream::Label(_) | Stream::Feed(_) => {
                    return Err(ApiError::BadRequest(
                        "it= takes a state (read, unread, starred)".to_owned(),
                    ));
                }
            }
        }
        for exclude in params.all("xt") {
            match Stream::parse(exclude, user).map_err(stream_error)? {
                Stream::Read => selection.query.unread = true,
                Stream::Unread => selection.read_only = true,
                Stream::Starred => selection.no_starred = true,
                _ => {
                    return Err(ApiError::BadRequest(
                        "xt= takes a state (read, unread, starred)".to_owned(),
                    ));
                }
            }
        }
        selection.query.since = seconds(params, "ot")?;
        selection.query.until = seconds(params, "nt")?;
        if params.get("r") == Some("o") {
            selection.query.order = AppOrder::Oldest;
        }
        selection.query.limit = Some(match params.get("n") {
            None | Some("") => DEFAULT_COUNT,
            Some(n) => n
                .parse::<usize>()
                .map_err(|_| ApiError::BadRequest("n= is a number of items".to_owned()))?
                .clamp(1, max),
        });
        if let Some(continuation) = params.get("c").filter(|c| !c.is_empty()) {
            if continuation.len() > MAX_CONTINUATION_CHARS {
                return Err(ApiError::BadRequest("c= is too long".to_owned()));
            }
            selection.query.continuation = Some(continuation.to_owned());
        }
        Ok(selection)
    }

    /// Whether an item of a page stays in the answer.
    pub(super) fn keeps(&self, item: &AppItem) -> bool {
        (!self.read_only || item.read) && (!self.no_starred || !item.starred)
    }
}

/// A Unix second parameter (`ot`, `nt`); `0` or absent: none.
fn seconds(params: &Params, key: &str) -> Result<Option<i64>, ApiError> {
    match params.get(key) {
        None | Some("" | "0") => Ok(None),
        Some(raw) => raw
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("{key}= is a Unix time in seconds"))),
    }
}

/// The stream of a `stream/contents` (or Atom) request: the rest of its path after `prefix`
/// (percent-decoded, as newsboat sends it whole in one segment), else `s=`, else the
/// reading list.
pub(super) fn path_stream(
    prefix: &str,
    uri: &Uri,
    params: &Params,
    user: &str,
) -> Result<Stream, ApiError> {
    let rest = uri
        .path()
        .strip_prefix(prefix)
        .unwrap_or("")
        .trim_start_matches('/');
    let raw = if rest.is_empty() {
        params.get("s").unwrap_or("").to_owned()
    } else {
        percent_decode(rest)
            .ok_or_else(|| ApiError::BadRequest("the stream id is not valid UTF-8".to_owned()))?
    };
    if raw.is_empty() {
        return Ok(Stream::ReadingList);
    }
    Stream::parse(&raw, user).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// `%XX` escapes decoded (a `+` stays a `+`: this is a path, not a form).
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `GET /reader/api/0/stream/contents/<stream>`.
pub(super) async fn contents(
    State(state): State<GreaderState>,
    user: AppUser,
    uri: Uri,
) -> Result<Json<StreamContents>, ApiError> {
    let params = Params::read(&uri, &[])?;
    let stream = path_stream(CONTENTS_PATH, &uri, &params, &user.name)?;
    let selection = Selection::new(&stream, &params, &user.name, MAX_APP_ITEMS)?;
    let page = state
        .apps
        .upstream
        .app_items(&user.name, &selection.query)
        .await?;
    let items = page
        .items
        .into_iter()
        .filter(|item| selection.keeps(item))
        .map(Item::from_app)
        .collect();
    Ok(Json(StreamContents {
        id: stream.id(),
        updated: Utc::now().timestamp(),
        items,
        continuation: page.continuation,
    }))
}

/// `GET /reader/api/0/stream/items/ids?s=<stream>`.
pub(super) async fn ids(
    State(state): State<GreaderState>,
    user: AppUser,
    uri: Uri,
) -> Result<Json<ItemRefs>, ApiError> {
    let params = Params::read(&uri, &[])?;
    let stream = match params.get("s") {
        Some(raw) if !raw.is_empty() => {
            Stream::parse(raw, &user.name).map_err(|e| ApiError::BadRequest(e.to_string()))?
        }
        _ => return Err(ApiError::BadRequest("s= names the stream".to_owned())),
    };
    let mut selection = Selection::new(&stream, &params, &user.name, MAX_APP_REFS)?;
    selection.query.refs_only = true;
    let page = state
        .apps
        .upstream
        .app_items(&user.name, &selection.query)
        .await?;
    Ok(Json(ItemRefs {
        item_refs: page
            .items
            .iter()
            .filter(|item| selection.keeps(item))
            .map(ItemRef::from_app)
            .collect(),
        continuation: page.continuation,
    }))
}

/// `POST /reader/api/0/stream/items/contents` with many `i=` (any id form): those of the
/// user's items, newest first (`r=o`: oldest first). Ids of no item of the user's are left
/// out, as Google Reader did; at most 1,000 ids per call.
pub(super) async fn items(
    State(state): State<GreaderState>,
    user: AppUser,
    uri: Uri,
    body: Bytes,
) -> Result<Json<StreamContents>, ApiError> {
    let params = Params::read(&uri, &body)?;
    let numbers = item_numbers(&params, MAX_APP_ITEMS)?;
    let mut items = if numbers.is_empty() {
        Vec::new()
    } else {
        state
            .apps
            .upstream
            .app_items_by_number(&user.name, &ItemNumbers { numbers })
            .await?
            .items
    };
    if params.get("r") == Some("o") {
        items.sort_by_key(|item| (item.time, item.number));
    } else {
        items.sort_by_key(|item| std::cmp::Reverse((item.time, item.number)));
    }
    Ok(Json(StreamContents {
        id: Stream::ReadingList.id(),
        updated: Utc::now().timestamp(),
        items: items.into_iter().map(Item::from_app).collect(),
        continuation: None,
    }))
}

/// The item numbers of every `i=`, at most `max`; any malformed id refuses the call.
pub(super) fn item_numbers(params: &Params, max: usize) -> Result<Vec<u64>, ApiError> {
    let mut numbers = Vec::new();
    for raw in params.all("i") {
        if numbers.len() == max {
            return Err(ApiError::BadRequest(format!(
                "too many item ids (at most {max} per call)"
            )));
        }
        let number = parse_item(raw).ok_or_else(|| {
            let shown: String = raw.chars().take(64).collect();
            ApiError::BadRequest(format!("not an item id: {shown:?}"))
        })?;
        numbers.push(number);
    }
    Ok(numbers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Params {
        let uri: Uri = format!("/x?{query}").parse().expect("uri");
        Params::read(&uri, &[]).expect("params")
    }

    #[test]
    fn a_stream_and_its_filters_become_one_query() {
        let selection = Selection::new(
            &Stream::Label("Tech".into()),
            &params("xt=user/-/state/com.google/read&n=5000&ot=1700000000&r=o&c=abc"),
            "ann",
            MAX_APP_ITEMS,
        )
        .expect("selection");
        assert_eq!(
            selection.query,
            AppItemsQuery {
                category: Some("Tech".into()),
                unread: true,
                since: Some(1_700_000_000),
                order: AppOrder::Oldest,
                continuation: Some("abc".into()),
                limit: Some(MAX_APP_ITEMS),
                ..AppItemsQuery::default()
            }
        );
        let starred = Selection::new(
            &Stream::ReadingList,
            &params("it=user/ann/state/com.google/starred"),
            "ann",
            MAX_APP_REFS,
        )
        .expect("selection");
        assert!(starred.query.starred);
        assert_eq!(starred.query.limit, Some(DEFAULT_COUNT));
    }

    #[test]
    fn bad_filters_are_refused_not_ignored() {
        for query in [
            "n=lots",
            "ot=yesterday",
            "it=feed/https://a.example/",
            "xt=user/bob/state/com.google/read",
            "xt=user/-/label/x",
        ] {
            assert!(
                Selection::new(&Stream::ReadingList, &params(query), "ann", 10).is_err(),
                "{query}"
            );
        }
    }

    #[test]
    fn the_contents_stream_comes_whole_from_the_path() {
        let uri: Uri =
            "/reader/api/0/stream/contents/feed%2Fhttp%3A%2F%2Fa.example%2Ff%3Fx%3D1%2B2?n=5"
                .parse()
                .expect("uri");
        assert_eq!(
            path_stream(CONTENTS_PATH, &uri, &params(""), "ann").expect("stream"),
            Stream::Feed("http://a.example/f?x=1+2".into())
        );
        let plain: Uri = "/reader/api/0/stream/contents/user/-/label/Tech%20news"
            .parse()
            .expect("uri");
        assert_eq!(
            path_stream(CONTENTS_PATH, &plain, &params(""), "ann").expect("stream"),
            Stream::Label("Tech news".into())
        );
        let bare: Uri = "/reader/api/0/stream/contents".parse().expect("uri");
        assert_eq!(
            path_stream(CONTENTS_PATH, &bare, &params(""), "ann").expect("stream"),
            Stream::ReadingList
        );
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn item_ids_are_bounded_and_all_valid() {
        assert_eq!(
            item_numbers(&params("i=1&i=0000000000000002"), 10).expect("ids"),
            [1, 2]
        );
        assert!(item_numbers(&params("i=1&i=2&i=3"), 2).is_err());
        assert!(item_numbers(&params("i=1&i=nope"), 10).is_err());
    }
}
