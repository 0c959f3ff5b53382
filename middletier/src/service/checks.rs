//! "Check now": one subscribed feed fetched at once at the user's request, through the
//! refresher's own path (its SSRF guard, timeouts and size caps), bounded per user and feed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;

use middletier_api::domain::{FeedUrl, UserId};
use middletier_api::{CheckNow, Subscription};

use super::{FeedService, ServiceError};
use crate::store::FeedState;

/// Most (user, feed) pairs remembered at once. Entries older than the interval are dropped
/// when the table is full; a table full of recent ones refuses further checks until they age,
/// so memory stays bounded however many users click.
const MAX_TRACKED: usize = 100_000;

impl FeedService {
    /// Fetches `check.url` now if `user` subscribes to it and has not checked it within the
    /// interval; answers the feed's status as the check left it (items left out: the page
    /// that asked shows the status, and the feed's views read the items as ever).
    pub async fn check_now(
        &self,
        user: &UserId,
        check: &CheckNow,
    ) -> Result<Subscription, ServiceError> {
        let url = FeedUrl::parse(&check.url)?;
        if !self.store.subscriptions(user).await?.contains(&url) {
            return Err(ServiceError::NotSubscribed(url.to_string()));
        }
        self.checks
            .admit(
                user,
                &url,
                Instant::now(),
                self.refresher.check_now_interval(),
            )
            .map_err(ServiceError::TooSoon)?;
        let cached = self
            .store
            .feed_states(std::slice::from_ref(&url))
            .await?
            .pop()
            .flatten();
        let state = cached.unwrap_or_else(|| FeedState::new(url, Utc::now()));
        let state = self.refresher.refresh_and_save(state).await?;
        Ok(super::views::subscription(&state))
    }
}

/// When each user last checked each feed: sans-IO, the time is passed in.
#[derive(Debug, Default)]
pub(super) struct CheckLimiter {
    last: Mutex<HashMap<(String, String), Instant>>,
}

impl CheckLimiter {
    /// Admits a check at `now`, or says how long until the next one is allowed.
    fn admit(
        &self,
        user: &UserId,
        url: &FeedUrl,
        now: Instant,
        interval: Duration,
    ) -> Result<(), Duration> {
        let key = (user.as_str().to_owned(), url.to_string());
        // A poisoned lock only means another check panicked mid-insert: the map is still valid.
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&at) = last.get(&key) {
            let since = now.saturating_duration_since(at);
            if since < interval {
                return Err(interval - since);
            }
        }
        if last.len() >= MAX_TRACKED {
            last.retain(|_, at| now.saturating_duration_since(*at) < interval);
            if last.len() >= MAX_TRACKED {
                return Err(interval);
            }
        }
        last.insert(key, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserId {
        UserId::parse(name).expect("a user name")
    }

    fn feed(path: &str) -> FeedUrl {
        FeedUrl::parse(&format!("http://example.com/{path}")).expect("a feed URL")
    }

    const INTERVAL: Duration = Duration::from_secs(30);

    #[test]
    fn a_second_check_within_the_interval_is_refused_with_the_wait() {
        let limiter = CheckLimiter::default();
        let start = Instant::now();
        assert_eq!(
            limiter.admit(&user("ann"), &feed("a"), start, INTERVAL),
            Ok(())
        );
        let later = start + Duration::from_secs(10);
        assert_eq!(
            limiter.admit(&user("ann"), &feed("a"), later, INTERVAL),
            Err(INTERVAL - Duration::from_secs(10))
        );
        assert_eq!(
            limiter.admit(&user("ann"), &feed("a"), start + INTERVAL, INTERVAL),
            Ok(())
        );
    }

    #[test]
    fn users_and_feeds_are_limited_separately() {
        let limiter = CheckLimiter::default();
        let now = Instant::now();
        assert_eq!(
            limiter.admit(&user("ann"), &feed("a"), now, INTERVAL),
            Ok(())
        );
        assert_eq!(
            limiter.admit(&user("bob"), &feed("a"), now, INTERVAL),
            Ok(())
        );
        assert_eq!(
            limiter.admit(&user("ann"), &feed("b"), now, INTERVAL),
            Ok(())
        );
    }
}
