//! Feed icons: what the refresher found for each icon source (a feed's own image, or a site),
//! and the icons' bytes, stored once by content hash however many feeds and sites show them.
//!
//! Only the refresher writes here, at most once per source per re-check period; page views
//! never read here (each feed's state carries its icon's hash), and `GET /middletier/icons/`
//! reads one icon by hash, which the edge's browsers cache for a year.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// What the last look for an icon source found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IconSource {
    /// The feed's image URL, or the site's origin (`https://example.com`).
    pub source: String,
    /// SHA-256 (hex) of the icon found; `None`: nothing usable was found.
    pub hash: Option<String>,
    /// When it was last looked for: the next look is a re-check period later, found or not,
    /// so a site without an icon is not asked again on every refresh.
    pub checked: DateTime<Utc>,
    /// Why nothing was found, for operators.
    pub error: Option<String>,
}

/// An icon's bytes, checked to be one of the accepted image types.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredIcon {
    /// The sniffed type (`image/png`...), never what the publisher claimed.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Bytes of an image: logs show their size.
impl std::fmt::Debug for StoredIcon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredIcon")
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Icon sources and icons by hash.
#[async_trait]
pub trait IconStore: Send + Sync + std::fmt::Debug + 'static {
    /// What the last look for `source` found, if it was ever looked for.
    async fn icon_source(&self, source: &str) -> Result<Option<IconSource>, StoreError>;

    /// Records a look for an icon source, with the icon it found stored under `record.hash`
    /// (stored once: the same bytes found again, for any source, are one row).
    async fn save_icon_source(
        &self,
        record: &IconSource,
        icon: Option<&StoredIcon>,
    ) -> Result<(), StoreError>;

    /// The icon whose SHA-256 (hex) is `hash`.
    async fn icon(&self, hash: &str) -> Result<Option<StoredIcon>, StoreError>;
}
