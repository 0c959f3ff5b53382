//! One service shape: how every binary of the recipe starts, serves and stops.
//!
//! Each service is a library with an `Application` that is built (binding its port, so the
//! caller learns the port before anything can call it) and then run until a shutdown signal;
//! tests build and run it the same way on port 0. What `main` adds around that is the same for
//! every service, so it lives here, in [`run`], and a service's `main.rs` is one call:
//!
//! 1. a shutdown token cancelled on Ctrl-C or SIGTERM ([`crate::lifecycle::on_signal`]);
//! 2. the settings, loaded and then watched for changes ([`Source::watch`]);
//! 3. logging, started as configured, or with the defaults so that a configuration error can
//!    still be reported; the level then follows the configuration
//!    ([`crate::config::follow_log_level`]);
//! 4. [`Service::build`], and a log line saying where the service listens, and where its
//!    admin listener does ([`crate::admin`]);
//! 5. [`Service::run_until_stopped`], until the signal.
//!
//! The exit code is 0 after a clean stop and 1 when any step fails, with the error logged
//! (or, when logging itself could not start, printed to standard error).

use std::process::ExitCode;

use crate::config::{Configuration, Live, Source, follow_log_level};
use crate::lifecycle::Shutdown;
use crate::telemetry::{self, LogSettings};

/// A service's application, as [`run`] starts it.
pub trait Service: Sized {
    /// The service's name: its configuration files are `<NAME>.toml` and
    /// `<NAME>.<environment>.toml`, and its logs say it.
    const NAME: &'static str;
    /// What is logged, with the base URL as `url` and the admin URL as `admin`, once the
    /// service is bound.
    const LISTENING: &'static str;

    type Settings: Configuration;
    type Error: std::error::Error;

    /// The `[log]` section of the settings.
    fn log(settings: &Self::Settings) -> &LogSettings;

    /// Binds the port without serving yet; reads dynamic settings from `config` while running.
    fn build(config: Live<Self::Settings>) -> impl Future<Output = Result<Self, Self::Error>>;

    /// Where the service is reached, e.g. `http://127.0.0.1:7001/`.
    fn base_url(&self) -> String;

    /// Where operators reach the admin listener, e.g. `http://127.0.0.1:7002/`.
    fn admin_url(&self) -> String;

    /// Serves until `shutdown` is cancelled, then stops in the service's own order.
    fn run_until_stopped(self, shutdown: Shutdown)
    -> impl Future<Output = Result<(), Self::Error>>;
}

/// Runs the service `S` as its binary does (see the module docs): what every `main` calls.
pub async fn run<S: Service>() -> ExitCode {
    let shutdown = crate::lifecycle::on_signal();
    // Loaded once now, then again whenever the files change (dynamic properties).
    let settings = Source::from_env(S::NAME).watch::<S::Settings>(shutdown.clone());
    // The guard flushes queued lines when `run` returns.
    let log = settings
        .as_ref()
        .map(|settings| S::log(&settings.get()).clone());
    let _logs = match telemetry::init(S::NAME, &log.unwrap_or_default()) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("{}: cannot start: {error}", S::NAME);
            return ExitCode::FAILURE;
        }
    };
    let settings = match settings {
        Ok(settings) => settings,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    follow_log_level(
        settings.map(|settings| S::log(settings).clone()),
        shutdown.clone(),
    );
    let app = match S::build(settings).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(url = %app.base_url(), admin = %app.admin_url(), "{}", S::LISTENING);
    match app.run_until_stopped(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "stopped with an error");
            ExitCode::FAILURE
        }
    }
}
