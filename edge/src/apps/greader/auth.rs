//! Signing an app in (`/accounts/ClientLogin`), the token every other call carries
//! (`Authorization: GoogleLogin auth=<token>`), and the action token `T` of the writes.
//!
//! ClientLogin takes the user name and an *app password* (never the account password: only
//! app passwords are looked up, by their SHA-256), counts failures with the sign-in page's
//! limiter (per name from an address, and per address), and issues a session bound to that
//! app password: a random token of the same kind as the session cookie's, which the middle
//! tier stores hashed with the app password's id. Revoking the password ends the session.
//!
//! The two kinds never stand in for each other: [`AppUser`] accepts only sessions bound to an
//! app password, and the browser's `CurrentUser` only sessions that are not. Tokens this edge
//! checked are cached for `[accounts] session_cache` (5 s by default), so a revoked app
//! password stops working on every edge within that time.

use axum::Json;
use axum::extract::{FromRequestParts, Request, State};
#[cfg(test)]
use axum::http::Uri;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use middletier_api::NewSession;
use middletier_api::domain::UserId;

use super::error::ApiError;
use super::params::Params;
use super::{GreaderState, MAX_BODY_BYTES};
use crate::apps::secrets::secret_hash;
use crate::session::{CacheLookup, Token};

/// Longest app password ClientLogin looks up; the edge generates far shorter ones.
const MAX_APP_PASSWORD_CHARS: usize = 256;

/// Length of `T`: Google Reader's was 57 characters, and some apps check.
const ACTION_TOKEN_CHARS: usize = 57;

/// The user an app acts for, from its token.
#[derive(Debug)]
pub(super) struct AppUser {
    pub name: String,
    token: Token,
}

impl AppUser {
    /// The action token `T` of this session: derived from the session's token, so it needs no
    /// storage and ends with it.
    pub(super) fn action_token(&self) -> String {
        action_token(&self.token)
    }

    /// Checks a write's `T`. Like FreshRSS, a missing, empty or `x` token passes (FeedMe and
    /// Reeder send those; the call is authenticated by its header, which no other site can
    /// make a browser send), any other must be this session's.
    pub(super) fn check_action_token(&self, params: &Params) -> Result<(), ApiError> {
        match params.get("T") {
            None | Some("" | "x") => Ok(()),
            Some(sent) if sent == self.action_token() => Ok(()),
            Some(_) => Err(ApiError::BadToken),
        }
    }
}

fn action_token(token: &Token) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("greader-action\n{}", token.as_str()).as_bytes(),
    );
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let mut action = hex[..ACTION_TOKEN_CHARS.min(hex.len())].to_owned();
    while action.len() < ACTION_TOKEN_CHARS {
        action.push('Z');
    }
    action
}

/// The token in `Authorization: GoogleLogin auth=<token>`, if well-formed.
fn bearer(parts: &Parts) -> Option<Token> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("GoogleLogin") {
        return None;
    }
    let (key, token) = rest.trim().split_once('=')?;
    if !key.trim().eq_ignore_ascii_case("auth") {
        return None;
    }
    Token::parse(token.trim().trim_matches('"'))
}

impl FromRequestParts<GreaderState> for AppUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &GreaderState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::BadToken)?;
        let hash = token.hash();
        let now = Utc::now();
        if let CacheLookup::Fresh(name) = state.tokens.lookup(&hash, now) {
            return Ok(AppUser { name, token });
        }
        match state.apps.upstream.session(&hash).await? {
            Some(found) if found.app_password.is_some() => {
                let expires = DateTime::parse_from_rfc3339(&found.expires)
                    .map(|at| at.to_utc())
                    .ok()
                    .filter(|expires| *expires > now)
                    .ok_or(ApiError::BadToken)?;
                state.tokens.put(&hash, &found.user, expires);
                Ok(AppUser {
                    name: found.user,
                    token,
                })
            }
            // Unknown, ended, or a browser's session.
            _ => {
                state.tokens.forget(&hash);
                Err(ApiError::BadToken)
            }
        }
    }
}

