//! Where subscriptions and the feed cache live (the role Astyanax/Cassandra played in the
//! recipe).
//!
//! The service talks to one [`Store`] trait object, which is both a [`SubscriptionStore`]
//! (who reads what) and a [`FeedStore`] (the nearline feed cache: each feed's latest items,
//! status and schedule), with each feed's item history ([`HistoryStore`]: every item kept
//! until retention removes it) and search over it ([`SearchStore`]). Which implementation backs it is chosen by configuration
//! (`[store] kind`: `memory`, `sqlite` or `cassandra`). Every implementation must pass the same
//! conformance tests (`tests/it/store_conformance.rs`).
//!
//! It is also a [`ReadingStore`] (per-user read/starred marks, "read up to" watermarks,
//! categories and the user's own feed titles), an [`AccountStore`] (accounts and sessions) and
//! an [`AppPasswordStore`] (the passwords sync apps sign in with), and an [`IconStore`] (feed
//! icons, found by the refresher, served by hash).
//!
//! Cross-cutting concerns are layers that implement the same traits around a store, composed
//! once where the application builds its store (`Metered<FeedCache<CassandraStore>>`,
//! `Metered<FeedCache<SqliteStore>>` or `Metered<MemoryStore>`), so callers never repeat them
//! by hand.
//!
//! # Layout
//! - [`memory`](MemoryStore): maps in this process, lost on restart (tests, throwaway demos).
//! - [`sqlite`]: one SQLite file, durable, for a middle tier alone on one machine.
//! - [`cassandra`]: Apache Cassandra, one file per table family, for several middle tiers.
//! - [`FeedCache`] (`feed_cache`): decoded feeds kept in this process in front of a store that
//!   decodes on every read (SQLite, Cassandra), revalidated every few seconds.
//! - [`Metered`] (`metered`): every call timed and its failures counted (`rss_store_*`).
//! - [`words`]: what a word is for search, the tokenizer every store indexes with.

mod app_passwords;
pub mod cassandra;
mod feed_cache;
mod history;
mod icons;
mod memory;
mod metered;
pub mod sqlite;
pub mod words;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use app_passwords::{AppPasswordCreated, AppPasswordRecord, AppPasswordStore};
pub use cassandra::{CassandraSettings, CassandraStore};
pub use feed_cache::{FEED_CACHE_FRESH_FOR, FeedCache, FeedVersions};
pub use history::{
    HistoryEntry, HistoryStore, RELEVANCE_WINDOW, SearchHit, SearchOrder, SearchQuery, SearchStore,
    SearchTerms, StoredItem, number_of, number_second, rank_hits, sort_time,
};
pub use icons::{IconSource, IconStore, StoredIcon};
pub use memory::MemoryStore;
pub use metered::Metered;
pub use sqlite::{OpenError, SqliteStore};

use middletier_api::Item;
use middletier_api::domain::{FeedUrl, UserId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing database cannot be reached or answered with an error; retrying later may
    /// work. The message is for logs, not for users.
    #[error("subscription store unavailable: {0}")]
    Unavailable(String),
    /// The user already has the most subscriptions the middle tier allows (the cap it was
    /// given). The message is for users: it names the limit and the setting that raises it.
    #[error(
        "you have reached the limit of {0} subscriptions per user \
         (RSS_ACCOUNTS__MAX_SUBSCRIPTIONS_PER_USER on the middle tier); \
         unsubscribe from a feed first, or ask your administrator to raise the limit"
    )]
    TooManySubscriptions(usize),
    /// The user does not subscribe to the feed a change names.
    #[error("not subscribed to this feed")]
    NotSubscribed,
}

/// A user's subscriptions, in the order they were added.
#[async_trait]
pub trait SubscriptionStore: Send + Sync + std::fmt::Debug + 'static {
    async fn subscriptions(&self, user: &UserId) -> Result<Vec<FeedUrl>, StoreError>;

    /// Adds `url`; `Ok(false)` when the user was already subscribed, and
    /// [`StoreError::TooManySubscriptions`] when the user already has `max_per_user` (the
    /// middle tier's `accounts.max_subscriptions_per_user`, which bounds what every page view
    /// reads).
    async fn subscribe(
        &self,
        user: &UserId,
        url: &FeedUrl,
        max_per_user: usize,
    ) -> Result<bool, StoreError>;

    /// Removes `url`; `Ok(false)` when the user was not subscribed.
    async fn unsubscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError>;
}

