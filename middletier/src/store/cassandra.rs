//! Subscriptions in Apache Cassandra, through the scylla driver (Astyanax's role in the recipe).
//!
//! Data model (designed by query; CQL in `middletier/schema/cassandra/`, applied in order at
//! start-up and recorded in `schema_version`):
//! - `subscriptions_by_user ((user_id), url, added_at)`: one partition per user holds the whole
//!   subscription list, read in one request per page view.
//! - `subscribers_by_feed ((url), user_id)`: the same relation from the feed's side, written in
//!   the same logged batch; its partition keys are the feeds that need refreshing.
//! - `feeds_by_url ((url), ...)`: the feed cache: items, validators, status and schedule.
//! - `item_state_by_user`: per-user reading state (for the reading-state milestone).
//!
//! Connection is resilient: [`CassandraStore::start`] returns at once and connects in the
//! background with capped exponential backoff, reporting `STARTING` health until the schema is
//! ready; afterwards a probe keeps health `UP`/`DOWN` in step with Cassandra, and the driver
//! reconnects by itself. Requests made while Cassandra is unreachable fail fast with
//! [`StoreError::Unavailable`] (503), never with wrong data.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use scylla::DeserializeRow;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::Consistency;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use serde::{Deserialize, Serialize};

use platform::config::Secret;
use platform::health::{Health, Status};
use platform::lifecycle::Shutdown;

use super::{
    FeedState, FeedStore, MAX_SUBSCRIPTIONS_PER_USER, Scheduled, StoreError, SubscriptionStore,
};
use crate::api::Item;
use crate::domain::{FeedUrl, UserId};

/// Versioned schema files, applied in this order; never edit one that has shipped, add one.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "subscriptions",
        include_str!("../../schema/cassandra/001_subscriptions.cql"),
    ),
    (
        2,
        "feed_cache",
        include_str!("../../schema/cassandra/002_feed_cache.cql"),
    ),
    (
        3,
        "item_state",
        include_str!("../../schema/cassandra/003_item_state.cql"),
    ),
];

/// `[cassandra]` settings (`RSS_CASSANDRA__NODES`, ...).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CassandraSettings {
    /// Contact points, comma-separated `host:port`.
    pub nodes: String,
    pub keyspace: String,
    /// Datacenter to prefer (token-aware, DC-aware routing); empty for none.
    pub local_datacenter: String,
    pub consistency: ConsistencyLevel,
    /// Per request, so a sick cluster fails requests fast instead of piling them up.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Replication for a keyspace we create: `SimpleStrategy` with this factor unless
    /// `datacenters` is set.
    pub replication_factor: u32,
    /// `dc1:3,dc2:3` creates the keyspace with `NetworkTopologyStrategy` (clusters).
    pub datacenters: String,
    /// How often a connected store checks that Cassandra still answers (health).
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    pub username: String,
    #[serde(skip_serializing)]
    pub password: Option<Secret>,
}

