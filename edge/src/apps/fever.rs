//! The Fever API.

use axum::Router;

use super::AppsState;

pub(super) fn router(state: AppsState) -> Router {
    Router::new().with_state(state)
}
