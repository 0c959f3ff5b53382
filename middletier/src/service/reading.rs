//! Reading state: read and starred marks on items, and "mark all as read" up to a time.

use chrono::Utc;

use middletier_api::domain::{self, FeedUrl, UserId};
use middletier_api::{ItemStateChange, MarkRead, MarkedRead};

use super::{FeedService, ServiceError};
use crate::river::{Scope, Source};
use crate::store::{HistoryEntry, MarkChange, StoreError};

impl FeedService {
    /// Marks one item read/unread or starred/unstarred, in a feed the user subscribes to.
    ///
    /// Only items the feed's history holds can be marked, so nobody can store marks for ids
    /// that never existed; marks leave with their items when retention removes them, so they
    /// never outgrow the history.
    pub async fn set_item_state(
        &self,
        user: &UserId,
        change: &ItemStateChange,
    ) -> Result<ItemStateChange, ServiceError> {
        let feed = FeedUrl::parse(&change.feed)?;
        let item = domain::item_id(&change.item)?;
        let marks = MarkChange {
            read: change.read,
            starred: change.starred,
        };
        if !self.feed_holds(&feed, item).await? {
            return Err(ServiceError::UnknownItem);
        }
        match self
            .store
            .mark_item(user, &feed, item, marks, Utc::now())
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotSubscribed) => {
                return Err(ServiceError::NotSubscribed(feed.to_string()));
            }
            Err(error) => return Err(error.into()),
        }
        Ok(change.clone())
    }

    /// Marks a feed, a category or all the user's feeds read, up to a time: one write per
    /// feed. Answers how many unread items that covered.
    pub async fn mark_read(
        &self,
        user: &UserId,
        mark: &MarkRead,
    ) -> Result<MarkedRead, ServiceError> {
        let now = Utc::now();
        // Never later than now: a watermark in the future would swallow items not yet seen.
        let up_to = match mark.up_to.as_deref() {
            Some(raw) => domain::time(raw)?.min(now),
            None => now,
        };
        let feed = mark.feed.as_deref().map(FeedUrl::parse).transpose()?;
        let category = domain::category(mark.category.as_deref())?;
        let scope = Scope::of(feed.as_ref(), category.as_deref());
        let reading = self.store.reading(user).await?;
        let urls: Vec<FeedUrl> = reading
            .subscriptions
            .iter()
            .filter(|(url, category)| scope.includes(url, category.as_deref()))
            .map(|(url, _)| url.clone())
            .collect();
        if let Some(feed) = &feed
            && urls.is_empty()
        {
            return Err(ServiceError::NotSubscribed(feed.to_string()));
        }
        let feeds = self.store.cached_feeds(&urls).await?;
        let up_to_ms = up_to.timestamp_millis();
        let marked = urls
            .iter()
            .zip(&feeds)
            .filter_map(|(url, feed)| Some((url, feed.as_ref()?)))
            .map(|(url, feed)| {
                let source = Source {
                    url,
                    feed,
                    reading: reading.feeds.get(url).map(AsRef::as_ref),
                };
                feed.history
                    .iter()
                    .filter(|entry| entry.seen <= up_to_ms && !source.state(entry).0)
                    .count()
            })
            .sum();
        self.store.mark_read_up_to(user, &urls, up_to, now).await?;
        Ok(MarkedRead { marked })
    }
}

impl FeedService {
    /// Whether `feed`'s history holds `item`. The process cache first; on a miss the stored
    /// history, since another middle tier's refresh reaches this one's cache only within
    /// seconds and the item may have been shown from there.
    async fn feed_holds(&self, feed: &FeedUrl, item: &str) -> Result<bool, StoreError> {
        let feeds = std::slice::from_ref(feed);
        let cached = self.store.cached_feeds(feeds).await?.pop().flatten();
        if cached.is_some_and(|cached| cached.entry(item).is_some()) {
            return Ok(true);
        }
        let stored: Vec<HistoryEntry> = self.store.history(feed).await?;
        Ok(stored.iter().any(|entry| entry.id == item))
    }
}
