//! Full-text search over the item history: the per-feed inverted index `item_terms_by_feed`
//! (written with the items, `terms`) read for the searched feeds a few at once.
//!
//! Words are cut as `terms` cuts them. Relevance is simple: how often the searched words occur
//! in the item.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use middletier_api::domain::FeedUrl;

use super::history::read_items;
use super::terms::words;
use super::{CassandraStore, Connected, query_failed};
use crate::store::{
    HistoryEntry, SearchHit, SearchQuery, SearchStore, SearchTerms, StoreError, rank_hits,
};

/// How many index partitions a search reads at once.
const READS_AT_ONCE: usize = 16;

/// One item a word occurs in: its entry and how often.
type Posting = (HistoryEntry, i32);

/// The items of `url` containing `term`.
async fn postings(
    connected: &Connected,
    url: &FeedUrl,
    term: &str,
) -> Result<HashMap<String, Posting>, StoreError> {
    connected
        .session
        .execute_iter(connected.select_term.clone(), (url.as_str(), term))
        .await
        .map_err(query_failed)?
        .rows_stream::<(String, DateTime<Utc>, DateTime<Utc>, i32)>()
        .map_err(query_failed)?
        .map_ok(|(id, seen, time, count)| {
            let entry = HistoryEntry {
                id: id.clone(),
                time: time.timestamp_millis(),
                seen: seen.timestamp_millis(),
            };
            (id, (entry, count))
        })
        .try_collect()
        .await
        .map_err(query_failed)
}

/// The hits in one feed: every required word, no excluded one, every phrase in order.
async fn feed_hits(
    connected: &Connected,
    url: &FeedUrl,
    required: &[String],
    terms: &SearchTerms,
) -> Result<Vec<SearchHit>, StoreError> {
    let mut candidates: Option<HashMap<String, Posting>> = None;
    for term in required {
        let found = postings(connected, url, term).await?;
        candidates = Some(match candidates {
            None => found,
            Some(so_far) => so_far
                .into_iter()
                .filter_map(|(id, (entry, count))| {
                    let more = found.get(&id)?.1;
                    Some((id, (entry, count + more)))
                })
                .collect(),
        });
        if candidates.as_ref().is_some_and(HashMap::is_empty) {
            return Ok(Vec::new());
        }
    }
    let mut candidates = candidates.unwrap_or_default();
    for term in &terms.excluded {
        for id in postings(connected, url, term).await?.keys() {
            candidates.remove(id);
        }
    }
    let mut hits: Vec<Posting> = candidates.into_values().collect();
    if !terms.phrases.is_empty() && !hits.is_empty() {
        let entries: Vec<HistoryEntry> = hits.iter().map(|(entry, _)| entry.clone()).collect();
        let contents = read_items(connected, url, &entries).await?;
        let mut kept = Vec::new();
        for (hit, item) in hits.into_iter().zip(contents) {
            let Some(item) = item else { continue };
            let title = words(&item.title);
            let text = words(&crate::store::words::html_text(&item.description));
            let has = |phrase: &Vec<String>| {
                [&title, &text]
                    .iter()
                    .any(|words| words.windows(phrase.len()).any(|w| w == phrase.as_slice()))
            };
            if terms.phrases.iter().all(has) {
                kept.push(hit);
            }
        }
        hits = kept;
    }
    Ok(hits
        .into_iter()
        .map(|(entry, count)| SearchHit {
            feed: url.clone(),
            entry,
            score: f64::from(count),
        })
        .collect())
}

#[async_trait]
impl SearchStore for CassandraStore {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        let connected = self.connection()?;
        // The query's words cut as the index cuts them, so "Café" finds what "cafe" finds.
        let cut = |list: &[String]| -> Vec<String> { list.iter().flat_map(|w| words(w)).collect() };
        let terms = SearchTerms {
            words: cut(&query.terms.words),
            phrases: query.terms.phrases.iter().map(|p| cut(p)).collect(),
            excluded: cut(&query.terms.excluded),
        };
        // Every word of a phrase is required too, so the index narrows phrases as well.
        let mut required: Vec<String> = Vec::new();
        let mut known = HashSet::new();
        for word in terms.words.iter().chain(terms.phrases.iter().flatten()) {
            if known.insert(word.clone()) {
                required.push(word.clone());
            }
        }
        // Nothing to look up: a search of only excluded words would be a scan of every item.
        if required.is_empty() {
            return Ok(Vec::new());
        }
        let feeds: HashSet<FeedUrl> = query.feeds.iter().cloned().collect();
        let (required, terms) = (&required, &terms);
        let hits: Vec<SearchHit> = futures::stream::iter(
            feeds
                .into_iter()
                .map(|url| async move { feed_hits(connected, &url, required, terms).await }),
        )
        .buffer_unordered(READS_AT_ONCE)
        .try_collect::<Vec<_>>()
        .await?
        .into_iter()
        .flatten()
        .collect();
        Ok(rank_hits(hits, query))
    }
}
