//! The account settings page (`/settings`): reading preferences, changing the password,
//! signing out everywhere, deleting the account, and the way to the app passwords page.
//!
//! Preferences (theme, items per page, list style, new tabs, mark read on open) are stored by
//! the middle tier for the user, so they follow the user to every browser; single-user mode's
//! user keeps them too. They change only how pages look and behave for this user.
//!
//! A password change asks for the current password (counted in the sign-in limiter when
//! wrong, like a failed sign-in: a session left open on a shared computer must not become a
//! way to guess the password), hashes the new one as sign-up does, and has the middle tier
//! store it and end every browser session of the account; this browser then gets a fresh
//! session. Apps' sessions stay: they were opened with app passwords, which are separate
//! credentials and are revoked on their own page.
//!
//! Deleting the account asks for the password too (counted the same way), has the middle tier
//! delete everything that is the user's, and signs this browser out.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use middletier_api::{
    ListStyle, MAX_ITEMS_PER_PAGE, MIN_ITEMS_PER_PAGE, PasswordChange, Preferences, Theme,
};

use super::current_user::{Viewer, next_page};
use super::pages::{Client, no_store, see_other, too_many};
use super::passwords::{MAX_PASSWORD_CHARS, check_new_password};
use super::{Accounts, CurrentUser};

const PAGE: &str = "/settings";
const CHANGED: &str = "/settings?changed=password";
const SAVED: &str = "/settings?changed=preferences";

/// `/settings`, `/settings/password` and `/settings/delete`.
pub(super) fn routes() -> Router<Arc<Accounts>> {
    Router::new()
        .route(PAGE, get(settings_page))
        .route("/settings/preferences", post(save_preferences))
        .route("/settings/password", post(change_password))
        .route("/settings/delete", post(delete_account))
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    /// Set by the redirect after a change.
    changed: Option<String>,
}

/// The password form; a missing field reads as empty and is refused as such.
#[derive(Default, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

// Passwords never reach a log, even through a debug print of the form.
impl std::fmt::Debug for PasswordForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordForm").finish_non_exhaustive()
    }
}

/// The deletion form: the password, again.
#[derive(Default, Deserialize)]
struct DeleteForm {
    #[serde(default)]
    password: String,
}

impl std::fmt::Debug for DeleteForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeleteForm").finish_non_exhaustive()
    }
}

/// Which password field an error is about, so assistive technology announces it with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Current,
    New,
    Confirm,
    /// The password that confirms deleting the account.
    Delete,
    /// The preferences form.
    Preferences,
    /// Not about what was typed (the service is unavailable).
    Neither,
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "settings.html")]
struct SettingsPage {
    user: Viewer,
    /// Single-user mode: there is no account, so no password to change.
    single_user: bool,
    notice: Option<String>,
    error: Option<String>,
    invalid: Field,
    max_password: usize,
    /// What the preferences form shows as chosen.
    preferences: Preferences,
    min_per_page: u16,
    max_per_page: u16,
}

impl SettingsPage {
    fn new(user: &CurrentUser, single_user: bool) -> Self {
        Self {
            user: user.viewer(),
            single_user,
            notice: None,
            error: None,
            invalid: Field::Neither,
            max_password: MAX_PASSWORD_CHARS,
            preferences: user.preferences,
            min_per_page: MIN_ITEMS_PER_PAGE,
            max_per_page: MAX_ITEMS_PER_PAGE,
        }
    }

    fn theme_is(&self, theme: &str) -> bool {
        self.preferences.theme.as_str() == theme
    }

    fn compact(&self) -> bool {
        self.preferences.list_style == ListStyle::Compact
    }

    fn preferences_error(&self) -> Option<&str> {
        self.error
            .as_deref()
            .filter(|_| self.invalid == Field::Preferences)
    }

    fn current_invalid(&self) -> bool {
        self.invalid == Field::Current
    }

    fn new_invalid(&self) -> bool {
        self.invalid == Field::New
    }

    fn confirm_invalid(&self) -> bool {
        self.invalid == Field::Confirm
    }

    fn delete_invalid(&self) -> bool {
        self.invalid == Field::Delete
    }

    /// The error of the deletion form, shown beside it (else beside the password form).
    fn delete_error(&self) -> Option<&str> {
        self.error.as_deref().filter(|_| self.delete_invalid())
    }

    fn password_error(&self) -> Option<&str> {
        self.error
            .as_deref()
            .filter(|_| !matches!(self.invalid, Field::Delete | Field::Preferences))
    }
}

