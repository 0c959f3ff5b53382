//! `feeds_by_url`: the feed cache the refresher writes and page views read, one partition per
//! feed; each save also writes the document's items into the feed's history (`history`).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use scylla::DeserializeRow;

use middletier_api::Item;
use middletier_api::domain::FeedUrl;

use super::history::{ItemRow, drop_items, read_history, read_items, write_items};
use super::reading::held_entries;
use super::terms::{Unindexed, delete_terms, term_positions};
use super::{CassandraStore, Connected, query_failed, query_rows};
use crate::store::{
    CachedFeed, FeedState, FeedStore, FeedVersions, HistoryEntry, HistoryStore, Scheduled,
    StoreError, StoredItem, sort_time,
};

/// One row of `feeds_by_url`, in the order of `statements::FEED_COLUMNS`.
#[derive(DeserializeRow)]
struct FeedRow {
    url: String,
    title: Option<String>,
    items: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
    http_status: Option<i32>,
    last_attempt: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
    last_error: Option<String>,
    consecutive_errors: Option<i32>,
    gone: Option<bool>,
    next_refresh: Option<DateTime<Utc>>,
    first_seen: Option<HashMap<String, DateTime<Utc>>>,
}

impl FeedRow {
    fn into_state(self) -> Option<FeedState> {
        let url = FeedUrl::parse(&self.url).ok()?;
        // Items were serialized by us; a row that no longer decodes shows no items until the
        // next refresh rewrites it.
        let items: Vec<Item> = self
            .items
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        Some(FeedState {
            url,
            title: self.title,
            items,
            etag: self.etag,
            last_modified: self.last_modified,
            http_status: self.http_status.and_then(|s| u16::try_from(s).ok()),
            last_attempt: self.last_attempt,
            last_success: self.last_success,
            last_error: self.last_error,
            consecutive_errors: self
                .consecutive_errors
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            gone: self.gone.unwrap_or(false),
            next_refresh: self.next_refresh.unwrap_or_default(),
            first_seen: self.first_seen.unwrap_or_default(),
        })
    }
}

#[async_trait]
impl FeedStore for CassandraStore {
    async fn feed_states(&self, urls: &[FeedUrl]) -> Result<Vec<Option<FeedState>>, StoreError> {
        let connected = self.connection()?;
        // One single-partition read per feed, concurrently: each goes straight to its replicas.
        let reads = urls.iter().map(|url| read_feed(connected, url));
        futures::future::try_join_all(reads).await
    }

    async fn cached_feeds(
        &self,
        urls: &[FeedUrl],
    ) -> Result<Vec<Option<Arc<CachedFeed>>>, StoreError> {
        crate::store::read_cached_feeds(self, urls).await
    }

    async fn save_feed_state(&self, state: &FeedState) -> Result<(), StoreError> {
        let connected = self.connection()?;
        write_document(connected, state).await?;
        let items = serde_json::to_string(&state.items).map_err(query_failed)?;
        let values = (
            state.url.as_str(),
            state.title.as_deref(),
            items,
            state.etag.as_deref(),
            state.last_modified.as_deref(),
            state.http_status.map(i32::from),
            state.last_attempt,
            state.last_success,
            state.last_error.as_deref(),
            i32::try_from(state.consecutive_errors).unwrap_or(i32::MAX),
            state.gone,
            state.next_refresh,
            &state.first_seen,
        );
        connected
            .session
            .execute_unpaged(&connected.insert_feed, values)
            .await
            .map_err(query_failed)?;
        Ok(())
    }

    async fn scheduled_feeds(&self) -> Result<Vec<Scheduled>, StoreError> {
        let connected = self.connection()?;
        let subscribed: Vec<(String,)> = connected
            .session
            .execute_iter(connected.scan_subscribed.clone(), ())
            .await
            .map_err(query_failed)?
            .rows_stream::<(String,)>()
            .map_err(query_failed)?
            .try_collect()
            .await
            .map_err(query_failed)?;
        let mut schedule: std::collections::HashMap<String, (Option<DateTime<Utc>>, bool)> =
            connected
                .session
                .execute_iter(connected.scan_schedule.clone(), ())
                .await
                .map_err(query_failed)?
                .rows_stream::<(String, Option<DateTime<Utc>>, Option<bool>)>()
                .map_err(query_failed)?
                .map_ok(|(url, next, gone)| (url, (next, gone.unwrap_or(false))))
                .try_collect()
                .await
                .map_err(query_failed)?;
        Ok(subscribed
            .into_iter()
            .filter_map(|(url,)| {
                let (next_refresh, gone) = schedule.remove(&url).unwrap_or((None, false));
                Some(Scheduled {
                    url: FeedUrl::parse(&url).ok()?,
                    next_refresh,
                    gone,
                })
            })
            .collect())
    }

