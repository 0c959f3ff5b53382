//! Structured logging (the role Blitz4j played): `tracing`, human-readable or JSON, written by
//! a background thread.
//!
//! Settings (`[log]` in every service): `format` is `human` (default) or `json` (one object per
//! line, for log shippers; each line carries the fields of the spans it happened in, so the
//! request id of [`crate::server`] is on every line logged while serving a request); `level` is
//! a filter in `RUST_LOG` syntax (default `info`, e.g. `info,middletier::refresh=debug`).
//! `RUST_LOG`, when set, wins over `level`: it is what Rust users reach for at a command line.
//!
//! Lines go through `tracing-appender`'s non-blocking writer: a logging call only queues the
//! line, so a slow terminal or a stalled pipe never holds up a request. When the queue is full
//! lines are dropped rather than blocking. The [`LogGuard`] returned by [`init`] flushes the
//! queue when dropped: `main` keeps it for the life of the process.
//!
//! The filter sits behind a reload handle, so [`set_log_filter`] changes levels at run time
//! (the dynamic configuration calls it when the `level` setting changes).

use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock, PoisonError};

use serde::{Deserialize, Serialize};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// `[log]`: how a service logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// Filter directives in `RUST_LOG` syntax, e.g. `info` or `warn,edge=debug`.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line per event for people: time, level, spans, message, fields.
    #[default]
    Human,
    /// One JSON object per line for log shippers.
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum LogFilterError {
    #[error("invalid log level {directives:?} (setting log.level, or RUST_LOG): {source}")]
    Invalid {
        directives: String,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("logging was not initialized by this process's platform::telemetry::init")]
    NotInitialized,
    #[error("cannot change the log filter: {0}")]
    Reload(#[from] reload::Error),
}

/// Flushes queued log lines when dropped. Keep it alive until the process ends.
#[must_use = "dropping the guard stops the log writer: keep it until the process ends"]
#[derive(Debug)]
pub struct LogGuard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

/// What [`set_log_filter`] changes.
#[derive(Debug)]
struct FilterControl {
    handle: reload::Handle<EnvFilter, Registry>,
    directives: Mutex<String>,
}

static FILTER: OnceLock<FilterControl> = OnceLock::new();

/// Installs the global subscriber, writing to standard output. The first call in a process
/// wins; later ones (several services in one test process) change nothing and return an
/// empty guard.
pub fn init(service: &str, settings: &LogSettings) -> Result<LogGuard, LogFilterError> {
    let ansi = settings.format == LogFormat::Human && std::io::stdout().is_terminal();
    install(service, settings, std::io::stdout(), ansi)
}

/// [`init`] writing to `writer` instead (tests capture logs this way).
pub fn init_with_writer(
    service: &str,
    settings: &LogSettings,
    writer: impl std::io::Write + Send + 'static,
) -> Result<LogGuard, LogFilterError> {
    install(service, settings, writer, false)
}

fn install(
    service: &str,
    settings: &LogSettings,
    writer: impl std::io::Write + Send + 'static,
    ansi: bool,
) -> Result<LogGuard, LogFilterError> {
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| settings.level.clone());
    let filter = parse_filter(&directives)?;
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .thread_name("log-writer")
        .finish(writer);
    let (filter, handle) = reload::Layer::new(filter);
    let output = match settings.format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(writer)
            .boxed(),
    };
    if Registry::default()
        .with(filter)
        .with(output)
        .try_init()
        .is_err()
    {
        return Ok(LogGuard(None));
    }
    let _ = FILTER.set(FilterControl {
        handle,
        directives: Mutex::new(directives.clone()),
    });
    tracing::info!(
        service,
        version = env!("CARGO_PKG_VERSION"),
        format = ?settings.format,
        level = %directives,
        "starting"
    );
    Ok(LogGuard(Some(guard)))
}

fn parse_filter(directives: &str) -> Result<EnvFilter, LogFilterError> {
    EnvFilter::builder()
        .parse(directives)
        .map_err(|source| LogFilterError::Invalid {
            directives: directives.to_owned(),
            source,
        })
}

/// Replaces the log filter at run time (e.g. `"debug"` or `"info,middletier::fetch=trace"`).
/// Invalid directives change nothing and are reported. The change is logged.
pub fn set_log_filter(directives: &str) -> Result<(), LogFilterError> {
    let control = FILTER.get().ok_or(LogFilterError::NotInitialized)?;
    let filter = parse_filter(directives)?;
    let mut current = control
        .directives
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if *current == directives {
        return Ok(());
    }
    control.handle.reload(filter)?;
    let previous = std::mem::replace(&mut *current, directives.to_owned());
    drop(current);
    tracing::info!(%previous, level = directives, "log level changed");
    Ok(())
}

/// The filter in force, if [`init`] installed one.
pub fn log_filter() -> Option<String> {
    let control = FILTER.get()?;
    Some(
        control
            .directives
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_human_info_and_parse_from_lowercase() {
        assert_eq!(
            LogSettings::default(),
            LogSettings {
                format: LogFormat::Human,
                level: "info".to_owned()
            }
        );
        let settings: LogSettings =
            serde_json::from_str(r#"{"format":"json","level":"debug"}"#).expect("valid");
        assert_eq!(settings.format, LogFormat::Json);
        assert!(serde_json::from_str::<LogSettings>(r#"{"format":"xml"}"#).is_err());
    }

    #[test]
    fn invalid_directives_are_refused_with_the_setting_named() {
        let error = parse_filter("info,middletier=loud").expect_err("invalid");
        assert!(error.to_string().contains("log.level"), "{error}");
    }
}
