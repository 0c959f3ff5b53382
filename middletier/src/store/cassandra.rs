//! Subscriptions in Apache Cassandra, through the scylla driver (Astyanax's role in the recipe).
//!
//! Data model (designed by query; CQL in `middletier/schema/cassandra/`, applied in order at
//! start-up and recorded in `schema_version`):
//! - `subscriptions_by_user ((user_id), url, added_at)`: one partition per user holds the whole
//!   subscription list, read in one request per page view.
//! - `subscribers_by_feed ((url), user_id)`: the same relation from the feed's side, written in
//!   the same logged batch; its partition keys are the feeds that need refreshing.
//! - `feeds_by_url ((url), ...)`: the feed cache: items, validators, status and schedule.
//! - `item_state_by_user ((user_id), feed_url, item_id)` and `read_watermarks_by_user ((user_id),
//!   feed_url)`: per-user reading state, two partition reads per page view.
//! - `accounts ((user_id))` and `sessions ((token_hash))`, the latter written with a TTL.
//!
//! Every read decodes what it reads. A middle tier keeps the feeds page views read decoded in
//! front of this store ([`FeedCache`](super::FeedCache)), revalidating them with the small
//! version read this store offers ([`FeedVersions`]).
//!
//! Connection is resilient: [`CassandraStore::start`] returns at once and connects in the
//! background with capped exponential backoff, reporting `STARTING` health until the schema is
//! ready; afterwards a probe keeps health `UP`/`DOWN` in step with Cassandra, and the driver
//! reconnects by itself. Requests made while Cassandra is unreachable fail fast with
//! [`StoreError::Unavailable`] (503), never with wrong data.

use std::collections::HashMap;
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
use scylla::response::query_result::QueryRowsResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::Consistency;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use serde::{Deserialize, Serialize};

use middletier_api::Item;
use middletier_api::domain::{FeedUrl, UserId};
use platform::config::Secret;
use platform::health::{Check, Health, Status};
use platform::lifecycle::Shutdown;

