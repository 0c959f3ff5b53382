//! What a word is, for search: the one tokenizer every store indexes with and every query is
//! parsed with, so a word typed matches the same word stored whichever store answers.
//!
//! It sits beside the [`SearchTerms`](super::SearchTerms) it produces (the query parser in
//! `crate::search` and the stores both use it; a tokenizer of the search module would make the
//! stores import the layer above them). It follows SQLite FTS5's `unicode61` tokenizer with
//! `remove_diacritics 2`, so the SQLite store's index and this agree: lower-case, diacritics
//! removed, and anything that is not a letter or digit separates words.

use std::ops::Range;

/// The words of `text`, lower-case and without diacritics, in order.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    word_spans(text).map(|(_, word)| word)
}

/// Each word of `text` with where it is in `text` (byte range), so a match can be shown in the
/// original spelling.
pub fn word_spans(text: &str) -> impl Iterator<Item = (Range<usize>, String)> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        // Skip separators; combining marks alone (no letter before them) are separators too.
        let start = loop {
            let &(at, c) = chars.peek()?;
            if c.is_alphanumeric() {
                break at;
            }
            chars.next();
        };
        let mut word = String::new();
        let mut end = start;
        while let Some(&(at, c)) = chars.peek() {
            if c.is_alphanumeric() {
                push_folded(&mut word, c);
            } else if !is_combining_mark(c) {
                break;
            }
            end = at + c.len_utf8();
            chars.next();
        }
        Some((start..end, word))
    })
}

/// `c` lower-cased with its diacritics removed, onto `word`.
fn push_folded(word: &mut String, c: char) {
    if c.is_ascii() {
        word.push(c.to_ascii_lowercase());
        return;
    }
    for lower in c.to_lowercase() {
        word.push(without_diacritic(lower));
    }
}

/// Combining diacritical marks (U+0300 to U+036F): a decomposed accent, dropped from the word
/// it sits on, as FTS5 drops it.
fn is_combining_mark(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

/// The base letter of a lower-case Latin letter with a diacritic (Latin-1 Supplement and
/// Latin Extended-A, the accents of the languages feeds are mostly written in); any other
/// character as it is. A small table in place of full Unicode decomposition (a dependency the
/// workspace does not otherwise need); letters with no decomposition (ø, ß, æ, đ, ł) stay, as
/// in FTS5.
fn without_diacritic(c: char) -> char {
    match c {
        'à'..='å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => 'c',
        'ď' => 'd',
        'è'..='ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ĥ' => 'h',
        'ì'..='ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' => 'i',
        'ĵ' => 'j',
        'ķ' => 'k',
        'ĺ' | 'ļ' | 'ľ' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' => 'n',
        'ò'..='ö' | 'ō' | 'ŏ' | 'ő' => 'o',
        'ŕ' | 'ŗ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' => 's',
        'ţ' | 'ť' => 't',
        'ù'..='ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ŵ' => 'w',
        'ý' | 'ÿ' | 'ŷ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        other => other,
    }
}

/// Where `phrase` starts in `words` (every occurrence, by index): its words next to each other,
/// in order.
pub fn phrase_starts<'a>(
    words: &'a [String],
    phrase: &'a [String],
) -> impl Iterator<Item = usize> + 'a {
    let last = words.len().saturating_sub(phrase.len().saturating_sub(1));
    (0..last).filter(move |&at| !phrase.is_empty() && words[at..].starts_with(phrase))
}

/// The text of a description's (already sanitized) HTML, what search indexes: tags become
/// spaces (so `<p>a</p><p>b</p>` is two words), character references are decoded, runs of white
/// space become one space.
pub fn html_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        text.push(' ');
        rest = &rest[open..];
        // The tag ends at the first `>` outside a quoted attribute value (sanitized HTML can
        // hold `>` in a title="…").
        let mut quote = None;
        let end = rest.char_indices().skip(1).find_map(|(at, c)| {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '>') => return Some(at),
                _ => {}
            }
            None
        });
        match end {
            Some(end) => rest = &rest[end + 1..],
            // An unclosed tag: nothing after it is text.
            None => rest = "",
        }
    }
    text.push_str(rest);
    let decoded = crate::feed::decode_entities(&text);
    let mut out = String::with_capacity(decoded.len());
    for word in decoded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn all(text: &str) -> Vec<String> {
        words(text).collect()
    }

    #[test]
    fn words_are_lower_case_split_on_anything_but_letters_and_digits() {
        assert_eq!(
            all("Rust 1.80: async-closures, (finally)!"),
            ["rust", "1", "80", "async", "closures", "finally"]
        );
    }

    #[test]
    fn diacritics_are_removed_precomposed_or_combining() {
        assert_eq!(all("Crème BRÛLÉE Łódź"), ["creme", "brulee", "łodz"]);
        assert_eq!(all("Cre\u{300}me"), ["creme"]);
        assert_eq!(all("straße ÆON"), ["straße", "æon"]);
    }

    #[test]
    fn other_scripts_are_words_too_their_accents_kept() {
        assert_eq!(all("Ελληνικά 日本語"), ["ελληνικά", "日本語"]);
    }

    #[test]
    fn spans_point_at_the_original_spelling() {
        let text = "Hello, Wörld";
        let spans: Vec<_> = word_spans(text).collect();
        assert_eq!(&text[spans[1].0.clone()], "Wörld");
        assert_eq!(spans[1].1, "world");
    }

    #[test]
    fn hostile_text_yields_no_empty_words() {
        assert!(
            all("\u{0}\u{7}\u{1b}[31m --- \"\"\" \u{301}\u{301}")
                .iter()
                .all(|w| !w.is_empty())
        );
        assert_eq!(all("\u{301}abc"), ["abc"]);
        let quotes = "\"".repeat(100_000);
        assert_eq!(all(&quotes).len(), 0);
    }

    #[test]
    fn phrases_are_found_only_with_their_words_next_to_each_other_in_order() {
        let text: Vec<String> = words("the quick fox, the quick brown fox").collect();
        let phrase = |p: &str| words(p).collect::<Vec<_>>();
        assert_eq!(
            phrase_starts(&text, &phrase("the quick")).collect::<Vec<_>>(),
            [0, 3]
        );
        assert_eq!(
            phrase_starts(&text, &phrase("quick fox")).collect::<Vec<_>>(),
            [1]
        );
        assert_eq!(phrase_starts(&text, &phrase("fox quick")).count(), 0);
        assert_eq!(phrase_starts(&text, &phrase("brown fox the")).count(), 0);
    }

    #[test]
    fn html_text_drops_tags_and_decodes_references() {
        assert_eq!(
            html_text("<p>Fish &amp; chips</p><p>caf&eacute; <a title=\"a>b\">here</a></p>"),
            "Fish & chips café here"
        );
        assert_eq!(html_text("a<b"), "a");
        assert_eq!(html_text("&lt;script&gt;"), "<script>");
    }
}
