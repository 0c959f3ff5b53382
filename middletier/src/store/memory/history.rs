//! The memory store's item history: each feed's items by id, with their content and first-seen
//! time, beside the feed's decoded state.
//!
//! Every change to a feed's history rebuilds its [`CachedFeed`] index at once, so page views
//! always merge over what is held.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use middletier_api::Item;
use middletier_api::domain::{FeedUrl, UserId};

use super::{Inner, MemoryStore};
use crate::store::{
    CachedFeed, FeedReading, FeedState, HistoryEntry, HistoryStore, StoreError, StoredItem,
};

/// One feed's history: item id to its stored content and first-seen time.
pub(super) type FeedHistory = HashMap<String, StoredItem>;

impl Inner {
    /// Writes `state`'s current items into its feed's history (new ids with their first-seen
    /// time, known ids with their content replaced and first-seen kept) and stores the state.
    pub(super) fn save_with_history(&mut self, state: &FeedState) {
        let fallback = state
            .last_success
            .or(state.last_attempt)
            .unwrap_or_else(chrono::Utc::now);
        let history = self.history.entry(state.url.clone()).or_default();
        for item in &state.items {
            let content = Item {
                read: false,
                starred: false,
                ..item.clone()
            };
            match history.get_mut(&item.id) {
                Some(stored) => stored.item = content,
                None => {
                    let seen = state.first_seen.get(&item.id).copied().unwrap_or(fallback);
                    history.insert(
                        item.id.clone(),
                        StoredItem {
                            item: content,
                            seen,
                        },
                    );
                }
            }
        }
        self.rebuild(state.clone());
    }

    /// Rebuilds `state`'s feed index from its history and keeps it.
    pub(super) fn rebuild(&mut self, state: FeedState) {
        let entries = self.entries(&state.url);
        let url = state.url.clone();
        self.feeds
            .insert(url, Arc::new(CachedFeed::new(state, entries)));
    }

    /// Rebuilds `url`'s feed index, when the feed has been fetched.
    fn reindex(&mut self, url: &FeedUrl) {
        if let Some(feed) = self.feeds.get(url) {
            let state = feed.state.clone();
            self.rebuild(state);
        }
    }

    fn entries(&self, url: &FeedUrl) -> Vec<HistoryEntry> {
        self.history.get(url).map_or_else(Vec::new, |history| {
            history
                .values()
                .map(|stored| HistoryEntry::of(&stored.item, stored.seen))
                .collect()
        })
    }

    /// Moves `from`'s history to `to`, adding only the items `to` does not hold.
    pub(super) fn move_history(&mut self, from: &FeedUrl, to: &FeedUrl) {
        let Some(moved) = self.history.remove(from) else {
            return;
        };
        let target = self.history.entry(to.clone()).or_default();
        for (id, stored) in moved {
            target.entry(id).or_insert(stored);
        }
        self.reindex(to);
    }
}

#[async_trait]
impl HistoryStore for MemoryStore {
    async fn history(&self, url: &FeedUrl) -> Result<Vec<HistoryEntry>, StoreError> {
        Ok(self.with(|inner| inner.entries(url)))
    }

    async fn history_items(
        &self,
        url: &FeedUrl,
        entries: &[HistoryEntry],
    ) -> Result<Vec<Option<Item>>, StoreError> {
        Ok(self.with(|inner| {
            let history = inner.history.get(url);
            entries
                .iter()
                .map(|entry| Some(history?.get(&entry.id)?.item.clone()))
                .collect()
        }))
    }

    async fn insert_history(
        &self,
        url: &FeedUrl,
        items: &[StoredItem],
    ) -> Result<usize, StoreError> {
        Ok(self.with(|inner| {
            let history = inner.history.entry(url.clone()).or_default();
            let mut added = 0;
            for stored in items {
                if !history.contains_key(&stored.item.id) {
                    let item = Item {
                        read: false,
                        starred: false,
                        ..stored.item.clone()
                    };
                    history.insert(
                        item.id.clone(),
                        StoredItem {
                            item,
                            seen: stored.seen,
                        },
                    );
                    added += 1;
                }
            }
            if added > 0 {
                inner.reindex(url);
            }
            added
        }))
    }

    async fn remove_history(&self, url: &FeedUrl, ids: &[String]) -> Result<usize, StoreError> {
        Ok(self.with(|inner| {
            let Some(history) = inner.history.get_mut(url) else {
                return 0;
            };
            let removed = ids
                .iter()
                .filter(|id| history.remove(*id).is_some())
                .count();
            for feeds in inner.reading.values_mut() {
                if let Some(reading) = feeds.get_mut(url)
                    && ids.iter().any(|id| reading.marks.contains_key(id))
                {
                    let marks = &mut Arc::make_mut(reading).marks;
                    for id in ids {
                        marks.remove(id);
                    }
                }
            }
            if removed > 0 {
                inner.reindex(url);
            }
            removed
        }))
    }

    async fn subscribers(&self, url: &FeedUrl) -> Result<Vec<UserId>, StoreError> {
        Ok(self.with(|inner| {
            let mut users: Vec<UserId> = inner
                .users
                .iter()
                .filter(|(_, feeds)| feeds.contains(url))
                .map(|(user, _)| user.clone())
                .collect();
            users.sort();
            users
        }))
    }

    async fn feed_reading(&self, user: &UserId, url: &FeedUrl) -> Result<FeedReading, StoreError> {
        Ok(self.with(|inner| {
            inner
                .reading
                .get(user)
                .and_then(|feeds| feeds.get(url))
                .map(|reading| FeedReading::clone(reading))
                .unwrap_or_default()
        }))
    }
}
