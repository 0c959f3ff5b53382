//! Nearline refresh: the background engine that keeps every subscribed feed fresh, so serving
//! (online) only reads precomputed results and a page view never waits on a publisher.
//!
//! Like Netflix's offline/nearline/online split, the work happens on events and on schedules:
//! - **on events**: a new subscription is fetched at once ([`Refresher::fetch_new`]);
//! - **on schedules**: every `scan_interval` each middle tier refreshes the feeds that are due
//!   and that it owns ([`Refresher::run_once`]), and stores the parsed result, its status and
//!   its next refresh time in the feed cache.
//!
//! **Who refreshes what.** With several middle tiers, each feed is refreshed by exactly one live
//! instance, chosen by rendezvous (highest-random-weight) hashing of the feed URL over the live
//! middle tiers the registry lists. No instance coordinates with another: they all compute the
//! same owner from the same list. When an instance dies, the registry drops it and its feeds
//! move to the others at their next scan; when one joins, it takes over about `1/n` of them.
//!
//! **When.** See [`next_refresh`]: the default interval, or what the publisher asks for
//! (`Cache-Control: max-age`, `Expires`, RSS `<ttl>`) within `[min_interval, max_interval]`;
//! exponential backoff after errors, at least what `Retry-After` asks on 429/503; never again
//! after 410 Gone. A permanent redirect moves every subscription to the new URL.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use middletier_api::domain::FeedUrl;
use platform::config::Dynamic;
use platform::lifecycle::Shutdown;
use registry_client::Discovery;

use crate::feed::{self, FeedError, ParsedFeed};
use crate::fetch::{CacheHints, FetchError, Fetched, Fetcher, Validators};
use crate::icons::{self, Icons, Settled, Waiting};
use crate::store::{FeedState, Store, StoreError};

/// `[refresh]` settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefreshSettings {
    /// How often a feed is fetched when its publisher says nothing.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Lower bound for what publishers ask (politeness to them, and to us).
    #[serde(with = "humantime_serde")]
    pub min_interval: Duration,
    /// Upper bound for asked intervals and for error backoff.
    #[serde(with = "humantime_serde")]
    pub max_interval: Duration,
    /// How often each middle tier looks for due feeds.
    #[serde(with = "humantime_serde")]
    pub scan_interval: Duration,
    /// Newest items kept per feed (at most `feed::MAX_ENTRIES`).
    pub max_items: usize,
    /// Most bytes of items kept per feed (titles, descriptions, links, ids): past it the
    /// oldest items are dropped. Bounds what one publisher can make every store hold.
    pub max_feed_bytes: usize,
    /// "Check now" fetches a feed at a user's request: at most once per this interval per
    /// user and feed, so a held-down button cannot turn the middle tier against a publisher
    /// (or against itself: every check is a fetch, a parse and a store write).
    #[serde(with = "humantime_serde")]
    pub check_now_interval: Duration,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30 * 60),
            min_interval: Duration::from_secs(5 * 60),
            max_interval: Duration::from_secs(24 * 60 * 60),
            scan_interval: Duration::from_secs(10),
            max_items: 100,
            max_feed_bytes: 2 * 1024 * 1024,
            check_now_interval: Duration::from_secs(30),
        }
    }
}

/// How a refresh attempt ended, as far as scheduling cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// New content (200) or unchanged (304).
    Succeeded {
        cache: CacheHints,
        ttl: Option<Duration>,
    },
    /// Failed; `consecutive_errors` counts this one.
    Failed {
        consecutive_errors: u32,
        retry_after: Option<Duration>,
    },
    /// 410 Gone.
    Gone,
}

