//! HTTP transport of feed icons: their bytes by content hash, for the edge to serve.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

// Named only in the handlers' OpenAPI annotations.
#[allow(unused_imports)]
use middletier_api::ErrorBody;

use super::{ApiError, CommonErrors, NotFound};
use crate::service::FeedService;

pub(super) fn routes() -> Router<FeedService> {
    Router::new().route("/middletier/icons/{hash}", get(icon))
}

#[utoipa::path(
    get,
    path = "/middletier/icons/{hash}",
    tag = "icons",
    summary = "A feed icon's bytes, by the SHA-256 (hex) a feed names",
    params(("hash" = String, Path, description = "SHA-256 of the icon, 64 lower-case hex")),
    responses(
        (status = 200, description = "The icon, as the image type sniffed from its bytes",
            content_type = "image/png", body = Vec<u8>),
        CommonErrors,
        NotFound,
    )
)]
pub(crate) async fn icon(
    State(service): State<FeedService>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let icon = service.icon(&hash).await?;
    Ok((
        [
            (header::CONTENT_TYPE, icon.content_type),
            // Sniffed by us: the browser must not guess otherwise.
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        icon.bytes,
    )
        .into_response())
}
