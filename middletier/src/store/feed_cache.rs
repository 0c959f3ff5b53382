//! The process feed cache, as a layer: `FeedCache` keeps decoded feeds in this process in
//! front of a store that would otherwise read and decode each one on every page view.
//!
//! Page views read up to 500 feeds' items. Rather than decoding 500 large partitions per page,
//! a decoded feed ([`CachedFeed`]) is used as is for [`FEED_CACHE_FRESH_FOR`], then
//! revalidated with a tiny read of its version (the stored `last_attempt`, which every refresh
//! changes) and read again only if it changed. A save or a move made through this process
//! replaces or drops the copy at once; another middle tier's refresh shows here within
//! [`FEED_CACHE_FRESH_FOR`].
//!
//! It wraps the stores that can answer that version read ([`FeedVersions`]): SQLite and
//! Cassandra.
//! The memory store is not wrapped: it already keeps every feed decoded and shared, so a copy
//! in front of it would save nothing and only make middle tiers that share one memory store
//! (in tests) see each other's refreshes late.
//!
//! A decoded feed is its stored state and its history's index (ids and times, no content:
//! [`CachedFeed`]), read together. The copies live in a bounded [`quick_cache`] cache,
//! weighed by history entries (a feed of 2,000 retained items weighs 2,000 times one of a
//! single item), which evicts the feeds read least.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use quick_cache::sync::{Cache, EntryAction};
use tokio::time::Instant;

use middletier_api::domain::{FeedUrl, UserId};

use middletier_api::Item;

use super::{
    AccountRecord, AccountStore, AppPasswordCreated, AppPasswordRecord, AppPasswordStore,
    CachedFeed, FeedReading, FeedState, FeedStore, HistoryEntry, HistoryStore, IconSource,
    IconStore, MarkChange, MarkTarget, ReadingStore, Scheduled, SearchHit, SearchQuery,
    SearchStore, SessionRecord, StoreError, StoredIcon, StoredItem, SubscriptionStore, UserReading,
};

/// How long a decoded feed is served from this process's cache before it is revalidated.
/// Saves through this process replace entries at once; another middle tier's refresh shows
/// here within this time.
pub const FEED_CACHE_FRESH_FOR: Duration = Duration::from_secs(5);

/// Most history entries kept decoded, over all feeds: a user of 500 feeds with 2,000
/// retained items each needs 1,000,000 for a page view to read no feed from the store. An entry
/// is an id and two times, about 150 bytes with its index, so this is a few hundred MB at most.
const FEED_CACHE_CAPACITY: u64 = 2_000_000;

/// Feeds the cache expects to hold, to size its table (an estimate, not a bound).
const FEED_CACHE_EXPECTED_FEEDS: usize = 5_000;

/// Weighs a decoded feed by its history entries (and one for its state).
#[derive(Clone, Debug)]
struct ByEntries;

impl quick_cache::Weighter<FeedUrl, Entry> for ByEntries {
    fn weight(&self, _url: &FeedUrl, entry: &Entry) -> u64 {
        entry.feed.history.len() as u64 + 1
    }
}

/// What [`FeedCache`] needs from the store it wraps: a read much smaller than a feed's state
/// that says whether a copy of it is still current (and the history it indexes).
#[async_trait]
pub trait FeedVersions: FeedStore + HistoryStore {
    /// The `last_attempt` of `url`'s stored state (`None` when there is none, or it has none).
    ///
    /// Retention and import change a feed's history without a refresh; until the version
    /// changes too, another middle tier's copy keeps listing removed items (its pages skip
    /// them, as their content is gone, but its unread counts include them) and misses imported
    /// ones. So a store shared by several middle tiers (Cassandra) answers the later of
    /// `last_attempt` and its history's last change; SQLite has one middle tier, whose own
    /// removals and imports go through this cache.
    async fn feed_version(&self, url: &FeedUrl) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// A store with the feeds page views read kept decoded in this process for a few seconds.
#[derive(Clone, Debug)]
pub struct FeedCache<S> {
    inner: S,
    feeds: Arc<Cache<FeedUrl, Entry, ByEntries>>,
}

/// A decoded feed in the process cache.
#[derive(Clone, Debug)]
struct Entry {
    feed: Arc<CachedFeed>,
    /// Its `last_attempt`: a different one in the store means it was refreshed since.
    version: Option<DateTime<Utc>>,
    /// When it was last known current.
    checked: Instant,
}

impl<S> FeedCache<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            feeds: Arc::new(Cache::with_weighter(
                FEED_CACHE_EXPECTED_FEEDS,
                FEED_CACHE_CAPACITY,
                ByEntries,
            )),
        }
    }

    /// Keeps `feed` as `url`'s copy, of store version `version`, current as of `checked`.
    fn keep(
        &self,
        url: &FeedUrl,
        feed: Arc<CachedFeed>,
        version: Option<DateTime<Utc>>,
        checked: Instant,
    ) {
        self.feeds.insert(
            url.clone(),
            Entry {
                feed,
                version,
                checked,
            },
        );
    }

    /// `feed`, revalidated at `now`, is fresh again, unless a save replaced it meanwhile.
    fn touch(&self, url: &FeedUrl, feed: &Arc<CachedFeed>, now: Instant) {
        let _ = self.feeds.entry(url, Some(Duration::ZERO), |_, entry| {
            if Arc::ptr_eq(&entry.feed, feed) {
                entry.checked = now;
            }
            EntryAction::Retain(())
        });
    }
}

