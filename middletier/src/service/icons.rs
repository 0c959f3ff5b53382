//! Feed icons, by hash (the refresher finds and stores them: `crate::icons`).

use middletier_api::domain;

use super::{FeedService, ServiceError};
use crate::store::StoredIcon;

impl FeedService {
    /// The icon whose SHA-256 (hex) is `hash`.
    pub async fn icon(&self, hash: &str) -> Result<StoredIcon, ServiceError> {
        let hash = domain::icon_hash(hash)?;
        self.store
            .icon(hash)
            .await?
            .ok_or(ServiceError::NotFound("icon"))
    }
}
