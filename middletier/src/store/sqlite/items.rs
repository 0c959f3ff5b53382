//! `items`: rows of the item history, written inside the callers' transactions (saving a
//! feed's state, import, the migration that first filled it), so an item and the write that
//! brought it commit together.
//!
//! Each row's `river_key` orders it in the river (see `002_item_history.sql`); this module is
//! the only place that computes one. It also indexes the rows it inserts (`items_search`), all
//! of a call's at once (see `004_current_ids.sql` for why no trigger does).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use middletier_api::{Enclosure, Item};

use super::{from_millis, json_array, millis};
use crate::store::words::html_text;
use crate::store::{HistoryEntry, StoreError, StoredItem, sort_time};

/// Low bits of a `river_key` that tell apart items of the same millisecond.
const SLOT_BITS: u32 = 20;

/// River times beyond this (about ±139 years from 1970) are clamped, so a key never
/// overflows; such dates are nonsense a feed made up, and only their order among themselves
/// is lost.
const TIME_LIMIT: i64 = 1 << 42;

/// Writes the current document's items: new ones with their first-seen time from
/// `first_seen` (else `fallback`), known ones with their content replaced and their first-seen
/// time kept. Items whose content did not change are not written, so a refresh that found
/// nothing new costs one lookup per item.
pub(super) fn save_current(
    tx: &Transaction<'_>,
    url: &str,
    items: &[Item],
    first_seen: &HashMap<String, DateTime<Utc>>,
    fallback: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut known = tx.prepare_cached(
        "SELECT river_key, seen, time, title, link, description, published, author, \
         enclosures FROM items WHERE feed_url = ?1 AND item_id = ?2",
    )?;
    let mut unindexed = Vec::new();
    for item in items {
        let row = known
            .query_row(params![url, item.id], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    Content::from_row(row, 3)?,
                ))
            })
            .optional()?;
        let Some((key, seen, time, content)) = row else {
            let seen = first_seen.get(&item.id).copied().unwrap_or(fallback);
            unindexed.push(insert(tx, url, item, seen)?);
            continue;
        };
        let new_content = Content::of(item)?;
        if content == new_content {
            continue;
        }
        // The update's trigger replaces the row's index entry, which must exist by then (an
        // id twice in one document updates a row inserted above).
        index(tx, &mut unindexed)?;
        // A changed publication date can move the item in the river: it then gets a new key.
        let new_time = sort_time(item, from_millis(seen));
        let new_key = if new_time == time {
            key
        } else {
            allocate_key(tx, new_time)?
        };
        tx.prepare_cached(
            "UPDATE items SET river_key = ?1, time = ?2, title = ?3, link = ?4, \
             description = ?5, published = ?6, text = ?7, author = ?8, enclosures = ?9 \
             WHERE river_key = ?10",
        )?
        .execute(params![
            new_key,
            new_time,
            item.title,
            item.link,
            item.description,
            item.published,
            html_text(&item.description),
            new_content.author,
            new_content.enclosures,
            key,
        ])?;
    }
    index(tx, &mut unindexed)
}

/// Adds each of `stored` the feed's history does not hold yet (by id), first seen at its
/// `seen`; how many it added.
pub(super) fn insert_new(
    tx: &Transaction<'_>,
    url: &str,
    stored: &[StoredItem],
) -> Result<usize, StoreError> {
    let mut held = tx.prepare_cached("SELECT 1 FROM items WHERE feed_url = ?1 AND item_id = ?2")?;
    let mut unindexed = Vec::new();
    for stored in stored {
        let known = held
            .query_row(params![url, stored.item.id], |_| Ok(()))
            .optional()?
            .is_some();
        if !known {
            unindexed.push(insert(tx, url, &stored.item, stored.seen)?);
        }
    }
    let added = unindexed.len();
    index(tx, &mut unindexed)?;
    Ok(added)
}

