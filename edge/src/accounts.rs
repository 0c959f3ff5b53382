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
//! stores the PHC string. Failed sign-ins are counted per account name and per client address
//! in fixed windows ([`SignInLimiter`]); past the limit, sign-in answers 429 without checking
//! the password. Single-user mode (`[accounts] single_user`) skips all of it: every visitor
//! acts as `[ui] default_user`.
//!
//! The forms are protected against cross-site posts by the edge's `CsrfLayer`, like the rest.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::{OnceCell, Semaphore};
use tokio::time::Instant;

use middletier_api::domain::UserId;
use middletier_api::{NewAccount, NewSession};

use crate::session::{self, CacheLookup, CookiePolicy, SessionCache, Token};
use crate::settings::AccountsSettings;
use crate::upstream::Upstream;
use crate::upstream::UpstreamError;

/// NIST SP 800-63B's floor for user-chosen passwords.
const MIN_PASSWORD_CHARS: usize = 8;
/// Long passphrases are welcome; unbounded ones would only cost hashing time.
const MAX_PASSWORD_CHARS: usize = 1024;
/// Client addresses and names whose failures are tracked at most; beyond it, expired windows
/// are swept and then the oldest dropped.
const MAX_TRACKED: usize = 100_000;

/// The user a request acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentUser {
    pub name: String,
    /// Signed in with a session (`false`: single-user mode, where nobody signs in or out).
    signed_in: bool,
}

impl CurrentUser {
    /// How the page header shows this user.
    pub fn viewer(&self) -> Viewer {
        if self.signed_in {
            Viewer::SignedIn(self.name.clone())
        } else {
            Viewer::SingleUser(self.name.clone())
        }
    }
}

/// Who a page is shown to, for the header in `templates/base.html`: every page template has a
/// `user: Viewer` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// Nobody is signed in (the sign-in and sign-up pages, the operators' dashboard).
    Visitor,
    /// Single-user mode: the configured user, with no sign-out.
    SingleUser(String),
    SignedIn(String),
}

impl Viewer {
    pub fn is_visitor(&self) -> bool {
        matches!(self, Viewer::Visitor)
    }

    pub fn can_sign_out(&self) -> bool {
        matches!(self, Viewer::SignedIn(_))
    }
}

impl fmt::Display for Viewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Viewer::Visitor => Ok(()),
            Viewer::SingleUser(name) | Viewer::SignedIn(name) => f.write_str(name),
        }
    }
}

impl From<&CurrentUser> for Viewer {
    fn from(user: &CurrentUser) -> Self {
        user.viewer()
    }
}

/// Accounts as this edge serves them: shared by the sign-in pages and the [`CurrentUser`]
/// extractor (which finds it in the request's extensions; see [`crate::router`]).
#[derive(Debug)]
pub struct Accounts {
    upstream: Arc<Upstream>,
    settings: AccountsSettings,
    default_user: String,
    sessions: SessionCache,
    limiter: SignInLimiter,
    /// Sign-ups per client address, counted like failures (only the address is limited).
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

    /// The user a request acts for, or why there is none.
    async fn resolve(&self, parts: &Parts) -> Result<CurrentUser, NotSignedIn> {
        if self.settings.single_user {
            return Ok(CurrentUser {
                name: self.default_user.clone(),
                signed_in: false,
            });
        }
        let sign_in = |stale_cookie: bool| NotSignedIn::SignIn {
            next: wanted_page(parts),
            clear_cookie: stale_cookie.then(|| self.cookie_policy(parts).clear()),
        };
        let Some(token) = session::token_from(&parts.headers) else {
            return Err(sign_in(false));
        };
        let hash = token.hash();
        let now = Utc::now();
        if let CacheLookup::Fresh(name) = self.sessions.lookup(&hash, now) {
            return Ok(CurrentUser {
                name,
                signed_in: true,
            });
        }
        match self.upstream.session(&hash).await {
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
                    Err(NotSignedIn::Unavailable(reason))
                }
            },
        }
    }

    fn cookie_policy(&self, parts: &Parts) -> CookiePolicy {
        CookiePolicy {
            secure: self.settings.secure_cookies
                || session::is_https(parts, self.settings.trust_proxy),
            lifetime: self.settings.session_lifetime,
        }
    }

    /// Stores a new session for `user` and answers with its cookie and a redirect to `next`.
    /// A session the browser held before is ended: every sign-in gets a fresh token, so a
    /// token planted before sign-in is worth nothing after it.
    async fn start_session(
        &self,
        user: &str,
        client: &Client,
        next: &str,
    ) -> Result<Response, UpstreamError> {
        let token = Token::generate().map_err(|_| {
            UpstreamError::BadRequest("No secure random numbers are available.".to_owned())
        })?;
        let hash = token.hash();
        let lifetime = chrono::Duration::from_std(self.settings.session_lifetime)
            .unwrap_or(chrono::Duration::days(30));
        let expires = Utc::now() + lifetime;
        self.upstream
            .create_session(&NewSession {
                token_hash: hash.clone(),
                user: user.to_owned(),
                expires: expires.to_rfc3339(),
            })
            .await?;
        self.sessions.put(&hash, user, expires);
        if let Some(old) = &client.token {
            let old = old.hash();
            self.sessions.forget(&old);
            if let Err(error) = self.upstream.end_session(&old).await {
                tracing::warn!(%error, "could not end the session replaced by a sign-in");
            }
        }
        Ok(see_other(next, Some(client.cookies.set(&token))))
    }
}

