use std::process::ExitCode;

use edge::{Application, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    let shutdown = platform::lifecycle::on_signal();
    // Loaded once now, then again whenever the files change (dynamic properties).
    let settings = platform::config::Source::from_env("edge").watch::<Settings>(shutdown.clone());
    // Logging starts as configured, or with the defaults to report a configuration error. The
    // guard flushes queued lines when `main` returns.
    let log = settings.as_ref().map(|settings| settings.get().log.clone());
    let _logs = match platform::telemetry::init("edge", &log.unwrap_or_default()) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("edge: cannot start: {error}");
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
    platform::config::follow_log_level(
        settings.map(|settings| settings.log.clone()),
        shutdown.clone(),
    );
    let app = match Application::build_live(settings).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(url = %app.base_url(), "edge listening: open this URL in a browser");
    match app.run_until_stopped(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "stopped with an error");
            ExitCode::FAILURE
        }
    }
}
