//! The words of items for search (`item_postings_by_feed`): how an item is cut into words, and
//! the postings written and removed with the items (`history`, `feeds`), below the search that
//! reads them (`search`).
//!
//! Words are cut by the tokenizer every store shares ([`crate::store::words`]): lower-case,
//! diacritics removed, split on anything not a letter or digit; a description is indexed as its
//! text, never its markup. Each pair of adjacent words is a term too ([`pair`]), so a phrase
//! walks the postings of its rarest pair, rare even where its words are common, instead of
//! every item holding its words.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use middletier_api::Item;
use middletier_api::domain::FeedUrl;

use super::Connected;
use super::batches::in_batches;
use crate::store::StoreError;

/// How many (feed, word) partitions a save writes at once.
const PARTITIONS_AT_ONCE: usize = 32;
/// Longer "words" (a base64 blob, a hostile feed's run of letters) are not indexed: nobody
/// searches for them, and a partition key must stay small.
const LONGEST_TERM: usize = 64;

/// The words of `text` as every store indexes them ([`store::words`](crate::store::words)),
/// without the overlong ones.
pub(super) fn words(text: &str) -> Vec<String> {
    crate::store::words::words(text)
        .filter(|word| word.chars().count() <= LONGEST_TERM)
        .collect()
}

/// Each word of `item` (title and text) with how often it occurs: what the index of schema
/// versions 6–8 held, without pairs.
pub(super) fn term_counts(item: &Item) -> HashMap<String, i32> {
    let mut counts: HashMap<String, i32> = HashMap::new();
    for (_, word) in placed_words(item) {
        let count = counts.entry(word).or_default();
        *count = count.saturating_add(1);
    }
    counts
}

/// Every term `item` is indexed under, each with where it occurs, ascending: its words, and
/// its adjacent word pairs ([`pair`]) at their first word's position.
pub(super) fn term_positions(item: &Item) -> HashMap<String, Vec<i32>> {
    let placed = placed_words(item);
    let mut positions = pairs_of(&placed);
    for (at, word) in placed {
        positions.entry(word).or_default().push(at);
    }
    positions
}

/// The adjacent word pairs of `item` ([`pair`]), each with where its first word is.
pub(super) fn pair_positions(item: &Item) -> HashMap<String, Vec<i32>> {
    pairs_of(&placed_words(item))
}

/// The term under which the index holds every place where `second` directly follows `first`.
/// A space never occurs inside a word (the tokenizer splits on it), so no word is a pair.
pub(super) fn pair(first: &str, second: &str) -> String {
    format!("{first} {second}")
}

/// The terms a phrase is looked up by: its adjacent pairs, in order (a phrase holds where each
/// pair starts one word after the one before it), or the word of a one-word phrase.
pub(super) fn phrase_terms(phrase: &[String]) -> Vec<String> {
    if phrase.len() < 2 {
        return phrase.to_vec();
    }
    phrase
        .windows(2)
        .map(|two| pair(&two[0], &two[1]))
        .collect()
}

/// The words of `item` with their positions: the title's words from 0, the text's after a gap
/// of one, so words are adjacent exactly where the content check finds them adjacent (within
/// the title or within the text, never across).
fn placed_words(item: &Item) -> Vec<(i32, String)> {
    let title = words(&item.title);
    let text = words(&crate::store::words::html_text(&item.description));
    let text_from = title.len() + 1;
    title
        .into_iter()
        .enumerate()
        .chain(
            text.into_iter()
                .enumerate()
                .map(|(at, word)| (text_from + at, word)),
        )
        // An item of more than two thousand million words has its tail unplaced, not wrapped.
        .map_while(|(at, word)| Some((i32::try_from(at).ok()?, word)))
        .collect()
}

/// The adjacent pairs of `placed` words, each with its first word's positions.
fn pairs_of(placed: &[(i32, String)]) -> HashMap<String, Vec<i32>> {
    let mut positions: HashMap<String, Vec<i32>> = HashMap::new();
    for two in placed.windows(2) {
        let ((at, first), (next, second)) = (&two[0], &two[1]);
        if at.checked_add(1) == Some(*next) {
            positions.entry(pair(first, second)).or_default().push(*at);
        }
    }
    positions
}

/// The postings of one item to remove: its id, its river time (part of each posting's key) and
/// the words.
pub(super) struct Unindexed {
    pub(super) id: String,
    pub(super) time: DateTime<Utc>,
    pub(super) terms: Vec<String>,
}

