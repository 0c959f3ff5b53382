//! `feeds`: the feed cache the refresher writes and page views read, one row per feed holding
//! its fetch state and the ids of its current document's items; the items themselves are
//! history rows (`items`), which saving the state writes in the same transaction and loading
//! it reads back in document order.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use middletier_api::domain::FeedUrl;

use super::items::{self, ITEM_COLUMNS, item_from_row};
use super::{SqliteStore, from_millis, json_array, millis};
use crate::store::{CachedFeed, FeedState, FeedStore, FeedVersions, Scheduled, StoreError};

/// The columns [`state_from_row`] reads, in its order.
const FEED_COLUMNS: &str = "url, title, item_ids, etag, last_modified, http_status, \
     last_attempt, last_success, last_error, consecutive_errors, gone, next_refresh, icon, \
     icon_checked";

/// A feed's state without its items, and the ids of its current document's items.
fn state_from_row(row: &Row<'_>) -> rusqlite::Result<Option<(FeedState, String)>> {
    let Ok(url) = FeedUrl::parse(&row.get::<_, String>(0)?) else {
        return Ok(None);
    };
    let state = FeedState {
        url,
        title: row.get(1)?,
        items: Vec::new(),
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
        first_seen: std::collections::HashMap::new(),
        icon: row.get(12)?,
        icon_checked: row.get::<_, Option<i64>>(13)?.map(from_millis),
    };
    Ok(Some((state, row.get(2)?)))
}

/// Fills `state`'s current document from the history rows of `ids` (a JSON array, in
/// document order), each with its kept first-seen time. The ids were written by us; ids that
/// no longer decode list no items until the next save rewrites them.
fn load_current(tx: &Transaction<'_>, state: &mut FeedState, ids: &str) -> rusqlite::Result<()> {
    // The ids drive the join (CROSS JOIN keeps them outside), each found through the
    // `(feed_url, item_id)` unique index.
    let mut statement = tx.prepare_cached(&format!(
        "SELECT seen, {ITEM_COLUMNS} FROM json_each(iif(json_valid(?2), ?2, '[]')) AS current \
         CROSS JOIN items ON items.feed_url = ?1 AND items.item_id = current.value \
         ORDER BY current.key"
    ))?;
    let mut rows = statement.query(params![state.url.as_str(), ids])?;
    while let Some(row) = rows.next()? {
        let item = item_from_row(row, 1)?;
        state
            .first_seen
            .insert(item.id.clone(), from_millis(row.get(0)?));
        state.items.push(item);
    }
    Ok(())
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
                    let found = statement
                        .query_row([url.as_str()], state_from_row)
                        .optional()?
                        .flatten();
                    let Some((mut state, ids)) = found else {
                        return Ok(None);
                    };
                    load_current(tx, &mut state, &ids)?;
                    Ok(Some(state))
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
        let ids: Vec<&str> = state.items.iter().map(|item| item.id.as_str()).collect();
        let ids = json_array(&ids)?;
        let state = state.clone();
        let fallback = state.last_success.unwrap_or_else(Utc::now);
        self.write(move |tx| {
            tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO feeds ({FEED_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
            ))?
            .execute(params![
                state.url.as_str(),
                state.title,
                ids,
                state.etag,
                state.last_modified,
                state.http_status,
                state.last_attempt.map(millis),
                state.last_success.map(millis),
                state.last_error,
                state.consecutive_errors,
                state.gone,
                millis(state.next_refresh),
                state.icon,
                state.icon_checked.map(millis),
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
