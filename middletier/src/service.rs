//! The middle tier's behaviour, independent of HTTP: read a user's feeds, subscribe,
//! unsubscribe.
//!
//! Reading fetches every subscribed feed concurrently (bounded by `fetch.concurrency`) and turns
//! each failure into that feed's `error`, so one broken publisher never breaks the page.

use std::sync::Arc;

use futures::StreamExt;

use crate::api::{Subscription, SubscriptionChange, UserFeeds};
use crate::domain::{FeedUrl, UserId};
use crate::feed;
use crate::fetch::Fetcher;
use crate::store::{StoreError, SubscriptionStore};

#[derive(Clone, Debug)]
pub struct FeedService {
    store: Arc<dyn SubscriptionStore>,
    fetcher: Fetcher,
}

impl FeedService {
    pub fn new(store: Arc<dyn SubscriptionStore>, fetcher: Fetcher) -> Self {
        Self { store, fetcher }
    }

    pub async fn user_feeds(&self, user: &UserId) -> Result<UserFeeds, StoreError> {
        let urls = self.store.subscriptions(user).await?;
        let subscriptions = futures::stream::iter(urls)
            .map(|url| async move { self.read_feed(&url).await })
            .buffered(self.fetcher.settings().concurrency.max(1))
            .collect()
            .await;
        Ok(UserFeeds {
            user: user.to_string(),
            subscriptions,
        })
    }

    pub async fn subscribe(
        &self,
        user: &UserId,
        url: &FeedUrl,
    ) -> Result<SubscriptionChange, StoreError> {
        let changed = self.store.subscribe(user, url).await?;
        Ok(SubscriptionChange {
            user: user.to_string(),
            url: url.to_string(),
            changed,
        })
    }

    pub async fn unsubscribe(
        &self,
        user: &UserId,
        url: &FeedUrl,
    ) -> Result<SubscriptionChange, StoreError> {
        let changed = self.store.unsubscribe(user, url).await?;
        Ok(SubscriptionChange {
            user: user.to_string(),
            url: url.to_string(),
            changed,
        })
    }

    async fn read_feed(&self, url: &FeedUrl) -> Subscription {
        let failed = |error: String| Subscription {
            url: url.to_string(),
            title: url.host_label(),
            items: Vec::new(),
            error: Some(error),
        };
        let fetched = match self.fetcher.fetch(url).await {
            Ok(fetched) => fetched,
            Err(error) => {
                tracing::info!(%url, %error, "feed fetch failed");
                return failed(error.to_string());
            }
        };
        // Parsing is CPU work: keep it off the async workers. A panic inside the parser ends
        // that blocking task only and is reported as this feed's error.
        let parsed =
            tokio::task::spawn_blocking(move || feed::parse(&fetched.body, &fetched.final_url))
                .await;
        match parsed {
            Ok(Ok(parsed)) => Subscription {
                url: url.to_string(),
                title: parsed.title.unwrap_or_else(|| url.host_label()),
                items: parsed.items,
                error: None,
            },
            Ok(Err(error)) => {
                tracing::info!(%url, %error, "feed parse failed");
                failed(error.to_string())
            }
            Err(join_error) => {
                tracing::error!(%url, error = %join_error, "feed parser crashed");
                failed("the feed could not be read (parser error)".to_owned())
            }
        }
    }
}
