//! The Eureka REST API over [`Registry`], with Eureka's status codes and formats.
//!
//! Served under both `/eureka/v2/` (Netflix's clients) and `/eureka/` (Spring Cloud's and the
//! Python client's defaults), so any Eureka client finds it with its default path. Reads answer
//! XML unless `Accept` contains `json`, exactly Eureka's rule; registrations may be JSON or
//! XML; responses are gzipped when asked. Beyond Eureka, reads take `?index=&wait=` to wait for
//! the next change (see [`registry_client::INDEX_HEADER`]), and `/` is a dashboard.
//!
//! Changes made by clients are replicated to the peers; changes marked with
//! `x-netflix-discovery-replication: true` come from a peer and are not replicated again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::{get, post, put},
};
use platform::health::Health;
use platform::lifecycle::Shutdown;
use registry_client::INDEX_HEADER;
use registry_client::model::{
    ApplicationDocument, Applications, ApplicationsDocument, InstanceDocument, InstanceInfo,
    ReplicationAction, ReplicationList, ReplicationResults, Status,
};
use serde::Serialize;
use serde_json::json;
use tower_http::compression::CompressionLayer;

use crate::dashboard;
use crate::domain::{AppName, Origin, Registry, RegistryError, Renewal};
use crate::replication::{self, Peers, REPLICATION_HEADER};
use crate::xml;

/// Every call is a map lookup or a bounded wait; anything slower is stuck, and must not hold
/// up shutdown.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a watch may wait, safely inside [`REQUEST_TIMEOUT`].
const MAX_WATCH_WAIT: Duration = Duration::from_secs(8);
const DEFAULT_WATCH_WAIT: Duration = Duration::from_secs(5);

/// What the handlers share. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub registry: Registry,
    pub health: Health,
    pub peers: Peers,
    /// Replicated changes queued per peer at most.
    pub queue_capacity: usize,
    /// False until the initial sync from peers is over: client reads answer 503 meanwhile, so
    /// clients read another node rather than a half-copied registry.
    pub ready: Arc<AtomicBool>,
    /// Ends waiting watches at shutdown.
    pub shutdown: Shutdown,
    /// This node's Eureka URL, for the dashboard.
    pub node: String,
    /// Served at `/metrics`.
    pub metrics: platform::metrics::Metrics,
}

impl AppState {
    /// A single node, ready at once.
    pub fn new(registry: Registry, health: Health) -> AppState {
        AppState {
            metrics: crate::metrics::metrics(&registry),
            registry,
            health,
            peers: Peers::none(),
            queue_capacity: 10_000,
            ready: Arc::new(AtomicBool::new(true)),
            shutdown: Shutdown::new(),
            node: String::new(),
        }
    }

