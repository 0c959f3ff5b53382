//! The registry server's settings, loaded by [`platform::config::load`] as `registry`.
//!
//! Every field has a default, so a registry started with no configuration listens where the
//! other services look for it (`127.0.0.1:8761`) and behaves like a single Eureka server.
//! Durations are human-readable (`90s`, `250ms`), e.g. `RSS_LEASE__DURATION=2s`.

use std::time::Duration;

pub use platform::config::ServerSettings;
use platform::config::{Secret, SecretUrl};
use serde::{Deserialize, Serialize};

/// Eureka's customary port, so Eureka clients find us without configuration.
pub const DEFAULT_PORT: u16 = 8761;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct Settings {
    /// Where the API listens (`[server]`, `RSS_SERVER__PORT`).
    pub server: ServerSettings,
    /// Where the dashboard, `/status`, `/metrics` and `/admin/config` are served (`[admin]`,
    /// `RSS_ADMIN__PORT`): loopback, port 8762, unless set.
    pub admin: platform::config::AdminSettings,
    pub lease: LeaseSettings,
    pub self_preservation: SelfPreservationSettings,
    pub replication: ReplicationSettings,
    /// `[limits]`: how much one request and one registration may hold.
    pub limits: RecordLimits,
    /// `[auth]`: who may read, register, override and replicate.
    pub auth: AuthSettings,
    /// `[log]`: format and level.
    pub log: platform::telemetry::LogSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: ServerSettings::localhost(DEFAULT_PORT),
            admin: platform::config::AdminSettings::default(),
            lease: LeaseSettings::default(),
            self_preservation: SelfPreservationSettings::default(),
            replication: ReplicationSettings::default(),
            limits: RecordLimits::default(),
            auth: AuthSettings::default(),
            log: platform::telemetry::LogSettings::default(),
        }
    }
}

/// Why the registry refuses its settings at start-up.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "no registry credentials are configured (RSS_AUTH__SERVICES, RSS_AUTH__OPERATORS, \
         RSS_AUTH__PEERS) and RSS_ENV=prod: without them anyone who reaches the registry can \
         register an impostor or take real instances out of service \
         (deploy/mint-registry-credentials.sh mints a set)"
    )]
    CredentialsRequiredInProd,
}

impl Settings {
    /// Refuses combinations that must never run; `environment` is `$RSS_ENV`.
    pub fn check(&self, environment: Option<&str>) -> Result<(), SettingsError> {
        if environment == Some("prod") && !self.auth.is_configured() {
            return Err(SettingsError::CredentialsRequiredInProd);
        }
        Ok(())
    }
}

impl platform::config::Configuration for Settings {
    /// Only the log level: leases and replication shape state the registry already holds.
    const DYNAMIC: &'static [&'static str] = &["log.level"];

    fn validate(&self) -> Result<(), platform::config::InvalidSetting> {
        platform::config::validate_log(&self.log)?;
        let threshold = self.self_preservation.threshold;
        if !(0.0..=1.0).contains(&threshold) {
            return Err(platform::config::InvalidSetting::new(
                "self_preservation.threshold",
                format!("{threshold} is not a share between 0 and 1"),
            ));
        }
        Ok(())
    }
}

/// Lease terms (`[lease]`, `RSS_LEASE__DURATION`), Eureka's defaults unless set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct LeaseSettings {
    /// How long an instance stays registered without renewing, unless it asks for its own
    /// duration (`leaseInfo.durationInSecs`).
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// How often expired leases are looked for; an instance can outlive its lease by this much.
    #[serde(with = "humantime_serde")]
    pub eviction_interval: Duration,
    /// How often clients are expected to renew: reported as `leaseInfo.renewalIntervalInSecs`
    /// for instances that do not say. The server does not enforce it.
    #[serde(with = "humantime_serde")]
    pub renewal_interval: Duration,
    /// How long a change stays in `GET /apps/delta` (Eureka's `retentionTimeInMSInDeltaQueue`):
    /// clients fetching deltas less often than this miss changes and fall back to a full fetch.
    #[serde(with = "humantime_serde")]
    pub delta_retention: Duration,
    /// The longest lease an instance may ask for: a longer `durationInSecs` is cut to this, so
    /// no registration outlives its instance for long.
    #[serde(with = "humantime_serde")]
    pub max_duration: Duration,
    /// How far ahead of this node's clock a `lastDirtyTimestamp` may be; further is refused
    /// (400), since the copy with the highest timestamp wins every later update.
    #[serde(with = "humantime_serde")]
    pub max_clock_skew: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings {
            duration: Duration::from_secs(90),
            eviction_interval: Duration::from_secs(60),
            renewal_interval: Duration::from_secs(30),
            delta_retention: Duration::from_secs(180),
            max_duration: Duration::from_secs(600),
            max_clock_skew: Duration::from_secs(300),
        }
    }
}

/// `[auth]`: the registry's principals and who may read (see [`crate::auth`]).
///
/// Each role is a comma-separated list of `name:secret` (`RSS_AUTH__SERVICES=
/// "middletier:<secret>,edge:<secret>"`); a name listed twice has two accepted secrets. The
/// lists are secrets themselves: set them from the environment, never in a file of `deploy/`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthSettings {
    /// Whether reads (`GET /apps`, the dashboard) need credentials.
    pub reads: ReadAccess,
    /// Services: register, renew and cancel their own instances.
    pub services: Secret,
    /// Operators: status overrides, metadata, cancelling any instance.
    pub operators: Secret,
    /// Other registry nodes: replication.
    pub peers: Secret,
}

/// Who may read the registry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadAccess {
    /// Anyone who reaches the port (a developer's browser on the dashboard).
    Open,
    /// Any configured principal; everyone else gets 401.
    #[default]
    Authenticated,
}

