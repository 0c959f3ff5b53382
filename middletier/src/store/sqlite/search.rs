//! Search in this store: the FTS5 index `items_search` over the history's titles and text.
//!
//! User text never reaches FTS5's query language: every word and phrase is split into words
//! here (the same rule as the index's tokenizer: anything not a letter or digit separates
//! words) and each becomes an FTS5 string in double quotes, so `"`, `*`, `:`, `^`, `-`,
//! parentheses, `NEAR`, `AND`, `OR` and `NOT` in a query are searched as the words they
//! contain, never read as syntax.
//!
//! Newest first is the index's own order (its rowid is the item's `river_key`), so a page of a
//! common word's matches walks only as far as that page, not every match; its hits' score is
//! their river time, because bm25 would cost what this order avoids: before its first row it
//! counts every match of each term, for their weight. Relevance ranks with bm25, titles
//! weighing more than text, the newest [`RELEVANCE_WINDOW`] matches in scope only (as every
//! store does): the same walk newest first scores each match in scope and stops at the
//! window's last. bm25's count of each term's matches reads the term's whole index entry, a
//! few milliseconds for a word in a third of a million items, beside the window's scoring.
//!
//! What a match costs on the way is its feed, to check the scope: it is read from the narrow
//! index `items_feed_by_key` (river key and feed), not from the match's `items` row, whose
//! title, HTML and text make it kilobytes; the `items` rows are read for the page's hits only.

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, json_array};
use crate::store::{
    HistoryEntry, RELEVANCE_WINDOW, SearchHit, SearchOrder, SearchQuery, SearchStore, SearchTerms,
    StoreError,
};
use middletier_api::domain::FeedUrl;

/// Relevance: bm25 (lower is better, hence negated), its weights those of the indexed columns
/// in order: a word in the title counts for more.
const RELEVANCE: &str = "-bm25(items_search, 10.0, 1.0)";

#[async_trait]
impl SearchStore for SqliteStore {
    /// A query with nothing required (no word or phrase, or only excluded words; a word of
    /// only punctuation has no words in it) matches nothing: the answer is empty, not an
    /// error, like a search for a word no item has.
    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        let Some(expression) = match_expression(&query.terms) else {
            return Ok(Vec::new());
        };
        if query.feeds.is_empty() || query.limit == 0 {
            return Ok(Vec::new());
        }
        let feeds: Vec<&str> = query.feeds.iter().map(FeedUrl::as_str).collect();
        let feeds = json_array(&feeds)?;
        let sql = search_sql(query.order);
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
        self.read(move |tx| {
            let mut statement = tx.prepare_cached(&sql)?;
            let rows = statement
                .query_map(params![expression, feeds, limit, offset], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        HistoryEntry {
                            id: row.get(1)?,
                            time: row.get(2)?,
                            seen: row.get(3)?,
                        },
                        // An integer (river time) newest first, a real by relevance.
                        row.get::<_, f64>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows
                .into_iter()
                .filter_map(|(feed, entry, score)| {
                    Some(SearchHit {
                        feed: FeedUrl::parse(&feed).ok()?,
                        entry,
                        score,
                    })
                })
                .collect())
        })
        .await
    }
}

/// The matches in scope (`?1` the FTS5 query, `?2` the feeds as a JSON array), to be read
/// newest first. CROSS JOIN keeps the index the outer loop, so its order can be the answer's
/// and a LIMIT stops the walk. Each match's feed is read from `items_feed_by_key` (river key
/// and feed only) instead of its `items` row, which holds its whole text; the `+` keeps the
/// feeds a set probed per match rather than a lookup of that index per feed.
const IN_SCOPE: &str = "FROM items_search \
     CROSS JOIN items AS scope INDEXED BY items_feed_by_key \
     ON scope.river_key = items_search.rowid \
     WHERE items_search MATCH ?1 AND +scope.feed_url IN (SELECT value FROM json_each(?2))";

/// The search in `order`: `?1` the FTS5 query, `?2` the feeds (a JSON array), `?3` the limit,
/// `?4` the offset; the columns are a hit's feed, id, time, seen and score. The page's keys
/// are found first; only its hits' `items` rows are read.
fn search_sql(order: SearchOrder) -> String {
    let (page, score, order) = match order {
        SearchOrder::Newest => (
            format!(
                "SELECT items_search.rowid AS key {IN_SCOPE} \
                 ORDER BY items_search.rowid DESC LIMIT ?3 OFFSET ?4"
            ),
            "items.time",
            "page.key DESC",
        ),
        SearchOrder::Relevance => (
            // One walk newest first, scoring each match in scope as it passes, stops at the
            // window's last; only the window is sorted. (A second walk from the window's
            // oldest key, to score apart, cost more than scoring on the way.)
            format!(
                "SELECT key, score FROM \
                 (SELECT items_search.rowid AS key, {RELEVANCE} AS score {IN_SCOPE} \
                 ORDER BY items_search.rowid DESC LIMIT {RELEVANCE_WINDOW}) \
                 ORDER BY score DESC, key DESC LIMIT ?3 OFFSET ?4"
            ),
            "page.score",
            "page.score DESC, page.key DESC",
        ),
    };
    format!(
        "SELECT items.feed_url, items.item_id, items.time, items.seen, {score} \
         FROM ({page}) AS page CROSS JOIN items ON items.river_key = page.key \
         ORDER BY {order}"
    )
}

