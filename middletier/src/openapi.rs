//! The middle tier's OpenAPI document, generated from the handlers in [`crate::routes`] and
//! the wire types in [`middletier_api`] (utoipa, through its `openapi` feature), served at
//! `GET /openapi.json` without the service token: the document describes the API, it grants
//! nothing.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document. Every operation needs `Authorization: Bearer <token>` when the middle tier
/// runs with `[api] token` (always in production).
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "middletier",
        description = "The RSS recipe's middle tier: subscriptions, feeds, reading state, \
            accounts and sessions. Internal: the edge calls it with the service token."
    ),
    paths(
        crate::routes::user_feeds,
        crate::routes::subscribe,
        crate::routes::unsubscribe,
        crate::routes::export_opml,
        crate::routes::import_opml,
        crate::routes::river,
        crate::routes::item,
        crate::routes::search,
        crate::routes::set_item_state,
        crate::routes::mark_read,
        crate::routes::set_category,
        crate::routes::create_account,
        crate::routes::account,
        crate::routes::create_session,
        crate::routes::session,
        crate::routes::delete_session,
        crate::routes::delete_sessions_of,
        crate::routes::account_changes::set_password,
        crate::routes::account_changes::delete_account,
        crate::routes::account_changes::preferences,
        crate::routes::account_changes::set_preferences,
        crate::routes::apps::app_items,
        crate::routes::apps::app_items_by_number,
        crate::routes::apps::set_numbers_state,
        crate::routes::apps::app_counts,
        crate::routes::app_accounts::set_title,
        crate::routes::app_accounts::rename_category,
        crate::routes::app_accounts::delete_category,
        crate::routes::app_accounts::create_app_password,
        crate::routes::app_accounts::app_passwords,
        crate::routes::app_accounts::revoke_app_password,
        crate::routes::app_accounts::app_password_by_secret,
        crate::routes::app_accounts::app_password_by_fever,
        crate::routes::icons::icon,
        crate::routes::checks::check_now
    ),
    modifiers(&ServiceToken),
    security(("token" = [])),
    tags(
        (name = "subscriptions", description = "The recipe's API: a user's feeds"),
        (name = "reading", description = "The river of news and reading state"),
        (name = "accounts", description = "Accounts, sessions and app passwords (the edge hashes passwords and tokens)"),
        (name = "apps", description = "What sync apps read and change (the edge's Google Reader and Fever APIs)"),
        (name = "icons", description = "Feed icons, found at refresh, by content hash")
    )
)]
pub struct MiddletierApi;

/// Declares the `token` security scheme: `Authorization: Bearer <[api] token>`.
#[derive(Debug)]
struct ServiceToken;

impl Modify for ServiceToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// `GET /openapi.json`.
pub fn router() -> Router {
    Router::new().route(
        "/openapi.json",
        get(|| async { Json(MiddletierApi::openapi()) }),
    )
}
