//! The user a request acts for ([`CurrentUser`]), and who a page is shown to ([`Viewer`]).
//!
//! The extractor takes [`Accounts`] from the router's state, so it works on any router whose
//! state holds them (the UI's, the account pages') and fails to compile on one without.

use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use middletier_api::{Preferences, Theme};

use super::Accounts;
use crate::local_path::LocalPath;
use crate::session::CacheLookup;

/// The user a request acts for.
///
/// Extracted from any router state an `Arc<Accounts>` can be taken from ([`FromRef`]):
///
/// ```
/// use axum::{Router, routing::get};
/// async fn page(_user: edge::accounts::CurrentUser) {}
/// fn pages(state: edge::web::WebState) -> Router {
///     Router::new().route("/", get(page)).with_state(state)
/// }
/// ```
///
/// A router whose state has no accounts does not compile, rather than answer 500:
///
/// ```compile_fail,E0277
/// use axum::{Router, routing::get};
/// async fn page(_user: edge::accounts::CurrentUser) {}
/// fn pages() -> Router {
///     Router::new().route("/", get(page))
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentUser {
    pub name: String,
    /// Signed in with a session (`false`: single-user mode, where nobody signs in or out).
    signed_in: bool,
    /// The user's reading preferences, cached beside the session ([`Accounts::preferences_of`]).
    pub preferences: Preferences,
}

impl CurrentUser {
    /// How the page header shows this user.
    pub fn viewer(&self) -> Viewer {
        if self.signed_in {
            Viewer::SignedIn(self.name.clone(), self.preferences.theme)
        } else {
            Viewer::SingleUser(self.name.clone(), self.preferences.theme)
        }
    }
}

/// Who a page is shown to, for the header in `templates/base.html`: every page template has a
/// `user: Viewer` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// Nobody is signed in (the sign-in and sign-up pages, the operators' dashboard).
    Visitor,
    /// Single-user mode: the configured user, with no sign-out; and the theme they chose.
    SingleUser(String, Theme),
    SignedIn(String, Theme),
}

impl Viewer {
    pub fn is_visitor(&self) -> bool {
        matches!(self, Viewer::Visitor)
    }

    pub fn can_sign_out(&self) -> bool {
        matches!(self, Viewer::SignedIn(..))
    }

    /// The theme pages are shown in: `data-theme` on `<html>`, which the stylesheet reads.
    pub fn theme(&self) -> &'static str {
        match self {
            Viewer::Visitor => Theme::System.as_str(),
            Viewer::SingleUser(_, theme) | Viewer::SignedIn(_, theme) => theme.as_str(),
        }
    }
}

impl fmt::Display for Viewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Viewer::Visitor => Ok(()),
            Viewer::SingleUser(name, _) | Viewer::SignedIn(name, _) => f.write_str(name),
        }
    }
}

impl From<&CurrentUser> for Viewer {
    fn from(user: &CurrentUser) -> Self {
        user.viewer()
    }
}

impl<S> FromRequestParts<S> for CurrentUser
where
    Arc<Accounts>: FromRef<S>,
    S: Send + Sync,
{
    /// Sent instead of the page when nobody is signed in (a redirect to the sign-in page).
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Arc::<Accounts>::from_ref(state)
            .resolve(parts)
            .await
            .map_err(IntoResponse::into_response)
    }
}

impl Accounts {
    /// The user a request acts for, with their preferences, or why there is none.
    async fn resolve(&self, parts: &Parts) -> Result<CurrentUser, NotSignedIn> {
        let mut user = self.identify(parts).await?;
        user.preferences = self.preferences_of(&user.name).await;
        Ok(user)
    }

