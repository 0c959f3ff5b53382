//! HTTP transport of what the edge's sync-app APIs need beyond items: app passwords (and
//! finding their owner by hash), the user's own feed titles, category renames and removals.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};

use middletier_api::domain::UserId;
use middletier_api::{CategoryRename, NewAppPassword, TitleChange, USER_PATH};
// Named only in the handlers' OpenAPI annotations.
#[allow(unused_imports)]
use middletier_api::{AppPassword, AppPasswordOwner, CategoryChanged, ErrorBody};

use super::{ApiError, CommonErrors, NotFound, UserPath};
use crate::service::{AppSecret, FeedService};

pub(super) fn routes() -> Router<FeedService> {
    Router::new()
        .route(&format!("/{USER_PATH}/{{user}}/title"), put(set_title))
        .route(
            &format!("/{USER_PATH}/{{user}}/categories/rename"),
            // The static segment wins over `{name}`, so a category called "rename" is removed
            // here.
            post(rename_category).delete(delete_category_named_rename),
        )
        .route(
            &format!("/{USER_PATH}/{{user}}/categories/{{name}}"),
            delete(delete_category),
        )
        .route(
            "/middletier/accounts/{user}/app-passwords",
            get(app_passwords).post(create_app_password),
        )
        .route(
            "/middletier/accounts/{user}/app-passwords/{id}",
            delete(revoke_app_password),
        )
        .route(
            "/middletier/app-passwords/by-secret/{hash}",
            get(app_password_by_secret),
        )
        .route(
            "/middletier/app-passwords/by-fever/{hash}",
            get(app_password_by_fever),
        )
}

#[utoipa::path(
    put,
    path = "/middletier/rss/user/{user}/title",
    tag = "subscriptions",
    summary = "Set or clear the user's own title of a subscription",
    params(UserPath),
    request_body = TitleChange,
    responses(
        (status = 204, description = "Set (or cleared: `title` absent or blank)"),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn set_title(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    change: Result<Json<TitleChange>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Json(change) = change?;
    service.set_title(&user, &change).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/middletier/rss/user/{user}/categories/rename",
    tag = "subscriptions",
    summary = "Move every subscription of one category to another (merging if it exists)",
    params(UserPath),
    request_body = CategoryRename,
    responses(
        (status = 200, description = "How many subscriptions moved", body = CategoryChanged),
        CommonErrors,
    )
)]
pub(crate) async fn rename_category(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    rename: Result<Json<CategoryRename>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Json(rename) = rename?;
    Ok(Json(service.rename_category(&user, &rename).await?).into_response())
}

#[utoipa::path(
    delete,
    path = "/middletier/rss/user/{user}/categories/{name}",
    tag = "subscriptions",
    summary = "Remove a category; its subscriptions stay, uncategorised",
    params(UserPath, ("name" = String, Path, description = "The category", example = "Tech")),
    responses(
        (status = 200, description = "How many subscriptions it held", body = CategoryChanged),
        CommonErrors,
    )
)]
pub(crate) async fn delete_category(
    State(service): State<FeedService>,
    Path((user, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    Ok(Json(service.delete_category(&user, &name).await?).into_response())
}

/// `DELETE …/categories/rename`: the category whose name is the rename route's segment.
async fn delete_category_named_rename(
    State(service): State<FeedService>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    Ok(Json(service.delete_category(&user, "rename").await?).into_response())
}

#[utoipa::path(
    post,
    path = "/middletier/accounts/{user}/app-passwords",
    tag = "accounts",
    summary = "Store a new app password (the edge sends its hashes, never the password)",
    params(UserPath),
    request_body = NewAppPassword,
    responses(
        (status = 201, description = "Stored", body = AppPassword),
        (status = 409, description = "The user holds the most app passwords allowed, or the id or a hash is taken", body = ErrorBody),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn create_app_password(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    new: Result<Json<NewAppPassword>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Json(new) = new?;
    let created = service.create_app_password(&user, &new).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(
    get,
    path = "/middletier/accounts/{user}/app-passwords",
    tag = "accounts",
    summary = "The user's app passwords, newest first (names and times, no hashes)",
    params(UserPath),
    responses(
        (status = 200, description = "The passwords", body = Vec<AppPassword>),
        CommonErrors,
    )
)]
pub(crate) async fn app_passwords(
    State(service): State<FeedService>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    Ok(Json(service.app_passwords(&user).await?).into_response())
}

#[utoipa::path(
    delete,
    path = "/middletier/accounts/{user}/app-passwords/{id}",
    tag = "accounts",
    summary = "Revoke an app password and end the sessions apps signed in with it",
    params(UserPath, ("id" = String, Path, description = "The password's id", pattern = "^[0-9a-f]{16}$", example = "0123456789abcdef")),
    responses(
        (status = 204, description = "Revoked (also when there was no such password)"),
        CommonErrors,
    )
)]
pub(crate) async fn revoke_app_password(
    State(service): State<FeedService>,
    Path((user, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    service.revoke_app_password(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    get,
    path = "/middletier/app-passwords/by-secret/{hash}",
    tag = "accounts",
    summary = "Whose app password this is, by SHA-256 of the password (records it as used)",
    params(("hash" = String, Path, description = "SHA-256 of the app password, hex", pattern = "^[0-9a-f]{64}$", example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")),
    responses(
        (status = 200, description = "The owner", body = AppPasswordOwner),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn app_password_by_secret(
    State(service): State<FeedService>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let owner = service
        .app_password_owner(AppSecret::Password(&hash))
        .await?;
    Ok(Json(owner).into_response())
}

#[utoipa::path(
    get,
    path = "/middletier/app-passwords/by-fever/{hash}",
    tag = "accounts",
    summary = "Whose app password this is, by SHA-256 of its Fever key (records it as used)",
    params(("hash" = String, Path, description = "SHA-256 of the Fever api_key, hex", pattern = "^[0-9a-f]{64}$", example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")),
    responses(
        (status = 200, description = "The owner", body = AppPasswordOwner),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn app_password_by_fever(
    State(service): State<FeedService>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let owner = service.app_password_owner(AppSecret::Fever(&hash)).await?;
    Ok(Json(owner).into_response())
}
