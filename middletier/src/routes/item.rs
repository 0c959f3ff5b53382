//! `GET /middletier/rss/user/{user}/item`: one item of a user's feed (see
//! [`FeedService::item`]).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};

use middletier_api::ItemQuery;
use middletier_api::domain::UserId;
// Named only in the handler's OpenAPI annotation.
#[allow(unused_imports)]
use middletier_api::RiverItem;

use super::{ApiError, CommonErrors, NotFound, UserPath};
use crate::service::FeedService;

#[utoipa::path(
    get,
    path = "/middletier/rss/user/{user}/item",
    tag = "reading",
    summary = "One item of a subscribed feed, with the user's read and starred state",
    params(UserPath, ItemQuery),
    responses(
        (status = 200, description = "The item and its feed", body = RiverItem),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn item(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    query: Result<Query<ItemQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Query(query) = query.map_err(|e| ApiError::Body(e.body_text()))?;
    Ok(Json(service.item(&user, &query).await?).into_response())
}
