//! App passwords: what sync apps sign in with (the edge's Google Reader and Fever APIs), and
//! the sessions they hold. The edge hashes every secret; this side checks the shapes, keeps
//! them unique, and records when each was last used.

use chrono::{DateTime, Duration, Utc};

use middletier_api::domain::{self, UserId};
use middletier_api::{AppPassword, AppPasswordOwner, MAX_APP_PASSWORDS, NewAppPassword};

use super::{FeedService, ServiceError, rfc3339};
use crate::store::{AppPasswordCreated, AppPasswordRecord};

/// How stale `last_used` may get: an app signs in on every sync (every few minutes, or many
/// times a minute with several devices), and writing each one would turn reads into writes.
const LAST_USED_EVERY: Duration = Duration::minutes(1);

/// Which hash an app signed in with.
#[derive(Clone, Copy, Debug)]
pub enum AppSecret<'a> {
    /// SHA-256 of the password (Google Reader's `ClientLogin`).
    Password(&'a str),
    /// SHA-256 of the Fever `api_key`.
    Fever(&'a str),
}

impl FeedService {
    /// Stores a new app password for `user`, who must have an account or subscriptions
    /// (single-user mode's user has no account).
    pub async fn create_app_password(
        &self,
        user: &UserId,
        new: &NewAppPassword,
    ) -> Result<AppPassword, ServiceError> {
        let record = AppPasswordRecord {
            user: user.clone(),
            id: domain::app_password_id(&new.id)?.to_owned(),
            name: domain::app_password_name(&new.name)?,
            secret_hash: domain::app_password_hash(&new.secret_hash)?.to_owned(),
            fever_hash: domain::app_password_hash(&new.fever_hash)?.to_owned(),
            created: millis(Utc::now()),
            last_used: None,
        };
        if self.store.account(user).await?.is_none()
            && self.store.subscriptions(user).await?.is_empty()
        {
            return Err(ServiceError::NotFound("account"));
        }
        match self
            .store
            .create_app_password(&record, MAX_APP_PASSWORDS)
            .await?
        {
            AppPasswordCreated::Created => {
                tracing::info!(%user, id = %record.id, "app password created");
                Ok(app_password(record))
            }
            AppPasswordCreated::TooMany => Err(ServiceError::Conflict(format!(
                "you have {MAX_APP_PASSWORDS} app passwords, the most allowed; revoke one first"
            ))),
            AppPasswordCreated::Taken => Err(ServiceError::Conflict(
                "an app password with this id or secret exists; make a new one".to_owned(),
            )),
        }
    }

    /// The user's app passwords, newest first.
    pub async fn app_passwords(&self, user: &UserId) -> Result<Vec<AppPassword>, ServiceError> {
        let passwords = self.store.app_passwords(user).await?;
        Ok(passwords.into_iter().map(app_password).collect())
    }

    /// Revokes the password and ends the sessions apps signed in with it; unknown ids are
    /// fine (revoking twice is one revoke).
    pub async fn revoke_app_password(&self, user: &UserId, id: &str) -> Result<(), ServiceError> {
        let id = domain::app_password_id(id)?;
        if self.store.revoke_app_password(user, id).await? {
            tracing::info!(%user, id, "app password revoked");
        }
        Ok(())
    }

    /// Whose password this is, recording that it was used (at most once a minute).
    pub async fn app_password_owner(
        &self,
        secret: AppSecret<'_>,
    ) -> Result<AppPasswordOwner, ServiceError> {
        let found = match secret {
            AppSecret::Password(hash) => {
                let hash = domain::app_password_hash(hash)?;
                self.store.app_password_by_secret(hash).await?
            }
            AppSecret::Fever(hash) => {
                let hash = domain::app_password_hash(hash)?;
                self.store.app_password_by_fever(hash).await?
            }
        };
        let Some(password) = found else {
            return Err(ServiceError::NotFound("app password"));
        };
        let now = Utc::now();
        if due(password.last_used, now) {
            self.store
                .touch_app_password(&password.user, &password.id, millis(now))
                .await?;
        }
        Ok(AppPasswordOwner {
            user: password.user.to_string(),
            id: password.id,
        })
    }

    /// Whether `user` holds app password `id` (a session an app opens must name a live one).
    pub(super) async fn holds_app_password(
        &self,
        user: &UserId,
        id: &str,
    ) -> Result<bool, ServiceError> {
        let passwords = self.store.app_passwords(user).await?;
        Ok(passwords.iter().any(|password| password.id == id))
    }
}

/// Whether a password last used at `last_used` should be recorded as used at `now`.
fn due(last_used: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used.is_none_or(|at| now - at >= LAST_USED_EVERY || at > now)
}

fn app_password(record: AppPasswordRecord) -> AppPassword {
    AppPassword {
        id: record.id,
        name: record.name,
        created: rfc3339(record.created),
        last_used: record.last_used.map(rfc3339),
    }
}

/// Whole milliseconds: what every store keeps.
fn millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_used_is_written_once_a_minute_at_most() {
        let now = Utc::now();
        assert!(due(None, now), "never used: record it");
        assert!(!due(Some(now - Duration::seconds(59)), now));
        assert!(due(Some(now - Duration::seconds(60)), now));
        assert!(
            due(Some(now + Duration::hours(1)), now),
            "a time from a clock that ran ahead is corrected"
        );
    }
}
