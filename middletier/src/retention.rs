//! Item history retention: the background job that bounds each feed's history, so a feed that
//! publishes for years keeps a bounded number of items while what readers starred stays.
//!
//! The store keeps every item a feed has published ([`HistoryStore`]); only this job removes
//! any ([`HistoryStore::remove_history`], which takes every user's marks on them along). What
//! goes is decided by [`decide`], a pure function of one feed's history, its subscribers'
//! reading state, the policy ([`RetentionSettings`]) and the time:
//! - **over the cap**: beyond the newest `max_items_per_feed` by `(time, id)`;
//! - **unread expired**: first seen more than `unread_days` ago;
//! - **read expired**: first seen more than `read_days` ago and read by every subscriber.
//!
//! Never an item any subscriber has starred (starred is kept forever), nor an item the feed's
//! current document still holds (the next save would only bring it back, as new).
//!
//! Like the refresher (`crate::refresh`), each middle tier works on the feeds it owns
//! ([`Ownership`]), a bounded number per pass ([`MAX_FEEDS_PER_PASS`], resuming where the last
//! pass stopped), every `interval`; each pass logs what it removed by reason and counts it in
//! `rss_retention_removed_total{reason}`, and its duration in
//! `rss_retention_pass_duration_seconds`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use middletier_api::domain::FeedUrl;
use platform::config::Dynamic;
use platform::lifecycle::Shutdown;
use platform::metrics::prometheus_client::metrics::counter::Counter;
use platform::metrics::prometheus_client::metrics::family::Family;
use platform::metrics::prometheus_client::metrics::histogram::Histogram;

use crate::refresh::Ownership;
use crate::store::{FeedReading, HistoryEntry, Store, StoreError};

/// Most feeds one pass looks at: a middle tier owning 100,000 feeds works through them over
/// several passes rather than holding the store busy for one long one.
pub const MAX_FEEDS_PER_PASS: usize = 1_000;

/// `[retention]` settings: what each feed's history keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionSettings {
    /// Items read by every subscriber go once first seen this many days ago.
    pub read_days: u32,
    /// Any item (read or not) goes once first seen this many days ago.
    pub unread_days: u32,
    /// Items kept per feed, newest first; older ones go.
    pub max_items_per_feed: usize,
    /// How often each middle tier applies the policy to its feeds.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            read_days: 60,
            unread_days: 180,
            max_items_per_feed: 2_000,
            interval: Duration::from_secs(60 * 60),
        }
    }
}

impl RetentionSettings {
    /// Refuses a policy that cannot be meant, naming the setting.
    pub fn validate(&self) -> Result<(), platform::config::InvalidSetting> {
        use platform::config::InvalidSetting;
        if self.read_days == 0 {
            return Err(InvalidSetting::new(
                "retention.read_days",
                "must be at least 1: read items would go the moment they are read",
            ));
        }
        if self.unread_days < self.read_days {
            return Err(InvalidSetting::new(
                "retention.unread_days",
                format!(
                    "{} is less than retention.read_days ({}): unread items would be kept \
                     for less time than read ones",
                    self.unread_days, self.read_days
                ),
            ));
        }
        if self.max_items_per_feed == 0 {
            return Err(InvalidSetting::new(
                "retention.max_items_per_feed",
                "must be at least 1: every feed's history would be emptied",
            ));
        }
        if self.interval.is_zero() {
            return Err(InvalidSetting::new(
                "retention.interval",
                "must be longer than 0s",
            ));
        }
        Ok(())
    }
}

/// Why an item is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    OverCap,
    UnreadExpired,
    ReadExpired,
}

impl Reason {
    pub const ALL: [Reason; 3] = [Reason::OverCap, Reason::UnreadExpired, Reason::ReadExpired];

    /// The metric label and log field.
    pub fn label(self) -> &'static str {
        match self {
            Reason::OverCap => "over_cap",
            Reason::UnreadExpired => "unread_expired",
            Reason::ReadExpired => "read_expired",
        }
    }
}

/// One feed as the policy sees it.
#[derive(Clone, Copy, Debug)]
pub struct FeedHistory<'a> {
    /// Every item the history holds, in any order.
    pub entries: &'a [HistoryEntry],
    /// Ids of the items in the feed's current document.
    pub current: &'a HashSet<&'a str>,
    /// Each subscriber's reading state in the feed.
    pub readers: &'a [FeedReading],
}