    fn replicate(
        &self,
        origin: Origin,
        item: impl FnOnce() -> Option<registry_client::model::ReplicationItem>,
    ) {
        if origin == Origin::Client
            && !self.peers.is_empty()
            && let Some(item) = item()
        {
            self.peers.replicate(&item, self.queue_capacity);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("malformed registration: {0}")]
    Malformed(String),
    #[error("missing or invalid parameter {0}")]
    Parameter(&'static str),
    #[error("the registry is copying its peers' state; read another node")]
    NotReady,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Registry(RegistryError::Missing(_) | RegistryError::AppMismatch { .. })
            | ApiError::Malformed(_)
            | ApiError::Parameter(_) => StatusCode::BAD_REQUEST,
            ApiError::Registry(
                RegistryError::UnknownApplication(_) | RegistryError::UnknownInstance { .. },
            ) => StatusCode::NOT_FOUND,
            ApiError::Registry(RegistryError::Conflict { .. }) => StatusCode::CONFLICT,
            ApiError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
        };
        // Every message here is about the client's request; none reveals internals.
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

pub fn router(state: AppState) -> Router {
    let eureka = Router::new()
        .route("/apps", get(applications))
        // Jersey ignores a trailing slash, and the Python and JavaScript clients send one.
        .route("/apps/", get(applications))
        .route("/apps/delta", get(delta))
        .route("/apps/{app}", post(register).get(application))
        .route("/apps/{app}/{id}", get(instance).put(renew).delete(cancel))
        .route(
            "/apps/{app}/{id}/status",
            put(override_status).delete(remove_status_override),
        )
        .route("/apps/{app}/{id}/metadata", put(update_metadata))
        .route("/instances/{id}", get(instance_by_id))
        .route("/vips/{vip}", get(vip))
        .route("/svips/{svip}", get(svip))
        .route("/peerreplication/batch", post(replication_batch));
    let routes = Router::new()
        .route("/", get(index))
        .route("/status", get(status))
        .route("/openapi.json", get(openapi))
        .route("/registry.css", get(dashboard::stylesheet))
        .nest("/eureka/v2", eureka.clone())
        .nest("/eureka", eureka)
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
    platform::server::with_standard_layers(routes, REQUEST_TIMEOUT, &state.metrics)
}

type Params = Query<HashMap<String, String>>;

/// Every error answer: what was wrong with the request (never internals).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// The registry's OpenAPI document, generated from the handlers and the wire types in
/// [`registry_client::model`], served at `/openapi.json`. Every path under `/eureka/v2/` is also served
/// under `/eureka/`.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    info(
        title = "registry",
        description = "Eureka-compatible service registry of the RSS recipe. Reads answer XML \
            unless `Accept` contains `json` (Eureka's rule); reads of several applications also \
            accept `?index=N&wait=5s` (at most 8 s) to wait for the next change."
    ),
    paths(
        applications,
        delta,
        register,
        application,
        instance,
        renew,
        cancel,
        override_status,
        remove_status_override,
        update_metadata,
        instance_by_id,
        vip,
        svip,
        replication_batch,
        status
    ),
    components(schemas(ErrorBody, registry_client::model::PortWire)),
    tags(
        (name = "registration", description = "What instances do: register, renew, leave"),
        (name = "discovery", description = "What clients read"),
        (name = "replication", description = "Between registry nodes"),
        (name = "operations", description = "For operators")
    )
)]
pub struct RegistryApi;

/// `GET /openapi.json`.
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(<RegistryApi as utoipa::OpenApi>::openapi())
}

fn origin(headers: &HeaderMap) -> Origin {
    let replicated = headers
        .get(REPLICATION_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    if replicated {
        Origin::Peer
    } else {
        Origin::Client
    }
}

/// Eureka's rule: JSON when `Accept` contains "json", XML otherwise (no header included).
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.to_ascii_lowercase().contains("json"))
}

fn negotiate<T: Serialize>(
    headers: &HeaderMap,
    document: &T,
    as_xml: impl FnOnce() -> String,
) -> Response {
    if wants_json(headers) {
        Json(document).into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            )],
            as_xml(),
        )
            .into_response()
    }
}

fn parse_status(params: &HashMap<String, String>, key: &str) -> Option<Status> {
    params.get(key).map(|value| Status::parse(value))
}

fn parse_millis(params: &HashMap<String, String>, key: &str) -> Option<u64> {
    params.get(key).and_then(|value| value.trim().parse().ok())
}

/// Client reads wait for the initial sync; a peer's reads (its own initial sync) never do.
fn check_ready(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if origin(headers) == Origin::Client && !state.ready.load(Ordering::Acquire) {
        return Err(ApiError::NotReady);
    }
    Ok(())
}

/// `?index=N&wait=5s`: holds the read until the registry's version differs from `N`, `wait`
/// passes (capped at 8 s) or the server shuts down. Without `index`, answers at once.
async fn wait_for_change(state: &AppState, params: &HashMap<String, String>) {
    let Some(index) = parse_millis(params, "index") else {
        return;
    };
    let wait = params
        .get("wait")
        .and_then(|wait| parse_wait(wait))
        .unwrap_or(DEFAULT_WATCH_WAIT)
        .min(MAX_WATCH_WAIT);
    let mut versions = state.registry.subscribe();
    tokio::select! {
        _ = versions.wait_for(|version| *version != index) => {}
        () = tokio::time::sleep(wait) => {}
        () = state.shutdown.cancelled() => {}
    }
}

/// `500ms`, `5s` or plain seconds.
fn parse_wait(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Some(millis) = text.strip_suffix("ms") {
        return millis.trim().parse().ok().map(Duration::from_millis);
    }
    let seconds = text.strip_suffix('s').unwrap_or(text);
    seconds.trim().parse().ok().map(Duration::from_secs)
}

/// A read of several applications, with the version it reflects in `X-Registry-Index`.
fn applications_response(headers: &HeaderMap, applications: Applications) -> Response {
    let index = applications.versions_delta.clone();
    let document = ApplicationsDocument { applications };
    let mut response = negotiate(headers, &document, || {
        xml::applications(&document.applications)
    });
    if let Ok(value) = HeaderValue::from_str(&index) {
        response.headers_mut().insert(INDEX_HEADER, value);
    }
    response
}

