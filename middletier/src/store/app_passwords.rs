//! App passwords: what sync apps (Google Reader and Fever clients) sign in with instead of the
//! account password. The middle tier keeps only SHA-256 of each password and of its Fever key
//! (the edge hashes them), found again by either hash from any edge.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use middletier_api::domain::UserId;

use super::StoreError;

/// One stored app password.
#[derive(Clone, PartialEq, Eq)]
pub struct AppPasswordRecord {
    pub user: UserId,
    /// 16 lower-case hex characters, chosen by the edge; unique per user.
    pub id: String,
    pub name: String,
    /// SHA-256 (hex) of the password: unique across all users.
    pub secret_hash: String,
    /// SHA-256 (hex) of the Fever key (`md5("user:password")`): unique across all users.
    pub fever_hash: String,
    pub created: DateTime<Utc>,
    /// When an app last signed in with it; written at most about once a minute.
    pub last_used: Option<DateTime<Utc>>,
}

/// The hashes stand for secrets: logs name the password, never them.
impl std::fmt::Debug for AppPasswordRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppPasswordRecord")
            .field("user", &self.user)
            .field("id", &self.id)
            .field("name", &self.name)
            .field("created", &self.created)
            .field("last_used", &self.last_used)
            .finish_non_exhaustive()
    }
}

/// What [`AppPasswordStore::create_app_password`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppPasswordCreated {
    Created,
    /// The user holds the most app passwords allowed already; nothing stored.
    TooMany,
    /// The user has a password with this id, or some user one with either hash; nothing
    /// stored.
    Taken,
}

/// App passwords, shared by every edge through the middle tier.
#[async_trait]
pub trait AppPasswordStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores `password` unless its owner holds `max_per_user` already or its id or a hash is
    /// taken.
    async fn create_app_password(
        &self,
        password: &AppPasswordRecord,
        max_per_user: usize,
    ) -> Result<AppPasswordCreated, StoreError>;

    /// The user's app passwords, newest first.
    async fn app_passwords(&self, user: &UserId) -> Result<Vec<AppPasswordRecord>, StoreError>;

    /// Deletes the password and ends every session an app signed in with it; `Ok(false)`
    /// when the user has no such password (nothing to do).
    async fn revoke_app_password(&self, user: &UserId, id: &str) -> Result<bool, StoreError>;

    /// The password with this SHA-256 (hex) of the secret, whoever holds it.
    async fn app_password_by_secret(
        &self,
        secret_hash: &str,
    ) -> Result<Option<AppPasswordRecord>, StoreError>;

    /// The password with this SHA-256 (hex) of its Fever key, whoever holds it.
    async fn app_password_by_fever(
        &self,
        fever_hash: &str,
    ) -> Result<Option<AppPasswordRecord>, StoreError>;

    /// Records that an app signed in with the password at `at` (nothing if it was revoked).
    async fn touch_app_password(
        &self,
        user: &UserId,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}
