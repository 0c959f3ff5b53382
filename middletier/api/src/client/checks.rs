//! "Check now": one subscribed feed fetched at the user's request.

use std::time::Duration;

use reqwest::{Method, StatusCode, header};

use super::{CallError, MiddletierClient, check, transport_error, user_url};
use crate::limits::CHECK_NOW_INTERVAL_SECS;
use crate::wire::{CheckNow, Subscription};

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
            // Bounded by the interval whatever the header says: the page shows the wait.
            let seconds = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .unwrap_or(CHECK_NOW_INTERVAL_SECS)
                .clamp(1, CHECK_NOW_INTERVAL_SECS);
            return Ok(Checked::TooSoon {
                wait: Duration::from_secs(seconds),
            });
        }
        let feed: Subscription = self.json(check(response).await?).await?;
        Ok(Checked::Done(Box::new(feed)))
    }
}
