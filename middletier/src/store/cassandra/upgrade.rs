//! The data migrations `schema` runs once each and records:
//! - version 7, [`history_from_blobs`]: copies what the tables of schema versions 1–5 hold (each
//!   feed's item blob with its first-seen map, each user's marks) into the history (with its
//!   search words) and month-partitioned marks of version 6;
//! - version 10, [`postings_from_terms`]: copies the search index of versions 6–8, clustered by
//!   item, into the newest-first postings of version 9;
//! - version 12, [`pairs_from_content`]: indexes the adjacent word pairs (phrases' terms) of
//!   every item stored before they were indexed.
//!
//! Each is safe to run twice, half-way or from two middle tiers starting at once: every row it writes is
//! derived from what is stored alone (the old tables; for version 12, the items' content: the
//! same row each run) and written with a fixed write time
//! far in the past ([`MIGRATED_WRITE_TIME`]), so anything the new code has written or deleted
//! since (a newer mark, a refreshed item, retention's deletions) always wins over it.
//!
//! The old tables are left as they were: a middle tier of the previous version still running
//! writes there, so an upgrade stops those first (or runs a step again by deleting its version
//! from `schema_version`, which is harmless for the reasons above).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use scylla::DeserializeRow;
use scylla::client::session::Session;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use middletier_api::Item;

use super::history::ItemRow;
use super::reading::month_of;
use super::terms::{pair_positions, term_counts};
use crate::store::StoreError;

/// The write time (microseconds since the epoch) of every migrated row: older than any write
/// or deletion the new code makes, so a re-run never undoes one.
const MIGRATED_WRITE_TIME: i64 = 1;

/// How many rows are written at once.
const WRITES_AT_ONCE: usize = 32;

#[derive(DeserializeRow)]
struct BlobRow {
    url: String,
    items: Option<String>,
    first_seen: Option<HashMap<String, DateTime<Utc>>>,
    last_success: Option<DateTime<Utc>>,
    last_attempt: Option<DateTime<Utc>>,
}

#[derive(DeserializeRow)]
struct OldMarkRow {
    user_id: String,
    feed_url: String,
    item_id: String,
    read: Option<bool>,
    starred: Option<bool>,
    updated_at: Option<DateTime<Utc>>,
}