/// What the refresher knows about one feed: its latest items and its status and schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedState {
    pub url: FeedUrl,
    pub title: Option<String>,
    pub items: Vec<Item>,
    /// Validators of the last successful fetch, for conditional GETs.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// HTTP status of the last attempt, when it got that far.
    pub http_status: Option<u16>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// Why the last attempt failed, for humans; `None` when it succeeded.
    pub last_error: Option<String>,
    pub consecutive_errors: u32,
    /// The publisher answered 410 Gone: not refreshed any more.
    pub gone: bool,
    pub next_refresh: DateTime<Utc>,
    /// When each current item (by id) was first fetched: "mark all as read up to T" covers
    /// only items that had arrived by T, and undated items sort by it.
    pub first_seen: HashMap<String, DateTime<Utc>>,
    /// SHA-256 (hex) of the feed's icon ([`IconStore`]), kept with the feed so page views show
    /// it without another read; `None`: none found (yet).
    pub icon: Option<String>,
    /// When the refresher last settled the feed's icon: it looks again only a week later
    /// (`icons::RECHECK_AFTER`), however often the feed changes or whatever its image and site
    /// links say, so a feed cannot make the middle tier fetch or store icons without bound.
    pub icon_checked: Option<DateTime<Utc>>,
}

impl FeedState {
    /// A feed never fetched yet: due at once.
    pub fn new(url: FeedUrl, now: DateTime<Utc>) -> Self {
        Self {
            url,
            title: None,
            items: Vec::new(),
            etag: None,
            last_modified: None,
            http_status: None,
            last_attempt: None,
            last_success: None,
            last_error: None,
            consecutive_errors: 0,
            gone: false,
            next_refresh: now,
            first_seen: HashMap::new(),
            icon: None,
            icon_checked: None,
        }
    }
}

/// A feed as page views use it: decoded once and shared (`Arc`), so a river page over 500
/// feeds copies and parses nothing.
///
/// It holds the whole retained history as an index ([`HistoryEntry`]: id and times, no
/// content), which is what the river merges, counts and filters over, and the content of the
/// current document only: a user may read 500 feeds of 2,000 retained items each, and keeping
/// their content here would cost gigabytes for what one page (50 items) shows. The content of
/// an older item on a page is read from the store ([`HistoryStore::history_items`]).
#[derive(Debug)]
pub struct CachedFeed {
    /// The feed's status and its current document.
    pub state: FeedState,
    /// Every retained item, newest first by `(time, id)` descending: the river's order.
    pub history: Vec<HistoryEntry>,
    /// Item id to its index in `history`.
    pub by_id: HashMap<String, u32>,
    /// Item id to its index in `state.items` (the items whose content is held here).
    pub current: HashMap<String, u32>,
    /// When each current item (by index in `state.items`) was first seen, Unix milliseconds.
    pub seen: Vec<i64>,
    /// Every history entry's first-seen time, ascending: how many items arrived after a "read
    /// up to" watermark is one binary search, not a walk of the whole history per page.
    pub seen_ascending: Vec<i64>,
    /// Positions in `history`, by first-seen time ascending: sync apps page in item-number
    /// order, whose high bits are the first-seen second.
    pub by_seen: Vec<u32>,
}

impl CachedFeed {
    /// The feed from its stored state and its history (in any order). Items of the current
    /// document the history does not list yet (another middle tier's save not read back yet)
    /// are indexed from the state, so the current document always shows.
    pub fn new(state: FeedState, mut history: Vec<HistoryEntry>) -> Self {
        let fallback = state
            .last_success
            .or(state.last_attempt)
            .unwrap_or_default();
        let known: HashMap<String, usize> = history
            .iter()
            .enumerate()
            .map(|(index, entry)| (entry.id.clone(), index))
            .collect();
        let mut seen = Vec::with_capacity(state.items.len());
        let mut current = HashMap::with_capacity(state.items.len());
        for (index, item) in state.items.iter().enumerate() {
            // The history's first-seen time is the kept one; a save never moves it.
            let first_seen = match known.get(&item.id) {
                Some(&at) => DateTime::from_timestamp_millis(history[at].seen),
                None => state.first_seen.get(&item.id).copied(),
            }
            .unwrap_or(fallback);
            // The current content decides the sort time (its date may have been corrected).
            let entry = HistoryEntry::of(item, first_seen);
            seen.push(entry.seen);
            current.insert(item.id.clone(), u32::try_from(index).unwrap_or(u32::MAX));
            match known.get(&item.id) {
                Some(&at) => history[at] = entry,
                None => history.push(entry),
            }
        }
        history.sort_by(|a, b| (b.time, &b.id).cmp(&(a.time, &a.id)));
        let by_id = history
            .iter()
            .enumerate()
            .map(|(index, entry)| (entry.id.clone(), u32::try_from(index).unwrap_or(u32::MAX)))
            .collect();
        let mut by_seen: Vec<u32> = (0..history.len())
            .map(|index| u32::try_from(index).unwrap_or(u32::MAX))
            .collect();
        by_seen.sort_by_key(|&index| history[index as usize].seen);
        let seen_ascending: Vec<i64> = by_seen
            .iter()
            .map(|&index| history[index as usize].seen)
            .collect();
        Self {
            state,
            history,
            by_id,
            current,
            seen,
            seen_ascending,
            by_seen,
        }
    }

