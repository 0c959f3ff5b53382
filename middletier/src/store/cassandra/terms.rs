//! The words of items for search (`item_terms_by_feed`): how an item is cut into words, and
//! the index rows written and removed with the items (`history`, `feeds`, `upgrade`), below the
//! search that reads them (`search`).
//!
//! Words are cut by the tokenizer every store shares ([`crate::store::words`]): lower-case,
//! diacritics removed, split on anything not a letter or digit; a description is indexed as its
//! text, never its markup.

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

/// The words of `text` as every store indexes them ([`store::words`](crate::store::words)),
/// without the overlong ones.
pub(super) fn words(text: &str) -> Vec<String> {
    crate::store::words::words(text)
        .filter(|word| word.chars().count() <= LONGEST_TERM)
        .collect()
}

/// Each word of `item` (title and text) with how often it occurs.
pub(super) fn term_counts(item: &Item) -> HashMap<String, i32> {
    let mut counts = HashMap::new();
    for word in words(&item.title)
        .into_iter()
        .chain(words(&crate::store::words::html_text(&item.description)))
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
            words(&crate::store::words::html_text(
                "<p class=\"x\">Café &amp; Déjà-Vu&#8217;s ÜBER</p> 42"
            )),
            ["cafe", "deja", "vu", "s", "uber", "42"]
        );
    }

    #[test]
    fn an_overlong_word_is_not_indexed() {
        let long = "a".repeat(LONGEST_TERM + 1);
        assert_eq!(words(&format!("short {long} end")), ["short", "end"]);
    }
}