/// `GET|POST /accounts/ClientLogin` with `Email` (the user name) and `Passwd` (an app
/// password): `SID=…\nLSID=…\nAuth=<token>\n`, or JSON with `output=json`.
pub(super) async fn client_login(
    State(state): State<GreaderState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::BadRequest("the form is too large".to_owned()))?;
    let params = Params::read(&parts.uri, &body)?;
    let accounts = &state.apps.accounts;
    let ip = accounts.client_ip(&parts);
    let name = params.get("Email").unwrap_or("").to_ascii_lowercase();
    let password = params.get("Passwd").unwrap_or("");
    if name.is_empty() || password.is_empty() {
        return Err(ApiError::BadAuthentication);
    }
    accounts
        .limiter()
        .check(&name, ip)
        .map_err(ApiError::TooMany)?;
    let plausible =
        UserId::parse(&name).is_ok() && password.chars().count() <= MAX_APP_PASSWORD_CHARS;
    let owner = if plausible {
        state
            .apps
            .upstream
            .app_password_by_secret(&secret_hash(password))
            .await?
    } else {
        None
    };
    let Some(owner) = owner.filter(|owner| owner.user == name) else {
        accounts.limiter().failed(&name, ip);
        let shown: String = name.chars().take(64).collect();
        tracing::info!(user = %shown, ?ip, "app sign-in failed");
        return Err(ApiError::BadAuthentication);
    };
    accounts.limiter().succeeded(&name, ip);
    let token = Token::generate()
        .map_err(|_| ApiError::BadRequest("No secure random numbers are available.".to_owned()))?;
    let hash = token.hash();
    let lifetime = chrono::Duration::from_std(accounts.settings().session_lifetime)
        .unwrap_or(chrono::Duration::days(30));
    let expires = Utc::now() + lifetime;
    state
        .apps
        .upstream
        .create_session(&NewSession {
            token_hash: hash.clone(),
            user: owner.user.clone(),
            expires: expires.to_rfc3339(),
            app_password: Some(owner.id),
        })
        .await?;
    state.tokens.put(&hash, &owner.user, expires);
    tracing::info!(user = %owner.user, "app signed in");
    let auth = token.as_str();
    if params.get("output") == Some("json") {
        return Ok(Json(serde_json::json!({
            "SID": auth, "LSID": auth, "Auth": auth,
        }))
        .into_response());
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("SID={auth}\nLSID={auth}\nAuth={auth}\n"),
    )
        .into_response())
}

/// `GET /reader/api/0/token`: the action token `T` for writes, with a newline as Google's.
pub(super) async fn token(user: AppUser) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", user.action_token()),
    )
        .into_response()
}

/// `GET /reader/api/0/user-info`.
pub(super) async fn user_info(user: AppUser) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "userId": user.name,
        "userName": user.name,
        "userProfileId": user.name,
        "userEmail": "",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(authorization: &str) -> Parts {
        let (parts, ()) = axum::http::Request::builder()
            .header(header::AUTHORIZATION, authorization)
            .body(())
            .expect("request")
            .into_parts();
        parts
    }

    #[test]
    fn the_token_comes_from_the_googlelogin_header_only() {
        let token = Token::generate().expect("random");
        let raw = token.as_str();
        for good in [
            format!("GoogleLogin auth={raw}"),
            format!("googlelogin  auth=\"{raw}\""),
        ] {
            assert_eq!(bearer(&parts(&good)), Some(token.clone()), "{good}");
        }
        for bad in [
            format!("Bearer {raw}"),
            format!("GoogleLogin token={raw}"),
            "GoogleLogin auth=short".to_owned(),
            "GoogleLogin".to_owned(),
        ] {
            assert_eq!(bearer(&parts(&bad)), None, "{bad}");
        }
    }

    #[test]
    fn the_action_token_is_57_characters_and_the_sessions_own() {
        let a = Token::generate().expect("random");
        let b = Token::generate().expect("random");
        assert_eq!(action_token(&a).len(), ACTION_TOKEN_CHARS);
        assert_eq!(action_token(&a), action_token(&a));
        assert_ne!(action_token(&a), action_token(&b));
        let user = AppUser {
            name: "ann".into(),
            token: a.clone(),
        };
        let uri: Uri = "/x".parse().expect("uri");
        let with = |t: &str| Params::read(&uri, format!("T={t}").as_bytes()).expect("params");
        assert!(user.check_action_token(&with(&action_token(&a))).is_ok());
        assert!(user.check_action_token(&with("x")).is_ok());
        assert!(user.check_action_token(&with("")).is_ok());
        assert!(user.check_action_token(&Params::default()).is_ok());
        assert!(user.check_action_token(&with(&action_token(&b))).is_err());
    }
}
