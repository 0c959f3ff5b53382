//! Each user's reading preferences, kept by the middle tier (under the `Account` command, like
//! the rest of what the settings page changes). No stale fallback here: the caller
//! ([`crate::accounts`]) keeps the last preferences it read and shows the defaults without.

use middletier_api::Preferences;

use super::retries::Idempotence::Idempotent;
use super::{Upstream, UpstreamError};

impl Upstream {
    pub async fn preferences(&self, user: &str) -> Result<Preferences, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.preferences(&base, user).await
        });
        self.without_fallback(&self.account, call).await
    }

    /// Replaces the user's preferences; writing the same ones again changes nothing, so it
    /// may be retried.
    pub async fn set_preferences(
        &self,
        user: &str,
        preferences: &Preferences,
    ) -> Result<(), UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.set_preferences(&base, user, preferences).await
        });
        self.without_fallback(&self.account, call).await
    }
}
