//! Where subscriptions and the feed cache live (the role Astyanax/Cassandra played in the
//! recipe).
//!
//! The service talks to one [`Store`] trait object, which is both a [`SubscriptionStore`]
//! (who reads what) and a [`FeedStore`] (the nearline feed cache: each feed's latest items,
//! status and schedule). Which implementation backs it is chosen by configuration
//! (`[store] kind`: `memory` or `cassandra`). Every implementation must pass the same
//! conformance tests (`tests/store_conformance.rs`).

pub mod cassandra;
mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use cassandra::{CassandraSettings, CassandraStore};
pub use memory::MemoryStore;

use crate::api::Item;
use crate::domain::{FeedUrl, UserId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing database cannot be reached or answered with an error; retrying later may
    /// work. The message is for logs, not for users.
    #[error("subscription store unavailable: {0}")]
    Unavailable(String),
    #[error("a user can have at most {0} subscriptions")]
    TooManySubscriptions(usize),
}

/// Bounds what one user can make every page view read.
pub const MAX_SUBSCRIPTIONS_PER_USER: usize = 500;

/// A user's subscriptions, in the order they were added.
#[async_trait]
pub trait SubscriptionStore: Send + Sync + std::fmt::Debug + 'static {
    async fn subscriptions(&self, user: &UserId) -> Result<Vec<FeedUrl>, StoreError>;

    /// Adds `url`; `Ok(false)` when the user was already subscribed.
    async fn subscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError>;

    /// Removes `url`; `Ok(false)` when the user was not subscribed.
    async fn unsubscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError>;
}

/// What the refresher knows about one feed: its latest items and its status and schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedState {
    pub url: FeedUrl,
    pub title: Option<String>,
    pub items: Vec<Item>,
    /// Validators of the last successful fetch, for conditional GETs.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// HTTP status of the last attempt, when it got that far.
    pub http_status: Option<u16>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// Why the last attempt failed, for humans; `None` when it succeeded.
    pub last_error: Option<String>,
    pub consecutive_errors: u32,
    /// The publisher answered 410 Gone: not refreshed any more.
    pub gone: bool,
    pub next_refresh: DateTime<Utc>,
}

impl FeedState {
    /// A feed never fetched yet: due at once.
    pub fn new(url: FeedUrl, now: DateTime<Utc>) -> Self {
        Self {
            url,
            title: None,
            items: Vec::new(),
            etag: None,
            last_modified: None,
            http_status: None,
            last_attempt: None,
            last_success: None,
            last_error: None,
            consecutive_errors: 0,
            gone: false,
            next_refresh: now,
        }
    }
}

/// One feed somebody subscribes to, as the scheduler sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduled {
    pub url: FeedUrl,
    /// `None` when the feed was never fetched (due now).
    pub next_refresh: Option<DateTime<Utc>>,
    pub gone: bool,
}

/// The feed cache: written by the refresher, read by page views.
#[async_trait]
pub trait FeedStore: Send + Sync + std::fmt::Debug + 'static {
    /// The cached state of each URL, in the same order (`None`: never fetched).
    async fn feed_states(&self, urls: &[FeedUrl]) -> Result<Vec<Option<FeedState>>, StoreError>;

    async fn save_feed_state(&self, state: &FeedState) -> Result<(), StoreError>;

    /// Every feed with at least one subscriber, with its schedule.
    async fn scheduled_feeds(&self) -> Result<Vec<Scheduled>, StoreError>;

    /// A permanent redirect: every subscriber of `from` now subscribes to `to` (keeping its
    /// place in their list), and `from`'s cached state is dropped.
    async fn move_feed(&self, from: &FeedUrl, to: &FeedUrl) -> Result<(), StoreError>;
}

/// Both halves, as one trait object for the service.
pub trait Store: SubscriptionStore + FeedStore {}

impl<T: SubscriptionStore + FeedStore> Store for T {}