impl FromRequestParts<crate::web::WebState> for CurrentUser {
    /// Sent instead of the page when nobody is signed in (a redirect to the sign-in page).
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &crate::web::WebState,
    ) -> Result<Self, Self::Rejection> {
        let Some(accounts) = parts.extensions.get::<Arc<Accounts>>().cloned() else {
            // A router built without `crate::router`: refuse rather than guess a user.
            tracing::error!("CurrentUser used on a router without accounts");
            return Err(StatusCode::INTERNAL_SERVER_ERROR.into_response());
        };
        accounts
            .resolve(parts)
            .await
            .map_err(IntoResponse::into_response)
    }
}

/// Why a request has no user.
#[derive(Debug)]
enum NotSignedIn {
    /// Nobody is signed in (or the session ended): sign in, then come back to `next`.
    SignIn {
        next: String,
        /// Set when the browser sent a session that no longer exists.
        clear_cookie: Option<HeaderValue>,
    },
    /// The session can't be checked now (the middle tier is unavailable).
    Unavailable(String),
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        match self {
            NotSignedIn::SignIn { next, clear_cookie } => {
                see_other(&format!("/signin{}", next_query(&next)), clear_cookie)
            }
            NotSignedIn::Unavailable(reason) => {
                let page = SignInPage {
                    error: Some(format!(
                        "Your sign-in can't be checked right now: {reason}. Please try again in a moment."
                    )),
                    ..SignInPage::new("/".to_owned())
                };
                (StatusCode::SERVICE_UNAVAILABLE, no_store(), page).into_response()
            }
        }
    }
}

/// Where to come back to after signing in: the page asked for, for GET; after a form post,
/// the home page (a POST's target can't be revisited by a link).
fn wanted_page(parts: &Parts) -> String {
    if parts.method == Method::GET || parts.method == Method::HEAD {
        let page = parts.uri.path_and_query().map_or("/", |path| path.as_str());
        local_path(page)
    } else {
        "/".to_owned()
    }
}

/// `raw` if it is a path on this site, else `/`: `next` never sends anyone elsewhere. `//host`
/// and `/\host` are other sites to browsers; anything but visible ASCII can't be a `Location`.
fn local_path(raw: &str) -> String {
    let local = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.contains('\\')
        && raw.len() <= 2048
        && raw.bytes().all(|b| b.is_ascii_graphic());
    // Coming back to a sign-in page after signing in would only loop.
    let account_page = ["/signin", "/signup", "/signout"]
        .iter()
        .any(|page| raw == *page || raw.starts_with(&format!("{page}?")));
    if local && !account_page {
        raw.to_owned()
    } else {
        "/".to_owned()
    }
}

/// `?next=...` for links between the account pages, or nothing for the home page.
fn next_query(next: &str) -> String {
    if next == "/" {
        String::new()
    } else {
        let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        format!("?next={encoded}")
    }
}

/// 303 to a local path (validated by [`local_path`]), with a cookie change if any.
/// The form page rebuilt by `page` with status 429: the message tells a person how many minutes
/// to wait, and `Retry-After` tells a script the seconds.
fn too_many(
    wait: Duration,
    reason: &str,
    page: impl FnOnce(StatusCode, String) -> Response,
) -> Response {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    let mut response = page(
        StatusCode::TOO_MANY_REQUESTS,
        format!("{reason} Try again in {minutes} {unit}."),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(wait.as_secs().max(1)),
    );
    response
}