/// `/` answers JSON to API clients and the dashboard to browsers.
async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if wants_json(&headers) {
        return Json(json!({
            "service": "registry",
            "description": "Eureka-compatible service registry",
            "api": ["/eureka/v2/apps", "/eureka/apps"],
            "health": "/health",
            "status": "/status",
        }))
        .into_response();
    }
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

/// `GET /status`: what the dashboard shows, as JSON.
#[utoipa::path(
    get,
    path = "/status",
    tag = "operations",
    summary = "Readiness, version, renewals, self-preservation and peers, as the dashboard shows",
    responses((status = 200, description = "The node's status", body = Object))
)]
async fn status(State(state): State<AppState>) -> Json<serde_json::Value> {
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
        (status = 400, description = "Malformed or missing input", body = ErrorBody),
    )
)]
async fn register(
    State(state): State<AppState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let instance = if content_type.contains("xml") {
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
    let origin = origin(&headers);
    let id = state.registry.register_from(instance, origin)?;
    state.replicate(origin, || {
        state
            .registry
            .instance(path_app.as_str(), id.as_str())
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
        (status = 404, description = "Unknown instance, or the caller's copy is newer: register again", body = ErrorBody),
        (status = 409, description = "A replicated renewal older than this node's copy, which is returned", content((InstanceDocument = "application/json"), (String = "application/xml"))),
    )
)]
async fn renew(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let origin = origin(&headers);
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
        (status = 404, description = "No such application or instance", body = ErrorBody),
    )
)]
async fn cancel(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let origin = origin(&headers);
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
        (status = 404, description = "No such application or instance", body = ErrorBody),
    )
)]
async fn override_status(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let origin = origin(&headers);
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
        (status = 404, description = "No such application or instance", body = ErrorBody),
    )
)]
async fn remove_status_override(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let origin = origin(&headers);
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
        (status = 404, description = "No such application or instance", body = ErrorBody),
    )
)]
async fn update_metadata(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let origin = origin(&headers);
    state.registry.update_metadata(&app, &id, params)?;
    // Peers take the whole instance: Eureka's replication has no metadata action.
    state.replicate(origin, || {
        state
            .registry
            .instance(&app, &id)
            .ok()
            .map(replication::register_item)
    });
    Ok(StatusCode::OK)
}

#[utoipa::path(
    get,
    path = "/eureka/v2/apps",
    tag = "discovery",
    summary = "Every application and its instances (`?index=N&wait=5s` waits for a change)",
    responses(
        (status = 200, description = "The registry; JSON when `Accept` contains `json`, else Eureka's XML", content((ApplicationsDocument = "application/json"), (String = "application/xml")), headers(("X-Registry-Index" = String, description = "The registry version this answer reflects"))),
        (status = 503, description = "The node is still copying its peers' registry; read another node", body = ErrorBody),
    )
)]
async fn applications(
    State(state): State<AppState>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_ready(&state, &headers)?;
    wait_for_change(&state, &params).await;
    Ok(applications_response(
        &headers,
        state.registry.applications(),
    ))
}

#[utoipa::path(
    get,
    path = "/eureka/v2/apps/delta",
    tag = "discovery",
    summary = "Changes of the last few minutes, with the whole registry's hash code",
    responses(
        (status = 200, description = "Recent changes; JSON when `Accept` contains `json`, else Eureka's XML", content((ApplicationsDocument = "application/json"), (String = "application/xml")), headers(("X-Registry-Index" = String, description = "The registry version this answer reflects"))),
        (status = 503, description = "The node is still copying its peers' registry; read another node", body = ErrorBody),
    )
)]
async fn delta(
    State(state): State<AppState>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_ready(&state, &headers)?;
    wait_for_change(&state, &params).await;
    Ok(applications_response(&headers, state.registry.delta()))
}

