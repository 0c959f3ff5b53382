//! The embedded default store: maps in this process's memory.
//!
//! It is lost on restart and not shared between processes, so several middle tiers only agree
//! on subscriptions when they share one `MemoryStore` (in tests) or use Cassandra.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use super::{
    FeedState, FeedStore, MAX_SUBSCRIPTIONS_PER_USER, Scheduled, StoreError, SubscriptionStore,
};
use crate::domain::{FeedUrl, UserId};

#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    users: HashMap<UserId, Vec<FeedUrl>>,
    feeds: HashMap<FeedUrl, FeedState>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        // A panic while holding the lock cannot leave the maps half-updated (every change is a
        // single insert, push or retain), so a poisoned lock is still safe to use.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut inner)
    }
}

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn subscriptions(&self, user: &UserId) -> Result<Vec<FeedUrl>, StoreError> {
        Ok(self.with(|inner| inner.users.get(user).cloned().unwrap_or_default()))
    }

    async fn subscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError> {
        self.with(|inner| {
            let feeds = inner.users.entry(user.clone()).or_default();
            if feeds.contains(url) {
                return Ok(false);
            }
            if feeds.len() >= MAX_SUBSCRIPTIONS_PER_USER {
                return Err(StoreError::TooManySubscriptions(MAX_SUBSCRIPTIONS_PER_USER));
            }
            feeds.push(url.clone());
            Ok(true)
        })
    }

    async fn unsubscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError> {
        Ok(self.with(|inner| {
            let Some(feeds) = inner.users.get_mut(user) else {
                return false;
            };
            let before = feeds.len();
            feeds.retain(|feed| feed != url);
            let removed = feeds.len() != before;
            if feeds.is_empty() {
                inner.users.remove(user);
            }
            removed
        }))
    }
}

#[async_trait]
impl FeedStore for MemoryStore {
    async fn feed_states(&self, urls: &[FeedUrl]) -> Result<Vec<Option<FeedState>>, StoreError> {
        Ok(self.with(|inner| {
            urls.iter()
                .map(|url| inner.feeds.get(url).cloned())
                .collect()
        }))
    }

    async fn save_feed_state(&self, state: &FeedState) -> Result<(), StoreError> {
        self.with(|inner| inner.feeds.insert(state.url.clone(), state.clone()));
        Ok(())
    }

    async fn scheduled_feeds(&self) -> Result<Vec<Scheduled>, StoreError> {
        Ok(self.with(|inner| {
            let subscribed: HashSet<&FeedUrl> = inner.users.values().flatten().collect();
            // Unsubscribed feeds' cache goes: nobody will read it.
            inner.feeds.retain(|url, _| subscribed.contains(url));
            subscribed
                .into_iter()
                .map(|url| {
                    let state = inner.feeds.get(url);
                    Scheduled {
                        url: url.clone(),
                        next_refresh: state.map(|s| s.next_refresh),
                        gone: state.is_some_and(|s| s.gone),
                    }
                })
                .collect()
        }))
    }

    async fn move_feed(&self, from: &FeedUrl, to: &FeedUrl) -> Result<(), StoreError> {
        self.with(|inner| {
            for feeds in inner.users.values_mut() {
                if let Some(position) = feeds.iter().position(|feed| feed == from) {
                    if feeds.contains(to) {
                        feeds.remove(position);
                    } else {
                        feeds[position] = to.clone();
                    }
                }
            }
            inner.feeds.remove(from);
        });
        Ok(())
    }
}