fn see_other(to: &str, cookie: Option<HeaderValue>) -> Response {
    let mut response = Redirect::to(to).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Account pages carry a user's name and state: never cached.
fn no_store() -> [(header::HeaderName, &'static str); 1] {
    [(header::CACHE_CONTROL, "no-store")]
}

/// What the account handlers need to know about the browser asking.
#[derive(Debug)]
struct Client {
    ip: Option<IpAddr>,
    token: Option<Token>,
    cookies: CookiePolicy,
}

impl FromRequestParts<Arc<Accounts>> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        accounts: &Arc<Accounts>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Client {
            ip: session::client_ip(parts, accounts.settings.trust_proxy),
            token: session::token_from(&parts.headers),
            cookies: accounts.cookie_policy(parts),
        })
    }
}

/// `/signin`, `/signup` and `/signout`.
pub fn router(accounts: Arc<Accounts>) -> Router {
    Router::new()
        .route("/signin", get(sign_in_page).post(sign_in))
        .route("/signup", get(sign_up_page).post(sign_up))
        .route("/signout", post(sign_out))
        .with_state(accounts)
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    #[serde(default)]
    next: String,
    /// Set by the redirect after signing out.
    signed_out: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AccountForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "signin.html")]
struct SignInPage {
    user: Viewer,
    /// The name as typed, kept in the form after an error.
    name: String,
    next: String,
    /// `?next=...` for the link to the other account page.
    next_query: String,
    error: Option<String>,
    notice: Option<String>,
}

impl SignInPage {
    fn new(next: String) -> Self {
        Self {
            user: Viewer::Visitor,
            name: String::new(),
            next_query: next_query(&next),
            next,
            error: None,
            notice: None,
        }
    }
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "signup.html")]
struct SignUpPage {
    user: Viewer,
    name: String,
    next: String,
    next_query: String,
    error: Option<String>,
    /// Which field the error is about, so assistive technology announces it with that field.
    invalid: Field,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Name,
    Password,
    /// The error is not about what was typed (the service is unavailable).
    Neither,
}

impl SignUpPage {
    fn new(next: String) -> Self {
        Self {
            user: Viewer::Visitor,
            name: String::new(),
            next_query: next_query(&next),
            next,
            error: None,
            invalid: Field::Neither,
        }
    }

    fn name_invalid(&self) -> bool {
        self.invalid == Field::Name
    }

    fn password_invalid(&self) -> bool {
        self.invalid == Field::Password
    }
}

async fn sign_in_page(
    State(accounts): State<Arc<Accounts>>,
    Query(query): Query<PageQuery>,
) -> Response {
    if accounts.settings.single_user {
        return Redirect::to("/").into_response();
    }
    let page = SignInPage {
        notice: query.signed_out.map(|_| "You are signed out.".to_owned()),
        ..SignInPage::new(local_path(&query.next))
    };
    (no_store(), page).into_response()
}

async fn sign_up_page(
    State(accounts): State<Arc<Accounts>>,
    Query(query): Query<PageQuery>,
) -> Response {
    if accounts.settings.single_user {
        return Redirect::to("/").into_response();
    }
    (no_store(), SignUpPage::new(local_path(&query.next))).into_response()
}

