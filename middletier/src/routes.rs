//! HTTP transport for the recipe's REST API; all behaviour lives in [`crate::service`].
//!
//! # Layout
//! - This file: the recipe's routes and the errors' one mapping to statuses.
//! - `token`: the service token every route requires when one is set.
//! - `apps`: what sync apps read and change: item selections, items by number, bulk marks.
//! - `app_accounts`: app passwords, the user's own feed titles, category renames.
//! - `account_changes`: what a user changes about their own account (the password, reading
//!   preferences), and deleting it.
//! - `checks`: "check now", one subscribed feed fetched at the user's request.
//! - `icons`: feed icons' bytes by content hash.

pub(crate) mod account_changes;
pub(crate) mod app_accounts;
pub(crate) mod apps;
pub(crate) mod checks;
pub(crate) mod icons;
mod token;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};

use middletier_api::River;
use middletier_api::domain::{FeedUrl, ParseError, UserId};
use middletier_api::limits::MAX_OPML_BYTES;
use middletier_api::{
    CategoryChange, ErrorBody, ItemQuery, ItemStateChange, MarkRead, NewAccount, NewSession,
    RiverQuery, SearchQuery, USER_PATH,
};
// Named only in the handlers' OpenAPI annotations.
#[allow(unused_imports)]
use middletier_api::{
    Account, MarkedRead, OpmlImport, RiverItem, SearchResults, Session, SubscriptionChange,
    UserFeeds,
};
use platform::server::InternalError;

use crate::opml::{self, OpmlError};
use crate::service::{FeedService, ServiceError};
use crate::store::StoreError;

pub use token::require_token;

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
                .layer(DefaultBodyLimit::max(MAX_OPML_BYTES + 1)),
        )
        .route(&format!("/{USER_PATH}/{{user}}/items"), get(river))
        .route(&format!("/{USER_PATH}/{{user}}/item"), get(item))
        .route(&format!("/{USER_PATH}/{{user}}/search"), get(search))
        .route(
            &format!("/{USER_PATH}/{{user}}/items/state"),
            post(set_item_state),
        )
        .route(
            &format!("/{USER_PATH}/{{user}}/items/read"),
            post(mark_read),
        )
        .route(
            &format!("/{USER_PATH}/{{user}}/category"),
            put(set_category),
        )
        .merge(app_accounts::routes())
        .merge(account_changes::routes())
        .route("/middletier/accounts", post(create_account))
        .route("/middletier/accounts/{user}", get(account))
        .route(
            "/middletier/accounts/{user}/sessions",
            delete(delete_sessions_of),
        )
        .route("/middletier/sessions", post(create_session))
        .route(
            "/middletier/sessions/{token_hash}",
            get(session).delete(delete_session),
        )
        .merge(apps::router())
        .merge(icons::routes())
        .merge(checks::routes())
        // JSON bodies here are a few hundred bytes; OPML and the bulk routes of `apps` keep
        // their own larger limits.
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(service)
}

/// The `{user}` path segment of the per-user routes, as the OpenAPI document describes it
/// (the handlers take `Path<String>` and check it with [`UserId::parse`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Only the derive reads it: it exists to describe the parameter once.
pub(crate) struct UserPath {
    /// User name: 1 to 64 of `A-Za-z0-9._@-`
    #[param(pattern = "^[A-Za-z0-9._@-]{1,64}$", example = "alice")]
    user: String,
}

