//! `accounts` and `sessions`: accounts created once, sessions kept until they expire (or the
//! app password an app's session was signed in with is revoked, `app_passwords`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use middletier_api::domain::UserId;

use super::{SqliteStore, from_millis, millis};
use crate::store::{AccountRecord, AccountStore, SessionRecord, StoreError};

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_account(&self, account: &AccountRecord) -> Result<bool, StoreError> {
        let account = account.clone();
        self.write(move |tx| {
            let created = tx
                .prepare_cached(
                    "INSERT INTO accounts (user_id, password_hash, created) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (user_id) DO NOTHING",
                )?
                .execute(params![
                    account.user.as_str(),
                    account.password_hash,
                    millis(account.created)
                ])?;
            Ok(created == 1)
        })
        .await
    }

    async fn account(&self, user: &UserId) -> Result<Option<AccountRecord>, StoreError> {
        let user = user.clone();
        self.read(move |tx| {
            let row = tx
                .prepare_cached("SELECT password_hash, created FROM accounts WHERE user_id = ?1")?
                .query_row([user.as_str()], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .optional()?;
            Ok(row.map(|(password_hash, created)| AccountRecord {
                user,
                password_hash,
                created: from_millis(created),
            }))
        })
        .await
    }

    async fn set_password_hash(
        &self,
        user: &UserId,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let (user, password_hash) = (user.clone(), password_hash.to_owned());
        self.write(move |tx| {
            let changed = tx
                .prepare_cached("UPDATE accounts SET password_hash = ?2 WHERE user_id = ?1")?
                .execute(params![user.as_str(), password_hash])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        self.read(|tx| {
            let mut statement = tx.prepare_cached(
                "SELECT user_id FROM accounts UNION SELECT user_id FROM subscriptions \
                 UNION SELECT user_id FROM app_passwords ORDER BY user_id",
            )?;
            let names = statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            // A name the domain type refuses cannot have been written through the store.
            Ok(names.iter().filter_map(|n| UserId::parse(n).ok()).collect())
        })
        .await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        session: &SessionRecord,
        max_per_user: usize,
    ) -> Result<(), StoreError> {
        let (token_hash, session) = (token_hash.to_owned(), session.clone());
        let now = millis(Utc::now());
        let keep = i64::try_from(max_per_user).unwrap_or(i64::MAX);
        self.write(move |tx| {
            // Sessions that expired without being looked up again go here, so abandoned
            // sessions cannot pile up (each sign-in pays for the sweep, by index).
            tx.prepare_cached("DELETE FROM sessions WHERE expires <= ?1")?
                .execute([now])?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO sessions (token_hash, user_id, expires, app_password) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                token_hash,
                session.user.as_str(),
                millis(session.expires),
                session.app_password,
            ])?;
            // The ones of its kind that would expire first make room (`IS`: NULL, a
            // browser's, matches NULL).
            tx.prepare_cached(
                "DELETE FROM sessions WHERE user_id = ?1 AND app_password IS ?3 \
                 AND token_hash NOT IN \
                 (SELECT token_hash FROM sessions WHERE user_id = ?1 AND app_password IS ?3 \
                  ORDER BY expires DESC, token_hash DESC LIMIT ?2)",
            )?
            .execute(params![session.user.as_str(), keep, session.app_password])?;
            Ok(())
        })
        .await
    }

    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let hash = token_hash.to_owned();
        let row = self
            .read(move |tx| {
                Ok(tx
                    .prepare_cached(
                        "SELECT user_id, expires, app_password FROM sessions \
                         WHERE token_hash = ?1",
                    )?
                    .query_row([hash], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, Option<String>>(2)?,
                        ))
                    })
                    .optional()?)
            })
            .await?;
        let Some((user, expires, app_password)) = row else {
            return Ok(None);
        };
        let expires = from_millis(expires);
        if expires <= now {
            self.delete_session(token_hash).await?;
            return Ok(None);
        }
        Ok(UserId::parse(&user).ok().map(|user| SessionRecord {
            user,
            expires,
            app_password,
        }))
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let hash = token_hash.to_owned();
        self.write(move |tx| {
            tx.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
                .execute([hash])?;
            Ok(())
        })
        .await
    }

    async fn delete_sessions_of(&self, user: &UserId) -> Result<usize, StoreError> {
        let user = user.clone();
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
                .execute([user.as_str()])?)
        })
        .await
    }

    async fn delete_account(&self, user: &UserId) -> Result<bool, StoreError> {
        let user = user.clone();
        // One transaction: all of it goes, or none.
        self.write(move |tx| {
            for table in [
                "sessions",
                "app_passwords",
                "preferences",
                "item_marks",
                "subscriptions",
            ] {
                tx.prepare_cached(&format!("DELETE FROM {table} WHERE user_id = ?1"))?
                    .execute([user.as_str()])?;
            }
            let deleted = tx
                .prepare_cached("DELETE FROM accounts WHERE user_id = ?1")?
                .execute([user.as_str()])?;
            Ok(deleted == 1)
        })
        .await
    }

    async fn preferences(&self, user: &UserId) -> Result<Option<String>, StoreError> {
        let user = user.clone();
        self.read(move |tx| {
            Ok(tx
                .prepare_cached("SELECT json FROM preferences WHERE user_id = ?1")?
                .query_row([user.as_str()], |row| row.get(0))
                .optional()?)
        })
        .await
    }

    async fn set_preferences(&self, user: &UserId, json: &str) -> Result<(), StoreError> {
        let user = user.clone();
        let json = json.to_owned();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO preferences (user_id, json) VALUES (?1, ?2)",
            )?
            .execute([user.as_str(), json.as_str()])?;
            Ok(())
        })
        .await
    }

    async fn delete_browser_sessions_of(&self, user: &UserId) -> Result<usize, StoreError> {
        let user = user.clone();
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM sessions WHERE user_id = ?1 AND app_password IS NULL")?
                .execute([user.as_str()])?)
        })
        .await
    }
}