/// The items of `feed` the policy removes at `now`, with the reason (the first that applies,
/// in the order of [`Reason::ALL`]), newest first.
pub fn decide(
    feed: FeedHistory<'_>,
    policy: &RetentionSettings,
    now: DateTime<Utc>,
) -> Vec<(String, Reason)> {
    let mut entries: Vec<&HistoryEntry> = feed.entries.iter().collect();
    entries.sort_by(|a, b| (b.time, &b.id).cmp(&(a.time, &a.id)));
    // "More than N days ago": an item first seen exactly at the limit stays. A limit before
    // the start of time expires nothing.
    let limit = |days: u32| {
        now.checked_sub_signed(chrono::Duration::days(i64::from(days)))
            .map_or(i64::MIN, |at| at.timestamp_millis())
    };
    let (read_limit, unread_limit) = (limit(policy.read_days), limit(policy.unread_days));
    entries
        .into_iter()
        .enumerate()
        .filter(|(_, entry)| !feed.current.contains(entry.id.as_str()))
        .filter(|(_, entry)| {
            !feed
                .readers
                .iter()
                .any(|reader| reader.state_of(&entry.id, entry.seen).1)
        })
        .filter_map(|(rank, entry)| {
            let reason = if rank >= policy.max_items_per_feed {
                Reason::OverCap
            } else if entry.seen < unread_limit {
                Reason::UnreadExpired
            } else if entry.seen < read_limit
                && feed
                    .readers
                    .iter()
                    .all(|reader| reader.state_of(&entry.id, entry.seen).0)
            {
                Reason::ReadExpired
            } else {
                return None;
            };
            Some((entry.id.clone(), reason))
        })
        .collect()
}

/// How many items a pass (or one feed) removed, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub over_cap: usize,
    pub unread_expired: usize,
    pub read_expired: usize,
}

impl Removed {
    fn add(&mut self, reason: Reason, count: usize) {
        match reason {
            Reason::OverCap => self.over_cap += count,
            Reason::UnreadExpired => self.unread_expired += count,
            Reason::ReadExpired => self.read_expired += count,
        }
    }

    fn merge(&mut self, other: Removed) {
        self.over_cap += other.over_cap;
        self.unread_expired += other.unread_expired;
        self.read_expired += other.read_expired;
    }

    pub fn total(&self) -> usize {
        self.over_cap + self.unread_expired + self.read_expired
    }
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Feeds whose history was looked at.
    pub feeds: usize,
    /// Feeds skipped for a store error (tried again at a later pass).
    pub failed: usize,
    pub removed: Removed,
}

/// The retention job's metrics.
#[derive(Clone, Debug)]
struct RetentionMetrics {
    removed: Family<platform::metrics::Labels, Counter>,
    duration: Histogram,
}

impl Default for RetentionMetrics {
    fn default() -> Self {
        Self {
            removed: Family::default(),
            duration: platform::metrics::latency_histogram(),
        }
    }
}

/// The background job applying the retention policy to the feeds this instance owns.
#[derive(Clone, Debug)]
pub struct Retention {
    store: Arc<dyn Store>,
    /// Live: every pass reads the current policy.
    settings: Dynamic<RetentionSettings>,
    ownership: Ownership,
    metrics: RetentionMetrics,
    /// The last feed the previous pass looked at: the next one resumes after it.
    resume_after: Arc<Mutex<Option<FeedUrl>>>,
}

impl Retention {
    pub fn new(store: Arc<dyn Store>, settings: RetentionSettings, ownership: Ownership) -> Self {
        Self {
            store,
            settings: Dynamic::fixed(settings),
            ownership,
            metrics: RetentionMetrics::default(),
            resume_after: Arc::default(),
        }
    }

    /// Follows `settings` instead of the fixed ones given to [`Retention::new`].
    pub fn with_live_settings(mut self, settings: Dynamic<RetentionSettings>) -> Self {
        self.settings = settings;
        self
    }

    pub fn register_metrics(&self, metrics: &platform::metrics::Metrics) {
        metrics.register(
            "retention_removed",
            "Items removed from feeds' histories by the retention policy, by reason",
            self.metrics.removed.clone(),
        );
        metrics.register(
            "retention_pass_duration_seconds",
            "Duration of one retention pass over the feeds this instance owns",
            self.metrics.duration.clone(),
        );
    }

