//! One item of a user's feed, looked up by feed and id: what the edge opens when a reader
//! clicks an item, so the article's address is the one the feed holds.

use middletier_api::domain::{self, FeedUrl, UserId};
use middletier_api::{Item, ItemQuery, RiverItem};

use super::{FeedService, ServiceError};
use crate::river;

impl FeedService {
    /// The item `query.item` of `query.feed`, with this user's read and starred state, as the
    /// river shows it. Only from a feed the user subscribes to, and only while the feed holds
    /// the item.
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
        let index = cached.by_id.get(id).map(|&index| index as usize);
        let Some((index, item)) = index.and_then(|i| Some((i, cached.state.items.get(i)?))) else {
            return Err(ServiceError::NotFound("item"));
        };
        let seen = cached.seen.get(index).copied().unwrap_or_default();
        let (read, starred) = reading
            .feeds
            .get(&feed)
            .map_or((false, false), |marks| marks.state_of(id, seen));
        Ok(RiverItem {
            feed_url: feed.to_string(),
            feed_title: river::title_of(&feed, &cached),
            item: Item {
                read,
                starred,
                ..item.clone()
            },
        })
    }
}
