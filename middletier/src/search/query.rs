//! The query language: what a reader types into the search box, parsed into
//! [`SearchTerms`].
//!
//! - `word`: items containing the word (every word given is required);
//! - `"a phrase"`: the words next to each other in this order (an unclosed quote runs to the end);
//! - `-word`: items without the word (`-"two words"`: without either);
//! - `node.js` or `e-mail`, one word to the reader but two to the tokenizer: a phrase.
//!
//! Nothing else is an operator: `OR`, `NEAR`, `*`, `^`, `:` are words or separators like any
//! other, so no store's own query syntax (FTS5's) can be reached through it.

use middletier_api::limits::{MAX_QUERY_CHARS, MAX_QUERY_WORDS};

use crate::store::SearchTerms;
use crate::store::words::words;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("a search can be at most {MAX_QUERY_CHARS} characters long")]
    TooLong,
    #[error("a search can have at most {MAX_QUERY_WORDS} words")]
    TooManyWords,
    #[error("type at least one word to find (a search of only excluded words finds everything)")]
    NoWords,
}

/// Parses `query` (see the module documentation for the syntax).
pub fn parse(query: &str) -> Result<SearchTerms, QueryError> {
    // Checked before any work, so a long input costs nothing more than its length.
    if query.len() > 4 * MAX_QUERY_CHARS || query.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong);
    }
    let mut terms = SearchTerms::default();
    let mut count = 0;
    for (excluded, chunk) in chunks(query) {
        let chunk: Vec<String> = words(chunk).collect();
        count += chunk.len();
        if count > MAX_QUERY_WORDS {
            return Err(QueryError::TooManyWords);
        }
        match (excluded, chunk.len()) {
            (_, 0) => {}
            (true, _) => terms.excluded.extend(chunk),
            (false, 1) => terms.words.extend(chunk),
            (false, _) => terms.phrases.push(chunk),
        }
    }
    dedup(&mut terms.words);
    dedup(&mut terms.excluded);
    dedup(&mut terms.phrases);
    if terms.words.is_empty() && terms.phrases.is_empty() {
        return Err(QueryError::NoWords);
    }
    Ok(terms)
}

/// The query's pieces: quoted phrases and chunks separated by space or control characters, each with whether a `-`
/// excludes it.
fn chunks(query: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let space = |c: char| c.is_whitespace() || c.is_control();
    let mut rest = query.trim_start_matches(space);
    while !rest.is_empty() {
        let (excluded, body) = match rest.strip_prefix('-') {
            Some(body) => (true, body),
            None => (false, rest),
        };
        let (chunk, after) = match body.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
            None => match body.find(|c: char| space(c) || c == '"') {
                Some(end) => body.split_at(end),
                None => (body, ""),
            },
        };
        out.push((excluded, chunk));
        rest = after.trim_start_matches(space);
    }
    out
}

fn dedup<T: PartialEq>(list: &mut Vec<T>) {
    let mut seen = 0;
    while seen < list.len() {
        if list[..seen].contains(&list[seen]) {
            list.remove(seen);
        } else {
            seen += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn terms(words: &[&str], phrases: &[&[&str]], excluded: &[&str]) -> SearchTerms {
        let owned = |list: &[&str]| list.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        SearchTerms {
            words: owned(words),
            phrases: phrases.iter().map(|p| owned(p)).collect(),
            excluded: owned(excluded),
        }
    }

    #[test]
    fn words_phrases_and_exclusions_are_parsed() {
        assert_eq!(
            parse(r#"Rust "Async Closures" -nightly -"release notes""#),
            Ok(terms(
                &["rust"],
                &[&["async", "closures"]],
                &["nightly", "release", "notes"]
            ))
        );
    }

    #[test]
    fn words_joined_by_punctuation_are_a_phrase() {
        assert_eq!(parse("node.js"), Ok(terms(&[], &[&["node", "js"]], &[])));
        assert_eq!(parse("\"café\""), Ok(terms(&["cafe"], &[], &[])));
    }

    #[test]
    fn repeated_terms_count_once() {
        assert_eq!(parse("rust RUST Rüst"), Ok(terms(&["rust"], &[], &[])));
    }

    #[test]
    fn an_unbalanced_quote_runs_to_the_end() {
        assert_eq!(
            parse("tokio \"graceful shutdown"),
            Ok(terms(&["tokio"], &[&["graceful", "shutdown"]], &[]))
        );
        assert_eq!(parse("\"\"\"\" rust \""), Ok(terms(&["rust"], &[], &[])));
    }

    #[test]
    fn store_query_operators_are_plain_words() {
        assert_eq!(
            parse("a NEAR b AND c OR d NOT e* ^f title:g"),
            Ok(terms(
                &["a", "near", "b", "and", "c", "or", "d", "not", "e", "f"],
                &[&["title", "g"]],
                &[]
            ))
        );
    }

    #[test]
    fn control_characters_separate_words() {
        assert_eq!(
            parse("one\u{0}two\u{1b}[0m"),
            Ok(terms(&["one", "two", "0m"], &[], &[]))
        );
    }

    #[test]
    fn a_query_with_nothing_to_find_is_refused() {
        for query in ["", "   ", "-", "- -", "-rust", "\"\"", "***", "\u{7}\u{7}"] {
            assert_eq!(parse(query), Err(QueryError::NoWords), "{query:?}");
        }
    }

    #[test]
    fn an_over_long_query_is_refused_naming_the_limit() {
        let quotes = "\"".repeat(100_000);
        assert_eq!(parse(&quotes), Err(QueryError::TooLong));
        assert_eq!(parse(&"é".repeat(MAX_QUERY_CHARS)).map(|_| ()), Ok(()));
        let error = parse(&"a".repeat(MAX_QUERY_CHARS + 1)).unwrap_err();
        assert!(error.to_string().contains("256"), "{error}");
    }

    #[test]
    fn too_many_words_are_refused_naming_the_limit() {
        let many = (0..=MAX_QUERY_WORDS)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>();
        let error = parse(&many.join(" ")).unwrap_err();
        assert_eq!(error, QueryError::TooManyWords);
        assert!(error.to_string().contains("16"));
        assert!(parse(&many[1..].join(" ")).is_ok());
    }
}
