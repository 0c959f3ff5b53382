//! The service token: reaching the middle tier's port is not enough to read anyone's data.

use axum::Json;
use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use middletier_api::ErrorBody;
use platform::config::Secret;

/// Requires `Authorization: Bearer <token>` on every route of `router` when `token` is set
/// (the `[api] token` setting), so reaching the port is not enough to read anyone's data.
///
/// `next_token`, when set, is accepted as well: rotating the token without downtime means a
/// time when edges still send the old one and others already the new one.
pub fn require_token(router: Router, token: Option<Secret>, next_token: Option<Secret>) -> Router {
    let tokens: Vec<Secret> = [token, next_token]
        .into_iter()
        .flatten()
        .filter(|token| !token.expose().is_empty())
        .collect();
    if tokens.is_empty() {
        return router;
    }
    let tokens = std::sync::Arc::new(tokens);
    router.layer(axum::middleware::from_fn(move |request, next| {
        check_token(tokens.clone(), request, next)
    }))
}

async fn check_token(
    tokens: std::sync::Arc<Vec<Secret>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Constant time, so the answer's timing does not reveal how much of a guess was right;
    // every accepted token is compared, so neither does which one matched.
    let valid = tokens.iter().fold(subtle::Choice::from(0), |valid, token| {
        valid
            | subtle::ConstantTimeEq::ct_eq(presented.trim().as_bytes(), token.expose().as_bytes())
    });
    let valid: bool = valid.into();
    if valid {
        return next.run(request).await;
    }
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(ErrorBody {
            error: "a valid service token is required (Authorization: Bearer)".to_owned(),
            candidates: Vec::new(),
        }),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}
