//! Runs the edge: `cargo run -p edge`, then open the logged URL in a browser.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    platform::service::run::<edge::Application>().await
}
