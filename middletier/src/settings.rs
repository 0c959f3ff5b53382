//! The middle tier's configuration (see `platform::config` for how it is layered).

use serde::{Deserialize, Serialize};

use platform::config::{AdminSettings, Secret, ServerSettings};
use registry_client::ClientSettings;

use crate::chaos::ChaosSettings;
use crate::fetch::FetchSettings;
use crate::refresh::RefreshSettings;
use crate::retention::RetentionSettings;
use crate::service::AccountSettings;
use crate::store::CassandraSettings;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    /// `[admin]`: where `/metrics`, `/admin/config` and `/chaos` are served: loopback, port
    /// 9192, unless set.
    #[serde(default)]
    pub admin: AdminSettings,
    pub registry: ClientSettings,
    pub instance: InstanceSettings,
    pub store: StoreSettings,
    /// Used when `store.kind` is `cassandra`.
    pub cassandra: CassandraSettings,
    pub fetch: FetchSettings,
    pub refresh: RefreshSettings,
    /// `[retention]`: what each feed's item history keeps (starred items always).
    #[serde(default)]
    pub retention: RetentionSettings,
    /// Fault injection for demos and tests; off unless `chaos.enabled`.
    #[serde(default)]
    pub chaos: ChaosSettings,
    /// `[log]`: format and level.
    #[serde(default)]
    pub log: platform::telemetry::LogSettings,
    /// `[api]`: who may call the API.
    #[serde(default)]
    pub api: ApiSettings,
    /// `[accounts]`: bounds on what users keep here.
    #[serde(default)]
    pub accounts: AccountSettings,
    /// `[tls]`: the deployment CA and this middle tier's certificate; when set, the API is
    /// served over HTTPS to callers with an `edge` certificate only (see `platform::tls`).
    #[serde(default)]
    pub tls: platform::tls::TlsSettings,
}

/// `[api]` settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ApiSettings {
    /// The service token every `/middletier/...` call must carry (`Authorization: Bearer`);
    /// `None`: no check (development). Outside `local` and `test` it is required, at least
    /// 32 bytes and not a placeholder (`platform::config::check_service_token`).
    #[serde(default, skip_serializing)]
    pub token: Option<Secret>,
    /// A second token accepted while the token is rotated (see `docs/security.md`); same
    /// rules as `token` when set.
    #[serde(default, skip_serializing)]
    pub next_token: Option<Secret>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Without a strong token and certificates, anyone who reaches the middle tier's port
    /// could read and change every user's data.
    #[error(transparent)]
    Identity(#[from] platform::config::IdentityError),
}

impl Settings {
    /// Refuses combinations that must never run; `environment` is `$RSS_ENV`.
    pub fn check(&self, environment: Option<&str>) -> Result<(), SettingsError> {
        platform::config::check_service_token(
            self.api.token.as_ref(),
            "RSS_API__TOKEN",
            environment,
        )?;
        if self.api.next_token.is_some() {
            platform::config::check_service_token(
                self.api.next_token.as_ref(),
                "RSS_API__NEXT_TOKEN",
                environment,
            )?;
        }
        platform::config::check_tls(&self.tls, environment)?;
        Ok(())
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings::localhost(9191),
            admin: AdminSettings::default(),
            registry: ClientSettings::default(),
            instance: InstanceSettings::default(),
            store: StoreSettings::default(),
            cassandra: CassandraSettings::default(),
            fetch: FetchSettings::default(),
            refresh: RefreshSettings::default(),
            retention: RetentionSettings::default(),
            chaos: ChaosSettings::default(),
            log: platform::telemetry::LogSettings::default(),
            api: ApiSettings::default(),
            accounts: AccountSettings::default(),
            tls: platform::tls::TlsSettings::default(),
        }
    }
}

impl platform::config::Configuration for Settings {
    /// Refresh scheduling (a shorter scan interval applies at once), the retention policy and
    /// the log level.
    const DYNAMIC: &'static [&'static str] = &["log.level", "refresh", "retention"];

    fn validate(&self) -> Result<(), platform::config::InvalidSetting> {
        use platform::config::InvalidSetting;
        platform::config::validate_log(&self.log)?;
        if self.accounts.max_sessions_per_user == 0 {
            return Err(InvalidSetting::new(
                "accounts.max_sessions_per_user",
                "must be at least 1: nobody could stay signed in",
            ));
        }
        if self.accounts.max_subscriptions_per_user == 0 {
            return Err(InvalidSetting::new(
                "accounts.max_subscriptions_per_user",
                "must be at least 1: nobody could subscribe to a feed",
            ));
        }
        if self.store.kind == StoreKind::Sqlite && self.store.path.as_os_str().is_empty() {
            return Err(InvalidSetting::new(
                "store.path",
                "must name the database file when store.kind is sqlite, such as data/rss.db",
            ));
        }
        self.retention.validate()?;
        let refresh = &self.refresh;
        if refresh.scan_interval.is_zero() {
            return Err(InvalidSetting::new(
                "refresh.scan_interval",
                "must be longer than 0s",
            ));
        }
        if refresh.min_interval > refresh.max_interval {
            return Err(InvalidSetting::new(
                "refresh.min_interval",
                format!(
                    "{:?} is longer than refresh.max_interval ({:?})",
                    refresh.min_interval, refresh.max_interval
                ),
            ));
        }
        Ok(())
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

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoreSettings {
    pub kind: StoreKind,
    /// The database file when `kind` is `sqlite`, relative to the working directory unless
    /// absolute; its directory is created (0700) and the file (0600) when missing.
    #[serde(default = "StoreSettings::default_path")]
    pub path: std::path::PathBuf,
}

impl StoreSettings {
    fn default_path() -> std::path::PathBuf {
        std::path::PathBuf::from("data/rss.db")
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            kind: StoreKind::default(),
            path: Self::default_path(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// In this process's memory: lost on restart, not shared between middle tiers.
    #[default]
    Memory,
    /// One SQLite file (`store.path`): durable, for a middle tier alone on one machine.
    Sqlite,
    /// Apache Cassandra (`[cassandra]` settings): shared by every middle tier, durable.
    Cassandra,
}