    /// The history entry of item `id`, if the feed holds it.
    pub fn entry(&self, id: &str) -> Option<&HistoryEntry> {
        self.by_id
            .get(id)
            .and_then(|&index| self.history.get(index as usize))
    }

    /// How many items were first seen after `up_to` (Unix milliseconds).
    pub fn seen_after(&self, up_to: i64) -> usize {
        self.seen_ascending.len() - self.seen_ascending.partition_point(|&seen| seen <= up_to)
    }

    /// The content of item `id` if it is in the current document (else it is in the store).
    pub fn current_item(&self, id: &str) -> Option<&Item> {
        self.current
            .get(id)
            .and_then(|&index| self.state.items.get(index as usize))
    }
}

/// Reads and decodes `urls`' feeds (state and history index) from `store`, in the order of
/// `urls`: [`FeedStore::cached_feeds`] for stores that keep no decoded copies themselves
/// ([`FeedCache`] keeps them in front of those).
pub(crate) async fn read_cached_feeds<S: FeedStore + HistoryStore>(
    store: &S,
    urls: &[FeedUrl],
) -> Result<Vec<Option<Arc<CachedFeed>>>, StoreError> {
    let states = store.feed_states(urls).await?;
    let feeds = states.into_iter().map(|state| async move {
        let Some(state) = state else {
            return Ok(None);
        };
        let history = store.history(&state.url).await?;
        Ok(Some(Arc::new(CachedFeed::new(state, history))))
    });
    futures::future::try_join_all(feeds).await
}

/// One feed somebody subscribes to, as the scheduler sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduled {
    pub url: FeedUrl,
    /// `None` when the feed was never fetched (due now).
    pub next_refresh: Option<DateTime<Utc>>,
    pub gone: bool,
}

/// The feed cache: written by the refresher, read by page views.
#[async_trait]
pub trait FeedStore: Send + Sync + std::fmt::Debug + 'static {
    /// The cached state of each URL, in the same order (`None`: never fetched).
    async fn feed_states(&self, urls: &[FeedUrl]) -> Result<Vec<Option<FeedState>>, StoreError>;

    async fn save_feed_state(&self, state: &FeedState) -> Result<(), StoreError>;

    /// The cached feeds for page views, in the order of `urls` (`None`: never fetched), each
    /// with its history's index: shared, not copied. Stores may serve them from a short-lived
    /// process cache.
    async fn cached_feeds(
        &self,
        urls: &[FeedUrl],
    ) -> Result<Vec<Option<Arc<CachedFeed>>>, StoreError>;

    /// Every feed with at least one subscriber, with its schedule.
    async fn scheduled_feeds(&self) -> Result<Vec<Scheduled>, StoreError>;

    /// A permanent redirect: every subscriber of `from` now subscribes to `to` (keeping its
    /// place in their list), `from`'s history and the marks on it move to `to` (items `to`
    /// already holds are kept as they are), and `from`'s cached state is dropped.
    async fn move_feed(&self, from: &FeedUrl, to: &FeedUrl) -> Result<(), StoreError>;
}

/// One user's marks on one item. Each flag is written alone, so two changes at once (read on
/// one device, star on another) never undo each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ItemMark {
    /// Read or unread, and when that was set; `None`: never set on this item, the feed's
    /// watermark decides.
    pub read: Option<(bool, DateTime<Utc>)>,
    pub starred: bool,
}

