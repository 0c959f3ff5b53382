//! Runs the registry: `cargo run -p registry`, then point clients at the printed URL.

use registry::{Application, Settings};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    platform::telemetry::init("registry");
    let settings: Settings = platform::config::load("registry")?;
    let application = Application::build(settings)?;
    tracing::info!(url = %application.base_url(), "registry listening");
    println!("registry listening at {}", application.base_url());
    application
        .run_until_stopped(platform::lifecycle::on_signal())
        .await?;
    Ok(())
}
