//! The edge's configuration (see `platform::config` for how it is layered).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use platform::config::{
    AdminSettings, Configuration, Dynamic, InvalidSetting, Live, ServerSettings,
};
use registry_client::ClientSettings;

use crate::balancer::{BalancerSettings, OutlierSettings};
use crate::stream::StreamSettings;
use crate::upstream::{CommandsSettings, MiddletierSettings, ReadCacheSettings, UpstreamSettings};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    /// `[admin]`: where the dashboard, `/hystrix.stream`, `/metrics` and `/admin/config` are
    /// served: loopback, port 9091, unless set.
    #[serde(default)]
    pub admin: AdminSettings,
    pub registry: ClientSettings,
    pub middletier: MiddletierSettings,
    pub commands: CommandsSettings,
    pub balancer: BalancerSettings,
    pub outlier: OutlierSettings,
    pub read_cache: ReadCacheSettings,
    /// `/hystrix.stream` and the dashboard's streams (on the admin port).
    pub stream: StreamSettings,
    pub ui: UiSettings,
    /// Sign-up, sign-in and sessions, or single-user mode.
    pub accounts: AccountsSettings,
    /// `[log]`: format and level.
    #[serde(default)]
    pub log: platform::telemetry::LogSettings,
    /// `[tls]`: the deployment CA and the edge's certificate; when set, the edge calls middle
    /// tiers over mutual TLS only, and only those proving they are `middletier`.
    #[serde(default)]
    pub tls: platform::tls::TlsSettings,
}

impl Settings {
    /// Refuses combinations that must never run; `environment` is `$RSS_ENV`.
    pub fn check(&self, environment: Option<&str>) -> Result<(), SettingsError> {
        if self.accounts.single_user {
            if environment == Some("prod") {
                return Err(SettingsError::SingleUserInProd);
            }
            middletier_api::domain::UserId::parse(&self.ui.default_user)
                .map_err(|error| SettingsError::DefaultUser(error.to_string()))?;
        }
        platform::config::check_service_token(
            self.middletier.token.as_ref(),
            "RSS_MIDDLETIER__TOKEN",
            environment,
        )?;
        platform::config::check_tls(&self.tls, environment)?;
        Ok(())
    }

    pub fn upstream(&self) -> UpstreamSettings {
        UpstreamSettings {
            middletier: Dynamic::fixed(self.middletier.clone()),
            commands: Dynamic::fixed(self.commands.clone()),
            balancer: self.balancer.clone(),
            outlier: self.outlier.clone(),
            read_cache: self.read_cache.clone(),
        }
    }

    /// [`Settings::upstream`] with the dynamic properties following `live`.
    pub fn live_upstream(live: &Live<Settings>) -> UpstreamSettings {
        UpstreamSettings {
            middletier: live.map(|settings| settings.middletier.clone()),
            commands: live.map(|settings| settings.commands.clone()),
            ..live.get().upstream()
        }
    }
}

impl Configuration for Settings {
    /// Hystrix's and Ribbon's properties that Archaius changed at run time, and the log level.
    const DYNAMIC: &'static [&'static str] = &[
        "log.level",
        "commands.*.timeout",
        "commands.*.concurrency.limiter",
        "commands.*.concurrency.limit",
        "commands.*.concurrency.min_limit",
        "commands.*.concurrency.max_limit",
        "commands.*.concurrency.queue",
        "commands.*.concurrency.queue_timeout",
        "commands.*.breaker.request_volume_threshold",
        "commands.*.breaker.error_threshold_percentage",
        "commands.*.breaker.sleep_window",
        "middletier.max_auto_retries",
        "middletier.max_auto_retries_next_server",
        "middletier.ok_to_retry_on_all_operations",
        "middletier.retry_budget.percent",
        "middletier.retry_budget.min_per_second",
    ];

    fn validate(&self) -> Result<(), InvalidSetting> {
        platform::config::validate_log(&self.log)?;
        let commands = serde_json::to_value(&self.commands).unwrap_or_default();
        let names = commands
            .as_object()
            .map(|c| c.keys().cloned().collect::<Vec<_>>());
        for name in names.unwrap_or_default() {
            let command: crate::resilience::command::CommandSettings =
                match serde_json::from_value(commands[&name].clone()) {
                    Ok(command) => command,
                    Err(_) => continue,
                };
            let key = |field: &str| format!("commands.{name}.{field}");
            if command.timeout.is_zero() {
                return Err(InvalidSetting::new(
                    key("timeout"),
                    "must be longer than 0s",
                ));
            }
            if command.breaker.error_threshold_percentage > 100 {
                return Err(InvalidSetting::new(
                    key("breaker.error_threshold_percentage"),
                    "a percentage: at most 100",
                ));
            }
            if command.breaker.buckets == 0 {
                return Err(InvalidSetting::new(key("breaker.buckets"), "at least 1"));
            }
            let concurrency = &command.concurrency;
            if concurrency.limit == 0 {
                return Err(InvalidSetting::new(
                    key("concurrency.limit"),
                    "at least 1 (0 would refuse every call)",
                ));
            }
            if concurrency.min_limit == 0 {
                return Err(InvalidSetting::new(
                    key("concurrency.min_limit"),
                    "at least 1 (0 would refuse every call)",
                ));
            }
            if concurrency.max_limit < concurrency.min_limit {
                return Err(InvalidSetting::new(
                    key("concurrency.max_limit"),
                    "at least concurrency.min_limit",
                ));
            }
        }
        Ok(())
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings::localhost(9090),
            admin: AdminSettings::default(),
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
            accounts: AccountsSettings::default(),
            log: platform::telemetry::LogSettings::default(),
            tls: platform::tls::TlsSettings::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "RSS_ACCOUNTS__SINGLE_USER=true lets anyone who reaches the edge read and change \
         the default user's feeds without signing in; it is refused when RSS_ENV=prod"
    )]
    SingleUserInProd,
    #[error("RSS_UI__DEFAULT_USER is not a valid user name: {0}")]
    DefaultUser(String),
    /// The service token and the certificates: never sent to, or accepted from, a stranger.
    #[error(transparent)]
    Identity(#[from] platform::config::IdentityError),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UiSettings {
    /// In single-user mode, every visitor reads as this user (as in the recipe).
    pub default_user: String,
    /// Approximate bytes of sanitized item descriptions kept (each is cleaned once while it
    /// stays); publishers decide how long descriptions are, so the cache is bounded in bytes.
    pub max_sanitized_bytes: u64,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            default_user: "default".to_owned(),
            max_sanitized_bytes: 64 * 1024 * 1024,
        }
    }
}

