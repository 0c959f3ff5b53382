//! `items_by_feed_month` and `item_index_by_feed`: each feed's item history, written with every
//! save of the feed and removed only by retention (with every user's marks on the items).
//!
//! Writes go one partition at a time (`batches`): a feed's index rows in unlogged batches of its
//! one partition, its items' content in unlogged batches per month partition, each kept under
//! Cassandra's batch-size warning so a feed with long articles never trips its limit, and their
//! search postings per (feed, word) partition (`terms`).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;

use middletier_api::Item;
use middletier_api::domain::{FeedUrl, UserId};

use super::batches::{BATCH_ROWS, in_batches, send};
use super::reading::{feed_marks, held_entries, month_of};
use super::terms::{Unindexed, delete_terms, term_positions, write_terms};
use super::{CassandraStore, Connected, query_failed, query_rows};
use crate::store::{
    FeedReading, HistoryEntry, HistoryStore, StoreError, StoredItem, Watermark, sort_time,
};

/// The most content one batch carries: under Cassandra's default batch-size warning (5 KiB is
/// the warning, 50 KiB the failure), rounded down to leave room for keys.
const BATCH_CONTENT_BYTES: usize = 40 * 1024;

/// One item ready to be written: where it goes and its serialized content.
pub(super) struct ItemRow {
    pub(super) item: Item,
    pub(super) id: String,
    pub(super) seen: DateTime<Utc>,
    pub(super) time: DateTime<Utc>,
    pub(super) json: String,
}

impl ItemRow {
    pub(super) fn new(item: &Item, seen: DateTime<Utc>) -> Result<Self, StoreError> {
        let time = DateTime::from_timestamp_millis(sort_time(item, seen)).unwrap_or(seen);
        Ok(Self {
            item: item.clone(),
            id: item.id.clone(),
            seen,
            time,
            json: serde_json::to_string(item).map_err(query_failed)?,
        })
    }
}

/// Writes `rows` into `url`'s history (content and search terms first, then the index that
/// points at them, so an entry a page finds always has its content).
pub(super) async fn write_items(
    connected: &Connected,
    url: &FeedUrl,
    rows: &[ItemRow],
) -> Result<(), StoreError> {
    let mut by_month: BTreeMap<i32, Vec<&ItemRow>> = BTreeMap::new();
    for row in rows {
        by_month.entry(month_of(row.seen)).or_default().push(row);
    }
    for (month, rows) in by_month {
        let mut chunk = Vec::new();
        let mut bytes = 0;
        for row in rows {
            if !chunk.is_empty() && bytes + row.json.len() > BATCH_CONTENT_BYTES {
                send(
                    connected,
                    &connected.insert_item,
                    std::mem::take(&mut chunk),
                )
                .await?;
                bytes = 0;
            }
            bytes += row.json.len();
            chunk.push((
                url.as_str(),
                month,
                row.id.as_str(),
                row.seen,
                row.time,
                row.json.as_str(),
            ));
        }
        send(connected, &connected.insert_item, chunk).await?;
    }
    write_terms(
        connected,
        url,
        rows.iter().map(|row| (&row.item, row.seen, row.time)),
    )
    .await?;
    let index: Vec<_> = rows
        .iter()
        .map(|row| (url.as_str(), row.id.as_str(), row.seen, row.time))
        .collect();
    in_batches(connected, &connected.insert_index, index).await
}

/// Every entry of `url`'s history (its one index partition, paged).
pub(super) async fn read_history(
    connected: &Connected,
    url: &FeedUrl,
) -> Result<Vec<HistoryEntry>, StoreError> {
    connected
        .session
        .execute_iter(connected.select_index.clone(), (url.as_str(),))
        .await
        .map_err(query_failed)?
        .rows_stream::<(String, DateTime<Utc>, DateTime<Utc>)>()
        .map_err(query_failed)?
        .map_ok(|(id, seen, time)| HistoryEntry {
            id,
            time: time.timestamp_millis(),
            seen: seen.timestamp_millis(),
        })
        .try_collect()
        .await
        .map_err(query_failed)
}

