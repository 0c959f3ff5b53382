//! HTTP transport for the recipe's REST API; all behaviour lives in [`crate::service`].

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use platform::server::InternalError;

use crate::api::{ErrorBody, USER_PATH};
use crate::domain::{FeedUrl, ParseError, UserId};
use crate::service::{FeedService, ServiceError};
use crate::store::StoreError;

pub fn router(service: FeedService) -> Router {
    Router::new()
        .route(
            &format!("/{USER_PATH}/{{user}}"),
            get(user_feeds).post(subscribe).delete(unsubscribe),
        )
        .with_state(service)
}

async fn user_feeds(
    State(service): State<FeedService>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    Ok(Json(service.user_feeds(&user).await?).into_response())
}

async fn subscribe(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (user, url) = parse_target(&user, &query)?;
    let change = service.subscribe(&user, &url).await?;
    let status = if change.changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(change)).into_response())
}

async fn unsubscribe(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (user, url) = parse_target(&user, &query)?;
    Ok(Json(service.unsubscribe(&user, &url).await?).into_response())
}

fn parse_target(
    user: &str,
    query: &HashMap<String, String>,
) -> Result<(UserId, FeedUrl), ApiError> {
    let user = UserId::parse(user)?;
    let url = query.get("url").ok_or(ParseError::UrlMissing)?;
    Ok((user, FeedUrl::parse(url)?))
}

/// Every failure of this API, mapped to a status and a JSON `{"error": ...}` body here and
/// nowhere else.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    BadRequest(#[from] ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Subscribe(#[from] ServiceError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let store_unavailable = || {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "subscriptions are temporarily unavailable; try again shortly".to_owned(),
                Vec::new(),
            )
        };
        let (status, message, candidates) = match self {
            ApiError::BadRequest(ref error) => {
                (StatusCode::BAD_REQUEST, error.to_string(), Vec::new())
            }
            ApiError::Store(ref error @ StoreError::TooManySubscriptions(_))
            | ApiError::Subscribe(ServiceError::Store(
                ref error @ StoreError::TooManySubscriptions(_),
            )) => (StatusCode::BAD_REQUEST, error.to_string(), Vec::new()),
            ApiError::Store(StoreError::Unavailable(_))
            | ApiError::Subscribe(ServiceError::Store(StoreError::Unavailable(_))) => {
                store_unavailable()
            }
            ApiError::Subscribe(ServiceError::Refused(ref message)) => {
                (StatusCode::BAD_REQUEST, message.clone(), Vec::new())
            }
            ApiError::Subscribe(ServiceError::Choose(ref candidates)) => (
                StatusCode::MULTIPLE_CHOICES,
                self.to_string(),
                candidates.clone(),
            ),
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: message,
                candidates,
            }),
        )
            .into_response();
        if status.is_server_error() {
            // The cause stays out of the body; the logging layer reads it from here.
            response
                .extensions_mut()
                .insert(InternalError(self.to_string()));
        }
        response
    }
}
