//! The edge's last good answers from the middle tier, bounded per user.
//!
//! - [`ReadCache`]: the user's feed list (the "Manage feeds" page). Within `fresh_for` it is
//!   served as it is, without a call (Hystrix's request cache, reported as
//!   `ResponsesFromCache`); after that it is the stale fallback. While one request refreshes
//!   an expired entry, the others keep getting the cached answer instead of all calling at
//!   once. A write through this edge expires the user's entry, so the writer sees the change
//!   at once; other edges see it within `fresh_for`.
//! - [`RiverCache`]: the last good river pages per user and query (up to
//!   [`RIVER_PAGES_PER_USER`]), never served while the middle tier answers (reading state
//!   changes with every click), only as the fallback when it does not.
//!
//! Both keep at most `max_users` users, and at most their byte budget (`max_bytes`,
//! `max_river_bytes`: answers are weighed by their approximate size, see
//! [`crate::cache_budget`]), in a `quick_cache` (sharded, S3-FIFO eviction in O(1)): past
//! that, the users read least are dropped first. Entries are `Arc`s, so a reader holds no lock
//! while it uses one; the only locks are per entry and never held across an `.await`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use quick_cache::Weighter;
use quick_cache::sync::{Cache, EntryAction, EntryResult};
use tokio::time::Instant;

use middletier_api::{Item, River, RiverQuery, UserFeeds};

use super::settings::ReadCacheSettings;
use crate::cache_budget::Budget;

/// The last good feed list per user: served within `fresh_for`, and (marked stale) as the
/// read fallback when the middle tier can't answer.
#[derive(Debug)]
pub(super) struct ReadCache {
    fresh_for: Duration,
    /// Bounds how long others wait on one refresh before refreshing themselves.
    refresh_grace: Duration,
    entries: Cache<String, Arc<Entry>, ByBytes>,
}

#[derive(Debug)]
struct Entry {
    stored: Instant,
    feeds: Arc<UserFeeds>,
    /// The feed list's approximate size, weighed once when stored.
    bytes: usize,
    /// What changes after storing: expiry on write, and a refresh in flight.
    state: Mutex<EntryState>,
}

#[derive(Debug)]
struct EntryState {
    fresh_until: Instant,
    /// A request is fetching a newer answer; the others keep using this one meanwhile.
    refreshing_since: Option<Instant>,
}

impl Entry {
    fn state(&self) -> MutexGuard<'_, EntryState> {
        // Two instants; a poisoned lock holds consistent enough values.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
pub(super) enum Lookup {
    Hit(Arc<UserFeeds>),
    /// Call the middle tier; dropping the guard ends this caller's refresh.
    Miss(RefreshGuard),
}

/// Ends a refresh however the call went, so a failed or abandoned one never blocks others.
#[derive(Debug)]
pub(super) struct RefreshGuard {
    /// The entry this caller is refreshing, if it marked one.
    refreshing: Option<Arc<Entry>>,
}

impl Drop for RefreshGuard {
    fn drop(&mut self) {
        if let Some(entry) = &self.refreshing {
            entry.state().refreshing_since = None;
        }
    }
}

impl ReadCache {
    pub(super) fn new(settings: &ReadCacheSettings, refresh_grace: Duration) -> Self {
        Self {
            fresh_for: settings.fresh_for,
            refresh_grace,
            entries: settings
                .feeds_budget()
                .cache(ByBytes(settings.feeds_budget())),
        }
    }

    pub(super) fn lookup(&self, user: &str) -> Lookup {
        let now = Instant::now();
        let Some(entry) = self.entries.get(user) else {
            return Lookup::Miss(RefreshGuard { refreshing: None });
        };
        {
            let mut state = entry.state();
            if now < state.fresh_until {
                return Lookup::Hit(entry.feeds.clone());
            }
            let refreshing = state
                .refreshing_since
                .is_some_and(|since| now.duration_since(since) < self.refresh_grace);
            if refreshing {
                return Lookup::Hit(entry.feeds.clone());
            }
            if self.fresh_for.is_zero() {
                // Every read asks the middle tier; nobody waits on anybody.
                return Lookup::Miss(RefreshGuard { refreshing: None });
            }
            state.refreshing_since = Some(now);
        }
        Lookup::Miss(RefreshGuard {
            refreshing: Some(entry),
        })
    }

    pub(super) fn put(&self, feeds: Arc<UserFeeds>) {
        let now = Instant::now();
        let entry = Entry {
            stored: now,
            bytes: feeds_bytes(&feeds),
            state: Mutex::new(EntryState {
                fresh_until: now + self.fresh_for,
                refreshing_since: None,
            }),
            feeds,
        };
        self.entries
            .insert(entry.feeds.user.clone(), Arc::new(entry));
    }

