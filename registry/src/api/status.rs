//! For operators: the node's readiness, version, renewals, self-preservation and peers, as
//! the dashboard shows them, in JSON. Served on the admin port (see [`super::operator_routes`]),
//! so it is not part of the API's OpenAPI document.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use serde_json::json;

use crate::state::AppState;

/// `GET /status`: what the dashboard shows, as JSON.
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
