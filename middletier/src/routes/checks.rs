//! HTTP transport of "check now": one subscribed feed fetched at the user's request.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use middletier_api::domain::UserId;
use middletier_api::{CheckNow, USER_PATH};
// Named only in the handlers' OpenAPI annotations.
#[allow(unused_imports)]
use middletier_api::{ErrorBody, Subscription};

use super::{ApiError, CommonErrors, NotFound, UserPath};
use crate::service::FeedService;

pub(super) fn routes() -> Router<FeedService> {
    Router::new().route(&format!("/{USER_PATH}/{{user}}/refresh"), post(check_now))
}

#[utoipa::path(
    post,
    path = "/middletier/rss/user/{user}/refresh",
    tag = "subscriptions",
    summary = "Fetch one subscribed feed now (\"check now\"); once per 30 s (by default) per user and feed",
    params(UserPath),
    request_body = CheckNow,
    responses(
        (status = 200, description = "The feed's status (items left out) as the check left it; \
            `error` is set when it still fails", body = Subscription),
        (status = 429, description = "Checked within `[refresh] check_now_interval`; `Retry-After` says when to \
            try again", body = ErrorBody),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn check_now(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    check: Result<Json<CheckNow>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Json(check) = check?;
    Ok(Json(service.check_now(&user, &check).await?).into_response())
}
