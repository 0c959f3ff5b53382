//! The embedded store: one SQLite file on this machine, durable, for a middle tier that runs
//! alone (the default a person runs on their own computer).
//!
//! Data model (SQL in `middletier/schema/sqlite/`, applied in order at open, the version kept
//! in `PRAGMA user_version`): `subscriptions` (one row per user and feed, with its place in
//! the list, category, the user's own title and watermark), `item_marks` (reading state, which belongs to a
//! subscription: a foreign key moves it with a moved feed and drops it on unsubscribe),
//! `feeds` (the feed cache, one row per feed as in Cassandra, holding its fetch state and the
//! ids of its current document's items), `items` (the item history, one row per item, written
//! with its feed's row, and the current document's content) with its
//! full-text index `items_search` (FTS5), `accounts`, `sessions` and `app_passwords`.
//!
//! rusqlite is blocking, so no statement runs on a tokio worker: each call runs on the
//! blocking pool (`spawn_blocking`) or on the writer's thread. There is one writer connection,
//! so writes are serialized (each call's statements as one unit, which also makes
//! read-then-write checks such as the subscription cap race-free; the writer commits the
//! writes queued together in one transaction, see `writer`), and a few reader connections,
//! which WAL lets read a consistent snapshot while the writer writes.
//!
//! Like Cassandra, every read decodes what it reads; the application puts the process
//! [`FeedCache`](super::FeedCache) in front, answering its version reads
//! ([`FeedVersions`](super::FeedVersions)).
//!
//! # Layout
//! - `open`: the file, its permissions, connection settings (WAL, `synchronous=FULL`),
//!   start-up errors ([`OpenError`]).
//! - `schema`: the versioned migrations.
//! - `writer`: the thread that owns the writer connection and commits queued writes in groups.
//! - One file per table family, each implementing its store trait: `subscriptions`, `feeds`,
//!   `reading` (`item_marks` and the subscriptions' categories and watermarks), `history`
//!   (`items` by feed), `search` (`items_search`), `accounts` (`accounts`, `sessions`),
//!   `app_passwords`.
//! - `items`: writing history rows inside the callers' transactions (a feed's save, import,
//!   the migration that first filled `items`).

mod accounts;
mod app_passwords;
mod feeds;
mod history;
mod icons;
mod items;
mod open;
mod reading;
mod schema;
mod search;
mod subscriptions;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, TransactionBehavior};

pub use open::OpenError;

use super::StoreError;

/// Reader connections: enough for page views on two cores to read while one refreshes.
const READERS: usize = 4;

/// The store on one SQLite file: cheap to clone (every clone shares the connections).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    connections: Arc<Connections>,
}

#[derive(Debug)]
struct Connections {
    /// The only connection that writes, on its own thread: SQLite allows one writer at a time
    /// anyway, and queueing for it is cheaper than retrying on `SQLITE_BUSY`.
    writer: writer::Writer,
    readers: Vec<Mutex<Connection>>,
    /// Round-robin over `readers`.
    next_reader: AtomicUsize,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    /// Blocking work, done on the blocking pool.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path))
            .await
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
    }

    fn open_blocking(path: &Path) -> Result<Self, OpenError> {
        open::prepare_path(path)?;
        let mut writer = open::connect(path)?;
        schema::migrate(&mut writer, path)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = open::connect(path)?;
                // A guard: a read path that tried to write would fail loudly.
                reader
                    .pragma_update(None, "query_only", "ON")
                    .map_err(|source| OpenError::Sqlite {
                        path: path.to_owned(),
                        source,
                    })?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<_, OpenError>>()?;
        let writer = writer::Writer::start(writer).map_err(OpenError::WriterThread)?;
        Ok(Self {
            connections: Arc::new(Connections {
                writer,
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    /// Runs `work` on the writer connection as one unit, kept when it returns `Ok` (and
    /// rolled back otherwise), and answers once it is durable: committed, with the other
    /// writes queued beside it.
    async fn write<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.connections.writer.write(work).await
    }

    /// Runs `work` in one read transaction (one consistent snapshot) on a reader connection.
    async fn read<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let connections = self.connections.clone();
        blocking(move || {
            let index =
                connections.next_reader.fetch_add(1, Ordering::Relaxed) % connections.readers.len();
            let mut reader = connections.readers[index]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let transaction = reader.transaction_with_behavior(TransactionBehavior::Deferred)?;
            work(&transaction)
        })
        .await
    }
}

/// Runs blocking database work off the tokio workers.
async fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> Result<R, StoreError> + Send + 'static,
) -> Result<R, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StoreError::Unavailable(format!("store task failed: {error}")))?
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Unavailable(format!("sqlite: {error}"))
    }
}

/// Times are kept as Unix milliseconds, the precision Cassandra keeps too.
fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn from_millis(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// Many values bound as one parameter (`json_each(?)`), whatever their number.
fn json_array<T: serde::Serialize>(values: &[T]) -> Result<String, StoreError> {
    serde_json::to_string(values)
        .map_err(|error| StoreError::Unavailable(format!("encoding a parameter: {error}")))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use middletier_api::domain::UserId;

    use super::*;
    use crate::store::AccountStore;

    /// A database file of its own, removed with its directory when dropped.
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_are_answered_from_the_last_commit_while_a_write_is_in_progress() {
        let scratch = Scratch(std::env::temp_dir().join(format!(
            "middletier-sqlite-unit-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        )));
        let store = SqliteStore::open(&scratch.0.join("rss.db"))
            .await
            .expect("open");
        let ann = UserId::parse("ann").expect("user");
        let (entered, in_write) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let writing = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .write(move |tx| {
                        tx.execute(
                            "INSERT INTO accounts (user_id, password_hash, created) \
                             VALUES ('ann', 'hash', 0)",
                            [],
                        )?;
                        entered.send(()).expect("test waits");
                        // Held open until the read below has been answered.
                        released.recv().expect("test releases");
                        Ok(())
                    })
                    .await
            }
        });
        tokio::task::spawn_blocking(move || in_write.recv())
            .await
            .expect("task")
            .expect("the write began");

        assert_eq!(
            store.account(&ann).await.expect("read during the write"),
            None,
            "readers see the last commit, not a write in progress"
        );
        release.send(()).expect("writer waits");
        writing.await.expect("task").expect("write");
        assert!(
            store.account(&ann).await.expect("read").is_some(),
            "and the write once it commits"
        );
    }
}