impl<S: FeedVersions> FeedCache<S> {
    /// One feed for a page view at `now`: this process's copy while fresh, else revalidated,
    /// else read and decoded.
    async fn cached_feed(
        &self,
        url: &FeedUrl,
        now: Instant,
    ) -> Result<Option<Arc<CachedFeed>>, StoreError> {
        // The version the store answered, when it was asked: what the new copy is current as.
        let mut version = None;
        if let Some(entry) = self.feeds.get(url) {
            if now.duration_since(entry.checked) < FEED_CACHE_FRESH_FOR {
                return Ok(Some(entry.feed));
            }
            let stored = self.inner.feed_version(url).await?;
            if stored == entry.version {
                self.touch(url, &entry.feed, now);
                return Ok(Some(entry.feed));
            }
            version = Some(stored);
        }
        // Both at once: a feed is almost always read because it exists.
        let (states, history) = futures::try_join!(
            self.inner.feed_states(std::slice::from_ref(url)),
            self.inner.history(url),
        )?;
        match states.into_iter().next().flatten() {
            Some(state) => {
                let feed = Arc::new(CachedFeed::new(state, history));
                let version = version.unwrap_or(feed.state.last_attempt);
                self.keep(url, feed.clone(), version, now);
                Ok(Some(feed))
            }
            None => {
                self.feeds.remove(url);
                Ok(None)
            }
        }
    }
}

#[async_trait]
impl<S: FeedVersions> FeedStore for FeedCache<S> {
    async fn feed_states(&self, urls: &[FeedUrl]) -> Result<Vec<Option<FeedState>>, StoreError> {
        // The refresher's reads: always the stored state, never a copy.
        self.inner.feed_states(urls).await
    }

    async fn save_feed_state(&self, state: &FeedState) -> Result<(), StoreError> {
        self.inner.save_feed_state(state).await?;
        // This process serves the new state at once; others revalidate within seconds. A save
        // only adds the current items to the history (which `CachedFeed::new` indexes from the
        // state), so the copy's history index plus the new state is the stored history: no
        // read needed. Without a copy, the history is read once here rather than by a page view.
        let history = match self.feeds.get(&state.url) {
            Some(entry) => entry.feed.history.clone(),
            None => self.inner.history(&state.url).await?,
        };
        let feed = CachedFeed::new(state.clone(), history);
        let version = state.last_attempt;
        self.keep(&state.url, Arc::new(feed), version, Instant::now());
        Ok(())
    }

    async fn cached_feeds(
        &self,
        urls: &[FeedUrl],
    ) -> Result<Vec<Option<Arc<CachedFeed>>>, StoreError> {
        let now = Instant::now();
        // Each feed is its own small read when it needs one, all at once.
        let feeds = urls.iter().map(|url| self.cached_feed(url, now));
        futures::future::try_join_all(feeds).await
    }

    async fn scheduled_feeds(&self) -> Result<Vec<Scheduled>, StoreError> {
        self.inner.scheduled_feeds().await
    }

    async fn move_feed(&self, from: &FeedUrl, to: &FeedUrl) -> Result<(), StoreError> {
        self.inner.move_feed(from, to).await?;
        self.feeds.remove(from);
        Ok(())
    }
}

#[async_trait]
impl<S: SubscriptionStore> SubscriptionStore for FeedCache<S> {
    async fn subscriptions(&self, user: &UserId) -> Result<Vec<FeedUrl>, StoreError> {
        self.inner.subscriptions(user).await
    }

    async fn subscribe(
        &self,
        user: &UserId,
        url: &FeedUrl,
        max: usize,
    ) -> Result<bool, StoreError> {
        self.inner.subscribe(user, url, max).await
    }

