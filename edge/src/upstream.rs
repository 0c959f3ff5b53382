//! Calling the middle tier the way Ribbon did: client-side round-robin over the instances the
//! registry lists, with retries on the same and on the next instance, every call wrapped in its
//! [`Command`].
//!
//! Retry semantics (Ribbon's): each instance is tried `1 + max_auto_retries` times, and up to
//! `max_auto_retries_next_server` further instances are tried, so one call makes at most
//! `(1 + max_auto_retries) * (1 + max_auto_retries_next_server)` attempts. Connect failures
//! are always retried (the request never arrived); timeouts and 5xx only for idempotent calls
//! or with `ok_to_retry_on_all_operations`. Bad requests are never retried.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use middletier::api::{OpmlImport, SubscriptionChange, UserFeeds};
use middletier::client::{CallError, MiddletierClient};
use registry::client::{Discovery, Instance};

use crate::command::{Command, CommandError, CommandSettings};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MiddletierSettings {
    /// The VIP address middle tiers register under.
    pub vip: String,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Bounds one attempt (Ribbon's ReadTimeout).
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    pub max_auto_retries: u32,
    pub max_auto_retries_next_server: u32,
    pub ok_to_retry_on_all_operations: bool,
}

impl Default for MiddletierSettings {
    fn default() -> Self {
        Self {
            vip: "middletier".to_owned(),
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(9),
            max_auto_retries: 0,
            max_auto_retries_next_server: 1,
            ok_to_retry_on_all_operations: false,
        }
    }
}

/// One Hystrix command per operation, as the recipe had (RSSGet, RSSAdd, RSSDel).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandsSettings {
    pub get: CommandSettings,
    pub add: CommandSettings,
    pub delete: CommandSettings,
    /// OPML import: up to 500 subscriptions in one call.
    pub import: CommandSettings,
}

impl Default for CommandsSettings {
    fn default() -> Self {
        // The recipe's timeouts.
        Self {
            get: CommandSettings::with_timeout(Duration::from_secs(10)),
            add: CommandSettings::with_timeout(Duration::from_secs(5)),
            delete: CommandSettings::with_timeout(Duration::from_secs(2)),
            import: CommandSettings::with_timeout(Duration::from_secs(15)),
        }
    }
}

/// Round robin over the current discovery snapshot.
#[derive(Debug)]
pub struct Balancer {
    discovery: Discovery,
    next: AtomicUsize,
}

impl Balancer {
    pub fn new(discovery: Discovery) -> Self {
        Self {
            discovery,
            next: AtomicUsize::new(0),
        }
    }

    /// All known instances, starting with the next one in turn.
    pub fn order(&self) -> Vec<Instance> {
        let instances = self.discovery.instances();
        if instances.is_empty() {
            return Vec::new();
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % instances.len();
        instances
            .iter()
            .cycle()
            .skip(start)
            .take(instances.len())
            .cloned()
            .collect()
    }
}

/// The last good answer per user, served (marked stale) when the middle tier can't answer.
#[derive(Debug, Default)]
struct StaleCache {
    entries: Mutex<HashMap<String, (Instant, UserFeeds)>>,
}

/// Bounds the edge's memory; the least recently refreshed user is dropped first.
const STALE_CACHE_USERS: usize = 10_000;

impl StaleCache {
    fn put(&self, feeds: &UserFeeds) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= STALE_CACHE_USERS && !entries.contains_key(&feeds.user) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(user, _)| user.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(feeds.user.clone(), (Instant::now(), feeds.clone()));
    }

    fn get(&self, user: &str) -> Option<(Duration, UserFeeds)> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(user)
            .map(|(at, feeds)| (at.elapsed(), feeds.clone()))
    }
}

/// What a read produced: fresh data, or the fallback.
#[derive(Debug)]
pub enum FeedsOutcome {
    Fresh(UserFeeds),
    /// The last good answer, `age` old, served because of `reason`.
    Stale {
        feeds: UserFeeds,
        age: Duration,
        reason: CommandError,
    },
    /// Nothing to show: the call failed and there is no earlier answer.
    Unavailable {
        reason: CommandError,
    },
}