    /// The user a request acts for, or why there is none.
    async fn identify(&self, parts: &Parts) -> Result<CurrentUser, NotSignedIn> {
        if self.settings.single_user {
            return Ok(CurrentUser {
                name: self.default_user.clone(),
                signed_in: false,
                preferences: Preferences::default(),
            });
        }
        let cookies = self.cookie_policy(parts);
        let sign_in = |stale_cookie: bool| NotSignedIn::SignIn {
            next: wanted_page(parts),
            clear_cookie: stale_cookie.then(|| cookies.clear()),
        };
        let Some(token) = cookies.token(&parts.headers) else {
            return Err(sign_in(false));
        };
        let hash = token.hash();
        let now = Utc::now();
        if let CacheLookup::Fresh(name) = self.sessions.lookup(&hash, now) {
            return Ok(CurrentUser {
                name,
                signed_in: true,
                preferences: Preferences::default(),
            });
        }
        match self.upstream.session(&hash).await {
            // An app's token (from the Google Reader API's ClientLogin) is never a browser's
            // session: whoever holds it may sync, not use the pages or change the account.
            Ok(Some(found)) if found.app_password.is_some() => {
                self.sessions.forget(&hash);
                Err(sign_in(true))
            }
            Ok(Some(found)) => {
                let expires = DateTime::parse_from_rfc3339(&found.expires)
                    .map(|at| at.to_utc())
                    .ok()
                    .filter(|expires| *expires > now);
                let Some(expires) = expires else {
                    self.sessions.forget(&hash);
                    return Err(sign_in(true));
                };
                self.sessions.put(&hash, &found.user, expires);
                Ok(CurrentUser {
                    name: found.user,
                    signed_in: true,
                    preferences: Preferences::default(),
                })
            }
            Ok(None) => {
                self.sessions.forget(&hash);
                Err(sign_in(true))
            }
            // The session was fine moments ago: keep the reader reading (the page itself will
            // come from the edge's stale copy if the middle tier is down).
            Err(error) => match self.sessions.fallback(&hash, now) {
                Some(name) => Ok(CurrentUser {
                    name,
                    signed_in: true,
                    preferences: Preferences::default(),
                }),
                None => {
                    // A refusal here is a misconfiguration (say, a wrong service token), not
                    // the visitor's fault: log it, and tell them only that it failed.
                    let reason = if error.is_bad_request() {
                        tracing::error!(%error, "the middle tier refused a session look-up");
                        "the sign-in service refused the request".to_owned()
                    } else {
                        error.to_string()
                    };
                    Err(NotSignedIn::Unavailable {
                        reason,
                        retry_after: error.retry_after(),
                    })
                }
            },
        }
    }
}

/// Why a request has no user. The pages answer with it ([`super::pages`]): a redirect to the
/// sign-in page, or that page saying why signing in can't be checked.
#[derive(Debug)]
pub(super) enum NotSignedIn {
    /// Nobody is signed in (or the session ended): sign in, then come back to `next`.
    SignIn {
        next: LocalPath,
        /// Set when the browser sent a session that no longer exists.
        clear_cookie: Option<HeaderValue>,
    },
    /// The session can't be checked now (the middle tier is unavailable, or too busy: then
    /// `retry_after` says when to try again).
    Unavailable {
        reason: String,
        retry_after: Option<std::time::Duration>,
    },
}

/// Where to come back to after signing in: the page asked for, for GET; after a form post,
/// the home page (a POST's target can't be revisited by a link).
fn wanted_page(parts: &Parts) -> LocalPath {
    if parts.method == Method::GET || parts.method == Method::HEAD {
        let page = parts.uri.path_and_query().map_or("/", |path| path.as_str());
        next_page(page)
    } else {
        LocalPath::home()
    }
}

/// Where to go once signed in: `raw` if it is a path on this site ([`LocalPath`]) other than
/// an account page, else the home page. `next` never sends anyone elsewhere, and coming back
/// to a sign-in page after signing in would only loop.
pub(super) fn next_page(raw: &str) -> LocalPath {
    let account_page = |path: &LocalPath| {
        let path = path.as_str();
        ["/signin", "/signup", "/signout"]
            .iter()
            .any(|page| path == *page || path.starts_with(&format!("{page}?")))
    };
    LocalPath::parse(raw)
        .filter(|path| !account_page(path))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which paths are local is [`LocalPath`]'s table; this is what signing in adds to it.
    #[test]
    fn next_is_a_local_path_other_than_the_account_pages() {
        for (raw, expected) in [
            ("/", "/"),
            (
                "/feeds?url=https%3A%2F%2Fa.example%2F",
                "/feeds?url=https%3A%2F%2Fa.example%2F",
            ),
            ("", "/"),
            ("//evil.example/", "/"),
            ("/signin", "/"),
            ("/signin?next=/", "/"),
            ("/signup?next=%2Fsubscriptions", "/"),
            ("/signout", "/"),
            ("/signing-tips", "/signing-tips"),
        ] {
            assert_eq!(next_page(raw).as_str(), expected, "{raw:?}");
        }
    }
}
