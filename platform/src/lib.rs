//! What every service of the recipe shares, in one place (the role Karyon played for Netflix).
//!
//! # Layout
//! - [`config`]: layered, typed settings (defaults, files, `RSS_<SECTION>__<KEY>` variables),
//!   reloaded when the files change; [`dynamic`]: the handles components read live values by.
//! - [`admin`]: the admin listener, apart from the public port: `/admin/config`, `/metrics`
//!   and each service's operator pages, bound to loopback by default.
//! - [`telemetry`]: structured logging through `tracing` (human or JSON, non-blocking, levels
//!   changeable at run time).
//! - [`metrics`]: the service's Prometheus registry, served at `/metrics` on the admin port.
//! - [`health`]: liveness (`/healthz`) and readiness (`/readyz`, `/health`) from named checks,
//!   mirrored into the registry status so balancers stop routing to a service that is not ready.
//! - [`lifecycle`]: the shutdown signal every server and background loop listens to.
//! - [`server`]: the incoming side: standard middleware stack (request ids, spans, metrics,
//!   timeouts) and the one accept loop (optional mutual TLS, header-read timeout, connection
//!   cap, graceful shutdown).
//! - [`tls`]: service identity: the deployment CA, each service's certificate, and the
//!   verifiers that trust a peer by its service name; `tls::mint` (feature `mint`) makes them.
//! - [`service`]: the one service shape: the [`service::Service`] trait every `Application`
//!   implements, and [`service::run`], the steps every `main` shares (signal, watched
//!   settings, logging, build, serve, exit code).
//! - `testing` (feature `test-support`): `eventually`, the one way tests wait for a condition;
//!   `TestPki`, a deployment CA minted for a test;
//!   `LogCapture` to read what services log; `parse_prometheus`, a strict `/metrics` parser,
//!   and `scrape_metrics` to fetch and parse one; `run_schemathesis` to fuzz an OpenAPI document.
//! - [`http`]: the outgoing HTTP client builder (TLS provider, User-Agent, timeouts).

pub mod admin;
pub mod config;
pub mod dynamic;
pub mod health;
pub mod http;
pub mod lifecycle;
pub mod metrics;
pub mod server;
pub mod service;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod tls;