impl Default for CassandraSettings {
    fn default() -> Self {
        Self {
            nodes: "127.0.0.1:9042".to_owned(),
            keyspace: "rss".to_owned(),
            local_datacenter: String::new(),
            consistency: ConsistencyLevel::LocalQuorum,
            request_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            replication_factor: 1,
            datacenters: String::new(),
            probe_interval: Duration::from_secs(2),
            username: String::new(),
            password: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsistencyLevel {
    One,
    Two,
    Three,
    Quorum,
    All,
    LocalOne,
    LocalQuorum,
    EachQuorum,
}

impl From<ConsistencyLevel> for Consistency {
    fn from(level: ConsistencyLevel) -> Self {
        match level {
            ConsistencyLevel::One => Consistency::One,
            ConsistencyLevel::Two => Consistency::Two,
            ConsistencyLevel::Three => Consistency::Three,
            ConsistencyLevel::Quorum => Consistency::Quorum,
            ConsistencyLevel::All => Consistency::All,
            ConsistencyLevel::LocalOne => Consistency::LocalOne,
            ConsistencyLevel::LocalQuorum => Consistency::LocalQuorum,
            ConsistencyLevel::EachQuorum => Consistency::EachQuorum,
        }
    }
}

impl CassandraSettings {
    fn replication(&self) -> Result<String, StoreError> {
        if self.datacenters.trim().is_empty() {
            return Ok(format!(
                "{{'class': 'SimpleStrategy', 'replication_factor': {}}}",
                self.replication_factor
            ));
        }
        let mut parts = vec!["'class': 'NetworkTopologyStrategy'".to_owned()];
        for entry in self.datacenters.split(',') {
            let (dc, factor) = entry.trim().split_once(':').ok_or_else(|| {
                StoreError::Unavailable(format!(
                    "cassandra.datacenters: expected dc:factor, got {entry:?}"
                ))
            })?;
            let factor: u32 = factor.trim().parse().map_err(|_| {
                StoreError::Unavailable(format!("cassandra.datacenters: bad factor in {entry:?}"))
            })?;
            if !is_identifier(dc.trim()) {
                return Err(StoreError::Unavailable(format!(
                    "cassandra.datacenters: bad name {dc:?}"
                )));
            }
            parts.push(format!("'{}': {factor}", dc.trim()));
        }
        Ok(format!("{{{}}}", parts.join(", ")))
    }
}

/// Keyspace and datacenter names go into DDL text, so they are restricted to identifiers.
fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A logged batch (`Batch` has no `Debug`).
struct Logged(Batch);

impl std::fmt::Debug for Logged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Logged(batch)")
    }
}

/// A live session with the statements prepared once.
#[derive(Debug)]
struct Connected {
    session: Session,
    select_all: PreparedStatement,
    select_one: PreparedStatement,
    /// Logged batches: the two sides of a subscription change together or not at all.
    subscribe: Logged,
    unsubscribe: Logged,
    select_subscribers: PreparedStatement,
    select_feed: PreparedStatement,
    insert_feed: PreparedStatement,
    delete_feed: PreparedStatement,
    scan_subscribed: PreparedStatement,
    scan_schedule: PreparedStatement,
}

#[derive(Clone, Debug)]
pub struct CassandraStore {
    connected: Arc<OnceLock<Connected>>,
}

impl CassandraStore {
    /// Connects and prepares the schema once, or fails (tests, tools).
    pub async fn connect(settings: &CassandraSettings) -> Result<Self, StoreError> {
        let connected = connect(settings).await?;
        let lock = OnceLock::new();
        let _ = lock.set(connected);
        Ok(Self {
            connected: Arc::new(lock),
        })
    }

    /// Returns at once; connects in the background (retrying with backoff until `shutdown`),
    /// then keeps `health` in step with Cassandra's availability.
    pub fn start(settings: CassandraSettings, health: Health, shutdown: Shutdown) -> Self {
        let store = Self {
            connected: Arc::new(OnceLock::new()),
        };
        health.set(Status::Starting, Some("connecting to Cassandra".to_owned()));
        tokio::spawn(store.clone().maintain(settings, health, shutdown));
        store
    }

    async fn maintain(self, settings: CassandraSettings, health: Health, shutdown: Shutdown) {
        let mut backoff = Duration::from_millis(500);
        loop {
            match connect(&settings).await {
                Ok(connected) => {
                    let _ = self.connected.set(connected);
                    tracing::info!(nodes = %settings.nodes, keyspace = %settings.keyspace, "connected to Cassandra");
                    health.set(Status::Up, None);
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "cannot reach Cassandra yet");
                    health.set(
                        Status::Starting,
                        Some(format!("waiting for Cassandra: {error}")),
                    );
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(settings.probe_interval) => {}
            }
            self.probe_once(&health).await;
        }
    }