async fn sign_up(
    State(accounts): State<Arc<Accounts>>,
    client: Client,
    Form(form): Form<AccountForm>,
) -> Response {
    if accounts.settings.single_user {
        return Redirect::to("/").into_response();
    }
    let name = normalize_name(&form.name);
    let failed = |status: StatusCode, invalid: Field, error: String| {
        let page = SignUpPage {
            name: form.name.trim().to_owned(),
            error: Some(error),
            invalid,
            ..SignUpPage::new(local_path(&form.next))
        };
        (status, no_store(), page).into_response()
    };
    if UserId::parse(&name).is_err() {
        return failed(
            StatusCode::BAD_REQUEST,
            Field::Name,
            "Choose a user name of 1 to 64 letters, digits, dots, dashes, underscores or @."
                .to_owned(),
        );
    }
    if let Err(problem) = check_new_password(&form.password) {
        return failed(StatusCode::BAD_REQUEST, Field::Password, problem);
    }
    // Checked before hashing, so a script can't keep the hasher busy either.
    if let Err(wait) = accounts.signups.check("", client.ip) {
        return too_many(
            wait,
            "Too many accounts were created from your network.",
            |status, error| failed(status, Field::Neither, error),
        );
    }
    let password_hash = match accounts.passwords.hash(form.password.clone()).await {
        Ok(hash) => hash,
        Err(error) => {
            tracing::error!(%error, "password hashing failed");
            return failed(
                StatusCode::INTERNAL_SERVER_ERROR,
                Field::Neither,
                "Your account could not be created. Please try again.".to_owned(),
            );
        }
    };
    let created = accounts
        .upstream
        .create_account(&NewAccount {
            user: name.clone(),
            password_hash,
        })
        .await;
    match created {
        Ok(Some(_)) => {}
        Ok(None) => {
            return failed(
                StatusCode::CONFLICT,
                Field::Name,
                format!(
                    "The name \u{201c}{name}\u{201d} is taken. Choose another, or sign in if it is yours."
                ),
            );
        }
        Err(UpstreamError::BadRequest(message)) => {
            return failed(StatusCode::BAD_REQUEST, Field::Neither, message);
        }
        Err(error) => {
            return failed(
                StatusCode::SERVICE_UNAVAILABLE,
                Field::Neither,
                format!("Your account was not created: {error}. Please try again in a moment."),
            );
        }
    }
    tracing::info!(user = %name, "account created");
    accounts.signups.failed("", client.ip);
    let next = local_path(&form.next);
    match accounts.start_session(&name, &client, &next).await {
        Ok(response) => response,
        Err(error) => {
            let page = SignInPage {
                name,
                notice: Some(format!(
                    "Your account was created, but signing you in did not work: {error}. \
                     Please sign in."
                )),
                ..SignInPage::new(next)
            };
            (StatusCode::SERVICE_UNAVAILABLE, no_store(), page).into_response()
        }
    }
}

async fn sign_in(
    State(accounts): State<Arc<Accounts>>,
    client: Client,
    Form(form): Form<AccountForm>,
) -> Response {
    if accounts.settings.single_user {
        return Redirect::to("/").into_response();
    }
    let name = normalize_name(&form.name);
    let next = local_path(&form.next);
    let failed = |status: StatusCode, error: String| {
        let page = SignInPage {
            name: form.name.trim().to_owned(),
            error: Some(error),
            ..SignInPage::new(next.clone())
        };
        (status, no_store(), page).into_response()
    };
    if name.is_empty() || form.password.is_empty() {
        return failed(
            StatusCode::BAD_REQUEST,
            "Enter your user name and your password.".to_owned(),
        );
    }
    if let Err(wait) = accounts.limiter.check(&name, client.ip) {
        return too_many(
            wait,
            "Too many failed sign-ins for this name or from your network.",
            failed,
        );
    }
    // A name that can't exist, or a password no account can have, is checked against a dummy
    // hash all the same: the answer takes as long as for a real account.
    let plausible =
        UserId::parse(&name).is_ok() && form.password.chars().count() <= MAX_PASSWORD_CHARS;
    let stored = if plausible {
        match accounts.upstream.account(&name).await {
            Ok(account) => account.map(|account| account.password_hash),
            Err(error) => {
                return failed(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "Signing in is not possible right now: {error}. Please try again in a moment."
                    ),
                );
            }
        }
    } else {
        None
    };
    let password = if plausible {
        form.password.clone()
    } else {
        String::new()
    };
    if !accounts.passwords.verify(password, stored).await {
        accounts.limiter.failed(&name, client.ip);
        tracing::info!(user = %name, ip = ?client.ip, "sign-in failed");
        // The same words whether the name exists or not: no one learns which names do.
        return failed(
            StatusCode::FORBIDDEN,
            "The user name or the password is wrong.".to_owned(),
        );
    }
    accounts.limiter.succeeded(&name);
    match accounts.start_session(&name, &client, &next).await {
        Ok(response) => response,
        Err(error) => failed(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Signing in is not possible right now: {error}. Please try again in a moment."),
        ),
    }
}

async fn sign_out(State(accounts): State<Arc<Accounts>>, client: Client) -> Response {
    if accounts.settings.single_user {
        return Redirect::to("/").into_response();
    }
    if let Some(token) = &client.token {
        let hash = token.hash();
        if let Err(error) = accounts.upstream.end_session(&hash).await {
            // Keep the cookie: clearing it would leave the session alive where the user can't
            // end it any more. They can try again.
            let page = SignInPage {
                error: Some(format!(
                    "Signing out did not work: {error}. You are still signed in; please try again in a moment."
                )),
                ..SignInPage::new("/".to_owned())
            };
            return (StatusCode::SERVICE_UNAVAILABLE, no_store(), page).into_response();
        }
        accounts.sessions.forget(&hash);
    }
    see_other("/signin?signed_out=1", Some(client.cookies.clear()))
}

