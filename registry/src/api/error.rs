//! The API's errors: each maps to Eureka's status code in one place, with a JSON body that
//! says what was wrong with the request and nothing internal, except 404, which is bare as
//! Eureka's is: Netflix's Java client reads any body of a 404 renewal as an instance, fails,
//! and never registers again.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::domain::RegistryError;

/// Why a request failed. Each cause has one status code, set below and nowhere else.
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
            ApiError::Registry(
                RegistryError::Missing(_)
                | RegistryError::AppMismatch { .. }
                | RegistryError::FutureTimestamp(_)
                | RegistryError::TooLarge(_),
            )
            | ApiError::Malformed(_)
            | ApiError::Parameter(_) => StatusCode::BAD_REQUEST,
            ApiError::Registry(
                RegistryError::UnknownApplication(_) | RegistryError::UnknownInstance { .. },
            ) => StatusCode::NOT_FOUND,
            ApiError::Registry(RegistryError::NotOwner { .. }) => StatusCode::FORBIDDEN,
            ApiError::Registry(RegistryError::Conflict { .. }) => StatusCode::CONFLICT,
            ApiError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
        };
        if status == StatusCode::NOT_FOUND {
            // Eureka answers every 404 without a body, and clients parse whatever body comes:
            // a renewal's as the instance (then "unable to send heartbeat" instead of
            // registering again), a read's as the application or instance.
            return status.into_response();
        }
        // Every message here is about the client's request; none reveals internals.
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

/// Every error answer but 404: what was wrong with the request (never internals).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
}
