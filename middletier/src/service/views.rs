//! What page views read: the user's feeds with their items and marks, and the river.

use chrono::{DateTime, Utc};

use middletier_api::domain::{self, FeedUrl, ParseError, UserId};
use middletier_api::{FeedStatus, Item, River, RiverQuery, Subscription, UserFeeds};

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
