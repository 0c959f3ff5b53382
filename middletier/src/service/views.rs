//! What page views read: the user's feeds with their items and marks, the river, and one item
//! (what the edge opens when a reader clicks it, so the article's address is the feed's own).
//!
//! The river and the item view reach the whole retained history: they merge over the feeds'
//! history index ([`CachedFeed`]) and read the content of items no longer in their feed's
//! current document from the store, one read per feed per page.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use middletier_api::domain::{self, FeedUrl, ParseError, UserId};
use middletier_api::{
    FeedStatus, Item, ItemQuery, River, RiverItem, RiverQuery, Subscription, UserFeeds,
};

use super::{FeedService, ServiceError, rfc3339};
use crate::river::{self, Cursor, RiverPage, Scope, Source};
use crate::store::{CachedFeed, FeedState, HistoryEntry, StoreError, UserReading};

/// What a view asks for (one feed, one category or everything) beside the user's reading
/// state; a feed the user does not subscribe to is refused before anything is read.
pub(super) struct Scoped {
    pub(super) reading: Arc<UserReading>,
    feed: Option<FeedUrl>,
    category: Option<String>,
}

impl Scoped {
    pub(super) fn scope(&self) -> Scope<'_> {
        Scope::of(self.feed.as_ref(), self.category.as_deref())
    }
}

impl FeedService {
    /// The river's and search's shared start: the query's feed and category checked, and the
    /// user's reading state.
    pub(super) async fn scoped(
        &self,
        user: &UserId,
        feed: Option<&str>,
        category: Option<&str>,
    ) -> Result<Scoped, ServiceError> {
        let feed = feed.map(FeedUrl::parse).transpose()?;
        let category = domain::category(category)?;
        let reading = self.store.reading(user).await?;
        if let Some(feed) = &feed
            && !reading.subscriptions.iter().any(|(url, _)| url == feed)
        {
            return Err(ServiceError::NotSubscribed(feed.to_string()));
        }
        Ok(Scoped {
            reading,
            feed,
            category,
        })
    }

    pub async fn user_feeds(&self, user: &UserId) -> Result<UserFeeds, StoreError> {
        let reading = self.store.reading(user).await?;
        let urls: Vec<FeedUrl> = reading
            .subscriptions
            .iter()
            .map(|(url, _)| url.clone())
            .collect();
        let feeds = self.store.cached_feeds(&urls).await?;
        let subscriptions = reading
            .subscriptions
            .iter()
            .zip(feeds)
            .map(|((url, category), feed)| {
                let mut subscription = match &feed {
                    Some(feed) => {
                        let source = Source {
                            url,
                            feed,
                            reading: reading.feeds.get(url).map(AsRef::as_ref),
                        };
                        let mut subscription = subscription(&feed.state);
                        subscription.unread = source.unread();
                        subscription.items = items_for(&source);
                        subscription
                    }
                    None => Subscription {
                        title: url.host_label(),
                        url: url.to_string(),
                        items: Vec::new(),
                        error: None,
                        status: FeedStatus::default(),
                        category: None,
                        unread: 0,
                        icon: None,
                    },
                };
                subscription.category = category.clone();
                if let Some(title) = reading.titles.get(url) {
                    subscription.title = title.clone();
                }
                subscription
            })
            .collect();
        Ok(UserFeeds {
            user: user.to_string(),
            subscriptions,
        })
    }

    /// A page of the user's river (all feeds, one feed or one category), and unread counts.
    pub async fn river(&self, user: &UserId, query: &RiverQuery) -> Result<River, ServiceError> {
        let limit = query.limit.unwrap_or(river::DEFAULT_LIMIT);
        if !(1..=river::MAX_LIMIT).contains(&limit) {
            return Err(ParseError::Limit(river::MAX_LIMIT).into());
        }
        let cursor = query.before.as_deref().map(Cursor::decode).transpose()?;
        let scoped = self
            .scoped(user, query.feed.as_deref(), query.category.as_deref())
            .await?;
        let reading = &scoped.reading;
        let urls: Vec<FeedUrl> = reading
            .subscriptions
            .iter()
            .map(|(url, _)| url.clone())
            .collect();
        let feeds = self.store.cached_feeds(&urls).await?;
        let page = river::river(
            reading,
            &feeds,
            scoped.scope(),
            query.filter,
            cursor.as_ref(),
            limit,
        );
        let read = self.older_content(&page).await?;
        Ok(page.into_river(user.as_str(), read))
    }

