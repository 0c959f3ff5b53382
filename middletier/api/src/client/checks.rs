//! "Check now": one subscribed feed fetched at the user's request.

use std::time::Duration;

use reqwest::{Method, StatusCode, header};

use super::{CallError, MiddletierClient, check, transport_error, user_url};
use crate::wire::{CheckNow, Subscription};

/// The longest wait a refused check is told, whatever the middle tier's `Retry-After` says
/// (its interval is 30 s by default).
const MAX_WAIT_SECS: u64 = 60 * 60;

/// What a "check now" came to. Being too soon is an answer to show, not a failure of the
/// middle tier, so it is not a [`CallError`].
#[derive(Clone, Debug, PartialEq)]
pub enum Checked {
    /// The feed was fetched; its status (and error, if it still fails) as that check left it.
    Done(Box<Subscription>),
    /// The user checked this feed less than the interval ago: try again after `wait`.
    TooSoon { wait: Duration },
}

impl MiddletierClient {
    /// Fetches one feed `user` subscribes to, now. A feed the user does not subscribe to is
    /// a 404 ([`CallError::Rejected`]).
    pub async fn check_now(
        &self,
        base: &url::Url,
        user: &str,
        feed_url: &str,
    ) -> Result<Checked, CallError> {
        let url = user_url(base, user, Some("refresh"))?;
        let body = CheckNow {
            url: feed_url.to_owned(),
        };
        let response = self
            .request(Method::POST, url)
            .json(&body)
            .send()
            .await
            .map_err(transport_error)?;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            // Bounded whatever the header says: the page shows the wait.
            let seconds = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .unwrap_or(MAX_WAIT_SECS)
                .clamp(1, MAX_WAIT_SECS);
            return Ok(Checked::TooSoon {
                wait: Duration::from_secs(seconds),
            });
        }
        let feed: Subscription = self.json(check(response).await?).await?;
        Ok(Checked::Done(Box::new(feed)))
    }
}
