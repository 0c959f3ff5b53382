//! The middle tier's wire types: what `GET/POST/DELETE /middletier/rss/user/{user}` speak.
//!
//! Kept compatible with the original recipe's JSON (`user`, `subscriptions[].url/title/items`),
//! with an optional per-feed `error` so one broken feed never hides the others. The crate root
//! re-exports every type here.

use serde::{Deserialize, Serialize};

/// Path prefix of the user resource; the edge builds URLs from it.
pub const USER_PATH: &str = "middletier/rss/user";

/// `GET /middletier/rss/user/{user}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserFeeds {
    pub user: String,
    pub subscriptions: Vec<Subscription>,
}

/// One subscribed feed with its latest items, or the reason it could not be read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The user's folder for this feed (flat: one level); `None`: uncategorised.
    #[serde(default)]
    pub category: Option<String>,
    /// How many of `items` this user has not read.
    #[serde(default)]
    pub unread: usize,
    /// The feed's icon, by content hash: `GET /middletier/icons/{hash}` serves its bytes.
    /// `None`: none found (yet), so nothing is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
}

/// A feed's refresh status. Times are RFC 3339.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Attempts that failed in a row since the last success (0 when the last one worked):
    /// one failure is a hiccup, ten a feed that needs looking at.
    #[serde(default)]
    pub consecutive_failures: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Item {
    /// Stable within its feed across refreshes: the entry's id / guid, else a hash of link and
    /// title; at most 256 characters. Reading state is keyed by it.
    #[serde(default)]
    pub id: String,
    pub title: String,
    /// Absolute `http(s)` link to the article; `None` when the feed gave none usable.
    pub link: Option<String>,
    /// Sanitized HTML (scripts, styles, event handlers and unsafe URLs removed).
    pub description: String,
    /// RFC 3339 publication (or update) time; `None` when the feed has no usable date.
    pub published: Option<String>,
    /// This user has read it (always false in the feed cache; filled per user when served).
    #[serde(default)]
    pub read: bool,
    /// This user starred it (as `read`).
    #[serde(default)]
    pub starred: bool,
    /// Who wrote it, as plain text (control characters removed, at most
    /// [`MAX_AUTHOR_BYTES`](crate::limits::MAX_AUTHOR_BYTES)); `None` when the feed names no
    /// one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Media attached to it (podcast episodes, videos, images), in feed order, at most
    /// [`MAX_ENCLOSURES`](crate::limits::MAX_ENCLOSURES).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enclosures: Vec<Enclosure>,
}

/// A media file attached to an item: RSS `<enclosure>`, Atom `rel="enclosure"`, Media RSS
/// content, with what iTunes and Podcasting 2.0 tags say about it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Enclosure {
    /// Absolute `http(s)` address of the file, at most
    /// [`MAX_URL_LEN`](crate::limits::MAX_URL_LEN).
    pub url: String,
    /// Its media type as the feed gives it (`audio/mpeg`), lower case, without parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Its size in bytes, as the feed gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// Running time in seconds (`itunes:duration`, Media RSS `duration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    /// Absolute `http(s)` address of the episode's image (`itunes:image`, a Media RSS
    /// thumbnail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl Enclosure {
    /// What kind of player shows it, from its media type.
    pub fn kind(&self) -> MediaKind {
        match self.media_type.as_deref().and_then(|t| t.split('/').next()) {
            Some("audio") => MediaKind::Audio,
            Some("video") => MediaKind::Video,
            Some("image") => MediaKind::Image,
            _ => MediaKind::Other,
        }
    }
}

/// How an [`Enclosure`] is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
    Image,
    /// A download link only.
    Other,
}

/// Answer to subscribe (`POST`) and unsubscribe (`DELETE`). Both are idempotent:
/// `changed` says whether this call made a difference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubscriptionChange {
    pub user: String,
    pub url: String,
    pub changed: bool,
}

/// Body of every error response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: String,
    /// With `300 Multiple Choices` for a web page that links several feeds: the feeds to
    /// choose from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
}