/// `[accounts]`: who may use the reader, and how sessions behave.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountsSettings {
    /// No accounts: every visitor acts as `[ui] default_user` without signing in. For a reader
    /// on your own machine only; refused when `RSS_ENV=prod`.
    pub single_user: bool,
    /// How long a session lasts after sign-in (the cookie's `Max-Age` and the stored expiry).
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
    /// How long this edge trusts a session it checked before asking the middle tier again
    /// (signing out through this edge takes effect at once; through another, within this);
    /// and how long it keeps a user's reading preferences (a change through another edge shows
    /// here within this).
    #[serde(with = "humantime_serde")]
    pub session_cache: Duration,
    /// Mark the session cookie `Secure` (the edge is served over HTTPS).
    pub secure_cookies: bool,
    /// The edge is behind a reverse proxy we run: take the client address from the last
    /// `X-Forwarded-For` entry and HTTPS from `X-Forwarded-Proto` (which also makes the
    /// cookie `Secure`). Off by default, because a client can send those headers itself.
    pub trust_proxy: bool,
    /// Failed sign-ins for one account name from one client address (an IPv6 /64) per window
    /// before sign-in to that name is refused from there (from elsewhere it still works).
    pub max_failures_per_name: u32,
    /// Failed sign-ins from one client address (an IPv6 /64) per window.
    pub max_failures_per_ip: u32,
    /// The fixed window that failures are counted in.
    #[serde(with = "humantime_serde")]
    pub failure_window: Duration,
    /// Sign-up attempts one client address (an IPv6 /64) may make per `failure_window`, each
    /// counted before hashing whatever its outcome, so a script can neither enumerate taken
    /// names, fill the store with accounts nor keep the password hasher busy.
    pub max_signups_per_ip: u32,
}

impl Default for AccountsSettings {
    fn default() -> Self {
        Self {
            single_user: false,
            session_lifetime: Duration::from_secs(30 * 24 * 3600),
            session_cache: Duration::from_secs(5),
            secure_cookies: false,
            trust_proxy: false,
            max_failures_per_name: 5,
            max_failures_per_ip: 20,
            failure_window: Duration::from_secs(15 * 60),
            max_signups_per_ip: 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a production edge needs besides: a strong token and its certificate.
    fn production_ready() -> Settings {
        let mut settings = Settings::default();
        settings.middletier.token = Some(platform::config::Secret::new(
            "q7RxkQ2m9VvB3yT8ZcL1pN4sW6hJ0aFdX",
        ));
        settings.tls = platform::tls::TlsSettings {
            ca: Some("/run/certs/ca.pem".into()),
            cert: Some("/run/certs/edge.pem".into()),
            key: Some("/run/certs/edge.key".into()),
        };
        settings
    }

    #[test]
    fn single_user_mode_is_refused_in_prod() {
        let mut settings = production_ready();
        assert!(
            settings.check(Some("prod")).is_ok(),
            "accounts are fine in prod"
        );
        settings.accounts.single_user = true;
        assert!(settings.check(None).is_ok());
        assert!(settings.check(Some("local")).is_ok());
        let refused = settings.check(Some("prod")).expect_err("refused");
        assert!(refused.to_string().contains("RSS_ENV=prod"), "{refused}");
    }

    #[test]
    fn outside_development_the_edge_needs_a_strong_token_and_certificates() {
        let refused = Settings::default()
            .check(Some("prod"))
            .expect_err("refused");
        assert!(
            refused.to_string().contains("RSS_MIDDLETIER__TOKEN"),
            "{refused}"
        );
        let mut settings = production_ready();
        settings.tls = platform::tls::TlsSettings::default();
        let refused = settings.check(Some("staging")).expect_err("refused");
        assert!(refused.to_string().contains("RSS_TLS__CA"), "{refused}");
        settings.middletier.token = Some(platform::config::Secret::new("change-me"));
        assert!(settings.check(Some("prod")).is_err());
        assert!(settings.check(Some("test")).is_ok());
    }

    #[test]
    fn single_user_mode_needs_a_valid_default_user() {
        let mut settings = Settings::default();
        settings.accounts.single_user = true;
        settings.ui.default_user = "no spaces".to_owned();
        assert!(matches!(
            settings.check(None),
            Err(SettingsError::DefaultUser(_))
        ));
    }
}
