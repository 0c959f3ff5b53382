//! Layered, typed configuration (the role Archaius played).
//!
//! Each service describes its settings as a `serde` struct whose `Default` is the embedded
//! default, so the three binaries started with no settings at all find each other on localhost.
//! The default is the bottom layer key by key, so setting one key of a section keeps the
//! service's own defaults for the others. On top of it, in order (later wins):
//!
//! 1. `$RSS_CONFIG_DIR/<service>.toml` (the directory defaults to `./config`), if present;
//! 2. `$RSS_CONFIG_DIR/<service>.<environment>.toml` where the environment is `$RSS_ENV`
//!    (`local`, `test`, `prod`, ...), if present;
//! 3. environment variables `RSS_<SECTION>__<KEY>`, e.g. `RSS_SERVER__PORT=9292`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Variables that steer loading itself rather than naming a setting.
const CONFIG_DIR_VAR: &str = "RSS_CONFIG_DIR";
const ENVIRONMENT_VAR: &str = "RSS_ENV";

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration for {service}: {source}")]
pub struct ConfigError {
    service: String,
    #[source]
    source: Box<config::ConfigError>,
}

/// Loads the settings of `service` from the layers described in the module docs.
pub fn load<T>(service: &str) -> Result<T, ConfigError>
where
    T: Default + Serialize + DeserializeOwned,
{
    let error = |source| ConfigError {
        service: service.to_owned(),
        source: Box::new(source),
    };
    let defaults = config::Config::try_from(&T::default()).map_err(error)?;
    let dir = std::env::var_os(CONFIG_DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("config"));
    let mut builder = config::Config::builder()
        .add_source(defaults)
        .add_source(config::File::from(dir.join(format!("{service}.toml"))).required(false));
    if let Ok(environment) = std::env::var(ENVIRONMENT_VAR) {
        builder = builder.add_source(
            config::File::from(dir.join(format!("{service}.{environment}.toml"))).required(false),
        );
    }
    builder
        .add_source(
            config::Environment::with_prefix("RSS")
                .prefix_separator("_")
                .separator("__"),
        )
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(error)
}

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}: {source}")]
pub struct BindError {
    address: String,
    #[source]
    source: std::io::Error,
}

/// Where a service listens (`[server]`, e.g. `RSS_SERVER__PORT`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSettings {
    /// Address to bind; `0.0.0.0` in containers.
    pub host: String,
    /// Port to bind; `0` picks a free one (tests).
    pub port: u16,
    /// Host name or address other services use to reach this one (registered in the
    /// registry). Defaults to `host`, or to `$HOSTNAME` when `host` binds every interface.
    pub advertised_host: Option<String>,
    /// On shutdown, how long a registered service keeps serving after it has left the
    /// registry, so balancers stop routing to it before its listener closes (middle tier).
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: std::time::Duration,
}

impl ServerSettings {
    pub fn localhost(port: u16) -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port,
            advertised_host: None,
            shutdown_grace: std::time::Duration::from_secs(1),
        }
    }

    /// Binds `host:port` and reports the port actually bound (`port = 0` picks one).
    pub async fn bind(&self) -> Result<(tokio::net::TcpListener, u16), BindError> {
        let error = |source| BindError {
            address: format!("{}:{}", self.host, self.port),
            source,
        };
        let listener = tokio::net::TcpListener::bind((self.host.as_str(), self.port))
            .await
            .map_err(error)?;
        let port = listener.local_addr().map_err(error)?.port();
        Ok((listener, port))
    }

    /// The name peers should use to reach this service.
    pub fn advertised_host(&self) -> String {
        if let Some(host) = &self.advertised_host {
            return host.clone();
        }
        let binds_everything = matches!(self.host.as_str(), "0.0.0.0" | "::" | "[::]");
        if binds_everything {
            std::env::var("HOSTNAME").unwrap_or_else(|_| "127.0.0.1".to_owned())
        } else {
            self.host.clone()
        }
    }
}

/// A secret setting (password, token). It deserializes like a string but never prints.
#[derive(Clone, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: call this only where it is handed to the system that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    struct Sample {
        server: Sample2,
    }
    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Sample2 {
        host: String,
        port: u16,
    }
    impl Default for Sample2 {
        fn default() -> Self {
            Self {
                host: "127.0.0.1".into(),
                port: 4242,
            }
        }
    }

    #[test]
    fn defaults_apply_key_by_key() {
        // No variables for this service name: the struct default comes back whole.
        let sample: Sample = load("platform-config-test").expect("defaults load");
        assert_eq!(sample, Sample::default());
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(secret.expose(), "hunter2");
    }
}
