//! The registry's HTTP surface, in two routers: [`router`], the public one (the Eureka API of
//! [`crate::api`] and the health endpoints, behind [`crate::auth`]'s boundary and the stack
//! every service uses; health stays outside the boundary, for orchestrators' probes), and
//! [`operator_routes`], what the admin listener adds to its own endpoints (the dashboard of
//! [`crate::dashboard`] and `/status`). The API and the dashboard both take [`AppState`] and
//! know nothing of each other; they meet here.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;
use crate::{api, auth, dashboard};

/// Every registry page and answer: nothing but the registry's own stylesheet loads, no script
/// runs, and no other site frames it, whatever a registered instance put in its fields.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Every public route of the registry with its state and layers, ready to serve (tests call
/// it without a socket).
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/", get(index))
        .merge(api::routes())
        // Registrations and batches past the limit answer 413 before they are read whole.
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        // Who is calling, before any handler runs (401 for wrong or missing credentials).
        .layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            auth::authenticate,
        ))
        .with_state(state.clone())
        .merge(state.health.router())
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        // gzip when the client sends `Accept-Encoding: gzip`, as Eureka does for its reads.
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .no_br()
                .no_deflate()
                .no_zstd(),
        );
    platform::server::with_standard_layers(routes, api::REQUEST_TIMEOUT, &state.metrics)
}

/// The operator pages, for [`platform::admin::router`]: the dashboard at `/` and
/// `/dashboard` (with its stylesheet), and `/status`.
pub fn operator_routes(state: AppState) -> Router {
    Router::new()
        .route("/", get(dashboard_page))
        .route("/dashboard", get(dashboard_page))
        .merge(dashboard::routes())
        .merge(api::operator_routes())
        .with_state(state)
        // The dashboard shows what instances registered: it gets the same strict policy.
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
}

/// `/` on the public port says what the service is, to anyone: the dashboard is an operator
/// page, on the admin port.
async fn index() -> Json<serde_json::Value> {
    Json(json!({
        "service": "registry",
        "description": "Eureka-compatible service registry",
        "api": ["/eureka/v2/apps", "/eureka/apps"],
        "health": "/health",
    }))
}

async fn dashboard_page(State(state): State<AppState>) -> Response {
    match dashboard::render(&state) {
        Ok(page) => Html(page).into_response(),
        Err(error) => {
            let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            response
                .extensions_mut()
                .insert(platform::server::InternalError(error.to_string()));
            response
        }
    }
}
