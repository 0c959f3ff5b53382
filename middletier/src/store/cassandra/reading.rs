//! `item_state_by_user` and `read_watermarks_by_user`: each user's marks and "read up to"
//! watermarks, one partition per user, read with the subscriptions for every page view.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use scylla::DeserializeRow;
use scylla::statement::batch::{Batch, BatchType};

use middletier_api::domain::{FeedUrl, UserId};

use super::subscriptions::added_at;
use super::{CassandraStore, Connected, query_failed, query_rows};
use crate::store::{
    FeedReading, ItemMark, MarkChange, ReadingStore, StoreError, UserReading, Watermark,
};

#[async_trait]
impl ReadingStore for CassandraStore {
    async fn reading(&self, user: &UserId) -> Result<Arc<UserReading>, StoreError> {
        let connected = self.connection()?;
        // The three partitions of this user, read at once.
        let subscriptions = async {
            let result = query_rows(
                &connected.session,
                &connected.select_categorized,
                (user.as_str(),),
            )
            .await?;
            let mut rows: Vec<(DateTime<Utc>, String, Option<String>)> = result
                .rows::<(String, Option<DateTime<Utc>>, Option<String>)>()
                .map_err(query_failed)?
                .map(|row| {
                    row.map(|(url, added_at, category)| {
                        (added_at.unwrap_or_default(), url, category)
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(query_failed)?;
            rows.sort();
            Ok::<_, StoreError>(rows)
        };
        let marks = async {
            connected
                .session
                .execute_iter(connected.select_marks.clone(), (user.as_str(),))
                .await
                .map_err(query_failed)?
                .rows_stream::<UserMarkRow>()
                .map_err(query_failed)?
                .try_collect::<Vec<_>>()
                .await
                .map_err(query_failed)
        };
        let watermarks = async {
            let result = query_rows(
                &connected.session,
                &connected.select_watermarks,
                (user.as_str(),),
            )
            .await?;
            result
                .rows::<(String, Option<DateTime<Utc>>, Option<DateTime<Utc>>)>()
                .map_err(query_failed)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(query_failed)
        };
        let (subscriptions, marks, watermarks) =
            futures::future::try_join3(subscriptions, marks, watermarks).await?;
        let mut feeds: HashMap<FeedUrl, FeedReading> = HashMap::new();
        for row in marks {
            let Ok(url) = FeedUrl::parse(&row.feed_url) else {
                continue;
            };
            let mark = MarkRow {
                item_id: String::new(),
                read: row.read,
                starred: row.starred,
                updated_at: row.updated_at,
            }
            .mark();
            feeds
                .entry(url)
                .or_default()
                .marks
                .insert(row.item_id, mark);
        }
        for (url, up_to, set_at) in watermarks {
            let (Ok(url), Some(up_to)) = (FeedUrl::parse(&url), up_to) else {
                continue;
            };
            feeds.entry(url).or_default().watermark = Some(Watermark {
                up_to,
                set_at: set_at.unwrap_or(up_to),
            });
        }
        Ok(Arc::new(UserReading {
            subscriptions: subscriptions
                .into_iter()
                .filter_map(|(_, url, category)| Some((FeedUrl::parse(&url).ok()?, category)))
                .collect(),
            feeds: feeds
                .into_iter()
                .map(|(url, reading)| (url, Arc::new(reading)))
                .collect(),
        }))
    }

    async fn mark_item(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        item: &str,
        change: MarkChange,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let connected = self.connection()?;
        if added_at(connected, user, feed).await?.is_none() {
            return Err(StoreError::NotSubscribed);
        }
        // Each flag is its own column write, so concurrent changes of the other flag survive.
        if let Some(read) = change.read {
            connected
                .session
                .execute_unpaged(
                    &connected.mark_read,
                    (read, at, user.as_str(), feed.as_str(), item),
                )
                .await
                .map_err(query_failed)?;
        }
        if let Some(starred) = change.starred {
            connected
                .session
                .execute_unpaged(
                    &connected.mark_starred,
                    (starred, user.as_str(), feed.as_str(), item),
                )
                .await
                .map_err(query_failed)?;
        }
        Ok(())
    }

    async fn mark_read_up_to(
        &self,
        user: &UserId,
        feeds: &[FeedUrl],
        up_to: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let connected = self.connection()?;
        let reading = self.reading(user).await?;
        let mut batch = Batch::new(BatchType::Unlogged);
        let mut values = Vec::new();
        for feed in feeds {
            if !reading.subscriptions.iter().any(|(url, _)| url == feed) {
                continue;
            }
            let current = reading.feeds.get(feed).and_then(|f| f.watermark);
            let watermark = Watermark::advanced(current, up_to, at);
            batch.append_statement(connected.set_watermark.clone());
            values.push((
                watermark.up_to,
                watermark.set_at,
                user.as_str(),
                feed.as_str(),
            ));
        }
        if values.is_empty() {
            return Ok(());
        }
        // One partition (the user's): a single-partition batch is one atomic write.
        connected
            .session
            .batch(&batch, values)
            .await
            .map_err(query_failed)?;
        Ok(())
    }

    async fn set_category(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        category: Option<&str>,
    ) -> Result<bool, StoreError> {
        let connected = self.connection()?;
        let result = query_rows(
            &connected.session,
            &connected.set_category,
            (category, user.as_str(), feed.as_str()),
        )
        .await?;
        // A lightweight transaction answers `[applied]` first.
        let applied = result
            .rows::<(bool,)>()
            .ok()
            .and_then(|mut rows| rows.next())
            .and_then(Result::ok)
            .is_some_and(|(applied,)| applied);
        Ok(applied)
    }

    async fn clear_reading(&self, user: &UserId, feed: &FeedUrl) -> Result<(), StoreError> {
        let connected = self.connection()?;
        for statement in [&connected.clear_marks, &connected.clear_watermark] {
            connected
                .session
                .execute_unpaged(statement, (user.as_str(), feed.as_str()))
                .await
                .map_err(query_failed)?;
        }
        Ok(())
    }
}

impl CassandraStore {
    /// Copies `user`'s category, marks and watermark of `from` to `to`.
    pub(super) async fn move_reading(
        &self,
        connected: &Connected,
        user: &UserId,
        from: &FeedUrl,
        to: &FeedUrl,
    ) -> Result<(), StoreError> {
        let reading = self.reading(user).await?;
        if let Some((_, Some(category))) = reading.subscriptions.iter().find(|(u, _)| u == from) {
            self.set_category(user, to, Some(category)).await?;
        }
        let rows: Vec<MarkRow> = connected
            .session
            .execute_iter(
                connected.select_feed_marks.clone(),
                (user.as_str(), from.as_str()),
            )
            .await
            .map_err(query_failed)?
            .rows_stream::<MarkRow>()
            .map_err(query_failed)?
            .try_collect()
            .await
            .map_err(query_failed)?;
        for row in rows {
            let values = (
                user.as_str(),
                to.as_str(),
                row.item_id,
                row.read,
                row.starred,
                row.updated_at,
            );
            connected
                .session
                .execute_unpaged(&connected.copy_mark, values)
                .await
                .map_err(query_failed)?;
        }
        if let Some(watermark) = reading.feeds.get(from).and_then(|f| f.watermark) {
            self.mark_read_up_to(
                user,
                std::slice::from_ref(to),
                watermark.up_to,
                watermark.set_at,
            )
            .await?;
        }
        Ok(())
    }
}

#[derive(DeserializeRow)]
struct MarkRow {
    item_id: String,
    read: Option<bool>,
    starred: Option<bool>,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(DeserializeRow)]
struct UserMarkRow {
    feed_url: String,
    item_id: String,
    read: Option<bool>,
    starred: Option<bool>,
    updated_at: Option<DateTime<Utc>>,
}

impl MarkRow {
    fn mark(&self) -> ItemMark {
        ItemMark {
            read: self
                .read
                .map(|read| (read, self.updated_at.unwrap_or_default())),
            starred: self.starred.unwrap_or(false),
        }
    }
}