/// Names are compared case-insensitively: `Ann` and `ann` are one account, so nobody can
/// register a look-alike of an existing name by case alone.
fn normalize_name(raw: &str) -> String {
    raw.trim().to_ascii_lowercase()
}

fn check_new_password(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(format!(
            "Choose a password of at least {MIN_PASSWORD_CHARS} characters."
        ))
    } else if chars > MAX_PASSWORD_CHARS {
        Err(format!(
            "Choose a password of at most {MAX_PASSWORD_CHARS} characters."
        ))
    } else {
        Ok(())
    }
}

/// Argon2id hashing, off the async workers. Each hash takes 19 MiB and tens of milliseconds of
/// one core; a semaphore lets only as many run as there are cores, so a burst of sign-ins
/// queues instead of exhausting memory.
#[derive(Debug)]
struct Passwords {
    permits: Semaphore,
    /// The hash of a random password, verified against when the account doesn't exist.
    dummy: OnceCell<String>,
}

#[derive(Debug, thiserror::Error)]
enum PasswordError {
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("the hashing queue is closed")]
    Closed(#[from] tokio::sync::AcquireError),
}

impl Passwords {
    fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            permits: Semaphore::new(cores),
            dummy: OnceCell::new(),
        }
    }

    async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let _permit = self.permits.acquire().await?;
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|error| PasswordError::Hash(error.to_string()))
        })
        .await?
    }

    /// Whether `password` matches `stored`; with no stored hash, the same work is done against
    /// a dummy and the answer is no.
    async fn verify(&self, password: String, stored: Option<String>) -> bool {
        let (stored, real) = match stored {
            Some(stored) => (stored, true),
            None => {
                let dummy = self
                    .dummy
                    .get_or_try_init(|| async {
                        let random = Token::generate()
                            .map_err(|_| PasswordError::Hash("no randomness".to_owned()))?;
                        self.hash(random.as_str().to_owned()).await
                    })
                    .await;
                match dummy {
                    Ok(dummy) => (dummy.clone(), false),
                    Err(_) => return false,
                }
            }
        };
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let verified = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&stored).is_ok_and(|parsed| {
                // The parameters come from the stored hash, so old hashes keep verifying
                // after the defaults change.
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await;
        real && verified.unwrap_or(false)
    }
}

