//! The middle tier's wire types: what `GET/POST/DELETE /middletier/rss/user/{user}` speak.
//!
//! Kept compatible with the original recipe's JSON (`user`, `subscriptions[].url/title/items`),
//! with an optional per-feed `error` so one broken feed never hides the others.

use serde::{Deserialize, Serialize};

/// Path prefix of the user resource; the edge builds URLs from it.
pub const USER_PATH: &str = "middletier/rss/user";

/// `GET /middletier/rss/user/{user}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserFeeds {
    pub user: String,
    pub subscriptions: Vec<Subscription>,
}

/// One subscribed feed with its latest items, or the reason it could not be read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// The URL the user subscribed to (the key for unsubscribing).
    pub url: String,
    /// The feed's own title, or the URL's host when the feed could not be read.
    pub title: String,
    #[serde(default)]
    pub items: Vec<Item>,
    /// Set when the latest refresh failed (the items, if any, are from the last success):
    /// a message for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How fresh the items are and when the feed is fetched next.
    #[serde(default)]
    pub status: FeedStatus,
}

/// A feed's refresh status. Times are RFC 3339.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedStatus {
    /// When the items were last fetched successfully; `None`: not yet.
    pub last_success: Option<String>,
    pub last_attempt: Option<String>,
    /// HTTP status of the last attempt, when it got an answer.
    pub http_status: Option<u16>,
    pub next_refresh: Option<String>,
    /// The publisher answered 410 Gone: the feed is not fetched any more.
    #[serde(default)]
    pub gone: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub title: String,
    /// Absolute `http(s)` link to the article; `None` when the feed gave none usable.
    pub link: Option<String>,
    /// Sanitized HTML (scripts, styles, event handlers and unsafe URLs removed).
    pub description: String,
    /// RFC 3339 publication (or update) time; `None` when the feed has no usable date.
    pub published: Option<String>,
}

/// Answer to subscribe (`POST`) and unsubscribe (`DELETE`). Both are idempotent:
/// `changed` says whether this call made a difference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionChange {
    pub user: String,
    pub url: String,
    pub changed: bool,
}

/// Body of every error response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    /// With `300 Multiple Choices` for a web page that links several feeds: the feeds to
    /// choose from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<crate::discover::Candidate>,
}

/// Answer to an OPML import (`POST /middletier/rss/user/{user}/opml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpmlImport {
    pub user: String,
    /// Feeds newly subscribed.
    pub imported: usize,
    /// Feeds the user already had.
    pub already: usize,
    pub feeds: Vec<ImportedFeed>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportedFeed {
    pub url: String,
    pub title: Option<String>,
    /// The OPML folder path ("Dev / Rust"), kept for display; subscriptions have no folders yet.
    pub category: Option<String>,
    /// Subscribed by this import (false: already subscribed).
    pub new: bool,
}
