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

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

pub use crate::dynamic::Dynamic;
use crate::dynamic::Root;
use crate::lifecycle::Shutdown;
use crate::telemetry::LogSettings;

/// Variables that steer loading itself rather than naming a setting.
const CONFIG_DIR_VAR: &str = "RSS_CONFIG_DIR";
const ENVIRONMENT_VAR: &str = "RSS_ENV";

/// File events arriving within this quiet period are one change: editors write a file in
/// several steps (truncate, write, rename), and reloading a half-written file would only
/// produce a spurious "invalid configuration" line.
const DEBOUNCE: Duration = Duration::from_millis(150);

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

/// Where a service's configuration comes from: its name, the directory and environment of
/// its files, and the variables on top.
#[derive(Clone, Debug)]
pub struct Source {
    service: String,
    dir: PathBuf,
    environment: Option<String>,
    /// `None`: the process environment, read at every load. `Some`: exactly these (tests).
    vars: Option<HashMap<String, String>>,
}

impl Source {
    /// As a binary sees it: `$RSS_CONFIG_DIR` (default `./config`), `$RSS_ENV`, `RSS_*`.
    pub fn from_env(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            dir: std::env::var_os(CONFIG_DIR_VAR)
                .map_or_else(|| PathBuf::from("config"), PathBuf::from),
            environment: std::env::var(ENVIRONMENT_VAR)
                .ok()
                .filter(|env| !env.is_empty()),
            vars: None,
        }
    }

    /// Files in `dir` and no variables, whatever the process environment holds (tests).
    pub fn new(service: &str, dir: impl Into<PathBuf>) -> Self {
        Self {
            service: service.to_owned(),
            dir: dir.into(),
            environment: None,
            vars: Some(HashMap::new()),
        }
    }

    /// Adds the `<service>.<environment>.toml` layer.
    pub fn environment(mut self, environment: &str) -> Self {
        self.environment = Some(environment.to_owned());
        self
    }

    /// Sets a variable for a source made with [`Source::new`], e.g. `RSS_SERVER__PORT`.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars
            .get_or_insert_with(HashMap::new)
            .insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn environment_name(&self) -> Option<&str> {
        self.environment.as_deref()
    }

    /// The files this source reads, in layer order (whether or not they exist).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.dir.join(format!("{}.toml", self.service))];
        if let Some(environment) = &self.environment {
            files.push(
                self.dir
                    .join(format!("{}.{environment}.toml", self.service)),
            );
        }
        files
    }

    /// Loads and validates the settings.
    pub fn load<T: Configuration>(&self) -> Result<T, ConfigError> {
        self.load_pinned(&BTreeMap::new())
    }

    /// Loads with `pinned` keys (dotted, revealed JSON values) set over every layer: how a
    /// reload keeps the running value of static keys.
    fn load_pinned<T: Configuration>(
        &self,
        pinned: &BTreeMap<String, Value>,
    ) -> Result<T, ConfigError> {
        let error = |key: Option<String>, detail: String| ConfigError {
            service: self.service.clone(),
            key,
            detail,
        };
        let defaults = revealed(|| config::Config::try_from(&T::default()))
            .map_err(|source| error(None, format!("the defaults do not serialize: {source}")))?;
        let mut builder = config::Config::builder().add_source(defaults);
        for file in self.files() {
            builder = builder.add_source(config::File::from(file).required(false));
        }
        let mut environment = config::Environment::with_prefix("RSS")
            .prefix_separator("_")
            .separator("__");
        if let Some(vars) = &self.vars {
            environment = environment.source(Some(vars.clone().into_iter().collect()));
        }
        builder = builder.add_source(environment);
        for (key, value) in pinned {
            builder = builder
                .set_override(key.as_str(), config_value(value))
                .map_err(|source| error(Some(key.clone()), source.to_string()))?;
        }
        // File syntax errors name the file and line.
        let layered = builder
            .build()
            .map_err(|source| error(None, source.to_string()))?;
        let settings: T = serde_path_to_error::deserialize(layered.clone()).map_err(|failure| {
            let key = failure.path().to_string();
            let origin = origin_of(&layered, &key);
            let from = match origin {
                Some(origin) => format!(" from {origin}"),
                None => String::new(),
            };
            let variable = variable_name(&key);
            let message = describe(failure.inner());
            error(
                Some(key.clone()),
                format!("`{key}` ({variable}){from}: {message}"),
            )
        })?;
        settings.validate().map_err(|invalid| {
            let variable = variable_name(&invalid.key);
            error(
                Some(invalid.key.clone()),
                format!("`{}` ({variable}): {}", invalid.key, invalid.message),
            )
        })?;
        Ok(settings)
    }

    /// Loads the settings, then keeps them up to date as the files change until `shutdown`
    /// (see the module docs). A missing directory is not watched: without files there is
    /// nothing to change.
    pub fn watch<T: Configuration>(self, shutdown: Shutdown) -> Result<Live<T>, ConfigError> {
        let settings = self.load::<T>()?;
        let (root, dynamic) = Root::new(settings);
        let source = Arc::new(self);
        let mut live = Live {
            settings: dynamic,
            source: Some(source.clone()),
            reloads: Arc::default(),
            watched: false,
        };
        let reloader = Reloader {
            source,
            root,
            reloads: live.reloads.clone(),
        };
        match reloader.source.start_watching() {
            Ok((watcher, events)) => {
                live.watched = true;
                tokio::spawn(reloader.follow(watcher, events, shutdown));
            }
            Err(reason) => {
                // Also reported by `/admin/config` (`watched: false`): logging may not be set
                // up yet this early.
                tracing::info!(service = reloader.source.service, %reason, "configuration files are not watched");
            }
        }
        Ok(live)
    }

    /// An inotify watch on the directory (not the files: editors replace files by renaming,
    /// which would end a watch on the file itself), reporting events on our files only.
    fn start_watching(
        &self,
    ) -> Result<
        (
            notify::RecommendedWatcher,
            tokio::sync::mpsc::UnboundedReceiver<()>,
        ),
        String,
    > {
        use notify::Watcher;

        if !self.dir.is_dir() {
            return Err(format!("{} is not a directory", self.dir.display()));
        }
        let names: Vec<std::ffi::OsString> = self
            .files()
            .iter()
            .filter_map(|file| file.file_name().map(ToOwned::to_owned))
            .collect();
        let (sender, events) = tokio::sync::mpsc::unbounded_channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if changes_our_files(&event, &names) {
                    let _ = sender.send(());
                }
            })
            .map_err(|error| error.to_string())?;
        watcher
            .watch(&self.dir, notify::RecursiveMode::NonRecursive)
            .map_err(|error| format!("cannot watch {}: {error}", self.dir.display()))?;
        Ok((watcher, events))
    }
}

