//! Feed icons: the bytes of an icon the middle tier stored, by its content hash.

use reqwest::{Method, header};

use super::{CallError, MiddletierClient, api_url, read_capped, send_found};
use crate::limits::MAX_ICON_BYTES;

/// An icon's bytes and the image type the middle tier sniffed from them.
#[derive(Clone, PartialEq, Eq)]
pub struct IconFile {
    /// One of the image types the middle tier accepts (`image/png`, `image/x-icon`...).
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The bytes are an image, not text: logs show their size.
impl std::fmt::Debug for IconFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IconFile")
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl MiddletierClient {
    /// The icon whose SHA-256 (hex) is `hash`; `None` when the middle tier has none. Read
    /// with the icon cap ([`MAX_ICON_BYTES`]), not the answer cap: a larger answer is not an
    /// icon the middle tier would have stored.
    pub async fn icon(&self, base: &url::Url, hash: &str) -> Result<Option<IconFile>, CallError> {
        let url = api_url(base, &["icons", hash])?;
        let Some(response) = send_found(self.request(Method::GET, url)).await? else {
            return Ok(None);
        };
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = read_capped(response, MAX_ICON_BYTES).await?;
        Ok(Some(IconFile {
            content_type,
            bytes,
        }))
    }
}