    /// The content of the page's items that have left their feed's current document: one
    /// history read per feed, all at once.
    async fn older_content(
        &self,
        page: &RiverPage,
    ) -> Result<HashMap<(FeedUrl, String), Item>, StoreError> {
        let reads = page
            .missing()
            .into_iter()
            .map(|(feed, entries)| async move {
                let items = self.store.history_items(&feed, &entries).await?;
                Ok::<_, StoreError>(
                    entries
                        .into_iter()
                        .zip(items)
                        .filter_map(|(entry, item)| Some(((feed.clone(), entry.id), item?)))
                        .collect::<Vec<_>>(),
                )
            });
        let read = futures::future::try_join_all(reads).await?;
        Ok(read.into_iter().flatten().collect())
    }

    /// The item `query.item` of `query.feed`, with this user's read and starred state, as the
    /// river shows it. Only from a feed the user subscribes to, and only while the feed's
    /// history holds the item.
    pub async fn item(&self, user: &UserId, query: &ItemQuery) -> Result<RiverItem, ServiceError> {
        let feed = FeedUrl::parse(&query.feed)?;
        let id = domain::item_id(&query.item)?;
        let reading = self.store.reading(user).await?;
        if !reading.subscriptions.iter().any(|(url, _)| *url == feed) {
            return Err(ServiceError::NotSubscribed(feed.to_string()));
        }
        let cached = self.store.cached_feeds(std::slice::from_ref(&feed)).await?;
        let Some(cached) = cached.into_iter().next().flatten() else {
            return Err(ServiceError::NotFound("item"));
        };
        let Some(item) = self.content_of(&feed, &cached, id).await? else {
            return Err(ServiceError::NotFound("item"));
        };
        let (read, starred) = match (reading.feeds.get(&feed), cached.entry(id)) {
            (Some(marks), Some(entry)) => marks.state_of(id, entry.seen),
            _ => (false, false),
        };
        Ok(RiverItem {
            number: cached
                .entry(id)
                .map(|entry| crate::store::number_of(feed.as_str(), entry)),
            feed_url: feed.to_string(),
            feed_title: reading.feed_title(&feed, Some(&cached)),
            item: Item {
                read,
                starred,
                ..item
            },
        })
    }

    /// Item `id`'s content: from the current document, else from the history.
    async fn content_of(
        &self,
        feed: &FeedUrl,
        cached: &CachedFeed,
        id: &str,
    ) -> Result<Option<Item>, StoreError> {
        if let Some(item) = cached.current_item(id) {
            return Ok(Some(item.clone()));
        }
        let Some(entry) = cached.entry(id) else {
            return Ok(None);
        };
        let entries: &[HistoryEntry] = std::slice::from_ref(entry);
        Ok(self
            .store
            .history_items(feed, entries)
            .await?
            .pop()
            .flatten())
    }
}

pub(super) fn subscription(state: &FeedState) -> Subscription {
    let time = |at: Option<DateTime<Utc>>| at.map(rfc3339);
    Subscription {
        title: state
            .title
            .clone()
            .unwrap_or_else(|| state.url.host_label()),
        url: state.url.to_string(),
        items: Vec::new(),
        error: state.last_error.clone(),
        status: FeedStatus {
            last_success: time(state.last_success),
            last_attempt: time(state.last_attempt),
            http_status: state.http_status,
            next_refresh: if state.gone {
                None
            } else {
                time(Some(state.next_refresh))
            },
            gone: state.gone,
            consecutive_failures: state.consecutive_errors,
        },
        category: None,
        unread: 0,
        icon: state.icon.clone(),
    }
}

/// The feed's items in the feed's own order, with this user's marks.
fn items_for(source: &Source<'_>) -> Vec<Item> {
    source
        .feed
        .state
        .items
        .iter()
        .zip(&source.feed.seen)
        .map(|(item, &seen)| {
            let (read, starred) = source
                .reading
                .map_or((false, false), |reading| reading.state_of(&item.id, seen));
            Item {
                read,
                starred,
                ..item.clone()
            }
        })
        .collect()
}
