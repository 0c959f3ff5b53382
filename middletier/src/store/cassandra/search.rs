//! `item_terms_by_feed`: full-text search over the item history, as a per-feed inverted index
//! written and removed with the items (`history`), read for the searched feeds a few at once.
//!
//! Words follow the search's rules: lower-case, diacritics removed, split on anything not a
//! letter or digit. This module has its own small tokenizer for them until the search's shared
//! one replaces it. Relevance is simple: how often the searched words occur in the item.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use middletier_api::Item;
use middletier_api::domain::FeedUrl;

use super::history::read_items;
use super::{CassandraStore, Connected, query_failed};
use crate::store::{HistoryEntry, SearchHit, SearchOrder, SearchQuery, SearchStore, StoreError};

/// How many index partitions a search reads at once.
const READS_AT_ONCE: usize = 16;
/// How many index rows a save writes at once.
const WRITES_AT_ONCE: usize = 32;
/// Longer "words" (a base64 blob, a hostile feed's run of letters) are not indexed: nobody
/// searches for them, and a partition key must stay small.
const LONGEST_TERM: usize = 64;

/// The words of `text`, lower-case and without diacritics, tags and entities skipped.
pub(super) fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_tag = false;
    let mut in_entity = false;
    let mut end_word = |word: &mut String| {
        if !word.is_empty() && word.chars().count() <= LONGEST_TERM {
            words.push(std::mem::take(word));
        }
        word.clear();
    };
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            '&' if !in_tag => in_entity = true,
            ';' if in_entity => in_entity = false,
            _ if in_tag || in_entity && c.is_ascii_alphanumeric() || c == '#' && in_entity => {}
            _ if c.is_alphanumeric() => {
                in_entity = false;
                for lower in c.to_lowercase() {
                    word.push(fold(lower));
                }
                continue;
            }
            _ => in_entity = false,
        }
        end_word(&mut word);
    }
    end_word(&mut word);
    words
}

/// `c` without its diacritic, for the Latin letters feeds mostly carry.
fn fold(c: char) -> char {
    const FROM: &str =
        "àáâãäåāăąçćĉċčďđèéêëēĕėęěĝğġģĥħìíîïĩīĭįıĵķĺļľŀłñńņňòóôõöøōŏőŕŗřśŝşšţťŧùúûüũūŭůűųŵýÿŷźżž";
    const TO: &str =
        "aaaaaaaaacccccddeeeeeeeeegggghhiiiiiiiiijklllllnnnnoooooooooorrrssssttttuuuuuuuuuuwyyyzzz";
    FROM.chars()
        .position(|from| from == c)
        .and_then(|at| TO.chars().nth(at))
        .unwrap_or(c)
}

/// Each word of `item` (title and text) with how often it occurs.
pub(super) fn term_counts(item: &Item) -> HashMap<String, i32> {
    let mut counts = HashMap::new();
    for word in words(&item.title)
        .into_iter()
        .chain(words(&item.description))
    {
        *counts.entry(word).or_insert(0) += 1;
    }
    counts
}

/// Writes the index rows of one item.
pub(super) async fn write_terms(
    connected: &Connected,
    url: &FeedUrl,
    item: &Item,
    seen: DateTime<Utc>,
    time: DateTime<Utc>,
) -> Result<(), StoreError> {
    let writes: Vec<_> = term_counts(item)
        .into_iter()
        .map(|(term, count)| {
            (
                url.as_str().to_owned(),
                term,
                item.id.clone(),
                seen,
                time,
                count,
            )
        })
        .collect();
    futures::stream::iter(writes.into_iter().map(|values| async move {
        connected
            .session
            .execute_unpaged(&connected.insert_term, values)
            .await
            .map(drop)
            .map_err(query_failed)
    }))
    .buffer_unordered(WRITES_AT_ONCE)
    .try_collect()
    .await
}

/// Removes the index rows of one item for the words in `terms`.
pub(super) async fn delete_terms(
    connected: &Connected,
    url: &FeedUrl,
    id: &str,
    terms: impl IntoIterator<Item = String>,
) -> Result<(), StoreError> {
    let deletes: Vec<_> = terms.into_iter().collect();
    futures::stream::iter(deletes.into_iter().map(|term| async move {
        connected
            .session
            .execute_unpaged(&connected.delete_term, (url.as_str(), term, id))
            .await
            .map(drop)
            .map_err(query_failed)
    }))
    .buffer_unordered(WRITES_AT_ONCE)
    .try_collect()
    .await
}

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
    query: &SearchQuery,
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
    for term in &query.terms.excluded {
        for id in postings(connected, url, term).await?.keys() {
            candidates.remove(id);
        }
    }
    let mut hits: Vec<Posting> = candidates.into_values().collect();
    if !query.terms.phrases.is_empty() && !hits.is_empty() {
        let entries: Vec<HistoryEntry> = hits.iter().map(|(entry, _)| entry.clone()).collect();
        let contents = read_items(connected, url, &entries).await?;
        let mut kept = Vec::new();
        for (hit, item) in hits.into_iter().zip(contents) {
            let Some(item) = item else { continue };
            let title = words(&item.title);
            let text = words(&item.description);
            let has = |phrase: &Vec<String>| {
                [&title, &text]
                    .iter()
                    .any(|words| words.windows(phrase.len()).any(|w| w == phrase.as_slice()))
            };
            if query.terms.phrases.iter().all(has) {
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
        // Every word of a phrase is required too, so the index narrows phrases as well.
        let mut required: Vec<String> = Vec::new();
        let mut known = HashSet::new();
        for word in query
            .terms
            .words
            .iter()
            .chain(query.terms.phrases.iter().flatten())
        {
            for word in words(word) {
                if known.insert(word.clone()) {
                    required.push(word);
                }
            }
        }
        // Nothing to look up: a search of only excluded words would be a scan of every item.
        if required.is_empty() {
            return Ok(Vec::new());
        }
        let feeds: HashSet<FeedUrl> = query.feeds.iter().cloned().collect();
        let required = &required;
        let mut hits: Vec<SearchHit> = futures::stream::iter(
            feeds
                .into_iter()
                .map(|url| async move { feed_hits(connected, &url, required, query).await }),
        )
        .buffer_unordered(READS_AT_ONCE)
        .try_collect::<Vec<_>>()
        .await?
        .into_iter()
        .flatten()
        .collect();
        let newest = |a: &SearchHit, b: &SearchHit| {
            b.entry
                .time
                .cmp(&a.entry.time)
                .then_with(|| a.feed.as_str().cmp(b.feed.as_str()))
                .then_with(|| a.entry.id.cmp(&b.entry.id))
        };
        match query.order {
            SearchOrder::Newest => hits.sort_by(newest),
            SearchOrder::Relevance => {
                hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| newest(a, b)));
            }
        }
        Ok(hits
            .into_iter()
            .skip(query.offset)
            .take(query.limit)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_case_without_diacritics_tags_or_entities() {
        assert_eq!(
            words("<p class=\"x\">Café &amp; Déjà-Vu&#8217;s ÜBER</p> 42"),
            ["cafe", "deja", "vu", "s", "uber", "42"]
        );
    }

    #[test]
    fn an_overlong_word_is_not_indexed() {
        let long = "a".repeat(LONGEST_TERM + 1);
        assert_eq!(words(&format!("short {long} end")), ["short", "end"]);
    }
}
