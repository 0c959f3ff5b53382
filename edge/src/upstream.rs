//! Calling the middle tier the way Ribbon did: client-side balancing over the instances the
//! registry lists (see [`crate::balancer`]), with retries on the same and on the next instance
//! within a [`RetryBudget`], every call wrapped in its [`Command`].
//!
//! Retry semantics (Ribbon's): each instance is tried `1 + max_auto_retries` times, and up to
//! `max_auto_retries_next_server` further instances are tried, so one call makes at most
//! `(1 + max_auto_retries) * (1 + max_auto_retries_next_server)` attempts. Connect failures
//! are always retried (the request never arrived); timeouts and 5xx only for idempotent calls
//! or with `ok_to_retry_on_all_operations`. Bad requests are never retried. Every retry spends
//! from the retry budget; once it is spent, the first failure is final.
//!
//! The user's feed list (the "Manage feeds" page) goes through a small read cache: the last
//! good answer per user. Within `fresh_for` it is served as it is, without a call (Hystrix's
//! request cache, reported as `ResponsesFromCache`); after that it is the stale fallback.
//! While one request refreshes an expired entry, the others keep getting the cached answer
//! instead of all calling at once. A write through this edge expires the user's entry, so the
//! writer sees the change at once; other edges see it within `fresh_for`. The river is never
//! served from a cache while the middle tier answers (reading state changes with every
//! click); its last good pages per view (`RiverCache`) are only the fallback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use middletier_api::{
    Account, CallError, CategoryChange, ItemStateChange, MarkRead, MarkedRead, MiddletierClient,
    NewAccount, NewSession, OpmlImport, River, RiverQuery, Session, SubscriptionChange, UserFeeds,
};
use platform::config::{Dynamic, Secret};
use registry_client::Discovery;

use crate::balancer::{Balancer, BalancerSettings, InstanceView, Outcome, OutlierSettings};
use crate::command::{Command, CommandError, CommandSettings};
use crate::retry::{RetryBudget, RetryBudgetSettings};

// No `PartialEq`: the token is a `Secret`, which is never compared with `==` (not constant time).
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    pub retry_budget: RetryBudgetSettings,
    /// The middle tier's service token (its `[api] token`), sent on every call. Never
    /// serialized, so it can't leak through a dump of the settings.
    #[serde(skip_serializing, default)]
    pub token: Option<Secret>,
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
            retry_budget: RetryBudgetSettings::default(),
            token: None,
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
    /// Reading state: an item read or starred, "mark all as read", a feed's category.
    pub mark: CommandSettings,
    /// Session look-ups (a cache miss on a page view), creation and sign-out.
    pub session: CommandSettings,
    /// Account creation and the account read at sign-in.
    pub account: CommandSettings,
}