async fn settings_page(
    State(accounts): State<Arc<Accounts>>,
    user: CurrentUser,
    Query(query): Query<PageQuery>,
) -> Response {
    let page = SettingsPage {
        notice: match query.changed.as_deref() {
            Some("password") => Some(
                "Your password is changed. Every other browser is signed out; this one stays \
                 signed in. Apps keep syncing with their app passwords."
                    .to_owned(),
            ),
            Some("preferences") => Some("Your preferences are saved.".to_owned()),
            _ => None,
        },
        ..SettingsPage::new(&user, accounts.settings.single_user)
    };
    (no_store(), page).into_response()
}

/// The preferences form. Checkboxes are sent only when ticked; a missing field reads as
/// empty and is refused as such.
#[derive(Debug, Default, Deserialize)]
struct PreferencesForm {
    #[serde(default)]
    theme: String,
    #[serde(default)]
    items_per_page: String,
    #[serde(default)]
    list_style: String,
    open_in_new_tab: Option<String>,
    mark_read_on_open: Option<String>,
}

impl PreferencesForm {
    /// The preferences the form chose, or what is wrong with it, for the user.
    fn parse(&self) -> Result<Preferences, String> {
        let theme = match self.theme.as_str() {
            "light" => Theme::Light,
            "dark" => Theme::Dark,
            "system" => Theme::System,
            _ => return Err("Choose a theme: light, dark or your system's.".to_owned()),
        };
        let list_style = match self.list_style.as_str() {
            "full" => ListStyle::Full,
            "compact" => ListStyle::Compact,
            _ => return Err("Choose a list style: full or compact.".to_owned()),
        };
        let range = || {
            format!(
                "Items per page must be a number from {MIN_ITEMS_PER_PAGE} to {MAX_ITEMS_PER_PAGE}."
            )
        };
        let items_per_page: u16 = self.items_per_page.trim().parse().map_err(|_| range())?;
        let preferences = Preferences {
            theme,
            items_per_page,
            open_in_new_tab: self.open_in_new_tab.is_some(),
            mark_read_on_open: self.mark_read_on_open.is_some(),
            list_style,
        };
        preferences.check().map_err(|_| range())?;
        Ok(preferences)
    }
}

async fn save_preferences(
    State(accounts): State<Arc<Accounts>>,
    user: CurrentUser,
    Form(form): Form<PreferencesForm>,
) -> Response {
    let failed = |status: StatusCode, error: String| {
        let page = SettingsPage {
            error: Some(error),
            invalid: Field::Preferences,
            ..SettingsPage::new(&user, accounts.settings.single_user)
        };
        (status, no_store(), page).into_response()
    };
    let preferences = match form.parse() {
        Ok(preferences) => preferences,
        Err(error) => return failed(StatusCode::BAD_REQUEST, error),
    };
    match accounts.set_preferences(&user.name, &preferences).await {
        Ok(()) => see_other(SAVED, None),
        Err(error) => {
            let page = failed(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Your preferences were not saved: {error}. Please try again in a moment."),
            );
            (error.retry_after_header(), page).into_response()
        }
    }
}

