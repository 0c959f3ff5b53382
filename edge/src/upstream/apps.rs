//! The calls sync apps make through the Google Reader and Fever APIs, in their own commands
//! (`AppRead`, `AppWrite`) so a phone's full sync can't trip or starve the reader's pages.
//!
//! None has a stale fallback: an app that got an old item list would mark the wrong items
//! read, so a failure goes back to the app as an error it retries. Writes still expire the
//! user's cached feed list, so the reader's pages show an app's marks at once.

use middletier_api::{
    AppCounts, AppItems, AppItemsQuery, AppPassword, AppPasswordOwner, CategoryChange,
    CategoryChanged, CategoryRename, ItemNumbers, MarkRead, MarkedRead, NewAppPassword,
    NumbersStateChange, NumbersStateChanged, SubscriptionChange, TitleChange,
};

use super::retries::Idempotence::{Idempotent, NotIdempotent};
use super::{Upstream, UpstreamError};

/// Reads: item lists and counts (`AppRead`).
impl Upstream {
    pub async fn app_items(
        &self,
        user: &str,
        query: &AppItemsQuery,
    ) -> Result<AppItems, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.app_items(&base, user, query).await
        });
        self.without_fallback(&self.app_read, call).await
    }

    pub async fn app_items_by_number(
        &self,
        user: &str,
        numbers: &ItemNumbers,
    ) -> Result<AppItems, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.app_items_by_number(&base, user, numbers).await
        });
        self.without_fallback(&self.app_read, call).await
    }

    pub async fn app_counts(&self, user: &str) -> Result<AppCounts, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.app_counts(&base, user).await
        });
        self.without_fallback(&self.app_read, call).await
    }

    pub async fn app_passwords(&self, user: &str) -> Result<Vec<AppPassword>, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.app_passwords(&base, user).await
        });
        self.without_fallback(&self.app_read, call).await
    }

    /// Whose app password has this SHA-256; `None`: nobody's. Through the session command:
    /// it is what signing an app in costs, as a session look-up is for a page.
    pub async fn app_password_by_secret(
        &self,
        secret_hash: &str,
    ) -> Result<Option<AppPasswordOwner>, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.app_password_by_secret(&base, secret_hash).await
        });
        self.without_fallback(&self.session, call).await
    }

    /// Whose app password has this Fever key hash; `None`: nobody's.
    pub async fn app_password_by_fever(
        &self,
        fever_hash: &str,
    ) -> Result<Option<AppPasswordOwner>, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.app_password_by_fever(&base, fever_hash).await
        });
        self.without_fallback(&self.session, call).await
    }
}

/// Writes (`AppWrite`). All idempotent, so retried like reads, except creating a password.
impl Upstream {
    pub async fn set_numbers_state(
        &self,
        user: &str,
        change: &NumbersStateChange,
    ) -> Result<NumbersStateChanged, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.set_numbers_state(&base, user, change).await
        });
        self.write(&self.app_write, user, call).await
    }

    /// "Mark all as read" from an app (with its own `up_to`).
    pub async fn app_mark_read(
        &self,
        user: &str,
        mark: &MarkRead,
    ) -> Result<MarkedRead, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.mark_read(&base, user, mark).await
        });
        self.write(&self.app_write, user, call).await
    }

    pub async fn app_subscribe(
        &self,
        user: &str,
        url: &str,
    ) -> Result<SubscriptionChange, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.subscribe(&base, user, url).await
        });
        self.write(&self.app_write, user, call).await
    }

    pub async fn app_unsubscribe(
        &self,
        user: &str,
        url: &str,
    ) -> Result<SubscriptionChange, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.unsubscribe(&base, user, url).await
        });
        self.write(&self.app_write, user, call).await
    }

    pub async fn set_title(&self, user: &str, change: &TitleChange) -> Result<(), UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.set_title(&base, user, change).await
        });
        self.write(&self.app_write, user, call).await
    }

    /// Files a subscription under a category, or clears it, for an app (a Google Reader
    /// label added to or removed from a feed).
    pub async fn app_set_category(
        &self,
        user: &str,
        change: &CategoryChange,
    ) -> Result<(), UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.set_category(&base, user, change).await
        });
        self.write(&self.app_write, user, call).await
    }

    pub async fn rename_category(
        &self,
        user: &str,
        rename: &CategoryRename,
    ) -> Result<CategoryChanged, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.rename_category(&base, user, rename).await
        });
        self.write(&self.app_write, user, call).await
    }

    pub async fn delete_category(
        &self,
        user: &str,
        category: &str,
    ) -> Result<CategoryChanged, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.delete_category(&base, user, category).await
        });
        self.write(&self.app_write, user, call).await
    }

    /// Stores a new app password; `false` when the user has the most allowed already. Not
    /// retried after a timeout or 5xx: a first attempt that landed would make the retry
    /// report a conflict.
    pub async fn create_app_password(
        &self,
        user: &str,
        password: &NewAppPassword,
    ) -> Result<bool, UpstreamError> {
        let call = self.retries.run(NotIdempotent, |base| async move {
            self.client.create_app_password(&base, user, password).await
        });
        self.without_fallback(&self.app_write, call).await
    }

    /// Revokes an app password and ends the app sessions issued for it (idempotent).
    pub async fn revoke_app_password(&self, user: &str, id: &str) -> Result<(), UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.revoke_app_password(&base, user, id).await
        });
        self.without_fallback(&self.app_write, call).await
    }
}
