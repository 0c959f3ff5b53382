//! What the edge needs from the middle tier to serve sync apps (the Google Reader and Fever
//! APIs): items addressed by number, selections of items in the orders apps ask for, state
//! changes on many items at once, per-user feed titles and category renames, and app
//! passwords. The crate root re-exports every type here.
//!
//! # Item numbers
//! Apps address an item by one integer. An item's number is derived, never stored:
//! `(first_seen_unix_seconds << 32) | h32`, where `h32` is the first four bytes (big endian)
//! of SHA-256 over `feed_url`, one `\n`, and the item's id within its feed ([`item_number`]).
//! So it is stable across refreshes (first-seen time is kept), across stores (export carries
//! first-seen times) and across middle tiers, and grows with arrival (Fever's `since_id`).
//! Two items share a number only if first seen in the same second with the same 32-bit hash:
//! about one pair in a thousand users who import 25,000 items at once.

use serde::{Deserialize, Serialize};

use crate::wire::Item;

/// The number apps know an item by (see the module documentation).
pub fn item_number(feed_url: &str, item_id: &str, first_seen_unix_seconds: i64) -> u64 {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    hash.update(feed_url.as_bytes());
    hash.update(b"\n");
    hash.update(item_id.as_bytes());
    let digest = hash.finish();
    let digest = digest.as_ref();
    let low = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let seconds = u64::try_from(first_seen_unix_seconds.max(0)).unwrap_or(0) & 0xFFFF_FFFF;
    (seconds << 32) | u64::from(low)
}

/// The first-seen second an item number was made from (the high 32 bits).
pub fn item_number_seconds(number: u64) -> i64 {
    i64::try_from(number >> 32).unwrap_or(0)
}

/// Most items one [`AppItemsQuery`] answers with content.
pub const MAX_APP_ITEMS: usize = 1_000;

/// Most item references one [`AppItemsQuery`] answers without content (`refs_only`).
pub const MAX_APP_REFS: usize = 10_000;

/// Most numbers one [`ItemNumbers`] or [`NumbersStateChange`] may carry.
pub const MAX_APP_NUMBERS: usize = 10_000;

/// Most app passwords one user may hold.
pub const MAX_APP_PASSWORDS: usize = 20;

/// Longest app password name, in characters.
pub const MAX_APP_PASSWORD_NAME: usize = 100;

/// Order of an [`AppItemsQuery`]'s answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AppOrder {
    /// River time, newest first (Google Reader's default).
    #[default]
    Newest,
    /// River time, oldest first (Google Reader's `r=o`).
    Oldest,
    /// Item number ascending (Fever's `since_id`).
    NumberAscending,
    /// Item number descending (Fever's `max_id`, and Fever's default).
    NumberDescending,
}

/// Query of `GET /middletier/rss/user/{user}/app/items`: a selection of the user's items
/// (across the whole history of the feeds the user subscribes to), a page at a time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AppItemsQuery {
    /// Only this feed (a subscribed feed URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<String>,
    /// Only feeds in this category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Only items this user has not read (Google Reader's `xt=…/read`).
    #[serde(default)]
    pub unread: bool,
    /// Only items this user starred (the starred stream, or `it=…/starred`).
    #[serde(default)]
    pub starred: bool,
    /// Only items whose river time is at or after this Unix second (`ot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// Only items whose river time is before this Unix second (`nt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    /// Only items numbered above this (Fever's `since_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<u64>,
    /// Only items numbered below this (Fever's `max_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<u64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(inline))]
    pub order: AppOrder,
    /// Opaque cursor from a previous page's `continuation`: the page after it (same query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
    /// Items per page: default 20; at most [`MAX_APP_ITEMS`], or [`MAX_APP_REFS`] with
    /// `refs_only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Answer references only (no `content`): Google Reader's `stream/items/ids`, Fever's id
    /// lists.
    #[serde(default)]
    pub refs_only: bool,
}

/// A page of an [`AppItemsQuery`] (also the answer to [`ItemNumbers`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppItems {
    pub items: Vec<AppItem>,
    /// Cursor of the next page; `None` on the last page.
    #[serde(default)]
    pub continuation: Option<String>,
}