impl Default for CommandsSettings {
    fn default() -> Self {
        // The recipe's timeouts.
        Self {
            get: CommandSettings::with_timeout(Duration::from_secs(10)),
            add: CommandSettings::with_timeout(Duration::from_secs(5)),
            delete: CommandSettings::with_timeout(Duration::from_secs(2)),
            import: CommandSettings::with_timeout(Duration::from_secs(15)),
            // "Mark all as read" may touch thousands of items in one call.
            mark: CommandSettings::with_timeout(Duration::from_secs(5)),
            // Sessions are small key reads, but every page view of a user whose cached session
            // lapsed makes one: a wider bulkhead than the default 10.
            session: CommandSettings {
                max_concurrent_requests: 50,
                ..CommandSettings::with_timeout(Duration::from_secs(2))
            },
            account: CommandSettings::with_timeout(Duration::from_secs(2)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadCacheSettings {
    /// How long a user's feeds are served from the edge without asking the middle tier again;
    /// `0s` asks every time. The entry stays as the stale fallback after that.
    #[serde(with = "humantime_serde")]
    pub fresh_for: Duration,
    /// Users kept; the least recently refreshed is dropped first.
    pub max_users: usize,
}

impl Default for ReadCacheSettings {
    fn default() -> Self {
        Self {
            fresh_for: Duration::from_secs(1),
            max_users: 10_000,
        }
    }
}

/// The last good answer per user: served within `fresh_for`, and (marked stale) as the read
/// fallback when the middle tier can't answer.
#[derive(Debug)]
struct ReadCache {
    settings: ReadCacheSettings,
    /// Bounds how long others wait on one refresh before refreshing themselves.
    refresh_grace: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    stored: Instant,
    fresh_until: Instant,
    /// A request is fetching a newer answer; the others keep using this one meanwhile.
    refreshing_since: Option<Instant>,
    feeds: Arc<UserFeeds>,
}

enum Lookup {
    Hit(Arc<UserFeeds>),
    /// Call the middle tier; the guard ends this caller's refresh.
    Miss(RefreshGuard),
}

impl ReadCache {
    fn new(settings: ReadCacheSettings, refresh_grace: Duration) -> Arc<Self> {
        Arc::new(Self {
            settings,
            refresh_grace,
            entries: Mutex::new(HashMap::new()),
        })
    }

    fn lookup(self: &Arc<Self>, user: &str) -> Lookup {
        let now = Instant::now();
        let mut entries = self.lock();
        if let Some(entry) = entries.get_mut(user) {
            if now < entry.fresh_until {
                return Lookup::Hit(entry.feeds.clone());
            }
            let refreshing = entry
                .refreshing_since
                .is_some_and(|since| now.duration_since(since) < self.refresh_grace);
            if refreshing {
                return Lookup::Hit(entry.feeds.clone());
            }
            if !self.settings.fresh_for.is_zero() {
                entry.refreshing_since = Some(now);
            }
        }
        Lookup::Miss(RefreshGuard {
            cache: self.clone(),
            user: user.to_owned(),
        })
    }

    fn put(&self, feeds: Arc<UserFeeds>) {
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= self.settings.max_users && !entries.contains_key(&feeds.user) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, entry)| entry.stored)
                .map(|(user, _)| user.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            feeds.user.clone(),
            Entry {
                stored: now,
                fresh_until: now + self.settings.fresh_for,
                refreshing_since: None,
                feeds,
            },
        );
    }

    /// The last good answer and its age, for the fallback.
    fn stale(&self, user: &str) -> Option<(Duration, Arc<UserFeeds>)> {
        let entries = self.lock();
        entries
            .get(user)
            .map(|entry| (entry.stored.elapsed(), entry.feeds.clone()))
    }

    /// The user changed something: the next read asks the middle tier.
    fn expire(&self, user: &str) {
        if let Some(entry) = self.lock().get_mut(user) {
            entry.fresh_until = Instant::now();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Ends a refresh however the call went, so a failed or abandoned one never blocks others.
struct RefreshGuard {
    cache: Arc<ReadCache>,
    user: String,
}

impl Drop for RefreshGuard {
    fn drop(&mut self) {
        if let Some(entry) = self.cache.lock().get_mut(&self.user) {
            entry.refreshing_since = None;
        }
    }
}

/// What a read produced: fresh data, or the fallback.
#[derive(Debug)]
pub enum FeedsOutcome {
    /// From the middle tier, or from the read cache within `fresh_for`.
    Fresh(Arc<UserFeeds>),
    /// The last good answer, `age` old, served because of `reason`.
    Stale {
        feeds: Arc<UserFeeds>,
        age: Duration,
        reason: CommandError,
    },
    /// Nothing to show: the call failed and there is no earlier answer.
    Unavailable { reason: CommandError },
}

#[derive(Debug)]
pub struct Upstream {
    client: MiddletierClient,
    balancer: Balancer,
    /// Live: retry counts are read per call (dynamic properties).
    settings: Dynamic<MiddletierSettings>,
    retry_budget: RetryBudget,
    get: Command,
    add: Command,
    delete: Command,
    import: Command,
    mark: Command,
    session: Command,
    account: Command,
    cache: Arc<ReadCache>,
    rivers: RiverCache,
}

/// The parts of the edge's configuration that shape its calls to the middle tier.
#[derive(Clone, Debug, Default)]
pub struct UpstreamSettings {
    /// Dynamic: retries and the retry budget follow the live configuration.
    pub middletier: Dynamic<MiddletierSettings>,
    /// Dynamic: timeouts, bulkheads and breaker thresholds follow the live configuration.
    pub commands: Dynamic<CommandsSettings>,
    pub balancer: BalancerSettings,
    pub outlier: OutlierSettings,
    pub read_cache: ReadCacheSettings,
}

impl Upstream {
    pub fn new(client: MiddletierClient, discovery: Discovery, settings: UpstreamSettings) -> Self {
        let commands = &settings.commands;
        // Each command reads its own part of the live `[commands]` section.
        let command = |name, part: fn(&CommandsSettings) -> &CommandSettings| {
            Command::dynamic(name, commands.map(move |all| part(all).clone()))
        };
        Self {
            client,
            balancer: Balancer::new(discovery, settings.balancer, settings.outlier),
            retry_budget: RetryBudget::dynamic(settings.middletier.map(|m| m.retry_budget.clone())),
            cache: ReadCache::new(settings.read_cache.clone(), commands.get().get.timeout),
            settings: settings.middletier.clone(),
            get: command("RSSGet", |c| &c.get)
                .with_request_cache(!settings.read_cache.fresh_for.is_zero()),
            add: command("RSSAdd", |c| &c.add),
            delete: command("RSSDel", |c| &c.delete),
            import: command("RSSImport", |c| &c.import),
            mark: command("RSSMark", |c| &c.mark),
            session: command("RSSSession", |c| &c.session),
            account: command("RSSAccount", |c| &c.account),
            rivers: RiverCache::default(),
        }
    }

    pub fn commands(&self) -> [&Command; 7] {
        [
            &self.get,
            &self.add,
            &self.delete,
            &self.import,
            &self.mark,
            &self.session,
            &self.account,
        ]
    }

    /// The middle-tier instances with their health, for the dashboard.
    pub fn instances(&self) -> Vec<InstanceView> {
        self.balancer.instances()
    }

    /// Retries refused by the retry budget since start.
    pub fn retries_refused(&self) -> u64 {
        self.retry_budget.exhausted()
    }

    pub async fn feeds(&self, user: &str) -> FeedsOutcome {
        let _refresh = match self.cache.lookup(user) {
            Lookup::Hit(feeds) => {
                self.get.record_cache_hit();
                return FeedsOutcome::Fresh(feeds);
            }
            Lookup::Miss(guard) => guard,
        };
        let call = self.with_retries(
            true,
            |base| async move { self.client.feeds(&base, user).await },
        );
        match self.get.execute(call).await {
            Ok(feeds) => {
                let feeds = Arc::new(feeds);
                self.cache.put(feeds.clone());
                FeedsOutcome::Fresh(feeds)
            }
            Err(reason) if reason.is_bad_request() => FeedsOutcome::Unavailable { reason },
            Err(reason) => {
                let stale = self.cache.stale(user);
                self.get.record_fallback(stale.is_some());
                match stale {
                    Some((age, feeds)) => FeedsOutcome::Stale { feeds, age, reason },
                    None => FeedsOutcome::Unavailable { reason },
                }
            }
        }
    }

    /// Runs a write and accounts for its fallback: there is no earlier answer to give, so the
    /// caller shows the reason and keeps the input.
    async fn write<T>(
        &self,
        command: &Command,
        user: &str,
        call: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, CommandError> {
        let result = command.execute(call).await;
        match &result {
            Ok(_) => self.cache.expire(user),
            Err(error) if error.is_bad_request() => {}
            Err(_) => command.record_fallback(false),
        }
        result
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
        self.write(&self.add, user, call).await
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
        self.write(&self.delete, user, call).await
    }

    /// The user's subscriptions as OPML: a read, so it runs as `RSSGet`.
    pub async fn export_opml(&self, user: &str) -> Result<String, CommandError> {
        let call = self.with_retries(true, |base| async move {
            self.client.export_opml(&base, user).await
        });
        self.without_fallback(&self.get, call).await
    }

    /// Importing is idempotent (subscribing twice subscribes once), so it may be retried.
    pub async fn import_opml(&self, user: &str, opml: Vec<u8>) -> Result<OpmlImport, CommandError> {
        let opml = &opml;
        let call = self.with_retries(true, |base| async move {
            self.client.import_opml(&base, user, opml.clone()).await
        });
        self.write(&self.import, user, call).await
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
        let settings = self.settings.get();
        let retry_all = idempotent || settings.ok_to_retry_on_all_operations;
        let server_count = (1 + settings.max_auto_retries_next_server as usize).min(servers.len());
        self.retry_budget.deposit();
        let mut last_error = None;
        'servers: for server in servers.iter().take(server_count) {
            for _ in 0..=settings.max_auto_retries {
                if last_error.is_some() && !self.retry_budget.try_withdraw() {
                    tracing::debug!("retry budget spent; not retrying");
                    break 'servers;
                }
                let tracked = self.balancer.start(server);
                let result = attempt(server.base_url.clone()).await;
                tracked.finish(match &result {
                    Err(error) if !error.is_bad_request() => Outcome::Failed,
                    _ => Outcome::Answered,
                });
                match result {
                    Ok(value) => return Ok(value),
                    Err(error) if error.is_bad_request() => return Err(error),
                    Err(error) if error.is_connect() || retry_all => {
                        tracing::debug!(instance = %server.id, %error, "attempt failed");
                        last_error = Some(error);
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        Err(last_error.unwrap_or_else(|| CallError::Connect(format!("{} failed", first.id))))
    }
}

/// What a river read produced: fresh, or the fallback (as [`FeedsOutcome`]).
#[derive(Debug)]
pub enum RiverOutcome {
    Fresh(Arc<River>),
    /// The last good answer to the same query, `age` old, served because of `reason`.
    Stale {
        river: Arc<River>,
        age: Duration,
        reason: CommandError,
    },
    Unavailable {
        reason: CommandError,
    },
}

/// Pages of the river kept per user, for the stale fallback only.
const RIVER_PAGES_PER_USER: usize = 8;

/// The last good river pages per user and query: never served while the middle tier answers
/// (reading state changes with every click), only as the fallback when it does not.
#[derive(Debug, Default)]
struct RiverCache {
    users: Mutex<HashMap<String, Vec<RiverPage>>>,
}

/// One cached answer: the query, when it was answered, the page.
type RiverPage = (RiverQuery, Instant, Arc<River>);

impl RiverCache {
    fn put(&self, max_users: usize, user: &str, query: &RiverQuery, river: Arc<River>) {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        if users.len() >= max_users && !users.contains_key(user) {
            // Drop the user whose newest page is oldest.
            let oldest = users
                .iter()
                .min_by_key(|(_, pages)| pages.iter().map(|page| page.1).max())
                .map(|(user, _)| user.clone());
            if let Some(oldest) = oldest {
                users.remove(&oldest);
            }
        }
        let pages = users.entry(user.to_owned()).or_default();
        pages.retain(|page| &page.0 != query);
        if pages.len() >= RIVER_PAGES_PER_USER {
            pages.remove(0);
        }
        pages.push((query.clone(), Instant::now(), river));
    }

    fn stale(&self, user: &str, query: &RiverQuery) -> Option<(Duration, Arc<River>)> {
        let users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        users
            .get(user)?
            .iter()
            .find(|page| &page.0 == query)
            .map(|page| (page.1.elapsed(), page.2.clone()))
    }
}

/// The reader: the river of news and reading state.
impl Upstream {
    /// A page of the user's river; on failure the last good answer to the same query.
    pub async fn river(&self, user: &str, query: &RiverQuery) -> RiverOutcome {
        let call = self.with_retries(true, |base| async move {
            self.client.river(&base, user, query).await
        });
        match self.get.execute(call).await {
            Ok(river) => {
                let river = Arc::new(river);
                self.rivers
                    .put(self.cache.settings.max_users, user, query, river.clone());
                RiverOutcome::Fresh(river)
            }
            Err(reason) if reason.is_bad_request() => RiverOutcome::Unavailable { reason },
            Err(reason) => {
                let stale = self.rivers.stale(user, query);
                self.get.record_fallback(stale.is_some());
                match stale {
                    Some((age, river)) => RiverOutcome::Stale { river, age, reason },
                    None => RiverOutcome::Unavailable { reason },
                }
            }
        }
    }

    /// Marks one item read or unread, starred or not. Idempotent, so retried like a read.
    pub async fn set_item_state(
        &self,
        user: &str,
        change: &ItemStateChange,
    ) -> Result<ItemStateChange, CommandError> {
        let call = self.with_retries(true, |base| async move {
            self.client.set_item_state(&base, user, change).await
        });
        self.write(&self.mark, user, call).await
    }

    /// "Mark all as read" for a feed, a category or everything (idempotent).
    pub async fn mark_read(&self, user: &str, mark: &MarkRead) -> Result<MarkedRead, CommandError> {
        let call = self.with_retries(true, |base| async move {
            self.client.mark_read(&base, user, mark).await
        });
        self.write(&self.mark, user, call).await
    }

    /// Files a subscription under a category, or clears it (idempotent).
    pub async fn set_category(
        &self,
        user: &str,
        change: &CategoryChange,
    ) -> Result<(), CommandError> {
        let call = self.with_retries(true, |base| async move {
            self.client.set_category(&base, user, change).await
        });
        self.write(&self.mark, user, call).await
    }
}

/// Accounts and sessions (see [`crate::accounts`]): the middle tier stores them; the edge only
/// ever sends password hashes and token hashes. None of these calls has a stale fallback: an
/// answer that can't be had is an error the caller shows (the session cache in
/// [`crate::session`] keeps signed-in users reading through short outages).
impl Upstream {
    /// The live session with this token hash, `None` when unknown or expired.
    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>, CommandError> {
        let call = self.with_retries(true, |base| async move {
            self.client.session(&base, token_hash).await
        });
        self.without_fallback(&self.session, call).await
    }

    /// Storing a session under a fresh random key is idempotent, so it may be retried.
    pub async fn create_session(&self, session: &NewSession) -> Result<(), CommandError> {
        let call = self.with_retries(true, |base| async move {
            self.client.create_session(&base, session).await
        });
        self.without_fallback(&self.session, call).await
    }

    /// Deleting a session is idempotent (an unknown one is fine).
    pub async fn end_session(&self, token_hash: &str) -> Result<(), CommandError> {
        let call = self.with_retries(true, |base| async move {
            self.client.delete_session(&base, token_hash).await
        });
        self.without_fallback(&self.session, call).await
    }

    /// Creates an account; `None` when the name is taken. Not retried after a timeout or 5xx:
    /// the first attempt may have created it, and a retry would then report the user's own
    /// new account as taken.
    pub async fn create_account(
        &self,
        account: &NewAccount,
    ) -> Result<Option<Account>, CommandError> {
        let call = self.with_retries(false, |base| async move {
            self.client.create_account(&base, account).await
        });
        self.without_fallback(&self.account, call).await
    }

    pub async fn account(&self, user: &str) -> Result<Option<Account>, CommandError> {
        let call = self.with_retries(true, |base| async move {
            self.client.account(&base, user).await
        });
        self.without_fallback(&self.account, call).await
    }

    /// Runs a call that has no fallback answer (accounts, sessions, OPML export): a failure is
    /// the caller's to show.
    async fn without_fallback<T>(
        &self,
        command: &Command,
        call: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, CommandError> {
        let result = command.execute(call).await;
        if result.as_ref().is_err_and(|error| !error.is_bad_request()) {
            command.record_fallback(false);
        }
        result
    }
}
