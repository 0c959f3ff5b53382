//! The edge's configuration (see `platform::config` for how it is layered).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use platform::config::ServerSettings;
use registry::client::ClientSettings;

use crate::balancer::{BalancerSettings, OutlierSettings};
use crate::stream::StreamSettings;
use crate::upstream::{CommandsSettings, MiddletierSettings, ReadCacheSettings, UpstreamSettings};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub registry: ClientSettings,
    pub middletier: MiddletierSettings,
    pub commands: CommandsSettings,
    pub balancer: BalancerSettings,
    pub outlier: OutlierSettings,
    pub read_cache: ReadCacheSettings,
    /// `/hystrix.stream` and the dashboard's streams.
    pub stream: StreamSettings,
    pub ui: UiSettings,
}

impl Settings {
    pub fn upstream(&self) -> UpstreamSettings {
        UpstreamSettings {
            middletier: self.middletier.clone(),
            commands: self.commands.clone(),
            balancer: self.balancer.clone(),
            outlier: self.outlier.clone(),
            read_cache: self.read_cache.clone(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings::localhost(9090),
            registry: ClientSettings {
                // A new middle tier gets traffic within a second (Ribbon refreshed every 2 s;
                // Eureka clients every 30 s). One small GET per edge per half second.
                fetch_interval: Duration::from_millis(500),
                ..ClientSettings::default()
            },
            middletier: MiddletierSettings::default(),
            commands: CommandsSettings::default(),
            balancer: BalancerSettings::default(),
            outlier: OutlierSettings::default(),
            read_cache: ReadCacheSettings::default(),
            stream: StreamSettings::default(),
            ui: UiSettings::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UiSettings {
    /// Until accounts exist, every visitor reads as this user (as in the recipe).
    pub default_user: String,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            default_user: "default".to_owned(),
        }
    }
}
