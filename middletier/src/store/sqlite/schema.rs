//! The schema: versioned SQL files applied in order when the database is opened, the version
//! reached kept in the file itself (`PRAGMA user_version`).
//!
//! Each migration runs in one transaction together with the version it sets, so a middle tier
//! killed half-way leaves the database at the previous version, and the next start applies it
//! again from the beginning.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::open::OpenError;

/// Versioned schema files, applied in this order; never edit one that has shipped, add one.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "initial",
    include_str!("../../../schema/sqlite/001_initial.sql"),
)];

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
    for &(version, name, sql) in MIGRATIONS.iter().filter(|(v, ..)| *v > found) {
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
        transaction
            .pragma_update(None, "user_version", version)
            .map_err(failed)?;
        transaction.commit().map_err(failed)?;
        tracing::info!(version, name, "applied schema migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (index, (version, ..)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, i64::try_from(index).expect("few") + 1);
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
