//! The Fever API (`/fever/?api`, and `/api/fever.php?api` where FreshRSS serves it), which
//! apps such as Unread, Fiery Feeds and Reeder sync with.
//!
//! One address answers everything: flags in the query say what to read (`groups`, `feeds`,
//! `favicons`, `items`, `links`, `unread_item_ids`, `saved_item_ids`), form fields what to
//! change (`mark`, `as`, `id`, `before`), and `api_key` (a form field, or the query for the
//! clients that send it there) who asks. Every answer is JSON with `api_version` 3 and `auth`;
//! a key that names no app password gets `auth: 0` with status 200, as Fever answers.
//!
//! Items are known by their number (`middletier_api::item_number`), a 64-bit integer sent as
//! a JSON number. Numbers above 2^53 lose their last digits in JavaScript, so apps written in
//! it should use the Google Reader API, whose ids are strings.
//!
//! Nothing here has a stale fallback: with no middle tier answering, a call fails with 503
//! (and `Retry-After` when the edge knows when to come back), so an app retries rather than
//! marking items from an old list.
//!
//! # Layout
//! - here: the router, and errors as answers.
//! - [`params`] reads a request's parameters, bounded: the query's and the form's.
//! - [`auth`] turns an `api_key` into a user, within the sign-in limits.
//! - [`reads`] answers what is read (groups, feeds, items, id lists).
//! - [`marks`] applies `mark=item|feed|group`.
//! - [`ids`] has Fever's numbers for feeds and groups, and parses id lists.

mod auth;
mod ids;
mod marks;
mod params;
mod reads;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::AppsState;
use crate::upstream::{UpstreamError, retry_after_header};
use params::{MAX_FORM_BYTES, Params};

/// The version of the Fever API served (the last one Fever had).
const API_VERSION: u32 = 3;

pub(super) fn router(state: AppsState) -> Router {
    Router::new()
        .route("/fever/", get(serve).post(serve))
        .route("/fever", get(serve).post(serve))
        .route("/api/fever.php", get(serve).post(serve))
        .with_state(state)
}

async fn serve(State(state): State<AppsState>, request: Request) -> Response {
    match answer(&state, request).await {
        Ok(fields) => Json(Value::Object(fields)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Reads the request, signs the client in, applies its mark and answers what it asked for.
async fn answer(state: &AppsState, request: Request) -> Result<Map<String, Value>, FeverError> {
    let (parts, body) = request.into_parts();
    let params = Params::read(&parts, body).await?;
    let user = auth::user(state, &parts, params.get("api_key")).await?;
    // Every answer says when the feeds were last refreshed, so the list of feeds is read
    // for each request; the parts that need it share it.
    let counts = state
        .upstream
        .app_counts(&user)
        .await
        .map_err(FeverError::Upstream)?;
    let feeds = reads::FeedIndex::new(&counts);
    let mut fields = Map::new();
    fields.insert("api_version".into(), json!(API_VERSION));
    fields.insert("auth".into(), json!(1));
    fields.insert(
        "last_refreshed_on_time".into(),
        json!(feeds.last_refreshed()),
    );
    // The mark first: id lists in the same answer show it.
    let changed = marks::apply(state, &user, &params, &feeds).await?;
    reads::answer(state, &user, &params, &feeds, changed, &mut fields).await?;
    Ok(fields)
}

/// Why a request got no answer, as Fever clients are told.
#[derive(Debug)]
enum FeverError {
    /// No key, or one that names no app password: `auth: 0`, status 200.
    NotSignedIn,
    /// Too many failed keys from this client: 429 with `Retry-After`.
    TooMany(std::time::Duration),
    TooLarge,
    BadRequest(String),
    /// The middle tier did not answer (503), or refused the call (400).
    Upstream(UpstreamError),
}

impl IntoResponse for FeverError {
    fn into_response(self) -> Response {
        // Only a refused key says `auth: 0`: an app that reads it asks its user for the
        // password again, which a busy or unreachable service must not cause.
        let failed = |error: String| Json(json!({"api_version": API_VERSION, "error": error}));
        match self {
            FeverError::NotSignedIn => {
                Json(json!({"api_version": API_VERSION, "auth": 0})).into_response()
            }
            FeverError::TooMany(wait) => (
                StatusCode::TOO_MANY_REQUESTS,
                retry_after_header(Some(wait)),
                Json(json!({
                    "api_version": API_VERSION,
                    "auth": 0,
                    "error": "too many failed sign-ins from your network",
                })),
            )
                .into_response(),
            FeverError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                failed(format!("the form is larger than {MAX_FORM_BYTES} bytes")),
            )
                .into_response(),
            FeverError::BadRequest(error)
            | FeverError::Upstream(UpstreamError::BadRequest(error)) => {
                (StatusCode::BAD_REQUEST, failed(error)).into_response()
            }
            FeverError::Upstream(error) => (
                StatusCode::SERVICE_UNAVAILABLE,
                error.retry_after_header(),
                failed(error.to_string()),
            )
                .into_response(),
        }
    }
}