    async fn unsubscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError> {
        self.inner.unsubscribe(user, url).await
    }
}

#[async_trait]
impl<S: ReadingStore> ReadingStore for FeedCache<S> {
    async fn reading(&self, user: &UserId) -> Result<Arc<UserReading>, StoreError> {
        self.inner.reading(user).await
    }

    async fn mark_item(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        item: &str,
        change: MarkChange,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.mark_item(user, feed, item, change, at).await
    }

    async fn mark_items(
        &self,
        user: &UserId,
        targets: &[MarkTarget],
        change: MarkChange,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.mark_items(user, targets, change, at).await
    }

    async fn mark_read_up_to(
        &self,
        user: &UserId,
        feeds: &[FeedUrl],
        up_to: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.mark_read_up_to(user, feeds, up_to, at).await
    }

    async fn set_category(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        category: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.inner.set_category(user, feed, category).await
    }

    async fn clear_reading(&self, user: &UserId, feed: &FeedUrl) -> Result<(), StoreError> {
        self.inner.clear_reading(user, feed).await
    }

    async fn set_title(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        title: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.inner.set_title(user, feed, title).await
    }
}

#[async_trait]
impl<S: AppPasswordStore> AppPasswordStore for FeedCache<S> {
    async fn create_app_password(
        &self,
        password: &AppPasswordRecord,
        max_per_user: usize,
    ) -> Result<AppPasswordCreated, StoreError> {
        self.inner.create_app_password(password, max_per_user).await
    }

    async fn app_passwords(&self, user: &UserId) -> Result<Vec<AppPasswordRecord>, StoreError> {
        self.inner.app_passwords(user).await
    }

    async fn revoke_app_password(&self, user: &UserId, id: &str) -> Result<bool, StoreError> {
        self.inner.revoke_app_password(user, id).await
    }

    async fn app_password_by_secret(
        &self,
        secret_hash: &str,
    ) -> Result<Option<AppPasswordRecord>, StoreError> {
        self.inner.app_password_by_secret(secret_hash).await
    }

    async fn app_password_by_fever(
        &self,
        fever_hash: &str,
    ) -> Result<Option<AppPasswordRecord>, StoreError> {
        self.inner.app_password_by_fever(fever_hash).await
    }

    async fn touch_app_password(
        &self,
        user: &UserId,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.touch_app_password(user, id, at).await
    }
}

#[async_trait]
impl<S: AccountStore> AccountStore for FeedCache<S> {
    async fn create_account(&self, account: &AccountRecord) -> Result<bool, StoreError> {
        self.inner.create_account(account).await
    }

    async fn account(&self, user: &UserId) -> Result<Option<AccountRecord>, StoreError> {
        self.inner.account(user).await
    }

    async fn set_password_hash(
        &self,
        user: &UserId,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        self.inner.set_password_hash(user, password_hash).await
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        self.inner.users().await
    }

    async fn delete_account(&self, user: &UserId) -> Result<bool, StoreError> {
        self.inner.delete_account(user).await
    }

    async fn preferences(&self, user: &UserId) -> Result<Option<String>, StoreError> {
        self.inner.preferences(user).await
    }

    async fn set_preferences(&self, user: &UserId, json: &str) -> Result<(), StoreError> {
        self.inner.set_preferences(user, json).await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        session: &SessionRecord,
        max_per_user: usize,
    ) -> Result<(), StoreError> {
        self.inner
            .create_session(token_hash, session, max_per_user)
            .await
    }

    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.session(token_hash, now).await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.inner.delete_session(token_hash).await
    }

    async fn delete_sessions_of(&self, user: &UserId) -> Result<usize, StoreError> {
        self.inner.delete_sessions_of(user).await
    }

    async fn delete_browser_sessions_of(&self, user: &UserId) -> Result<usize, StoreError> {
        self.inner.delete_browser_sessions_of(user).await
    }
}

#[async_trait]
impl<S: HistoryStore> HistoryStore for FeedCache<S> {
    async fn history(&self, url: &FeedUrl) -> Result<Vec<HistoryEntry>, StoreError> {
        self.inner.history(url).await
    }

    async fn history_items(
        &self,
        url: &FeedUrl,
        entries: &[HistoryEntry],
    ) -> Result<Vec<Option<Item>>, StoreError> {
        self.inner.history_items(url, entries).await
    }

