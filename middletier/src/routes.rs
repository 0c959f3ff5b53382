//! HTTP transport for the recipe's REST API; all behaviour lives in [`crate::service`].

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use platform::server::InternalError;

use crate::api::{ErrorBody, USER_PATH};
use crate::domain::{FeedUrl, ParseError, UserId};
use crate::opml::{self, OpmlError};
use crate::service::{FeedService, ServiceError};
use crate::store::StoreError;

pub fn router(service: FeedService) -> Router {
    Router::new()
        .route(
            &format!("/{USER_PATH}/{{user}}"),
            get(user_feeds).post(subscribe).delete(unsubscribe),
        )
        .route(
            &format!("/{USER_PATH}/{{user}}/opml"),
            get(export_opml)
                .post(import_opml)
                // One byte over the cap, so the parser (not axum) reports "too large" clearly.
                .layer(DefaultBodyLimit::max(opml::MAX_OPML_BYTES + 1)),
        )
        .with_state(service)
}

async fn export_opml(
    State(service): State<FeedService>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let document = service.export_opml(&user).await?;
    let disposition = format!("attachment; filename=\"subscriptions-{user}.opml\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/x-opml; charset=utf-8".to_owned(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        document,
    )
        .into_response())
}

async fn import_opml(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let body = body.map_err(|_| OpmlError::TooLarge)?;
    let feeds = opml::parse(&body)?;
    Ok(Json(service.import_opml(&user, feeds).await?).into_response())
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
    #[error(transparent)]
    Opml(#[from] OpmlError),
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
            ApiError::Opml(ref error @ OpmlError::TooLarge) => {
                (StatusCode::PAYLOAD_TOO_LARGE, error.to_string(), Vec::new())
            }
            ApiError::Opml(ref error) => (StatusCode::BAD_REQUEST, error.to_string(), Vec::new()),
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
