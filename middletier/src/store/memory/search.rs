//! The memory store's search: a scan of the feeds' histories, every item's words checked
//! against the terms at query time. There is no index to keep in step with the history, which
//! suits a store that lives for one test or demo; a store holding years of items indexes them
//! instead (SQLite's FTS5).
//!
//! Relevance is term frequency: each required word or phrase scores `ln(1 + 3 × times in the
//! title + times in the text)`, summed, so a title match outweighs a passing mention and one
//! word repeated cannot outweigh the others. No rarity or length weighting (BM25 adds both), so
//! scores are comparable only within one answer, as [`SearchHit::score`] says.

use async_trait::async_trait;

use middletier_api::Item;

use super::MemoryStore;
use crate::store::words::{html_text, phrase_starts, words};
use crate::store::{
    HistoryStore, SearchHit, SearchQuery, SearchStore, SearchTerms, StoreError, rank_hits,
};

/// How much more a match in the title counts than one in the text.
const TITLE_WEIGHT: f64 = 3.0;

#[async_trait]
impl SearchStore for MemoryStore {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        scan(self, query).await
    }
}

/// `query` answered by reading every item of its feeds from `history`.
async fn scan(
    history: &dyn HistoryStore,
    query: &SearchQuery,
) -> Result<Vec<SearchHit>, StoreError> {
    let mut hits = Vec::new();
    for feed in &query.feeds {
        let entries = history.history(feed).await?;
        let items = history.history_items(feed, &entries).await?;
        for (entry, item) in entries.into_iter().zip(items) {
            if let Some(score) = item.and_then(|item| score(&item, &query.terms)) {
                hits.push(SearchHit {
                    feed: feed.clone(),
                    entry,
                    score,
                });
            }
        }
    }
    Ok(rank_hits(hits, query))
}