/// The content of `entries` of `url`'s history: one read per month partition, concurrently.
pub(super) async fn read_items(
    connected: &Connected,
    url: &FeedUrl,
    entries: &[HistoryEntry],
) -> Result<Vec<Option<Item>>, StoreError> {
    let mut by_month: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for entry in entries {
        let seen = DateTime::from_timestamp_millis(entry.seen).unwrap_or_default();
        by_month
            .entry(month_of(seen))
            .or_default()
            .push(entry.id.clone());
    }
    let reads = by_month.into_iter().flat_map(|(month, ids)| {
        let chunks: Vec<Vec<String>> = ids.chunks(BATCH_ROWS).map(<[String]>::to_vec).collect();
        chunks.into_iter().map(move |ids| async move {
            let result = query_rows(
                &connected.session,
                &connected.select_items,
                (url.as_str(), month, ids),
            )
            .await?;
            result
                .rows::<(String, Option<String>)>()
                .map_err(query_failed)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(query_failed)
        })
    });
    let mut found: HashMap<String, Item> = HashMap::new();
    for (id, json) in futures::future::try_join_all(reads)
        .await?
        .into_iter()
        .flatten()
    {
        // Content we wrote ourselves; a row that no longer decodes reads as gone.
        if let Some(item) = json.and_then(|json| serde_json::from_str(&json).ok()) {
            found.insert(id, item);
        }
    }
    Ok(entries
        .iter()
        .map(|entry| found.get(&entry.id).cloned())
        .collect())
}

/// Removes the `held` items (id and first seen) from `url`'s history: content, index and
/// search terms. Marks are the caller's to remove.
pub(super) async fn drop_items(
    connected: &Connected,
    url: &FeedUrl,
    held: &[(String, DateTime<Utc>)],
) -> Result<(), StoreError> {
    // The words to unindex are the content's, so it is read before it goes.
    let entries: Vec<HistoryEntry> = held
        .iter()
        .map(|(id, seen)| HistoryEntry {
            id: id.clone(),
            time: 0,
            seen: seen.timestamp_millis(),
        })
        .collect();
    let contents = read_items(connected, url, &entries).await?;
    let mut by_month: BTreeMap<i32, Vec<(&str, i32, &str)>> = BTreeMap::new();
    for (id, seen) in held {
        let month = month_of(*seen);
        by_month
            .entry(month)
            .or_default()
            .push((url.as_str(), month, id.as_str()));
    }
    // The index first: an entry is never left pointing at removed content.
    let index: Vec<_> = held
        .iter()
        .map(|(id, _)| (url.as_str(), id.as_str()))
        .collect();
    in_batches(connected, &connected.delete_index, index).await?;
    // A posting's key holds the item's river time, derived from the content as it was written.
    let unindexed: Vec<Unindexed> = held
        .iter()
        .zip(contents)
        .filter_map(|((id, seen), item)| {
            let item = item?;
            let time = DateTime::from_timestamp_millis(sort_time(&item, *seen))?;
            Some(Unindexed {
                id: id.clone(),
                time,
                terms: term_positions(&item).into_keys().collect(),
            })
        })
        .collect();
    delete_terms(connected, url, &unindexed).await?;
    for (_, rows) in by_month {
        in_batches(connected, &connected.delete_item, rows).await?;
    }
    Ok(())
}

#[async_trait]
impl HistoryStore for CassandraStore {
    async fn history(&self, url: &FeedUrl) -> Result<Vec<HistoryEntry>, StoreError> {
        read_history(self.connection()?, url).await
    }

    async fn history_items(
        &self,
        url: &FeedUrl,
        entries: &[HistoryEntry],
    ) -> Result<Vec<Option<Item>>, StoreError> {
        read_items(self.connection()?, url, entries).await
    }

