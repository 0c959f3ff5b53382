//! Text helpers for presenting feeds: titles as plain text, HTML escaping, HTML character
//! references decoded (with the named-entity table ammonia's parser already compiles), and
//! addresses made absolute web URLs.

use std::borrow::Cow;

use feed_rs::model::Text;

use middletier_api::limits::{MAX_TITLE_BYTES, MAX_URL_LEN};

/// Titles are shown as text: tags removed, entities decoded (templates escape on output), at
/// most [`MAX_TITLE_BYTES`] long (cut at a character boundary, ending in `…`).
pub(super) fn plain_text(text: &Text) -> String {
    // More than enough input for the longest title: what is past it costs no work.
    let content = &text.content[..floor_char_boundary(&text.content, 16 * MAX_TITLE_BYTES)];
    let stripped = if text.content_type.subty() == "plain" {
        // Text that is plain by the spec still carries HTML entities in the wild (&nbsp;,
        // &eacute; inside CDATA): shown as what they mean, as feedparser does.
        decode_entities(content).into_owned()
    } else {
        unescape_html(&ammonia::Builder::empty().clean(content).to_string())
    };
    // Control characters (which some feeds carry through unescaped) are dropped, runs of
    // white space become one space.
    let mut words = String::with_capacity(stripped.len());
    for word in stripped.split_whitespace() {
        if !words.is_empty() {
            words.push(' ');
        }
        words.extend(word.chars().filter(|c| !c.is_control()));
        if words.len() > MAX_TITLE_BYTES {
            break;
        }
    }
    if words.len() > MAX_TITLE_BYTES {
        const ELLIPSIS: &str = "…";
        words.truncate(floor_char_boundary(
            &words,
            MAX_TITLE_BYTES - ELLIPSIS.len(),
        ));
        words.push_str(ELLIPSIS);
    }
    words
}

/// `href` made absolute against `base`, if it is a web URL no longer than the API accepts
/// ([`MAX_URL_LEN`]): a longer one is dropped, not cut (a cut link leads elsewhere).
pub(super) fn web_url(base: &url::Url, href: &str) -> Option<String> {
    base.join(href)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .map(String::from)
        .filter(|url| url.len() <= MAX_URL_LEN)
}

pub(super) fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `text` with HTML character references (named, decimal, hex) decoded; unknown ones stay.
pub(crate) fn decode_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.as_bytes().iter().take(40).position(|&b| b == b';');
        let decoded = end.and_then(|end| {
            let name = &rest[1..end];
            let decoded = if let Some(number) = name.strip_prefix('#') {
                let value = match number.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => number.parse().ok(),
                };
                value
                    .and_then(char::from_u32)
                    .filter(|c| *c != '\0')
                    .map(String::from)
            } else {
                markup5ever::data::NAMED_ENTITIES
                    .get(&rest[1..=end])
                    .filter(|(first, _)| *first != 0)
                    .map(|&(first, second)| {
                        [first, second]
                            .into_iter()
                            .filter(|c| *c != 0)
                            .filter_map(char::from_u32)
                            .collect()
                    })
            };
            decoded.map(|decoded| (decoded, end + 1))
        });
        match decoded {
            Some((decoded, length)) => {
                out.push_str(&decoded);
                rest = &rest[length..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The largest character boundary in `text` at or before `at`.
pub(super) fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Undoes exactly the escaping ammonia applies to text.
fn unescape_html(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}
