//! Each user's reading preferences, stored here so they follow the user to every browser and
//! edge. Any user name may keep them: single-user mode's user has no account row.

use middletier_api::Preferences;
use middletier_api::domain::UserId;

use super::{FeedService, ServiceError};

impl FeedService {
    /// The user's preferences; the defaults when never set, or when what is stored no longer
    /// parses (written by a newer middle tier with a value this one does not know): a page
    /// must show with some preferences rather than fail.
    pub async fn preferences(&self, user: &UserId) -> Result<Preferences, ServiceError> {
        let Some(json) = self.store.preferences(user).await? else {
            return Ok(Preferences::default());
        };
        Ok(serde_json::from_str(&json).unwrap_or_else(|error| {
            tracing::warn!(%user, %error, "stored preferences unreadable; using the defaults");
            Preferences::default()
        }))
    }

    /// Stores the user's preferences, refusing a value out of range (400).
    pub async fn set_preferences(
        &self,
        user: &UserId,
        preferences: &Preferences,
    ) -> Result<(), ServiceError> {
        preferences.check().map_err(ServiceError::Invalid)?;
        let json = serde_json::to_string(preferences)
            .map_err(|error| ServiceError::Invalid(error.to_string()))?;
        Ok(self.store.set_preferences(user, &json).await?)
    }
}
