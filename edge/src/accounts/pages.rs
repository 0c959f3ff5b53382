//! The account pages: `/signin`, `/signup`, `/signout` and `/signout/everywhere`, and the
//! answer to a request that has no user (a redirect here, or the sign-in page saying why it
//! can't be checked).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;

use middletier_api::domain::UserId;
use middletier_api::limits::MAX_USER_LEN;
use middletier_api::{NewAccount, NewSession};

use super::Accounts;
use super::CurrentUser;
use super::current_user::{NotSignedIn, Viewer, next_page};
use super::passwords::{MAX_PASSWORD_CHARS, check_new_password};
use crate::local_path::LocalPath;
use crate::session::{self, CookiePolicy, Token};
use crate::upstream::{UpstreamError, retry_after_header};

/// `/signin`, `/signup`, `/signout` and `/signout/everywhere`.
pub fn router(accounts: Arc<Accounts>) -> Router {
    Router::new()
        .route("/signin", get(sign_in_page).post(sign_in))
        .route("/signup", get(sign_up_page).post(sign_up))
        .route("/signout", post(sign_out))
        .route("/signout/everywhere", post(sign_out_everywhere))
        .with_state(accounts)
}

/// What the account handlers need to know about the browser asking.
#[derive(Debug)]
pub(super) struct Client {
    pub(super) ip: Option<IpAddr>,
    token: Option<Token>,
    pub(super) cookies: CookiePolicy,
}

impl FromRequestParts<Arc<Accounts>> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        accounts: &Arc<Accounts>,
    ) -> Result<Self, Self::Rejection> {
        let cookies = accounts.cookie_policy(parts);
        Ok(Client {
            ip: session::client_ip(parts, accounts.settings.trust_proxy),
            token: cookies.token(&parts.headers),
            cookies,
        })
    }
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
    next: LocalPath,
    /// `?next=...` for the link to the other account page.
    next_query: String,
    error: Option<String>,
    notice: Option<String>,
}

impl SignInPage {
    fn new(next: LocalPath) -> Self {
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
    next: LocalPath,
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
    fn new(next: LocalPath) -> Self {
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
        notice: query.signed_out.map(|why| match why.as_str() {
            "everywhere" => "You are signed out on every browser and device.".to_owned(),
            "deleted" => "Your account is deleted, with your subscriptions, reading state and \
                          app passwords. Thank you for reading with us."
                .to_owned(),
            _ => "You are signed out.".to_owned(),
        }),
        ..SignInPage::new(next_page(&query.next))
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
    (no_store(), SignUpPage::new(next_page(&query.next))).into_response()
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
            ..SignUpPage::new(next_page(&form.next))
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
    // Every attempt that gets this far counts, before hashing: a taken name costs a hash and
    // says the name exists, so counting only the accounts created would let a script enumerate
    // names, and keep the hasher busy, without limit.
    if let Err(wait) = accounts.signups.check("", client.ip) {
        return too_many(
            wait,
            "Too many sign-ups from your network.",
            |status, error| failed(status, Field::Neither, error),
        );
    }
    accounts.signups.failed("", client.ip);
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
            let page = failed(
                StatusCode::SERVICE_UNAVAILABLE,
                Field::Neither,
                format!("Your account was not created: {error}. Please try again in a moment."),
            );
            return (error.retry_after_header(), page).into_response();
        }
    }
    tracing::info!(user = %name, "account created");
    let next = next_page(&form.next);
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
    let next = next_page(&form.next);
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
                let page = failed(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "Signing in is not possible right now: {error}. Please try again in a moment."
                    ),
                );
                return (error.retry_after_header(), page).into_response();
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
        // At most a user name's length of whatever was typed reaches the log.
        let shown: String = name.chars().take(MAX_USER_LEN).collect();
        tracing::info!(user = %shown, ip = ?client.ip, "sign-in failed");
        // The same words whether the name exists or not: no one learns which names do.
        return failed(
            StatusCode::FORBIDDEN,
            "The user name or the password is wrong.".to_owned(),
        );
    }
    accounts.limiter.succeeded(&name, client.ip);
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
                ..SignInPage::new(LocalPath::home())
            };
            let retry_after = error.retry_after_header();
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                retry_after,
                no_store(),
                page,
            )
                .into_response();
        }
        accounts.sessions.forget(&hash);
    }
    see_other("/signin?signed_out=1", Some(client.cookies.clear()))
}

/// Ends every session of the user, on every browser and device and through every edge (a
/// lost phone, a shared computer): at once on this edge, within the session cache's
/// freshness (`[accounts] session_cache`) on the others.
async fn sign_out_everywhere(
    State(accounts): State<Arc<Accounts>>,
    user: CurrentUser,
    client: Client,
) -> Response {
    if accounts.settings.single_user {
        return Redirect::to("/").into_response();
    }
    if let Err(error) = accounts.upstream.end_all_sessions(&user.name).await {
        let page = SignInPage {
            error: Some(format!(
                "Signing out everywhere did not work: {error}. Your sessions are still open; please try again in a moment."
            )),
            ..SignInPage::new(LocalPath::home())
        };
        let retry_after = error.retry_after_header();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            retry_after,
            no_store(),
            page,
        )
            .into_response();
    }
    accounts.sessions.forget_user(&user.name);
    see_other(
        "/signin?signed_out=everywhere",
        Some(client.cookies.clear()),
    )
}

impl Accounts {
    /// Stores a new session for `user` and answers with its cookie and a redirect to `next`.
    /// A session the browser held before is ended: every sign-in gets a fresh token, so a
    /// token planted before sign-in is worth nothing after it.
    pub(super) async fn start_session(
        &self,
        user: &str,
        client: &Client,
        next: &LocalPath,
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
                app_password: None,
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
        Ok(see_other(next.as_str(), Some(client.cookies.set(&token))))
    }
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        match self {
            NotSignedIn::SignIn { next, clear_cookie } => {
                see_other(&format!("/signin{}", next_query(&next)), clear_cookie)
            }
            NotSignedIn::Unavailable {
                reason,
                retry_after,
            } => {
                let page = SignInPage {
                    error: Some(format!(
                        "Your sign-in can't be checked right now: {reason}. Please try again in a moment."
                    )),
                    ..SignInPage::new(LocalPath::home())
                };
                let retry_after = retry_after_header(retry_after);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    retry_after,
                    no_store(),
                    page,
                )
                    .into_response()
            }
        }
    }
}

/// `?next=...` for links between the account pages, or nothing for the home page.
fn next_query(next: &LocalPath) -> String {
    if next.is_home() {
        String::new()
    } else {
        let encoded: String =
            url::form_urlencoded::byte_serialize(next.as_str().as_bytes()).collect();
        format!("?next={encoded}")
    }
}

/// The form page rebuilt by `page` with status 429: the message tells a person how many minutes
/// to wait, and `Retry-After` tells a script the seconds.
pub(super) fn too_many(
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

/// 303 to a path on this site (a [`LocalPath`] or one of the account pages' own), with a
/// cookie change if any.
pub(super) fn see_other(to: &str, cookie: Option<HeaderValue>) -> Response {
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
pub(super) fn no_store() -> [(header::HeaderName, &'static str); 1] {
    [(header::CACHE_CONTROL, "no-store")]
}

/// Names are compared case-insensitively: `Ann` and `ann` are one account, so nobody can
/// register a look-alike of an existing name by case alone.
fn normalize_name(raw: &str) -> String {
    raw.trim().to_ascii_lowercase()
}
