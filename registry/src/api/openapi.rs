//! The API's OpenAPI document, generated from the handlers' annotations and the wire types.

use axum::Json;

use super::{ErrorBody, discovery, registration, replication};

/// The registry's OpenAPI document, generated from the handlers and the wire types in
/// [`registry_client::model`], served at `/openapi.json`. Every path under `/eureka/v2/` is
/// also served under `/eureka/`.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    info(
        title = "registry",
        description = "Eureka-compatible service registry of the RSS recipe. Reads answer XML \
            unless `Accept` contains `json` (Eureka's rule); reads of several applications also \
            accept `?index=N&wait=5s` (at most 8 s) to wait for the next change."
    ),
    paths(
        discovery::applications,
        discovery::delta,
        registration::register,
        discovery::application,
        discovery::instance,
        registration::renew,
        registration::cancel,
        registration::override_status,
        registration::remove_status_override,
        registration::update_metadata,
        discovery::instance_by_id,
        discovery::vip,
        discovery::svip,
        replication::replication_batch
    ),
    components(schemas(ErrorBody, registry_client::model::PortWire)),
    tags(
        (name = "registration", description = "What instances do: register, renew, leave"),
        (name = "discovery", description = "What clients read"),
        (name = "replication", description = "Between registry nodes")
    )
)]
pub struct RegistryApi;

/// `GET /openapi.json`.
pub(super) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(<RegistryApi as utoipa::OpenApi>::openapi())
}