/// Inserts `item`'s row, not yet indexed; its key.
fn insert(
    tx: &Transaction<'_>,
    url: &str,
    item: &Item,
    seen: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let entry = HistoryEntry::of(item, seen);
    let key = allocate_key(tx, entry.time)?;
    tx.prepare_cached(
        "INSERT INTO items (river_key, feed_url, item_id, seen, time, title, link, \
         description, published, text, author, enclosures) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        key,
        url,
        item.id,
        millis(seen),
        entry.time,
        item.title,
        item.link,
        item.description,
        item.published,
        html_text(&item.description),
        item.author,
        enclosures_json(&item.enclosures)?,
    ])?;
    Ok(key)
}

/// Indexes the rows of `keys` (inserted by this call) in one statement, and empties `keys`.
///
/// One statement per call, not one per row: FTS5 writes the entries it holds in memory out as
/// a new segment whenever a statement that may roll back on its own starts (each row's insert
/// once a trigger indexed it), so indexing row by row wrote a segment per item and merged
/// them again and again; now a save's items make one segment.
fn index(tx: &Transaction<'_>, keys: &mut Vec<i64>) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO items_search (rowid, title, text) \
         SELECT river_key, title, text FROM items \
         WHERE river_key IN (SELECT value FROM json_each(?1))",
    )?
    .execute([json_array(keys)?])?;
    keys.clear();
    Ok(())
}

/// The next free key at river time `time`: after every item already at that millisecond.
pub(super) fn allocate_key(tx: &Transaction<'_>, time: i64) -> Result<i64, StoreError> {
    let base = time.clamp(-TIME_LIMIT, TIME_LIMIT - 1) << SLOT_BITS;
    let last = base + (1 << SLOT_BITS) - 1;
    let taken: Option<i64> = tx
        .prepare_cached("SELECT max(river_key) FROM items WHERE river_key BETWEEN ?1 AND ?2")?
        .query_row([base, last], |row| row.get(0))?;
    match taken {
        None => Ok(base),
        Some(key) if key < last => Ok(key + 1),
        Some(_) => Err(StoreError::Unavailable(format!(
            "more than {} items at river time {time}",
            1 << SLOT_BITS
        ))),
    }
}

/// What a refresh may change in an item the history holds, as its columns hold it.
#[derive(PartialEq)]
struct Content {
    title: String,
    link: Option<String>,
    description: String,
    published: Option<String>,
    author: Option<String>,
    /// The enclosures as a JSON array; `None` when there are none (and in rows written before
    /// the column existed).
    enclosures: Option<String>,
}

impl Content {
    fn of(item: &Item) -> Result<Self, StoreError> {
        Ok(Self {
            title: item.title.clone(),
            link: item.link.clone(),
            description: item.description.clone(),
            published: item.published.clone(),
            author: item.author.clone(),
            enclosures: enclosures_json(&item.enclosures)?,
        })
    }

    /// The columns `title, link, description, published, author, enclosures` from `at` on.
    fn from_row(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Self> {
        Ok(Self {
            title: row.get(at)?,
            link: row.get(at + 1)?,
            description: row.get(at + 2)?,
            published: row.get(at + 3)?,
            author: row.get(at + 4)?,
            enclosures: row.get(at + 5)?,
        })
    }

    fn into_item(self, id: String) -> Item {
        // The store wrote this JSON itself: text that no longer reads (edited by hand) costs
        // the item its players, never the item.
        let enclosures = self
            .enclosures
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        Item {
            id,
            title: self.title,
            link: self.link,
            description: self.description,
            published: self.published,
            read: false,
            starred: false,
            author: self.author,
            enclosures,
        }
    }
}

/// `enclosures` as the column holds them: a JSON array, or NULL for none.
fn enclosures_json(enclosures: &[Enclosure]) -> Result<Option<String>, StoreError> {
    if enclosures.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(enclosures)
        .map(Some)
        .map_err(|error| StoreError::Unavailable(format!("encoding enclosures: {error}")))
}

/// The columns [`item_from_row`] reads, from index `at` on.
pub(super) const ITEM_COLUMNS: &str =
    "item_id, title, link, description, published, author, enclosures";

pub(super) fn item_from_row(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Item> {
    let content = Content::from_row(row, at + 1)?;
    Ok(content.into_item(row.get(at)?))
}
