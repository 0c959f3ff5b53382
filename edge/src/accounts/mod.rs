//! Who is asking: accounts, signing in and out, and the signed-in user of a request.
//!
//! Every handler that reads or changes a user's data takes a [`CurrentUser`]; it is the only
//! way a handler learns whose data to use (never a URL or form field), so one user cannot reach
//! another's data. The extractor reads the session cookie ([`crate::session`]) and resolves it
//! through the middle tier, which stores accounts and sessions for every edge; with nobody
//! signed in it answers with a redirect to `/signin?next=<the page>`.
//!
//! Passwords never leave the edge: it hashes them with Argon2id (OWASP's parameters: 19 MiB,
//! 2 passes) off the async workers, at most one hash per core at a time, and the middle tier
//! stores the PHC string. Failed sign-ins are counted per account name from one client address,
//! and per client address, in fixed windows ([`SignInLimiter`]); past the limit, sign-in
//! answers 429 without checking the password. Sign-up attempts are counted per address before
//! hashing, whatever their outcome. Single-user mode (`[accounts] single_user`) skips all of it: every visitor
//! acts as `[ui] default_user`.
//!
//! The forms are protected against cross-site posts by the edge's `CsrfLayer`, like the rest.
//!
//! # Layout
//! Identity is a low layer and pages sit on it: the UI ([`crate::web`]) and the dashboard take
//! [`CurrentUser`] and [`Viewer`] from here, and nothing here imports from them.
//! - [`Accounts`] (here): what the extractor and the pages share (settings, the session cache,
//!   the limiters, the hasher).
//! - [`current_user`]: [`CurrentUser`] and its extractor, [`Viewer`] (who a page is shown to),
//!   and where a visitor comes back to after signing in.
//! - [`pages`]: `/signin`, `/signup` and `/signout`: the forms, their handlers,
//!   starting a session, and how a request without a user is answered.
//! - `preferences`: each user's reading preferences, cached like sessions.
//! - [`passwords`]: Argon2id hashing off the async workers, and the rules for new passwords.
//! - [`limiter`]: [`SignInLimiter`], failures counted per name and per address.
//! - [`settings_page`]: `/settings`: reading preferences, changing the password (ending the
//!   other browsers' sessions), signing out everywhere, the way to the app passwords.

mod current_user;
mod limiter;
mod pages;
mod passwords;
mod preferences;
mod settings_page;

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::session::{self, CookiePolicy, SessionCache};
use crate::settings::AccountsSettings;
use crate::upstream::Upstream;

pub use current_user::{CurrentUser, Viewer};
pub use limiter::SignInLimiter;
use passwords::Passwords;
use preferences::PreferenceCache;

/// Accounts as this edge serves them: shared by the sign-in pages and the [`CurrentUser`]
/// extractor, which finds it in the router's state (any state an `Arc<Accounts>` can be taken
/// from, so a router without accounts does not compile).
#[derive(Debug)]
pub struct Accounts {
    upstream: Arc<Upstream>,
    settings: AccountsSettings,
    default_user: String,
    sessions: SessionCache,
    /// Users' reading preferences, kept as long as sessions are.
    preferences: PreferenceCache,
    limiter: SignInLimiter,
    /// Sign-up attempts per client address, each counted before its password is hashed
    /// (only the address is limited).
    signups: SignInLimiter,
    passwords: Passwords,
}

impl Accounts {
    pub fn new(
        upstream: Arc<Upstream>,
        settings: AccountsSettings,
        default_user: String,
    ) -> Arc<Self> {
        Arc::new(Self {
            upstream,
            sessions: SessionCache::new(settings.session_cache),
            preferences: PreferenceCache::new(settings.session_cache),
            limiter: SignInLimiter::new(
                settings.failure_window,
                settings.max_failures_per_name,
                settings.max_failures_per_ip,
            ),
            signups: SignInLimiter::new(
                settings.failure_window,
                u32::MAX,
                settings.max_signups_per_ip,
            ),
            passwords: Passwords::new(),
            settings,
            default_user,
        })
    }

    /// The accounts settings: the Google Reader API issues its tokens for the same lifetime
    /// and caches them for as long as sessions.
    pub fn settings(&self) -> &AccountsSettings {
        &self.settings
    }

    /// The failed sign-in counts. The sync APIs' sign-ins (an app password, a Fever key) count
    /// in them too, so guessing through an API costs what guessing at the sign-in page does.
    pub fn limiter(&self) -> &SignInLimiter {
        &self.limiter
    }

    /// The client's address as the sign-in limits count it (behind a trusted proxy, the
    /// address it forwards).
    pub fn client_ip(&self, parts: &Parts) -> Option<IpAddr> {
        session::client_ip(parts, self.settings.trust_proxy)
    }

    /// Whether this request came over HTTPS as far as the edge can tell (its setting, or a
    /// trusted proxy's word): the scheme of the addresses a page tells apps to use.
    pub fn is_https(&self, parts: &Parts) -> bool {
        self.cookie_policy(parts).secure
    }

    /// How the session cookie is written for this request: `Secure` (and so `__Host-`
    /// prefixed) when the edge is configured for HTTPS or a trusted proxy says it was used.
    fn cookie_policy(&self, parts: &Parts) -> CookiePolicy {
        CookiePolicy {
            secure: self.settings.secure_cookies
                || session::is_https(parts, self.settings.trust_proxy),
            lifetime: self.settings.session_lifetime,
        }
    }
}

/// The account pages: `/signin`, `/signup`, `/signout` ([`pages`]) and `/settings`
/// ([`settings_page`]).
pub fn router(accounts: Arc<Accounts>) -> Router {
    pages::router(accounts.clone()).merge(settings_page::routes().with_state(accounts))
}

/// A year: browsers remember to use only HTTPS for this host that long after each answer.
/// Without `includeSubDomains`, so other hosts under the same domain are not committed to it.
const STRICT_TRANSPORT_SECURITY: HeaderValue = HeaderValue::from_static("max-age=31536000");

/// Middleware: `Strict-Transport-Security` on every answer to a request that came over HTTPS
/// as far as the edge can tell (the test that makes the session cookie `Secure`), so after one
/// visit a browser never sends the cookie, or anything else, over plain HTTP. Never on plain
/// HTTP, where browsers ignore it and a local run must stay reachable.
pub async fn strict_transport_security(
    State(accounts): State<Arc<Accounts>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let secure = accounts.cookie_policy(&parts).secure;
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if secure {
        response
            .headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, STRICT_TRANSPORT_SECURITY);
    }
    response
}
