//! Moving a reader's data between stores: `middletier export` writes everything a reader keeps
//! to one versioned file ([`export`]), `middletier import` loads it into any store
//! ([`import`]). The file is defined by what a reader keeps (accounts, app passwords,
//! subscriptions in order with their category, own title and "read up to" watermark, item
//! marks, starred items with their content), not by any store's tables, so it outlives schema
//! changes.
//!
//! # Format (`docs/operations.md`, "Moving to another store")
//! JSON lines: a [`Header`] line, then one [`Record`] per line, user by user (one user's
//! records are contiguous, so import holds one user at a time, never the whole store), then
//! one [`Record::End`] line with the counts. A file without its end line was cut short.
//!
//! Sessions are not exported: they are bearer credentials bound to the store that issued them,
//! and signing in again on the new store is cheaper than carrying live credentials in a file.
//! App passwords are (as their hashes, like the account's): apps keep syncing after a move
//! with the passwords they were given, signing in again by themselves.
//!
//! # Versions
//! - 1: accounts, subscriptions, marks, starred items.
//! - 2: subscriptions may carry the user's own `title`; `app_password` records. A version 1
//!   file is a version 2 file without them, so both are read.
//! - 3: `preferences` records (the user's reading preferences). Earlier files are version 3
//!   files without them.

pub mod export;
pub mod import;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use export::export;
pub use import::{ImportError, ImportLimits, import};

/// The header's `format`: what this file is.
pub const FORMAT: &str = "rss-recipe-export";
/// The version this build writes.
pub const VERSION: u32 = 3;
/// The versions this build reads; a reader refuses any other.
pub const READS: &[u32] = &[1, 2, 3];
/// Longest line import accepts: a starred item's sanitized content fits many times over, and a
/// hostile file cannot make import buffer more than this per line.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// The first line.
#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub exported_at: DateTime<Utc>,
}

/// One line after the header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// An account: the password hash exactly as stored (the edge's PHC string), never a
    /// password.
    Account {
        user: String,
        password_hash: String,
        created: DateTime<Utc>,
    },
    /// An app password a sync app signs in with: SHA-256 of it and of its Fever key, exactly
    /// as stored, never the password.
    AppPassword {
        user: String,
        id: String,
        name: String,
        secret_hash: String,
        fever_hash: String,
        created: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_used: Option<DateTime<Utc>>,
    },
    /// The user's reading preferences (theme, page size...), checked again on import.
    Preferences {
        user: String,
        preferences: middletier_api::Preferences,
    },
    /// One subscription, in the user's order, with its category, the user's own title and
    /// mark-all-read watermark.
    Subscription {
        user: String,
        feed: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        read_up_to: Option<ReadUpTo>,
    },
    /// The user's marks on one item of a subscribed feed.
    Mark {
        user: String,
        feed: String,
        item: String,
        /// Read (`true`) or unread (`false`) and when that was set; absent: never set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        read: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        read_at: Option<DateTime<Utc>>,
        #[serde(default)]
        starred: bool,
    },
    /// A starred item's content, taken from its feed's item history, so the star keeps its
    /// article on the new store even when the feed no longer publishes it.
    StarredItem {
        user: String,
        feed: String,
        item: StarredContent,
    },
    /// The last line: what came before, so a file cut short is noticed.
    End { users: u64, records: u64 },
}

impl Record {
    /// The user a record belongs to (`None` for the end line).
    pub fn user(&self) -> Option<&str> {
        match self {
            Self::Account { user, .. }
            | Self::AppPassword { user, .. }
            | Self::Preferences { user, .. }
            | Self::Subscription { user, .. }
            | Self::Mark { user, .. }
            | Self::StarredItem { user, .. } => Some(user),
            Self::End { .. } => None,
        }
    }
}

/// "Everything in this feed that had arrived by `up_to` is read", set at `set_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadUpTo {
    pub up_to: DateTime<Utc>,
    pub set_at: DateTime<Utc>,
}

/// What a reader sees of a starred item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StarredContent {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// When the old store first saw it (what "read up to" and the river order compare);
    /// absent in files written before items had a history: import then uses its own time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<DateTime<Utc>>,
    /// Absent in files written before items had authors and enclosures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enclosures: Vec<middletier_api::Enclosure>,
}

/// What was written or loaded, printed by the commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub users: u64,
    pub accounts: u64,
    pub app_passwords: u64,
    pub subscriptions: u64,
    pub marks: u64,
    pub stars: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} users ({} accounts, {} app passwords), {} subscriptions, {} item marks, \
             {} starred",
            self.users,
            self.accounts,
            self.app_passwords,
            self.subscriptions,
            self.marks,
            self.stars
        )
    }
}

/// Opens the store the settings name, for the commands: connected (or failed) before they
/// start. The memory store holds nothing outside a running middle tier, so it is refused.
pub async fn open_store(
    settings: &crate::settings::Settings,
) -> Result<std::sync::Arc<dyn crate::store::Store>, String> {
    use crate::settings::StoreKind;
    use crate::store::{CassandraStore, SqliteStore};
    match settings.store.kind {
        StoreKind::Memory => Err("the memory store keeps nothing outside a running middle \
                                  tier: set RSS_STORE__KIND to sqlite or cassandra"
            .to_owned()),
        StoreKind::Sqlite => Ok(std::sync::Arc::new(
            SqliteStore::open(&settings.store.path)
                .await
                .map_err(|error| error.to_string())?,
        )),
        StoreKind::Cassandra => Ok(std::sync::Arc::new(
            CassandraStore::connect(&settings.cassandra)
                .await
                .map_err(|error| error.to_string())?,
        )),
    }
}
