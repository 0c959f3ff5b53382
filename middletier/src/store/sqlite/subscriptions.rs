//! `subscriptions`: who reads what, in the order each user added their feeds.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};

use middletier_api::domain::{FeedUrl, UserId};

use super::SqliteStore;
use crate::store::{StoreError, SubscriptionStore};

#[async_trait]
impl SubscriptionStore for SqliteStore {
    async fn subscriptions(&self, user: &UserId) -> Result<Vec<FeedUrl>, StoreError> {
        let user = user.clone();
        self.read(move |tx| {
            let mut statement = tx.prepare_cached(
                "SELECT feed_url FROM subscriptions WHERE user_id = ?1 ORDER BY position",
            )?;
            let urls = statement
                .query_map([user.as_str()], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            // Rows were validated on the way in; one that no longer parses is skipped.
            Ok(urls
                .iter()
                .filter_map(|url| FeedUrl::parse(url).ok())
                .collect())
        })
        .await
    }

    async fn subscribe(
        &self,
        user: &UserId,
        url: &FeedUrl,
        max_per_user: usize,
    ) -> Result<bool, StoreError> {
        let (user, url) = (user.clone(), url.clone());
        // Check and insert in one write transaction: two racing subscribes cannot both pass
        // the cap.
        self.write(move |tx| {
            if subscribed(tx, &user, &url)? {
                return Ok(false);
            }
            let (count, last): (i64, i64) = tx
                .prepare_cached(
                    "SELECT count(*), coalesce(max(position), 0) FROM subscriptions \
                     WHERE user_id = ?1",
                )?
                .query_row([user.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= max_per_user {
                return Err(StoreError::TooManySubscriptions(max_per_user));
            }
            tx.prepare_cached(
                "INSERT INTO subscriptions (user_id, feed_url, position) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![user.as_str(), url.as_str(), last + 1])?;
            Ok(true)
        })
        .await
    }

    async fn unsubscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError> {
        let (user, url) = (user.clone(), url.clone());
        self.write(move |tx| {
            // The category and watermark are columns of this row; the item marks go with it
            // (foreign key, ON DELETE CASCADE).
            let removed = tx
                .prepare_cached("DELETE FROM subscriptions WHERE user_id = ?1 AND feed_url = ?2")?
                .execute([user.as_str(), url.as_str()])?;
            Ok(removed > 0)
        })
        .await
    }
}

/// Whether `user` subscribes to `url`, inside a transaction.
pub(super) fn subscribed(
    tx: &Transaction<'_>,
    user: &UserId,
    url: &FeedUrl,
) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM subscriptions WHERE user_id = ?1 AND feed_url = ?2")?
        .query_row([user.as_str(), url.as_str()], |_| Ok(()))
        .optional()?
        .is_some())
}
