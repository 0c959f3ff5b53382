//! `icon_sources` and `icons`: what the refresher found for each icon source, and each icon's
//! bytes once by hash.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, from_millis, millis};
use crate::store::{IconSource, IconStore, StoreError, StoredIcon};

#[async_trait]
impl IconStore for SqliteStore {
    async fn icon_source(&self, source: &str) -> Result<Option<IconSource>, StoreError> {
        let source = source.to_owned();
        self.read(move |tx| {
            Ok(tx
                .prepare_cached(
                    "SELECT source, hash, checked, error FROM icon_sources WHERE source = ?1",
                )?
                .query_row([&source], |row| {
                    Ok(IconSource {
                        source: row.get(0)?,
                        hash: row.get(1)?,
                        checked: from_millis(row.get(2)?),
                        error: row.get(3)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn save_icon_source(
        &self,
        record: &IconSource,
        icon: Option<&StoredIcon>,
    ) -> Result<(), StoreError> {
        let record = record.clone();
        let icon = icon.cloned();
        self.write(move |tx| {
            if let (Some(hash), Some(icon)) = (&record.hash, &icon) {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO icons (hash, content_type, bytes) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![hash, icon.content_type, icon.bytes])?;
            }
            tx.prepare_cached(
                "INSERT OR REPLACE INTO icon_sources (source, hash, checked, error) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                record.source,
                record.hash,
                millis(record.checked),
                record.error
            ])?;
            Ok(())
        })
        .await
    }

    async fn icon(&self, hash: &str) -> Result<Option<StoredIcon>, StoreError> {
        let hash = hash.to_owned();
        self.read(move |tx| {
            Ok(tx
                .prepare_cached("SELECT content_type, bytes FROM icons WHERE hash = ?1")?
                .query_row([&hash], |row| {
                    Ok(StoredIcon {
                        content_type: row.get(0)?,
                        bytes: row.get(1)?,
                    })
                })
                .optional()?)
        })
        .await
    }
}
