//! Each user's reading preferences as pages see them: read from the middle tier (so they
//! follow the user to every browser and edge) and kept here as long as a session is
//! ([`AccountsSettings::session_cache`](crate::settings::AccountsSettings)), so a page view
//! usually costs no extra call. A change made on this edge is seen at once here, and on other
//! edges once their copy is that old.

use std::time::Duration;

use middletier_api::Preferences;
use quick_cache::sync::Cache;
use tokio::time::Instant;

use super::Accounts;
use crate::upstream::UpstreamError;

/// Most users whose preferences one edge keeps; the least used go first.
const MAX_CACHED_USERS: usize = 10_000;

#[derive(Debug)]
pub(super) struct PreferenceCache {
    fresh_for: Duration,
    entries: Cache<String, (Preferences, Instant)>,
}

impl PreferenceCache {
    pub(super) fn new(fresh_for: Duration) -> Self {
        Self {
            fresh_for,
            entries: Cache::new(MAX_CACHED_USERS),
        }
    }
}

impl Accounts {
    /// The user's preferences: the copy kept here while fresh, else the middle tier's; when
    /// the middle tier can't answer, the last copy however old, or the defaults. Preferences
    /// only change how pages look, so a page is never refused for want of them.
    pub(crate) async fn preferences_of(&self, user: &str) -> Preferences {
        let cached = self.preferences.entries.get(user);
        if let Some((preferences, checked)) = cached
            && checked.elapsed() < self.preferences.fresh_for
        {
            return preferences;
        }
        match self.upstream.preferences(user).await {
            Ok(preferences) => {
                self.preferences
                    .entries
                    .insert(user.to_owned(), (preferences, Instant::now()));
                preferences
            }
            Err(error) => {
                tracing::warn!(%error, "preferences unavailable; showing the last known or the defaults");
                cached
                    .map(|(preferences, _)| preferences)
                    .unwrap_or_default()
            }
        }
    }

    /// Stores the user's preferences in the middle tier, and here, so this edge's next page
    /// shows them.
    pub(crate) async fn set_preferences(
        &self,
        user: &str,
        preferences: &Preferences,
    ) -> Result<(), UpstreamError> {
        self.upstream.set_preferences(user, preferences).await?;
        self.preferences
            .entries
            .insert(user.to_owned(), (*preferences, Instant::now()));
        Ok(())
    }
}