#[derive(Debug)]
pub struct Upstream {
    client: MiddletierClient,
    balancer: Balancer,
    settings: MiddletierSettings,
    get: Command,
    add: Command,
    delete: Command,
    import: Command,
    stale: StaleCache,
}

impl Upstream {
    pub fn new(
        client: MiddletierClient,
        discovery: Discovery,
        settings: MiddletierSettings,
        commands: &CommandsSettings,
    ) -> Self {
        Self {
            client,
            balancer: Balancer::new(discovery),
            settings,
            get: Command::new("RSSGet", &commands.get),
            add: Command::new("RSSAdd", &commands.add),
            delete: Command::new("RSSDel", &commands.delete),
            import: Command::new("RSSImport", &commands.import),
            stale: StaleCache::default(),
        }
    }

    pub fn commands(&self) -> [&Command; 4] {
        [&self.get, &self.add, &self.delete, &self.import]
    }

    pub async fn feeds(&self, user: &str) -> FeedsOutcome {
        let call = self.with_retries(
            true,
            |base| async move { self.client.feeds(&base, user).await },
        );
        match self.get.execute(call).await {
            Ok(feeds) => {
                self.stale.put(&feeds);
                FeedsOutcome::Fresh(feeds)
            }
            Err(reason) => match self.stale.get(user) {
                Some((age, feeds)) => FeedsOutcome::Stale { feeds, age, reason },
                None => FeedsOutcome::Unavailable { reason },
            },
        }
    }

    /// Subscribing is idempotent in the middle tier's API, so it may be retried like a read.
    pub async fn subscribe(
        &self,
        user: &str,
        url: &str,
    ) -> Result<SubscriptionChange, CommandError> {
        let call = self.with_retries(true, |base| async move {
            self.client.subscribe(&base, user, url).await
        });
        self.add.execute(call).await
    }

    /// Unsubscribing is idempotent too.
    pub async fn unsubscribe(
        &self,
        user: &str,
        url: &str,
    ) -> Result<SubscriptionChange, CommandError> {
        let call = self.with_retries(true, |base| async move {
            self.client.unsubscribe(&base, user, url).await
        });
        self.delete.execute(call).await
    }

    /// The user's subscriptions as OPML: a read, so it runs as `RSSGet`.
    pub async fn export_opml(&self, user: &str) -> Result<String, CommandError> {
        let call = self.with_retries(true, |base| async move {
            self.client.export_opml(&base, user).await
        });
        self.get.execute(call).await
    }

    /// Importing is idempotent (subscribing twice subscribes once), so it may be retried.
    pub async fn import_opml(&self, user: &str, opml: Vec<u8>) -> Result<OpmlImport, CommandError> {
        let opml = &opml;
        let call = self.with_retries(true, |base| async move {
            self.client.import_opml(&base, user, opml.clone()).await
        });
        self.import.execute(call).await
    }

    async fn with_retries<T, F, Fut>(
        &self,
        idempotent: bool,
        mut attempt: F,
    ) -> Result<T, CallError>
    where
        F: FnMut(url::Url) -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let servers = self.balancer.order();
        let Some(first) = servers.first() else {
            return Err(CallError::Connect(
                "no middle tier instance is registered".to_owned(),
            ));
        };
        let retry_all = idempotent || self.settings.ok_to_retry_on_all_operations;
        let server_count =
            (1 + self.settings.max_auto_retries_next_server as usize).min(servers.len());
        let mut last_error = None;
        for server in servers.iter().take(server_count) {
            for _ in 0..=self.settings.max_auto_retries {
                match attempt(server.base_url.clone()).await {
                    Ok(value) => return Ok(value),
                    Err(error) if error.is_bad_request() => return Err(error),
                    Err(error) if error.is_connect() || retry_all => {
                        tracing::debug!(instance = %server.id, %error, "attempt failed; retrying");
                        last_error = Some(error);
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        Err(last_error.unwrap_or_else(|| CallError::Connect(format!("{} failed", first.id))))
    }
}
