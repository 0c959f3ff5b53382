//! A live configuration: [`Source::watch`] loads the settings, then reloads them whenever the
//! files change (see the [module docs](super) for what a reload may change), and [`Live`] is
//! what components and `/admin/config` read them through.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde_json::Value;

use super::diff::leaves_of;
use super::watch::FileChanges;
use super::{Change, ConfigError, Configuration, Source, diff, redacted_json};
use crate::dynamic::{Dynamic, Root};
use crate::lifecycle::Shutdown;
use crate::telemetry::LogSettings;

/// A service's live configuration: the settings as they are now, and where they come from.
#[derive(Clone)]
pub struct Live<T> {
    settings: Dynamic<Arc<T>>,
    source: Option<Arc<Source>>,
    reloads: Arc<Mutex<Reloads>>,
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
            .unwrap_or_else(PoisonError::into_inner)
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
            "service": self.source.as_ref().map(|source| source.service().to_owned()),
            "environment": self.source.as_ref().and_then(|source| source.environment_name().map(ToOwned::to_owned)),
            "files": files,
            "watched": self.watched,
            "dynamic": T::DYNAMIC,
            "reloads": self.reloads(),
            "settings": redacted_json(&*self.get()),
        })
    }
}

impl Source {
    /// Loads the settings, then keeps them up to date as the files change until `shutdown`
    /// (see [`crate::config`] for what a reload may change). A missing directory is not watched: without files there is
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
        match FileChanges::watch(&reloader.source) {
            Ok(changes) => {
                live.watched = true;
                tokio::spawn(reloader.follow(changes, shutdown));
            }
            Err(reason) => {
                // Also reported by `/admin/config` (`watched: false`): logging may not be set
                // up yet this early.
                tracing::info!(service = reloader.source.service(), %reason, "configuration files are not watched");
            }
        }
        Ok(live)
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
    reloads: Arc<Mutex<Reloads>>,
}

impl<T: Configuration> Reloader<T> {
    /// Reloads at every change of the files until `shutdown`.
    async fn follow(self, mut changes: FileChanges, shutdown: Shutdown) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                change = changes.next() => if change.is_none() { return },
            }
            self.reload_once();
        }
    }

    /// Loads the source again and publishes the result (see [`Reloaded`]), logging what
    /// changed.
    fn reload_once(&self) -> Reloaded {
        let service = self.source.service();
        let outcome = match reload_step(&self.source, self.root.get().as_ref()) {
            Ok(None) => Reloaded::Unchanged,
            Ok(Some((settings, changes))) => {
                self.root.set(settings);
                Reloaded::Applied(changes)
            }
            Err(error) => Reloaded::Rejected(error),
        };
        {
            let mut reloads = self.reloads.lock().unwrap_or_else(PoisonError::into_inner);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;
    use crate::config::fixtures::{Sample, directory};

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
}
