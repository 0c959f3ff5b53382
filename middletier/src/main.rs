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
    platform::telemetry::init("middletier");
    let settings = match platform::config::load::<Settings>("middletier") {
        Ok(settings) => settings,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(url = %app.base_url(), "middle tier listening");
    match app
        .run_until_stopped(platform::lifecycle::on_signal())
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "stopped with an error");
            ExitCode::FAILURE
        }
    }
}
