//! The schema: versioned SQL files applied in order when the database is opened, the version
//! reached kept in the file itself (`PRAGMA user_version`).
//!
//! Each migration runs in one transaction together with the version it sets, so a middle tier
//! killed half-way leaves the database at the previous version, and the next start applies it
//! again from the beginning. A migration that moves data SQL cannot transform runs a Rust
//! step after its SQL, in the same transaction.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use middletier_api::Item;

use super::open::OpenError;
use super::{from_millis, items};
use crate::store::StoreError;

/// Versioned schema files, applied in this order; never edit one that has shipped, add one.
const MIGRATIONS: &[(i64, &str, &str, Option<Step>)] = &[
    (
        1,
        "initial",
        include_str!("../../../schema/sqlite/001_initial.sql"),
        None,
    ),
    (
        2,
        "item_history",
        include_str!("../../../schema/sqlite/002_item_history.sql"),
        Some(copy_current_items_to_history),
    ),
    (
        3,
        "search_scope",
        include_str!("../../../schema/sqlite/003_search_scope.sql"),
        None,
    ),
    (
        4,
        "current_ids",
        include_str!("../../../schema/sqlite/004_current_ids.sql"),
        None,
    ),
    (
        5,
        "app_passwords",
        include_str!("../../../schema/sqlite/005_app_passwords.sql"),
        None,
    ),
    (
        6,
        "subscription_titles",
        include_str!("../../../schema/sqlite/006_subscription_titles.sql"),
        None,
    ),
    (
        7,
        "item_media",
        include_str!("../../../schema/sqlite/007_item_media.sql"),
        None,
    ),
    (
        8,
        "feed_icons",
        include_str!("../../../schema/sqlite/008_feed_icons.sql"),
        None,
    ),
    (
        9,
        "preferences",
        include_str!("../../../schema/sqlite/009_preferences.sql"),
        None,
    ),
];

/// Data a migration moves after its SQL ran.
type Step = fn(&Transaction<'_>) -> Result<(), StoreError>;

/// The version this middle tier brings a database to.
pub(super) const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Brings the database to [`LATEST`], refusing one written by a newer middle tier: its schema
/// may mean things this code would misread or overwrite.
pub(super) fn migrate(connection: &mut Connection, path: &Path) -> Result<(), OpenError> {
    let sqlite = |source| OpenError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let found: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sqlite)?;
    if found > LATEST {
        return Err(OpenError::NewerSchema {
            path: path.to_owned(),
            found,
            known: LATEST,
        });
    }
    for &(version, name, sql, step) in MIGRATIONS.iter().filter(|(v, ..)| *v > found) {
        let failed = |source| OpenError::Migration {
            path: path.to_owned(),
            version,
            name,
            source,
        };
        // Immediate: a second middle tier opening the same file waits instead of migrating too.
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        let current: i64 = transaction
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(failed)?;
        if current >= version {
            continue;
        }
        transaction.execute_batch(sql).map_err(failed)?;
        if let Some(step) = step {
            step(&transaction).map_err(|error| {
                failed(rusqlite::Error::ToSqlConversionFailure(Box::new(error)))
            })?;
        }
        transaction
            .pragma_update(None, "user_version", version)
            .map_err(failed)?;
        transaction.commit().map_err(failed)?;
        tracing::info!(version, name, "applied schema migration");
    }
    Ok(())
}

/// 002: every item of every feed's current document (`feeds.items`) becomes a history row
/// with its first-seen time (`feeds.first_seen`, else the feed's last success, as a save
/// would). A row whose items no longer decode showed no items before and adds none now.
fn copy_current_items_to_history(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let mut statement =
        tx.prepare("SELECT url, items, first_seen, last_success, last_attempt FROM feeds")?;
    let feeds = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<i64>>(3)?,
                row.get::<_, Option<i64>>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (url, current, first_seen, last_success, last_attempt) in feeds {
        let current: Vec<Item> = serde_json::from_str(&current).unwrap_or_default();
        let first_seen: HashMap<String, i64> =
            serde_json::from_str(&first_seen).unwrap_or_default();
        let first_seen = first_seen
            .into_iter()
            .map(|(id, at)| (id, from_millis(at)))
            .collect();
        let fallback = from_millis(last_success.or(last_attempt).unwrap_or_default());
        copy_as_of_002(tx, &url, &current, &first_seen, fallback)?;
    }
    // The index as of 002 has the trigger that indexes each inserted row: rebuilt from the
    // rows, each is indexed once. The rows are only the current documents, so it is quick.
    tx.execute_batch("INSERT INTO items_search (items_search) VALUES ('rebuild')")?;
    Ok(())
}

/// Writes a document's items as history rows with the columns `items` has as of 002 (the
/// items module writes the latest ones, which a database at 002 does not have yet). An id
/// twice in a document keeps its first row and takes the later content, as a save does.
fn copy_as_of_002(
    tx: &Transaction<'_>,
    url: &str,
    current: &[Item],
    first_seen: &HashMap<String, chrono::DateTime<chrono::Utc>>,
    fallback: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    for item in current {
        let seen = first_seen.get(&item.id).copied().unwrap_or(fallback);
        let entry = crate::store::HistoryEntry::of(item, seen);
        let key = items::allocate_key(tx, entry.time)?;
        tx.prepare_cached(
            "INSERT INTO items (river_key, feed_url, item_id, seen, time, title, link, \
             description, published, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (feed_url, item_id) DO UPDATE SET title = excluded.title, \
             link = excluded.link, description = excluded.description, \
             published = excluded.published, text = excluded.text",
        )?
        .execute(rusqlite::params![
            key,
            url,
            item.id,
            entry.seen,
            entry.time,
            item.title,
            item.link,
            item.description,
            item.published,
            crate::store::words::html_text(&item.description),
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_one_by_one_from_one() {
        for (expected, (version, ..)) in (1..).zip(MIGRATIONS) {
            assert_eq!(*version, expected);
        }
    }

    #[test]
    fn migrating_twice_changes_nothing_the_second_time() {
        let mut connection = Connection::open_in_memory().expect("open");
        migrate(&mut connection, Path::new(":memory:")).expect("first");
        migrate(&mut connection, Path::new(":memory:")).expect("second");
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("version");
        assert_eq!(version, LATEST);
    }
}
