//! The Eureka REST API over [`Registry`]: JSON only for now.
//!
//! Served under both `/eureka/v2/` (Netflix's clients) and `/eureka/` (Spring Cloud's and the
//! Python client's defaults), so any Eureka client finds it with its default path.

use std::time::Duration;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use platform::health::Health;
use serde_json::json;

use crate::domain::{AppName, Registry, RegistryError};
use crate::model::{ApplicationDocument, ApplicationsDocument, InstanceDocument};

/// Every call is a map lookup; anything slower is stuck, and must not hold up shutdown.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct AppState {
    pub registry: Registry,
    pub health: Health,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("malformed registration: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error("unsupported content type {0:?}: send application/json")]
    UnsupportedMediaType(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Registry(RegistryError::Missing(_) | RegistryError::AppMismatch { .. })
            | ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Registry(
                RegistryError::UnknownApplication(_) | RegistryError::UnknownInstance { .. },
            ) => StatusCode::NOT_FOUND,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        };
        // Every message here is about the client's request; none reveals internals.
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

pub fn router(state: AppState) -> Router {
    let eureka = Router::new()
        .route("/apps", get(applications))
        .route("/apps/{app}", post(register).get(application))
        .route("/apps/{app}/{id}", get(instance).put(renew).delete(cancel))
        .route("/vips/{vip}", get(vip));
    let routes = Router::new()
        .route("/", get(index))
        .nest("/eureka/v2", eureka.clone())
        .nest("/eureka", eureka)
        .with_state(state.registry)
        .merge(state.health.router());
    platform::server::with_standard_layers(routes, REQUEST_TIMEOUT)
}

async fn index() -> Json<serde_json::Value> {
    Json(json!({
        "service": "registry",
        "description": "Eureka-compatible service registry",
        "api": ["/eureka/v2/apps", "/eureka/apps"],
        "health": "/health",
    }))
}

/// `POST /apps/{app}`. The body is read by hand so malformed JSON gets our JSON error, not
/// axum's plain-text rejection.
async fn register(
    State(registry): State<Registry>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if content_type.contains("xml") {
        return Err(ApiError::UnsupportedMediaType(content_type.to_owned()));
    }
    let InstanceDocument { instance } =
        serde_json::from_slice(&body).map_err(ApiError::Malformed)?;
    let path_app = AppName::parse(&app)?;
    if !instance.app.trim().is_empty() && AppName::parse(&instance.app)? != path_app {
        return Err(RegistryError::AppMismatch {
            body: instance.app,
            path: app,
        }
        .into());
    }
    registry.register(instance)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /apps/{app}/{id}`. Eureka's `status` and `lastDirtyTimestamp` parameters are accepted
/// and ignored: status changes arrive as re-registrations.
async fn renew(
    State(registry): State<Registry>,
    Path((app, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    registry.renew(&app, &id)?;
    Ok(StatusCode::OK)
}

async fn cancel(
    State(registry): State<Registry>,
    Path((app, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    registry.cancel(&app, &id)?;
    tracing::info!(%app, %id, "instance deregistered");
    Ok(StatusCode::OK)
}

async fn applications(State(registry): State<Registry>) -> Json<ApplicationsDocument> {
    Json(ApplicationsDocument {
        applications: registry.applications(),
    })
}

async fn application(
    State(registry): State<Registry>,
    Path(app): Path<String>,
) -> Result<Json<ApplicationDocument>, ApiError> {
    Ok(Json(ApplicationDocument {
        application: registry.application(&app)?,
    }))
}

async fn instance(
    State(registry): State<Registry>,
    Path((app, id)): Path<(String, String)>,
) -> Result<Json<InstanceDocument>, ApiError> {
    Ok(Json(InstanceDocument {
        instance: registry.instance(&app, &id)?,
    }))
}

async fn vip(
    State(registry): State<Registry>,
    Path(vip): Path<String>,
) -> Json<ApplicationsDocument> {
    Json(ApplicationsDocument {
        applications: registry.vip(&vip),
    })
}
