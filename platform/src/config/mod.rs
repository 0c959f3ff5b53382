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
//!
//! A value that does not parse, or breaks a rule of the service ([`Configuration::validate`]),
//! fails loading with an error naming the key, the variable and where the value came from.
//!
//! **Dynamic properties.** [`Source::watch`] also watches the directory and reloads when a file
//! changes (Archaius polled; here inotify, debounced). The new configuration is loaded and
//! validated whole; an invalid one is logged and ignored, so the service keeps its last good
//! configuration. A valid one is swapped in atomically and the changed keys are logged (secrets
//! redacted). Only the keys a service lists in [`Configuration::DYNAMIC`] change while running;
//! components read them through [`Dynamic`] handles at the moment they use them. Any other
//! changed key (ports, the store) keeps its running value, with a warning that it needs a
//! restart, so what `/admin/config` shows is always what the service runs with.
//!
//! # Layout
//! - this module: the [`Configuration`] trait a service's settings implement, and the errors
//!   loading reports ([`ConfigError`], [`InvalidSetting`]).
//! - `source`: [`Source`], the layers (defaults, files, variables) and loading them once.
//! - `live`: [`Live`], a configuration kept up to date as its files change ([`Source::watch`]):
//!   reloads, what they did, and [`follow_log_level`]; `watch`: noticing that the files
//!   changed.
//! - `diff`: which keys a reload changed ([`Change`]) and which of them are dynamic.
//! - `server`: [`ServerSettings`] and [`AdminSettings`], where a service and its admin
//!   listener listen, and binding them.
//! - `secret`: [`Secret`], settings that never print, and [`SecretUrl`], URLs whose
//!   passwords never print.

mod diff;
mod identity;
mod live;
mod secret;
mod server;
mod source;
mod watch;

pub use crate::dynamic::Dynamic;
pub use diff::{Change, diff, is_dynamic};
pub use identity::{
    IdentityError, MIN_TOKEN_BYTES, check_service_token, check_tls, is_development,
};
pub use live::{Live, Reloaded, Reloads, follow_log_level};
pub use secret::{REDACTED, Secret, SecretUrl, redact_url_passwords, redacted_json};
pub use server::{AdminSettings, BindError, ServerSettings};
pub use source::{Source, load};

use serde::{Serialize, de::DeserializeOwned};

use crate::telemetry::LogSettings;

/// A service's settings type.
pub trait Configuration:
    Default + Clone + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The keys that apply while the service runs, as dotted paths or prefixes of them; `*`
    /// matches one segment (`commands.*.timeout`). Every other key is read once at start-up.
    const DYNAMIC: &'static [&'static str];

    /// Rules the types cannot express (ranges, filter syntax). Runs at start-up and on every
    /// reload; an error names the key.
    fn validate(&self) -> Result<(), InvalidSetting> {
        Ok(())
    }
}

/// A setting whose value breaks a rule of the service.
#[derive(Debug, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct InvalidSetting {
    /// Dotted key, e.g. `commands.get.timeout`.
    pub key: String,
    pub message: String,
}

impl InvalidSetting {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration for {service}: {detail}")]
pub struct ConfigError {
    service: String,
    /// The dotted key at fault, when one is.
    key: Option<String>,
    detail: String,
}

impl ConfigError {
    /// The dotted key at fault (`commands.get.timeout`), when the error is about one.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
}

/// `commands.get.timeout` is set by `RSS_COMMANDS__GET__TIMEOUT`.
pub fn variable_name(key: &str) -> String {
    format!("RSS_{}", key.to_uppercase().replace('.', "__"))
}

/// Checks `[log] level` (filter directives in `RUST_LOG` syntax), for
/// [`Configuration::validate`]: a typo fails start-up, or is rejected on reload, instead of
/// silently logging nothing.
pub fn validate_log(log: &LogSettings) -> Result<(), InvalidSetting> {
    tracing_subscriber::EnvFilter::builder()
        .parse(&log.level)
        .map(drop)
        .map_err(|error| InvalidSetting::new("log.level", format!("{error}")))
}

/// Settings shaped like a service's, for the unit tests of every part of loading.
#[cfg(test)]
mod fixtures {
    #![allow(clippy::unwrap_used)]

    use std::path::PathBuf;
    use std::time::Duration;

    use serde::{Deserialize, Serialize};

    use super::{Configuration, InvalidSetting, Secret, validate_log};
    use crate::telemetry::LogSettings;

    #[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
    pub(super) struct Sample {
        pub(super) server: Sample2,
        pub(super) call: Call,
        pub(super) log: LogSettings,
        pub(super) token: Secret,
    }
    #[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
    pub(super) struct Sample2 {
        pub(super) host: String,
        pub(super) port: u16,
    }
    impl Default for Sample2 {
        fn default() -> Self {
            Self {
                host: "127.0.0.1".into(),
                port: 4242,
            }
        }
    }
    #[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
    pub(super) struct Call {
        #[serde(with = "humantime_serde")]
        pub(super) timeout: Duration,
        pub(super) percent: u32,
    }
    impl Default for Call {
        fn default() -> Self {
            Self {
                timeout: Duration::from_secs(10),
                percent: 50,
            }
        }
    }
    impl Configuration for Sample {
        const DYNAMIC: &'static [&'static str] = &["call", "log.level"];

        fn validate(&self) -> Result<(), InvalidSetting> {
            if self.call.percent > 100 {
                return Err(InvalidSetting::new("call.percent", "at most 100"));
            }
            validate_log(&self.log)
        }
    }

    /// A fresh directory for one test's files.
    pub(super) fn directory(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("platform-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
