//! App passwords in memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use middletier_api::domain::UserId;

use super::MemoryStore;
use crate::store::{AppPasswordCreated, AppPasswordRecord, AppPasswordStore, StoreError};

#[async_trait]
impl AppPasswordStore for MemoryStore {
    async fn create_app_password(
        &self,
        password: &AppPasswordRecord,
        max_per_user: usize,
    ) -> Result<AppPasswordCreated, StoreError> {
        Ok(self.with(|inner| {
            let key = (password.user.clone(), password.id.clone());
            let taken = inner.app_passwords.contains_key(&key)
                || inner.app_passwords.values().any(|other| {
                    other.secret_hash == password.secret_hash
                        || other.fever_hash == password.fever_hash
                });
            if taken {
                return AppPasswordCreated::Taken;
            }
            let held = inner
                .app_passwords
                .keys()
                .filter(|(user, _)| *user == password.user)
                .count();
            if held >= max_per_user {
                return AppPasswordCreated::TooMany;
            }
            inner.app_passwords.insert(key, password.clone());
            AppPasswordCreated::Created
        }))
    }

    async fn app_passwords(&self, user: &UserId) -> Result<Vec<AppPasswordRecord>, StoreError> {
        let mut theirs: Vec<AppPasswordRecord> = self.with(|inner| {
            inner
                .app_passwords
                .values()
                .filter(|password| password.user == *user)
                .cloned()
                .collect()
        });
        theirs.sort_by(|a, b| (b.created, &b.id).cmp(&(a.created, &a.id)));
        Ok(theirs)
    }

    async fn revoke_app_password(&self, user: &UserId, id: &str) -> Result<bool, StoreError> {
        Ok(self.with(|inner| {
            let removed = inner
                .app_passwords
                .remove(&(user.clone(), id.to_owned()))
                .is_some();
            inner.sessions.retain(|_, session| {
                session.user != *user || session.app_password.as_deref() != Some(id)
            });
            removed
        }))
    }

    async fn app_password_by_secret(
        &self,
        secret_hash: &str,
    ) -> Result<Option<AppPasswordRecord>, StoreError> {
        Ok(self.with(|inner| {
            inner
                .app_passwords
                .values()
                .find(|password| password.secret_hash == secret_hash)
                .cloned()
        }))
    }

    async fn app_password_by_fever(
        &self,
        fever_hash: &str,
    ) -> Result<Option<AppPasswordRecord>, StoreError> {
        Ok(self.with(|inner| {
            inner
                .app_passwords
                .values()
                .find(|password| password.fever_hash == fever_hash)
                .cloned()
        }))
    }

    async fn touch_app_password(
        &self,
        user: &UserId,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|inner| {
            if let Some(password) = inner.app_passwords.get_mut(&(user.clone(), id.to_owned())) {
                password.last_used = Some(at);
            }
        });
        Ok(())
    }
}
