//! `/icons/{hash}`: feed icons, by the content hash the middle tier names them with.
//!
//! The bytes are untrusted (a publisher's), so they are served only as one of the image types
//! the middle tier sniffed (checked again here), with `nosniff` and a policy that lets nothing
//! in them run or load. The name is the bytes' SHA-256, so the answer can never change:
//! browsers keep it for a year without asking again, and a page view never costs an icon
//! request after the first.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use middletier_api::domain;
use middletier_api::limits::ICON_TYPES;

use super::WebState;
use crate::accounts::CurrentUser;

/// Content-addressed: the same name always means the same bytes.
const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

/// An image needs nothing else: no script, no style, no fetches, whatever the bytes say.
const ICON_POLICY: &str = "default-src 'none'; sandbox";

/// Where a page finds the icon the middle tier named by `hash`; `None` (nothing shown) when
/// there is none or the name is not a hash.
pub(super) fn icon_href(hash: Option<&str>) -> Option<String> {
    let hash = domain::icon_hash(hash?).ok()?;
    Some(format!("/icons/{hash}"))
}

pub(super) async fn icon(
    State(state): State<WebState>,
    // Only readers of this site load icons; it is not an image service for others.
    _user: CurrentUser,
    Path(hash): Path<String>,
) -> Response {
    let Ok(hash) = domain::icon_hash(&hash) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let icon = match state.upstream.icon(hash).await {
        Ok(Some(icon)) => icon,
        Ok(None) | Err(crate::upstream::UpstreamError::BadRequest(_)) => {
            return StatusCode::NOT_FOUND.into_response();
        }
        Err(error) => {
            tracing::debug!(%error, "icon unavailable");
            return (StatusCode::SERVICE_UNAVAILABLE, error.retry_after_header()).into_response();
        }
    };
    let Some(kind) = ICON_TYPES.iter().find(|kind| **kind == icon.content_type) else {
        tracing::warn!(content_type = %icon.content_type, "the middle tier named a non-image icon");
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(CACHE_FOREVER),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(ICON_POLICY),
            ),
        ],
        icon.bytes,
    )
        .into_response()
}
