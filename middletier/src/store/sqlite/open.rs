//! Opening the database file: its directory and permissions, the connection settings every
//! connection shares, and start-up errors an operator can act on.
//!
//! Durability: WAL with `synchronous=FULL`. A commit returns only once its WAL frames are
//! fsynced, so an acknowledged write survives `kill -9` and also a power loss or kernel crash.
//! `NORMAL` would also survive `kill -9` (the WAL is in the page cache, which outlives the
//! process) and never corrupt the file, but a power loss could lose the last transactions
//! acknowledged before it. A reader's clicks are few; feed refreshes come many at once, and
//! the writer commits those together, one fsync per group (see `writer`), so `FULL` stays
//! cheap.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

/// How long a statement waits for another connection's lock (a second process on the same
/// file, or a checkpoint) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection: more than the store has (about 30).
const STATEMENT_CACHE: usize = 64;

/// Page cache per connection, in KiB (SQLite's default is 2 MiB): a refresh looks up every
/// item of a feed in `items` and its indexes, and a page read from the cache costs no pread.
const CACHE_KIB: i64 = 16 * 1024;

/// WAL pages (4 KiB) before a commit checkpoints them into the database file (SQLite's
/// default is 1,000). Each checkpoint fsyncs the database file, and a page rewritten by many
/// commits in between is copied once: fewer, larger checkpoints, at the cost of a WAL file up
/// to about 32 MiB. Durability does not change: commits are durable in the WAL already.
const WAL_CHECKPOINT_PAGES: i64 = 8 * 1024;

/// Why the database could not be opened; each names the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "RSS_STORE__PATH {} is a directory; give the path of the database file, such as {}",
        path.display(),
        path.join("rss.db").display()
    )]
    IsADirectory { path: PathBuf },
    #[error("cannot create the directory {} for RSS_STORE__PATH: {source}", dir.display())]
    CreateDirectory {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the database file {} (RSS_STORE__PATH): {source}", path.display())]
    CreateFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} (RSS_STORE__PATH) is not a SQLite database; point RSS_STORE__PATH at a new file \
         or at a database a middle tier wrote",
        path.display()
    )]
    NotADatabase { path: PathBuf },
    #[error(
        "{} (RSS_STORE__PATH) has schema version {found}, newer than this middle tier knows \
         ({known}): it was written by a newer release; run that release, or restore a backup \
         taken before the upgrade",
        path.display()
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("applying schema migration {version} ({name}) to {} failed: {source}", path.display())]
    Migration {
        path: PathBuf,
        version: i64,
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error("cannot start the thread that writes to the SQLite database: {0}")]
    WriterThread(std::io::Error),
    #[error("cannot use the SQLite database {} (RSS_STORE__PATH): {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

/// Creates the file's directory (0700) and the file (0600) when missing: a reader's
/// subscriptions and session hashes are nobody else's business on a shared machine.
pub(super) fn prepare_path(path: &Path) -> Result<(), OpenError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if path.is_dir() {
        return Err(OpenError::IsADirectory {
            path: path.to_owned(),
        });
    }
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty())
        && !dir.is_dir()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| OpenError::CreateDirectory {
                dir: dir.to_owned(),
                source,
            })?;
    }
    // SQLite gives its `-wal` and `-shm` files the database file's permissions.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|source| OpenError::CreateFile {
            path: path.to_owned(),
            source,
        })?;
    // A file someone else made (a restored backup, say) keeps its permissions: the operator
    // chose them, but should know when others can read it.
    if let Ok(metadata) = file.metadata()
        && metadata.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", metadata.permissions().mode() & 0o777),
            "other users have access to the database file; chmod 600 it"
        );
    }
    Ok(())
}

/// One connection to the (existing) file with the settings every connection needs.
pub(super) fn connect(path: &Path) -> Result<Connection, OpenError> {
    let failed = |source: rusqlite::Error| {
        if source.sqlite_error_code() == Some(ErrorCode::NotADatabase) {
            OpenError::NotADatabase {
                path: path.to_owned(),
            }
        } else {
            OpenError::Sqlite {
                path: path.to_owned(),
                source,
            }
        }
    };
    // No CREATE: `prepare_path` made the file, so a path that vanished is an error here.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(failed)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(failed)?;
    // Room for every statement the store prepares, so none is ever prepared twice.
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The first statement that reads the file: a file that is not a database fails here.
    let mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(failed)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(failed(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode is {mode}, WAL is required"
        ))));
    }
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(failed)?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .map_err(failed)?;
    connection
        .pragma_update(None, "cache_size", -CACHE_KIB)
        .map_err(failed)?;
    // Savepoints' journals (one per write in a group, see `writer`) and sorts stay in memory.
    connection
        .pragma_update(None, "temp_store", "MEMORY")
        .map_err(failed)?;
    connection
        .pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
        .map_err(failed)?;
    Ok(connection)
}