impl AuthSettings {
    /// Whether any principal is configured; without one the registry is open.
    pub fn is_configured(&self) -> bool {
        [&self.services, &self.operators, &self.peers]
            .iter()
            .any(|list| !list.expose().trim().is_empty())
    }
}

/// How much one request and one registration may hold (`[limits]`): the registry keeps
/// everything in memory and answers every read with all of it, so each is bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct RecordLimits {
    /// Largest request body (a registration, a replication batch); larger answers 413.
    pub max_body_bytes: usize,
    /// Most instances one application may register; a new one beyond answers 400.
    pub max_instances_per_app: usize,
    /// Most metadata entries one instance may carry (its own and its data centre's).
    pub max_metadata_entries: usize,
    /// Most bytes of metadata keys and values one instance may carry.
    pub max_metadata_bytes: usize,
}

impl Default for RecordLimits {
    fn default() -> Self {
        RecordLimits {
            // A batch of 250 replicated registrations fits comfortably.
            max_body_bytes: 1024 * 1024,
            max_instances_per_app: 1000,
            max_metadata_entries: 64,
            max_metadata_bytes: 16 * 1024,
        }
    }
}

/// Self-preservation (`[self_preservation]`): when too many leases lapse at once the fault is
/// more likely between the registry and its clients than in the clients, so eviction stops.
///
/// Unlike Eureka, which compares renewals per minute with the renewals it expects (so it needs
/// minute-long windows and breaks with short leases), this compares the instances whose lease
/// is live with the instances the registry expects to be live: every registered one plus every
/// one evicted within `window`. Leases may be seconds long; the safety is the same: within any
/// `window` at most `1 - threshold` of the registry (and always at least one instance, so a
/// small registry still drops a single crashed instance) can be evicted.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct SelfPreservationSettings {
    /// Off, every expired lease is evicted however many expire together.
    pub enabled: bool,
    /// Share of expected instances that must hold a live lease for eviction to go on
    /// (Eureka's `renewalPercentThreshold`).
    pub threshold: f64,
    /// How long an evicted instance still counts as expected (Eureka recomputes its expected
    /// renewals every 15 minutes).
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

impl Default for SelfPreservationSettings {
    fn default() -> Self {
        SelfPreservationSettings {
            enabled: true,
            threshold: 0.85,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Peer replication (`[replication]`): the other registry nodes of this cluster.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct ReplicationSettings {
    /// The other nodes' Eureka base URLs, comma-separated (empty: a single node). Changes made
    /// by clients here are replicated to each; at start-up the registry copies the first that
    /// answers. Each URL carries this node's peer credentials as its user info
    /// (`http://peer:<secret>@registry-2:8761/eureka/v2/`); shown with passwords redacted.
    pub peers: SecretUrl,
    /// Most changes sent to a peer in one `POST /peerreplication/batch` (Eureka: 250).
    pub batch_size: usize,
    /// How long a change may wait for others to share its batch (Eureka: up to 500 ms). Short
    /// by default: replication delay is propagation delay for clients of the other nodes.
    #[serde(with = "humantime_serde")]
    pub batch_window: Duration,
    /// Changes queued for one peer at most; beyond it the oldest are dropped (the peer catches
    /// up as renewals it does not know answer 404 and are replicated as registrations).
    pub queue_capacity: usize,
    /// How long start-up waits for a peer to copy the registry from before serving reads
    /// alone (reads answer 503 until then, so clients use another node).
    #[serde(with = "humantime_serde")]
    pub sync_timeout: Duration,
}

impl Default for ReplicationSettings {
    fn default() -> Self {
        ReplicationSettings {
            peers: SecretUrl::default(),
            batch_size: 250,
            batch_window: Duration::from_millis(10),
            queue_capacity: 10_000,
            sync_timeout: Duration::from_secs(5),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn empty_configuration_yields_eureka_defaults() {
        let settings: Settings = serde_json::from_str("{}").unwrap();
        assert_eq!(settings.server.port, 8761);
        assert_eq!(settings.server.host, "127.0.0.1");
        assert_eq!(settings.lease.duration, Duration::from_secs(90));
        assert_eq!(settings.lease.eviction_interval, Duration::from_secs(60));
        assert_eq!(settings.lease.renewal_interval, Duration::from_secs(30));
        assert_eq!(settings.lease.delta_retention, Duration::from_secs(180));
        assert!(settings.self_preservation.enabled);
        assert!((settings.self_preservation.threshold - 0.85).abs() < f64::EPSILON);
        assert_eq!(settings.replication.batch_size, 250);
        assert!(settings.replication.peers.expose().is_empty());
    }

    #[test]
    fn durations_are_human_readable() {
        let settings: Settings =
            serde_json::from_str(r#"{"lease": {"duration": "2s", "eviction_interval": "250ms"}}"#)
                .unwrap();
        assert_eq!(settings.lease.duration, Duration::from_secs(2));
        assert_eq!(settings.lease.eviction_interval, Duration::from_millis(250));
        assert_eq!(settings.lease.renewal_interval, Duration::from_secs(30));
    }

    #[test]
    fn defaults_survive_the_serialize_round_trip_config_loading_makes() {
        // `platform::config::load` serializes the defaults as its bottom layer.
        let text = serde_json::to_string(&Settings::default()).unwrap();
        let back: Settings = serde_json::from_str(&text).unwrap();
        assert_eq!(back.lease, LeaseSettings::default());
        assert_eq!(back.self_preservation, SelfPreservationSettings::default());
        assert_eq!(back.replication, ReplicationSettings::default());
        assert_eq!(back.server, ServerSettings::localhost(DEFAULT_PORT));
    }
}
