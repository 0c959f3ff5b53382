//! `subscriptions_by_user` and `subscribers_by_feed`: who reads what, from both sides, changed
//! together in logged batches.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use middletier_api::domain::{FeedUrl, UserId};

use super::{CassandraStore, Connected, query_failed, query_rows};
use crate::store::{ReadingStore, StoreError, SubscriptionStore};

#[async_trait]
impl SubscriptionStore for CassandraStore {
    async fn subscriptions(&self, user: &UserId) -> Result<Vec<FeedUrl>, StoreError> {
        let connected = self.connection()?;
        let result =
            query_rows(&connected.session, &connected.select_all, (user.as_str(),)).await?;
        let mut rows: Vec<(DateTime<Utc>, String)> = result
            .rows::<(String, Option<DateTime<Utc>>)>()
            .map_err(query_failed)?
            .map(|row| row.map(|(url, added_at)| (added_at.unwrap_or_default(), url)))
            .collect::<Result<_, _>>()
            .map_err(query_failed)?;
        rows.sort();
        // Rows were validated on the way in; one that no longer parses is skipped, not fatal.
        Ok(rows
            .into_iter()
            .filter_map(|(_, url)| FeedUrl::parse(&url).ok())
            .collect())
    }

    async fn subscribe(
        &self,
        user: &UserId,
        url: &FeedUrl,
        max_per_user: usize,
    ) -> Result<bool, StoreError> {
        // Read, then write: the partition is small, and two racing subscribes of the same URL
        // write the same rows (the later `added_at` wins), so the race is harmless.
        let existing = self.subscriptions(user).await?;
        if existing.contains(url) {
            return Ok(false);
        }
        if existing.len() >= max_per_user {
            return Err(StoreError::TooManySubscriptions(max_per_user));
        }
        let connected = self.connection()?;
        let values = (
            (user.as_str(), url.as_str(), Utc::now()),
            (url.as_str(), user.as_str()),
        );
        connected
            .session
            .batch(&connected.subscribe.0, values)
            .await
            .map_err(query_failed)?;
        Ok(true)
    }

    async fn unsubscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError> {
        let connected = self.connection()?;
        let found = added_at(connected, user, url).await?.is_some();
        if found {
            let values = ((user.as_str(), url.as_str()), (url.as_str(), user.as_str()));
            connected
                .session
                .batch(&connected.unsubscribe.0, values)
                .await
                .map_err(query_failed)?;
        }
        Ok(found)
    }
}

/// When `user` subscribed to `url`, if they did.
pub(super) async fn added_at(
    connected: &Connected,
    user: &UserId,
    url: &FeedUrl,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let result = query_rows(
        &connected.session,
        &connected.select_one,
        (user.as_str(), url.as_str()),
    )
    .await?;
    let row = result
        .maybe_first_row::<(Option<DateTime<Utc>>,)>()
        .map_err(query_failed)?;
    Ok(row.map(|(at,)| at.unwrap_or_default()))
}

impl CassandraStore {
    /// A permanent move of `from` to `to`, for every subscriber: the feed keeps its place in
    /// their list, its category and their reading state (item ids are the feed's own, so they
    /// stay valid); one already subscribed to `to` just loses `from`.
    pub(super) async fn move_subscribers(
        &self,
        connected: &Connected,
        from: &FeedUrl,
        to: &FeedUrl,
    ) -> Result<(), StoreError> {
        let users: Vec<(String,)> = query_rows(
            &connected.session,
            &connected.select_subscribers,
            (from.as_str(),),
        )
        .await?
        .rows::<(String,)>()
        .map_err(query_failed)?
        .collect::<Result<_, _>>()
        .map_err(query_failed)?;
        for (user,) in users {
            let Ok(user) = UserId::parse(&user) else {
                continue;
            };
            let already = added_at(connected, &user, to).await?.is_some();
            if !already && let Some(at) = added_at(connected, &user, from).await? {
                let values = (
                    (user.as_str(), to.as_str(), at),
                    (to.as_str(), user.as_str()),
                );
                connected
                    .session
                    .batch(&connected.subscribe.0, values)
                    .await
                    .map_err(query_failed)?;
                self.move_reading(connected, &user, from, to).await?;
            }
            self.clear_reading(&user, from).await?;
            let values = (
                (user.as_str(), from.as_str()),
                (from.as_str(), user.as_str()),
            );
            connected
                .session
                .batch(&connected.unsubscribe.0, values)
                .await
                .map_err(query_failed)?;
        }
        Ok(())
    }
}
