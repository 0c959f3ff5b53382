//! The baseline for `deploy/load/run.sh`: a bare axum "hello" on the same runtime settings as
//! the edge (`#[tokio::main]`, one worker per core), so the script can show what the edge's
//! work costs on top of HTTP itself.
//!
//! `cargo run --release -p edge --example bench_hello -- 18081`

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "18081".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let router = Router::new().route("/", get(|| async { "hello" }));
    axum::serve(listener, router).await
}
