//! Serving HTTP the same way in every service: one middleware stack, graceful shutdown.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::lifecycle::Shutdown;

/// The internal cause of a 5xx. Handlers' error types put it in the response's extensions
/// instead of the body (which must say nothing internal); [`with_standard_layers`] logs it, so
/// every error is logged exactly once, by the transport.
#[derive(Clone, Debug)]
pub struct InternalError(pub String);

/// Wraps `router` in the stack every service uses (outermost first):
/// - `TraceLayer`: one span per request, status and latency logged;
/// - internal-error logging (see [`InternalError`]);
/// - `TimeoutLayer`: no request outlives `request_timeout` (also bounds graceful shutdown).
pub fn with_standard_layers(router: Router, request_timeout: Duration) -> Router {
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            request_timeout,
        ))
        .layer(axum::middleware::map_response(log_internal_error))
        .layer(TraceLayer::new_for_http())
}

async fn log_internal_error(response: Response) -> Response {
    if let Some(InternalError(cause)) = response.extensions().get::<InternalError>() {
        tracing::error!(status = %response.status(), %cause, "request failed");
    }
    response
}

/// Serves until `shutdown` is cancelled, then stops accepting and lets in-flight requests
/// finish (bounded by the request timeout).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
