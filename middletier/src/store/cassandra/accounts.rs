//! `accounts` and `sessions`: accounts created once (a lightweight transaction), sessions
//! written with a TTL so Cassandra deletes them when they expire.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;

use middletier_api::domain::UserId;

use super::{CassandraStore, applied, query_failed, query_rows};
use crate::store::{
    AccountRecord, AccountStore, AppPasswordStore, SessionRecord, StoreError, SubscriptionStore,
};

#[async_trait]
impl AccountStore for CassandraStore {
    async fn create_account(&self, account: &AccountRecord) -> Result<bool, StoreError> {
        let connected = self.connection()?;
        let result = query_rows(
            &connected.session,
            &connected.insert_account,
            (
                account.user.as_str(),
                account.password_hash.as_str(),
                account.created,
            ),
        )
        .await?;
        let applied = result
            .single_row::<(bool, Option<String>, Option<DateTime<Utc>>, Option<String>)>()
            .map(|(applied, ..)| applied)
            .or_else(|_| result.single_row::<(bool,)>().map(|(applied,)| applied))
            .map_err(query_failed)?;
        Ok(applied)
    }

    async fn account(&self, user: &UserId) -> Result<Option<AccountRecord>, StoreError> {
        let connected = self.connection()?;
        let result = query_rows(
            &connected.session,
            &connected.select_account,
            (user.as_str(),),
        )
        .await?;
        let row = result
            .maybe_first_row::<(String, Option<String>, Option<DateTime<Utc>>)>()
            .map_err(query_failed)?;
        Ok(row.and_then(|(name, hash, created)| {
            Some(AccountRecord {
                user: UserId::parse(&name).ok()?,
                password_hash: hash?,
                created: created.unwrap_or_default(),
            })
        }))
    }

    async fn set_password_hash(
        &self,
        user: &UserId,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let connected = self.connection()?;
        // A lightweight transaction: an update of a name with no account would otherwise
        // create a row holding only a hash, an account nobody signed up for.
        let result = query_rows(
            &connected.session,
            &connected.update_password_hash,
            (password_hash, user.as_str()),
        )
        .await?;
        Ok(applied(&result))
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        let connected = self.connection()?;
        let mut names = std::collections::BTreeSet::new();
        // Full scans (a token-range walk, paged by the driver): fine for an offline tool, which
        // is the only caller; `DISTINCT` reads only partition keys.
        for cql in [
            "SELECT user_id FROM accounts",
            "SELECT DISTINCT user_id FROM subscriptions_by_user",
            "SELECT DISTINCT user_id FROM app_passwords_by_user",
        ] {
            let rows: Vec<(String,)> = connected
                .session
                .query_iter(cql, ())
                .await
                .map_err(query_failed)?
                .rows_stream::<(String,)>()
                .map_err(query_failed)?
                .try_collect()
                .await
                .map_err(query_failed)?;
            names.extend(rows.into_iter().map(|(name,)| name));
        }
        Ok(names.iter().filter_map(|n| UserId::parse(n).ok()).collect())
    }

