//! Where subscriptions live (the role Astyanax/Cassandra played in the recipe).
//!
//! The service talks to a [`SubscriptionStore`] trait object; which implementation backs it is
//! chosen by configuration (`[store] kind`: `memory` or `cassandra`). Every implementation
//! must pass the same conformance tests (`tests/store_conformance.rs`).

pub mod cassandra;
mod memory;

use async_trait::async_trait;

pub use cassandra::{CassandraSettings, CassandraStore};
pub use memory::MemoryStore;

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

/// A user's subscriptions, in the order they were added.
#[async_trait]
pub trait SubscriptionStore: Send + Sync + std::fmt::Debug + 'static {
    async fn subscriptions(&self, user: &UserId) -> Result<Vec<FeedUrl>, StoreError>;

    /// Adds `url`; `Ok(false)` when the user was already subscribed.
    async fn subscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError>;

    /// Removes `url`; `Ok(false)` when the user was not subscribed.
    async fn unsubscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError>;
}

/// Bounds what one user can make every page view fetch.
pub const MAX_SUBSCRIPTIONS_PER_USER: usize = 500;