    /// The last good answer and its age, for the fallback.
    pub(super) fn stale(&self, user: &str) -> Option<(Duration, Arc<UserFeeds>)> {
        let entry = self.entries.get(user)?;
        Some((entry.stored.elapsed(), entry.feeds.clone()))
    }

    /// The user changed something: the next read asks the middle tier.
    pub(super) fn expire(&self, user: &str) {
        if let Some(entry) = self.entries.peek(user) {
            entry.state().fresh_until = Instant::now();
        }
    }
}

/// Pages of the river kept per user, for the stale fallback only.
pub(super) const RIVER_PAGES_PER_USER: usize = 8;

/// The last good river pages per user and query: never served while the middle tier answers,
/// only as the fallback when it does not.
#[derive(Debug)]
pub(super) struct RiverCache {
    users: Cache<String, Arc<UserPages>, ByBytes>,
}

/// One user's cached pages, replaced as a whole when a page is added, so its weight is
/// computed once and never changes while it is stored.
#[derive(Debug, Default)]
struct UserPages {
    pages: Vec<RiverPage>,
    bytes: usize,
}

/// One cached answer: the query, when it was answered, the page.
type RiverPage = (RiverQuery, Instant, Arc<River>);

impl UserPages {
    /// These pages with `river` as the answer to `query`, the oldest page left out when full.
    fn with(&self, query: &RiverQuery, river: Arc<River>) -> Self {
        let mut pages: Vec<RiverPage> = self
            .pages
            .iter()
            .filter(|page| &page.0 != query)
            .cloned()
            .collect();
        if pages.len() >= RIVER_PAGES_PER_USER {
            pages.remove(0);
        }
        pages.push((query.clone(), Instant::now(), river));
        let bytes = pages.iter().map(|page| river_bytes(&page.2)).sum();
        Self { pages, bytes }
    }
}

impl RiverCache {
    pub(super) fn new(budget: Budget) -> Self {
        Self {
            users: budget.cache(ByBytes(budget)),
        }
    }

    pub(super) fn put(&self, user: &str, query: &RiverQuery, river: Arc<River>) {
        // Replaced under the entry's shard lock, so concurrent pages for one user all land
        // (and the cache weighs the new value).
        let added = self.users.entry(user, None, |_, pages| {
            *pages = Arc::new(pages.with(query, river.clone()));
            EntryAction::Retain(())
        });
        if let EntryResult::Vacant(slot) = added {
            // Refused only if another page for this user was stored meanwhile: one page fewer
            // in a fallback cache.
            let _ = slot.insert(Arc::new(UserPages::default().with(query, river)));
        }
    }