    /// One health probe: `UP` if Cassandra answers a trivial query, `DOWN` otherwise.
    pub async fn probe_once(&self, health: &Health) {
        let Some(connected) = self.connected.get() else {
            return;
        };
        match connected
            .session
            .query_unpaged("SELECT release_version FROM system.local", ())
            .await
        {
            Ok(_) => health.set(Status::Up, None),
            Err(error) => {
                if health.status() == Status::Up {
                    tracing::warn!(%error, "Cassandra stopped answering");
                }
                health.set(Status::Down, Some("Cassandra is unreachable".to_owned()));
            }
        }
    }

    fn session(&self) -> Result<&Connected, StoreError> {
        self.connected
            .get()
            .ok_or_else(|| StoreError::Unavailable("not connected to Cassandra yet".to_owned()))
    }
}

async fn connect(settings: &CassandraSettings) -> Result<Connected, StoreError> {
    let unavailable = |what: &str, error: &dyn std::fmt::Display| {
        StoreError::Unavailable(format!("{what}: {error}"))
    };
    if !is_identifier(&settings.keyspace) || settings.keyspace.contains('-') {
        return Err(StoreError::Unavailable(format!(
            "invalid keyspace name {:?}",
            settings.keyspace
        )));
    }
    let mut policy = DefaultPolicy::builder();
    if !settings.local_datacenter.is_empty() {
        policy = policy.prefer_datacenter(settings.local_datacenter.clone());
    }
    let profile = ExecutionProfile::builder()
        .consistency(settings.consistency.into())
        .request_timeout(Some(settings.request_timeout))
        .load_balancing_policy(policy.build())
        .build();
    let mut builder = SessionBuilder::new()
        .known_nodes(
            settings
                .nodes
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty()),
        )
        .connection_timeout(settings.connect_timeout)
        .default_execution_profile_handle(profile.into_handle());
    if !settings.username.is_empty() {
        let password = settings
            .password
            .as_ref()
            .map(Secret::expose)
            .unwrap_or_default();
        builder = builder.user(settings.username.clone(), password.to_owned());
    }
    let session = builder
        .build()
        .await
        .map_err(|e| unavailable("connect", &e))?;
    migrate(&session, settings).await?;
    let prepare = |cql: &str| {
        let session = &session;
        let cql = cql.to_owned();
        async move {
            session
                .prepare(cql)
                .await
                .map_err(|e| unavailable("prepare", &e))
        }
    };
    let logged = |statements: [PreparedStatement; 2]| {
        let mut batch = Batch::new(BatchType::Logged);
        for statement in statements {
            batch.append_statement(statement);
        }
        batch
    };
    Ok(Connected {
        select_all: prepare("SELECT url, added_at FROM subscriptions_by_user WHERE user_id = ?")
            .await?,
        select_one: prepare(
            "SELECT added_at FROM subscriptions_by_user WHERE user_id = ? AND url = ?",
        )
        .await?,
        subscribe: Logged(logged([
            prepare("INSERT INTO subscriptions_by_user (user_id, url, added_at) VALUES (?, ?, ?)")
                .await?,
            prepare("INSERT INTO subscribers_by_feed (url, user_id) VALUES (?, ?)").await?,
        ])),
        unsubscribe: Logged(logged([
            prepare("DELETE FROM subscriptions_by_user WHERE user_id = ? AND url = ?").await?,
            prepare("DELETE FROM subscribers_by_feed WHERE url = ? AND user_id = ?").await?,
        ])),
        select_subscribers: prepare("SELECT user_id FROM subscribers_by_feed WHERE url = ?")
            .await?,
        select_feed: prepare(&format!(
            "SELECT {FEED_COLUMNS} FROM feeds_by_url WHERE url = ?"
        ))
        .await?,
        insert_feed: prepare(&format!(
            "INSERT INTO feeds_by_url ({FEED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .await?,
        delete_feed: prepare("DELETE FROM feeds_by_url WHERE url = ?").await?,
        scan_subscribed: prepare("SELECT DISTINCT url FROM subscribers_by_feed").await?,
        scan_schedule: prepare("SELECT url, next_refresh, gone FROM feeds_by_url").await?,
        session,
    })
}

/// Creates the keyspace, switches the session to it, and applies every migration not yet
/// recorded in `schema_version`. Every statement is idempotent (`IF NOT EXISTS`), so a
/// migration interrupted half-way, or run by two middle tiers starting together, is safe to run
/// again.
async fn migrate(session: &Session, settings: &CassandraSettings) -> Result<(), StoreError> {
    let failed =
        |error: &dyn std::fmt::Display| StoreError::Unavailable(format!("schema: {error}"));
    let create_keyspace = format!(
        "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {}",
        settings.keyspace,
        settings.replication()?
    );
    session
        .query_unpaged(create_keyspace, ())
        .await
        .map_err(|e| failed(&e))?;
    session
        .await_schema_agreement()
        .await
        .map_err(|e| failed(&e))?;
    session
        .use_keyspace(&settings.keyspace, false)
        .await
        .map_err(|e| failed(&e))?;
    session
        .query_unpaged(
            "CREATE TABLE IF NOT EXISTS schema_version \
             (version int PRIMARY KEY, name text, applied_at timestamp)",
            (),
        )
        .await
        .map_err(|e| failed(&e))?;
    session
        .await_schema_agreement()
        .await
        .map_err(|e| failed(&e))?;
    let applied: Vec<i32> = session
        .query_unpaged("SELECT version FROM schema_version", ())
        .await
        .map_err(|e| failed(&e))?
        .into_rows_result()
        .map_err(|e| failed(&e))?
        .rows::<(i32,)>()
        .map_err(|e| failed(&e))?
        .map(|row| row.map(|(version,)| version))
        .collect::<Result<_, _>>()
        .map_err(|e| failed(&e))?;
    for (version, name, cql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        for statement in cql_statements(cql) {
            session
                .query_unpaged(statement, ())
                .await
                .map_err(|e| failed(&e))?;
        }
        session
            .await_schema_agreement()
            .await
            .map_err(|e| failed(&e))?;
        session
            .query_unpaged(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, Utc::now()),
            )
            .await
            .map_err(|e| failed(&e))?;
        tracing::info!(version, name, "applied schema migration");
    }
    Ok(())
}

/// The statements of a CQL file: `--` comments dropped, split on `;`.
fn cql_statements(cql: &str) -> Vec<String> {
    let without_comments: String = cql
        .lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

fn query_failed(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

#[async_trait]
impl SubscriptionStore for CassandraStore {
    async fn subscriptions(&self, user: &UserId) -> Result<Vec<FeedUrl>, StoreError> {
        let connected = self.session()?;
        let result = connected
            .session
            .execute_unpaged(&connected.select_all, (user.as_str(),))
            .await
            .map_err(query_failed)?
            .into_rows_result()
            .map_err(query_failed)?;
        let mut rows: Vec<(DateTime<Utc>, String)> = result
            .rows::<(String, Option<DateTime<Utc>>)>()
            .map_err(query_failed)?
            .map(|row| row.map(|(url, added_at)| (added_at.unwrap_or_default(), url)))
            .collect::<Result<_, _>>()
            .map_err(query_failed)?;
        rows.sort();
        // Rows were validated on the way in; one that no longer parses is skipped, not fatal.
        Ok(rows
            .into_iter()
            .filter_map(|(_, url)| FeedUrl::parse(&url).ok())
            .collect())
    }

    async fn subscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError> {
        // Read, then write: the partition is small, and two racing subscribes of the same URL
        // write the same rows (the later `added_at` wins), so the race is harmless.
        let existing = self.subscriptions(user).await?;
        if existing.contains(url) {
            return Ok(false);
        }
        if existing.len() >= MAX_SUBSCRIPTIONS_PER_USER {
            return Err(StoreError::TooManySubscriptions(MAX_SUBSCRIPTIONS_PER_USER));
        }
        let connected = self.session()?;
        let values = (
            (user.as_str(), url.as_str(), Utc::now()),
            (url.as_str(), user.as_str()),
        );
        connected
            .session
            .batch(&connected.subscribe.0, values)
            .await
            .map_err(query_failed)?;
        Ok(true)
    }

    async fn unsubscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError> {
        let connected = self.session()?;
        let found = added_at(connected, user, url).await?.is_some();
        if found {
            let values = ((user.as_str(), url.as_str()), (url.as_str(), user.as_str()));
            connected
                .session
                .batch(&connected.unsubscribe.0, values)
                .await
                .map_err(query_failed)?;
        }
        Ok(found)
    }
}

/// When `user` subscribed to `url`, if they did.
async fn added_at(
    connected: &Connected,
    user: &UserId,
    url: &FeedUrl,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let result = connected
        .session
        .execute_unpaged(&connected.select_one, (user.as_str(), url.as_str()))
        .await
        .map_err(query_failed)?
        .into_rows_result()
        .map_err(query_failed)?;
    let row = result
        .maybe_first_row::<(Option<DateTime<Utc>>,)>()
        .map_err(query_failed)?;
    Ok(row.map(|(at,)| at.unwrap_or_default()))
}

/// The columns of `feeds_by_url`, in the order of [`FeedRow`] and of `insert_feed`'s values.
const FEED_COLUMNS: &str = "url, title, items, etag, last_modified, http_status, last_attempt, \
                            last_success, last_error, consecutive_errors, gone, next_refresh";

#[derive(DeserializeRow)]
struct FeedRow {
    url: String,
    title: Option<String>,
    items: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
    http_status: Option<i32>,
    last_attempt: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
    last_error: Option<String>,
    consecutive_errors: Option<i32>,
    gone: Option<bool>,
    next_refresh: Option<DateTime<Utc>>,
}

impl FeedRow {
    fn into_state(self) -> Option<FeedState> {
        let url = FeedUrl::parse(&self.url).ok()?;
        // Items were serialized by us; a row that no longer decodes shows no items until the
        // next refresh rewrites it.
        let items: Vec<Item> = self
            .items
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        Some(FeedState {
            url,
            title: self.title,
            items,
            etag: self.etag,
            last_modified: self.last_modified,
            http_status: self.http_status.and_then(|s| u16::try_from(s).ok()),
            last_attempt: self.last_attempt,
            last_success: self.last_success,
            last_error: self.last_error,
            consecutive_errors: self
                .consecutive_errors
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            gone: self.gone.unwrap_or(false),
            next_refresh: self.next_refresh.unwrap_or_default(),
        })
    }
}

#[async_trait]
impl FeedStore for CassandraStore {
    async fn feed_states(&self, urls: &[FeedUrl]) -> Result<Vec<Option<FeedState>>, StoreError> {
        let connected = self.session()?;
        // One single-partition read per feed, concurrently: each goes straight to its replicas.
        let reads = urls.iter().map(|url| async move {
            let result = connected
                .session
                .execute_unpaged(&connected.select_feed, (url.as_str(),))
                .await
                .map_err(query_failed)?
                .into_rows_result()
                .map_err(query_failed)?;
            let row = result.maybe_first_row::<FeedRow>().map_err(query_failed)?;
            Ok::<_, StoreError>(row.and_then(FeedRow::into_state))
        });
        futures::future::try_join_all(reads).await
    }

    async fn save_feed_state(&self, state: &FeedState) -> Result<(), StoreError> {
        let connected = self.session()?;
        let items = serde_json::to_string(&state.items).map_err(query_failed)?;
        let values = (
            state.url.as_str(),
            state.title.as_deref(),
            items,
            state.etag.as_deref(),
            state.last_modified.as_deref(),
            state.http_status.map(i32::from),
            state.last_attempt,
            state.last_success,
            state.last_error.as_deref(),
            i32::try_from(state.consecutive_errors).unwrap_or(i32::MAX),
            state.gone,
            state.next_refresh,
        );
        connected
            .session
            .execute_unpaged(&connected.insert_feed, values)
            .await
            .map_err(query_failed)?;
        Ok(())
    }

    async fn scheduled_feeds(&self) -> Result<Vec<Scheduled>, StoreError> {
        let connected = self.session()?;
        let subscribed: Vec<(String,)> = connected
            .session
            .execute_iter(connected.scan_subscribed.clone(), ())
            .await
            .map_err(query_failed)?
            .rows_stream::<(String,)>()
            .map_err(query_failed)?
            .try_collect()
            .await
            .map_err(query_failed)?;
        let mut schedule: std::collections::HashMap<String, (Option<DateTime<Utc>>, bool)> =
            connected
                .session
                .execute_iter(connected.scan_schedule.clone(), ())
                .await
                .map_err(query_failed)?
                .rows_stream::<(String, Option<DateTime<Utc>>, Option<bool>)>()
                .map_err(query_failed)?
                .map_ok(|(url, next, gone)| (url, (next, gone.unwrap_or(false))))
                .try_collect()
                .await
                .map_err(query_failed)?;
        Ok(subscribed
            .into_iter()
            .filter_map(|(url,)| {
                let (next_refresh, gone) = schedule.remove(&url).unwrap_or((None, false));
                Some(Scheduled {
                    url: FeedUrl::parse(&url).ok()?,
                    next_refresh,
                    gone,
                })
            })
            .collect())
    }

    async fn move_feed(&self, from: &FeedUrl, to: &FeedUrl) -> Result<(), StoreError> {
        let connected = self.session()?;
        let users: Vec<(String,)> = connected
            .session
            .execute_unpaged(&connected.select_subscribers, (from.as_str(),))
            .await
            .map_err(query_failed)?
            .into_rows_result()
            .map_err(query_failed)?
            .rows::<(String,)>()
            .map_err(query_failed)?
            .collect::<Result<_, _>>()
            .map_err(query_failed)?;
        for (user,) in users {
            let Ok(user) = UserId::parse(&user) else {
                continue;
            };
            // Keep the feed's place in the user's list.
            if let Some(at) = added_at(connected, &user, from).await? {
                let values = (
                    (user.as_str(), to.as_str(), at),
                    (to.as_str(), user.as_str()),
                );
                connected
                    .session
                    .batch(&connected.subscribe.0, values)
                    .await
                    .map_err(query_failed)?;
            }
            let values = (
                (user.as_str(), from.as_str()),
                (from.as_str(), user.as_str()),
            );
            connected
                .session
                .batch(&connected.unsubscribe.0, values)
                .await
                .map_err(query_failed)?;
        }
        connected
            .session
            .execute_unpaged(&connected.delete_feed, (from.as_str(),))
            .await
            .map_err(query_failed)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cql_files_split_into_statements_without_comments() {
        let statements = cql_statements(
            "-- a comment\nCREATE TABLE IF NOT EXISTS t (a int PRIMARY KEY); -- x\n\n",
        );
        assert_eq!(
            statements,
            ["CREATE TABLE IF NOT EXISTS t (a int PRIMARY KEY)"]
        );
        for (_, _, cql) in MIGRATIONS {
            assert!(
                cql_statements(cql)
                    .iter()
                    .all(|s| s.contains("IF NOT EXISTS ")),
                "idempotent DDL only"
            );
        }
    }

    #[test]
    fn replication_follows_the_settings() {
        let mut settings = CassandraSettings::default();
        assert_eq!(
            settings.replication().expect("simple"),
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        );
        settings.datacenters = "eu_west:3, us-east:2".to_owned();
        assert_eq!(
            settings.replication().expect("nts"),
            "{'class': 'NetworkTopologyStrategy', 'eu_west': 3, 'us-east': 2}"
        );
        settings.datacenters = "eu';DROP:3".to_owned();
        assert!(
            settings.replication().is_err(),
            "names go into DDL, so they are checked"
        );
    }
}
