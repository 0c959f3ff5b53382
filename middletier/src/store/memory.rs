//! The embedded default store: a map in this process's memory.
//!
//! It is lost on restart and not shared between processes, so several middle tiers only agree
//! on subscriptions when they share one `MemoryStore` (in tests) or use Cassandra.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use super::{MAX_SUBSCRIPTIONS_PER_USER, StoreError, SubscriptionStore};
use crate::domain::{FeedUrl, UserId};

#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    users: Arc<Mutex<HashMap<UserId, Vec<FeedUrl>>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_users<R>(&self, f: impl FnOnce(&mut HashMap<UserId, Vec<FeedUrl>>) -> R) -> R {
        // A panic while holding the lock cannot leave the map half-updated (every change is a
        // single push or retain), so a poisoned lock is still safe to use.
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut users)
    }
}

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn subscriptions(&self, user: &UserId) -> Result<Vec<FeedUrl>, StoreError> {
        Ok(self.with_users(|users| users.get(user).cloned().unwrap_or_default()))
    }

    async fn subscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError> {
        self.with_users(|users| {
            let feeds = users.entry(user.clone()).or_default();
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
        Ok(self.with_users(|users| {
            let Some(feeds) = users.get_mut(user) else {
                return false;
            };
            let before = feeds.len();
            feeds.retain(|feed| feed != url);
            let removed = feeds.len() != before;
            if feeds.is_empty() {
                users.remove(user);
            }
            removed
        }))
    }
}