    async fn insert_history(
        &self,
        url: &FeedUrl,
        items: &[StoredItem],
    ) -> Result<usize, StoreError> {
        let connected = self.connection()?;
        let ids: Vec<String> = items.iter().map(|i| i.item.id.clone()).collect();
        let held: std::collections::HashSet<String> = held_entries(connected, url, &ids)
            .await?
            .into_iter()
            .map(|(id, _, _)| id)
            .collect();
        let mut added = std::collections::HashSet::new();
        let mut rows = Vec::new();
        for stored in items {
            if held.contains(&stored.item.id) || !added.insert(stored.item.id.clone()) {
                continue;
            }
            rows.push(ItemRow::new(&stored.item, stored.seen)?);
        }
        write_items(connected, url, &rows).await?;
        if !rows.is_empty() {
            history_changed(connected, url).await?;
        }
        Ok(rows.len())
    }

    async fn remove_history(&self, url: &FeedUrl, ids: &[String]) -> Result<usize, StoreError> {
        let connected = self.connection()?;
        let held: Vec<(String, DateTime<Utc>)> = held_entries(connected, url, ids)
            .await?
            .into_iter()
            .map(|(id, seen, _)| (id, seen))
            .collect();
        if held.is_empty() {
            return Ok(0);
        }
        // Marks first: if this stops half-way, the items are still there for the next run.
        for user in self.subscribers(url).await? {
            let mut by_month: BTreeMap<i32, Vec<(&str, i32, &str, &str)>> = BTreeMap::new();
            for (id, seen) in &held {
                let month = month_of(*seen);
                by_month.entry(month).or_default().push((
                    user.as_str(),
                    month,
                    url.as_str(),
                    id.as_str(),
                ));
            }
            for (_, rows) in by_month {
                in_batches(connected, &connected.delete_mark, rows).await?;
            }
        }
        drop_items(connected, url, &held).await?;
        history_changed(connected, url).await?;
        Ok(held.len())
    }

    async fn subscribers(&self, url: &FeedUrl) -> Result<Vec<UserId>, StoreError> {
        let connected = self.connection()?;
        let result = query_rows(
            &connected.session,
            &connected.select_subscribers,
            (url.as_str(),),
        )
        .await?;
        Ok(result
            .rows::<(String,)>()
            .map_err(query_failed)?
            .filter_map(|row| UserId::parse(&row.ok()?.0).ok())
            .collect())
    }

    async fn feed_reading(&self, user: &UserId, url: &FeedUrl) -> Result<FeedReading, StoreError> {
        let connected = self.connection()?;
        let watermark = async {
            let result = query_rows(
                &connected.session,
                &connected.select_watermark,
                (user.as_str(), url.as_str()),
            )
            .await?;
            let row = result
                .maybe_first_row::<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)>()
                .map_err(query_failed)?;
            Ok::<_, StoreError>(row.and_then(|(up_to, set_at)| {
                let up_to = up_to?;
                Some(Watermark {
                    up_to,
                    set_at: set_at.unwrap_or(up_to),
                })
            }))
        };
        let (watermark, marks) =
            futures::future::try_join(watermark, feed_marks(connected, user, url)).await?;
        Ok(FeedReading {
            watermark,
            marks: marks
                .into_iter()
                .map(|(_, row)| {
                    let mark = row.mark();
                    (row.item_id, mark)
                })
                .collect(),
        })
    }
}

/// Records that `url`'s history changed without a refresh, so every middle tier's copy of the
/// feed is read again at its next revalidation.
async fn history_changed(connected: &Connected, url: &FeedUrl) -> Result<(), StoreError> {
    connected
        .session
        .execute_unpaged(&connected.history_changed, (Utc::now(), url.as_str()))
        .await
        .map_err(query_failed)?;
    Ok(())
}