    async fn insert_history(
        &self,
        url: &FeedUrl,
        items: &[StoredItem],
    ) -> Result<usize, StoreError> {
        let added = self.inner.insert_history(url, items).await?;
        // Read again, with the added items, at the next page view.
        self.feeds.remove(url);
        Ok(added)
    }

    async fn remove_history(&self, url: &FeedUrl, ids: &[String]) -> Result<usize, StoreError> {
        let removed = self.inner.remove_history(url, ids).await?;
        // This process stops listing them at once; another middle tier's copy lists them until
        // it is revalidated, and its pages skip them (their content is gone).
        self.feeds.remove(url);
        Ok(removed)
    }

    async fn subscribers(&self, url: &FeedUrl) -> Result<Vec<UserId>, StoreError> {
        self.inner.subscribers(url).await
    }

    async fn feed_reading(&self, user: &UserId, url: &FeedUrl) -> Result<FeedReading, StoreError> {
        self.inner.feed_reading(user, url).await
    }
}

#[async_trait]
impl<S: SearchStore> SearchStore for FeedCache<S> {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        self.inner.search(query).await
    }
}

/// Icons are read by hash, rarely (browsers cache them for a year): nothing to cache here.
#[async_trait]
impl<S: IconStore> IconStore for FeedCache<S> {
    async fn icon_source(&self, source: &str) -> Result<Option<IconSource>, StoreError> {
        self.inner.icon_source(source).await
    }

    async fn save_icon_source(
        &self,
        record: &IconSource,
        icon: Option<&StoredIcon>,
    ) -> Result<(), StoreError> {
        self.inner.save_icon_source(record, icon).await
    }

