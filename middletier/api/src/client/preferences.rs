//! A user's reading preferences.

use reqwest::Method;

use super::{CallError, MiddletierClient, api_url, send};
use crate::Preferences;

impl MiddletierClient {
    /// The user's preferences; the defaults for a user who never chose.
    pub async fn preferences(&self, base: &url::Url, user: &str) -> Result<Preferences, CallError> {
        let url = api_url(base, &["accounts", user, "preferences"])?;
        let response = send(self.request(Method::GET, url)).await;
        self.json(response?).await
    }

    /// Replaces the user's preferences; a value out of range is refused (`CallError` of a 400).
    pub async fn set_preferences(
        &self,
        base: &url::Url,
        user: &str,
        preferences: &Preferences,
    ) -> Result<(), CallError> {
        let url = api_url(base, &["accounts", user, "preferences"])?;
        let response = send(self.request(Method::PUT, url).json(preferences)).await;
        response.map(|_| ())
    }
}
