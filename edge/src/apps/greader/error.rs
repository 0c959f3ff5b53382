//! How the Google Reader API fails, in the words and statuses apps act on (FreshRSS's):
//! `401` with `Google-Bad-Token: true` for a token that is not (or no longer) an app's, which
//! sends the app back to ClientLogin; `401 Error=BadAuthentication` for a refused sign-in;
//! `503` (with `Retry-After` when the edge knows) when no middle tier answers, which apps
//! retry. Every body is plain text.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::upstream::UpstreamError;

#[derive(Debug, thiserror::Error)]
pub(super) enum ApiError {
    /// No token, an unknown or ended one, a web session's, or a wrong `T`.
    #[error("Unauthorized!")]
    BadToken,
    /// ClientLogin refused the name and app password.
    #[error("Error=BadAuthentication")]
    BadAuthentication,
    /// Too many failed sign-ins for this name from this address, or from this address.
    #[error("Error=TooManyFailedSignIns")]
    TooMany(Duration),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Upstream(#[from] UpstreamError),
}

const GOOGLE_BAD_TOKEN: HeaderName = HeaderName::from_static("google-bad-token");

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let text = |status: StatusCode, body: String| {
            (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                body,
            )
                .into_response()
        };
        match self {
            ApiError::BadToken => {
                let mut response = text(StatusCode::UNAUTHORIZED, self.to_string());
                response
                    .headers_mut()
                    .insert(GOOGLE_BAD_TOKEN, HeaderValue::from_static("true"));
                response
            }
            ApiError::BadAuthentication => text(StatusCode::UNAUTHORIZED, format!("{self}\n")),
            ApiError::TooMany(wait) => {
                let mut response = text(StatusCode::TOO_MANY_REQUESTS, format!("{self}\n"));
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(wait.as_secs().max(1)),
                );
                response
            }
            ApiError::BadRequest(message) => text(StatusCode::BAD_REQUEST, message),
            ApiError::Upstream(error) if error.is_bad_request() => {
                text(StatusCode::BAD_REQUEST, error.to_string())
            }
            ApiError::Upstream(error) => {
                let retry_after = error.retry_after_header();
                let body = format!("Service Unavailable: {error}; try again later");
                (retry_after, text(StatusCode::SERVICE_UNAVAILABLE, body)).into_response()
            }
        }
    }
}
