//! `app_passwords`: one row per password, found by owner (the settings page) or by either hash
//! (an app signing in), both hashes unique.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use middletier_api::domain::UserId;

use super::{SqliteStore, from_millis, millis};
use crate::store::{AppPasswordCreated, AppPasswordRecord, AppPasswordStore, StoreError};

/// The columns [`record`] reads, in its order.
const COLUMNS: &str = "user_id, id, name, secret_hash, fever_hash, created, last_used";

/// A row of [`COLUMNS`]; `None` for a user name the domain refuses (never written through
/// the store).
fn record(row: &Row<'_>) -> rusqlite::Result<Option<AppPasswordRecord>> {
    let Ok(user) = UserId::parse(&row.get::<_, String>(0)?) else {
        return Ok(None);
    };
    Ok(Some(AppPasswordRecord {
        user,
        id: row.get(1)?,
        name: row.get(2)?,
        secret_hash: row.get(3)?,
        fever_hash: row.get(4)?,
        created: from_millis(row.get(5)?),
        last_used: row.get::<_, Option<i64>>(6)?.map(from_millis),
    }))
}

/// The password whose `column` (a hash column, named by this file) holds `hash`.
fn by_hash(
    tx: &Transaction<'_>,
    column: &'static str,
    hash: &str,
) -> Result<Option<AppPasswordRecord>, StoreError> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM app_passwords WHERE {column} = ?1"
        ))?
        .query_row([hash], record)
        .optional()?
        .flatten())
}

#[async_trait]
impl AppPasswordStore for SqliteStore {
    async fn create_app_password(
        &self,
        password: &AppPasswordRecord,
        max_per_user: usize,
    ) -> Result<AppPasswordCreated, StoreError> {
        let password = password.clone();
        let max = i64::try_from(max_per_user).unwrap_or(i64::MAX);
        // One writer: the checks and the insert cannot interleave with another create.
        self.write(move |tx| {
            let taken: bool = tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM app_passwords \
                     WHERE (user_id = ?1 AND id = ?2) OR secret_hash = ?3 OR fever_hash = ?4)",
                )?
                .query_row(
                    params![
                        password.user.as_str(),
                        password.id,
                        password.secret_hash,
                        password.fever_hash
                    ],
                    |row| row.get(0),
                )?;
            if taken {
                return Ok(AppPasswordCreated::Taken);
            }
            let held: i64 = tx
                .prepare_cached("SELECT count(*) FROM app_passwords WHERE user_id = ?1")?
                .query_row([password.user.as_str()], |row| row.get(0))?;
            if held >= max {
                return Ok(AppPasswordCreated::TooMany);
            }
            tx.prepare_cached(&format!(
                "INSERT INTO app_passwords ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))?
            .execute(params![
                password.user.as_str(),
                password.id,
                password.name,
                password.secret_hash,
                password.fever_hash,
                millis(password.created),
                password.last_used.map(millis),
            ])?;
            Ok(AppPasswordCreated::Created)
        })
        .await
    }

    async fn app_passwords(&self, user: &UserId) -> Result<Vec<AppPasswordRecord>, StoreError> {
        let user = user.clone();
        self.read(move |tx| {
            let mut statement = tx.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM app_passwords WHERE user_id = ?1 \
                 ORDER BY created DESC, id DESC"
            ))?;
            let rows = statement
                .query_map([user.as_str()], record)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows.into_iter().flatten().collect())
        })
        .await
    }

    async fn revoke_app_password(&self, user: &UserId, id: &str) -> Result<bool, StoreError> {
        let (user, id) = (user.clone(), id.to_owned());
        // One transaction: no app keeps a session of a password that is gone.
        self.write(move |tx| {
            let removed = tx
                .prepare_cached("DELETE FROM app_passwords WHERE user_id = ?1 AND id = ?2")?
                .execute([user.as_str(), id.as_str()])?;
            tx.prepare_cached("DELETE FROM sessions WHERE user_id = ?1 AND app_password = ?2")?
                .execute([user.as_str(), id.as_str()])?;
            Ok(removed > 0)
        })
        .await
    }

    async fn app_password_by_secret(
        &self,
        secret_hash: &str,
    ) -> Result<Option<AppPasswordRecord>, StoreError> {
        let hash = secret_hash.to_owned();
        self.read(move |tx| by_hash(tx, "secret_hash", &hash)).await
    }

    async fn app_password_by_fever(
        &self,
        fever_hash: &str,
    ) -> Result<Option<AppPasswordRecord>, StoreError> {
        let hash = fever_hash.to_owned();
        self.read(move |tx| by_hash(tx, "fever_hash", &hash)).await
    }

    async fn touch_app_password(
        &self,
        user: &UserId,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (user, id) = (user.clone(), id.to_owned());
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE app_passwords SET last_used = ?1 WHERE user_id = ?2 AND id = ?3",
            )?
            .execute(params![millis(at), user.as_str(), id])?;
            Ok(())
        })
        .await
    }
}