/// Never, for practical purposes: where gone feeds are parked.
const PARKED: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// When to fetch a feed next, given how the attempt at `now` ended.
pub fn next_refresh(
    settings: &RefreshSettings,
    now: DateTime<Utc>,
    attempt: &Attempt,
) -> DateTime<Utc> {
    let bounded = |wait: Duration| {
        wait.clamp(
            settings.min_interval,
            settings.max_interval.max(settings.min_interval),
        )
    };
    let wait = match attempt {
        Attempt::Succeeded { cache, ttl } => {
            let asked = if cache.no_cache {
                Some(Duration::ZERO)
            } else {
                cache.max_age.or(*ttl)
            };
            bounded(asked.unwrap_or(settings.interval))
        }
        Attempt::Failed {
            consecutive_errors,
            retry_after,
        } => {
            let doublings = consecutive_errors.saturating_sub(1).min(20);
            let backoff = settings.interval.saturating_mul(1 << doublings);
            bounded(backoff.max(retry_after.unwrap_or_default()))
        }
        Attempt::Gone => PARKED,
    };
    now + chrono::Duration::from_std(wait).unwrap_or(chrono::TimeDelta::MAX)
}

/// Which instance refreshes which feed.
#[derive(Clone, Debug)]
pub struct Ownership {
    me: String,
    peers: Option<Discovery>,
}

impl Ownership {
    /// This instance owns every feed (one middle tier, or tests).
    pub fn solo() -> Self {
        Self {
            me: String::new(),
            peers: None,
        }
    }

    /// Feeds are shared among the live instances `peers` lists; `me` is this instance's id
    /// as registered.
    pub fn shared(me: String, peers: Discovery) -> Self {
        Self {
            me,
            peers: Some(peers),
        }
    }

    pub fn owns(&self, url: &FeedUrl) -> bool {
        let Some(peers) = &self.peers else {
            return true;
        };
        let instances = peers.instances();
        // Until the registry lists us (starting, or registry unreachable) we count ourselves
        // in: a feed may then be refreshed twice, never zero times.
        let members = instances
            .iter()
            .map(|i| i.id.as_str())
            .chain(std::iter::once(self.me.as_str()));
        owner(members, url.as_str()) == Some(self.me.as_str())
    }
}

/// Rendezvous hashing: the member with the highest weight for `key`. Every instance computes
/// the same answer from the same member list, and removing a member only moves its own keys.
pub fn owner<'a>(members: impl IntoIterator<Item = &'a str>, key: &str) -> Option<&'a str> {
    members
        .into_iter()
        .max_by_key(|member| (weight(member, key), *member))
}