/// The FTS5 query for `terms`: every word and phrase required, then each excluded word
/// subtracted with `NOT`; `None` when nothing is required.
fn match_expression(terms: &SearchTerms) -> Option<String> {
    let required: Vec<String> = terms
        .words
        .iter()
        .map(|word| fts_string(std::slice::from_ref(word)))
        .chain(terms.phrases.iter().map(|phrase| fts_string(phrase)))
        .flatten()
        .collect();
    if required.is_empty() {
        return None;
    }
    let mut expression = required.join(" AND ");
    for excluded in &terms.excluded {
        if let Some(excluded) = fts_string(std::slice::from_ref(excluded)) {
            expression = format!("({expression}) NOT {excluded}");
        }
    }
    Some(expression)
}

/// `words` as one FTS5 string (a phrase when it holds several words), or `None` when they hold
/// no word at all. Quotes are doubled as FTS5 escapes them, though splitting has already
/// removed every one.
fn fts_string(words: &[String]) -> Option<String> {
    let words: Vec<&str> = words
        .iter()
        .flat_map(|word| word.split(|c: char| !c.is_alphanumeric()))
        .filter(|word| !word.is_empty())
        .collect();
    if words.is_empty() {
        return None;
    }
    Some(format!("\"{}\"", words.join(" ").replace('"', "\"\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(words: &[&str], phrases: &[&[&str]], excluded: &[&str]) -> SearchTerms {
        let owned = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect();
        SearchTerms {
            words: owned(words),
            phrases: phrases.iter().map(|p| owned(p)).collect(),
            excluded: owned(excluded),
        }
    }

    #[test]
    fn every_term_is_quoted_and_excluded_words_are_subtracted() {
        let expression = match_expression(&terms(&["rust"], &[&["type", "safety"]], &["go"]));
        assert_eq!(
            expression.as_deref(),
            Some(r#"("rust" AND "type safety") NOT "go""#)
        );
    }

    #[test]
    fn query_syntax_in_a_word_becomes_the_words_it_contains() {
        let expression = match_expression(&terms(
            &["\"x\" OR title:y*", "NEAR(a b)", "^c-d"],
            &[],
            &[],
        ));
        assert_eq!(
            expression.as_deref(),
            Some(r#""x OR title y" AND "NEAR a b" AND "c d""#)
        );
    }

    #[test]
    fn a_query_with_nothing_required_matches_nothing() {
        assert_eq!(match_expression(&terms(&[], &[], &["go"])), None);
        assert_eq!(match_expression(&terms(&["*", "\"\""], &[], &[])), None);
    }

    /// A common word has hundreds of thousands of matches, so what each match costs decides a
    /// search's time: in either order the index is walked once, newest first (FTS5's plan
    /// names no sort of its own, and no second walk), each match's scope is checked in the
    /// narrow index, and `items` rows are read outside that walk, for the page only.
    #[tokio::test]
    async fn a_search_walks_the_index_once_and_reads_item_rows_for_its_page_only() {
        let dir =
            std::env::temp_dir().join(format!("middletier-search-plan-{}", std::process::id()));
        let store = SqliteStore::open(&dir.join("rss.db")).await.expect("open");
        for order in [SearchOrder::Newest, SearchOrder::Relevance] {
            let sql = search_sql(order);
            let plan = store
                .read(move |tx| {
                    let mut statement = tx.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                    let rows = statement
                        .query_map(params!["\"word\"", "[]", 20, 0], |row| {
                            Ok((row.get::<_, i64>(1)?, row.get::<_, String>(3)?))
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(rows)
                })
                .await
                .expect("plan");
            let steps = |prefix: &str| -> Vec<&(i64, String)> {
                plan.iter()
                    .filter(|(_, step)| step.starts_with(prefix))
                    .collect()
            };
            let walks = steps("SCAN items_search");
            assert_eq!(walks.len(), 1, "{order:?}: one walk: {plan:#?}");
            assert_ne!(
                walks[0].0, 0,
                "{order:?}: the walk finds the page: {plan:#?}"
            );
            assert_eq!(
                steps("SEARCH scope USING COVERING INDEX items_feed_by_key").len(),
                1,
                "{order:?}: the scope from the narrow index: {plan:#?}"
            );
            let rows = steps("SEARCH items USING INTEGER PRIMARY KEY");
            assert_eq!(rows.len(), 1, "{order:?}: {plan:#?}");
            assert_eq!(rows[0].0, 0, "{order:?}: rows read for the page: {plan:#?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
