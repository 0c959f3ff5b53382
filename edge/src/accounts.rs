//! Who is asking: the signed-in user of a request.
//!
//! Every handler that reads or changes a user's data takes a [`CurrentUser`]; it is the only
//! way a handler learns whose data to use (never a URL or form field), so one user cannot reach
//! another's data.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;

use crate::web::WebState;

/// The user a request acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentUser {
    pub name: String,
}

impl FromRequestParts<WebState> for CurrentUser {
    /// Sent instead of the page when nobody is signed in (a redirect to the sign-in page).
    type Rejection = Response;

    async fn from_request_parts(
        _parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        // Until sign-in exists every visitor reads as the configured user, as in the recipe.
        Ok(CurrentUser {
            name: state.user.clone(),
        })
    }
}
