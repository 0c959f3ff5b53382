//! Metrics around every store call, as a layer: `Metered` implements the store traits by timing
//! the store it wraps.
//!
//! The application wraps whatever store it was given once, where it builds itself, so the
//! service and the refresher call `store.subscribe(..)` and every call they make is counted;
//! none can be forgotten. Calls a store makes to itself (Cassandra's `subscribe` reads the
//! subscriptions first) and calls a layer below makes (the feed cache revalidating) are not
//! separate operations: each number is one call the middle tier made.
//!
//! Metrics: `rss_store_duration_seconds{op, outcome}` (`op` is the trait method's name,
//! `outcome` `ok` or `error`) and `rss_store_errors_total{op}`, whichever store is configured.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::metrics::{Metrics, OperationMetrics};

use middletier_api::domain::{FeedUrl, UserId};

use middletier_api::Item;

use super::{
    AccountRecord, AccountStore, AppPasswordCreated, AppPasswordRecord, AppPasswordStore,
    CachedFeed, FeedReading, FeedState, FeedStore, HistoryEntry, HistoryStore, IconSource,
    IconStore, MarkChange, MarkTarget, ReadingStore, Scheduled, SearchHit, SearchQuery,
    SearchStore, SessionRecord, StoreError, StoredIcon, StoredItem, SubscriptionStore, UserReading,
};

/// A store whose every call is timed and, when it fails, counted.
///
/// The numbers belong to this wrapper, not to the process: middle tiers sharing one store in
/// a test each report their own calls.
#[derive(Debug)]
pub struct Metered<S: ?Sized> {
    inner: Arc<S>,
    metrics: OperationMetrics,
}

impl<S: ?Sized> Metered<S> {
    pub fn new(inner: Arc<S>) -> Self {
        Self {
            inner,
            metrics: OperationMetrics::default(),
        }
    }

    /// Adds `rss_store_duration_seconds` and `rss_store_errors_total` to a service's registry.
    pub fn register_metrics(&self, metrics: &Metrics) {
        self.metrics
            .register(metrics, "store", "subscription store calls");
    }

    async fn observe<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.metrics.observe(op, call).await
    }
}

#[async_trait]
impl<S: SubscriptionStore + ?Sized> SubscriptionStore for Metered<S> {
    async fn subscriptions(&self, user: &UserId) -> Result<Vec<FeedUrl>, StoreError> {
        self.observe("subscriptions", self.inner.subscriptions(user))
            .await
    }

    async fn subscribe(
        &self,
        user: &UserId,
        url: &FeedUrl,
        max: usize,
    ) -> Result<bool, StoreError> {
        self.observe("subscribe", self.inner.subscribe(user, url, max))
            .await
    }

    async fn unsubscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError> {
        self.observe("unsubscribe", self.inner.unsubscribe(user, url))
            .await
    }
}

#[async_trait]
impl<S: FeedStore + ?Sized> FeedStore for Metered<S> {
    async fn feed_states(&self, urls: &[FeedUrl]) -> Result<Vec<Option<FeedState>>, StoreError> {
        self.observe("feed_states", self.inner.feed_states(urls))
            .await
    }

    async fn save_feed_state(&self, state: &FeedState) -> Result<(), StoreError> {
        self.observe("save_feed_state", self.inner.save_feed_state(state))
            .await
    }

    async fn cached_feeds(
        &self,
        urls: &[FeedUrl],
    ) -> Result<Vec<Option<Arc<CachedFeed>>>, StoreError> {
        self.observe("cached_feeds", self.inner.cached_feeds(urls))
            .await
    }

    async fn scheduled_feeds(&self) -> Result<Vec<Scheduled>, StoreError> {
        self.observe("scheduled_feeds", self.inner.scheduled_feeds())
            .await
    }

    async fn move_feed(&self, from: &FeedUrl, to: &FeedUrl) -> Result<(), StoreError> {
        self.observe("move_feed", self.inner.move_feed(from, to))
            .await
    }
}

#[async_trait]
impl<S: ReadingStore + ?Sized> ReadingStore for Metered<S> {
    async fn reading(&self, user: &UserId) -> Result<Arc<UserReading>, StoreError> {
        self.observe("reading", self.inner.reading(user)).await
    }

