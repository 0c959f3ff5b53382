//! `item_marks` and the subscriptions' categories, own titles and watermarks: each user's reading state,
//! read with their subscriptions for every page view.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

use middletier_api::domain::{FeedUrl, UserId};

use super::subscriptions::subscribed;
use super::{SqliteStore, from_millis, millis};
use crate::store::{
    FeedReading, ItemMark, MarkChange, MarkTarget, ReadingStore, StoreError, UserReading, Watermark,
};

#[async_trait]
impl ReadingStore for SqliteStore {
    async fn reading(&self, user: &UserId) -> Result<Arc<UserReading>, StoreError> {
        let user = user.clone();
        // Two queries in one read transaction: subscriptions and marks from one snapshot.
        self.read(move |tx| {
            let mut subscriptions = Vec::new();
            let mut titles = HashMap::new();
            let mut feeds: HashMap<FeedUrl, FeedReading> = HashMap::new();
            let mut statement = tx.prepare_cached(
                "SELECT feed_url, category, read_up_to, read_up_to_set_at, title \
                 FROM subscriptions WHERE user_id = ?1 ORDER BY position",
            )?;
            let mut rows = statement.query([user.as_str()])?;
            while let Some(row) = rows.next()? {
                let Ok(url) = FeedUrl::parse(&row.get::<_, String>(0)?) else {
                    continue;
                };
                if let Some(up_to) = row.get::<_, Option<i64>>(2)? {
                    let up_to = from_millis(up_to);
                    let set_at = row.get::<_, Option<i64>>(3)?.map_or(up_to, from_millis);
                    feeds.entry(url.clone()).or_default().watermark =
                        Some(Watermark { up_to, set_at });
                }
                if let Some(title) = row.get::<_, Option<String>>(4)? {
                    titles.insert(url.clone(), title);
                }
                subscriptions.push((url, row.get::<_, Option<String>>(1)?));
            }
            let mut statement = tx.prepare_cached(
                "SELECT feed_url, item_id, read, read_at, starred FROM item_marks \
                 WHERE user_id = ?1",
            )?;
            let mut rows = statement.query([user.as_str()])?;
            while let Some(row) = rows.next()? {
                let Ok(url) = FeedUrl::parse(&row.get::<_, String>(0)?) else {
                    continue;
                };
                let read = row.get::<_, Option<bool>>(2)?;
                let read_at = row.get::<_, Option<i64>>(3)?.unwrap_or_default();
                let mark = ItemMark {
                    read: read.map(|read| (read, from_millis(read_at))),
                    starred: row.get(4)?,
                };
                feeds
                    .entry(url)
                    .or_default()
                    .marks
                    .insert(row.get(1)?, mark);
            }
            Ok(Arc::new(UserReading {
                subscriptions,
                feeds: feeds
                    .into_iter()
                    .map(|(url, reading)| (url, Arc::new(reading)))
                    .collect(),
                titles,
            }))
        })
        .await
    }

    async fn mark_item(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        item: &str,
        change: MarkChange,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (user, feed, item) = (user.clone(), feed.clone(), item.to_owned());
        self.write(move |tx| {
            if !subscribed(tx, &user, &feed)? {
                return Err(StoreError::NotSubscribed);
            }
            write_mark(tx, &user, &feed, &item, change, millis(at))
        })
        .await
    }

    async fn mark_items(
        &self,
        user: &UserId,
        targets: &[MarkTarget],
        change: MarkChange,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (user, targets) = (user.clone(), targets.to_vec());
        // One transaction through the writer: a thousand marks cost one commit.
        self.write(move |tx| {
            let mut subscribed_to: HashMap<FeedUrl, bool> = HashMap::new();
            for target in &targets {
                let subscribed = match subscribed_to.get(&target.feed) {
                    Some(&known) => known,
                    None => {
                        let known = subscribed(tx, &user, &target.feed)?;
                        subscribed_to.insert(target.feed.clone(), known);
                        known
                    }
                };
                if subscribed {
                    write_mark(tx, &user, &target.feed, &target.item, change, millis(at))?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn mark_read_up_to(
        &self,
        user: &UserId,
        feeds: &[FeedUrl],
        up_to: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (user, feeds) = (user.clone(), feeds.to_vec());
        let (up_to, at) = (millis(up_to), millis(at));
        // One transaction for every feed; rows of feeds not subscribed to don't exist, so
        // nothing is written for them. The watermark never moves back (as
        // `Watermark::advanced`).
        self.write(move |tx| {
            let mut statement = tx.prepare_cached(
                "UPDATE subscriptions \
                 SET read_up_to = max(coalesce(read_up_to, ?1), ?1), read_up_to_set_at = ?2 \
                 WHERE user_id = ?3 AND feed_url = ?4",
            )?;
            for feed in &feeds {
                statement.execute(params![up_to, at, user.as_str(), feed.as_str()])?;
            }
            Ok(())
        })
        .await
    }

    async fn set_category(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        category: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (user, feed) = (user.clone(), feed.clone());
        let category = category.map(str::to_owned);
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE subscriptions SET category = ?1 WHERE user_id = ?2 AND feed_url = ?3",
                )?
                .execute(params![category, user.as_str(), feed.as_str()])?;
            Ok(changed > 0)
        })
        .await
    }

    async fn set_title(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        title: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (user, feed) = (user.clone(), feed.clone());
        let title = title.map(str::to_owned);
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE subscriptions SET title = ?1 WHERE user_id = ?2 AND feed_url = ?3",
                )?
                .execute(params![title, user.as_str(), feed.as_str()])?;
            Ok(changed > 0)
        })
        .await
    }

    async fn clear_reading(&self, user: &UserId, feed: &FeedUrl) -> Result<(), StoreError> {
        let (user, feed) = (user.clone(), feed.clone());
        self.write(move |tx| {
            tx.prepare_cached("DELETE FROM item_marks WHERE user_id = ?1 AND feed_url = ?2")?
                .execute([user.as_str(), feed.as_str()])?;
            tx.prepare_cached(
                "UPDATE subscriptions SET read_up_to = NULL, read_up_to_set_at = NULL \
                 WHERE user_id = ?1 AND feed_url = ?2",
            )?
            .execute([user.as_str(), feed.as_str()])?;
            Ok(())
        })
        .await
    }
}

/// Merges `change` into the user's mark on `item`: each flag is its own upsert, so the other
/// flag's value is kept.
fn write_mark(
    tx: &rusqlite::Transaction<'_>,
    user: &UserId,
    feed: &FeedUrl,
    item: &str,
    change: MarkChange,
    at: i64,
) -> Result<(), StoreError> {
    if let Some(read) = change.read {
        tx.prepare_cached(
            "INSERT INTO item_marks (user_id, feed_url, item_id, read, read_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO UPDATE \
             SET read = excluded.read, read_at = excluded.read_at",
        )?
        .execute(params![user.as_str(), feed.as_str(), item, read, at])?;
    }
    if let Some(starred) = change.starred {
        tx.prepare_cached(
            "INSERT INTO item_marks (user_id, feed_url, item_id, starred) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE SET starred = excluded.starred",
        )?
        .execute(params![user.as_str(), feed.as_str(), item, starred])?;
    }
    Ok(())
}