/// Answer to an OPML import (`POST /middletier/rss/user/{user}/opml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpmlImport {
    pub user: String,
    /// Feeds newly subscribed.
    pub imported: usize,
    /// Feeds the user already had.
    pub already: usize,
    pub feeds: Vec<ImportedFeed>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportedFeed {
    pub url: String,
    pub title: Option<String>,
    /// The OPML folder path ("Dev / Rust"); its first level became the subscription's category.
    pub category: Option<String>,
    /// Subscribed by this import (false: already subscribed).
    pub new: bool,
}

/// Which items a river shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    All,
    #[default]
    Unread,
    Starred,
}

/// Query of `GET /middletier/rss/user/{user}/items`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct RiverQuery {
    /// Only this feed (a subscribed feed URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<String>,
    /// Only feeds in this category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(inline))]
    pub filter: Filter,
    /// Opaque cursor from a previous page's `next`: the page after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Items per page: default 50, at most 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// One item of a river, with the feed it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RiverItem {
    pub feed_url: String,
    pub feed_title: String,
    /// `read` and `starred` are this user's.
    pub item: Item,
    /// The item's [`item_number`](crate::item_number), by which the edge addresses it
    /// (`/items/{number}`); `None` from a middle tier that does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
}

/// In which order search results come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SearchOrder {
    /// Newest first, as the river.
    #[default]
    Newest,
    /// Best match first (ties newest first).
    Relevance,
}

/// Query of `GET /middletier/rss/user/{user}/search`: items of the user's feeds' histories
/// matching `q`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct SearchQuery {
    /// What the reader typed: words (all required), `"quoted phrases"`, `-excluded` words; at
    /// most [`MAX_QUERY_CHARS`](crate::limits::MAX_QUERY_CHARS) characters and
    /// [`MAX_QUERY_WORDS`](crate::limits::MAX_QUERY_WORDS) words.
    pub q: String,
    /// Only this feed (a subscribed feed URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<String>,
    /// Only feeds in this category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Only unread or starred items; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(inline))]
    pub filter: Option<Filter>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(inline))]
    pub order: SearchOrder,
    /// Opaque cursor from a previous page's `next`: the page after it (same query only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Results per page: default 20, at most 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// A page of search results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    pub user: String,
    pub results: Vec<SearchResult>,
    /// Cursor of the next page; `None` on the last page.
    #[serde(default)]
    pub next: Option<String>,
}

/// One matching item, as the river shows it, with its matched words marked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResult {
    #[serde(flatten)]
    pub item: RiverItem,
    /// The item's title, cut where matched words start and end.
    pub title: Vec<Segment>,
    /// A short passage of the item's text around its first match (plain text, cut the same
    /// way); empty when the match is in the title only and the text is empty.
    pub excerpt: Vec<Segment>,
}

/// A piece of plain text, and whether it is a matched word (shown highlighted). Text, never
/// HTML: whoever renders it escapes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Segment {
    pub text: String,
    #[serde(default)]
    pub matched: bool,
}

/// Query of `GET /middletier/rss/user/{user}/item`: one item of a feed the user subscribes
/// to, answered as a [`RiverItem`]. The edge opens items through it, so the address a reader
/// is sent to comes from the feed, never from a link someone else wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ItemQuery {
    /// A subscribed feed URL.
    pub feed: String,
    /// The item's id within that feed.
    pub item: String,
}

/// A page of the river of news: the user's items, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct River {
    pub user: String,
    pub items: Vec<RiverItem>,
    /// Cursor of the next (older) page; `None` on the last page.
    #[serde(default)]
    pub next: Option<String>,
    /// Unread items in all the user's feeds.
    pub unread: usize,
    /// Every subscription, in subscription order, with its unread count (the sidebar).
    pub feeds: Vec<FeedSummary>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedSummary {
    pub url: String,
    pub title: String,
    #[serde(default)]
    pub category: Option<String>,
    pub unread: usize,
    #[serde(default)]
    pub error: Option<String>,
    /// The feed's icon, by content hash (see [`Subscription::icon`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
}