async fn change_password(
    State(accounts): State<Arc<Accounts>>,
    user: CurrentUser,
    client: Client,
    Form(form): Form<PasswordForm>,
) -> Response {
    if accounts.settings.single_user {
        return see_other(PAGE, None);
    }
    let failed = |status: StatusCode, invalid: Field, error: String| {
        let page = SettingsPage {
            error: Some(error),
            invalid,
            ..SettingsPage::new(&user, false)
        };
        (status, no_store(), page).into_response()
    };
    if form.current.is_empty() {
        let error = "Enter your current password.".to_owned();
        return failed(StatusCode::BAD_REQUEST, Field::Current, error);
    }
    if let Err(problem) = check_new_password(&form.new) {
        return failed(StatusCode::BAD_REQUEST, Field::New, problem);
    }
    if form.confirm != form.new {
        let error =
            "The new password and its confirmation differ: type it twice the same.".to_owned();
        return failed(StatusCode::BAD_REQUEST, Field::Confirm, error);
    }
    if let Err(wait) = accounts.limiter.check(&user.name, client.ip) {
        return too_many(
            wait,
            "Too many wrong passwords for this account or from your network.",
            |status, error| failed(status, Field::Current, error),
        );
    }
    let stored = match accounts.upstream.account(&user.name).await {
        Ok(account) => account.map(|account| account.password_hash),
        Err(error) => {
            let page = failed(
                StatusCode::SERVICE_UNAVAILABLE,
                Field::Neither,
                format!("Your password was not changed: {error}. Please try again in a moment."),
            );
            return (error.retry_after_header(), page).into_response();
        }
    };
    // A password no account can have is not hashed at all: it is wrong.
    let plausible = form.current.chars().count() <= MAX_PASSWORD_CHARS;
    if !plausible
        || !accounts
            .passwords
            .verify(form.current.clone(), stored)
            .await
    {
        accounts.limiter.failed(&user.name, client.ip);
        tracing::info!(user = %user.name, ip = ?client.ip, "password change: wrong current password");
        let error = "Your current password is wrong.".to_owned();
        return failed(StatusCode::FORBIDDEN, Field::Current, error);
    }
    accounts.limiter.succeeded(&user.name, client.ip);
    let password_hash = match accounts.passwords.hash(form.new.clone()).await {
        Ok(hash) => hash,
        Err(error) => {
            tracing::error!(%error, "password hashing failed");
            let error = "Your password was not changed. Please try again.".to_owned();
            return failed(StatusCode::INTERNAL_SERVER_ERROR, Field::Neither, error);
        }
    };
    match accounts
        .upstream
        .set_password(&user.name, &PasswordChange { password_hash })
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let error = "Your account no longer exists.".to_owned();
            return failed(StatusCode::NOT_FOUND, Field::Neither, error);
        }
        Err(error) => {
            let page = failed(
                StatusCode::SERVICE_UNAVAILABLE,
                Field::Neither,
                format!(
                    "Your password may not have been changed: {error}. Please try again in a moment."
                ),
            );
            return (error.retry_after_header(), page).into_response();
        }
    }
    // The middle tier ended every browser session; this edge stops trusting its cached ones
    // at once (other edges within `[accounts] session_cache`).
    accounts.sessions.forget_user(&user.name);
    match accounts
        .start_session(&user.name, &client, &next_page(CHANGED))
        .await
    {
        Ok(response) => response,
        Err(error) => {
            // The change is stored and the old session is gone with the others: signing in
            // with the new password is what is left.
            tracing::warn!(%error, "no new session after a password change");
            see_other("/signin?next=%2Fsettings", None)
        }
    }
}

async fn delete_account(
    State(accounts): State<Arc<Accounts>>,
    user: CurrentUser,
    client: Client,
    Form(form): Form<DeleteForm>,
) -> Response {
    if accounts.settings.single_user {
        return see_other(PAGE, None);
    }
    let failed = |status: StatusCode, error: String| {
        let page = SettingsPage {
            error: Some(error),
            invalid: Field::Delete,
            ..SettingsPage::new(&user, false)
        };
        (status, no_store(), page).into_response()
    };
    if form.password.is_empty() {
        return failed(
            StatusCode::BAD_REQUEST,
            "Enter your password to delete your account.".to_owned(),
        );
    }
    if let Err(wait) = accounts.limiter.check(&user.name, client.ip) {
        return too_many(
            wait,
            "Too many wrong passwords for this account or from your network.",
            failed,
        );
    }
    let stored = match accounts.upstream.account(&user.name).await {
        Ok(account) => account.map(|account| account.password_hash),
        Err(error) => {
            let page = failed(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Your account was not deleted: {error}. Please try again in a moment."),
            );
            return (error.retry_after_header(), page).into_response();
        }
    };
    let plausible = form.password.chars().count() <= MAX_PASSWORD_CHARS;
    if !plausible
        || !accounts
            .passwords
            .verify(form.password.clone(), stored)
            .await
    {
        accounts.limiter.failed(&user.name, client.ip);
        tracing::info!(user = %user.name, ip = ?client.ip, "account deletion: wrong password");
        return failed(
            StatusCode::FORBIDDEN,
            "Your password is wrong: nothing was deleted.".to_owned(),
        );
    }
    accounts.limiter.succeeded(&user.name, client.ip);
    // `false` (no account) means an earlier try got there first: gone either way.
    if let Err(error) = accounts.upstream.delete_account(&user.name).await {
        let page = failed(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Your account may not be fully deleted: {error}. Please try again in a moment."
            ),
        );
        return (error.retry_after_header(), page).into_response();
    }
    accounts.sessions.forget_user(&user.name);
    tracing::info!(user = %user.name, "account deleted");
    see_other("/signin?signed_out=deleted", Some(client.cookies.clear()))
}
