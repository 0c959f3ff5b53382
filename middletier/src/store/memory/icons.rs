//! Feed icons in memory.

use async_trait::async_trait;

use super::MemoryStore;
use crate::store::{IconSource, IconStore, StoreError, StoredIcon};

#[async_trait]
impl IconStore for MemoryStore {
    async fn icon_source(&self, source: &str) -> Result<Option<IconSource>, StoreError> {
        Ok(self.with(|inner| inner.icon_sources.get(source).cloned()))
    }

    async fn save_icon_source(
        &self,
        record: &IconSource,
        icon: Option<&StoredIcon>,
    ) -> Result<(), StoreError> {
        self.with(|inner| {
            if let (Some(hash), Some(icon)) = (&record.hash, icon) {
                inner
                    .icons
                    .entry(hash.clone())
                    .or_insert_with(|| icon.clone());
            }
            inner
                .icon_sources
                .insert(record.source.clone(), record.clone());
        });
        Ok(())
    }

    async fn icon(&self, hash: &str) -> Result<Option<StoredIcon>, StoreError> {
        Ok(self.with(|inner| inner.icons.get(hash).cloned()))
    }
}
