//! The middle tier's behaviour, independent of HTTP: read a user's feeds, subscribe,
//! unsubscribe, keep reading state, accounts and sessions.
//!
//! Reading is online: it reads the subscriptions and the feed cache the refresher keeps
//! (`crate::refresh`), never a publisher, so it is as fast as the store. Subscribing is an
//! event: the URL is fetched at once, so the user sees the items right away and learns at once
//! when the URL is not a feed; a web page is searched for its feeds.
//!
//! # Layout
//! One [`FeedService`], its methods grouped by job:
//! - `views`: what page views read: the user's feeds with their items, the river, one item
//!   (what the edge opens).
//! - `subscriptions`: subscribing (fetch and discovery), unsubscribing, categories, OPML.
//! - `reading`: read and starred marks, "mark all as read".
//! - `search`: search over the histories of the user's feeds.
//! - `checks`: "check now": one subscribed feed fetched at once, bounded per user and feed.
//! - `apps`: what sync apps read and change: item selections, items by number, bulk marks.
//! - `renames`: the user's own feed titles, renaming and removing categories.
//! - `accounts`: accounts and sessions, stored for every edge.
//! - `app_passwords`: the passwords sync apps sign in with, and their last use.
//! - `preferences`: each user's reading preferences, for every edge.

mod accounts;
mod app_passwords;
mod apps;
mod checks;
mod icons;
mod preferences;
mod reading;
mod renames;
mod search;
mod subscriptions;
mod views;

pub use accounts::AccountSettings;
pub use app_passwords::AppSecret;
pub use apps::DEFAULT_APP_ITEMS;

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use middletier_api::Candidate;
use middletier_api::domain::ParseError;

use crate::refresh::Refresher;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The URL can't be subscribed to; the message says why, for the user.
    #[error("{0}")]
    Refused(String),
    /// A web page linking several feeds: the user picks one.
    #[error("this page links to {} feeds; choose one", .0.len())]
    Choose(Vec<Candidate>),
    #[error(transparent)]
    BadRequest(#[from] ParseError),
    /// A search query that cannot be run (400); the message names the limit.
    #[error(transparent)]
    Query(#[from] crate::search::QueryError),
    /// The user does not subscribe to the feed named (404: there is nothing of theirs there).
    #[error("not subscribed to {0}")]
    NotSubscribed(String),
    /// A request the API's limits refuse (400); the message names the limit.
    #[error("{0}")]
    Invalid(String),
    /// An account with this name exists (409).
    #[error("the name is taken")]
    Taken,
    /// The change conflicts with what is stored (409); the message says what, for the user.
    #[error("{0}")]
    Conflict(String),
    /// The feed's history holds no item with this id (404): it never did, or retention has
    /// removed it.
    #[error("this feed holds no such item (old items are removed after a while)")]
    UnknownItem,
    /// No such account or session (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The user checked this feed a moment ago (429); the next check is allowed after this.
    #[error("this feed was checked moments ago; try again in {} s", .0.as_secs().max(1))]
    TooSoon(std::time::Duration),
}

/// Times on the wire: RFC 3339, whole seconds, UTC.
fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Clone, Debug)]
pub struct FeedService {
    /// The store as the application composed it (metrics and caches are layers of it), so
    /// every method here just calls it.
    store: Arc<dyn Store>,
    refresher: Refresher,
    accounts: AccountSettings,
    /// When each user last asked for each feed to be checked now: shared by the clones.
    checks: Arc<checks::CheckLimiter>,
}

impl FeedService {
    pub fn new(store: Arc<dyn Store>, refresher: Refresher) -> Self {
        Self {
            store,
            refresher,
            accounts: AccountSettings::default(),
            checks: Arc::default(),
        }
    }

    /// Bounds accounts by `settings` instead of the defaults.
    pub fn with_accounts(mut self, settings: AccountSettings) -> Self {
        self.accounts = settings;
        self
    }

    pub fn refresher(&self) -> &Refresher {
        &self.refresher
    }
}
