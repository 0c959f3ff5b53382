//! `app_passwords_by_user`, `app_passwords_by_secret` and `app_passwords_by_fever`: a user's
//! app passwords in one partition (the truth), and one lookup partition per hash, claimed with
//! a lightweight transaction so no two passwords share a hash.
//!
//! A create claims the hashes before it writes the user's row, and a revoke deletes the user's
//! row before the hashes, so a lookup row can outlive its password (a crash between the steps)
//! but never the other way round; a lookup whose row is gone finds nothing, and a create
//! interrupted before its row leaves hashes that only that password (never retried with the
//! same random secret) would claim.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use middletier_api::domain::UserId;

use super::{CassandraStore, Connected, applied, query_failed, query_rows};
use crate::store::{AppPasswordCreated, AppPasswordRecord, AppPasswordStore, StoreError};

/// A row of `app_passwords_by_user`, in the order of `statements::APP_PASSWORD_COLUMNS`.
type Row = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

fn record(row: Row) -> Option<AppPasswordRecord> {
    let (user, id, name, secret_hash, fever_hash, created, last_used) = row;
    Some(AppPasswordRecord {
        user: UserId::parse(&user).ok()?,
        id,
        name: name?,
        secret_hash: secret_hash?,
        fever_hash: fever_hash?,
        created: created.unwrap_or_default(),
        last_used,
    })
}

async fn theirs(
    connected: &Connected,
    user: &UserId,
) -> Result<Vec<AppPasswordRecord>, StoreError> {
    let result = query_rows(
        &connected.session,
        &connected.select_app_passwords,
        (user.as_str(),),
    )
    .await?;
    let rows = result
        .rows::<Row>()
        .map_err(query_failed)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(query_failed)?;
    Ok(rows.into_iter().filter_map(record).collect())
}

async fn one(
    connected: &Connected,
    user: &str,
    id: &str,
) -> Result<Option<AppPasswordRecord>, StoreError> {
    let result = query_rows(
        &connected.session,
        &connected.select_app_password,
        (user, id),
    )
    .await?;
    Ok(result
        .maybe_first_row::<Row>()
        .map_err(query_failed)?
        .and_then(record))
}

/// The password a lookup row (`statement`, by `hash`) points to, if its row still exists and
/// still holds that hash (`matches`).
async fn by_lookup(
    connected: &Connected,
    statement: &scylla::statement::prepared::PreparedStatement,
    hash: &str,
    matches: impl Fn(&AppPasswordRecord) -> bool,
) -> Result<Option<AppPasswordRecord>, StoreError> {
    let result = query_rows(&connected.session, statement, (hash,)).await?;
    let row = result
        .maybe_first_row::<(Option<String>, Option<String>)>()
        .map_err(query_failed)?;
    let Some((Some(user), Some(id))) = row else {
        return Ok(None);
    };
    Ok(one(connected, &user, &id).await?.filter(matches))
}

/// Deletes the password's row, then its lookup rows (see the module documentation).
async fn remove(connected: &Connected, password: &AppPasswordRecord) -> Result<(), StoreError> {
    let session = &connected.session;
    session
        .execute_unpaged(
            &connected.delete_app_password,
            (password.user.as_str(), password.id.as_str()),
        )
        .await
        .map_err(query_failed)?;
    session
        .execute_unpaged(&connected.release_secret, (password.secret_hash.as_str(),))
        .await
        .map_err(query_failed)?;
    session
        .execute_unpaged(&connected.release_fever, (password.fever_hash.as_str(),))
        .await
        .map_err(query_failed)?;
    Ok(())
}

#[async_trait]
impl AppPasswordStore for CassandraStore {
    async fn create_app_password(
        &self,
        password: &AppPasswordRecord,
        max_per_user: usize,
    ) -> Result<AppPasswordCreated, StoreError> {
        let connected = self.connection()?;
        let user = password.user.as_str();
        let held = theirs(connected, &password.user).await?;
        if held.iter().any(|other| other.id == password.id) {
            return Ok(AppPasswordCreated::Taken);
        }
        if held.len() >= max_per_user {
            return Ok(AppPasswordCreated::TooMany);
        }
        let claim = |statement, hash: &str| {
            let values = (hash.to_owned(), user.to_owned(), password.id.clone());
            async move {
                let result = query_rows(&connected.session, statement, values).await?;
                Ok::<_, StoreError>(applied(&result))
            }
        };
        if !claim(&connected.claim_secret, &password.secret_hash).await? {
            return Ok(AppPasswordCreated::Taken);
        }
        let release = |statement, hash: String| async move {
            connected
                .session
                .execute_unpaged(statement, (hash,))
                .await
                .map(drop)
                .map_err(query_failed)
        };
        if !claim(&connected.claim_fever, &password.fever_hash).await? {
            release(&connected.release_secret, password.secret_hash.clone()).await?;
            return Ok(AppPasswordCreated::Taken);
        }
        let inserted = query_rows(
            &connected.session,
            &connected.insert_app_password,
            (
                user,
                password.id.as_str(),
                password.name.as_str(),
                password.secret_hash.as_str(),
                password.fever_hash.as_str(),
                password.created,
                password.last_used,
            ),
        )
        .await?;
        if !applied(&inserted) {
            release(&connected.release_secret, password.secret_hash.clone()).await?;
            release(&connected.release_fever, password.fever_hash.clone()).await?;
            return Ok(AppPasswordCreated::Taken);
        }
        // Two creates at once may both have seen room for one more: counted again, the one
        // past the cap is undone (both are, when both are past it; each may retry).
        if theirs(connected, &password.user).await?.len() > max_per_user {
            remove(connected, password).await?;
            return Ok(AppPasswordCreated::TooMany);
        }
        Ok(AppPasswordCreated::Created)
    }

    async fn app_passwords(&self, user: &UserId) -> Result<Vec<AppPasswordRecord>, StoreError> {
        let mut passwords = theirs(self.connection()?, user).await?;
        passwords.sort_by(|a, b| (b.created, &b.id).cmp(&(a.created, &a.id)));
        Ok(passwords)
    }

    async fn revoke_app_password(&self, user: &UserId, id: &str) -> Result<bool, StoreError> {
        let connected = self.connection()?;
        let password = one(connected, user.as_str(), id).await?;
        if let Some(password) = &password {
            remove(connected, password).await?;
        }
        // Also when the password was gone already: a revoke interrupted after its first step
        // is finished by the next.
        for (_, token_hash, app_password) in self.sessions_of(user).await? {
            if app_password.as_deref() == Some(id) {
                connected
                    .session
                    .execute_unpaged(&connected.delete_session, (token_hash,))
                    .await
                    .map_err(query_failed)?;
            }
        }
        Ok(password.is_some())
    }

    async fn app_password_by_secret(
        &self,
        secret_hash: &str,
    ) -> Result<Option<AppPasswordRecord>, StoreError> {
        let connected = self.connection()?;
        by_lookup(connected, &connected.select_by_secret, secret_hash, |p| {
            p.secret_hash == secret_hash
        })
        .await
    }

    async fn app_password_by_fever(
        &self,
        fever_hash: &str,
    ) -> Result<Option<AppPasswordRecord>, StoreError> {
        let connected = self.connection()?;
        by_lookup(connected, &connected.select_by_fever, fever_hash, |p| {
            p.fever_hash == fever_hash
        })
        .await
    }

    async fn touch_app_password(
        &self,
        user: &UserId,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let connected = self.connection()?;
        connected
            .session
            .execute_unpaged(&connected.touch_app_password, (at, user.as_str(), id))
            .await
            .map_err(query_failed)?;
        Ok(())
    }
}
