//! HTTP transport of what sync apps need from the middle tier (the edge's Google Reader and
//! Fever APIs call these); the behaviour is in `service::apps`.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use middletier_api::domain::UserId;
use middletier_api::{AppItemsQuery, ItemNumbers, MAX_APP_NUMBERS, NumbersStateChange, USER_PATH};
// Named only in the handlers' OpenAPI annotations.
#[allow(unused_imports)]
use middletier_api::{AppCounts, AppItems, NumbersStateChanged};

use super::{ApiError, CommonErrors, NotFound, UserPath};
use crate::service::FeedService;

/// Largest body of the bulk routes: [`MAX_APP_NUMBERS`] numbers of up to 20 digits, with
/// their separators and some room for white space. A larger body is refused with 413 before
/// it is parsed.
const MAX_NUMBERS_BODY: usize = MAX_APP_NUMBERS * 24 + 1024;

pub(super) fn router() -> Router<FeedService> {
    Router::new()
        .route(
            &format!("/{USER_PATH}/{{user}}/app/items"),
            get(app_items)
                .post(app_items_by_number)
                .layer(DefaultBodyLimit::max(MAX_NUMBERS_BODY)),
        )
        .route(
            &format!("/{USER_PATH}/{{user}}/app/items/state"),
            post(set_numbers_state).layer(DefaultBodyLimit::max(MAX_NUMBERS_BODY)),
        )
        .route(
            &format!("/{USER_PATH}/{{user}}/app/counts"),
            get(app_counts),
        )
}

#[utoipa::path(
    get,
    path = "/middletier/rss/user/{user}/app/items",
    tag = "apps",
    summary = "A selection of the user's items in the order sync apps page in, a page at a time",
    params(UserPath, AppItemsQuery),
    responses(
        (status = 200, description = "A page of items", body = AppItems),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn app_items(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    query: Result<Query<AppItemsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Query(query) = query.map_err(|e| ApiError::Body(e.body_text()))?;
    Ok(Json(service.app_items(&user, &query).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/middletier/rss/user/{user}/app/items",
    tag = "apps",
    summary = "These items of the user's feeds, by number, with content (others left out)",
    params(UserPath),
    request_body = ItemNumbers,
    responses(
        (status = 200, description = "The items found, in the order asked", body = AppItems),
        (status = 413, description = "The body is too large"),
        CommonErrors,
    )
)]
pub(crate) async fn app_items_by_number(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    numbers: Result<Json<ItemNumbers>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Json(numbers) = numbers?;
    Ok(Json(service.app_items_by_number(&user, &numbers).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/middletier/rss/user/{user}/app/items/state",
    tag = "apps",
    summary = "Mark many items read or unread, starred or not, by number",
    params(UserPath),
    request_body = NumbersStateChange,
    responses(
        (status = 200, description = "How many items changed, and how many numbers are none of the user's", body = NumbersStateChanged),
        (status = 413, description = "The body is too large"),
        CommonErrors,
    )
)]
pub(crate) async fn set_numbers_state(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    change: Result<Json<NumbersStateChange>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Json(change) = change?;
    Ok(Json(service.set_numbers_state(&user, &change).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/middletier/rss/user/{user}/app/counts",
    tag = "apps",
    summary = "Per subscription: title, category, unread count, newest item, last fetch",
    params(UserPath),
    responses(
        (status = 200, description = "One entry per subscription, in the order added", body = AppCounts),
        CommonErrors,
    )
)]
pub(crate) async fn app_counts(
    State(service): State<FeedService>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    Ok(Json(service.app_counts(&user).await?).into_response())
}