    async fn icon(&self, hash: &str) -> Result<Option<StoredIcon>, StoreError> {
        self.inner.icon(hash).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::store::MemoryStore;

    /// A feed store shared by two "middle tiers", counting the reads that reach it.
    #[derive(Debug, Default)]
    struct Counted {
        inner: MemoryStore,
        state_reads: AtomicUsize,
        version_reads: AtomicUsize,
    }

    impl Counted {
        fn reads(&self) -> (usize, usize) {
            (
                self.state_reads.load(Ordering::SeqCst),
                self.version_reads.load(Ordering::SeqCst),
            )
        }
    }

    #[async_trait]
    impl FeedStore for Arc<Counted> {
        async fn feed_states(
            &self,
            urls: &[FeedUrl],
        ) -> Result<Vec<Option<FeedState>>, StoreError> {
            self.state_reads.fetch_add(urls.len(), Ordering::SeqCst);
            self.inner.feed_states(urls).await
        }

        async fn save_feed_state(&self, state: &FeedState) -> Result<(), StoreError> {
            self.inner.save_feed_state(state).await
        }

        async fn cached_feeds(
            &self,
            urls: &[FeedUrl],
        ) -> Result<Vec<Option<Arc<CachedFeed>>>, StoreError> {
            self.inner.cached_feeds(urls).await
        }

        async fn scheduled_feeds(&self) -> Result<Vec<Scheduled>, StoreError> {
            self.inner.scheduled_feeds().await
        }

        async fn move_feed(&self, from: &FeedUrl, to: &FeedUrl) -> Result<(), StoreError> {
            self.inner.move_feed(from, to).await
        }
    }

    #[async_trait]
    impl FeedVersions for Arc<Counted> {
        async fn feed_version(&self, url: &FeedUrl) -> Result<Option<DateTime<Utc>>, StoreError> {
            self.version_reads.fetch_add(1, Ordering::SeqCst);
            let states = self.inner.feed_states(std::slice::from_ref(url)).await?;
            Ok(states
                .into_iter()
                .flatten()
                .next()
                .and_then(|s| s.last_attempt))
        }
    }

    #[async_trait]
    impl HistoryStore for Arc<Counted> {
        async fn history(&self, url: &FeedUrl) -> Result<Vec<HistoryEntry>, StoreError> {
            self.inner.history(url).await
        }

        async fn history_items(
            &self,
            url: &FeedUrl,
            entries: &[HistoryEntry],
        ) -> Result<Vec<Option<Item>>, StoreError> {
            self.inner.history_items(url, entries).await
        }

        async fn insert_history(
            &self,
            url: &FeedUrl,
            items: &[StoredItem],
        ) -> Result<usize, StoreError> {
            self.inner.insert_history(url, items).await
        }

        async fn remove_history(&self, url: &FeedUrl, ids: &[String]) -> Result<usize, StoreError> {
            self.inner.remove_history(url, ids).await
        }

        async fn subscribers(&self, url: &FeedUrl) -> Result<Vec<UserId>, StoreError> {
            self.inner.subscribers(url).await
        }

        async fn feed_reading(
            &self,
            user: &UserId,
            url: &FeedUrl,
        ) -> Result<FeedReading, StoreError> {
            self.inner.feed_reading(user, url).await
        }
    }

    fn url() -> FeedUrl {
        FeedUrl::parse("https://example.com/feed.xml").expect("url")
    }

    fn state(title: &str, attempt: i64) -> FeedState {
        let at = DateTime::from_timestamp(1_750_000_000 + attempt, 0).expect("time");
        FeedState {
            title: Some(title.to_owned()),
            last_attempt: Some(at),
            ..FeedState::new(url(), at)
        }
    }

    async fn title(cache: &FeedCache<Arc<Counted>>) -> Option<String> {
        let feeds = cache.cached_feeds(&[url()]).await.expect("read");
        feeds[0].as_ref().and_then(|feed| feed.state.title.clone())
    }

    #[tokio::test(start_paused = true)]
    async fn own_saves_show_at_once_and_fresh_copies_cost_no_read() {
        let store = Arc::new(Counted::default());
        let cache = FeedCache::new(store.clone());
        cache
            .save_feed_state(&state("First", 0))
            .await
            .expect("save");
        cache
            .save_feed_state(&state("Second", 60))
            .await
            .expect("save");
        assert_eq!(title(&cache).await.as_deref(), Some("Second"));
        assert_eq!(title(&cache).await.as_deref(), Some("Second"));
        assert_eq!(store.reads(), (0, 0), "served from this process");
    }

    #[tokio::test(start_paused = true)]
    async fn another_middle_tiers_refresh_shows_once_the_copy_is_revalidated() {
        let store = Arc::new(Counted::default());
        let here = FeedCache::new(store.clone());
        let there = FeedCache::new(store.clone());
        there
            .save_feed_state(&state("Before", 0))
            .await
            .expect("save");
        assert_eq!(title(&here).await.as_deref(), Some("Before"));
        assert_eq!(store.reads(), (1, 0), "the first read decodes");

        there
            .save_feed_state(&state("After", 60))
            .await
            .expect("save");
        assert_eq!(
            title(&here).await.as_deref(),
            Some("Before"),
            "a fresh copy is used as is"
        );
        tokio::time::advance(FEED_CACHE_FRESH_FOR).await;
        assert_eq!(title(&here).await.as_deref(), Some("After"));
        assert_eq!(store.reads(), (2, 1), "revalidated, changed, read again");

        tokio::time::advance(FEED_CACHE_FRESH_FOR).await;
        assert_eq!(title(&here).await.as_deref(), Some("After"));
        assert_eq!(
            store.reads(),
            (2, 2),
            "revalidated, unchanged: not read again"
        );
        assert_eq!(title(&here).await.as_deref(), Some("After"));
        assert_eq!(store.reads(), (2, 2), "and fresh again");
    }

    #[tokio::test(start_paused = true)]
    async fn history_removed_through_this_process_is_no_longer_listed() {
        let store = Arc::new(Counted::default());
        let cache = FeedCache::new(store.clone());
        let mut first = state("Feed", 0);
        first.items = vec![Item {
            id: "old".to_owned(),
            title: "Old".to_owned(),
            link: None,
            description: String::new(),
            published: None,
            read: false,
            starred: false,
            author: None,
            enclosures: Vec::new(),
        }];
        cache.save_feed_state(&first).await.expect("save");
        let mut second = state("Feed", 60);
        second.items.clear();
        cache.save_feed_state(&second).await.expect("save");
        let listed = |cache: &FeedCache<Arc<Counted>>| {
            let cache = cache.clone();
            async move {
                let feeds = cache.cached_feeds(&[url()]).await.expect("read");
                feeds[0].as_ref().is_some_and(|f| f.entry("old").is_some())
            }
        };
        assert!(listed(&cache).await, "the saved copy indexes the history");
        cache
            .remove_history(&url(), &["old".to_owned()])
            .await
            .expect("remove");
        assert!(!listed(&cache).await, "at once, not after revalidation");
    }

    #[tokio::test(start_paused = true)]
    async fn a_feed_moved_through_this_process_is_no_longer_served() {
        let store = Arc::new(Counted::default());
        let cache = FeedCache::new(store.clone());
        cache.save_feed_state(&state("Old", 0)).await.expect("save");
        let new = FeedUrl::parse("https://example.com/new.xml").expect("url");
        cache.move_feed(&url(), &new).await.expect("move");
        assert_eq!(title(&cache).await, None);
    }
}