/// Copies every feed's blob items into the history, then every mark into its month partition.
pub(super) async fn history_from_blobs(session: &Session) -> Result<(), StoreError> {
    let failed = |error: &dyn std::fmt::Display| {
        StoreError::Unavailable(format!("history migration: {error}"))
    };
    let prepare =
        |cql: &'static str| async move { session.prepare(cql).await.map_err(|e| failed(&e)) };
    let insert_item = prepare(
        "INSERT INTO items_by_feed_month (feed_url, month, item_id, seen, time, item) \
         VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
    )
    .await?;
    let insert_index = prepare(
        "INSERT INTO item_index_by_feed (feed_url, item_id, seen, time) \
         VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
    )
    .await?;
    let insert_term = prepare(
        "INSERT INTO item_terms_by_feed (feed_url, term, item_id, seen, time, count) \
         VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
    )
    .await?;
    let insert_month =
        prepare("INSERT INTO mark_months_by_user (user_id, month) VALUES (?, ?) USING TIMESTAMP ?")
            .await?;
    let insert_mark = prepare(
        "INSERT INTO item_marks_by_user_month \
         (user_id, month, feed_url, item_id, read, starred, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
    )
    .await?;

    // Each feed's items, and when each was first seen (what its marks' months follow).
    let mut seen_by_feed: HashMap<String, HashMap<String, DateTime<Utc>>> = HashMap::new();
    let mut feeds = session
        .query_iter(
            "SELECT url, items, first_seen, last_success, last_attempt FROM feeds_by_url",
            (),
        )
        .await
        .map_err(|e| failed(&e))?
        .rows_stream::<BlobRow>()
        .map_err(|e| failed(&e))?;
    let mut items_copied = 0_usize;
    while let Some(feed) = feeds.try_next().await.map_err(|e| failed(&e))? {
        // A blob that no longer decodes showed no items before; it has none to copy.
        let items: Vec<Item> = feed
            .items
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        let first_seen = feed.first_seen.unwrap_or_default();
        let fallback = feed
            .last_success
            .or(feed.last_attempt)
            .unwrap_or(DateTime::UNIX_EPOCH);
        let mut rows = Vec::with_capacity(items.len());
        for item in &items {
            let seen = first_seen.get(&item.id).copied().unwrap_or(fallback);
            rows.push(ItemRow::new(item, seen)?);
        }
        let content: Vec<_> = rows
            .iter()
            .map(|row| {
                (
                    feed.url.clone(),
                    month_of(row.seen),
                    row.id.clone(),
                    row.seen,
                    row.time,
                    row.json.clone(),
                    MIGRATED_WRITE_TIME,
                )
            })
            .collect();
        let content = content
            .into_iter()
            .map(|values| write(session, insert_item.clone(), values));
        futures::stream::iter(content)
            .buffer_unordered(WRITES_AT_ONCE)
            .try_collect::<()>()
            .await?;
        let terms: Vec<_> = rows
            .iter()
            .flat_map(|row| {
                term_counts(&row.item).into_iter().map(|(term, count)| {
                    (
                        feed.url.clone(),
                        term,
                        row.id.clone(),
                        row.seen,
                        row.time,
                        count,
                        MIGRATED_WRITE_TIME,
                    )
                })
            })
            .collect();
        let terms = terms
            .into_iter()
            .map(|values| write(session, insert_term.clone(), values));
        futures::stream::iter(terms)
            .buffer_unordered(WRITES_AT_ONCE)
            .try_collect::<()>()
            .await?;
        // The index after the content and words it points at.
        let index: Vec<_> = rows
            .iter()
            .map(|row| {
                (
                    feed.url.clone(),
                    row.id.clone(),
                    row.seen,
                    row.time,
                    MIGRATED_WRITE_TIME,
                )
            })
            .collect();
        let index = index
            .into_iter()
            .map(|values| write(session, insert_index.clone(), values));
        futures::stream::iter(index)
            .buffer_unordered(WRITES_AT_ONCE)
            .try_collect::<()>()
            .await?;
        let seen_here = rows.into_iter().map(|row| (row.id, row.seen)).collect();
        items_copied += items.len();
        seen_by_feed.insert(feed.url, seen_here);
    }

    // Each mark into the month its item was first seen; a mark on an item the blob no longer
    // held (its content is gone) into the month it was made, so nothing is lost.
    let mut marks = session
        .query_iter(
            "SELECT user_id, feed_url, item_id, read, starred, updated_at FROM item_state_by_user",
            (),
        )
        .await
        .map_err(|e| failed(&e))?
        .rows_stream::<OldMarkRow>()
        .map_err(|e| failed(&e))?;
    let mut marks_copied = 0_usize;
    let mut pending = Vec::new();
    while let Some(mark) = marks.try_next().await.map_err(|e| failed(&e))? {
        let seen = seen_by_feed
            .get(&mark.feed_url)
            .and_then(|feed| feed.get(&mark.item_id))
            .copied()
            .or(mark.updated_at)
            .unwrap_or(DateTime::UNIX_EPOCH);
        let month = month_of(seen);
        // The month is announced before the mark, as the store does.
        let announce = write(
            session,
            insert_month.clone(),
            (mark.user_id.clone(), month, MIGRATED_WRITE_TIME),
        );
        let copy = write(
            session,
            insert_mark.clone(),
            (
                mark.user_id,
                month,
                mark.feed_url,
                mark.item_id,
                mark.read,
                mark.starred,
                mark.updated_at,
                MIGRATED_WRITE_TIME,
            ),
        );
        pending.push(async move {
            announce.await?;
            copy.await
        });
        marks_copied += 1;
        if pending.len() >= WRITES_AT_ONCE * 8 {
            futures::stream::iter(std::mem::take(&mut pending))
                .buffer_unordered(WRITES_AT_ONCE)
                .try_collect::<()>()
                .await?;
        }
    }
    futures::stream::iter(pending)
        .buffer_unordered(WRITES_AT_ONCE)
        .try_collect::<()>()
        .await?;
    tracing::info!(
        items = items_copied,
        marks = marks_copied,
        "copied feed items and marks into the item history"
    );
    Ok(())
}