    async fn mark_item(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        item: &str,
        change: MarkChange,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observe(
            "mark_item",
            self.inner.mark_item(user, feed, item, change, at),
        )
        .await
    }

    async fn mark_items(
        &self,
        user: &UserId,
        targets: &[MarkTarget],
        change: MarkChange,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observe(
            "mark_items",
            self.inner.mark_items(user, targets, change, at),
        )
        .await
    }

    async fn mark_read_up_to(
        &self,
        user: &UserId,
        feeds: &[FeedUrl],
        up_to: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observe(
            "mark_read_up_to",
            self.inner.mark_read_up_to(user, feeds, up_to, at),
        )
        .await
    }

    async fn set_category(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        category: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.observe(
            "set_category",
            self.inner.set_category(user, feed, category),
        )
        .await
    }

    async fn clear_reading(&self, user: &UserId, feed: &FeedUrl) -> Result<(), StoreError> {
        self.observe("clear_reading", self.inner.clear_reading(user, feed))
            .await
    }

    async fn set_title(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        title: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.observe("set_title", self.inner.set_title(user, feed, title))
            .await
    }
}

#[async_trait]
impl<S: AppPasswordStore + ?Sized> AppPasswordStore for Metered<S> {
    async fn create_app_password(
        &self,
        password: &AppPasswordRecord,
        max_per_user: usize,
    ) -> Result<AppPasswordCreated, StoreError> {
        self.observe(
            "create_app_password",
            self.inner.create_app_password(password, max_per_user),
        )
        .await
    }

    async fn app_passwords(&self, user: &UserId) -> Result<Vec<AppPasswordRecord>, StoreError> {
        self.observe("app_passwords", self.inner.app_passwords(user))
            .await
    }

    async fn revoke_app_password(&self, user: &UserId, id: &str) -> Result<bool, StoreError> {
        self.observe(
            "revoke_app_password",
            self.inner.revoke_app_password(user, id),
        )
        .await
    }

    async fn app_password_by_secret(
        &self,
        secret_hash: &str,
    ) -> Result<Option<AppPasswordRecord>, StoreError> {
        self.observe(
            "app_password_by_secret",
            self.inner.app_password_by_secret(secret_hash),
        )
        .await
    }

    async fn app_password_by_fever(
        &self,
        fever_hash: &str,
    ) -> Result<Option<AppPasswordRecord>, StoreError> {
        self.observe(
            "app_password_by_fever",
            self.inner.app_password_by_fever(fever_hash),
        )
        .await
    }

    async fn touch_app_password(
        &self,
        user: &UserId,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observe(
            "touch_app_password",
            self.inner.touch_app_password(user, id, at),
        )
        .await
    }
}

#[async_trait]
impl<S: AccountStore + ?Sized> AccountStore for Metered<S> {
    async fn create_account(&self, account: &AccountRecord) -> Result<bool, StoreError> {
        self.observe("create_account", self.inner.create_account(account))
            .await
    }

    async fn account(&self, user: &UserId) -> Result<Option<AccountRecord>, StoreError> {
        self.observe("account", self.inner.account(user)).await
    }

    async fn set_password_hash(
        &self,
        user: &UserId,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        self.observe(
            "set_password_hash",
            self.inner.set_password_hash(user, password_hash),
        )
        .await
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        self.observe("users", self.inner.users()).await
    }

    async fn delete_account(&self, user: &UserId) -> Result<bool, StoreError> {
        self.observe("delete_account", self.inner.delete_account(user))
            .await
    }

    async fn preferences(&self, user: &UserId) -> Result<Option<String>, StoreError> {
        self.observe("preferences", self.inner.preferences(user))
            .await
    }

