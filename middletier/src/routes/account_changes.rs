//! HTTP transport of what a user changes about their own account from the edge's settings
//! page: the password (the edge sends its new hash, never the password), reading preferences,
//! and deleting the account with everything that is the user's.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Json, Router};

use middletier_api::domain::UserId;
use middletier_api::{PasswordChange, Preferences};

use super::{ApiError, CommonErrors, NotFound, UserPath};
use crate::service::FeedService;

pub(super) fn routes() -> Router<FeedService> {
    Router::new()
        .route("/middletier/accounts/{user}/password", put(set_password))
        .route("/middletier/accounts/{user}", delete(delete_account))
        .route(
            "/middletier/accounts/{user}/preferences",
            get(preferences).put(set_preferences),
        )
}

#[utoipa::path(
    get,
    path = "/middletier/accounts/{user}/preferences",
    tag = "accounts",
    summary = "A user's reading preferences (the defaults for one who never chose)",
    params(UserPath),
    responses(
        (status = 200, description = "The preferences", body = Preferences),
        CommonErrors,
    )
)]
pub(crate) async fn preferences(
    State(service): State<FeedService>,
    Path(user): Path<String>,
) -> Result<Json<Preferences>, ApiError> {
    let user = UserId::parse(&user)?;
    Ok(Json(service.preferences(&user).await?))
}

#[utoipa::path(
    put,
    path = "/middletier/accounts/{user}/preferences",
    tag = "accounts",
    summary = "Replace a user's reading preferences (unknown names and fields, and page sizes out of range, are refused)",
    params(UserPath),
    request_body = Preferences,
    responses(
        (status = 204, description = "Stored"),
        CommonErrors,
    )
)]
pub(crate) async fn set_preferences(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    preferences: Result<Json<Preferences>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Json(preferences) = preferences?;
    service.set_preferences(&user, &preferences).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    put,
    path = "/middletier/accounts/{user}/password",
    tag = "accounts",
    summary = "Replace an account's password hash and end its browser sessions (apps' stay)",
    params(UserPath),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Replaced, and every browser session of the account ended"),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn set_password(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    change: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Json(change) = change?;
    service.set_password(&user, &change).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    delete,
    path = "/middletier/accounts/{user}",
    tag = "accounts",
    summary = "Delete an account and everything that is the user's (feeds stay for other readers)",
    params(UserPath),
    responses(
        (status = 204, description = "Deleted: the account, its sessions and app passwords, subscriptions with their categories and titles, reading marks, stars and watermarks"),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn delete_account(
    State(service): State<FeedService>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    service.delete_account(&user).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