#[derive(DeserializeRow)]
struct TermRow {
    feed_url: String,
    term: String,
    item_id: String,
    seen: Option<DateTime<Utc>>,
    time: Option<DateTime<Utc>>,
    count: Option<i32>,
}

/// The most postings one migrated batch carries (all of one partition).
const POSTINGS_PER_BATCH: usize = 100;

/// Copies every row of `item_terms_by_feed` into `item_postings_by_feed`. The scan returns a
/// partition's rows together, so they go in unlogged batches of that one partition.
pub(super) async fn postings_from_terms(session: &Session) -> Result<(), StoreError> {
    let failed = |error: &dyn std::fmt::Display| {
        StoreError::Unavailable(format!("postings migration: {error}"))
    };
    let insert = session
        .prepare(
            "INSERT INTO item_postings_by_feed (feed_url, term, time, item_id, seen, count) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .await
        .map_err(|e| failed(&e))?;
    let mut rows = session
        .query_iter(
            "SELECT feed_url, term, item_id, seen, time, count FROM item_terms_by_feed",
            (),
        )
        .await
        .map_err(|e| failed(&e))?
        .rows_stream::<TermRow>()
        .map_err(|e| failed(&e))?;
    type Posting = (String, String, DateTime<Utc>, String, DateTime<Utc>, i32);
    let mut batch: Vec<Posting> = Vec::new();
    let mut pending = Vec::new();
    let mut copied = 0_usize;
    while let Some(row) = rows.try_next().await.map_err(|e| failed(&e))? {
        // Every row the store wrote has its times; one without has no place in the new key.
        let (Some(time), Some(seen)) = (row.time, row.seen) else {
            continue;
        };
        let same_partition = batch
            .last()
            .is_some_and(|last| last.0 == row.feed_url && last.1 == row.term);
        if !same_partition || batch.len() >= POSTINGS_PER_BATCH {
            pending.push(write_batch(session, &insert, std::mem::take(&mut batch)));
        }
        batch.push((
            row.feed_url,
            row.term,
            time,
            row.item_id,
            seen,
            row.count.unwrap_or(1),
        ));
        copied += 1;
        if pending.len() >= WRITES_AT_ONCE * 8 {
            futures::stream::iter(std::mem::take(&mut pending))
                .buffer_unordered(WRITES_AT_ONCE)
                .try_collect::<()>()
                .await?;
        }
    }
    pending.push(write_batch(session, &insert, batch));
    futures::stream::iter(pending)
        .buffer_unordered(WRITES_AT_ONCE)
        .try_collect::<()>()
        .await?;
    tracing::info!(
        postings = copied,
        "copied the search index into newest-first postings"
    );
    Ok(())
}

/// Migrated rows of one partition written in one unlogged batch.
async fn write_batch(
    session: &Session,
    statement: &PreparedStatement,
    rows: Vec<impl SerializeRow>,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut batch = Batch::new(BatchType::Unlogged);
    for _ in &rows {
        batch.append_statement(statement.clone());
    }
    batch.set_timestamp(Some(MIGRATED_WRITE_TIME));
    session
        .batch(&batch, rows)
        .await
        .map(drop)
        .map_err(|e| StoreError::Unavailable(format!("postings migration: {e}")))
}

/// One migrated row written.
async fn write(
    session: &Session,
    statement: PreparedStatement,
    values: impl SerializeRow,
) -> Result<(), StoreError> {
    session
        .execute_unpaged(&statement, values)
        .await
        .map(drop)
        .map_err(|e| StoreError::Unavailable(format!("history migration: {e}")))
}

#[derive(DeserializeRow)]
struct ContentRow {
    feed_url: String,
    item_id: String,
    seen: Option<DateTime<Utc>>,
    time: Option<DateTime<Utc>>,
    item: Option<String>,
}

/// One stored item, as its pairs' postings need it.
struct Stored {
    feed: String,
    id: String,
    seen: DateTime<Utc>,
    time: DateTime<Utc>,
    item: Item,
}

/// How many items' pairs are grouped by partition before they are written.
const ITEMS_AT_ONCE: usize = 500;

/// Writes the adjacent word pairs of every item in `items_by_feed_month` as postings, with
/// their positions, grouped by (feed, pair) partition as a save writes them. Only items whose
/// content is stored are searchable, so the content is what is read; an item removed since
/// keeps its pairs removed (the removal's tombstones are newer than [`MIGRATED_WRITE_TIME`]).
pub(super) async fn pairs_from_content(session: &Session) -> Result<(), StoreError> {
    let failed = |error: &dyn std::fmt::Display| {
        StoreError::Unavailable(format!("phrase pairs migration: {error}"))
    };
    let insert = session
        .prepare(
            "INSERT INTO item_postings_by_feed \
             (feed_url, term, time, item_id, seen, count, positions) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .await
        .map_err(|e| failed(&e))?;
    let mut rows = session
        .query_iter(
            "SELECT feed_url, item_id, seen, time, item FROM items_by_feed_month",
            (),
        )
        .await
        .map_err(|e| failed(&e))?
        .rows_stream::<ContentRow>()
        .map_err(|e| failed(&e))?;
    let mut items = Vec::new();
    let mut indexed = 0_usize;
    while let Some(row) = rows.try_next().await.map_err(|e| failed(&e))? {
        // Content we wrote ourselves, with its times; anything else has no postings to add.
        let (Some(seen), Some(time), Some(json)) = (row.seen, row.time, row.item) else {
            continue;
        };
        let Ok(item) = serde_json::from_str::<Item>(&json) else {
            continue;
        };
        items.push(Stored {
            feed: row.feed_url,
            id: row.item_id,
            seen,
            time,
            item,
        });
        indexed += 1;
        if items.len() >= ITEMS_AT_ONCE {
            write_pairs(session, &insert, std::mem::take(&mut items)).await?;
        }
    }
    write_pairs(session, &insert, items).await?;
    tracing::info!(
        items = indexed,
        "indexed the word pairs of the stored items"
    );
    Ok(())
}

/// The pair postings of `items`, one partition's rows to a batch.
async fn write_pairs(
    session: &Session,
    insert: &PreparedStatement,
    items: Vec<Stored>,
) -> Result<(), StoreError> {
    type Posting = (
        String,
        String,
        DateTime<Utc>,
        String,
        DateTime<Utc>,
        i32,
        Vec<i32>,
    );
    let mut by_partition: HashMap<(String, String), Vec<Posting>> = HashMap::new();
    for Stored {
        feed,
        id,
        seen,
        time,
        item,
    } in items
    {
        for (pair, positions) in pair_positions(&item) {
            let count = i32::try_from(positions.len()).unwrap_or(i32::MAX);
            by_partition
                .entry((feed.clone(), pair.clone()))
                .or_default()
                .push((feed.clone(), pair, time, id.clone(), seen, count, positions));
        }
    }
    let mut batches = Vec::new();
    for mut rows in by_partition.into_values() {
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(POSTINGS_PER_BATCH));
            batches.push(write_batch(session, insert, rows));
            rows = rest;
        }
    }
    futures::stream::iter(batches)
        .buffer_unordered(WRITES_AT_ONCE)
        .try_collect()
        .await
}