    async fn set_preferences(&self, user: &UserId, json: &str) -> Result<(), StoreError> {
        self.observe("set_preferences", self.inner.set_preferences(user, json))
            .await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        session: &SessionRecord,
        max_per_user: usize,
    ) -> Result<(), StoreError> {
        self.observe(
            "create_session",
            self.inner.create_session(token_hash, session, max_per_user),
        )
        .await
    }

    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.observe("session", self.inner.session(token_hash, now))
            .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.observe("delete_session", self.inner.delete_session(token_hash))
            .await
    }

    async fn delete_sessions_of(&self, user: &UserId) -> Result<usize, StoreError> {
        self.observe("delete_sessions_of", self.inner.delete_sessions_of(user))
            .await
    }

    async fn delete_browser_sessions_of(&self, user: &UserId) -> Result<usize, StoreError> {
        self.observe(
            "delete_browser_sessions_of",
            self.inner.delete_browser_sessions_of(user),
        )
        .await
    }
}

#[async_trait]
impl<S: HistoryStore + ?Sized> HistoryStore for Metered<S> {
    async fn history(&self, url: &FeedUrl) -> Result<Vec<HistoryEntry>, StoreError> {
        self.observe("history", self.inner.history(url)).await
    }

    async fn history_items(
        &self,
        url: &FeedUrl,
        entries: &[HistoryEntry],
    ) -> Result<Vec<Option<Item>>, StoreError> {
        self.observe("history_items", self.inner.history_items(url, entries))
            .await
    }

    async fn insert_history(
        &self,
        url: &FeedUrl,
        items: &[StoredItem],
    ) -> Result<usize, StoreError> {
        self.observe("insert_history", self.inner.insert_history(url, items))
            .await
    }

    async fn remove_history(&self, url: &FeedUrl, ids: &[String]) -> Result<usize, StoreError> {
        self.observe("remove_history", self.inner.remove_history(url, ids))
            .await
    }

    async fn subscribers(&self, url: &FeedUrl) -> Result<Vec<UserId>, StoreError> {
        self.observe("subscribers", self.inner.subscribers(url))
            .await
    }

    async fn feed_reading(&self, user: &UserId, url: &FeedUrl) -> Result<FeedReading, StoreError> {
        self.observe("feed_reading", self.inner.feed_reading(user, url))
            .await
    }
}

#[async_trait]
impl<S: SearchStore + ?Sized> SearchStore for Metered<S> {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        self.observe("search", self.inner.search(query)).await
    }
}

#[async_trait]
impl<S: IconStore + ?Sized> IconStore for Metered<S> {
    async fn icon_source(&self, source: &str) -> Result<Option<IconSource>, StoreError> {
        self.observe("icon_source", self.inner.icon_source(source))
            .await
    }

    async fn save_icon_source(
        &self,
        record: &IconSource,
        icon: Option<&StoredIcon>,
    ) -> Result<(), StoreError> {
        self.observe(
            "save_icon_source",
            self.inner.save_icon_source(record, icon),
        )
        .await
    }

    async fn icon(&self, hash: &str) -> Result<Option<StoredIcon>, StoreError> {
        self.observe("icon", self.inner.icon(hash)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, Store};

    #[tokio::test]
    async fn every_call_is_counted_under_its_method_name_and_failures_as_errors() {
        let store = Metered::new(Arc::new(MemoryStore::new()) as Arc<dyn Store>);
        let metrics = Metrics::new("middletier");
        store.register_metrics(&metrics);
        let ann = UserId::parse("ann").expect("user");
        let feed = FeedUrl::parse("https://example.com/feed.xml").expect("url");

        store.subscribe(&ann, &feed, 500).await.expect("subscribe");
        let refused = store
            .mark_item(
                &ann,
                &FeedUrl::parse("https://example.com/other.xml").expect("url"),
                "item",
                MarkChange {
                    read: Some(true),
                    starred: None,
                },
                Utc::now(),
            )
            .await;
        assert!(matches!(refused, Err(StoreError::NotSubscribed)));
        store.scheduled_feeds().await.expect("schedule");

        let text = metrics.encode();
        for sample in [
            r#"rss_store_duration_seconds_count{op="subscribe",outcome="ok"} 1"#,
            r#"rss_store_duration_seconds_count{op="mark_item",outcome="error"} 1"#,
            r#"rss_store_duration_seconds_count{op="scheduled_feeds",outcome="ok"} 1"#,
            r#"rss_store_errors_total{op="mark_item"} 1"#,
        ] {
            assert!(text.contains(sample), "{sample} in\n{text}");
        }
    }
}
