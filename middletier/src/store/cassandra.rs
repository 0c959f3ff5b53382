//! Subscriptions in Apache Cassandra, through the scylla driver (Astyanax's role in the recipe).
//!
//! Data model (designed by query; CQL in `middletier/schema/cassandra/`, applied in order at
//! start-up and recorded in `schema_version`):
//! - `subscriptions_by_user ((user_id), url, added_at)`: one partition per user holds the whole
//!   subscription list, read in one request per page view.
//! - `feeds_by_url` and `item_state_by_user`: the feed cache and per-user reading state, for
//!   nearline refresh and reading state.
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
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::Consistency;
use scylla::statement::prepared::PreparedStatement;
use serde::{Deserialize, Serialize};

use platform::config::Secret;
use platform::health::{Health, Status};
use platform::lifecycle::Shutdown;

use super::{MAX_SUBSCRIPTIONS_PER_USER, StoreError, SubscriptionStore};
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

/// A live session with the statements prepared once.
#[derive(Debug)]
struct Connected {
    session: Session,
    select_all: PreparedStatement,
    select_one: PreparedStatement,
    insert: PreparedStatement,
    delete: PreparedStatement,
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
    let prepare = |cql: &'static str| {
        let session = &session;
        async move {
            session
                .prepare(cql)
                .await
                .map_err(|e| unavailable("prepare", &e))
        }
    };
    Ok(Connected {
        select_all: prepare("SELECT url, added_at FROM subscriptions_by_user WHERE user_id = ?")
            .await?,
        select_one: prepare("SELECT url FROM subscriptions_by_user WHERE user_id = ? AND url = ?")
            .await?,
        insert: prepare(
            "INSERT INTO subscriptions_by_user (user_id, url, added_at) VALUES (?, ?, ?)",
        )
        .await?,
        delete: prepare("DELETE FROM subscriptions_by_user WHERE user_id = ? AND url = ?").await?,
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
        // write the same row (the later `added_at` wins), so the race is harmless.
        let existing = self.subscriptions(user).await?;
        if existing.contains(url) {
            return Ok(false);
        }
        if existing.len() >= MAX_SUBSCRIPTIONS_PER_USER {
            return Err(StoreError::TooManySubscriptions(MAX_SUBSCRIPTIONS_PER_USER));
        }
        let connected = self.session()?;
        connected
            .session
            .execute_unpaged(&connected.insert, (user.as_str(), url.as_str(), Utc::now()))
            .await
            .map_err(query_failed)?;
        Ok(true)
    }

    async fn unsubscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError> {
        let connected = self.session()?;
        let found = connected
            .session
            .execute_unpaged(&connected.select_one, (user.as_str(), url.as_str()))
            .await
            .map_err(query_failed)?
            .into_rows_result()
            .map_err(query_failed)?
            .rows_num()
            > 0;
        if found {
            connected
                .session
                .execute_unpaged(&connected.delete, (user.as_str(), url.as_str()))
                .await
                .map_err(query_failed)?;
        }
        Ok(found)
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