/// The errors every route may answer (see [`ApiError`]), described once for the document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only the derive reads it.
enum CommonErrors {
    /// Invalid input: the message says what is wrong
    #[response(status = 400)]
    Invalid(ErrorBody),
    /// The service token is missing or wrong
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The store is unavailable; try again shortly
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// Not found, or not subscribed to that feed
#[derive(utoipa::IntoResponses)]
#[response(status = 404)]
#[allow(dead_code)] // Only the derive reads it: the routes about one thing that may not exist.
struct NotFound(ErrorBody);

#[utoipa::path(
    get,
    path = "/middletier/rss/user/{user}/items",
    tag = "reading",
    summary = "The river of news: the user's newest items first, a page at a time",
    params(UserPath, RiverQuery),
    responses(
        (status = 200, description = "A page of items", body = River),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn river(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    query: Result<Query<RiverQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Query(query) = query.map_err(|e| ApiError::Body(e.body_text()))?;
    Ok(river_answer(&service.river(&user, &query).await?))
}

/// The river as JSON, written into a buffer sized for it up front: a page runs to a hundred
/// kilobytes or so, which `Json` (starting from 128 bytes) reaches only after a dozen
/// reallocations, each copying what was written so far.
fn river_answer(river: &River) -> Response {
    const PER_ITEM: usize = 512;
    const PER_FEED: usize = 256;
    let descriptions: usize = river
        .items
        .iter()
        .map(|entry| entry.item.description.len())
        .sum();
    // Descriptions are HTML: their quotes come out escaped.
    let expected = descriptions
        + descriptions / 8
        + river.items.len() * PER_ITEM
        + river.feeds.len() * PER_FEED;
    let mut body = Vec::with_capacity(expected);
    match serde_json::to_writer(&mut body, river) {
        Ok(()) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => {
            let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            response
                .extensions_mut()
                .insert(InternalError(format!("encoding the river: {error}")));
            response
        }
    }
}

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

#[utoipa::path(
    get,
    path = "/middletier/rss/user/{user}/search",
    tag = "reading",
    summary = "Search the user's feeds' item histories: words, \"phrases\", -excluded words",
    params(UserPath, SearchQuery),
    responses(
        (status = 200, description = "A page of matching items, matches marked", body = SearchResults),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn search(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Query(query) = query.map_err(|e| ApiError::Body(e.body_text()))?;
    Ok(Json(service.search(&user, &query).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/middletier/rss/user/{user}/items/state",
    tag = "reading",
    summary = "Mark one item read or unread, starred or not (only items the feed holds now; 404 otherwise)",
    params(UserPath),
    request_body = ItemStateChange,
    responses(
        (status = 200, description = "The change as applied", body = ItemStateChange),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn set_item_state(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    change: Result<Json<ItemStateChange>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Json(change) = change?;
    Ok(Json(service.set_item_state(&user, &change).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/middletier/rss/user/{user}/items/read",
    tag = "reading",
    summary = "Mark a feed, a category or everything read, up to a time",
    params(UserPath),
    request_body = MarkRead,
    responses(
        (status = 200, description = "How many items were marked", body = MarkedRead),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn mark_read(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    mark: Result<Json<MarkRead>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Json(mark) = mark?;
    Ok(Json(service.mark_read(&user, &mark).await?).into_response())
}

#[utoipa::path(
    put,
    path = "/middletier/rss/user/{user}/category",
    tag = "reading",
    summary = "Set or clear a subscription's category",
    params(UserPath),
    request_body = CategoryChange,
    responses(
        (status = 200, description = "The change as applied", body = CategoryChange),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn set_category(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    change: Result<Json<CategoryChange>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let Json(change) = change?;
    service.set_category(&user, &change).await?;
    Ok(Json(change).into_response())
}

#[utoipa::path(
    post,
    path = "/middletier/accounts",
    tag = "accounts",
    summary = "Create an account (the edge sends the password hash)",
    request_body = NewAccount,
    responses(
        (status = 201, description = "Created", body = Account),
        (status = 409, description = "The name is taken (in any case)", body = ErrorBody),
        CommonErrors,
    )
)]
pub(crate) async fn create_account(
    State(service): State<FeedService>,
    account: Result<Json<NewAccount>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(account) = account?;
    let created = service.create_account(&account).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(
    get,
    path = "/middletier/accounts/{user}",
    tag = "accounts",
    summary = "Read an account (for sign-in)",
    params(UserPath),
    responses(
        (status = 200, description = "The account", body = Account),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn account(
    State(service): State<FeedService>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    Ok(Json(service.account(&user).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/middletier/sessions",
    tag = "accounts",
    summary = "Store a session (by the hash of its token)",
    request_body = NewSession,
    responses(
        (status = 201, description = "Stored"),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn create_session(
    State(service): State<FeedService>,
    session: Result<Json<NewSession>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(session) = session?;
    service.create_session(&session).await?;
    Ok(StatusCode::CREATED.into_response())
}

#[utoipa::path(
    get,
    path = "/middletier/sessions/{token_hash}",
    tag = "accounts",
    summary = "Whose session this is, while it lasts",
    params(("token_hash" = String, Path, description = "SHA-256 of the session token, hex", pattern = "^[0-9a-f]{64}$", example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")),
    responses(
        (status = 200, description = "The session", body = Session),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn session(
    State(service): State<FeedService>,
    Path(token_hash): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(service.session(&token_hash).await?).into_response())
}

#[utoipa::path(
    delete,
    path = "/middletier/sessions/{token_hash}",
    tag = "accounts",
    summary = "End a session (sign-out)",
    params(("token_hash" = String, Path, description = "SHA-256 of the session token, hex", pattern = "^[0-9a-f]{64}$", example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")),
    responses(
        (status = 204, description = "Ended"),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn delete_session(
    State(service): State<FeedService>,
    Path(token_hash): Path<String>,
) -> Result<Response, ApiError> {
    service.delete_session(&token_hash).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    delete,
    path = "/middletier/accounts/{user}/sessions",
    tag = "accounts",
    summary = "End every session of a user (sign out everywhere)",
    params(UserPath),
    responses(
        (status = 204, description = "Every session ended (also when there were none)"),
        CommonErrors,
    )
)]
pub(crate) async fn delete_sessions_of(
    State(service): State<FeedService>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    service.delete_sessions_of(&user).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    get,
    path = "/middletier/rss/user/{user}/opml",
    tag = "subscriptions",
    summary = "The subscriptions as an OPML 2.0 file (an attachment)",
    params(UserPath),
    responses(
        (status = 200, description = "OPML 2.0", content((String = "text/x-opml"))),
        CommonErrors,
    )
)]
pub(crate) async fn export_opml(
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

#[utoipa::path(
    post,
    path = "/middletier/rss/user/{user}/opml",
    tag = "subscriptions",
    summary = "Import an OPML file (at most 2 MiB): all its feeds, or none",
    params(UserPath),
    request_body(content((String = "text/x-opml"), (String = "application/xml")), description = "An OPML file"),
    responses(
        (status = 200, description = "What was imported", body = OpmlImport),
        (status = 413, description = "The file is over 2 MiB or has over 5,000 outlines", body = ErrorBody),
        CommonErrors,
    )
)]
pub(crate) async fn import_opml(
    State(service): State<FeedService>,
    Path(user): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    let body = body.map_err(|_| OpmlError::TooLarge)?;
    let feeds = opml::parse_off_runtime(body).await?;
    Ok(Json(service.import_opml(&user, feeds).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/middletier/rss/user/{user}",
    tag = "subscriptions",
    summary = "A user's feeds with their latest items, from the feed cache",
    params(UserPath),
    responses(
        (status = 200, description = "The user's feeds", body = UserFeeds),
        CommonErrors,
    )
)]
pub(crate) async fn user_feeds(
    State(service): State<FeedService>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(&user)?;
    Ok(Json(service.user_feeds(&user).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/middletier/rss/user/{user}",
    tag = "subscriptions",
    summary = "Subscribe to a feed or a website (fetched at once; idempotent)",
    params(UserPath, ("url" = String, Query, description = "The feed or website URL (http or https)", example = "http://feeds.example.invalid/rss.xml")),
    responses(
        (status = 200, description = "Already subscribed", body = SubscriptionChange),
        (status = 201, description = "Subscribed", body = SubscriptionChange),
        (status = 300, description = "A web page linking several feeds: choose one of `candidates`", body = ErrorBody),
        CommonErrors,
    )
)]
pub(crate) async fn subscribe(
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

#[utoipa::path(
    delete,
    path = "/middletier/rss/user/{user}",
    tag = "subscriptions",
    summary = "Unsubscribe from a feed (idempotent)",
    params(UserPath, ("url" = String, Query, description = "The feed or website URL (http or https)", example = "http://feeds.example.invalid/rss.xml")),
    responses(
        (status = 200, description = "`changed` says whether it was subscribed", body = SubscriptionChange),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn unsubscribe(
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
    /// A body or query string that does not parse.
    #[error("{0}")]
    Body(String),
    /// A body past the route's size limit, refused before it is parsed.
    #[error("the request body is too large")]
    TooLarge,
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::TooLarge;
        }
        ApiError::Body(rejection.body_text())
    }
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
            ApiError::BadRequest(ref error)
            | ApiError::Subscribe(ServiceError::BadRequest(ref error)) => {
                (StatusCode::BAD_REQUEST, error.to_string(), Vec::new())
            }
            ApiError::Body(ref message) => (StatusCode::BAD_REQUEST, message.clone(), Vec::new()),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, self.to_string(), Vec::new()),
            ApiError::Subscribe(ServiceError::Invalid(ref message)) => {
                (StatusCode::BAD_REQUEST, message.clone(), Vec::new())
            }
            ApiError::Subscribe(ServiceError::Query(ref error)) => {
                (StatusCode::BAD_REQUEST, error.to_string(), Vec::new())
            }
            ApiError::Subscribe(ServiceError::NotSubscribed(_))
            | ApiError::Subscribe(ServiceError::NotFound(_))
            | ApiError::Subscribe(ServiceError::UnknownItem)
            | ApiError::Store(StoreError::NotSubscribed)
            | ApiError::Subscribe(ServiceError::Store(StoreError::NotSubscribed)) => {
                (StatusCode::NOT_FOUND, self.to_string(), Vec::new())
            }
            ApiError::Subscribe(ServiceError::Taken | ServiceError::Conflict(_)) => {
                (StatusCode::CONFLICT, self.to_string(), Vec::new())
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
            ApiError::Opml(ref error @ (OpmlError::TooLarge | OpmlError::TooManyOutlines)) => {
                (StatusCode::PAYLOAD_TOO_LARGE, error.to_string(), Vec::new())
            }
            ApiError::Opml(ref error) => (StatusCode::BAD_REQUEST, error.to_string(), Vec::new()),
            ApiError::Subscribe(ServiceError::TooSoon(_)) => {
                (StatusCode::TOO_MANY_REQUESTS, self.to_string(), Vec::new())
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
        if let ApiError::Subscribe(ServiceError::TooSoon(wait)) = &self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(wait.as_secs().max(1)),
            );
        }
        if status.is_server_error() {
            // The cause stays out of the body; the logging layer reads it from here.
            response
                .extensions_mut()
                .insert(InternalError(self.to_string()));
        }
        response
    }
}