    pub(super) fn stale(&self, user: &str, query: &RiverQuery) -> Option<(Duration, Arc<River>)> {
        let pages = self.users.get(user)?;
        pages
            .pages
            .iter()
            .find(|page| &page.0 == query)
            .map(|page| (page.1.elapsed(), page.2.clone()))
    }
}

/// Weighs the read caches' entries by the size of the answers they hold (computed once, when
/// stored) within their [`Budget`].
#[derive(Clone, Debug)]
struct ByBytes(Budget);

impl Weighter<String, Arc<Entry>> for ByBytes {
    fn weight(&self, user: &String, entry: &Arc<Entry>) -> u64 {
        self.0.weight(user.len() + entry.bytes)
    }
}

impl Weighter<String, Arc<UserPages>> for ByBytes {
    fn weight(&self, user: &String, pages: &Arc<UserPages>) -> u64 {
        self.0.weight(user.len() + pages.bytes)
    }
}

/// Bookkeeping per string, item or feed beyond its text (allocation headers, lengths, flags).
const OVERHEAD: usize = 64;

fn item_bytes(item: &Item) -> usize {
    OVERHEAD
        + item.id.len()
        + item.title.len()
        + item.link.as_ref().map_or(0, String::len)
        + item.description.len()
        + item.published.as_ref().map_or(0, String::len)
}

/// A feed list's approximate size in memory: its text plus a fixed overhead per part.
fn feeds_bytes(feeds: &UserFeeds) -> usize {
    let subscription = |s: &middletier_api::Subscription| {
        4 * OVERHEAD
            + s.url.len()
            + s.title.len()
            + s.error.as_ref().map_or(0, String::len)
            + s.category.as_ref().map_or(0, String::len)
            + s.items.iter().map(item_bytes).sum::<usize>()
    };
    OVERHEAD + feeds.user.len() + feeds.subscriptions.iter().map(subscription).sum::<usize>()
}

/// A river page's approximate size in memory, as [`feeds_bytes`].
fn river_bytes(river: &River) -> usize {
    let items: usize = river
        .items
        .iter()
        .map(|entry| {
            OVERHEAD + entry.feed_url.len() + entry.feed_title.len() + item_bytes(&entry.item)
        })
        .sum();
    let feeds: usize = river
        .feeds
        .iter()
        .map(|feed| {
            OVERHEAD
                + feed.url.len()
                + feed.title.len()
                + feed.category.as_ref().map_or(0, String::len)
                + feed.error.as_ref().map_or(0, String::len)
        })
        .sum();
    OVERHEAD + river.user.len() + river.next.as_ref().map_or(0, String::len) + items + feeds
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRESH_FOR: Duration = Duration::from_secs(1);
    const GRACE: Duration = Duration::from_secs(10);

    fn cache() -> ReadCache {
        let settings = ReadCacheSettings {
            fresh_for: FRESH_FOR,
            max_users: 100,
            ..ReadCacheSettings::default()
        };
        ReadCache::new(&settings, GRACE)
    }

    fn feeds(user: &str) -> Arc<UserFeeds> {
        Arc::new(UserFeeds {
            user: user.to_owned(),
            subscriptions: Vec::new(),
        })
    }

    fn is_hit(lookup: &Lookup) -> bool {
        matches!(lookup, Lookup::Hit(_))
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_is_served_without_a_call_while_fresh() {
        let cache = cache();
        assert!(!is_hit(&cache.lookup("alice")), "nothing cached yet");
        cache.put(feeds("alice"));
        assert!(is_hit(&cache.lookup("alice")));
        tokio::time::advance(FRESH_FOR).await;
        assert!(!is_hit(&cache.lookup("alice")), "expired after fresh_for");
    }

    #[tokio::test(start_paused = true)]
    async fn while_one_caller_refreshes_the_others_get_the_cached_answer() {
        let cache = cache();
        cache.put(feeds("alice"));
        tokio::time::advance(FRESH_FOR).await;
        let refresh = cache.lookup("alice");
        assert!(!is_hit(&refresh), "the first caller refreshes");
        for _ in 0..5 {
            assert!(is_hit(&cache.lookup("alice")), "the others don't call");
        }
        drop(refresh);
        assert!(
            !is_hit(&cache.lookup("alice")),
            "a refresh that ended without an answer lets the next caller try"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_refresh_stops_holding_others_back_after_the_grace() {
        let cache = cache();
        cache.put(feeds("alice"));
        tokio::time::advance(FRESH_FOR).await;
        let _stuck = cache.lookup("alice");
        tokio::time::advance(GRACE).await;
        assert!(!is_hit(&cache.lookup("alice")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_expires_the_entry_but_keeps_it_as_the_fallback() {
        let cache = cache();
        cache.put(feeds("alice"));
        tokio::time::advance(Duration::from_millis(300)).await;
        cache.expire("alice");
        assert!(!is_hit(&cache.lookup("alice")));
        let (age, stale) = cache.stale("alice").expect("kept as the fallback");
        assert_eq!(age, Duration::from_millis(300));
        assert_eq!(stale.user, "alice");
    }

    #[tokio::test(start_paused = true)]
    async fn with_fresh_for_zero_every_read_calls() {
        let settings = ReadCacheSettings {
            fresh_for: Duration::ZERO,
            max_users: 100,
            ..ReadCacheSettings::default()
        };
        let cache = ReadCache::new(&settings, GRACE);
        cache.put(feeds("alice"));
        let _first = cache.lookup("alice");
        assert!(!is_hit(&cache.lookup("alice")), "nobody waits on a refresh");
        assert!(cache.stale("alice").is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn the_number_of_users_is_bounded() {
        let settings = ReadCacheSettings {
            fresh_for: FRESH_FOR,
            max_users: 10,
            ..ReadCacheSettings::default()
        };
        let cache = ReadCache::new(&settings, GRACE);
        let rivers = RiverCache::new(settings.river_budget());
        for i in 0..1_000 {
            let user = format!("user-{i}");
            cache.put(feeds(&user));
            rivers.put(&user, &query(0), river());
        }
        let kept = |found: &dyn Fn(&str) -> bool| {
            (0..1_000).filter(|i| found(&format!("user-{i}"))).count()
        };
        let feeds_kept = kept(&|user| cache.stale(user).is_some());
        let rivers_kept = kept(&|user| rivers.stale(user, &query(0)).is_some());
        // quick_cache rounds its capacity up per shard; the bound is what matters.
        assert!((1..=20).contains(&feeds_kept), "{feeds_kept} users kept");
        assert!((1..=20).contains(&rivers_kept), "{rivers_kept} users kept");
    }

    /// A feed list of about `bytes` (one item with a description that long).
    fn large_feeds(user: &str, bytes: usize) -> Arc<UserFeeds> {
        let item = Item {
            id: "i".to_owned(),
            title: "t".to_owned(),
            link: None,
            description: "x".repeat(bytes),
            published: None,
            read: false,
            starred: false,
            author: None,
            enclosures: Vec::new(),
        };
        Arc::new(UserFeeds {
            user: user.to_owned(),
            subscriptions: vec![middletier_api::Subscription {
                url: "http://a.example/feed".to_owned(),
                title: "a".to_owned(),
                items: vec![item],
                error: None,
                status: middletier_api::FeedStatus::default(),
                category: None,
                unread: 1,
                icon: None,
            }],
        })
    }

    #[tokio::test(start_paused = true)]
    async fn large_answers_keep_the_caches_within_their_bytes() {
        let settings = ReadCacheSettings {
            max_users: 1_000,
            max_bytes: 4 * 1024 * 1024,
            max_river_bytes: 4 * 1024 * 1024,
            ..ReadCacheSettings::default()
        };
        let cache = ReadCache::new(&settings, GRACE);
        let rivers = RiverCache::new(settings.river_budget());
        let page = Arc::new(River {
            items: vec![
                middletier_api::RiverItem {
                    feed_url: "http://a.example/feed".to_owned(),
                    feed_title: "a".to_owned(),
                    number: None,
                    item: large_feeds("x", 64 * 1024).subscriptions[0].items[0].clone(),
                };
                4
            ],
            ..(*river()).clone()
        });
        for i in 0..200 {
            let user = format!("user-{i}");
            // Each feed list is about 256 KiB; each user's river pages about 256 KiB each.
            cache.put(large_feeds(&user, 256 * 1024));
            rivers.put(&user, &query(0), page.clone());
            rivers.put(&user, &query(1), page.clone());
        }
        let users = (0..200).map(|i| format!("user-{i}"));
        let feeds_held: usize = users
            .clone()
            .filter_map(|user| cache.stale(&user))
            .map(|(_, feeds)| feeds_bytes(&feeds))
            .sum();
        let river_held: usize = users
            .flat_map(|user| {
                [
                    rivers.stale(&user, &query(0)),
                    rivers.stale(&user, &query(1)),
                ]
            })
            .flatten()
            .map(|(_, river)| river_bytes(&river))
            .sum();
        assert!(
            feeds_held as u64 <= settings.max_bytes,
            "{feeds_held} bytes of feed lists"
        );
        assert!(
            river_held as u64 <= settings.max_river_bytes,
            "{river_held} bytes of pages"
        );
        assert!(
            feeds_held > 0 && river_held > 0,
            "large answers are still kept"
        );
    }

    fn query(page: u32) -> RiverQuery {
        RiverQuery {
            before: Some(format!("cursor-{page}")),
            ..RiverQuery::default()
        }
    }

    fn river() -> Arc<River> {
        Arc::new(River {
            user: "alice".to_owned(),
            items: Vec::new(),
            next: None,
            unread: 0,
            feeds: Vec::new(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn the_river_keeps_the_last_pages_per_user_with_their_age() {
        let rivers = RiverCache::new(ReadCacheSettings::default().river_budget());
        for page in 0..10 {
            rivers.put("alice", &query(page), river());
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert!(
            rivers.stale("alice", &query(0)).is_none(),
            "the oldest went"
        );
        assert!(rivers.stale("alice", &query(1)).is_none());
        let (age, _) = rivers.stale("alice", &query(2)).expect("kept");
        assert_eq!(age, Duration::from_secs(8));
        let kept = (0..10)
            .filter(|&page| rivers.stale("alice", &query(page)).is_some())
            .count();
        assert_eq!(kept, RIVER_PAGES_PER_USER);
        assert!(rivers.stale("bob", &query(2)).is_none(), "per user");
    }

    #[tokio::test(start_paused = true)]
    async fn the_same_query_answered_again_replaces_its_page() {
        let rivers = RiverCache::new(ReadCacheSettings::default().river_budget());
        rivers.put("alice", &query(0), river());
        tokio::time::advance(Duration::from_secs(5)).await;
        rivers.put("alice", &query(0), river());
        let (age, _) = rivers.stale("alice", &query(0)).expect("kept");
        assert_eq!(age, Duration::ZERO);
    }
}