use super::feed_cache::FeedVersions;
use super::{
    AccountRecord, AccountStore, CachedFeed, FeedReading, FeedState, FeedStore, ItemMark,
    MAX_SUBSCRIPTIONS_PER_USER, MarkChange, ReadingStore, Scheduled, SessionRecord, StoreError,
    SubscriptionStore, UserReading, Watermark,
};

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
    (
        4,
        "reading",
        include_str!("../../schema/cassandra/004_reading.cql"),
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
    feed_version: PreparedStatement,
    select_categorized: PreparedStatement,
    select_marks: PreparedStatement,
    select_feed_marks: PreparedStatement,
    select_watermarks: PreparedStatement,
    mark_read: PreparedStatement,
    mark_starred: PreparedStatement,
    copy_mark: PreparedStatement,
    set_watermark: PreparedStatement,
    set_category: PreparedStatement,
    clear_marks: PreparedStatement,
    clear_watermark: PreparedStatement,
    insert_account: PreparedStatement,
    select_account: PreparedStatement,
    insert_session: PreparedStatement,
    select_session: PreparedStatement,
    delete_session: PreparedStatement,
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
        // The store's own readiness check: chaos or other checks keep their verdicts.
        let health = health.check("store", Status::Starting);
        health.set(Status::Starting, Some("connecting to Cassandra".to_owned()));
        tokio::spawn(store.clone().maintain(settings, health, shutdown));
        store
    }

    async fn maintain(self, settings: CassandraSettings, health: Check, shutdown: Shutdown) {
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
    pub async fn probe_once(&self, health: &Check) {
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

    fn connection(&self) -> Result<&Connected, StoreError> {
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
            "INSERT INTO feeds_by_url ({FEED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .await?,
        delete_feed: prepare("DELETE FROM feeds_by_url WHERE url = ?").await?,
        scan_subscribed: prepare("SELECT DISTINCT url FROM subscribers_by_feed").await?,
        scan_schedule: prepare("SELECT url, next_refresh, gone FROM feeds_by_url").await?,
        feed_version: prepare("SELECT last_attempt FROM feeds_by_url WHERE url = ?").await?,
        select_categorized: prepare(
            "SELECT url, added_at, category FROM subscriptions_by_user WHERE user_id = ?",
        )
        .await?,
        select_marks: prepare(
            "SELECT feed_url, item_id, read, starred, updated_at FROM item_state_by_user \
             WHERE user_id = ?",
        )
        .await?,
        select_feed_marks: prepare(
            "SELECT item_id, read, starred, updated_at FROM item_state_by_user \
             WHERE user_id = ? AND feed_url = ?",
        )
        .await?,
        select_watermarks: prepare(
            "SELECT feed_url, up_to, set_at FROM read_watermarks_by_user WHERE user_id = ?",
        )
        .await?,
        mark_read: prepare(
            "UPDATE item_state_by_user SET read = ?, updated_at = ? \
             WHERE user_id = ? AND feed_url = ? AND item_id = ?",
        )
        .await?,
        mark_starred: prepare(
            "UPDATE item_state_by_user SET starred = ? \
             WHERE user_id = ? AND feed_url = ? AND item_id = ?",
        )
        .await?,
        copy_mark: prepare(
            "INSERT INTO item_state_by_user (user_id, feed_url, item_id, read, starred, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .await?,
        set_watermark: prepare(
            "UPDATE read_watermarks_by_user SET up_to = ?, set_at = ? \
             WHERE user_id = ? AND feed_url = ?",
        )
        .await?,
        // A lightweight transaction: an unsubscribe racing this cannot leave a half row behind.
        set_category: prepare(
            "UPDATE subscriptions_by_user SET category = ? WHERE user_id = ? AND url = ? IF EXISTS",
        )
        .await?,
        clear_marks: prepare("DELETE FROM item_state_by_user WHERE user_id = ? AND feed_url = ?")
            .await?,
        clear_watermark: prepare(
            "DELETE FROM read_watermarks_by_user WHERE user_id = ? AND feed_url = ?",
        )
        .await?,
        insert_account: prepare(
            "INSERT INTO accounts (user_id, password_hash, created) VALUES (?, ?, ?) IF NOT EXISTS",
        )
        .await?,
        select_account: prepare(
            "SELECT user_id, password_hash, created FROM accounts WHERE user_id = ?",
        )
        .await?,
        insert_session: prepare(
            "INSERT INTO sessions (token_hash, user_id, expires) VALUES (?, ?, ?) USING TTL ?",
        )
        .await?,
        select_session: prepare("SELECT user_id, expires FROM sessions WHERE token_hash = ?")
            .await?,
        delete_session: prepare("DELETE FROM sessions WHERE token_hash = ?").await?,
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

/// Runs `statement` for one page and reads its rows: the shape of every read here.
async fn query_rows(
    session: &Session,
    statement: &PreparedStatement,
    values: impl SerializeRow,
) -> Result<QueryRowsResult, StoreError> {
    session
        .execute_unpaged(statement, values)
        .await
        .map_err(query_failed)?
        .into_rows_result()
        .map_err(query_failed)
}

#[async_trait]
impl SubscriptionStore for CassandraStore {
    async fn subscriptions(&self, user: &UserId) -> Result<Vec<FeedUrl>, StoreError> {
        let connected = self.connection()?;
        let result =
            query_rows(&connected.session, &connected.select_all, (user.as_str(),)).await?;
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
        let connected = self.connection()?;
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
        let connected = self.connection()?;
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

impl CassandraStore {
    /// Copies `user`'s category, marks and watermark of `from` to `to`.
    async fn move_reading(
        &self,
        connected: &Connected,
        user: &UserId,
        from: &FeedUrl,
        to: &FeedUrl,
    ) -> Result<(), StoreError> {
        let reading = self.reading(user).await?;
        if let Some((_, Some(category))) = reading.subscriptions.iter().find(|(u, _)| u == from) {
            self.set_category(user, to, Some(category)).await?;
        }
        let rows: Vec<MarkRow> = connected
            .session
            .execute_iter(
                connected.select_feed_marks.clone(),
                (user.as_str(), from.as_str()),
            )
            .await
            .map_err(query_failed)?
            .rows_stream::<MarkRow>()
            .map_err(query_failed)?
            .try_collect()
            .await
            .map_err(query_failed)?;
        for row in rows {
            let values = (
                user.as_str(),
                to.as_str(),
                row.item_id,
                row.read,
                row.starred,
                row.updated_at,
            );
            connected
                .session
                .execute_unpaged(&connected.copy_mark, values)
                .await
                .map_err(query_failed)?;
        }
        if let Some(watermark) = reading.feeds.get(from).and_then(|f| f.watermark) {
            self.mark_read_up_to(
                user,
                std::slice::from_ref(to),
                watermark.up_to,
                watermark.set_at,
            )
            .await?;
        }
        Ok(())
    }
}

#[derive(DeserializeRow)]
struct MarkRow {
    item_id: String,
    read: Option<bool>,
    starred: Option<bool>,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(DeserializeRow)]
struct UserMarkRow {
    feed_url: String,
    item_id: String,
    read: Option<bool>,
    starred: Option<bool>,
    updated_at: Option<DateTime<Utc>>,
}

impl MarkRow {
    fn mark(&self) -> ItemMark {
        ItemMark {
            read: self
                .read
                .map(|read| (read, self.updated_at.unwrap_or_default())),
            starred: self.starred.unwrap_or(false),
        }
    }
}

/// One feed's cached state, read from its partition.
async fn read_feed(connected: &Connected, url: &FeedUrl) -> Result<Option<FeedState>, StoreError> {
    let result = query_rows(&connected.session, &connected.select_feed, (url.as_str(),)).await?;
    let row = result.maybe_first_row::<FeedRow>().map_err(query_failed)?;
    Ok(row.and_then(FeedRow::into_state))
}

#[async_trait]
impl FeedVersions for CassandraStore {
    async fn feed_version(&self, url: &FeedUrl) -> Result<Option<DateTime<Utc>>, StoreError> {
        let connected = self.connection()?;
        let result =
            query_rows(&connected.session, &connected.feed_version, (url.as_str(),)).await?;
        let row = result
            .maybe_first_row::<(Option<DateTime<Utc>>,)>()
            .map_err(query_failed)?;
        Ok(row.and_then(|(at,)| at))
    }
}

#[async_trait]
impl ReadingStore for CassandraStore {
    async fn reading(&self, user: &UserId) -> Result<Arc<UserReading>, StoreError> {
        let connected = self.connection()?;
        // The three partitions of this user, read at once.
        let subscriptions = async {
            let result = query_rows(
                &connected.session,
                &connected.select_categorized,
                (user.as_str(),),
            )
            .await?;
            let mut rows: Vec<(DateTime<Utc>, String, Option<String>)> = result
                .rows::<(String, Option<DateTime<Utc>>, Option<String>)>()
                .map_err(query_failed)?
                .map(|row| {
                    row.map(|(url, added_at, category)| {
                        (added_at.unwrap_or_default(), url, category)
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(query_failed)?;
            rows.sort();
            Ok::<_, StoreError>(rows)
        };
        let marks = async {
            connected
                .session
                .execute_iter(connected.select_marks.clone(), (user.as_str(),))
                .await
                .map_err(query_failed)?
                .rows_stream::<UserMarkRow>()
                .map_err(query_failed)?
                .try_collect::<Vec<_>>()
                .await
                .map_err(query_failed)
        };
        let watermarks = async {
            let result = query_rows(
                &connected.session,
                &connected.select_watermarks,
                (user.as_str(),),
            )
            .await?;
            result
                .rows::<(String, Option<DateTime<Utc>>, Option<DateTime<Utc>>)>()
                .map_err(query_failed)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(query_failed)
        };
        let (subscriptions, marks, watermarks) =
            futures::future::try_join3(subscriptions, marks, watermarks).await?;
        let mut feeds: HashMap<FeedUrl, FeedReading> = HashMap::new();
        for row in marks {
            let Ok(url) = FeedUrl::parse(&row.feed_url) else {
                continue;
            };
            let mark = MarkRow {
                item_id: String::new(),
                read: row.read,
                starred: row.starred,
                updated_at: row.updated_at,
            }
            .mark();
            feeds
                .entry(url)
                .or_default()
                .marks
                .insert(row.item_id, mark);
        }
        for (url, up_to, set_at) in watermarks {
            let (Ok(url), Some(up_to)) = (FeedUrl::parse(&url), up_to) else {
                continue;
            };
            feeds.entry(url).or_default().watermark = Some(Watermark {
                up_to,
                set_at: set_at.unwrap_or(up_to),
            });
        }
        Ok(Arc::new(UserReading {
            subscriptions: subscriptions
                .into_iter()
                .filter_map(|(_, url, category)| Some((FeedUrl::parse(&url).ok()?, category)))
                .collect(),
            feeds: feeds
                .into_iter()
                .map(|(url, reading)| (url, Arc::new(reading)))
                .collect(),
        }))
    }

    async fn mark_item(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        item: &str,
        change: MarkChange,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let connected = self.connection()?;
        if added_at(connected, user, feed).await?.is_none() {
            return Err(StoreError::NotSubscribed);
        }
        // Each flag is its own column write, so concurrent changes of the other flag survive.
        if let Some(read) = change.read {
            connected
                .session
                .execute_unpaged(
                    &connected.mark_read,
                    (read, at, user.as_str(), feed.as_str(), item),
                )
                .await
                .map_err(query_failed)?;
        }
        if let Some(starred) = change.starred {
            connected
                .session
                .execute_unpaged(
                    &connected.mark_starred,
                    (starred, user.as_str(), feed.as_str(), item),
                )
                .await
                .map_err(query_failed)?;
        }
        Ok(())
    }

    async fn mark_read_up_to(
        &self,
        user: &UserId,
        feeds: &[FeedUrl],
        up_to: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let connected = self.connection()?;
        let reading = self.reading(user).await?;
        let mut batch = Batch::new(BatchType::Unlogged);
        let mut values = Vec::new();
        for feed in feeds {
            if !reading.subscriptions.iter().any(|(url, _)| url == feed) {
                continue;
            }
            let current = reading.feeds.get(feed).and_then(|f| f.watermark);
            let watermark = Watermark::advanced(current, up_to, at);
            batch.append_statement(connected.set_watermark.clone());
            values.push((
                watermark.up_to,
                watermark.set_at,
                user.as_str(),
                feed.as_str(),
            ));
        }
        if values.is_empty() {
            return Ok(());
        }
        // One partition (the user's): a single-partition batch is one atomic write.
        connected
            .session
            .batch(&batch, values)
            .await
            .map_err(query_failed)?;
        Ok(())
    }

    async fn set_category(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        category: Option<&str>,
    ) -> Result<bool, StoreError> {
        let connected = self.connection()?;
        let result = query_rows(
            &connected.session,
            &connected.set_category,
            (category, user.as_str(), feed.as_str()),
        )
        .await?;
        // A lightweight transaction answers `[applied]` first.
        let applied = result
            .rows::<(bool,)>()
            .ok()
            .and_then(|mut rows| rows.next())
            .and_then(Result::ok)
            .is_some_and(|(applied,)| applied);
        Ok(applied)
    }

    async fn clear_reading(&self, user: &UserId, feed: &FeedUrl) -> Result<(), StoreError> {
        let connected = self.connection()?;
        for statement in [&connected.clear_marks, &connected.clear_watermark] {
            connected
                .session
                .execute_unpaged(statement, (user.as_str(), feed.as_str()))
                .await
                .map_err(query_failed)?;
        }
        Ok(())
    }
}

#[async_trait]
impl AccountStore for CassandraStore {
    async fn create_account(&self, account: &AccountRecord) -> Result<bool, StoreError> {
        let connected = self.connection()?;
        let result = query_rows(
            &connected.session,
            &connected.insert_account,
            (
                account.user.as_str(),
                account.password_hash.as_str(),
                account.created,
            ),
        )
        .await?;
        let applied = result
            .single_row::<(bool, Option<String>, Option<DateTime<Utc>>, Option<String>)>()
            .map(|(applied, ..)| applied)
            .or_else(|_| result.single_row::<(bool,)>().map(|(applied,)| applied))
            .map_err(query_failed)?;
        Ok(applied)
    }

    async fn account(&self, user: &UserId) -> Result<Option<AccountRecord>, StoreError> {
        let connected = self.connection()?;
        let result = query_rows(
            &connected.session,
            &connected.select_account,
            (user.as_str(),),
        )
        .await?;
        let row = result
            .maybe_first_row::<(String, Option<String>, Option<DateTime<Utc>>)>()
            .map_err(query_failed)?;
        Ok(row.and_then(|(name, hash, created)| {
            Some(AccountRecord {
                user: UserId::parse(&name).ok()?,
                password_hash: hash?,
                created: created.unwrap_or_default(),
            })
        }))
    }

    async fn create_session(
        &self,
        token_hash: &str,
        session: &SessionRecord,
    ) -> Result<(), StoreError> {
        let connected = self.connection()?;
        // Cassandra deletes the row when the session expires (rounded up to whole seconds).
        let ttl = (session.expires - Utc::now()).num_seconds().max(0) + 1;
        let ttl = i32::try_from(ttl).unwrap_or(i32::MAX);
        connected
            .session
            .execute_unpaged(
                &connected.insert_session,
                (token_hash, session.user.as_str(), session.expires, ttl),
            )
            .await
            .map_err(query_failed)?;
        Ok(())
    }

    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let connected = self.connection()?;
        let result =
            query_rows(&connected.session, &connected.select_session, (token_hash,)).await?;
        let row = result
            .maybe_first_row::<(Option<String>, Option<DateTime<Utc>>)>()
            .map_err(query_failed)?;
        let Some((Some(user), Some(expires))) = row else {
            return Ok(None);
        };
        if expires <= now {
            // The TTL removes it within a second; don't wait for that.
            self.delete_session(token_hash).await?;
            return Ok(None);
        }
        Ok(UserId::parse(&user)
            .ok()
            .map(|user| SessionRecord { user, expires }))
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let connected = self.connection()?;
        connected
            .session
            .execute_unpaged(&connected.delete_session, (token_hash,))
            .await
            .map_err(query_failed)?;
        Ok(())
    }
}

/// When `user` subscribed to `url`, if they did.
async fn added_at(
    connected: &Connected,
    user: &UserId,
    url: &FeedUrl,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let result = query_rows(
        &connected.session,
        &connected.select_one,
        (user.as_str(), url.as_str()),
    )
    .await?;
    let row = result
        .maybe_first_row::<(Option<DateTime<Utc>>,)>()
        .map_err(query_failed)?;
    Ok(row.map(|(at,)| at.unwrap_or_default()))
}

/// The columns of `feeds_by_url`, in the order of [`FeedRow`] and of `insert_feed`'s values.
const FEED_COLUMNS: &str = "url, title, items, etag, last_modified, http_status, last_attempt, \
                            last_success, last_error, consecutive_errors, gone, next_refresh, \
                            first_seen";

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
    first_seen: Option<HashMap<String, DateTime<Utc>>>,
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
            first_seen: self.first_seen.unwrap_or_default(),
        })
    }
}

#[async_trait]
impl FeedStore for CassandraStore {
    async fn feed_states(&self, urls: &[FeedUrl]) -> Result<Vec<Option<FeedState>>, StoreError> {
        let connected = self.connection()?;
        // One single-partition read per feed, concurrently: each goes straight to its replicas.
        let reads = urls.iter().map(|url| read_feed(connected, url));
        futures::future::try_join_all(reads).await
    }

    async fn cached_feeds(
        &self,
        urls: &[FeedUrl],
    ) -> Result<Vec<Option<Arc<CachedFeed>>>, StoreError> {
        let states = self.feed_states(urls).await?;
        Ok(states
            .into_iter()
            .map(|state| state.map(|state| Arc::new(CachedFeed::new(state))))
            .collect())
    }

    async fn save_feed_state(&self, state: &FeedState) -> Result<(), StoreError> {
        let connected = self.connection()?;
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
            &state.first_seen,
        );
        connected
            .session
            .execute_unpaged(&connected.insert_feed, values)
            .await
            .map_err(query_failed)?;
        Ok(())
    }

    async fn scheduled_feeds(&self) -> Result<Vec<Scheduled>, StoreError> {
        let connected = self.connection()?;
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
        let connected = self.connection()?;
        let users: Vec<(String,)> = query_rows(
            &connected.session,
            &connected.select_subscribers,
            (from.as_str(),),
        )
        .await?
        .rows::<(String,)>()
        .map_err(query_failed)?
        .collect::<Result<_, _>>()
        .map_err(query_failed)?;
        for (user,) in users {
            let Ok(user) = UserId::parse(&user) else {
                continue;
            };
            // Keep the feed's place in the user's list, its category and the reading state
            // (item ids are the feed's own, so they stay valid).
            let already = added_at(connected, &user, to).await?.is_some();
            if !already && let Some(at) = added_at(connected, &user, from).await? {
                let values = (
                    (user.as_str(), to.as_str(), at),
                    (to.as_str(), user.as_str()),
                );
                connected
                    .session
                    .batch(&connected.subscribe.0, values)
                    .await
                    .map_err(query_failed)?;
                self.move_reading(connected, &user, from, to).await?;
            }
            self.clear_reading(&user, from).await?;
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
