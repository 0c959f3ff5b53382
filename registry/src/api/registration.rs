//! What instances do: register, renew, leave, and what operators do to them (status
//! overrides, metadata). Each change a client makes is queued for the peers; a change a peer
//! replicated is applied but not passed on.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use registry_client::model::{InstanceDocument, ReplicationAction, Status};

use super::negotiate::negotiate;
use super::{ApiError, ErrorBody, Params, parse_millis, parse_status};
use crate::auth::{Authorized, Operators, Services, ServicesOrOperators};
use crate::domain::{AppName, OWNER_KEY, Origin, RegistryError, Renewal};
use crate::replication;
use crate::state::AppState;
use crate::xml;

/// `POST /apps/{app}`: JSON or XML (by `Content-Type`), 204 as every Eureka client expects.
#[utoipa::path(
    post,
    path = "/eureka/v2/apps/{app}",
    tag = "registration",
    summary = "Register an instance (JSON or XML body)",
    params(("app" = String, Path, description = "Application name (case-insensitive)", example = "MIDDLETIER")),
    request_body(
        content(
            (InstanceDocument = "application/json", example = json!({"instance": {
                "instanceId": "127.0.0.1:middletier:9191", "hostName": "127.0.0.1",
                "app": "MIDDLETIER", "ipAddr": "127.0.0.1", "status": "UP",
                "port": {"$": 9191, "@enabled": "true"}, "vipAddress": "middletier",
                "dataCenterInfo": {
                    "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
                    "name": "MyOwn"
                },
                "leaseInfo": {"durationInSecs": 90}
            }})),
            (String = "application/xml")
        ),
        description = "The instance, as `{\"instance\": {...}}` or Eureka's XML"),
    responses(
        (status = 204, description = "Registered"),
        (status = 400, description = "Malformed or missing input, a timestamp far in the future, or over a limit", body = ErrorBody),
        (status = 401, description = "No or wrong registry credentials", body = ErrorBody),
        (status = 403, description = "Not a service, or the instance id belongs to another", body = ErrorBody),
        (status = 413, description = "Body larger than `limits.max_body_bytes`"),
    )
)]
pub(super) async fn register(
    State(state): State<AppState>,
    caller: Authorized<Services>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let mut instance = if content_type.contains("xml") {
        xml::parse_instance(&body).map_err(|error| ApiError::Malformed(error.to_string()))?
    } else {
        serde_json::from_slice::<InstanceDocument>(&body)
            .map_err(|error| ApiError::Malformed(error.to_string()))?
            .instance
    };
    let path_app = AppName::parse(&app)?;
    if !instance.app.trim().is_empty() && AppName::parse(&instance.app)? != path_app {
        return Err(RegistryError::AppMismatch {
            body: instance.app,
            path: app,
        }
        .into());
    }
    let origin = caller.origin;
    // Who registers is taken from the credentials, never from the body; a peer's copy keeps
    // the owner the first node recorded.
    if origin == Origin::Client {
        instance.metadata.remove(OWNER_KEY);
        if let Some(owner) = caller.service() {
            instance
                .metadata
                .insert(OWNER_KEY.to_owned(), owner.to_owned());
        }
    }
    let id = state.registry.register_from(instance, origin)?;
    state.replicate(origin, || {
        state
            .registry
            .replica(path_app.as_str(), id.as_str())
            .ok()
            .map(replication::register_item)
    });
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /apps/{app}/{id}?status=&lastDirtyTimestamp=&overriddenstatus=`: 200; 404 when the
/// instance must register (again); 409 with the newer copy when a peer's is older.
#[utoipa::path(
    put,
    path = "/eureka/v2/apps/{app}/{id}",
    tag = "registration",
    summary = "Renew a lease (heartbeat)",
    params(("app" = String, Path, description = "Application name (case-insensitive)", example = "MIDDLETIER"), ("id" = String, Path, description = "Instance id", example = "127.0.0.1:middletier:9191"), ("status" = Option<Status>, Query, description = "The instance's own status"), ("lastDirtyTimestamp" = Option<u64>, Query, description = "Milliseconds; orders updates"), ("overriddenstatus" = Option<Status>, Query, description = "The override the caller holds")),
    responses(
        (status = 200, description = "Renewed"),
        (status = 400, description = "Malformed or missing input", body = ErrorBody),
        (status = 401, description = "No or wrong registry credentials", body = ErrorBody),
        (status = 403, description = "Not a service, or the instance belongs to another", body = ErrorBody),
        (status = 404, description = "Unknown instance, or the caller's copy is newer: register again (empty body, as Eureka's)"),
        (status = 409, description = "A replicated renewal older than this node's copy, which is returned", content((InstanceDocument = "application/json"), (String = "application/xml"))),
    )
)]
pub(super) async fn renew(
    State(state): State<AppState>,
    caller: Authorized<Services>,
    Path((app, id)): Path<(String, String)>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let origin = caller.origin;
    if let Some(owner) = caller.service() {
        state.registry.check_owner(&app, &id, owner)?;
    }
    let renewal = Renewal {
        last_dirty_timestamp: parse_millis(&params, "lastDirtyTimestamp"),
        overridden_status: parse_status(&params, "overriddenstatus"),
    };
    match state.registry.renew_from(&app, &id, renewal, origin) {
        Ok(()) => {}
        Err(RegistryError::Conflict { newer, .. }) => {
            let document = InstanceDocument { instance: *newer };
            let mut response = negotiate(&headers, &document, || xml::instance(&document.instance));
            *response.status_mut() = StatusCode::CONFLICT;
            return Ok(response);
        }
        Err(error) => return Err(error.into()),
    }
    state.replicate(origin, || {
        state
            .registry
            .instance(&app, &id)
            .ok()
            .map(|info| replication::heartbeat_item(&info))
    });
    Ok(StatusCode::OK.into_response())
}

#[utoipa::path(
    delete,
    path = "/eureka/v2/apps/{app}/{id}",
    tag = "registration",
    summary = "Deregister an instance",
    params(("app" = String, Path, description = "Application name (case-insensitive)", example = "MIDDLETIER"), ("id" = String, Path, description = "Instance id", example = "127.0.0.1:middletier:9191")),
    responses(
        (status = 200, description = "Deregistered"),
        (status = 400, description = "Malformed or missing input", body = ErrorBody),
        (status = 401, description = "No or wrong registry credentials", body = ErrorBody),
        (status = 403, description = "Not allowed to this caller", body = ErrorBody),
        (status = 404, description = "No such application or instance (empty body, as Eureka's)"),
    )
)]
pub(super) async fn cancel(
    State(state): State<AppState>,
    caller: Authorized<ServicesOrOperators>,
    Path((app, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let origin = caller.origin;
    if !caller.acts_on_any_instance()
        && let Some(owner) = caller.service()
    {
        state.registry.check_owner(&app, &id, owner)?;
    }
    state.registry.cancel(&app, &id)?;
    tracing::info!(%app, %id, ?origin, "instance deregistered");
    state.replicate(origin, || {
        Some(replication::item(
            ReplicationAction::Cancel,
            &app,
            &id,
            None,
            None,
        ))
    });
    Ok(StatusCode::OK)
}

/// `PUT .../status?value=OUT_OF_SERVICE&lastDirtyTimestamp=`.
#[utoipa::path(
    put,
    path = "/eureka/v2/apps/{app}/{id}/status",
    tag = "registration",
    summary = "Override an instance's status (e.g. OUT_OF_SERVICE)",
    params(("app" = String, Path, description = "Application name (case-insensitive)", example = "MIDDLETIER"), ("id" = String, Path, description = "Instance id", example = "127.0.0.1:middletier:9191"), ("value" = Status, Query, description = "The status to force"), ("lastDirtyTimestamp" = Option<u64>, Query, description = "Milliseconds")),
    responses(
        (status = 200, description = "Overridden"),
        (status = 400, description = "Malformed or missing input", body = ErrorBody),
        (status = 401, description = "No or wrong registry credentials", body = ErrorBody),
        (status = 403, description = "Not allowed to this caller", body = ErrorBody),
        (status = 404, description = "No such application or instance (empty body, as Eureka's)"),
    )
)]
pub(super) async fn override_status(
    State(state): State<AppState>,
    caller: Authorized<Operators>,
    Path((app, id)): Path<(String, String)>,
    Query(params): Params,
) -> Result<StatusCode, ApiError> {
    let origin = caller.origin;
    let status = parse_status(&params, "value").ok_or(ApiError::Parameter("value"))?;
    let dirty = parse_millis(&params, "lastDirtyTimestamp");
    state.registry.override_status(&app, &id, status, dirty)?;
    state.replicate(origin, || {
        Some(replication::item(
            ReplicationAction::StatusUpdate,
            &app,
            &id,
            Some(status),
            dirty,
        ))
    });
    Ok(StatusCode::OK)
}

/// `DELETE .../status?value=&lastDirtyTimestamp=`; without `value` the instance is UNKNOWN
/// until it registers again, as in Eureka.
#[utoipa::path(
    delete,
    path = "/eureka/v2/apps/{app}/{id}/status",
    tag = "registration",
    summary = "Remove a status override",
    params(("app" = String, Path, description = "Application name (case-insensitive)", example = "MIDDLETIER"), ("id" = String, Path, description = "Instance id", example = "127.0.0.1:middletier:9191"), ("value" = Option<Status>, Query, description = "The status to take meanwhile (default UNKNOWN until the instance registers again)"), ("lastDirtyTimestamp" = Option<u64>, Query, description = "Milliseconds")),
    responses(
        (status = 200, description = "Removed"),
        (status = 400, description = "Malformed or missing input", body = ErrorBody),
        (status = 401, description = "No or wrong registry credentials", body = ErrorBody),
        (status = 403, description = "Not allowed to this caller", body = ErrorBody),
        (status = 404, description = "No such application or instance (empty body, as Eureka's)"),
    )
)]
pub(super) async fn remove_status_override(
    State(state): State<AppState>,
    caller: Authorized<Operators>,
    Path((app, id)): Path<(String, String)>,
    Query(params): Params,
) -> Result<StatusCode, ApiError> {
    let origin = caller.origin;
    let status = parse_status(&params, "value").unwrap_or(Status::Unknown);
    let dirty = parse_millis(&params, "lastDirtyTimestamp");
    state
        .registry
        .remove_status_override(&app, &id, status, dirty)?;
    state.replicate(origin, || {
        Some(replication::item(
            ReplicationAction::DeleteStatusOverride,
            &app,
            &id,
            Some(status),
            dirty,
        ))
    });
    Ok(StatusCode::OK)
}

/// `PUT .../metadata?key=value&...`: merged into the instance's metadata.
#[utoipa::path(
    put,
    path = "/eureka/v2/apps/{app}/{id}/metadata",
    tag = "registration",
    summary = "Merge query parameters into the instance's metadata",
    params(("app" = String, Path, description = "Application name (case-insensitive)", example = "MIDDLETIER"), ("id" = String, Path, description = "Instance id", example = "127.0.0.1:middletier:9191")),
    responses(
        (status = 200, description = "Merged"),
        (status = 400, description = "Malformed or missing input", body = ErrorBody),
        (status = 401, description = "No or wrong registry credentials", body = ErrorBody),
        (status = 403, description = "Not allowed to this caller", body = ErrorBody),
        (status = 404, description = "No such application or instance (empty body, as Eureka's)"),
    )
)]
pub(super) async fn update_metadata(
    State(state): State<AppState>,
    caller: Authorized<Operators>,
    Path((app, id)): Path<(String, String)>,
    Query(params): Params,
) -> Result<StatusCode, ApiError> {
    let origin = caller.origin;
    state.registry.update_metadata(&app, &id, params)?;
    // Peers take the whole instance: Eureka's replication has no metadata action.
    state.replicate(origin, || {
        state
            .registry
            .replica(&app, &id)
            .ok()
            .map(replication::register_item)
    });
    Ok(StatusCode::OK)
}
