//! For operators: the node's readiness, version, renewals, self-preservation and peers, as
//! the dashboard shows them, in JSON.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use serde_json::json;

use crate::state::AppState;

/// `GET /status`: what the dashboard shows, as JSON.
#[utoipa::path(
    get,
    path = "/status",
    tag = "operations",
    summary = "Readiness, version, renewals, self-preservation and peers, as the dashboard shows",
    responses((status = 200, description = "The node's status", body = Object))
)]
pub(super) async fn status(State(state): State<AppState>) -> Json<serde_json::Value> {
    let preservation = state.registry.self_preservation();
    Json(json!({
        "ready": state.ready.load(Ordering::Acquire),
        "version": state.registry.version(),
        "renewals": state.registry.renewals(),
        "instances": state.registry.len(),
        "self_preservation": {
            "enabled": preservation.enabled,
            "threshold": preservation.threshold,
            "expected": preservation.expected,
            "live": preservation.live,
            "allowance": preservation.allowance,
            "active": preservation.active,
        },
        "peers": state.peers.status(),
    }))
}
