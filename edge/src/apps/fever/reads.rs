//! The answers that read: `groups`, `feeds`, `favicons`, `items`, `links`, `unread_item_ids`
//! and `saved_item_ids`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use middletier_api::{
    AppCounts, AppFeedCount, AppItem, AppItems, AppItemsQuery, AppOrder, ItemNumbers, MAX_APP_REFS,
};

use super::ids::{self, feed_id, group_id};
use super::{AppsState, FeverError, Params};

/// Items per `items` answer: what Fever sends, and what its clients page by.
const ITEMS_PER_CALL: usize = 50;

/// Most numbers in `unread_item_ids`, `saved_item_ids` and `total_items`: the newest this
/// many. Fever has no paging for them, and a phone that syncs 50,000 unread items has
/// already given up reading them.
pub(super) const MAX_ID_LIST: usize = 50_000;

/// Which id list a mark changes, so its answer carries that list (as Fever's does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum List {
    Unread,
    Saved,
}

/// The user's feeds and groups by Fever number (see [`ids`]).
#[derive(Debug)]
pub(super) struct FeedIndex<'a> {
    feeds: Vec<(u32, &'a AppFeedCount)>,
    /// Category name → group id, in name order.
    groups: BTreeMap<&'a str, u32>,
}

impl<'a> FeedIndex<'a> {
    pub(super) fn new(counts: &'a AppCounts) -> Self {
        let feeds: Vec<_> = counts
            .feeds
            .iter()
            .map(|feed| (feed_id(&feed.url), feed))
            .collect();
        let groups = feeds
            .iter()
            .filter_map(|(_, feed)| feed.category.as_deref())
            .filter(|category| !category.is_empty())
            .map(|category| (category, group_id(category)))
            .collect();
        Self { feeds, groups }
    }

    /// When a feed was last fetched, Unix seconds (0: never).
    pub(super) fn last_refreshed(&self) -> i64 {
        self.feeds
            .iter()
            .filter_map(|(_, feed)| feed.updated)
            .max()
            .unwrap_or(0)
    }

    /// The URL of the user's feed numbered `id`.
    pub(super) fn feed_url(&self, id: i64) -> Option<&'a str> {
        self.feeds
            .iter()
            .find(|(number, _)| i64::from(*number) == id)
            .map(|(_, feed)| feed.url.as_str())
    }

    /// The user's category numbered `id`.
    pub(super) fn category(&self, id: i64) -> Option<&'a str> {
        self.groups
            .iter()
            .find(|(_, number)| i64::from(**number) == id)
            .map(|(name, _)| *name)
    }

    fn groups(&self) -> Value {
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|(name, id)| json!({"id": id, "title": name}))
            .collect();
        Value::Array(groups)
    }

    fn feeds_groups(&self) -> Value {
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|(name, id)| {
                let members: Vec<u64> = self
                    .feeds
                    .iter()
                    .filter(|(_, feed)| feed.category.as_deref() == Some(*name))
                    .map(|(number, _)| u64::from(*number))
                    .collect();
                json!({"group_id": id, "feed_ids": ids::join(&members)})
            })
            .collect();
        Value::Array(groups)
    }

    fn feeds(&self) -> Value {
        let feeds: Vec<Value> = self
            .feeds
            .iter()
            .map(|(id, feed)| {
                json!({
                    "id": id,
                    // No favicons yet: 0 names none.
                    "favicon_id": 0,
                    "title": feed.title,
                    "url": feed.url,
                    "site_url": feed.site.clone().unwrap_or_else(|| site_of(&feed.url)),
                    "is_spark": 0,
                    "last_updated_on_time": feed.updated.unwrap_or(0),
                })
            })
            .collect();
        Value::Array(feeds)
    }
}

/// A feed's web site when the middle tier knows none: the root of the feed's own host, where
/// a site almost always is, and the address apps look for a site's icon on.
fn site_of(feed_url: &str) -> String {
    url::Url::parse(feed_url)
        .map(|url| format!("{}/", url.origin().ascii_serialization()))
        .unwrap_or_default()
}

/// Adds what `params` asks to read to `fields`; `changed` adds the list a mark changed.
pub(super) async fn answer(
    state: &AppsState,
    user: &str,
    params: &Params,
    feeds: &FeedIndex<'_>,
    changed: Option<List>,
    fields: &mut Map<String, Value>,
) -> Result<(), FeverError> {
    if params.has("groups") {
        fields.insert("groups".into(), feeds.groups());
        fields.insert("feeds_groups".into(), feeds.feeds_groups());
    }
    if params.has("feeds") {
        fields.insert("feeds".into(), feeds.feeds());
        fields.insert("feeds_groups".into(), feeds.feeds_groups());
    }
    if params.has("favicons") {
        fields.insert("favicons".into(), json!([]));
    }
    if params.has("items") {
        let items = items(state, user, params, feeds).await?;
        let total = id_list(state, user, None).await?.len();
        fields.insert("total_items".into(), json!(total));
        fields.insert("items".into(), Value::Array(items));
    }
    if params.has("links") {
        fields.insert("links".into(), json!([]));
    }
    if params.has("unread_item_ids") || changed == Some(List::Unread) {
        let numbers = id_list(state, user, Some(List::Unread)).await?;
        fields.insert("unread_item_ids".into(), json!(ids::join(&numbers)));
    }
    if params.has("saved_item_ids") || changed == Some(List::Saved) {
        let numbers = id_list(state, user, Some(List::Saved)).await?;
        fields.insert("saved_item_ids".into(), json!(ids::join(&numbers)));
    }
    Ok(())
}

