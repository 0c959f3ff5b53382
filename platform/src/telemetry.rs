//! Structured logging (the role Blitz4j played): `tracing`, human-readable or JSON, written by
//! a background thread.
//!
//! Settings (`[log]` in every service): `format` is `human` (default) or `json` (one object per
//! line, for log shippers; each line carries the fields of the spans it happened in, so the
//! request id of [`crate::server`] is on every line logged while serving a request); `level` is
//! a filter in `RUST_LOG` syntax (default `info`, e.g. `info,middletier::refresh=debug`).
//! `RUST_LOG`, when set, wins over `level`: it is what Rust users reach for at a command line.
//!
//! In the human format every field value (the message included) has its control characters
//! escaped (`\n`, `\r`, `\u{1b}`, ...; see [`EscapedFields`]): values often come from users
//! (a feed URL, a user name), and a line break in one would otherwise let a user write a line
//! of their choosing into the log. JSON lines escape them by being JSON.
//!
//! Lines go through `tracing-appender`'s non-blocking writer: a logging call only queues the
//! line, so a slow terminal or a stalled pipe never holds up a request. When the queue is full
//! lines are dropped rather than blocking. The [`LogGuard`] returned by [`init`] flushes the
//! queue when dropped: `main` keeps it for the life of the process.
//!
//! The filter sits behind a reload handle, so [`set_log_filter`] changes levels at run time
//! (the dynamic configuration calls it when the `level` setting changes).

use std::fmt;
use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock, PoisonError};

use serde::{Deserialize, Serialize};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
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
            .fmt_fields(EscapedFields)
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

/// The human format's fields: `tracing-subscriber`'s default layout (`message key=value ...`)
/// with every control character in it escaped, so each event stays on one line whatever its
/// values hold. (Field names italicized on a terminal are the one loss: the fields are
/// formatted without colour so that escaping cannot break a colour code.)
#[derive(Clone, Copy, Debug, Default)]
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut raw = String::new();
        DefaultFields::new().format_fields(Writer::new(&mut raw), fields)?;
        writer.write_str(&escape_controls(&raw))
    }
}

/// `text` with each control character (and the Unicode line and paragraph separators)
/// written as an escape: `\n`, `\r`, `\t`, else `\u{..}`.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let needs = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(needs) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if needs(c) => escaped.push_str(&c.escape_unicode().to_string()),
            c => escaped.push(c),
        }
    }
    std::borrow::Cow::Owned(escaped)
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

    /// Where a test's log lines go.
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_value_with_line_breaks_cannot_forge_a_human_log_line() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(EscapedFields)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let forged = "http://x/\n2026-01-01T00:00:00Z  INFO edge: user=admin signed in\r\u{1b}[2J";
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", route = %forged);
            let _entered = span.enter();
            tracing::info!(url = %forged, debug = ?forged, "subscribed to {forged}");
        });
        let output = String::from_utf8(
            lines
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
        .expect("utf-8");
        assert_eq!(output.lines().count(), 1, "{output}");
        assert!(output.ends_with('\n'), "{output}");
        assert!(
            !output.contains('\r') && !output.contains('\u{1b}'),
            "{output}"
        );
        assert!(output.contains("url=http://x/\\n2026-01-01"), "{output}");
        assert!(output.contains("\\r\\u{1b}[2J"), "{output}");
    }

    #[test]
    fn plain_text_is_left_as_it_is() {
        assert!(matches!(
            escape_controls("a b=c \"d\""),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_controls("a\tb\u{2028}c\u{7f}"),
            "a\\tb\\u{2028}c\\u{7f}"
        );
    }

    #[test]
    fn invalid_directives_are_refused_with_the_setting_named() {
        let error = parse_filter("info,middletier=loud").expect_err("invalid");
        assert!(error.to_string().contains("log.level"), "{error}");
    }
}
