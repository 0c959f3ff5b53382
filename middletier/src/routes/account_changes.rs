//! HTTP transport of what a user changes about their own account from the edge's settings
//! page: the password (the edge sends its new hash, never the password).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};

use middletier_api::PasswordChange;
use middletier_api::domain::UserId;

use super::{ApiError, CommonErrors, NotFound, UserPath};
use crate::service::FeedService;

pub(super) fn routes() -> Router<FeedService> {
    Router::new().route("/middletier/accounts/{user}/password", put(set_password))
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