/// `item`'s score for `terms`, or `None` when it does not match: a required word or phrase
/// missing from both title and text, or an excluded word present in either.
fn score(item: &Item, terms: &SearchTerms) -> Option<f64> {
    let title: Vec<String> = words(&item.title).collect();
    let text: Vec<String> = words(&html_text(&item.description)).collect();
    if terms
        .excluded
        .iter()
        .any(|word| title.contains(word) || text.contains(word))
    {
        return None;
    }
    let count = |within: &[String], word: &String| within.iter().filter(|w| *w == word).count();
    let words = terms
        .words
        .iter()
        .map(|word| (count(&title, word), count(&text, word)));
    let phrases = terms.phrases.iter().map(|phrase| {
        (
            phrase_starts(&title, phrase).count(),
            phrase_starts(&text, phrase).count(),
        )
    });
    let mut score = 0.0;
    for (in_title, in_text) in words.chain(phrases) {
        if in_title + in_text == 0 {
            return None;
        }
        score += (1.0 + TITLE_WEIGHT * in_title as f64 + in_text as f64).ln();
    }
    Some(score)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use chrono::DateTime;

    use middletier_api::domain::{FeedUrl, UserId};

    use super::*;
    use crate::search::parse;
    use crate::store::SearchOrder;
    use crate::store::{FeedReading, HistoryEntry, StoredItem};

    /// Histories held as given: enough of a store to scan.
    #[derive(Debug, Default)]
    struct Histories(HashMap<FeedUrl, Vec<(HistoryEntry, Item)>>);

    impl Histories {
        fn with(mut self, feed: &str, time: i64, id: &str, title: &str, text: &str) -> Self {
            let item = Item {
                id: id.to_owned(),
                title: title.to_owned(),
                link: None,
                description: text.to_owned(),
                published: None,
                read: false,
                starred: false,
                author: None,
                enclosures: Vec::new(),
            };
            let seen = DateTime::from_timestamp_millis(time).unwrap();
            let entry = HistoryEntry::of(&item, seen);
            self.0
                .entry(FeedUrl::parse(feed).unwrap())
                .or_default()
                .push((entry, item));
            self
        }
    }

    #[async_trait]
    impl HistoryStore for Histories {
        async fn history(&self, url: &FeedUrl) -> Result<Vec<HistoryEntry>, StoreError> {
            let held = self.0.get(url).map(Vec::as_slice).unwrap_or_default();
            Ok(held.iter().map(|(entry, _)| entry.clone()).collect())
        }

        async fn history_items(
            &self,
            url: &FeedUrl,
            entries: &[HistoryEntry],
        ) -> Result<Vec<Option<Item>>, StoreError> {
            let held = self.0.get(url).map(Vec::as_slice).unwrap_or_default();
            Ok(entries
                .iter()
                .map(|entry| {
                    held.iter()
                        .find(|(e, _)| e.id == entry.id)
                        .map(|(_, item)| item.clone())
                })
                .collect())
        }

        async fn insert_history(&self, _: &FeedUrl, _: &[StoredItem]) -> Result<usize, StoreError> {
            unimplemented!("not scanned")
        }

        async fn remove_history(&self, _: &FeedUrl, _: &[String]) -> Result<usize, StoreError> {
            unimplemented!("not scanned")
        }

        async fn subscribers(&self, _: &FeedUrl) -> Result<Vec<UserId>, StoreError> {
            unimplemented!("not scanned")
        }

        async fn feed_reading(&self, _: &UserId, _: &FeedUrl) -> Result<FeedReading, StoreError> {
            unimplemented!("not scanned")
        }
    }

    const A: &str = "https://a.example/feed";
    const B: &str = "https://b.example/feed";

    fn histories() -> Histories {
        Histories::default()
            .with(
                A,
                1_000,
                "a1",
                "Rust 2.0 released",
                "<p>The <b>async closures</b> land.</p>",
            )
            .with(
                A,
                2_000,
                "a2",
                "Weekly notes",
                "rust mentioned once, closures async too",
            )
            .with(A, 3_000, "a3", "Java news", "Rust and Java, async closures")
            .with(
                B,
                4_000,
                "b1",
                "Crème brûlée",
                "A recipe &amp; a rust-free pan",
            )
            .with(B, 5_000, "b2", "Rust rust rust", "rust")
    }

    async fn ids(
        history: &Histories,
        query: &str,
        order: SearchOrder,
        feeds: &[&str],
    ) -> Vec<String> {
        let query = SearchQuery {
            feeds: feeds.iter().map(|f| FeedUrl::parse(f).unwrap()).collect(),
            terms: parse(query).unwrap(),
            order,
            offset: 0,
            limit: 10,
        };
        let hits = scan(history, &query).await.unwrap();
        hits.into_iter().map(|hit| hit.entry.id).collect()
    }

    #[tokio::test]
    async fn phrases_match_words_next_to_each_other_and_excluded_words_remove_items() {
        let history = histories();
        let found = ids(
            &history,
            r#""async closures" -java"#,
            SearchOrder::Newest,
            &[A, B],
        )
        .await;
        assert_eq!(found, ["a1"]);
    }

    #[tokio::test]
    async fn newest_first_and_only_in_the_feeds_asked() {
        let history = histories();
        assert_eq!(
            ids(&history, "rust", SearchOrder::Newest, &[A, B]).await,
            ["b2", "b1", "a3", "a2", "a1"]
        );
        assert_eq!(
            ids(&history, "rust", SearchOrder::Newest, &[A]).await,
            ["a3", "a2", "a1"]
        );
    }

    #[tokio::test]
    async fn relevance_puts_title_matches_first() {
        let history = histories();
        let found = ids(&history, "rust", SearchOrder::Relevance, &[A, B]).await;
        assert_eq!(found[..2], ["b2", "a1"]);
    }

    #[tokio::test]
    async fn accents_and_entities_in_the_stored_text_match_plain_words() {
        let history = histories();
        assert_eq!(
            ids(&history, "creme \"recipe & a\"", SearchOrder::Newest, &[B]).await,
            ["b1"]
        );
    }

    #[tokio::test]
    async fn pages_are_cut_by_offset_and_limit() {
        let history = histories();
        let query = SearchQuery {
            feeds: vec![FeedUrl::parse(A).unwrap(), FeedUrl::parse(B).unwrap()],
            terms: parse("rust").unwrap(),
            order: SearchOrder::Newest,
            offset: 2,
            limit: 2,
        };
        let hits = scan(&history, &query).await.unwrap();
        let found: Vec<_> = hits.iter().map(|hit| hit.entry.id.as_str()).collect();
        assert_eq!(found, ["a3", "a2"]);
    }
}