/// "Everything in this feed that had arrived by `up_to` is read", set at `set_at`: mark-all-as
/// -read is one write per feed, however many items it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watermark {
    pub up_to: DateTime<Utc>,
    pub set_at: DateTime<Utc>,
}

impl Watermark {
    /// The watermark after marking read up to `up_to` at `at`: it never moves back, so an
    /// older page's mark-all-as-read cannot unread what a newer one covered.
    pub fn advanced(current: Option<Self>, up_to: DateTime<Utc>, at: DateTime<Utc>) -> Self {
        Self {
            up_to: current.map_or(up_to, |w| w.up_to.max(up_to)),
            set_at: at,
        }
    }
}

/// One user's reading state in one feed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedReading {
    pub watermark: Option<Watermark>,
    /// Item id to the user's mark.
    pub marks: HashMap<String, ItemMark>,
}

impl FeedReading {
    /// Whether the item (first fetched at `seen`, Unix ms) is read and starred.
    pub fn state_of(&self, id: &str, seen: i64) -> (bool, bool) {
        let covered = self
            .watermark
            .is_some_and(|w| seen <= w.up_to.timestamp_millis());
        let Some(mark) = self.marks.get(id) else {
            return (covered, false);
        };
        // The later of the item's own mark and the watermark wins.
        let read = match mark.read {
            None => covered,
            Some((read, at)) if self.watermark.is_none_or(|w| at > w.set_at) => read,
            Some((read, _)) => read || covered,
        };
        (read, mark.starred)
    }
}

/// A user's subscriptions with their categories, and reading state per feed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserReading {
    /// Subscribed feeds in the order added, with their category.
    pub subscriptions: Vec<(FeedUrl, Option<String>)>,
    /// Only feeds with any state are present.
    pub feeds: HashMap<FeedUrl, Arc<FeedReading>>,
    /// The user's own titles of subscribed feeds (renamed in an app or the reader); only feeds
    /// the user renamed are present.
    pub titles: HashMap<FeedUrl, String>,
}

impl UserReading {
    /// The title this user sees for `url`: their own if they set one, else the feed's, else
    /// its host while it has none (never fetched, or a feed without a title). Every answer
    /// that names a user's feed (their feed list, the river and its sidebar, search results,
    /// OPML export, what apps are told) takes it from here.
    pub fn feed_title(&self, url: &FeedUrl, feed: Option<&CachedFeed>) -> String {
        if let Some(title) = self.titles.get(url) {
            return title.clone();
        }
        feed.and_then(|feed| feed.state.title.clone())
            .unwrap_or_else(|| url.host_label())
    }
}

/// A change to one item's marks; `None` leaves that flag as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkChange {
    pub read: Option<bool>,
    pub starred: Option<bool>,
}

/// One item a bulk change names: its feed, its id and when it was first seen (Cassandra keeps
/// each mark in the month partition of its item's first-seen time, where retention finds it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkTarget {
    pub feed: FeedUrl,
    pub item: String,
    pub seen: DateTime<Utc>,
}

