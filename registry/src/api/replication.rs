//! Between registry nodes: a peer's batch of changes, applied here without being replicated
//! again (see [`crate::replication`] for the sending side).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use registry_client::model::{ReplicationList, ReplicationResults};

use super::{ApiError, ErrorBody};
use crate::auth::{Authorized, Peers};
use crate::replication;
use crate::state::AppState;

/// `POST /peerreplication/batch`: a peer's changes, each answered as its own call would be.
#[utoipa::path(
    post,
    path = "/eureka/v2/peerreplication/batch",
    tag = "replication",
    summary = "Apply a peer's batch of changes (registry nodes only)",
    request_body(content = ReplicationList, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per item, in order", body = ReplicationResults),
        (status = 400, description = "Malformed or missing input", body = ErrorBody),
        (status = 401, description = "No or wrong registry credentials", body = ErrorBody),
        (status = 403, description = "The credentials are not a peer's", body = ErrorBody),
    )
)]
pub(super) async fn replication_batch(
    State(state): State<AppState>,
    _peer: Authorized<Peers>,
    body: Bytes,
) -> Result<Json<ReplicationResults>, ApiError> {
    let batch: ReplicationList =
        serde_json::from_slice(&body).map_err(|error| ApiError::Malformed(error.to_string()))?;
    Ok(Json(replication::apply_batch(&state.registry, batch)))
}