#[utoipa::path(
    get,
    path = "/eureka/v2/apps/{app}",
    tag = "discovery",
    summary = "One application and its instances",
    params(("app" = String, Path, description = "Application name (case-insensitive)", example = "MIDDLETIER")),
    responses(
        (status = 200, description = "The application; JSON when `Accept` contains `json`, else Eureka's XML", content((ApplicationDocument = "application/json"), (String = "application/xml"))),
        (status = 400, description = "Malformed or missing input", body = ErrorBody),
        (status = 404, description = "No such application or instance", body = ErrorBody),
        (status = 503, description = "The node is still copying its peers' registry; read another node", body = ErrorBody),
    )
)]
async fn application(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_ready(&state, &headers)?;
    wait_for_change(&state, &params).await;
    let document = ApplicationDocument {
        application: state.registry.application(&app)?,
    };
    Ok(negotiate(&headers, &document, || {
        xml::application(&document.application)
    }))
}

fn instance_response(headers: &HeaderMap, instance: InstanceInfo) -> Response {
    let document = InstanceDocument { instance };
    negotiate(headers, &document, || xml::instance(&document.instance))
}

#[utoipa::path(
    get,
    path = "/eureka/v2/apps/{app}/{id}",
    tag = "discovery",
    summary = "One instance",
    params(("app" = String, Path, description = "Application name (case-insensitive)", example = "MIDDLETIER"), ("id" = String, Path, description = "Instance id", example = "127.0.0.1:middletier:9191")),
    responses(
        (status = 200, description = "The instance; JSON when `Accept` contains `json`, else Eureka's XML", content((InstanceDocument = "application/json"), (String = "application/xml"))),
        (status = 400, description = "Malformed or missing input", body = ErrorBody),
        (status = 404, description = "No such application or instance", body = ErrorBody),
        (status = 503, description = "The node is still copying its peers' registry; read another node", body = ErrorBody),
    )
)]
async fn instance(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_ready(&state, &headers)?;
    Ok(instance_response(
        &headers,
        state.registry.instance(&app, &id)?,
    ))
}

#[utoipa::path(
    get,
    path = "/eureka/v2/instances/{id}",
    tag = "discovery",
    summary = "One instance, by id alone",
    params(("id" = String, Path, description = "Instance id", example = "127.0.0.1:middletier:9191")),
    responses(
        (status = 200, description = "The instance; JSON when `Accept` contains `json`, else Eureka's XML", content((InstanceDocument = "application/json"), (String = "application/xml"))),
        (status = 404, description = "No such instance"),
        (status = 503, description = "The node is still copying its peers' registry; read another node", body = ErrorBody),
    )
)]
async fn instance_by_id(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_ready(&state, &headers)?;
    match state.registry.instance_by_id(&id) {
        Some(info) => Ok(instance_response(&headers, info)),
        None => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

#[utoipa::path(
    get,
    path = "/eureka/v2/vips/{vip}",
    tag = "discovery",
    summary = "The instances serving a VIP address",
    params(("vip" = String, Path, description = "VIP address", example = "middletier")),
    responses(
        (status = 200, description = "The applications with instances serving it; JSON when `Accept` contains `json`, else Eureka's XML", content((ApplicationsDocument = "application/json"), (String = "application/xml")), headers(("X-Registry-Index" = String, description = "The registry version this answer reflects"))),
        (status = 503, description = "The node is still copying its peers' registry; read another node", body = ErrorBody),
    )
)]
async fn vip(
    State(state): State<AppState>,
    Path(vip): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_ready(&state, &headers)?;
    wait_for_change(&state, &params).await;
    Ok(applications_response(&headers, state.registry.vip(&vip)))
}

#[utoipa::path(
    get,
    path = "/eureka/v2/svips/{svip}",
    tag = "discovery",
    summary = "The instances serving a secure VIP address",
    params(("svip" = String, Path, description = "Secure VIP address")),
    responses(
        (status = 200, description = "The applications with instances serving it; JSON when `Accept` contains `json`, else Eureka's XML", content((ApplicationsDocument = "application/json"), (String = "application/xml")), headers(("X-Registry-Index" = String, description = "The registry version this answer reflects"))),
        (status = 503, description = "The node is still copying its peers' registry; read another node", body = ErrorBody),
    )
)]
async fn svip(
    State(state): State<AppState>,
    Path(svip): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_ready(&state, &headers)?;
    wait_for_change(&state, &params).await;
    Ok(applications_response(&headers, state.registry.svip(&svip)))
}

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
    )
)]
async fn replication_batch(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<registry_client::model::ReplicationResults>, ApiError> {
    let batch: ReplicationList =
        serde_json::from_slice(&body).map_err(|error| ApiError::Malformed(error.to_string()))?;
    Ok(Json(replication::apply_batch(&state.registry, batch)))
}
