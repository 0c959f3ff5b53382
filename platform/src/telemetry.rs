//! Structured logging (the role Blitz4j played): `tracing` with an `EnvFilter`.
//!
//! `RUST_LOG` selects what is logged (default `info`); `RSS_LOG_FORMAT=json` switches to one
//! JSON object per line for log shippers.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (several services in one test) are no-ops.
pub fn init(service: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("RSS_LOG_FORMAT").is_ok_and(|format| format == "json");
    let result = if json {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .try_init()
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).try_init()
    };
    if result.is_ok() {
        tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
    }
}
