//! `feeds`: the feed cache the refresher writes and page views read, one row per feed holding
//! its current document; saving it also writes the document's items into the history
//! (`items`) in the same transaction.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use middletier_api::Item;
use middletier_api::domain::FeedUrl;

use super::{SqliteStore, from_millis, items, millis};
use crate::store::{CachedFeed, FeedState, FeedStore, FeedVersions, Scheduled, StoreError};

/// The columns [`state_from_row`] reads, in its order.
const FEED_COLUMNS: &str = "url, title, items, etag, last_modified, http_status, last_attempt, \
     last_success, last_error, consecutive_errors, gone, next_refresh, first_seen";

fn state_from_row(row: &Row<'_>) -> rusqlite::Result<Option<FeedState>> {
    let Ok(url) = FeedUrl::parse(&row.get::<_, String>(0)?) else {
        return Ok(None);
    };
    // Items were serialized by us; a row that no longer decodes shows no items until the next
    // refresh rewrites it.
    let items: Vec<Item> = serde_json::from_str(&row.get::<_, String>(2)?).unwrap_or_default();
    let first_seen: HashMap<String, i64> =
        serde_json::from_str(&row.get::<_, String>(12)?).unwrap_or_default();
    Ok(Some(FeedState {
        url,
        title: row.get(1)?,
        items,
        etag: row.get(3)?,
        last_modified: row.get(4)?,
        http_status: row
            .get::<_, Option<i64>>(5)?
            .and_then(|s| u16::try_from(s).ok()),
        last_attempt: row.get::<_, Option<i64>>(6)?.map(from_millis),
        last_success: row.get::<_, Option<i64>>(7)?.map(from_millis),
        last_error: row.get(8)?,
        consecutive_errors: u32::try_from(row.get::<_, i64>(9)?).unwrap_or(0),
        gone: row.get(10)?,
        next_refresh: from_millis(row.get(11)?),
        first_seen: first_seen
            .into_iter()
            .map(|(id, at)| (id, from_millis(at)))
            .collect(),
    }))
}

#[async_trait]
impl FeedStore for SqliteStore {
    async fn feed_states(&self, urls: &[FeedUrl]) -> Result<Vec<Option<FeedState>>, StoreError> {
        let urls = urls.to_vec();
        self.read(move |tx| {
            let mut statement =
                tx.prepare_cached(&format!("SELECT {FEED_COLUMNS} FROM feeds WHERE url = ?1"))?;
            urls.iter()
                .map(|url| {
                    Ok(statement
                        .query_row([url.as_str()], state_from_row)
                        .optional()?
                        .flatten())
                })
                .collect()
        })
        .await
    }

    async fn cached_feeds(
        &self,
        urls: &[FeedUrl],
    ) -> Result<Vec<Option<Arc<CachedFeed>>>, StoreError> {
        crate::store::read_cached_feeds(self, urls).await
    }

    async fn save_feed_state(&self, state: &FeedState) -> Result<(), StoreError> {
        let items = serde_json::to_string(&state.items)
            .map_err(|error| StoreError::Unavailable(format!("encoding items: {error}")))?;
        let first_seen: HashMap<&str, i64> = state
            .first_seen
            .iter()
            .map(|(id, at)| (id.as_str(), millis(*at)))
            .collect();
        let first_seen = serde_json::to_string(&first_seen)
            .map_err(|error| StoreError::Unavailable(format!("encoding items: {error}")))?;
        let state = state.clone();
        let fallback = state.last_success.unwrap_or_else(Utc::now);
        self.write(move |tx| {
            tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO feeds ({FEED_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))?
            .execute(params![
                state.url.as_str(),
                state.title,
                items,
                state.etag,
                state.last_modified,
                state.http_status,
                state.last_attempt.map(millis),
                state.last_success.map(millis),
                state.last_error,
                state.consecutive_errors,
                state.gone,
                millis(state.next_refresh),
                first_seen,
            ])?;
            items::save_current(
                tx,
                state.url.as_str(),
                &state.items,
                &state.first_seen,
                fallback,
            )?;
            Ok(())
        })
        .await
    }

    async fn scheduled_feeds(&self) -> Result<Vec<Scheduled>, StoreError> {
        self.write(|tx| {
            // Unsubscribed feeds' cache and history go: nobody will read them (through the
            // feeds index, not a scan of every item).
            tx.prepare_cached(
                "DELETE FROM items WHERE feed_url IN (SELECT url FROM feeds \
                 WHERE url NOT IN (SELECT feed_url FROM subscriptions))",
            )?
            .execute([])?;
            tx.prepare_cached(
                "DELETE FROM feeds WHERE url NOT IN (SELECT feed_url FROM subscriptions)",
            )?
            .execute([])?;
            let mut statement = tx.prepare_cached(
                "SELECT s.feed_url, f.next_refresh, coalesce(f.gone, 0) \
                 FROM (SELECT DISTINCT feed_url FROM subscriptions) AS s \
                 LEFT JOIN feeds AS f ON f.url = s.feed_url",
            )?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Option<i64>>(1)?,
                        row.get::<_, bool>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows
                .into_iter()
                .filter_map(|(url, next_refresh, gone)| {
                    Some(Scheduled {
                        url: FeedUrl::parse(&url).ok()?,
                        next_refresh: next_refresh.map(from_millis),
                        gone,
                    })
                })
                .collect())
        })
        .await
    }

    async fn move_feed(&self, from: &FeedUrl, to: &FeedUrl) -> Result<(), StoreError> {
        let (from, to) = (from.clone(), to.clone());
        self.write(move |tx| {
            // Who already reads `to` just loses `from` (and its reading state, by cascade).
            tx.prepare_cached(
                "DELETE FROM subscriptions WHERE feed_url = ?1 AND user_id IN \
                 (SELECT user_id FROM subscriptions WHERE feed_url = ?2)",
            )?
            .execute([from.as_str(), to.as_str()])?;
            // Everyone else's row changes feed in place: same position and category, and the
            // item marks follow (ON UPDATE CASCADE; item ids are the feed's own, so they stay
            // valid).
            tx.prepare_cached("UPDATE subscriptions SET feed_url = ?2 WHERE feed_url = ?1")?
                .execute([from.as_str(), to.as_str()])?;
            // The history moves too, so stars (marks above) keep their items; an item `to`
            // holds already keeps `to`'s copy.
            tx.prepare_cached("UPDATE OR IGNORE items SET feed_url = ?2 WHERE feed_url = ?1")?
                .execute([from.as_str(), to.as_str()])?;
            tx.prepare_cached("DELETE FROM items WHERE feed_url = ?1")?
                .execute([from.as_str()])?;
            tx.prepare_cached("DELETE FROM feeds WHERE url = ?1")?
                .execute([from.as_str()])?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl FeedVersions for SqliteStore {
    async fn feed_version(&self, url: &FeedUrl) -> Result<Option<DateTime<Utc>>, StoreError> {
        let url = url.clone();
        self.read(move |tx| {
            let version = tx
                .prepare_cached("SELECT last_attempt FROM feeds WHERE url = ?1")?
                .query_row([url.as_str()], |row| row.get::<_, Option<i64>>(0))
                .optional()?;
            Ok(version.flatten().map(from_millis))
        })
        .await
    }
}