    /// Applies the policy every `interval` until `shutdown`, the first pass one interval after
    /// start (a restarting fleet does not all sweep at once). A change of the settings ends
    /// the current wait.
    pub async fn run(self, shutdown: Shutdown) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.settings.get().interval) => {}
                () = self.settings.changed() => continue,
            }
            if let Err(error) = self.run_once(Utc::now()).await {
                tracing::warn!(%error, "retention: cannot read the feed list");
            }
        }
    }

    /// One pass at `now`: up to [`MAX_FEEDS_PER_PASS`] owned feeds, resuming after the last
    /// pass's; logs and counts what it removed.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<Pass, StoreError> {
        let started = Instant::now();
        let mut owned: Vec<FeedUrl> = self
            .store
            .scheduled_feeds()
            .await?
            .into_iter()
            .map(|feed| feed.url)
            .filter(|url| self.ownership.owns(url))
            .collect();
        owned.sort();
        let resume_after = self
            .resume_after
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let start = resume_after.map_or(0, |last| owned.partition_point(|url| *url <= last));
        // Round the list from where the last pass stopped, at most once.
        let batch: Vec<FeedUrl> = owned[start..]
            .iter()
            .chain(&owned[..start])
            .take(MAX_FEEDS_PER_PASS)
            .cloned()
            .collect();
        let policy = self.settings.get();
        let mut pass = Pass::default();
        for url in &batch {
            match self.retain_feed(url, &policy, now).await {
                Ok(removed) => {
                    pass.feeds += 1;
                    pass.removed.merge(removed);
                }
                Err(error) => {
                    pass.failed += 1;
                    tracing::warn!(feed = %url, %error, "retention: feed skipped");
                }
            }
        }
        *self
            .resume_after
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = batch.last().cloned();
        let elapsed = started.elapsed();
        self.metrics.duration.observe(elapsed.as_secs_f64());
        tracing::info!(
            feeds = pass.feeds,
            failed = pass.failed,
            over_cap = pass.removed.over_cap,
            unread_expired = pass.removed.unread_expired,
            read_expired = pass.removed.read_expired,
            elapsed = ?elapsed,
            "retention pass"
        );
        Ok(pass)
    }

    /// Applies `policy` to one feed's history at `now`.
    pub async fn retain_feed(
        &self,
        url: &FeedUrl,
        policy: &RetentionSettings,
        now: DateTime<Utc>,
    ) -> Result<Removed, StoreError> {
        let entries = self.store.history(url).await?;
        let state = self
            .store
            .feed_states(std::slice::from_ref(url))
            .await?
            .pop()
            .flatten();
        let current: HashSet<&str> = state
            .iter()
            .flat_map(|state| &state.items)
            .map(|item| item.id.as_str())
            .collect();
        let mut readers = Vec::new();
        for user in self.store.subscribers(url).await? {
            readers.push(self.store.feed_reading(&user, url).await?);
        }
        let feed = FeedHistory {
            entries: &entries,
            current: &current,
            readers: &readers,
        };
        // A star set between these reads and the removal below is lost with its item: the
        // window is one feed's few reads, and the item was past the policy for everyone.
        let decided = decide(feed, policy, now);
        let mut removed = Removed::default();
        if decided.is_empty() {
            return Ok(removed);
        }
        let ids: Vec<String> = decided.iter().map(|(id, _)| id.clone()).collect();
        self.store.remove_history(url, &ids).await?;
        for reason in Reason::ALL {
            let count = decided.iter().filter(|(_, r)| *r == reason).count();
            if count > 0 {
                removed.add(reason, count);
                self.metrics
                    .removed
                    .get_or_create(&vec![("reason", reason.label().to_owned())])
                    .inc_by(count as u64);
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ItemMark, Watermark};

    const DAY_MS: i64 = 24 * 60 * 60 * 1000;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000).expect("time")
    }

    /// An item first seen `days_ago` days before [`now`] (plus `ms`), sorting by that time.
    fn entry(id: &str, days_ago: i64, ms: i64) -> HistoryEntry {
        let seen = now().timestamp_millis() - days_ago * DAY_MS + ms;
        HistoryEntry {
            id: id.to_owned(),
            time: seen,
            seen,
        }
    }

    fn reader(read: &[&str], starred: &[&str]) -> FeedReading {
        let at = now() - chrono::Duration::days(1);
        let mut reading = FeedReading::default();
        for id in read {
            reading.marks.entry((*id).to_owned()).or_default().read = Some((true, at));
        }
        for id in starred {
            reading.marks.entry((*id).to_owned()).or_default().starred = true;
        }
        reading
    }

    fn run(
        entries: &[HistoryEntry],
        current: &[&str],
        readers: &[FeedReading],
        policy: &RetentionSettings,
    ) -> Vec<(String, Reason)> {
        let current: HashSet<&str> = current.iter().copied().collect();
        let feed = FeedHistory {
            entries,
            current: &current,
            readers,
        };
        decide(feed, policy, now())
    }

    fn ids(decided: &[(String, Reason)], reason: Reason) -> Vec<&str> {
        decided
            .iter()
            .filter(|(_, r)| *r == reason)
            .map(|(id, _)| id.as_str())
            .collect()
    }

    #[test]
    fn the_cap_keeps_exactly_the_newest_items_by_time_then_id() {
        let policy = RetentionSettings {
            max_items_per_feed: 3,
            ..RetentionSettings::default()
        };
        // b and c share a time: the id breaks the tie, as in the river.
        let entries = [
            entry("a", 1, 0),
            entry("b", 2, 0),
            entry("c", 2, 0),
            entry("d", 3, 0),
            entry("e", 4, 0),
        ];
        let decided = run(&entries, &[], &[], &policy);
        assert_eq!(ids(&decided, Reason::OverCap), ["d", "e"]);
        assert_eq!(decided.len(), 2);
        let at_cap = run(&entries[..3], &[], &[], &policy);
        assert!(at_cap.is_empty(), "exactly at the cap: nothing goes");
    }

    #[test]
    fn starred_items_and_the_current_document_are_never_removed() {
        let policy = RetentionSettings {
            max_items_per_feed: 1,
            ..RetentionSettings::default()
        };
        let entries = [
            entry("new", 0, 0),
            entry("starred-by-bob", 500, 0),
            entry("in-document", 400, 0),
            entry("plain", 300, 0),
        ];
        let readers = [reader(&["plain"], &[]), reader(&[], &["starred-by-bob"])];
        let decided = run(&entries, &["in-document"], &readers, &policy);
        assert_eq!(decided, [("plain".to_owned(), Reason::OverCap)]);
    }

    #[test]
    fn unread_items_expire_after_unread_days_not_a_millisecond_earlier() {
        let policy = RetentionSettings::default();
        let entries = [
            entry("just-inside", 180, 0),
            entry("just-past", 180, -1),
            entry("young", 10, 0),
        ];
        let decided = run(&entries, &[], &[reader(&[], &[])], &policy);
        assert_eq!(decided, [("just-past".to_owned(), Reason::UnreadExpired)]);
    }

    #[test]
    fn read_items_expire_after_read_days_only_when_every_subscriber_read_them() {
        let policy = RetentionSettings::default();
        let entries = [
            entry("all-read", 61, 0),
            entry("one-read", 61, 1),
            entry("all-read-at-limit", 60, 0),
            entry("all-read-young", 10, 0),
        ];
        let ann = reader(
            &[
                "all-read",
                "one-read",
                "all-read-at-limit",
                "all-read-young",
            ],
            &[],
        );
        let bob = reader(&["all-read", "all-read-at-limit", "all-read-young"], &[]);
        let decided = run(&entries, &[], &[ann, bob], &policy);
        assert_eq!(decided, [("all-read".to_owned(), Reason::ReadExpired)]);
    }

    #[test]
    fn a_watermark_counts_as_read() {
        let policy = RetentionSettings::default();
        let entries = [entry("old", 90, 0), entry("new", 1, 0)];
        let caught_up = FeedReading {
            watermark: Some(Watermark {
                up_to: now() - chrono::Duration::days(30),
                set_at: now() - chrono::Duration::days(30),
            }),
            marks: [("new".to_owned(), ItemMark::default())].into(),
        };
        let decided = run(&entries, &[], &[caught_up], &policy);
        assert_eq!(decided, [("old".to_owned(), Reason::ReadExpired)]);
    }

    #[test]
    fn over_the_cap_wins_over_expiry_and_each_item_is_named_once() {
        let policy = RetentionSettings {
            max_items_per_feed: 1,
            ..RetentionSettings::default()
        };
        let entries = [entry("kept", 1, 0), entry("ancient", 1_000, 0)];
        let decided = run(&entries, &[], &[reader(&["ancient"], &[])], &policy);
        assert_eq!(decided, [("ancient".to_owned(), Reason::OverCap)]);
    }

    #[test]
    fn absurd_day_counts_expire_nothing_rather_than_overflow() {
        let policy = RetentionSettings {
            read_days: u32::MAX,
            unread_days: u32::MAX,
            ..RetentionSettings::default()
        };
        let entries = [entry("old", 10_000, 0)];
        assert!(run(&entries, &[], &[reader(&["old"], &[])], &policy).is_empty());
    }

    #[test]
    fn nonsense_policies_are_refused_naming_the_setting() {
        let refused =
            |policy: RetentionSettings| policy.validate().expect_err("refused").to_string();
        let base = RetentionSettings::default();
        assert!(base.validate().is_ok());
        for (policy, key) in [
            (
                RetentionSettings {
                    read_days: 0,
                    ..base.clone()
                },
                "retention.read_days",
            ),
            (
                RetentionSettings {
                    unread_days: 30,
                    ..base.clone()
                },
                "retention.unread_days",
            ),
            (
                RetentionSettings {
                    max_items_per_feed: 0,
                    ..base.clone()
                },
                "retention.max_items_per_feed",
            ),
            (
                RetentionSettings {
                    interval: Duration::ZERO,
                    ..base.clone()
                },
                "retention.interval",
            ),
        ] {
            assert!(refused(policy).contains(key), "{key}");
        }
    }
}
