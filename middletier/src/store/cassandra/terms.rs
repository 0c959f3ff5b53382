//! The words of items for search (`item_terms_by_feed`): how an item is cut into words, and
//! the index rows written and removed with the items (`history`, `feeds`, `upgrade`), below the
//! search that reads them (`search`).
//!
//! Words follow the search's rules: lower-case, diacritics removed, split on anything not a
//! letter or digit. This is a small tokenizer of the store's own until the search's shared one
//! replaces it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use middletier_api::Item;
use middletier_api::domain::FeedUrl;

use super::{Connected, query_failed};
use crate::store::StoreError;

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
    const FOLDS: &[(&str, char)] = &[
        ("àáâãäåāăą", 'a'),
        ("çćĉċč", 'c'),
        ("ďđ", 'd'),
        ("èéêëēĕėęě", 'e'),
        ("ĝğġģ", 'g'),
        ("ĥħ", 'h'),
        ("ìíîïĩīĭįı", 'i'),
        ("ĵ", 'j'),
        ("ķ", 'k'),
        ("ĺļľŀł", 'l'),
        ("ñńņň", 'n'),
        ("òóôõöøōŏő", 'o'),
        ("ŕŗř", 'r'),
        ("śŝşš", 's'),
        ("ţťŧ", 't'),
        ("ùúûüũūŭůűų", 'u'),
        ("ŵ", 'w'),
        ("ýÿŷ", 'y'),
        ("źżž", 'z'),
    ];
    FOLDS
        .iter()
        .find(|(from, _)| from.contains(c))
        .map_or(c, |&(_, to)| to)
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
    fn latin_letters_fold_to_their_base_letter() {
        assert_eq!(
            words("Ŕíšøťžÿ Ångström Łódź"),
            ["risotzy", "angstrom", "lodz"]
        );
    }

    #[test]
    fn an_overlong_word_is_not_indexed() {
        let long = "a".repeat(LONGEST_TERM + 1);
        assert_eq!(words(&format!("short {long} end")), ["short", "end"]);
    }
}