    async fn create_session(
        &self,
        token_hash: &str,
        session: &SessionRecord,
        max_per_user: usize,
    ) -> Result<(), StoreError> {
        let connected = self.connection()?;
        // Cassandra deletes the row when the session expires (rounded up to whole seconds).
        let ttl = (session.expires - Utc::now()).num_seconds().max(0) + 1;
        let ttl = i32::try_from(ttl).unwrap_or(i32::MAX);
        connected
            .session
            .execute_unpaged(
                &connected.insert_session,
                (
                    token_hash,
                    session.user.as_str(),
                    session.expires,
                    session.app_password.as_deref(),
                    ttl,
                ),
            )
            .await
            .map_err(query_failed)?;
        let mut theirs = self.sessions_of(&session.user).await?;
        // Only sessions of its kind make room for it.
        theirs.retain(|(_, _, app_password)| *app_password == session.app_password);
        if theirs.len() > max_per_user {
            theirs.sort();
            let excess = theirs.len() - max_per_user;
            for (_, hash, _) in &theirs[..excess] {
                self.delete_session(hash).await?;
            }
        }
        Ok(())
    }

    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let connected = self.connection()?;
        let result =
            query_rows(&connected.session, &connected.select_session, (token_hash,)).await?;
        let row = result
            .maybe_first_row::<(Option<String>, Option<DateTime<Utc>>, Option<String>)>()
            .map_err(query_failed)?;
        let Some((Some(user), Some(expires), app_password)) = row else {
            return Ok(None);
        };
        if expires <= now {
            // The TTL removes it within a second; don't wait for that.
            self.delete_session(token_hash).await?;
            return Ok(None);
        }
        Ok(UserId::parse(&user).ok().map(|user| SessionRecord {
            user,
            expires,
            app_password,
        }))
    }

    async fn delete_sessions_of(&self, user: &UserId) -> Result<usize, StoreError> {
        let theirs = self.sessions_of(user).await?;
        for (_, hash, _) in &theirs {
            self.delete_session(hash).await?;
        }
        Ok(theirs.len())
    }

    async fn delete_account(&self, user: &UserId) -> Result<bool, StoreError> {
        let connected = self.connection()?;
        // Cassandra has no transaction over these tables: each step is idempotent and the
        // account goes last, so a deletion that fails part way is finished by the next try.
        self.delete_sessions_of(user).await?;
        for password in self.app_passwords(user).await? {
            self.revoke_app_password(user, &password.id).await?;
        }
        for url in self.subscriptions(user).await? {
            self.unsubscribe(user, &url).await?;
        }
        let months: Vec<(i32,)> = query_rows(
            &connected.session,
            &connected.select_mark_months,
            (user.as_str(),),
        )
        .await?
        .rows::<(i32,)>()
        .map_err(query_failed)?
        .collect::<Result<_, _>>()
        .map_err(query_failed)?;
        for (month,) in months {
            connected
                .session
                .query_unpaged(
                    "DELETE FROM item_marks_by_user_month WHERE user_id = ? AND month = ?",
                    (user.as_str(), month),
                )
                .await
                .map_err(query_failed)?;
        }
        let existed = self.account(user).await?.is_some();
        for cql in [
            "DELETE FROM mark_months_by_user WHERE user_id = ?",
            "DELETE FROM item_state_by_user WHERE user_id = ?",
            "DELETE FROM read_watermarks_by_user WHERE user_id = ?",
            "DELETE FROM preferences WHERE user_id = ?",
            "DELETE FROM accounts WHERE user_id = ?",
        ] {
            connected
                .session
                .query_unpaged(cql, (user.as_str(),))
                .await
                .map_err(query_failed)?;
        }
        Ok(existed)
    }

    async fn preferences(&self, user: &UserId) -> Result<Option<String>, StoreError> {
        let connected = self.connection()?;
        let result = query_rows(
            &connected.session,
            &connected.select_preferences,
            (user.as_str(),),
        )
        .await?;
        let row = result
            .maybe_first_row::<(Option<String>,)>()
            .map_err(query_failed)?;
        Ok(row.and_then(|(json,)| json))
    }

    async fn set_preferences(&self, user: &UserId, json: &str) -> Result<(), StoreError> {
        let connected = self.connection()?;
        connected
            .session
            .execute_unpaged(&connected.insert_preferences, (user.as_str(), json))
            .await
            .map_err(query_failed)?;
        Ok(())
    }

    async fn delete_browser_sessions_of(&self, user: &UserId) -> Result<usize, StoreError> {
        let mut theirs = self.sessions_of(user).await?;
        theirs.retain(|(_, _, app_password)| app_password.is_none());
        for (_, hash, _) in &theirs {
            self.delete_session(hash).await?;
        }
        Ok(theirs.len())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let connected = self.connection()?;
        connected
            .session
            .execute_unpaged(&connected.delete_session, (token_hash,))
            .await
            .map_err(query_failed)?;
        Ok(())
    }
}

impl CassandraStore {
    /// Every live session of `user`, as `(expires, token_hash, app_password)`: through the
    /// secondary index on `sessions.user_id`, which covers sessions created before it existed
    /// (a lookup table would not) and is only read on sign-in, "sign out everywhere" and
    /// revoking an app password, never per page. A user keeps at most
    /// `max_sessions_per_user` of them.
    pub(super) async fn sessions_of(
        &self,
        user: &UserId,
    ) -> Result<Vec<(DateTime<Utc>, String, Option<String>)>, StoreError> {
        let connected = self.connection()?;
        type Row = (String, Option<DateTime<Utc>>, Option<String>);
        let rows: Vec<Row> = connected
            .session
            .execute_iter(connected.select_user_sessions.clone(), (user.as_str(),))
            .await
            .map_err(query_failed)?
            .rows_stream::<Row>()
            .map_err(query_failed)?
            .try_collect()
            .await
            .map_err(query_failed)?;
        Ok(rows
            .into_iter()
            .map(|(hash, expires, app_password)| (expires.unwrap_or_default(), hash, app_password))
            .collect())
    }
}