/// Per-user reading state and categories.
#[async_trait]
pub trait ReadingStore: Send + Sync + std::fmt::Debug + 'static {
    /// Everything a page view needs about the user, in one read per table.
    async fn reading(&self, user: &UserId) -> Result<Arc<UserReading>, StoreError>;

    /// Sets the user's mark on one item (merged with the existing one), as of `at`.
    /// [`StoreError::NotSubscribed`] unless the user subscribes to `feed`.
    async fn mark_item(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        item: &str,
        change: MarkChange,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Sets the user's mark on each of `targets` as [`mark_item`](Self::mark_item) would, all
    /// as of `at`, in as few writes as the store allows (sync apps mark a thousand items in
    /// one call). Targets in feeds the user does not subscribe to are skipped.
    async fn mark_items(
        &self,
        user: &UserId,
        targets: &[MarkTarget],
        change: MarkChange,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Marks everything in `feeds` that arrived by `up_to` read (one write per feed); a later
    /// watermark never moves back. Feeds the user does not subscribe to are skipped.
    async fn mark_read_up_to(
        &self,
        user: &UserId,
        feeds: &[FeedUrl],
        up_to: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Sets (`Some`) or clears the category of a subscription; `Ok(false)` if not subscribed.
    async fn set_category(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        category: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Forgets the user's reading state in `feed` (after unsubscribing).
    async fn clear_reading(&self, user: &UserId, feed: &FeedUrl) -> Result<(), StoreError>;

    /// Sets (`Some`) or clears the user's own title of a subscription, kept beside its
    /// category; `Ok(false)` if not subscribed.
    async fn set_title(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        title: Option<&str>,
    ) -> Result<bool, StoreError>;
}

/// A stored account. `password_hash` is the edge's PHC string, opaque here.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub user: UserId,
    pub password_hash: String,
    pub created: DateTime<Utc>,
}

impl std::fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRecord")
            .field("user", &self.user)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub user: UserId,
    pub expires: DateTime<Utc>,
    /// The app password (its id) a sync app signed in with; `None`: a browser session.
    /// Revoking the password ends the session.
    pub app_password: Option<String>,
}

/// Accounts and sessions, shared by every edge through the middle tier.
#[async_trait]
pub trait AccountStore: Send + Sync + std::fmt::Debug + 'static {
    /// Creates the account; `Ok(false)` (and nothing changed) when the name is taken.
    async fn create_account(&self, account: &AccountRecord) -> Result<bool, StoreError>;

    async fn account(&self, user: &UserId) -> Result<Option<AccountRecord>, StoreError>;

    /// Replaces the account's password hash (a PHC string the edge made); `Ok(false)` (and
    /// nothing written) when there is no such account, so a change can never create one.
    async fn set_password_hash(
        &self,
        user: &UserId,
        password_hash: &str,
    ) -> Result<bool, StoreError>;

    /// Deletes the account and everything that is the user's: sessions (apps' too), app
    /// passwords, preferences, subscriptions with their categories and titles, reading marks, stars and
    /// watermarks. Feeds and their items stay: other users may read them. `Ok(false)` when
    /// there was no account (whatever else of the user's was found is deleted all the same).
    /// The account goes last, so a deletion interrupted part way is finished by the next.
    async fn delete_account(&self, user: &UserId) -> Result<bool, StoreError>;

    /// The user's reading preferences as stored (JSON of `middletier_api::Preferences`, which
    /// the service parses); `None` when never set. Kept by user name, not on the account row:
    /// single-user mode's user has no account and keeps preferences all the same.
    async fn preferences(&self, user: &UserId) -> Result<Option<String>, StoreError>;

    /// Replaces the user's stored preferences (JSON the service checked).
    async fn set_preferences(&self, user: &UserId, json: &str) -> Result<(), StoreError>;

    /// Every user the store knows, sorted: those with an account and those who only have
    /// subscriptions or app passwords (single-user mode's user). A full scan of the accounts,
    /// subscriptions and app passwords tables, for offline tools (`middletier export`), never
    /// for a request.
    async fn users(&self) -> Result<Vec<UserId>, StoreError>;

    /// Stores a session under the hash of its token; it is gone after `expires`. The user
    /// keeps at most `max_per_user` sessions of each kind (browsers', and each app
    /// password's): the ones of its kind that would expire first (the oldest, as sessions of
    /// a kind share one lifetime) are ended to make room, so signing in again and again cannot
    /// grow the store without bound, and an app that signs in on every start never signs the
    /// user's browsers out.
    async fn create_session(
        &self,
        token_hash: &str,
        session: &SessionRecord,
        max_per_user: usize,
    ) -> Result<(), StoreError>;

    /// The session, unless unknown or expired at `now` (an expired one is deleted).
    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError>;

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;

    /// Ends every session of `user` ("sign out everywhere"); returns how many there were.
    async fn delete_sessions_of(&self, user: &UserId) -> Result<usize, StoreError>;

    /// Ends every browser session of `user` (those with no app password), as a password change
    /// does: apps' sessions stay, as they were opened with app passwords, which are separate
    /// credentials. Returns how many there were.
    async fn delete_browser_sessions_of(&self, user: &UserId) -> Result<usize, StoreError>;
}

/// Every part, as one trait object for the service.
pub trait Store:
    SubscriptionStore
    + FeedStore
    + HistoryStore
    + SearchStore
    + ReadingStore
    + AccountStore
    + AppPasswordStore
    + IconStore
{
}

impl<T> Store for T where
    T: SubscriptionStore
        + FeedStore
        + HistoryStore
        + SearchStore
        + ReadingStore
        + AccountStore
        + AppPasswordStore
        + IconStore
{
}
