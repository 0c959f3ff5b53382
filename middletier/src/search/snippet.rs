//! Snippets: a title, or a short passage of an item's text, cut into [`Segment`]s where the
//! search's words start and end, so the reader can show them highlighted.
//!
//! Segments are plain text: the edge escapes each one and wraps the matched ones in `<mark>`,
//! so highlighting never needs HTML from here (and never trusts any).

use std::ops::Range;

use middletier_api::Segment;

use crate::store::SearchTerms;
use crate::store::words::{phrase_starts, word_spans};

/// About how long an excerpt is, in characters (a couple of lines).
pub const EXCERPT_CHARS: usize = 200;
/// How much text an excerpt shows before its first match, in characters.
const LEAD_CHARS: usize = 60;

/// All of `title`, its matches marked.
pub fn title(title: &str, terms: &SearchTerms) -> Vec<Segment> {
    segments(title, &matches(title, terms))
}

/// About [`EXCERPT_CHARS`] of `text` (an item's plain text) around its first match, the matches
/// marked, with `…` where text was left out; its start when nothing in it matches.
pub fn excerpt(text: &str, terms: &SearchTerms) -> Vec<Segment> {
    let found = matches(text, terms);
    let first = found.first().map_or(0, |range| range.start);
    let start = word_start_before(text, first, LEAD_CHARS);
    let end = word_end_after(text, start, EXCERPT_CHARS);
    let window: Vec<Range<usize>> = found
        .into_iter()
        .filter(|range| range.start >= start && range.end <= end)
        .map(|range| range.start - start..range.end - start)
        .collect();
    let mut out = segments(&text[start..end], &window);
    if start > 0 {
        out.insert(0, plain("…"));
    }
    if end < text.len() {
        out.push(plain("…"));
    }
    out
}

/// Byte ranges of `text` that the terms match (a required word, or a phrase from its first
/// word to its last), in order, overlapping ones merged.
fn matches(text: &str, terms: &SearchTerms) -> Vec<Range<usize>> {
    let (spans, words): (Vec<Range<usize>>, Vec<String>) = word_spans(text).unzip();
    let mut found: Vec<Range<usize>> = spans
        .iter()
        .zip(&words)
        .filter(|(_, word)| terms.words.contains(word))
        .map(|(span, _)| span.clone())
        .collect();
    for phrase in &terms.phrases {
        found.extend(
            phrase_starts(&words, phrase)
                .map(|at| spans[at].start..spans[at + phrase.len() - 1].end),
        );
    }
    found.sort_by_key(|range| range.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(found.len());
    for range in found {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// `text` cut at the edges of `marked` (in order, not overlapping).
fn segments(text: &str, marked: &[Range<usize>]) -> Vec<Segment> {
    let mut out = Vec::with_capacity(2 * marked.len() + 1);
    let mut at = 0;
    for range in marked {
        if range.start > at {
            out.push(plain(&text[at..range.start]));
        }
        out.push(Segment {
            text: text[range.clone()].to_owned(),
            matched: true,
        });
        at = range.end;
    }
    if at < text.len() || out.is_empty() {
        out.push(plain(&text[at..]));
    }
    out
}

fn plain(text: &str) -> Segment {
    Segment {
        text: text.to_owned(),
        matched: false,
    }
}

/// Where to start showing `text` so about `lead` characters come before byte `at`: at the start
/// of a word (or of the text).
fn word_start_before(text: &str, at: usize, lead: usize) -> usize {
    let Some((from, _)) = text[..at].char_indices().rev().nth(lead) else {
        return 0;
    };
    // The first space after `from`, so the excerpt does not start mid-word.
    text[from..at]
        .find(' ')
        .map_or(at, |space| from + space + 1)
}

/// Where to stop showing `text` after about `length` characters from byte `start`: at the end
/// of a word (or of the text).
fn word_end_after(text: &str, start: usize, length: usize) -> usize {
    let Some((limit, _)) = text[start..].char_indices().nth(length) else {
        return text.len();
    };
    let limit = start + limit;
    text[start..limit]
        .rfind(' ')
        .map_or(limit, |space| start + space)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::search::parse;

    fn shown(segments: &[Segment]) -> String {
        segments
            .iter()
            .map(|s| {
                if s.matched {
                    format!("[{}]", s.text)
                } else {
                    s.text.clone()
                }
            })
            .collect()
    }

    #[test]
    fn matched_words_and_phrases_are_marked_in_their_own_spelling() {
        let terms = parse(r#"rust "async closures" -java"#).unwrap();
        assert_eq!(
            shown(&title("RUST gets Async  Closures; rusty not", &terms)),
            "[RUST] gets [Async  Closures]; rusty not"
        );
        assert_eq!(
            shown(&title("Crème brûlée", &parse("creme").unwrap())),
            "[Crème] brûlée"
        );
    }

    #[test]
    fn a_title_without_matches_is_one_plain_segment() {
        let terms = parse("rust").unwrap();
        assert_eq!(title("Go news", &terms), vec![plain("Go news")]);
        assert_eq!(title("", &terms), vec![plain("")]);
    }

    #[test]
    fn markup_in_a_title_is_text_in_a_segment() {
        let terms = parse("script").unwrap();
        let segments = title("<script>alert(1)</script>", &terms);
        assert_eq!(shown(&segments), "<[script]>alert(1)</[script]>");
    }

    #[test]
    fn an_excerpt_is_cut_around_the_first_match_at_word_edges() {
        let filler = "lorem ipsum dolor ".repeat(30);
        let text = format!("{filler}the needle is here {filler}");
        let segments = excerpt(&text, &parse("needle").unwrap());
        let shown = shown(&segments);
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert!(shown.contains("the [needle] is here"), "{shown}");
        assert!(shown.chars().count() <= EXCERPT_CHARS + 2, "{shown}");
        assert!(!shown.contains("  "), "{shown}");
    }

    #[test]
    fn an_excerpt_without_a_match_is_the_start_of_the_text() {
        let segments = excerpt("short text", &parse("absent").unwrap());
        assert_eq!(segments, vec![plain("short text")]);
    }

    #[test]
    fn excerpts_cut_multi_byte_text_at_character_boundaries() {
        let text = "é".repeat(1000) + " match " + &"日本".repeat(500);
        let segments = excerpt(&text, &parse("match").unwrap());
        assert!(shown(&segments).contains("[match]"));
    }
}