/// Failed sign-ins in fixed windows, per account name and per client address, in this edge's
/// memory (each edge counts its own; behind a balancer an attacker gets at most the limit
/// times the number of edges).
///
/// A window opens with a key's first failure and lasts `window`; at `max` failures within it
/// the key is refused until it ends. A success clears the name's count (not the address's, so
/// one known account can't be used to reset an address that is guessing at others).
#[derive(Debug)]
pub struct SignInLimiter {
    window: Duration,
    max_per_name: u32,
    max_per_ip: u32,
    failures: Mutex<HashMap<LimitKey, Failures>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LimitKey {
    Name(String),
    /// An IPv4 address, or the /64 of an IPv6 one (what one client typically holds).
    Address(IpAddr),
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    since: Instant,
    count: u32,
}

impl SignInLimiter {
    pub fn new(window: Duration, max_per_name: u32, max_per_ip: u32) -> Self {
        Self {
            window,
            max_per_name,
            max_per_ip,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when the name or the address has used up its failures for now.
    pub fn check(&self, name: &str, ip: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let failures = self.lock();
        let blocked = |key: LimitKey, max: u32| {
            failures
                .get(&key)
                .filter(|f| now.duration_since(f.since) < self.window && f.count >= max)
                .map(|f| self.window.saturating_sub(now.duration_since(f.since)))
        };
        let by_name = blocked(LimitKey::Name(name.to_owned()), self.max_per_name);
        let by_address = ip.and_then(|ip| blocked(address_key(ip), self.max_per_ip));
        match by_name.into_iter().chain(by_address).max() {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub fn failed(&self, name: &str, ip: Option<IpAddr>) {
        let now = Instant::now();
        let mut failures = self.lock();
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, f| now.duration_since(f.since) < self.window);
            if failures.len() >= MAX_TRACKED {
                let oldest = failures
                    .iter()
                    .min_by_key(|(_, f)| f.since)
                    .map(|(key, _)| key.clone());
                if let Some(oldest) = oldest {
                    failures.remove(&oldest);
                }
            }
        }
        let keys = std::iter::once(LimitKey::Name(name.to_owned())).chain(ip.map(address_key));
        for key in keys {
            let entry = failures.entry(key).or_insert(Failures {
                since: now,
                count: 0,
            });
            if now.duration_since(entry.since) >= self.window {
                *entry = Failures {
                    since: now,
                    count: 0,
                };
            }
            entry.count += 1;
        }
    }

    pub fn succeeded(&self, name: &str) {
        self.lock().remove(&LimitKey::Name(name.to_owned()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LimitKey, Failures>> {
        // Updates are single inserts and removes; a poisoned lock holds a consistent map.
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn address_key(ip: IpAddr) -> LimitKey {
    match ip {
        IpAddr::V4(_) => LimitKey::Address(ip),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => LimitKey::Address(IpAddr::V4(v4)),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                LimitKey::Address(IpAddr::V6(segments.into()))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_only_ever_a_local_path() {
        for (raw, expected) in [
            ("/", "/"),
            (
                "/feeds?url=https%3A%2F%2Fa.example%2F",
                "/feeds?url=https%3A%2F%2Fa.example%2F",
            ),
            ("", "/"),
            ("https://evil.example/", "/"),
            ("//evil.example/", "/"),
            ("/\\evil.example/", "/"),
            ("\\\\evil.example", "/"),
            ("/\t/evil.example", "/"),
            ("javascript:alert(1)", "/"),
            ("/caf\u{e9}", "/"),
            ("/signin?next=/", "/"),
            ("/signout", "/"),
        ] {
            assert_eq!(local_path(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn passwords_must_be_8_to_1024_characters() {
        assert!(check_new_password("1234567").is_err());
        assert!(check_new_password("12345678").is_ok());
        // Characters, not bytes: eight accented letters are enough.
        assert!(check_new_password(&"\u{e9}".repeat(8)).is_ok());
        assert!(check_new_password(&"x".repeat(1024)).is_ok());
        assert!(check_new_password(&"x".repeat(1025)).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_limited_per_name_and_per_address_in_fixed_windows() {
        let window = Duration::from_secs(900);
        let limiter = SignInLimiter::new(window, 3, 5);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..3 {
            assert!(limiter.check("ann", Some(ip)).is_ok());
            limiter.failed("ann", Some(ip));
        }
        let wait = limiter.check("ann", None).expect_err("the name is limited");
        assert_eq!(wait, window);
        // Another name from the same address still has room, until the address is spent.
        assert!(limiter.check("bob", Some(ip)).is_ok());
        limiter.failed("bob", Some(ip));
        limiter.failed("cid", Some(ip));
        assert!(limiter.check("dan", Some(ip)).is_err());
        assert!(
            limiter
                .check("dan", Some("192.0.2.2".parse().expect("ip")))
                .is_ok()
        );

        tokio::time::advance(Duration::from_secs(600)).await;
        assert_eq!(
            limiter.check("ann", None),
            Err(Duration::from_secs(300)),
            "the wait counts down"
        );
        tokio::time::advance(Duration::from_secs(300)).await;
        assert!(limiter.check("ann", Some(ip)).is_ok(), "a new window");
    }

    #[test]
    fn a_success_clears_the_names_failures_but_not_the_addresses() {
        let limiter = SignInLimiter::new(Duration::from_secs(60), 2, 3);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        limiter.failed("ann", Some(ip));
        limiter.failed("ann", Some(ip));
        assert!(limiter.check("ann", None).is_err());
        limiter.succeeded("ann");
        assert!(limiter.check("ann", None).is_ok());
        limiter.failed("bob", Some(ip));
        assert!(limiter.check("eve", Some(ip)).is_err());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(
            address_key(mapped),
            LimitKey::Address("192.0.2.1".parse().expect("ip"))
        );
    }

    #[tokio::test]
    async fn passwords_hash_to_phc_strings_that_verify() {
        let passwords = Passwords::new();
        let hash = passwords
            .hash("correct horse".to_owned())
            .await
            .expect("hashed");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            passwords
                .verify("correct horse".to_owned(), Some(hash.clone()))
                .await
        );
        assert!(!passwords.verify("wrong horse".to_owned(), Some(hash)).await);
        assert!(!passwords.verify("correct horse".to_owned(), None).await);
        assert!(
            !passwords
                .verify("x".to_owned(), Some("not a hash".to_owned()))
                .await
        );
    }
}
