//! Connecting to Cassandra: at once for tools and tests ([`CassandraStore::connect`]), or in the
//! background for a middle tier starting ([`CassandraStore::start`]), which keeps retrying and
//! then keeps health in step with Cassandra.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;

use platform::config::Secret;
use platform::health::{Check, Health, Status};
use platform::lifecycle::Shutdown;

use super::settings::{CassandraSettings, is_identifier};
use super::statements;
use super::{CassandraStore, Connected, schema};
use crate::store::StoreError;

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
}

/// A session on `settings`' cluster, with the schema up to date and every statement prepared.
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
    schema::migrate(&session, settings).await?;
    statements::prepare(session).await
}