/// Where the value of `key` came from (a file path, or the environment).
fn origin_of(layered: &config::Config, key: &str) -> Option<String> {
    let mut table = config::Source::collect(layered).ok()?;
    let mut segments = key.split('.').peekable();
    while let Some(segment) = segments.next() {
        let value = table.remove(segment)?;
        if segments.peek().is_none() {
            return value.origin().map(ToOwned::to_owned);
        }
        table = value.into_table().ok()?;
    }
    None
}

/// Whether a watch event may have changed one of our files (`names`). Reads are no change:
/// every reload reads the files, and counting its own access events would reload forever.
fn changes_our_files(event: &notify::Result<notify::Event>, names: &[std::ffi::OsString]) -> bool {
    match event {
        Ok(event) if matches!(event.kind, notify::EventKind::Access(_)) => false,
        Ok(event) => event.paths.iter().any(|path| {
            path.file_name()
                .is_some_and(|name| names.iter().any(|ours| ours == name))
        }),
        // A lost event (queue overflow) may have been ours: reload to be sure.
        Err(_) => true,
    }
}

/// The message of a deserialization failure without the key (which the caller names).
fn describe(error: &config::ConfigError) -> String {
    match error {
        config::ConfigError::Type {
            unexpected,
            expected,
            ..
        } => format!("invalid type: {unexpected}, expected {expected}"),
        config::ConfigError::At { error, .. } => describe(error),
        other => other.to_string(),
    }
}