/// `POST /middletier/rss/user/{user}/items/state`: mark one item read/unread, starred or not.
/// A field left `None` is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemStateChange {
    pub feed: String,
    pub item: String,
    #[serde(default)]
    pub read: Option<bool>,
    #[serde(default)]
    pub starred: Option<bool>,
}

/// `POST /middletier/rss/user/{user}/items/read`: mark many items read. Neither `feed` nor
/// `category`: all the user's feeds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarkRead {
    #[serde(default)]
    pub feed: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    /// RFC 3339: only items published (or first seen) at or before it, so items that arrived
    /// after the page was rendered stay unread.
    #[serde(default)]
    pub up_to: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarkedRead {
    /// Items that were unread and are now read.
    pub marked: usize,
}

/// `POST /middletier/rss/user/{user}/refresh`: fetch one subscribed feed now ("check now").
/// The answer is the feed's [`Subscription`] (without items) as that check left it; a second
/// check of the same feed by the same user within the middle tier's interval
/// (`[refresh] check_now_interval`, 30 s by default) is refused with 429 and `Retry-After`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckNow {
    /// The subscribed feed's URL, as the user's subscription list gives it.
    pub url: String,
}

/// `PUT /middletier/rss/user/{user}/category`: `None` or `""` clears the category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryChange {
    pub url: String,
    #[serde(default)]
    pub category: Option<String>,
}

/// `POST /middletier/accounts`. The middle tier never sees passwords: `password_hash` is the
/// edge's argon2 PHC string, stored as is.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewAccount {
    pub user: String,
    pub password_hash: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    pub user: String,
    pub password_hash: String,
    /// RFC 3339.
    pub created: String,
}

// The hash is not a password, but it should not end up in logs either.
impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("user", &self.user)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// `PUT /middletier/accounts/{user}/password`: the account's new password, as the edge's
/// argon2 PHC string (like [`NewAccount`], never the password itself).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordChange {
    pub password_hash: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChange").finish_non_exhaustive()
    }
}

/// `POST /middletier/sessions`. `token_hash` is SHA-256 of the cookie's token, hex: the token
/// itself never leaves the browser and the edge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewSession {
    pub token_hash: String,
    pub user: String,
    /// RFC 3339; the session is gone after it.
    pub expires: String,
    /// Set for an app's token (Google Reader's ClientLogin): the id of the app password it
    /// was issued for; revoking that password ends the session. Web sessions have none, and
    /// the two never stand in for each other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_password: Option<String>,
}

/// `GET /middletier/sessions/{token_hash}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    pub user: String,
    pub expires: String,
    /// As [`NewSession::app_password`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_password: Option<String>,
}

/// A feed a page links to (or that a common path serves): what subscribing to a web page
/// offers to choose from (`ErrorBody::candidates`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Candidate {
    /// Absolute, normalised `http(s)` URL, ready to subscribe to.
    pub url: String,
    /// The link's `title` attribute, or the feed's own title for a probed path.
    pub title: Option<String>,
    pub kind: FeedKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum FeedKind {
    Rss,
    Atom,
    #[serde(rename = "json")]
    JsonFeed,
}

impl FeedKind {
    /// The kind a `<link type>` announces, ignoring parameters such as `; charset=utf-8`.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let essence = media_type.split(';').next().unwrap_or_default().trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/rss+xml" => Some(Self::Rss),
            "application/atom+xml" => Some(Self::Atom),
            "application/feed+json" | "application/json" => Some(Self::JsonFeed),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_serialize_with_lowercase_kinds() {
        let json = serde_json::to_value(Candidate {
            url: "https://blog.example/feed.json".into(),
            title: None,
            kind: FeedKind::JsonFeed,
        })
        .expect("json");
        assert_eq!(
            json,
            serde_json::json!({"url": "https://blog.example/feed.json", "title": null, "kind": "json"})
        );
        let kinds: Vec<String> = [FeedKind::Rss, FeedKind::Atom]
            .iter()
            .map(|k| serde_json::to_string(k).expect("json"))
            .collect();
        assert_eq!(kinds, ["\"rss\"", "\"atom\""]);
    }
}