/// Writes the postings of `items` of `url` (each with its first-seen and river time): grouped by word, so each (feed, word)
/// partition gets its rows in a few unlogged batches (a save of 500 items is some thousands
/// of batches instead of 20,000 single-row writes), several partitions at once.
pub(super) async fn write_terms<'a>(
    connected: &Connected,
    url: &FeedUrl,
    items: impl IntoIterator<Item = (&'a Item, DateTime<Utc>, DateTime<Utc>)>,
) -> Result<(), StoreError> {
    // Each word's postings: river time, item id, first seen, where it occurs.
    type Postings<'a> = Vec<(DateTime<Utc>, &'a str, DateTime<Utc>, Vec<i32>)>;
    let mut by_term: HashMap<String, Postings<'a>> = HashMap::new();
    for (item, seen, time) in items {
        for (term, positions) in term_positions(item) {
            by_term
                .entry(term)
                .or_default()
                .push((time, item.id.as_str(), seen, positions));
        }
    }
    let partitions: Vec<Vec<_>> = by_term
        .iter()
        .map(|(term, postings)| {
            postings
                .iter()
                .map(|(time, id, seen, positions)| {
                    let count = i32::try_from(positions.len()).unwrap_or(i32::MAX);
                    (
                        url.as_str(),
                        term.as_str(),
                        *time,
                        *id,
                        *seen,
                        count,
                        positions,
                    )
                })
                .collect()
        })
        .collect();
    // Collected, so no closure over borrowed rows is part of the future's type.
    let writes: Vec<_> = partitions
        .into_iter()
        .map(|values| in_batches(connected, &connected.insert_posting, values))
        .collect();
    futures::stream::iter(writes)
        .buffer_unordered(PARTITIONS_AT_ONCE)
        .try_collect()
        .await
}

/// Removes the postings of `items` of `url`, grouped by word as [`write_terms`] writes them.
pub(super) async fn delete_terms(
    connected: &Connected,
    url: &FeedUrl,
    items: &[Unindexed],
) -> Result<(), StoreError> {
    let mut by_term: HashMap<&str, Vec<(DateTime<Utc>, &str)>> = HashMap::new();
    for item in items {
        for term in &item.terms {
            by_term
                .entry(term.as_str())
                .or_default()
                .push((item.time, item.id.as_str()));
        }
    }
    let partitions: Vec<Vec<_>> = by_term
        .iter()
        .map(|(term, postings)| {
            postings
                .iter()
                .map(|&(time, id)| (url.as_str(), *term, time, id))
                .collect()
        })
        .collect();
    let deletes: Vec<_> = partitions
        .into_iter()
        .map(|values| in_batches(connected, &connected.delete_posting, values))
        .collect();
    futures::stream::iter(deletes)
        .buffer_unordered(PARTITIONS_AT_ONCE)
        .try_collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_case_without_diacritics_tags_or_entities() {
        assert_eq!(
            words(&crate::store::words::html_text(
                "<p class=\"x\">Café &amp; Déjà-Vu&#8217;s ÜBER</p> 42"
            )),
            ["cafe", "deja", "vu", "s", "uber", "42"]
        );
    }

    #[test]
    fn text_positions_follow_the_title_after_a_gap() {
        let item = Item {
            id: "i".to_owned(),
            title: "Brown fox".to_owned(),
            link: None,
            description: "<p>fox <b>brown</b></p>".to_owned(),
            published: None,
            read: false,
            starred: false,
            author: None,
            enclosures: Vec::new(),
        };
        let positions = term_positions(&item);
        assert_eq!(positions["brown"], [0, 4]);
        assert_eq!(positions["fox"], [1, 3]);
        assert_eq!(term_counts(&item)["fox"], 2);
    }

    #[test]
    fn adjacent_words_are_indexed_as_pairs_within_the_title_or_the_text() {
        let item = Item {
            id: "i".to_owned(),
            title: "Brown fox".to_owned(),
            link: None,
            description: "<p>fox <b>brown</b> fox</p>".to_owned(),
            published: None,
            read: false,
            starred: false,
            author: None,
            enclosures: Vec::new(),
        };
        let positions = term_positions(&item);
        assert_eq!(positions["brown fox"], [0, 4]);
        assert_eq!(positions["fox brown"], [3], "not across the title's end");
        assert_eq!(pair_positions(&item).len(), 2, "pairs only");
        assert_eq!(
            phrase_terms(&["a".to_owned(), "b".to_owned(), "c".to_owned()]),
            ["a b", "b c"]
        );
        assert_eq!(phrase_terms(&["a".to_owned()]), ["a"]);
    }

    #[test]
    fn an_overlong_word_is_not_indexed() {
        let long = "a".repeat(LONGEST_TERM + 1);
        assert_eq!(words(&format!("short {long} end")), ["short", "end"]);
    }
}