/// A JSON leaf as a `config` value, for pinning.
fn config_value(value: &Value) -> config::Value {
    let kind = match value {
        Value::Null => config::ValueKind::Nil,
        Value::Bool(b) => config::ValueKind::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => config::ValueKind::I64(i),
            (None, Some(u), _) => config::ValueKind::U64(u),
            (None, None, f) => config::ValueKind::Float(f.unwrap_or_default()),
        },
        Value::String(s) => config::ValueKind::String(s.clone()),
        Value::Array(items) => config::ValueKind::Array(items.iter().map(config_value).collect()),
        Value::Object(fields) => config::ValueKind::Table(
            fields
                .iter()
                .map(|(key, field)| (key.clone(), config_value(field)))
                .collect(),
        ),
    };
    config::Value::new(None, kind)
}

/// Loads the settings of `service` from the layers described in the module docs, once.
pub fn load<T: Configuration>(service: &str) -> Result<T, ConfigError> {
    Source::from_env(service).load()
}

/// A service's live configuration: the settings as they are now, and where they come from.
#[derive(Clone)]
pub struct Live<T> {
    settings: Dynamic<Arc<T>>,
    source: Option<Arc<Source>>,
    reloads: Arc<std::sync::Mutex<Reloads>>,
    /// Whether the files are watched (not when the directory is missing).
    watched: bool,
}

/// What the reloads so far did, for `/admin/config` (operators check a change took).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Reloads {
    /// Reloads that changed settings (dynamic ones applied, static ones pending restart).
    pub applied: u64,
    /// Reloads refused as invalid; the running configuration stayed.
    pub rejected: u64,
    /// Why the latest refused reload was refused.
    pub last_error: Option<String>,
    /// Static keys changed in the files since start-up: they apply at the next restart.
    pub pending_restart: Vec<String>,
}

impl<T: std::fmt::Debug> std::fmt::Debug for Live<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("settings", &self.settings)
            .field("source", &self.source)
            .field("reloads", &self.reloads)
            .field("watched", &self.watched)
            .finish()
    }
}

impl<T: Configuration> Live<T> {
    /// Settings that never change (tests, or settings built by hand).
    pub fn fixed(settings: T) -> Self {
        Self {
            settings: Dynamic::fixed(Arc::new(settings)),
            source: None,
            reloads: Arc::default(),
            watched: false,
        }
    }

    /// The settings now. Static keys are the same in every snapshot.
    pub fn get(&self) -> Arc<T> {
        self.settings.get()
    }

    /// A live part of the settings, for a component to read at use time.
    pub fn map<U: Clone + Send + Sync + 'static>(
        &self,
        project: impl Fn(&T) -> U + Send + Sync + 'static,
    ) -> Dynamic<U> {
        self.settings.map(move |settings| project(settings))
    }

    /// What the reloads so far did.
    pub fn reloads(&self) -> Reloads {
        self.reloads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// What `/admin/config` shows: the effective settings with secrets redacted, which keys
    /// are dynamic, and the layers they came from.
    pub fn report(&self) -> Value {
        let files: Vec<Value> = self
            .source
            .iter()
            .flat_map(|source| source.files())
            .map(|file| {
                serde_json::json!({
                    "path": file.display().to_string(),
                    "present": file.is_file(),
                })
            })
            .collect();
        serde_json::json!({
            "service": self.source.as_ref().map(|source| source.service.clone()),
            "environment": self.source.as_ref().and_then(|source| source.environment.clone()),
            "files": files,
            "watched": self.watched,
            "dynamic": T::DYNAMIC,
            "reloads": self.reloads(),
            "settings": redacted_json(&*self.get()),
        })
    }
}

