//! The answers' shapes, as FreshRSS writes them (the dialect apps parse): item lists,
//! item references, subscriptions, tags and unread counts.
//!
//! Item HTML is the middle tier's sanitized description, passed on as it is; every other
//! string is text that JSON escapes.

use middletier_api::{AppFeedCount, AppItem};
use serde::Serialize;

use super::ids::{READ, READING_LIST, STARRED, feed_id, label_id, long_id, short_id};

/// `stream/contents` and `stream/items/contents`.
#[derive(Debug, Serialize)]
pub(super) struct StreamContents {
    pub id: String,
    /// Unix seconds of the answer.
    pub updated: i64,
    pub items: Vec<Item>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Item {
    id: String,
    /// First seen, Unix milliseconds, as a string (Google Reader's habit).
    crawl_time_msec: String,
    /// River time, Unix microseconds, as a string: what `ot`/`nt` filter on.
    timestamp_usec: String,
    /// Unix seconds.
    published: i64,
    updated: i64,
    title: String,
    canonical: Vec<Href>,
    alternate: Vec<Alternate>,
    summary: Content,
    categories: Vec<String>,
    origin: Origin,
}

#[derive(Debug, Serialize)]
struct Href {
    href: String,
}

#[derive(Debug, Serialize)]
struct Alternate {
    href: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
struct Content {
    direction: &'static str,
    content: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Origin {
    stream_id: String,
    title: String,
    html_url: String,
}

impl Item {
    pub(super) fn from_app(item: AppItem) -> Self {
        let content = item.content.unwrap_or_else(|| middletier_api::Item {
            id: String::new(),
            title: String::new(),
            link: None,
            description: String::new(),
            published: None,
            read: item.read,
            starred: item.starred,
            author: None,
            enclosures: Vec::new(),
        });
        let mut categories = vec![READING_LIST.to_owned()];
        if let Some(category) = item.category.as_deref().filter(|c| !c.is_empty()) {
            categories.push(label_id(category));
        }
        if item.read {
            categories.push(READ.to_owned());
        }
        if item.starred {
            categories.push(STARRED.to_owned());
        }
        let links = content.link.clone().into_iter();
        Item {
            id: long_id(item.number),
            crawl_time_msec: item.seen.to_string(),
            timestamp_usec: item.time.saturating_mul(1000).to_string(),
            published: item.time.div_euclid(1000),
            updated: item.time.div_euclid(1000),
            title: content.title,
            canonical: links.clone().map(|href| Href { href }).collect(),
            alternate: links
                .map(|href| Alternate {
                    href,
                    kind: "text/html",
                })
                .collect(),
            summary: Content {
                direction: "ltr",
                content: content.description,
            },
            categories,
            origin: Origin {
                stream_id: feed_id(&item.feed_url),
                title: item.feed_title.unwrap_or_default(),
                html_url: site_of(&item.feed_url),
            },
        }
    }
}

/// The web site a feed belongs to, as far as its URL tells: its origin.
pub(super) fn site_of(feed_url: &str) -> String {
    url::Url::parse(feed_url)
        .map(|url| url.origin().ascii_serialization())
        .ok()
        .filter(|origin| origin != "null")
        .unwrap_or_default()
}

/// `stream/items/ids`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ItemRefs {
    pub item_refs: Vec<ItemRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ItemRef {
    /// Decimal, as a signed 64-bit integer.
    id: String,
    direct_stream_ids: Vec<String>,
    timestamp_usec: String,
}

impl ItemRef {
    pub(super) fn from_app(item: &AppItem) -> Self {
        ItemRef {
            id: short_id(item.number),
            direct_stream_ids: vec![feed_id(&item.feed_url)],
            timestamp_usec: item.time.saturating_mul(1000).to_string(),
        }
    }
}

/// `subscription/list`.
#[derive(Debug, Serialize)]
pub(super) struct Subscriptions {
    pub subscriptions: Vec<Subscription>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Subscription {
    id: String,
    title: String,
    categories: Vec<Label>,
    url: String,
    html_url: String,
    /// No favicons yet: empty, which apps take as "draw a placeholder".
    icon_url: String,
}

#[derive(Debug, Serialize)]
struct Label {
    id: String,
    label: String,
}

impl Subscription {
    pub(super) fn from_count(feed: &AppFeedCount) -> Self {
        Subscription {
            id: feed_id(&feed.url),
            title: feed.title.clone(),
            categories: feed
                .category
                .iter()
                .filter(|c| !c.is_empty())
                .map(|c| Label {
                    id: label_id(c),
                    label: c.clone(),
                })
                .collect(),
            url: feed.url.clone(),
            html_url: feed.site.clone().unwrap_or_else(|| site_of(&feed.url)),
            icon_url: String::new(),
        }
    }
}

/// `tag/list`.
#[derive(Debug, Serialize)]
pub(super) struct Tags {
    pub tags: Vec<Tag>,
}

#[derive(Debug, Serialize)]
pub(super) struct Tag {
    pub id: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
}

/// `unread-count`.
#[derive(Debug, Serialize)]
pub(super) struct UnreadCounts {
    pub max: usize,
    pub unreadcounts: Vec<UnreadCount>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UnreadCount {
    pub id: String,
    pub count: usize,
    /// River time of the newest item, Unix microseconds, as a string; `"0"` for none.
    pub newest_item_timestamp_usec: String,
}
