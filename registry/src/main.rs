//! Runs the registry: `cargo run -p registry`, then point clients at the logged URL.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    platform::service::run::<registry::Application>().await
}