/// The settings as JSON with every [`Secret`] shown as `"[redacted]"`.
pub fn redacted_json<T: Serialize>(settings: &T) -> Value {
    serde_json::to_value(settings).unwrap_or_else(
        |error| serde_json::json!({ "error": format!("settings do not serialize: {error}") }),
    )
}

/// One key whose value a reload changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    /// Old and new values as shown to operators (secrets redacted).
    pub before: String,
    pub after: String,
    /// Applied while running; otherwise the running value stays until a restart.
    pub dynamic: bool,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} -> {}", self.key, self.before, self.after)
    }
}

/// What one reload did.
#[derive(Debug)]
pub enum Reloaded {
    /// The files load to what runs already.
    Unchanged,
    /// Swapped in; the static changes among these wait for a restart.
    Applied(Vec<Change>),
    /// Invalid: the running configuration stays.
    Rejected(ConfigError),
}

/// Reloads a live configuration from its source.
struct Reloader<T> {
    source: Arc<Source>,
    root: Root<T>,
    reloads: Arc<std::sync::Mutex<Reloads>>,
}

impl<T: Configuration> Reloader<T> {
    async fn follow(
        self,
        _watcher: notify::RecommendedWatcher,
        mut events: tokio::sync::mpsc::UnboundedReceiver<()>,
        shutdown: Shutdown,
    ) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                event = events.recv() => if event.is_none() { return },
            }
            // Debounce: wait for a quiet period, however many events the save produced.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, events.recv()).await {}
            self.reload_once();
        }
    }

    /// Loads the source again and publishes the result (see [`Reloaded`]), logging what
    /// changed.
    fn reload_once(&self) -> Reloaded {
        let service = &self.source.service;
        let outcome = match reload_step(&self.source, self.root.get().as_ref()) {
            Ok(None) => Reloaded::Unchanged,
            Ok(Some((settings, changes))) => {
                self.root.set(settings);
                Reloaded::Applied(changes)
            }
            Err(error) => Reloaded::Rejected(error),
        };
        {
            let mut reloads = self
                .reloads
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match &outcome {
                Reloaded::Unchanged => {}
                Reloaded::Applied(changes) => {
                    reloads.applied += 1;
                    for change in changes.iter().filter(|change| !change.dynamic) {
                        if !reloads.pending_restart.contains(&change.key) {
                            reloads.pending_restart.push(change.key.clone());
                        }
                    }
                }
                Reloaded::Rejected(error) => {
                    reloads.rejected += 1;
                    reloads.last_error = Some(error.to_string());
                }
            }
        }
        match &outcome {
            Reloaded::Unchanged => {
                tracing::debug!(service, "configuration files changed; no setting did");
            }
            Reloaded::Rejected(error) => {
                tracing::error!(service, %error, "configuration change rejected; the running configuration stays");
            }
            Reloaded::Applied(changes) => {
                let (applied, pending): (Vec<&Change>, Vec<&Change>) =
                    changes.iter().partition(|change| change.dynamic);
                if !applied.is_empty() {
                    let changed = join(&applied);
                    tracing::info!(service, %changed, "configuration changed");
                }
                if !pending.is_empty() {
                    let changed = join(&pending);
                    tracing::warn!(service, %changed, "static settings changed in the files; they apply at the next restart");
                }
            }
        }
        outcome
    }
}

