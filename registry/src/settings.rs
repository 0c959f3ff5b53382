//! The registry server's settings, loaded by [`platform::config::load`] as `registry`.
//!
//! Every field has a default, so a registry started with no configuration listens where the
//! other services look for it (`127.0.0.1:8761`). Durations are human-readable (`90s`, `250ms`),
//! e.g. `RSS_LEASE__DURATION=2s`.

use std::time::Duration;

pub use platform::config::ServerSettings;
use serde::{Deserialize, Serialize};

/// Eureka's customary port, so Eureka clients find us without configuration.
pub const DEFAULT_PORT: u16 = 8761;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct Settings {
    /// Where the API listens (`[server]`, `RSS_SERVER__PORT`).
    pub server: ServerSettings,
    pub lease: LeaseSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: ServerSettings::localhost(DEFAULT_PORT),
            lease: LeaseSettings::default(),
        }
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
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings {
            duration: Duration::from_secs(90),
            eviction_interval: Duration::from_secs(60),
            renewal_interval: Duration::from_secs(30),
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
        assert_eq!(back.server, ServerSettings::localhost(DEFAULT_PORT));
    }
}
