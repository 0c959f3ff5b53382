use std::process::ExitCode;

use middletier::{Application, Settings};

#[tokio::main]
async fn main() -> ExitCode {
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
