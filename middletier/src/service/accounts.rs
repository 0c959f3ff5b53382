//! Accounts and sessions: the edges sign users in against what is stored here, so every edge
//! knows every account and session.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use middletier_api::domain::{self, ParseError, UserId};
use middletier_api::limits::MAX_SESSION_DAYS;
use middletier_api::{Account, NewAccount, NewSession, PasswordChange, Session};

use super::{FeedService, ServiceError, rfc3339};
use crate::store::{AccountRecord, SessionRecord};

impl FeedService {
    pub async fn create_account(&self, new: &NewAccount) -> Result<Account, ServiceError> {
        let record = AccountRecord {
            user: UserId::parse(&new.user)?,
            password_hash: domain::password_hash(&new.password_hash)?.to_owned(),
            // Whole milliseconds: what every store keeps.
            created: millis(Utc::now()),
        };
        if !self.store.create_account(&record).await? {
            return Err(ServiceError::Taken);
        }
        Ok(account(record))
    }

    pub async fn account(&self, user: &UserId) -> Result<Account, ServiceError> {
        match self.store.account(user).await? {
            Some(record) => Ok(account(record)),
            None => Err(ServiceError::NotFound("account")),
        }
    }

    /// Replaces the account's password hash and ends every browser session of the account, so
    /// whoever held one with the old password holds nothing now (the edge then opens a fresh
    /// one for the browser the change was made from). Apps' sessions stay: they were opened
    /// with app passwords, which the change does not touch.
    pub async fn set_password(
        &self,
        user: &UserId,
        change: &PasswordChange,
    ) -> Result<(), ServiceError> {
        let hash = domain::password_hash(&change.password_hash)?;
        if !self.store.set_password_hash(user, hash).await? {
            return Err(ServiceError::NotFound("account"));
        }
        let ended = self.store.delete_browser_sessions_of(user).await?;
        tracing::info!(%user, ended, "password changed");
        Ok(())
    }

    /// Deletes the account and everything that is the user's (sessions, app passwords,
    /// subscriptions, reading state); the feeds stay for their other readers.
    pub async fn delete_account(&self, user: &UserId) -> Result<(), ServiceError> {
        if !self.store.delete_account(user).await? {
            return Err(ServiceError::NotFound("account"));
        }
        tracing::info!(%user, "account deleted");
        Ok(())
    }

    pub async fn create_session(&self, new: &NewSession) -> Result<(), ServiceError> {
        let token_hash = domain::token_hash(&new.token_hash)?;
        let expires = domain::time(&new.expires)?;
        let now = Utc::now();
        if expires <= now || expires > now + chrono::Duration::days(MAX_SESSION_DAYS) {
            return Err(ParseError::SessionExpiry.into());
        }
        let user = UserId::parse(&new.user)?;
        let app_password = match new.app_password.as_deref() {
            Some(id) => {
                let id = domain::app_password_id(id)?;
                // A password revoked meanwhile must not open a session that outlives it.
                if !self.holds_app_password(&user, id).await? {
                    return Err(ServiceError::NotFound("app password"));
                }
                Some(id.to_owned())
            }
            None => None,
        };
        let session = SessionRecord {
            user,
            expires: millis(expires),
            app_password,
        };
        let max = self.accounts.max_sessions_per_user;
        Ok(self.store.create_session(token_hash, &session, max).await?)
    }

    /// The live session; unknown and expired ones are both "not found".
    pub async fn session(&self, token_hash: &str) -> Result<Session, ServiceError> {
        let token_hash = domain::token_hash(token_hash)?;
        match self.store.session(token_hash, Utc::now()).await? {
            Some(session) => Ok(Session {
                user: session.user.to_string(),
                expires: rfc3339(session.expires),
                app_password: session.app_password,
            }),
            None => Err(ServiceError::NotFound("session")),
        }
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), ServiceError> {
        let token_hash = domain::token_hash(token_hash)?;
        Ok(self.store.delete_session(token_hash).await?)
    }

    /// Ends every session of `user` ("sign out everywhere"), apps' included; returns how many
    /// there were.
    pub async fn delete_sessions_of(&self, user: &UserId) -> Result<usize, ServiceError> {
        let ended = self.store.delete_sessions_of(user).await?;
        tracing::info!(%user, ended, "signed out everywhere");
        Ok(ended)
    }
}

/// `[accounts]` settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountSettings {
    /// Most sessions one user keeps of each kind (browsers signed in at once, and each app
    /// password's sync apps); signing in past it ends the oldest of its kind. Bounds what
    /// repeated sign-ins can store (at most this times one more than the app passwords).
    pub max_sessions_per_user: usize,
    /// Most feeds one user subscribes to. Every page view reads all of a user's
    /// subscriptions (and the river merges their feeds), so this bounds what one user makes
    /// each page cost; a subscribe or an OPML import past it is refused, naming the limit.
    pub max_subscriptions_per_user: usize,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            max_sessions_per_user: 50,
            max_subscriptions_per_user: 500,
        }
    }
}

fn account(record: AccountRecord) -> Account {
    Account {
        user: record.user.to_string(),
        password_hash: record.password_hash,
        created: rfc3339(record.created),
    }
}

fn millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}
