//! `icon_sources` and `icons`: what the refresher found for each icon source, and each icon's
//! bytes once by hash (written with `IF NOT EXISTS`, so a stored icon is never rewritten).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{CassandraStore, query_failed, query_rows};
use crate::store::{IconSource, IconStore, StoreError, StoredIcon};

#[async_trait]
impl IconStore for CassandraStore {
    async fn icon_source(&self, source: &str) -> Result<Option<IconSource>, StoreError> {
        let connected = self.connection()?;
        let result =
            query_rows(&connected.session, &connected.select_icon_source, (source,)).await?;
        let row = result
            .maybe_first_row::<(
                String,
                Option<String>,
                Option<DateTime<Utc>>,
                Option<String>,
            )>()
            .map_err(query_failed)?;
        Ok(row.map(|(source, hash, checked, error)| IconSource {
            source,
            hash,
            checked: checked.unwrap_or_default(),
            error,
        }))
    }

    async fn save_icon_source(
        &self,
        record: &IconSource,
        icon: Option<&StoredIcon>,
    ) -> Result<(), StoreError> {
        let connected = self.connection()?;
        // The icon first: a source never names a hash whose bytes are missing.
        if let (Some(hash), Some(icon)) = (&record.hash, icon) {
            query_rows(
                &connected.session,
                &connected.insert_icon,
                (
                    hash.as_str(),
                    icon.content_type.as_str(),
                    icon.bytes.as_slice(),
                ),
            )
            .await?;
        }
        connected
            .session
            .execute_unpaged(
                &connected.insert_icon_source,
                (
                    record.source.as_str(),
                    record.hash.as_deref(),
                    record.checked,
                    record.error.as_deref(),
                ),
            )
            .await
            .map_err(query_failed)?;
        Ok(())
    }

    async fn icon(&self, hash: &str) -> Result<Option<StoredIcon>, StoreError> {
        let connected = self.connection()?;
        let result = query_rows(&connected.session, &connected.select_icon, (hash,)).await?;
        let row = result
            .maybe_first_row::<(Option<String>, Option<Vec<u8>>)>()
            .map_err(query_failed)?;
        Ok(row.and_then(|(content_type, bytes)| {
            Some(StoredIcon {
                content_type: content_type?,
                bytes: bytes?,
            })
        }))
    }
}
