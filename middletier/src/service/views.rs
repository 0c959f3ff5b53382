//! What page views read: the user's feeds with their items and marks, the river, and one item
//! (what the edge opens when a reader clicks it, so the article's address is the feed's own).

use chrono::{DateTime, Utc};

use middletier_api::domain::{self, FeedUrl, ParseError, UserId};
use middletier_api::{
    FeedStatus, Item, ItemQuery, River, RiverItem, RiverQuery, Subscription, UserFeeds,
};

use super::{FeedService, ServiceError, rfc3339};
use crate::river::{self, Cursor, Scope, Source};
use crate::store::{FeedState, StoreError};

impl FeedService {
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
                    },
                };
                subscription.category = category.clone();
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
        let feed = query.feed.as_deref().map(FeedUrl::parse).transpose()?;
        let category = domain::category(query.category.as_deref())?;
        let scope = Scope::of(feed.as_ref(), category.as_deref());
        let reading = self.store.reading(user).await?;
        if let Some(feed) = &feed
            && !reading.subscriptions.iter().any(|(url, _)| url == feed)
        {
            return Err(ServiceError::NotSubscribed(feed.to_string()));
        }
        let urls: Vec<FeedUrl> = reading
            .subscriptions
            .iter()
            .map(|(url, _)| url.clone())
            .collect();
        let feeds = self.store.cached_feeds(&urls).await?;
        Ok(river::river(
            user.as_str(),
            &reading,
            &feeds,
            scope,
            query.filter,
            cursor.as_ref(),
            limit,
        ))
    }

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

fn subscription(state: &FeedState) -> Subscription {
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
        },
        category: None,
        unread: 0,
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
