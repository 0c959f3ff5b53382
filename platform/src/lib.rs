//! What every service of the recipe shares, in one place (the role Karyon played for Netflix).
//!
//! # Layout
//! - [`config`]: layered, typed settings (defaults, files, `RSS_<SECTION>__<KEY>` variables).
//! - [`telemetry`]: structured logging through `tracing`.
//! - [`health`]: the service's health as one value, served at `/health` and mirrored into the
//!   registry status so balancers stop routing to a service that is not ready.
//! - [`lifecycle`]: the shutdown signal every server and background loop listens to.
//! - [`server`]: the incoming side: standard middleware stack and graceful serving.
//! - `testing` (feature `test-support`): `eventually`, the one way tests wait for a condition.
//! - [`http`]: the outgoing HTTP client builder (TLS provider, User-Agent, timeouts).

pub mod config;
pub mod health;
pub mod http;
pub mod lifecycle;
pub mod server;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;
