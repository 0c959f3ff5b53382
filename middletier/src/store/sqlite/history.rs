//! Item history in this store: the `items` rows (written by `items`), read by feed and removed
//! by retention together with every user's marks on them.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use middletier_api::Item;
use middletier_api::domain::{FeedUrl, UserId};

use super::items::{self, ITEM_COLUMNS, item_from_row};
use super::{SqliteStore, from_millis, json_array};
use crate::store::{
    FeedReading, HistoryEntry, HistoryStore, ItemMark, StoreError, StoredItem, Watermark,
};

#[async_trait]
impl HistoryStore for SqliteStore {
    async fn history(&self, url: &FeedUrl) -> Result<Vec<HistoryEntry>, StoreError> {
        let url = url.clone();
        self.read(move |tx| {
            let mut statement = tx.prepare_cached(
                "SELECT item_id, time, seen FROM items WHERE feed_url = ?1 \
                 ORDER BY river_key DESC",
            )?;
            let entries = statement
                .query_map([url.as_str()], |row| {
                    Ok(HistoryEntry {
                        id: row.get(0)?,
                        time: row.get(1)?,
                        seen: row.get(2)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(entries)
        })
        .await
    }

    async fn history_items(
        &self,
        url: &FeedUrl,
        entries: &[HistoryEntry],
    ) -> Result<Vec<Option<Item>>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let url = url.clone();
        let ids: Vec<String> = entries.iter().map(|entry| entry.id.clone()).collect();
        let wanted = json_array(&ids)?;
        self.read(move |tx| {
            // One query for the page, the ids bound as one JSON array.
            let mut statement = tx.prepare_cached(&format!(
                "SELECT {ITEM_COLUMNS} FROM items WHERE feed_url = ?1 \
                 AND item_id IN (SELECT value FROM json_each(?2))"
            ))?;
            let found: std::collections::HashMap<String, Item> = statement
                .query_map(params![url.as_str(), wanted], |row| item_from_row(row, 0))?
                .map(|item| item.map(|item| (item.id.clone(), item)))
                .collect::<Result<_, _>>()?;
            Ok(ids.iter().map(|id| found.get(id).cloned()).collect())
        })
        .await
    }

    async fn insert_history(
        &self,
        url: &FeedUrl,
        stored: &[StoredItem],
    ) -> Result<usize, StoreError> {
        let (url, stored) = (url.clone(), stored.to_vec());
        self.write(move |tx| items::insert_new(tx, url.as_str(), &stored))
            .await
    }

    async fn remove_history(&self, url: &FeedUrl, ids: &[String]) -> Result<usize, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let url = url.clone();
        let ids = json_array(ids)?;
        // Items and every user's marks on them in one transaction: no mark outlives its item.
        self.write(move |tx| {
            let removed = tx
                .prepare_cached(
                    "DELETE FROM items WHERE feed_url = ?1 \
                     AND item_id IN (SELECT value FROM json_each(?2))",
                )?
                .execute(params![url.as_str(), ids])?;
            tx.prepare_cached(
                "DELETE FROM item_marks WHERE feed_url = ?1 \
                 AND item_id IN (SELECT value FROM json_each(?2))",
            )?
            .execute(params![url.as_str(), ids])?;
            Ok(removed)
        })
        .await
    }

    async fn subscribers(&self, url: &FeedUrl) -> Result<Vec<UserId>, StoreError> {
        let url = url.clone();
        self.read(move |tx| {
            let mut statement =
                tx.prepare_cached("SELECT user_id FROM subscriptions WHERE feed_url = ?1")?;
            let users = statement
                .query_map([url.as_str()], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            // Rows were validated on the way in; one that no longer parses is skipped.
            Ok(users
                .iter()
                .filter_map(|user| UserId::parse(user).ok())
                .collect())
        })
        .await
    }

    async fn feed_reading(&self, user: &UserId, url: &FeedUrl) -> Result<FeedReading, StoreError> {
        let (user, url) = (user.clone(), url.clone());
        self.read(move |tx| {
            let mut reading = FeedReading::default();
            let watermark = tx
                .prepare_cached(
                    "SELECT read_up_to, read_up_to_set_at FROM subscriptions \
                     WHERE user_id = ?1 AND feed_url = ?2",
                )?
                .query_row([user.as_str(), url.as_str()], |row| {
                    Ok((row.get::<_, Option<i64>>(0)?, row.get::<_, Option<i64>>(1)?))
                })
                .optional()?;
            if let Some((Some(up_to), set_at)) = watermark {
                let up_to = from_millis(up_to);
                reading.watermark = Some(Watermark {
                    up_to,
                    set_at: set_at.map_or(up_to, from_millis),
                });
            }
            let mut statement = tx.prepare_cached(
                "SELECT item_id, read, read_at, starred FROM item_marks \
                 WHERE user_id = ?1 AND feed_url = ?2",
            )?;
            let mut rows = statement.query([user.as_str(), url.as_str()])?;
            while let Some(row) = rows.next()? {
                let read = row.get::<_, Option<bool>>(1)?;
                let read_at = row.get::<_, Option<i64>>(2)?.unwrap_or_default();
                let mark = ItemMark {
                    read: read.map(|read| (read, from_millis(read_at))),
                    starred: row.get(3)?,
                };
                reading.marks.insert(row.get(0)?, mark);
            }
            Ok(reading)
        })
        .await
    }
}