fn join(changes: &[&Change]) -> String {
    changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One reload step, apart from publishing: what `source` loads to now, given `running`.
/// Returns the settings to publish with the changes.
fn reload_step<T: Configuration>(
    source: &Source,
    running: &T,
) -> Result<Option<(T, Vec<Change>)>, ConfigError> {
    let candidate: T = source.load()?;
    let changes = diff(running, &candidate, T::DYNAMIC);
    if changes.is_empty() {
        return Ok(None);
    }
    if changes.iter().all(|change| change.dynamic) {
        return Ok(Some((candidate, changes)));
    }
    // Keep the running value of every static key that changed.
    let old = leaves_of(running, true);
    let pinned: BTreeMap<String, Value> = changes
        .iter()
        .filter(|change| !change.dynamic)
        .filter_map(|change| {
            old.get(&change.key)
                .map(|value| (change.key.clone(), value.clone()))
        })
        .collect();
    let settings = source.load_pinned(&pinned)?;
    Ok(Some((settings, changes)))
}

/// Every leaf of the settings as `dotted.key -> value`; `reveal` shows secrets (for
/// comparing, never for display).
fn leaves_of<T: Serialize>(settings: &T, reveal: bool) -> BTreeMap<String, Value> {
    let value = if reveal {
        revealed(|| serde_json::to_value(settings))
    } else {
        serde_json::to_value(settings)
    };
    let mut leaves = BTreeMap::new();
    if let Ok(value) = value {
        flatten("", &value, &mut leaves);
    }
    leaves
}

fn flatten(prefix: &str, value: &Value, leaves: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(fields) if !fields.is_empty() => {
            for (key, field) in fields {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, field, leaves);
            }
        }
        _ => {
            leaves.insert(prefix.to_owned(), value.clone());
        }
    }
}

/// The keys whose values differ between `old` and `new`, secrets compared but not shown.
pub fn diff<T: Serialize>(old: &T, new: &T, dynamic: &[&str]) -> Vec<Change> {
    let (old_real, new_real) = (leaves_of(old, true), leaves_of(new, true));
    let (old_shown, new_shown) = (leaves_of(old, false), leaves_of(new, false));
    let keys: std::collections::BTreeSet<&String> =
        old_real.keys().chain(new_real.keys()).collect();
    let show = |shown: &BTreeMap<String, Value>, key: &str| match shown.get(key) {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => "(unset)".to_owned(),
    };
    keys.into_iter()
        .filter(|key| old_real.get(*key) != new_real.get(*key))
        .map(|key| Change {
            key: key.clone(),
            before: show(&old_shown, key),
            after: show(&new_shown, key),
            dynamic: is_dynamic(key, dynamic),
        })
        .collect()
}

/// Whether `key` is one of `patterns` or under one (`*` matches one segment).
pub fn is_dynamic(key: &str, patterns: &[&str]) -> bool {
    patterns.iter().any(|pattern| {
        let mut segments = key.split('.');
        pattern.split('.').all(|want| {
            segments
                .next()
                .is_some_and(|got| want == "*" || want == got)
        })
    })
}

/// Applies the live `log.level` to the process's logging, now and at every change, until
/// `shutdown`. `RUST_LOG`, when set, wins for the whole run.
pub fn follow_log_level(level: Dynamic<LogSettings>, shutdown: Shutdown) {
    if std::env::var("RUST_LOG").is_ok_and(|value| !value.trim().is_empty()) {
        tracing::info!("RUST_LOG is set: it selects what is logged; `log.level` is ignored");
        return;
    }
    tokio::spawn(async move {
        loop {
            apply_log_filter(&level.get().level);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = level.changed() => {}
            }
        }
    });
}

/// The one place a configured log level reaches `tracing`.
fn apply_log_filter(directives: &str) {
    if let Err(error) = crate::telemetry::set_log_filter(directives) {
        tracing::error!(%error, "cannot change the log level");
    }
}

thread_local! {
    /// Set while settings are serialized for comparison or as the bottom layer of loading,
    /// the only times a [`Secret`] serializes as itself.
    static REVEAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with secrets serializing as their values (in this thread only).
fn revealed<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            REVEAL.with(|reveal| reveal.set(self.0));
        }
    }
    let _reset = Reset(REVEAL.with(|reveal| reveal.replace(true)));
    f()
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

