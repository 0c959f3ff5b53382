//! The registry's HTTP surface, in two routers: [`router`], the public one (the Eureka API of
//! [`crate::api`] and the health endpoints, behind the stack every service uses), and
//! [`operator_routes`], what the admin listener adds to its own endpoints (the dashboard of
//! [`crate::dashboard`] and `/status`). The API and the dashboard both take [`AppState`] and
//! know nothing of each other; they meet here.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::compression::CompressionLayer;

use crate::state::AppState;
use crate::{api, dashboard};

/// Every public route of the registry with its state and layers, ready to serve (tests call
/// it without a socket).
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/", get(index))
        .merge(api::routes())
        .with_state(state.clone())
        .merge(state.health.router())
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