/// A stable 64-bit hash of `(member, key)`: FNV-1a, then a SplitMix64 finaliser so nearby
/// inputs spread evenly. Stable across builds and Rust versions, unlike `DefaultHasher`, so
/// instances of different versions agree during a rolling deploy.
fn weight(member: &str, key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in member
        .bytes()
        .chain(std::iter::once(0xff))
        .chain(key.bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// What the first fetch of a URL a user typed found.
#[derive(Debug)]
pub enum FirstFetch {
    /// A feed (possibly failing for a transient reason): subscribe with this state, under
    /// `state.url` (the URL it permanently moved to, if it did). Boxed: a feed's state is far
    /// larger than the other answers.
    Feed(Box<FeedState>),
    /// An HTML page: look for feed links in it.
    Html { body: Vec<u8>, url: url::Url },
    /// Not something one can subscribe to; the message says why.
    Refused(String),
}

#[derive(Clone, Debug)]
pub struct Refresher {
    store: Arc<dyn Store>,
    fetcher: Fetcher,
    /// Each feed's icon, looked for after a successful parse (never on a page view).
    icons: Icons,
    /// Live (dynamic properties): every scan and every schedule reads the current values.
    settings: Dynamic<RefreshSettings>,
    ownership: Ownership,
    /// Items dropped to keep feeds within `max_feed_bytes` (`rss_feed_items_dropped_total`):
    /// a feed that keeps hitting its budget shows here before anyone misses its items.
    dropped: platform::metrics::prometheus_client::metrics::counter::Counter,
}

impl Refresher {
    pub fn new(
        store: Arc<dyn Store>,
        fetcher: Fetcher,
        settings: RefreshSettings,
        ownership: Ownership,
    ) -> Self {
        Self {
            icons: Icons::new(Arc::clone(&store), fetcher.clone()),
            store,
            fetcher,
            settings: Dynamic::fixed(settings),
            ownership,
            dropped: Default::default(),
        }
    }

    pub fn register_metrics(&self, metrics: &platform::metrics::Metrics) {
        metrics.register(
            "feed_items_dropped",
            "Items dropped, oldest first, to keep a feed within refresh.max_feed_bytes",
            self.dropped.clone(),
        );
    }

    /// Follows `settings` instead of the fixed ones given to [`Refresher::new`].
    pub fn with_live_settings(mut self, settings: Dynamic<RefreshSettings>) -> Self {
        self.settings = settings;
        self
    }

    /// How often one user may ask for one feed to be checked now (the live setting).
    pub fn check_now_interval(&self) -> Duration {
        self.settings.get().check_now_interval
    }

    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// Refreshes due feeds every `scan_interval` until `shutdown`, starting at once. A change
    /// of the settings ends the current wait, so a shorter interval applies at once.
    pub async fn run(self, shutdown: Shutdown) {
        loop {
            match self.run_once(Utc::now()).await {
                Ok(0) => {}
                Ok(refreshed) => tracing::debug!(refreshed, "refreshed due feeds"),
                Err(error) => tracing::warn!(%error, "cannot read the refresh schedule"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.settings.get().scan_interval) => {}
                () = self.settings.changed() => {}
            }
        }
    }

    /// One scan: refreshes every feed due at `now` that this instance owns; returns how many.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let due: Vec<FeedUrl> = self
            .store
            .scheduled_feeds()
            .await?
            .into_iter()
            .filter(|feed| !feed.gone && feed.next_refresh.is_none_or(|at| at <= now))
            .filter(|feed| self.ownership.owns(&feed.url))
            .map(|feed| feed.url)
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let parallel = self.fetcher.settings().max_concurrent.max(1);
        // Each feed's cached state is read when its turn comes, not all up front, so memory
        // holds only the feeds in flight, not a second copy of the whole cache.
        let refreshed = futures::stream::iter(due)
            .map(|url| async move {
                let cached = self.store.feed_states(std::slice::from_ref(&url)).await?;
                let state = cached
                    .into_iter()
                    .next()
                    .flatten()
                    .unwrap_or_else(|| FeedState::new(url, now));
                self.refresh_and_save(state).await
            })
            .buffer_unordered(parallel)
            .filter(|saved| std::future::ready(saved.is_ok()))
            .count()
            .await;
        Ok(refreshed)
    }

    /// Fetches, parses and stores one feed now, whatever its schedule.
    pub async fn refresh_and_save(&self, state: FeedState) -> Result<FeedState, StoreError> {
        let old_url = state.url.clone();
        let (state, _) = self.refresh(state, Waiting::Refresh).await;
        if state.url != old_url {
            tracing::info!(from = %old_url, to = %state.url, "feed moved permanently");
            self.store.move_feed(&old_url, &state.url).await?;
        }
        self.store.save_feed_state(&state).await?;
        Ok(state)
    }

    /// The first fetch of a URL a user typed (nothing is stored).
    pub async fn fetch_new(&self, url: &FeedUrl) -> FirstFetch {
        let (state, failure) = self
            .refresh(FeedState::new(url.clone(), Utc::now()), Waiting::Subscribe)
            .await;
        match failure {
            None => FirstFetch::Feed(Box::new(state)),
            Some(Failure::Html { body, url }) => FirstFetch::Html { body, url },
            Some(Failure::Transient) => FirstFetch::Feed(Box::new(state)),
            Some(Failure::Definitive(message)) => FirstFetch::Refused(message),
        }
    }

    /// One attempt: the feed's new state, and how it failed if it did. `waiting` bounds the
    /// look for its icon.
    async fn refresh(
        &self,
        mut state: FeedState,
        waiting: Waiting,
    ) -> (FeedState, Option<Failure>) {
        let now = Utc::now();
        state.last_attempt = Some(now);
        let validators = Validators {
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
        };
        let fetched = match self
            .fetcher
            .fetch_conditional(&state.url, &validators)
            .await
        {
            Ok(fetched) => fetched,
            Err(error) => return self.failed_fetch(state, now, error),
        };
        state.http_status = Some(fetched.status.as_u16());
        if let Some(moved) = fetched
            .moved_permanently_to
            .as_ref()
            .and_then(|u| FeedUrl::parse(u.as_str()).ok())
        {
            state.url = moved;
        }
        if fetched.not_modified() {
            return (self.succeeded(state, now, &fetched, None), None);
        }
        let Fetched {
            body,
            content_type,
            final_url,
            ..
        } = &fetched;
        let (body, content_type, base) = (body.clone(), content_type.clone(), final_url.clone());
        // Parsing is CPU work: off the async workers. A panic inside the parser ends only that
        // blocking task and is reported as this feed's error.
        let parsed = tokio::task::spawn_blocking(move || {
            let parsed = feed::parse_with_content_type(&body, content_type.as_deref(), &base);
            (parsed, body)
        })
        .await;
        match parsed {
            Ok((Ok(parsed), _)) => {
                if icons::due(state.icon_checked, now) {
                    match self.icons.icon_for(&state.url, &parsed, now, waiting).await {
                        Ok(Settled::Icon(icon)) => {
                            state.icon = icon;
                            state.icon_checked = Some(now);
                        }
                        Ok(Settled::Unsettled) => {}
                        // The icon it had stays; the next refresh looks again.
                        Err(error) => tracing::warn!(url = %state.url, %error, "cannot store icon"),
                    }
                }
                (self.succeeded_with(state, now, &fetched, parsed), None)
            }
            Ok((Err(FeedError::HtmlPage), body)) => {
                let message = FeedError::HtmlPage.to_string();
                let url = fetched.final_url.clone();
                (
                    self.failed(state, now, message, None),
                    Some(Failure::Html { body, url }),
                )
            }
            Ok((Err(error), _)) => {
                let message = error.to_string();
                (
                    self.failed(state, now, message.clone(), None),
                    Some(Failure::Definitive(message)),
                )
            }
            Err(join_error) => {
                tracing::error!(url = %state.url, error = %join_error, "feed parser crashed");
                let message = "the feed could not be read (parser error)".to_owned();
                (
                    self.failed(state, now, message.clone(), None),
                    Some(Failure::Definitive(message)),
                )
            }
        }
    }

    fn succeeded_with(
        &self,
        mut state: FeedState,
        now: DateTime<Utc>,
        fetched: &Fetched,
        parsed: ParsedFeed,
    ) -> FeedState {
        let ParsedFeed {
            title,
            mut items,
            ttl,
            ..
        } = parsed;
        // Ids key reading state, so each appears once (the first, as feeds list newest first).
        let mut ids = std::collections::HashSet::new();
        items.retain(|item| ids.insert(item.id.clone()));
        let settings = self.settings.get();
        items.truncate(settings.max_items);
        let dropped = keep_within(&mut items, settings.max_feed_bytes);
        if dropped > 0 {
            self.dropped.inc_by(dropped as u64);
            tracing::warn!(
                url = %state.url,
                dropped,
                max_feed_bytes = settings.max_feed_bytes,
                "feed over its size budget: oldest items dropped"
            );
        }
        // Items keep the time they first arrived; new ones arrived now.
        let previous = std::mem::take(&mut state.first_seen);
        state.first_seen = items
            .iter()
            .map(|item| {
                let seen = previous.get(&item.id).copied().unwrap_or(now);
                (item.id.clone(), seen)
            })
            .collect();
        state.title = title.or(state.title);
        state.items = items;
        self.succeeded(state, now, fetched, ttl)
    }

    fn succeeded(
        &self,
        mut state: FeedState,
        now: DateTime<Utc>,
        fetched: &Fetched,
        ttl: Option<Duration>,
    ) -> FeedState {
        if !fetched.not_modified() || fetched.validators.etag.is_some() {
            state.etag = fetched.validators.etag.clone().or(state.etag);
        }
        state.last_modified = fetched
            .validators
            .last_modified
            .clone()
            .or(state.last_modified);
        state.last_success = Some(now);
        state.last_error = None;
        state.consecutive_errors = 0;
        state.gone = false;
        state.next_refresh = next_refresh(
            &self.settings.get(),
            now,
            &Attempt::Succeeded {
                cache: fetched.cache.clone(),
                ttl,
            },
        );
        state
    }

    fn failed_fetch(
        &self,
        mut state: FeedState,
        now: DateTime<Utc>,
        error: FetchError,
    ) -> (FeedState, Option<Failure>) {
        let message = error.to_string();
        state.http_status = match &error {
            FetchError::Status(status) | FetchError::RateLimited { status, .. } => {
                Some(status.as_u16())
            }
            FetchError::Gone => Some(410),
            _ => None,
        };
        if matches!(error, FetchError::Gone) {
            state.gone = true;
            state.last_error = Some(message.clone());
            state.consecutive_errors += 1;
            state.next_refresh = next_refresh(&self.settings.get(), now, &Attempt::Gone);
            return (state, Some(Failure::Definitive(message)));
        }
        let retry_after = match &error {
            FetchError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        };
        let failure = if error.is_transient() {
            Failure::Transient
        } else {
            Failure::Definitive(message.clone())
        };
        (self.failed(state, now, message, retry_after), Some(failure))
    }

    fn failed(
        &self,
        mut state: FeedState,
        now: DateTime<Utc>,
        message: String,
        retry_after: Option<Duration>,
    ) -> FeedState {
        state.last_error = Some(message);
        state.consecutive_errors += 1;
        let attempt = Attempt::Failed {
            consecutive_errors: state.consecutive_errors,
            retry_after,
        };
        state.next_refresh = next_refresh(&self.settings.get(), now, &attempt);
        state
    }
}

/// What an item costs to keep, in bytes of its strings.
pub fn item_bytes(item: &middletier_api::Item) -> usize {
    item.id.len()
        + item.title.len()
        + item.description.len()
        + item.link.as_ref().map_or(0, String::len)
        + item.published.as_ref().map_or(0, String::len)
}

/// Drops the oldest items (by publication date, undated ones as older than dated, later in
/// the document as older) until the rest fit in `max_bytes`; returns how many were dropped.
/// The others keep their order.
pub fn keep_within(items: &mut Vec<middletier_api::Item>, max_bytes: usize) -> usize {
    let mut total: usize = items.iter().map(item_bytes).sum();
    if total <= max_bytes {
        return 0;
    }
    let published = |item: &middletier_api::Item| {
        item.published
            .as_deref()
            .and_then(|p| DateTime::parse_from_rfc3339(p).ok())
            .map(|p| p.timestamp_millis())
    };
    let mut oldest_first: Vec<usize> = (0..items.len()).collect();
    oldest_first.sort_by_key(|&at| (published(&items[at]), std::cmp::Reverse(at)));
    let mut drop = vec![false; items.len()];
    for at in oldest_first {
        if total <= max_bytes {
            break;
        }
        total -= item_bytes(&items[at]);
        drop[at] = true;
    }
    let before = items.len();
    let mut at = 0;
    items.retain(|_| {
        at += 1;
        !drop[at - 1]
    });
    before - items.len()
}

/// How an attempt failed, for the first fetch's verdict.
#[derive(Debug)]
enum Failure {
    /// Worth subscribing anyway: the publisher may be back soon (timeouts, 5xx, 429).
    Transient,
    /// Not a feed, or refused for good: the message says why.
    Definitive(String),
    Html {
        body: Vec<u8>,
        url: url::Url,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + secs, 0).expect("time")
    }

    fn settings() -> RefreshSettings {
        RefreshSettings {
            interval: Duration::from_secs(1800),
            min_interval: Duration::from_secs(300),
            max_interval: Duration::from_secs(86_400),
            ..RefreshSettings::default()
        }
    }

    fn wait(attempt: Attempt) -> i64 {
        (next_refresh(&settings(), at(0), &attempt) - at(0)).num_seconds()
    }

    fn ok(max_age: Option<u64>, ttl: Option<u64>) -> Attempt {
        Attempt::Succeeded {
            cache: CacheHints {
                max_age: max_age.map(Duration::from_secs),
                no_cache: false,
            },
            ttl: ttl.map(Duration::from_secs),
        }
    }

    #[test]
    fn a_feed_that_says_nothing_is_refreshed_at_the_default_interval() {
        assert_eq!(wait(ok(None, None)), 1800);
    }

    #[test]
    fn cache_control_and_ttl_are_honoured_within_bounds() {
        assert_eq!(wait(ok(Some(3600), None)), 3600, "max-age");
        assert_eq!(wait(ok(None, Some(7200))), 7200, "RSS ttl");
        assert_eq!(
            wait(ok(Some(600), Some(7200))),
            600,
            "HTTP caching wins over ttl"
        );
        assert_eq!(
            wait(ok(Some(10), None)),
            300,
            "never more often than min_interval"
        );
        assert_eq!(
            wait(ok(Some(10_000_000), None)),
            86_400,
            "never less often than max_interval"
        );
        let no_cache = Attempt::Succeeded {
            cache: CacheHints {
                max_age: None,
                no_cache: true,
            },
            ttl: None,
        };
        assert_eq!(wait(no_cache), 300);
    }

    #[test]
    fn errors_back_off_exponentially_up_to_the_maximum() {
        let failed = |n| {
            wait(Attempt::Failed {
                consecutive_errors: n,
                retry_after: None,
            })
        };
        assert_eq!(
            [failed(1), failed(2), failed(3), failed(4), failed(5)],
            [1800, 3600, 7200, 14_400, 28_800]
        );
        assert_eq!(failed(7), 86_400);
        assert_eq!(failed(1000), 86_400, "no overflow");
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503() {
        let asked = |secs| {
            wait(Attempt::Failed {
                consecutive_errors: 1,
                retry_after: Some(Duration::from_secs(secs)),
            })
        };
        assert_eq!(asked(7200), 7200, "longer than the backoff: as asked");
        assert_eq!(asked(60), 1800, "shorter than the backoff: the backoff");
        assert_eq!(asked(10_000_000), 86_400, "bounded");
    }

    #[test]
    fn items_over_the_feed_budget_are_dropped_oldest_first() {
        let item = |id: &str, published: Option<&str>| middletier_api::Item {
            id: id.to_owned(),
            title: "t".to_owned(),
            link: None,
            description: "x".repeat(1000),
            published: published.map(str::to_owned),
            read: false,
            starred: false,
            author: None,
            enclosures: Vec::new(),
        };
        let mut items = vec![
            item("new", Some("2025-06-03T00:00:00+00:00")),
            item("undated", None),
            item("old", Some("2025-06-01T00:00:00+00:00")),
            item("mid", Some("2025-06-02T00:00:00+00:00")),
        ];
        let per_item = item_bytes(&items[0]);
        assert_eq!(keep_within(&mut items, 10 * per_item), 0, "within budget");
        assert_eq!(keep_within(&mut items, 2 * per_item), 2);
        let kept: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(
            kept,
            ["new", "mid"],
            "the oldest and the undated went first"
        );
        assert_eq!(keep_within(&mut items, 0), 2, "nothing fits: nothing kept");
    }

    #[test]
    fn a_gone_feed_is_parked() {
        assert!(wait(Attempt::Gone) > 365 * 86_400);
    }

    #[test]
    fn rendezvous_gives_every_feed_exactly_one_owner_and_moves_only_the_dead_ones_feeds() {
        let members = ["a:middletier:1", "b:middletier:2", "c:middletier:3"];
        let urls: Vec<String> = (0..3000)
            .map(|n| format!("https://example.com/{n}.xml"))
            .collect();
        let owners: Vec<&str> = urls
            .iter()
            .map(|u| owner(members, u).expect("owner"))
            .collect();
        for member in members {
            let share = owners.iter().filter(|o| **o == member).count();
            assert!(
                (800..=1200).contains(&share),
                "{member} owns {share} of 3000"
            );
        }
        let survivors = ["a:middletier:1", "c:middletier:3"];
        for (url, before) in urls.iter().zip(&owners) {
            let after = owner(survivors, url).expect("owner");
            if *before != "b:middletier:2" {
                assert_eq!(after, *before, "feeds of live instances stay put");
            }
        }
        assert_eq!(owner([], "x"), None);
    }
}
