//! The admin listener: operator endpoints on a port of their own, apart from the port users and
//! other services call (Karyon's admin console had its own port too).
//!
//! Every service binds it next to its public port ([`Admin::bind`], settings `[admin]`: host
//! `127.0.0.1`, port = the service port + 1 unless set) and serves on it, through the same
//! [`crate::server::serve`] and the same request ids, spans and request metrics:
//!
//! - `GET /admin/config`: the effective configuration as JSON, exactly what the service runs
//!   with after every layer and every reload, with each [`crate::config::Secret`] shown as
//!   `"[redacted]"`; plus the environment, the files read, and which keys are dynamic;
//! - `GET /metrics`: the service's Prometheus registry ([`crate::metrics`]);
//! - the health endpoints, as on the public port ([`crate::health`]);
//! - the service's own operator pages, passed to [`router`] (the edge's resilience dashboard
//!   and `/hystrix.stream`, the registry's dashboard and `/status`, the middle tier's chaos
//!   controls).
//!
//! **Exposure.** These reveal topology (hosts, ports, peers, per-route traffic) and, for chaos,
//! change behaviour, though they never show a secret. The public ports serve none of them
//! (404), so publishing a public port publishes no operator page; the admin port is bound to
//! loopback by default, reached with `docker compose exec`, an SSH tunnel, or by binding it to a
//! private operator interface (`admin.host`). Health stays on the public port as well, because
//! load balancers, Compose health checks and the registry's health-check URL probe the port
//! they send traffic to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::config::{AdminSettings, BindError, Configuration, Live};
use crate::health::Health;
use crate::lifecycle::Shutdown;
use crate::metrics::Metrics;

/// Operator pages answer at once; event streams are bounded by their own idle timeout, not by
/// this (it ends at the response head).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A service's admin listener, bound and not serving yet.
#[derive(Debug)]
pub struct Admin {
    listener: TcpListener,
    address: SocketAddr,
}

impl Admin {
    /// Binds `settings` for a service whose own port setting is `service_port` (see
    /// [`AdminSettings::port_for`]).
    pub async fn bind(settings: &AdminSettings, service_port: u16) -> Result<Admin, BindError> {
        let listener = settings.bind(service_port).await?;
        let address = listener.local_addr().map_err(|source| {
            BindError::new(format!("{}:{service_port}", settings.host), source)
        })?;
        Ok(Admin { listener, address })
    }

    /// The address bound (tests check it is loopback).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where an operator on this host reaches it, e.g. `http://127.0.0.1:9091/`.
    pub fn url(&self) -> String {
        // A wildcard bind is reachable on loopback; a client cannot connect to 0.0.0.0.
        let ip = match self.address.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}/", SocketAddr::new(ip, self.address.port()))
    }

    /// Serves `router` (from [`router`]) until `shutdown` is cancelled.
    pub async fn serve(self, router: Router, shutdown: Shutdown) -> std::io::Result<()> {
        crate::server::serve(self.listener, router, shutdown).await
    }
}

/// What an admin listener serves: `operator` (the service's own pages), `/admin/config`,
/// `/metrics` and health, behind the standard layers (request ids, spans, metrics).
pub fn router<T: Configuration>(
    operator: Router,
    config: Live<T>,
    metrics: &Metrics,
    health: &Health,
) -> Router {
    let routes = operator
        .merge(config_router(config))
        .merge(metrics.router())
        .merge(health.router());
    crate::server::with_standard_layers(routes, REQUEST_TIMEOUT, metrics)
}

/// `GET /admin/config` for a service whose configuration is `config`.
fn config_router<T: Configuration>(config: Live<T>) -> Router {
    Router::new().route(
        "/admin/config",
        get(move || {
            let report = config.report();
            async move {
                (
                    // Configuration changes at run time: never serve a cached copy.
                    [(header::CACHE_CONTROL, "no-store")],
                    Json(report),
                )
                    .into_response()
            }
        }),
    )
}
