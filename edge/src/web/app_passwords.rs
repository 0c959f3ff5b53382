//! The "Apps" page (`/settings/app-passwords`): the app passwords sync apps sign in with
//! (the Google Reader and Fever APIs, [`crate::apps`]), and the addresses to give those apps.
//!
//! The server makes each password (140 random bits, in groups of four letters a phone's
//! keyboard types easily) and shows it once, in the answer to the form that created it; the
//! middle tier only ever gets its hashes ([`crate::apps::secrets`]). So the password is never
//! in a URL, a log or a later page, and an answer carrying it is never cached. The list shows
//! each password's name, when it was made and last used, and a revoke button; revoking ends
//! the app sessions signed in with it. In single-user mode the page is there too: the APIs
//! never take the account password, and there is none.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use middletier_api::{AppPassword, MAX_APP_PASSWORD_NAME, MAX_APP_PASSWORDS, NewAppPassword};

use super::{Banner, Published, WebState};
use crate::accounts::{CurrentUser, Viewer};
use crate::apps::secrets::{self, NewSecret};
use crate::upstream::UpstreamError;

/// Where the page lives; its forms post here and to [`REVOKE`].
pub(super) const PAGE: &str = "/settings/app-passwords";
pub(super) const REVOKE: &str = "/settings/app-passwords/revoke";

#[derive(Debug, Deserialize)]
pub(super) struct NameForm {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct RevokeForm {
    #[serde(default)]
    id: String,
}

/// What the page says after a revoke's redirect (`?revoked=1`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Notice {
    revoked: Option<String>,
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "app_passwords.html")]
struct AppPasswordsPage {
    user: Viewer,
    banner: Option<Banner>,
    /// The password just created: shown in this one answer only.
    created: Option<Created>,
    passwords: Vec<PasswordView>,
    /// The list could be read (else the banner says why, and the list is not shown as empty).
    listed: bool,
    /// The name as typed, kept in the form after an error.
    name: String,
    name_invalid: bool,
    servers: Servers,
    max_name: usize,
}

/// `Debug` hides the password.
struct Created {
    name: String,
    password: String,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("name", &self.name)
            .field("password", &"[redacted]")
            .finish()
    }
}

#[derive(Debug)]
struct PasswordView {
    id: String,
    name: String,
    created: String,
    last_used: String,
}

impl From<AppPassword> for PasswordView {
    fn from(password: AppPassword) -> Self {
        let human = |raw: String| Published::parse(raw.clone()).map_or(raw, |at| at.human);
        Self {
            id: password.id,
            name: password.name,
            created: human(password.created),
            last_used: password.last_used.map_or_else(|| "never".to_owned(), human),
        }
    }
}

/// The addresses apps are given, on the host the browser used.
#[derive(Debug)]
pub(super) struct Servers {
    /// `https://host` (no trailing slash).
    root: String,
}

impl Servers {
    fn greader(&self) -> String {
        format!("{}/api/greader.php", self.root)
    }

    fn fever(&self) -> String {
        format!("{}/api/fever.php", self.root)
    }

    fn fever_short(&self) -> String {
        format!("{}/fever/", self.root)
    }
}

impl FromRequestParts<WebState> for Servers {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let scheme = if state.accounts.is_https(parts) {
            "https"
        } else {
            "http"
        };
        // The edge has no configured public address: the one the browser reached it by is the
        // one the same person's apps can use. A Host header no server name can have is not
        // repeated back.
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .filter(|host| {
                !host.is_empty()
                    && host.len() <= 255
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .unwrap_or("your-server");
        Ok(Servers {
            root: format!("{scheme}://{host}"),
        })
    }
}

impl AppPasswordsPage {
    fn new(user: &CurrentUser, servers: Servers) -> Self {
        Self {
            user: user.viewer(),
            banner: None,
            created: None,
            passwords: Vec::new(),
            listed: false,
            name: String::new(),
            name_invalid: false,
            servers,
            max_name: MAX_APP_PASSWORD_NAME,
        }
    }

    /// Fills in the list; when it can't be read, the banner says why and the status is 503.
    async fn listed(mut self, state: &WebState, user: &CurrentUser) -> (StatusCode, Self) {
        match state.upstream.app_passwords(&user.name).await {
            Ok(passwords) => {
                self.passwords = passwords.into_iter().map(PasswordView::from).collect();
                self.listed = true;
                (StatusCode::OK, self)
            }
            Err(error) => {
                if self.banner.is_none() {
                    self.banner = Some(Banner {
                        kind: "error",
                        message: format!(
                            "Your app passwords can't be listed right now: {error}. Please try again in a moment."
                        ),
                    });
                }
                (StatusCode::SERVICE_UNAVAILABLE, self)
            }
        }
    }

