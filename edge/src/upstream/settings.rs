//! The settings that shape the edge's calls to the middle tier: `[middletier]` (discovery,
//! Ribbon's timeouts and retries, the retry budget), `[commands.*]` (one Hystrix command per
//! operation) and `[read_cache]`; [`UpstreamSettings`] gathers them with the balancer's.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use platform::config::{Dynamic, Secret};

use crate::balancer::{BalancerSettings, OutlierSettings};
use crate::cache_budget::Budget;
use crate::resilience::budget::RetryBudgetSettings;
use crate::resilience::command::CommandSettings;
use crate::resilience::limiter::ConcurrencySettings;

// No `PartialEq`: the token is a `Secret`, which is never compared with `==` (not constant time).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MiddletierSettings {
    /// The VIP address middle tiers register under.
    pub vip: String,
    /// The app middle tiers register as: instances of any other app under the VIP are
    /// ignored (anyone who can register may claim a VIP).
    #[serde(default = "default_app")]
    pub app: String,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Bounds one attempt (Ribbon's ReadTimeout).
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    pub max_auto_retries: u32,
    pub max_auto_retries_next_server: u32,
    pub ok_to_retry_on_all_operations: bool,
    pub retry_budget: RetryBudgetSettings,
    /// The largest answer read from a middle tier, decoded (gzip and brotli are accepted, so
    /// the cap is on what they inflate to); a larger one fails the attempt and counts against
    /// the instance and the breaker, like a 5xx.
    pub max_answer_bytes: usize,
    /// The middle tier's service token (its `[api] token`), sent on every call. Never
    /// serialized, so it can't leak through a dump of the settings.
    #[serde(skip_serializing, default)]
    pub token: Option<Secret>,
}

impl Default for MiddletierSettings {
    fn default() -> Self {
        Self {
            vip: "middletier".to_owned(),
            app: default_app(),
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(9),
            max_auto_retries: 0,
            max_auto_retries_next_server: 1,
            ok_to_retry_on_all_operations: false,
            retry_budget: RetryBudgetSettings::default(),
            max_answer_bytes: middletier_api::DEFAULT_MAX_ANSWER_BYTES,
            token: None,
        }
    }
}

fn default_app() -> String {
    "MIDDLETIER".to_owned()
}

/// One Hystrix command per operation, as the recipe had (RSSGet, RSSAdd, RSSDel).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandsSettings {
    pub get: CommandSettings,
    pub add: CommandSettings,
    pub delete: CommandSettings,
    /// OPML import: up to 500 subscriptions in one call.
    pub import: CommandSettings,
    /// Reading state: an item read or starred, "mark all as read", a feed's category.
    pub mark: CommandSettings,
    /// Session look-ups (a cache miss on a page view), creation and sign-out.
    pub session: CommandSettings,
    /// Account creation and the account read at sign-in.
    pub account: CommandSettings,
    /// Searches: a scan of whole histories on some stores, so kept apart from the page views
    /// (`get`) that a burst of slow searches must not trip or starve.
    #[serde(default = "default_search")]
    pub search: CommandSettings,
    /// Sync apps' reads (Google Reader and Fever APIs): item lists of up to a thousand items,
    /// unread counts. Apart from the pages, so an app's full sync can't trip the reader.
    #[serde(default = "default_app_read")]
    pub app_read: CommandSettings,
    /// Sync apps' writes: read and starred marks on up to thousands of items, subscriptions,
    /// titles and categories; app passwords.
    #[serde(default = "default_app_write")]
    pub app_write: CommandSettings,
    /// Feed icons: a reader's first visit loads one per feed (then never again, for a year),
    /// a burst kept apart from the pages' `get` so it can't trip or starve them.
    #[serde(default = "default_icon")]
    pub icon: CommandSettings,
}

fn default_icon() -> CommandSettings {
    CommandSettings::with_timeout(Duration::from_secs(2))
}

fn default_app_read() -> CommandSettings {
    CommandSettings::with_timeout(Duration::from_secs(10))
}

fn default_app_write() -> CommandSettings {
    CommandSettings::with_timeout(Duration::from_secs(5))
}

fn default_search() -> CommandSettings {
    CommandSettings::with_timeout(Duration::from_secs(5))
}

impl Default for CommandsSettings {
    /// The recipe's timeouts. Every command's limit is adaptive with the same bounds (see
    /// [`ConcurrencySettings::default`]) except the import's: one import subscribes up to
    /// hundreds of feeds, so a few at once already keep a middle tier busy, and an import
    /// that waits a few seconds for its turn loses nothing.
    fn default() -> Self {
        Self {
            get: CommandSettings::with_timeout(Duration::from_secs(10)),
            add: CommandSettings::with_timeout(Duration::from_secs(5)),
            delete: CommandSettings::with_timeout(Duration::from_secs(2)),
            import: CommandSettings {
                concurrency: ConcurrencySettings {
                    limit: 4,
                    min_limit: 1,
                    max_limit: 16,
                    queue: 16,
                    queue_timeout: Duration::from_secs(5),
                    ..ConcurrencySettings::default()
                },
                ..CommandSettings::with_timeout(Duration::from_secs(15))
            },
            // "Mark all as read" may touch thousands of items in one call.
            mark: CommandSettings::with_timeout(Duration::from_secs(5)),
            session: CommandSettings::with_timeout(Duration::from_secs(2)),
            account: CommandSettings::with_timeout(Duration::from_secs(2)),
            search: default_search(),
            app_read: default_app_read(),
            app_write: default_app_write(),
            icon: default_icon(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadCacheSettings {
    /// How long a user's feeds are served from the edge without asking the middle tier again;
    /// `0s` asks every time. The entry stays as the stale fallback after that.
    #[serde(with = "humantime_serde")]
    pub fresh_for: Duration,
    /// Users kept (for the river's fallback pages too); past that, the users read least are
    /// dropped first.
    pub max_users: usize,
    /// Approximate bytes of feed lists kept, all users together: a user with many large feeds
    /// takes the room of many users with few.
    pub max_bytes: u64,
    /// Approximate bytes of the river's fallback pages kept, all users together.
    pub max_river_bytes: u64,
}

impl ReadCacheSettings {
    pub fn feeds_budget(&self) -> Budget {
        Budget {
            bytes: self.max_bytes,
            entries: self.max_users,
        }
    }

    pub fn river_budget(&self) -> Budget {
        Budget {
            bytes: self.max_river_bytes,
            entries: self.max_users,
        }
    }
}

impl Default for ReadCacheSettings {
    fn default() -> Self {
        Self {
            fresh_for: Duration::from_secs(1),
            max_users: 10_000,
            max_bytes: 128 * 1024 * 1024,
            max_river_bytes: 128 * 1024 * 1024,
        }
    }
}

/// The parts of the edge's configuration that shape its calls to the middle tier.
#[derive(Clone, Debug, Default)]
pub struct UpstreamSettings {
    /// Dynamic: retries and the retry budget follow the live configuration.
    pub middletier: Dynamic<MiddletierSettings>,
    /// Dynamic: timeouts, concurrency limits and breaker thresholds follow the live configuration.
    pub commands: Dynamic<CommandsSettings>,
    pub balancer: BalancerSettings,
    pub outlier: OutlierSettings,
    pub read_cache: ReadCacheSettings,
}
