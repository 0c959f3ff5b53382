//! Signing a Fever client in: its `api_key` (`md5("user:app password")`) names an app
//! password, whose owner the request acts for.

use axum::http::request::Parts;

use super::{AppsState, FeverError};
use crate::apps::secrets;

/// Length of a Fever key: an MD5 in hex.
const KEY_CHARS: usize = 32;

/// The user whose app password `api_key` was made from. Failures count in the sign-in limits,
/// per key from the client's address and per address, as wrong passwords at the sign-in page
/// do; past them the client is refused without a look-up until the window ends. A request
/// with no key at all guesses nothing and is not counted.
pub(super) async fn user(
    state: &AppsState,
    parts: &Parts,
    api_key: Option<&str>,
) -> Result<String, FeverError> {
    let key = api_key.map(str::trim).unwrap_or_default();
    if key.is_empty() {
        return Err(FeverError::NotSignedIn);
    }
    // The limiter keeps a name to its first characters, so a long key costs no memory.
    let key = key.to_ascii_lowercase();
    let ip = state.accounts.client_ip(parts);
    let limiter = state.accounts.limiter();
    limiter.check(&key, ip).map_err(FeverError::TooMany)?;
    let plausible = key.len() == KEY_CHARS && key.bytes().all(|b| b.is_ascii_hexdigit());
    let owner = if plausible {
        state
            .upstream
            .app_password_by_fever(&secrets::fever_hash(&key))
            .await
            .map_err(FeverError::Upstream)?
    } else {
        None
    };
    match owner {
        Some(owner) => {
            limiter.succeeded(&key, ip);
            Ok(owner.user)
        }
        None => {
            limiter.failed(&key, ip);
            // Never the key: it is as good as the password for this API.
            tracing::info!(ip = ?ip, "Fever sign-in failed");
            Err(FeverError::NotSignedIn)
        }
    }
}
