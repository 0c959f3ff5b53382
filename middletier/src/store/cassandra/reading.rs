//! `item_marks_by_user_month`, `mark_months_by_user` and `read_watermarks_by_user`: each user's
//! marks and "read up to" watermarks. A page view reads the user's watermark partition, the list
//! of months holding marks, then those month partitions concurrently: a few partitions per user
//! however many feeds they read, none of which grows with the age of the account.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Utc};
use futures::{StreamExt, TryStreamExt};
use scylla::DeserializeRow;
use scylla::statement::batch::{Batch, BatchType};

use middletier_api::domain::{FeedUrl, UserId};

use super::batches::in_batches;
use super::subscriptions::added_at;
use super::{CassandraStore, Connected, applied, query_failed, query_rows};
use crate::store::{
    FeedReading, ItemMark, MarkChange, MarkTarget, ReadingStore, StoreError, SubscriptionStore,
    UserReading, Watermark,
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
            type Row = (
                String,
                Option<DateTime<Utc>>,
                Option<String>,
                Option<String>,
            );
            let mut rows: Vec<(DateTime<Utc>, String, Option<String>, Option<String>)> = result
                .rows::<Row>()
                .map_err(query_failed)?
                .map(|row| {
                    row.map(|(url, added_at, category, title)| {
                        (added_at.unwrap_or_default(), url, category, title)
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(query_failed)?;
            rows.sort();
            Ok::<_, StoreError>(rows)
        };
        let marks = all_marks(connected, user);
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
        for (feed_url, row) in marks {
            let Ok(url) = FeedUrl::parse(&feed_url) else {
                continue;
            };
            feeds
                .entry(url)
                .or_default()
                .marks
                .insert(row.item_id.clone(), row.mark());
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
        let mut titles = HashMap::new();
        let subscriptions = subscriptions
            .into_iter()
            .filter_map(|(_, url, category, title)| {
                let url = FeedUrl::parse(&url).ok()?;
                if let Some(title) = title {
                    titles.insert(url.clone(), title);
                }
                Some((url, category))
            })
            .collect();
        Ok(Arc::new(UserReading {
            subscriptions,
            feeds: feeds
                .into_iter()
                .map(|(url, reading)| (url, Arc::new(reading)))
                .collect(),
            titles,
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
        // The mark lives in the month its item was first seen, where retention finds it; an
        // item not (yet) in the history is marked in the month of the change.
        let month = item_months(connected, feed, &[item.to_owned()])
            .await?
            .get(item)
            .copied()
            .unwrap_or_else(|| month_of(at));
        write_marks(
            connected,
            user,
            vec![(month, feed.as_str(), item)],
            change,
            at,
        )
        .await
    }

    async fn mark_items(
        &self,
        user: &UserId,
        targets: &[MarkTarget],
        change: MarkChange,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let connected = self.connection()?;
        // One read of the user's subscriptions partition, not one per target's feed.
        let subscribed: HashSet<FeedUrl> = self.subscriptions(user).await?.into_iter().collect();
        let marks = targets
            .iter()
            .filter(|target| subscribed.contains(&target.feed))
            .map(|target| {
                (
                    month_of(target.seen),
                    target.feed.as_str(),
                    target.item.as_str(),
                )
            })
            .collect();
        write_marks(connected, user, marks, change, at).await
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
        Ok(applied(&result))
    }

    async fn set_title(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        title: Option<&str>,
    ) -> Result<bool, StoreError> {
        let connected = self.connection()?;
        let result = query_rows(
            &connected.session,
            &connected.set_title,
            (title, user.as_str(), feed.as_str()),
        )
        .await?;
        Ok(applied(&result))
    }

    async fn clear_reading(&self, user: &UserId, feed: &FeedUrl) -> Result<(), StoreError> {
        let connected = self.connection()?;
        for month in mark_months(connected, user).await? {
            connected
                .session
                .execute_unpaged(
                    &connected.clear_marks,
                    (user.as_str(), month, feed.as_str()),
                )
                .await
                .map_err(query_failed)?;
        }
        connected
            .session
            .execute_unpaged(&connected.clear_watermark, (user.as_str(), feed.as_str()))
            .await
            .map_err(query_failed)?;
        Ok(())
    }
}

impl CassandraStore {
    /// Copies `user`'s category, own title, marks and watermark of `from` to `to`.
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
        if let Some(title) = reading.titles.get(from) {
            self.set_title(user, to, Some(title)).await?;
        }
        // Item ids are the feed's own and their first-seen months move with the history, so
        // each mark keeps its month partition.
        for (month, row) in feed_marks(connected, user, from).await? {
            let values = (
                user.as_str(),
                month,
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

/// One mark, in the order of `statements::MARK_COLUMNS`.
#[derive(DeserializeRow)]
pub(super) struct MarkRow {
    pub(super) item_id: String,
    read: Option<bool>,
    starred: Option<bool>,
    updated_at: Option<DateTime<Utc>>,
}

impl MarkRow {
    pub(super) fn mark(&self) -> ItemMark {
        ItemMark {
            read: self
                .read
                .map(|read| (read, self.updated_at.unwrap_or_default())),
            starred: self.starred.unwrap_or(false),
        }
    }
}

/// Merges `change` into `user`'s marks on `marks` (month partition, feed, item). Each month
/// is announced before its marks are written, so a page view never misses one; each flag is
/// its own column write, so concurrent changes of the other flag survive. Marks go in
/// unlogged batches per month partition, a few partitions at once.
async fn write_marks(
    connected: &Connected,
    user: &UserId,
    marks: Vec<(i32, &str, &str)>,
    change: MarkChange,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    // Owned, as the writes run as futures of their own.
    let mut by_month: BTreeMap<i32, Vec<(String, String)>> = BTreeMap::new();
    for (month, feed, item) in marks {
        by_month
            .entry(month)
            .or_default()
            .push((feed.to_owned(), item.to_owned()));
    }
    let months: Vec<i32> = by_month.keys().copied().collect();
    let announce = months.into_iter().map(|month| async move {
        connected
            .session
            .execute_unpaged(&connected.insert_mark_month, (user.as_str(), month))
            .await
            .map(drop)
            .map_err(query_failed)
    });
    futures::stream::iter(announce)
        .buffer_unordered(MONTHS_AT_ONCE)
        .try_collect::<Vec<()>>()
        .await?;
    let writes = by_month.into_iter().map(|(month, items)| async move {
        if let Some(read) = change.read {
            let rows = items
                .iter()
                .map(|(feed, item)| (read, at, user.as_str(), month, feed.as_str(), item.as_str()))
                .collect();
            in_batches(connected, &connected.mark_read, rows).await?;
        }
        if let Some(starred) = change.starred {
            let rows = items
                .iter()
                .map(|(feed, item)| (starred, user.as_str(), month, feed.as_str(), item.as_str()))
                .collect();
            in_batches(connected, &connected.mark_starred, rows).await?;
        }
        Ok::<_, StoreError>(())
    });
    futures::stream::iter(writes)
        .buffer_unordered(MONTHS_AT_ONCE)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// How many month partitions a page view reads at once.
const MONTHS_AT_ONCE: usize = 8;

/// The month partition (`yyyymm`) of an item first seen at `seen`.
pub(super) fn month_of(seen: DateTime<Utc>) -> i32 {
    seen.year() * 100 + i32::try_from(seen.month()).unwrap_or(1)
}

/// The months holding marks of `user`.
pub(super) async fn mark_months(
    connected: &Connected,
    user: &UserId,
) -> Result<Vec<i32>, StoreError> {
    query_rows(
        &connected.session,
        &connected.select_mark_months,
        (user.as_str(),),
    )
    .await?
    .rows::<(i32,)>()
    .map_err(query_failed)?
    .map(|row| row.map(|(month,)| month))
    .collect::<Result<_, _>>()
    .map_err(query_failed)
}

/// Every mark of `user`, with its feed: each month partition read whole, a few at once.
async fn all_marks(
    connected: &Connected,
    user: &UserId,
) -> Result<Vec<(String, MarkRow)>, StoreError> {
    let months = mark_months(connected, user).await?;
    let reads = months.into_iter().map(|month| async move {
        connected
            .session
            .execute_iter(connected.select_month_marks.clone(), (user.as_str(), month))
            .await
            .map_err(query_failed)?
            .rows_stream::<UserMarkRow>()
            .map_err(query_failed)?
            .map_ok(|row| {
                let UserMarkRow {
                    feed_url,
                    item_id,
                    read,
                    starred,
                    updated_at,
                } = row;
                let mark = MarkRow {
                    item_id,
                    read,
                    starred,
                    updated_at,
                };
                (feed_url, mark)
            })
            .try_collect::<Vec<_>>()
            .await
            .map_err(query_failed)
    });
    let per_month: Vec<Vec<_>> = futures::stream::iter(reads)
        .buffer_unordered(MONTHS_AT_ONCE)
        .try_collect()
        .await?;
    Ok(per_month.into_iter().flatten().collect())
}

/// `user`'s marks in `feed`, each with its month partition.
pub(super) async fn feed_marks(
    connected: &Connected,
    user: &UserId,
    feed: &FeedUrl,
) -> Result<Vec<(i32, MarkRow)>, StoreError> {
    let months = mark_months(connected, user).await?;
    let reads = months.into_iter().map(|month| async move {
        connected
            .session
            .execute_iter(
                connected.select_month_feed_marks.clone(),
                (user.as_str(), month, feed.as_str()),
            )
            .await
            .map_err(query_failed)?
            .rows_stream::<MarkRow>()
            .map_err(query_failed)?
            .map_ok(|row| (month, row))
            .try_collect::<Vec<_>>()
            .await
            .map_err(query_failed)
    });
    let per_month: Vec<Vec<_>> = futures::stream::iter(reads)
        .buffer_unordered(MONTHS_AT_ONCE)
        .try_collect()
        .await?;
    Ok(per_month.into_iter().flatten().collect())
}

/// The first-seen month of each of `ids` that `feed`'s history holds.
pub(super) async fn item_months(
    connected: &Connected,
    feed: &FeedUrl,
    ids: &[String],
) -> Result<HashMap<String, i32>, StoreError> {
    Ok(held_entries(connected, feed, ids)
        .await?
        .into_iter()
        .map(|(id, seen, _)| (id, month_of(seen)))
        .collect())
}

/// Which of `ids` `feed`'s history holds: id, first seen, river time. In chunks, so an import
/// of a long history does not send one huge `IN`.
pub(super) async fn held_entries(
    connected: &Connected,
    feed: &FeedUrl,
    ids: &[String],
) -> Result<Vec<(String, DateTime<Utc>, DateTime<Utc>)>, StoreError> {
    let mut held = Vec::new();
    for chunk in ids.chunks(100) {
        let result = query_rows(
            &connected.session,
            &connected.select_index_ids,
            (feed.as_str(), chunk),
        )
        .await?;
        for row in result
            .rows::<(String, DateTime<Utc>, DateTime<Utc>)>()
            .map_err(query_failed)?
        {
            held.push(row.map_err(query_failed)?);
        }
    }
    Ok(held)
}

#[derive(DeserializeRow)]
struct UserMarkRow {
    feed_url: String,
    item_id: String,
    read: Option<bool>,
    starred: Option<bool>,
    updated_at: Option<DateTime<Utc>>,
}
