//! Search in this store: the FTS5 index `items_search` over the history's titles and text.
//!
//! User text never reaches FTS5's query language: every word and phrase is split into words
//! here (the same rule as the index's tokenizer: anything not a letter or digit separates
//! words) and each becomes an FTS5 string in double quotes, so `"`, `*`, `:`, `^`, `-`,
//! parentheses, `NEAR`, `AND`, `OR` and `NOT` in a query are searched as the words they
//! contain, never read as syntax.
//!
//! Newest first is the index's own order (its rowid is the item's `river_key`), so a page of a
//! common word's matches reads only that page's rows, not every match; its hits' score is their
//! river time, because bm25 would cost what this order avoids: before its first row it counts
//! every match of each term, for their weight. Relevance ranks with bm25, titles weighing more
//! than text, the newest [`RELEVANCE_WINDOW`] matches in scope only (as every store does): a
//! first walk of the index newest first finds the river key of the last of them, and the
//! ranking reads only matches from that key on (FTS5 takes the rowid bound into its walk).
//! Scoring, reading each match's row and sorting cost per match, so this bounds them; bm25's
//! count of each term's matches still reads the term's whole index entry, which is cheap
//! beside them.

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use super::history::json_array;
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

/// The search in `order`: `?1` the FTS5 query, `?2` the feeds (a JSON array), `?3` the limit,
/// `?4` the offset; the columns are a hit's feed, id, time, seen and score.
fn search_sql(order: SearchOrder) -> String {
    // CROSS JOIN keeps the index the outer loop, so its order is the answer's and LIMIT stops
    // the walk; the feeds' filter is a probe into their (ephemeral) set per match.
    let matches = "FROM items_search CROSS JOIN items ON items.river_key = items_search.rowid \
         WHERE items_search MATCH ?1 \
         AND items.feed_url IN (SELECT value FROM json_each(?2))";
    let (score, window, order) = match order {
        SearchOrder::Newest => ("items.time", String::new(), "items_search.rowid DESC"),
        SearchOrder::Relevance => (
            RELEVANCE,
            // No match in scope leaves the bound NULL, and the answer empty.
            format!(
                "AND items_search.rowid >= (SELECT min(key) FROM \
                 (SELECT items_search.rowid AS key {matches} \
                 ORDER BY items_search.rowid DESC LIMIT {RELEVANCE_WINDOW}))"
            ),
            "score DESC, items_search.rowid DESC",
        ),
    };
    format!(
        "SELECT items.feed_url, items.item_id, items.time, items.seen, {score} AS score \
         {matches} {window} ORDER BY {order} LIMIT ?3 OFFSET ?4"
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

    /// The ranking must not read every match of a common word: its walk of the index starts
    /// at the window's bound (FTS5 names a rowid lower bound `>` in its plan), and only the
    /// window's own walk goes newest first to find it.
    #[tokio::test]
    async fn best_match_first_walks_the_index_only_from_the_newest_windows_bound() {
        let dir =
            std::env::temp_dir().join(format!("middletier-search-plan-{}", std::process::id()));
        let store = SqliteStore::open(&dir.join("rss.db")).await.expect("open");
        let sql = search_sql(SearchOrder::Relevance);
        let plan = store
            .read(move |tx| {
                let mut statement = tx.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows = statement
                    .query_map(params!["\"word\"", "[]", 20, 0], |row| {
                        row.get::<_, String>(3)
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
            .expect("plan");
        let _ = std::fs::remove_dir_all(&dir);
        let scans: Vec<&String> = plan
            .iter()
            .filter(|step| step.starts_with("SCAN items_search"))
            .collect();
        assert_eq!(scans.len(), 2, "{plan:#?}");
        assert!(
            scans[0].ends_with('>'),
            "ranking bounded by the window: {plan:#?}"
        );
        assert!(
            plan.iter().any(|step| step.contains("SCALAR SUBQUERY")),
            "the bound found once: {plan:#?}"
        );
    }
}