/// `items`: `max_id` (the 50 numbered below it, newest first), else `with_ids` (those, at most
/// 50), else `since_id` (the 50 numbered above it, oldest first), else the newest 50; within
/// one feed (`feed_ids`) or group (`group_ids`) when asked.
async fn items(
    state: &AppsState,
    user: &str,
    params: &Params,
    feeds: &FeedIndex<'_>,
) -> Result<Vec<Value>, FeverError> {
    let number = |name: &str| -> Result<Option<u64>, FeverError> {
        params
            .get(name)
            .map(|text| {
                ids::parse_number(text.trim())
                    .ok_or_else(|| FeverError::BadRequest(format!("{name} must be an item id")))
            })
            .transpose()
    };
    let mut query = AppItemsQuery {
        limit: Some(ITEMS_PER_CALL),
        order: AppOrder::NumberDescending,
        ..AppItemsQuery::default()
    };
    if let Some(max_id) = number("max_id")? {
        query.below = Some(max_id);
    } else if let Some(with_ids) = params.get("with_ids") {
        let numbers =
            ids::parse_numbers(with_ids, ITEMS_PER_CALL).map_err(FeverError::BadRequest)?;
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let found = state
            .upstream
            .app_items_by_number(user, &ItemNumbers { numbers })
            .await
            .map_err(FeverError::Upstream)?;
        return Ok(found.items.iter().map(item).collect());
    } else if let Some(since_id) = number("since_id")? {
        query.above = Some(since_id);
        query.order = AppOrder::NumberAscending;
    }
    let scope = |name: &str| -> Result<Option<i64>, FeverError> {
        let Some(list) = params.get(name).filter(|list| !list.trim().is_empty()) else {
            return Ok(None);
        };
        list.trim()
            .parse()
            .map(Some)
            .map_err(|_| FeverError::BadRequest(format!("{name}: one id only")))
    };
    if let Some(id) = scope("feed_ids")? {
        match feeds.feed_url(id) {
            Some(url) => query.feed = Some(url.to_owned()),
            None => return Ok(Vec::new()),
        }
    } else if let Some(id) = scope("group_ids")? {
        match feeds.category(id) {
            Some(name) => query.category = Some(name.to_owned()),
            None => return Ok(Vec::new()),
        }
    }
    let AppItems { items, .. } = state
        .upstream
        .app_items(user, &query)
        .await
        .map_err(FeverError::Upstream)?;
    Ok(items.iter().map(item).collect())
}

/// One item as Fever sends it.
fn item(item: &AppItem) -> Value {
    let (title, html, url) = item.content.as_ref().map_or(("", "", ""), |content| {
        (
            content.title.as_str(),
            content.description.as_str(),
            content.link.as_deref().unwrap_or_default(),
        )
    });
    json!({
        "id": item.number,
        "feed_id": feed_id(&item.feed_url),
        "title": title,
        "author": "",
        // Sanitized by the middle tier, as the reader's pages get it.
        "html": html,
        "url": url,
        "is_saved": u8::from(item.starred),
        "is_read": u8::from(item.read),
        "created_on_time": item.time.div_euclid(1000),
    })
}

/// The numbers of the user's unread items, saved items, or (`None`) all items: the newest
/// [`MAX_ID_LIST`], in ascending order as Fever lists them.
pub(super) async fn id_list(
    state: &AppsState,
    user: &str,
    list: Option<List>,
) -> Result<Vec<u64>, FeverError> {
    let mut query = AppItemsQuery {
        unread: list == Some(List::Unread),
        starred: list == Some(List::Saved),
        order: AppOrder::NumberDescending,
        limit: Some(MAX_APP_REFS),
        refs_only: true,
        ..AppItemsQuery::default()
    };
    let mut numbers = Vec::new();
    loop {
        let page = state
            .upstream
            .app_items(user, &query)
            .await
            .map_err(FeverError::Upstream)?;
        let empty = page.items.is_empty();
        numbers.extend(page.items.iter().map(|item| item.number));
        match page.continuation {
            Some(next) if !empty && numbers.len() < MAX_ID_LIST => {
                query.continuation = Some(next);
            }
            _ => break,
        }
    }
    numbers.truncate(MAX_ID_LIST);
    numbers.sort_unstable();
    Ok(numbers)
}