    fn is_full(&self) -> bool {
        self.passwords.len() >= MAX_APP_PASSWORDS
    }
}

pub(super) async fn page(
    State(state): State<WebState>,
    user: CurrentUser,
    servers: Servers,
    Query(notice): Query<Notice>,
) -> Response {
    let mut page = AppPasswordsPage::new(&user, servers);
    if notice.revoked.is_some() {
        page.banner = Some(Banner {
            kind: "notice",
            message: "The app password is revoked: apps signed in with it are signed out."
                .to_owned(),
        });
    }
    page.listed(&state, &user).await.into_response()
}

pub(super) async fn create(
    State(state): State<WebState>,
    user: CurrentUser,
    servers: Servers,
    Form(form): Form<NameForm>,
) -> Response {
    let mut page = AppPasswordsPage::new(&user, servers);
    let name = form.name.trim();
    let failed = |page: AppPasswordsPage, status: StatusCode, message: String| {
        refused(&state, &user, page, name, status, message)
    };
    if name.is_empty()
        || name.chars().count() > MAX_APP_PASSWORD_NAME
        || name.chars().any(char::is_control)
    {
        page.name_invalid = true;
        return failed(
            page,
            StatusCode::BAD_REQUEST,
            format!(
                "Name the app password (1 to {MAX_APP_PASSWORD_NAME} characters), for example after the app and the device."
            ),
        )
        .await;
    }
    let Ok(secret) = NewSecret::generate() else {
        return failed(
            page,
            StatusCode::INTERNAL_SERVER_ERROR,
            "No secure random numbers are available: no password was created.".to_owned(),
        )
        .await;
    };
    let new = NewAppPassword {
        id: secret.id.clone(),
        name: name.to_owned(),
        secret_hash: secrets::secret_hash(&secret.password),
        fever_hash: secrets::fever_hash(&secrets::fever_key(&user.name, &secret.password)),
    };
    match state.upstream.create_app_password(&user.name, &new).await {
        Ok(true) => {}
        Ok(false) => {
            return failed(
                page,
                StatusCode::CONFLICT,
                format!(
                    "You have {MAX_APP_PASSWORDS} app passwords, the most there can be: revoke one you no longer use first."
                ),
            )
            .await;
        }
        // Single-user mode's reader has no account: the middle tier knows them by their feeds.
        Err(UpstreamError::BadRequest(message)) if message == "account not found" => {
            return failed(
                page,
                StatusCode::BAD_REQUEST,
                "No app password was created: subscribe to a feed first.".to_owned(),
            )
            .await;
        }
        Err(UpstreamError::BadRequest(message)) => {
            return failed(page, StatusCode::BAD_REQUEST, message).await;
        }
        Err(error) => {
            return failed(
                page,
                StatusCode::SERVICE_UNAVAILABLE,
                format!("No app password was created: {error}. Please try again in a moment."),
            )
            .await;
        }
    }
    tracing::info!(user = %user.name, id = %secret.id, "app password created");
    page.created = Some(Created {
        name: name.to_owned(),
        password: secret.password,
    });
    let (_, page) = page.listed(&state, &user).await;
    // 200 even if the list could not be read: the password was made, and this is the only
    // answer that shows it.
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        page,
    )
        .into_response()
}

/// The page again after a failed create: the reason, the name as typed, the list.
async fn refused(
    state: &WebState,
    user: &CurrentUser,
    mut page: AppPasswordsPage,
    typed: &str,
    status: StatusCode,
    message: String,
) -> Response {
    page.name = typed.chars().take(MAX_APP_PASSWORD_NAME).collect();
    page.banner = Some(Banner {
        kind: "error",
        message,
    });
    let (_, page) = page.listed(state, user).await;
    (status, page).into_response()
}

pub(super) async fn revoke(
    State(state): State<WebState>,
    user: CurrentUser,
    servers: Servers,
    Form(form): Form<RevokeForm>,
) -> Response {
    let id = form.id.trim();
    // Ids are the edge's own 16 hex characters; anything else names no password (and is not
    // sent on into a URL path).
    let valid = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let failure = if valid {
        state
            .upstream
            .revoke_app_password(&user.name, id)
            .await
            .err()
    } else {
        Some(UpstreamError::BadRequest(
            "There is no such app password.".to_owned(),
        ))
    };
    let Some(error) = failure else {
        tracing::info!(user = %user.name, id = %id, "app password revoked");
        return Redirect::to(&format!("{PAGE}?revoked=1")).into_response();
    };
    let mut page = AppPasswordsPage::new(&user, servers);
    page.banner = Some(Banner {
        kind: "error",
        message: format!("The app password was not revoked: {error}"),
    });
    let (_, page) = page.listed(&state, &user).await;
    let status = if error.is_bad_request() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, error.retry_after_header(), page).into_response()
}
