//! The middle tier's configuration (see `platform::config` for how it is layered).

use serde::{Deserialize, Serialize};

use platform::config::ServerSettings;
use registry::client::ClientSettings;

use crate::chaos::ChaosSettings;
use crate::fetch::FetchSettings;
use crate::refresh::RefreshSettings;
use crate::store::CassandraSettings;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub registry: ClientSettings,
    pub instance: InstanceSettings,
    pub store: StoreSettings,
    /// Used when `store.kind` is `cassandra`.
    pub cassandra: CassandraSettings,
    pub fetch: FetchSettings,
    pub refresh: RefreshSettings,
    /// Fault injection for demos and tests; off unless `chaos.enabled`.
    #[serde(default)]
    pub chaos: ChaosSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings::localhost(9191),
            registry: ClientSettings::default(),
            instance: InstanceSettings::default(),
            store: StoreSettings::default(),
            cassandra: CassandraSettings::default(),
            fetch: FetchSettings::default(),
            refresh: RefreshSettings::default(),
            chaos: ChaosSettings::default(),
        }
    }
}

/// How this service names itself in the registry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstanceSettings {
    pub app: String,
    pub vip: String,
}

impl Default for InstanceSettings {
    fn default() -> Self {
        Self {
            app: "MIDDLETIER".to_owned(),
            vip: "middletier".to_owned(),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StoreSettings {
    pub kind: StoreKind,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// In this process's memory: lost on restart, not shared between middle tiers.
    #[default]
    Memory,
    /// Apache Cassandra (`[cassandra]` settings): shared by every middle tier, durable.
    Cassandra,
}
