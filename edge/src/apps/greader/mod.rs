//! The Google Reader API, FreshRSS's dialect: what Reeder, NetNewsWire, ReadYou, FeedMe,
//! Fluent Reader and newsboat speak.
//!
//! Apps are told a server URL and append `/accounts/ClientLogin` and `/reader/api/0/...` (or
//! `/reader/atom/...`) to it. FreshRSS's users are told `https://host/api/greader.php`, others `https://host/`, and
//! some apps add a slash of their own (newsboat asks for `//reader/api/0/...`): every one of
//! those forms reaches the same routes ([`normalise`]).
//!
//! Every call but ClientLogin authenticates by its app token ([`auth::AppUser`]), never by the
//! session cookie, and goes to the middle tier through the `AppRead`/`AppWrite` commands with
//! no stale fallback: an app given an old item list would mark the wrong items, so when no
//! middle tier answers it gets a 503 it retries.
//!
//! # Layout
//! - [`auth`]: ClientLogin, the token extractor, `T`, `token` and `user-info`.
//! - [`ids`]: item ids (long, hex and decimal forms) and stream ids.
//! - [`params`]: query and form parameters with repeated keys, bounded.
//! - [`streams`]: `stream/contents`, `stream/items/ids`, `stream/items/contents`.
//! - [`subscriptions`]: `subscription/*`, `tag/list`, `rename-tag`, `disable-tag`,
//!   `unread-count`.
//! - [`edit`]: `edit-tag` and `mark-all-as-read`.
//! - [`json`]: the answers' shapes; [`atom`]: a stream as Google Reader's Atom output (what
//!   clients written for FeedHQ read, newsboat among them).
//! - [`error`]: statuses and bodies apps act on.

mod atom;
mod auth;
mod edit;
mod error;
mod ids;
mod json;
mod params;
mod streams;
mod subscriptions;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use tower::ServiceExt as _;

use super::AppsState;
use crate::session::SessionCache;

/// Largest form body: an `edit-tag` with the most ids in their long, percent-encoded form
/// (about 60 bytes each) fits.
pub(super) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the handlers share: the apps' state and the app tokens this edge checked.
#[derive(Clone, Debug)]
pub(super) struct GreaderState {
    apps: AppsState,
    /// App tokens checked recently, apart from the browsers' sessions so neither kind can
    /// be served from the other's cache.
    tokens: Arc<SessionCache>,
}

pub(super) fn router(state: AppsState) -> Router {
    let tokens = Arc::new(SessionCache::new(state.accounts.settings().session_cache));
    let state = GreaderState {
        apps: state,
        tokens,
    };
    let api = api(state);
    Router::new()
        .route("/api/greader.php/{*rest}", any(rewritten))
        .route("//accounts/{*rest}", any(rewritten))
        .route("//reader/{*rest}", any(rewritten))
        .with_state(api.clone())
        .merge(api)
}

/// The routes at their canonical paths.
fn api(state: GreaderState) -> Router {
    const API: &str = "/reader/api/0";
    Router::new()
        .route(
            "/accounts/ClientLogin",
            get(auth::client_login).post(auth::client_login),
        )
        .route(&format!("{API}/token"), get(auth::token))
        .route(&format!("{API}/user-info"), get(auth::user_info))
        .route(
            &format!("{API}/subscription/list"),
            get(subscriptions::list),
        )
        .route(
            &format!("{API}/subscription/edit"),
            post(subscriptions::edit),
        )
        .route(
            &format!("{API}/subscription/quickadd"),
            post(subscriptions::quickadd),
        )
        .route(&format!("{API}/tag/list"), get(subscriptions::tags))
        .route(
            &format!("{API}/rename-tag"),
            post(subscriptions::rename_tag),
        )
        .route(
            &format!("{API}/disable-tag"),
            post(subscriptions::disable_tag),
        )
        .route(
            &format!("{API}/unread-count"),
            get(subscriptions::unread_count),
        )
        .route(&format!("{API}/stream/contents"), get(streams::contents))
        .route(
            &format!("{API}/stream/contents/{{*stream}}"),
            get(streams::contents),
        )
        .route(&format!("{API}/stream/items/ids"), get(streams::ids))
        .route(
            &format!("{API}/stream/items/contents"),
            get(streams::items).post(streams::items),
        )
        .route("/reader/atom", get(atom::stream))
        .route("/reader/atom/{*stream}", get(atom::stream))
        .route(&format!("{API}/edit-tag"), post(edit::edit_tag))
        .route(
            &format!("{API}/mark-all-as-read"),
            post(edit::mark_all_read),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// A request under another form of the server URL, served at its canonical path.
async fn rewritten(State(api): State<Router>, mut request: Request) -> Response {
    let path = normalise(request.uri().path());
    let target = match request.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    match target.parse::<Uri>() {
        Ok(uri) => {
            *request.uri_mut() = uri;
            match api.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
        Err(_) => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// The canonical path of a request: without the `/api/greader.php` prefix and without the
/// extra slashes apps put in front. Slashes further on are kept: an unencoded stream id
/// (`feed/https://…`) has its own.
fn normalise(path: &str) -> String {
    let rest = path.trim_start_matches('/');
    let rest = rest
        .strip_prefix("api/greader.php")
        .map_or(rest, |rest| rest.trim_start_matches('/'));
    format!("/{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_url_form_reaches_the_canonical_paths() {
        for (raw, canonical) in [
            ("//accounts/ClientLogin", "/accounts/ClientLogin"),
            (
                "/api/greader.php/accounts/ClientLogin",
                "/accounts/ClientLogin",
            ),
            (
                "/api/greader.php//reader/api/0/token",
                "/reader/api/0/token",
            ),
            (
                "//reader/api/0/stream/contents/feed/https://a.example/x",
                "/reader/api/0/stream/contents/feed/https://a.example/x",
            ),
        ] {
            assert_eq!(normalise(raw), canonical, "{raw}");
        }
    }
}
