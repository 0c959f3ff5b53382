//! The memory store's item history (being built).

use async_trait::async_trait;

use middletier_api::Item;
use middletier_api::domain::{FeedUrl, UserId};

use super::MemoryStore;
use crate::store::{FeedReading, HistoryEntry, HistoryStore, StoreError, StoredItem};

// Item history is not stored here yet: being built.
#[async_trait]
impl HistoryStore for MemoryStore {
    async fn history(&self, _url: &FeedUrl) -> Result<Vec<HistoryEntry>, StoreError> {
        Err(not_yet())
    }

    async fn history_items(
        &self,
        _url: &FeedUrl,
        _entries: &[HistoryEntry],
    ) -> Result<Vec<Option<Item>>, StoreError> {
        Err(not_yet())
    }

    async fn insert_history(
        &self,
        _url: &FeedUrl,
        _items: &[StoredItem],
    ) -> Result<usize, StoreError> {
        Err(not_yet())
    }

    async fn remove_history(&self, _url: &FeedUrl, _ids: &[String]) -> Result<usize, StoreError> {
        Err(not_yet())
    }

    async fn subscribers(&self, _url: &FeedUrl) -> Result<Vec<UserId>, StoreError> {
        Err(not_yet())
    }

    async fn feed_reading(
        &self,
        _user: &UserId,
        _url: &FeedUrl,
    ) -> Result<FeedReading, StoreError> {
        Err(not_yet())
    }
}

fn not_yet() -> StoreError {
    StoreError::Unavailable("item history is not stored here yet".to_owned())
}