/// One item as apps see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppItem {
    /// [`item_number`] of the item.
    pub number: u64,
    pub feed_url: String,
    /// River time, Unix milliseconds: published, never later than first seen.
    pub time: i64,
    /// First seen, Unix milliseconds (Google Reader's crawl time).
    pub seen: i64,
    pub read: bool,
    pub starred: bool,
    /// The feed's title (the user's own title for it if set) and category; `None` with
    /// `refs_only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The item (`read`/`starred` are this user's); `None` with `refs_only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Item>,
}

/// `POST /middletier/rss/user/{user}/app/items`: these items, with content, in the order
/// given; numbers unknown or not in the user's feeds are left out (never an error, never
/// another user's item). At most [`MAX_APP_NUMBERS`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemNumbers {
    pub numbers: Vec<u64>,
}

/// `POST /middletier/rss/user/{user}/app/items/state`: mark many items read/unread,
/// starred/unstarred at once; a field left `None` is unchanged. Numbers not in the user's
/// feeds are counted in `unknown` and change nothing. At most [`MAX_APP_NUMBERS`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumbersStateChange {
    pub numbers: Vec<u64>,
    #[serde(default)]
    pub read: Option<bool>,
    #[serde(default)]
    pub starred: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumbersStateChanged {
    /// Items whose state this call changed.
    pub changed: usize,
    /// Numbers that are no item of the user's feeds.
    pub unknown: usize,
}

/// `GET /middletier/rss/user/{user}/app/counts`: per subscription, what Google Reader's
/// `unread-count` and Fever's `feeds` need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppCounts {
    pub feeds: Vec<AppFeedCount>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppFeedCount {
    pub url: String,
    /// The user's title for the feed if set, else the feed's own.
    pub title: String,
    /// The feed's web site (its `<link>`), when known.
    #[serde(default)]
    pub site: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    /// Unread items in the feed's whole history.
    pub unread: usize,
    /// River time of the newest item, Unix milliseconds; `None` when it has none.
    #[serde(default)]
    pub newest: Option<i64>,
    /// When the feed was last fetched successfully, Unix seconds.
    #[serde(default)]
    pub updated: Option<i64>,
}

/// `PUT /middletier/rss/user/{user}/title`: the user's own title for one subscription;
/// `None` or `""` goes back to the feed's title.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TitleChange {
    pub url: String,
    #[serde(default)]
    pub title: Option<String>,
}

/// `POST /middletier/rss/user/{user}/categories/rename`: every subscription in `from` moves to
/// `to` (which may already exist: the two merge).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryRename {
    pub from: String,
    pub to: String,
}

/// Answer to a category rename or removal: how many subscriptions changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryChanged {
    pub changed: usize,
}

/// `POST /middletier/accounts/{user}/app-passwords`. The middle tier never sees the password:
/// only SHA-256 (hex) of it, and SHA-256 (hex) of its Fever key (`md5("user:password")` in
/// lowercase hex). Both are unique: a collision is refused with 409.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewAppPassword {
    /// Chosen by the edge: 16 lowercase hex characters.
    pub id: String,
    pub name: String,
    pub secret_hash: String,
    pub fever_hash: String,
}

/// One app password as its owner's settings page lists it (`GET …/app-passwords`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppPassword {
    pub id: String,
    pub name: String,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339; `None`: never used. Updated at most once a minute.
    #[serde(default)]
    pub last_used: Option<String>,
}

/// `GET /middletier/app-passwords/by-secret/{secret_hash}` and
/// `GET /middletier/app-passwords/by-fever/{fever_hash}`: whose password it is (404: nobody's).
/// Looking one up records it as used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppPasswordOwner {
    pub user: String,
    pub id: String,
}

impl std::fmt::Debug for NewAppPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAppPassword")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_grow_with_first_seen_and_keep_it() {
        let a = item_number("https://example.com/feed", "a", 1_700_000_000);
        let b = item_number("https://example.com/feed", "b", 1_700_000_001);
        assert!(a < b);
        assert_eq!(item_number_seconds(a), 1_700_000_000);
        assert_eq!(
            a,
            item_number("https://example.com/feed", "a", 1_700_000_000)
        );
        assert_ne!(
            a,
            item_number("https://example.com/other", "a", 1_700_000_000)
        );
    }
}
