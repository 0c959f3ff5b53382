//! `middletier` runs the service; `middletier check-feed <url-or-file>` is a tool for operators.

mod check;

use std::process::ExitCode;

use middletier::{Application, Settings};

const USAGE: &str = "\
Usage: middletier                                 run the middle tier (settings: RSS_* variables)
       middletier check-feed <url-or-file> [--json]   show what fetching and parsing a feed finds
       middletier --help";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => serve().await,
        Some("check-feed") => check::run(&args[1..]).await,
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}\n\n{}", check::USAGE);
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("middletier: unknown command '{other}'\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn serve() -> ExitCode {
    let shutdown = platform::lifecycle::on_signal();
    // Loaded once now, then again whenever the files change (dynamic properties).
    let settings =
        platform::config::Source::from_env("middletier").watch::<Settings>(shutdown.clone());
    // Logging starts as configured, or with the defaults to report a configuration error. The
    // guard flushes queued lines when `main` returns.
    let log = settings.as_ref().map(|settings| settings.get().log.clone());
    let _logs = match platform::telemetry::init("middletier", &log.unwrap_or_default()) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("middletier: cannot start: {error}");
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
    tracing::info!(url = %app.base_url(), "middle tier listening");
    match app.run_until_stopped(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "stopped with an error");
            ExitCode::FAILURE
        }
    }
}