/// A secret setting (password, token). It deserializes like a string but never prints: its
/// `Debug` and its serialization (what `/admin/config` and the change log show) say
/// `[redacted]`. An empty secret serializes as `""`, since there is nothing to hide and the
/// loader round-trips defaults through serialization.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// What a set [`Secret`] shows instead of its value.
pub const REDACTED: &str = "[redacted]";

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() || REVEAL.with(std::cell::Cell::get) {
            serializer.serialize_str(&self.0)
        } else {
            serializer.serialize_str(REDACTED)
        }
    }
}

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
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
    struct Sample {
        server: Sample2,
        call: Call,
        log: LogSettings,
        token: Secret,
    }
    #[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
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
    #[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
    struct Call {
        #[serde(with = "humantime_serde")]
        timeout: Duration,
        percent: u32,
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
    fn directory(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("platform-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn defaults_apply_key_by_key() {
        let dir = directory("defaults");
        std::fs::write(dir.join("sample.toml"), "[server]\nport = 1\n").unwrap();
        let sample: Sample = Source::new("sample", &dir).load().expect("loads");
        assert_eq!(sample.server.port, 1);
        assert_eq!(
            sample.server.host, "127.0.0.1",
            "the other keys keep defaults"
        );
        assert_eq!(sample.call, Call::default());
    }

    #[test]
    fn layers_apply_in_order_file_then_environment_file_then_variables() {
        let dir = directory("layers");
        std::fs::write(
            dir.join("sample.toml"),
            "[call]\ntimeout = \"1s\"\npercent = 1\n",
        )
        .unwrap();
        std::fs::write(dir.join("sample.prod.toml"), "[call]\ntimeout = \"2s\"\n").unwrap();
        std::fs::write(dir.join("sample.test.toml"), "[call]\ntimeout = \"3s\"\n").unwrap();
        let prod: Sample = Source::new("sample", &dir)
            .environment("prod")
            .load()
            .unwrap();
        assert_eq!(prod.call.timeout, Duration::from_secs(2));
        assert_eq!(prod.call.percent, 1);
        let overridden: Sample = Source::new("sample", &dir)
            .environment("prod")
            .var("RSS_CALL__TIMEOUT", "250ms")
            .load()
            .unwrap();
        assert_eq!(overridden.call.timeout, Duration::from_millis(250));
    }

    #[test]
    fn a_bad_variable_fails_loading_naming_the_key_and_the_variable() {
        let dir = directory("bad-var");
        let error = Source::new("sample", &dir)
            .var("RSS_CALL__TIMEOUT", "abc")
            .load::<Sample>()
            .unwrap_err();
        assert_eq!(error.key(), Some("call.timeout"));
        let message = error.to_string();
        assert!(message.contains("`call.timeout`"), "{message}");
        assert!(message.contains("RSS_CALL__TIMEOUT"), "{message}");
    }

    #[test]
    fn a_bad_value_in_a_file_fails_loading_naming_the_key_and_the_file() {
        let dir = directory("bad-file");
        std::fs::write(dir.join("sample.test.toml"), "[call]\npercent = \"many\"\n").unwrap();
        let error = Source::new("sample", &dir)
            .environment("test")
            .load::<Sample>()
            .unwrap_err();
        assert_eq!(error.key(), Some("call.percent"));
        let message = error.to_string();
        assert!(message.contains("sample.test.toml"), "{message}");
    }

    #[test]
    fn a_rule_the_service_states_fails_loading_naming_the_key() {
        let dir = directory("rule");
        let error = Source::new("sample", &dir)
            .var("RSS_CALL__PERCENT", "101")
            .load::<Sample>()
            .unwrap_err();
        assert_eq!(error.key(), Some("call.percent"));
        let error = Source::new("sample", &dir)
            .var("RSS_LOG__LEVEL", "info,=[")
            .load::<Sample>()
            .unwrap_err();
        assert_eq!(error.key(), Some("log.level"), "{error}");
    }

    #[test]
    fn a_reload_applies_dynamic_keys_and_keeps_static_ones_until_restart() {
        let dir = directory("reload");
        let source = Source::new("sample", &dir);
        let running: Sample = source.load().unwrap();
        std::fs::write(
            dir.join("sample.toml"),
            "[call]\ntimeout = \"50ms\"\n[server]\nport = 9\n",
        )
        .unwrap();
        let (published, changes) = reload_step(&source, &running).unwrap().unwrap();
        assert_eq!(published.call.timeout, Duration::from_millis(50));
        assert_eq!(
            published.server.port, 4242,
            "ports change only at a restart"
        );
        let keys: Vec<(&str, bool)> = changes
            .iter()
            .map(|change| (change.key.as_str(), change.dynamic))
            .collect();
        assert_eq!(keys, [("call.timeout", true), ("server.port", false)]);
        assert_eq!(changes[0].to_string(), "call.timeout: 10s -> 50ms");
    }

    #[test]
    fn an_invalid_reload_is_rejected() {
        let dir = directory("invalid-reload");
        let source = Source::new("sample", &dir);
        let running: Sample = source.load().unwrap();
        std::fs::write(dir.join("sample.toml"), "[call]\ntimeout = \"soon\"\n").unwrap();
        let error = reload_step(&source, &running).unwrap_err();
        assert_eq!(error.key(), Some("call.timeout"));
    }

    #[test]
    fn secrets_never_print_nor_serialize_but_changes_to_them_are_seen() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(secret.expose(), "hunter2");
        let old = Sample {
            token: Secret::new("hunter2"),
            ..Sample::default()
        };
        let shown = redacted_json(&old).to_string();
        assert!(
            !shown.contains("hunter2") && shown.contains(REDACTED),
            "{shown}"
        );
        let new = Sample {
            token: Secret::new("swordfish"),
            ..Sample::default()
        };
        let changes = diff(&old, &new, Sample::DYNAMIC);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].to_string(), "token: [redacted] -> [redacted]");
        assert!(!format!("{changes:?}").contains("hunter2"));
    }

    #[test]
    fn a_secret_set_by_a_variable_is_read() {
        let dir = directory("secret");
        let sample: Sample = Source::new("sample", &dir)
            .var("RSS_TOKEN", "hunter2")
            .load()
            .unwrap();
        assert_eq!(sample.token.expose(), "hunter2");
    }

    #[test]
    fn only_changes_to_our_files_trigger_a_reload() {
        use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
        use notify::{Event, EventKind};
        let names = vec!["edge.toml".into(), "edge.test.toml".into()];
        let ours = PathBuf::from("/etc/rss/edge.test.toml");
        let event = |kind| Ok(Event::new(kind).add_path(ours.clone()));
        assert!(changes_our_files(
            &event(EventKind::Modify(ModifyKind::Any)),
            &names
        ));
        assert!(changes_our_files(
            &event(EventKind::Modify(ModifyKind::Name(RenameMode::To))),
            &names
        ));
        assert!(changes_our_files(
            &event(EventKind::Create(CreateKind::File)),
            &names
        ));
        // Our own reads at every reload.
        for access in [
            AccessKind::Open(AccessMode::Read),
            AccessKind::Close(AccessMode::Read),
            AccessKind::Read,
        ] {
            assert!(!changes_our_files(
                &event(EventKind::Access(access)),
                &names
            ));
        }
        let theirs = Ok(Event::new(EventKind::Modify(ModifyKind::Any))
            .add_path(PathBuf::from("/etc/rss/middletier.toml")));
        assert!(!changes_our_files(&theirs, &names));
    }

    #[test]
    fn dynamic_patterns_match_prefixes_and_wildcards() {
        let patterns = [
            "log",
            "commands.*.timeout",
            "middletier.retry_budget.percent",
        ];
        assert!(is_dynamic("log.level", &patterns));
        assert!(is_dynamic("commands.get.timeout", &patterns));
        assert!(is_dynamic("middletier.retry_budget.percent", &patterns));
        assert!(!is_dynamic("commands.get.breaker.buckets", &patterns));
        assert!(!is_dynamic("logging", &patterns));
        assert!(!is_dynamic("middletier.retry_budget.ttl", &patterns));
    }
}