    async fn move_feed(&self, from: &FeedUrl, to: &FeedUrl) -> Result<(), StoreError> {
        let connected = self.connection()?;
        // The history first, so the marks moved next point at items `to` holds.
        let entries = read_history(connected, from).await?;
        let contents = read_items(connected, from, &entries).await?;
        let stored: Vec<StoredItem> = entries
            .iter()
            .zip(contents)
            .filter_map(|(entry, item)| {
                Some(StoredItem {
                    item: item?,
                    seen: DateTime::from_timestamp_millis(entry.seen)?,
                })
            })
            .collect();
        self.insert_history(to, &stored).await?;
        self.move_subscribers(connected, from, to).await?;
        let held: Vec<(String, DateTime<Utc>)> = entries
            .into_iter()
            .map(|entry| {
                let seen = DateTime::from_timestamp_millis(entry.seen).unwrap_or_default();
                (entry.id, seen)
            })
            .collect();
        drop_items(connected, from, &held).await?;
        connected
            .session
            .execute_unpaged(&connected.delete_feed, (from.as_str(),))
            .await
            .map_err(query_failed)?;
        Ok(())
    }
}

/// Writes the items of `state`'s document into the feed's history: new ones with their first-seen
/// time, changed ones with their content (and search words) replaced and their first-seen time
/// kept, whatever the state says (it names the month partition). Unchanged ones are not
/// rewritten, so a refresh that finds nothing new writes no item rows.
async fn write_document(connected: &Connected, state: &FeedState) -> Result<(), StoreError> {
    let ids: Vec<String> = state.items.iter().map(|item| item.id.clone()).collect();
    let held: Vec<HistoryEntry> = held_entries(connected, &state.url, &ids)
        .await?
        .into_iter()
        .map(|(id, seen, time)| HistoryEntry {
            id,
            time: time.timestamp_millis(),
            seen: seen.timestamp_millis(),
        })
        .collect();
    let before: HashMap<String, (DateTime<Utc>, Item)> = held
        .iter()
        .zip(read_items(connected, &state.url, &held).await?)
        .filter_map(|(entry, item)| {
            let seen = DateTime::from_timestamp_millis(entry.seen)?;
            Some((entry.id.clone(), (seen, item?)))
        })
        .collect();
    let fallback = state.last_success.unwrap_or_else(Utc::now);
    let mut rows = Vec::new();
    let mut stale = Vec::new();
    for item in &state.items {
        let seen = match before.get(&item.id) {
            Some((_, old)) if old == item => continue,
            Some((seen, old)) => {
                stale.push(stale_postings(old, item, *seen));
                *seen
            }
            None => state.first_seen.get(&item.id).copied().unwrap_or(fallback),
        };
        rows.push(ItemRow::new(item, seen)?);
    }
    delete_terms(connected, &state.url, &stale).await?;
    // The history before the feed's row: every item a reader can see is in the history.
    write_items(connected, &state.url, &rows).await
}

/// The postings of `old` that its changed content `new` does not rewrite: the terms (words and
/// pairs) it lost, or every term when its river time changed (the time is part of a posting's key).
fn stale_postings(old: &Item, new: &Item, seen: DateTime<Utc>) -> Unindexed {
    let at = |item: &Item| DateTime::from_timestamp_millis(sort_time(item, seen)).unwrap_or(seen);
    let time = at(old);
    let kept = if time == at(new) {
        term_positions(new)
    } else {
        HashMap::new()
    };
    Unindexed {
        id: old.id.clone(),
        time,
        terms: term_positions(old)
            .into_keys()
            .filter(|term| !kept.contains_key(term))
            .collect(),
    }
}

/// One feed's cached state, read from its partition.
async fn read_feed(connected: &Connected, url: &FeedUrl) -> Result<Option<FeedState>, StoreError> {
    let result = query_rows(&connected.session, &connected.select_feed, (url.as_str(),)).await?;
    let row = result.maybe_first_row::<FeedRow>().map_err(query_failed)?;
    Ok(row.and_then(FeedRow::into_state))
}

#[async_trait]
impl FeedVersions for CassandraStore {
    async fn feed_version(&self, url: &FeedUrl) -> Result<Option<DateTime<Utc>>, StoreError> {
        let connected = self.connection()?;
        let result =
            query_rows(&connected.session, &connected.feed_version, (url.as_str(),)).await?;
        let row = result
            .maybe_first_row::<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)>()
            .map_err(query_failed)?;
        Ok(row.and_then(|(attempt, changed)| attempt.max(changed)))
    }
}
