//! The memory store's full-text search (being built).

use async_trait::async_trait;

use super::MemoryStore;
use crate::store::{SearchHit, SearchQuery, SearchStore, StoreError};

// Search is not answered here yet: being built.
#[async_trait]
impl SearchStore for MemoryStore {
    async fn search(&self, _query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        Err(StoreError::Unavailable(
            "search is not answered here yet".to_owned(),
        ))
    }
}
