//! Operator endpoints every service serves (Karyon's admin console, reduced to what operators
//! need):
//!
//! - `GET /admin/config`: the effective configuration as JSON, exactly what the service runs
//!   with after every layer and every reload, with each [`crate::config::Secret`] shown as
//!   `"[redacted]"`; plus the environment, the files read, and which keys are dynamic.
//!
//! **Exposure.** These are for operators, not users: they reveal topology (hosts, ports,
//! peers) though never a secret. They are served on the service's own port, like `/health`
//! and `/metrics`, so keep that port on a private network (as the Compose file does for the
//! registry and middle tiers) or filter `/admin/` at the load balancer in front of the edge.
//! Moving them to a separate admin listener is a change to this router's mounting only.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::config::{Configuration, Live};

/// The admin routes for a service whose configuration is `config`.
pub fn router<T: Configuration>(config: Live<T>) -> Router {
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
