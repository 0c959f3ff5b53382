//! The sync APIs apps read with: the Google Reader API (as FreshRSS serves it, which is what
//! Reeder, NetNewsWire, ReadYou, FeedMe, newsboat... target) and the Fever API.
//!
//! Both run on the public port beside the pages, through the middle tier's API like every
//! other user action, in their own commands (`AppRead`, `AppWrite`). They authenticate by app
//! password only (a token from Google Reader's ClientLogin, or Fever's `api_key`), never by the
//! session cookie, so a browser's cookie can't be abused on them, and the account password
//! never works for them.
//!
//! # Layout
//! - [`secrets`]: how app passwords and Fever keys are hashed before the middle tier sees them.
//! - `greader`: `/accounts/ClientLogin` and `/reader/api/0/...`.
//! - `fever`: `/fever/` (and `/api/fever.php`, the path FreshRSS apps are told).

mod fever;
mod greader;
pub mod secrets;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::accounts::Accounts;
use crate::upstream::Upstream;

/// What the API handlers share.
#[derive(Clone, Debug)]
pub struct AppsState {
    pub upstream: Arc<Upstream>,
    /// Sign-in rate limits and lockout, shared with the sign-in page.
    pub accounts: Arc<Accounts>,
}

/// Every route of both APIs.
pub fn router(state: AppsState) -> Router {
    greader::router(state.clone())
        .merge(fever::router(state))
        // Answers hold one user's items: no shared cache may keep them.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}
