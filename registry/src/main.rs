//! Runs the registry: `cargo run -p registry`, then point clients at the printed URL.

use registry::{Application, Settings};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shutdown = platform::lifecycle::on_signal();
    // Loaded once now, then again whenever the files change (dynamic properties).
    let settings =
        platform::config::Source::from_env("registry").watch::<Settings>(shutdown.clone());
    // Logging starts as configured, or with the defaults to report a configuration error. The
    // guard flushes queued lines when `main` returns.
    let log = settings.as_ref().map(|settings| settings.get().log.clone());
    let _logs = platform::telemetry::init("registry", &log.unwrap_or_default())?;
    let settings = settings.inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    platform::config::follow_log_level(
        settings.map(|settings| settings.log.clone()),
        shutdown.clone(),
    );
    let application = Application::build_live(settings)?;
    tracing::info!(url = %application.base_url(), "registry listening");
    println!("registry listening at {}", application.base_url());
    application.run_until_stopped(shutdown).await?;
    Ok(())
}
