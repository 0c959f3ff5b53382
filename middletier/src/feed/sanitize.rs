//! Feed HTML made safe to show, with ammonia's allow-list ([`sanitize_html`]). Markup nested
//! too deep for the HTML parser under ammonia to handle in linear time is shown as its text.
//!
//! # Bounded output
//! Sanitizing can make HTML longer: relative links become absolute (an 11-byte `<img src=.>`
//! under a 2,000-character feed URL becomes 2 KB), links gain a `rel`. So every step is
//! bounded: the input is cut to [`MAX_DESCRIPTION_INPUT_BYTES`] first, the links made absolute
//! in one description add at most [`MAX_DESCRIPTION_BYTES`] (later relative links are
//! dropped), and the result is cut to [`MAX_DESCRIPTION_BYTES`] by [`truncate_html`], which
//! cuts only between tags, entities and characters and closes what is still open.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};

use middletier_api::limits::MAX_DESCRIPTION_BYTES;

use super::text::{decode_entities, escape_html, floor_char_boundary};

/// Longest description input sanitized, in bytes; the rest is dropped before any work. Twice
/// the output cap, so markup the sanitizer removes (scripts, styles, comments) still leaves a
/// full description.
pub const MAX_DESCRIPTION_INPUT_BYTES: usize = 2 * MAX_DESCRIPTION_BYTES;

/// Feed HTML is untrusted: keep formatting, drop scripts, styles, event handlers and any URL
/// scheme but http(s)/mailto; make relative links absolute; links open without a referrer.
///
/// HTML nested deeper than [`MAX_HTML_DEPTH`] is shown as its text: the HTML parser under
/// ammonia checks the open elements at every tag, so depth costs it quadratic time (200,000
/// unclosed `<div>` take minutes), and no real post nests that deep.
///
/// The result is at most [`MAX_DESCRIPTION_BYTES`] long (see the module's docs).
pub fn sanitize_html(html: &str, base: &url::Url) -> String {
    let html = bounded_input(html);
    let clean = if html_depth_exceeds(html, MAX_HTML_DEPTH) {
        escape_html(&text_of_markup(html))
    } else {
        let absolute = AbsoluteLinks {
            base: base.clone(),
            budget: AtomicUsize::new(MAX_DESCRIPTION_BYTES),
        };
        SANITIZER.with_borrow_mut(|sanitizer| {
            sanitizer
                .url_relative(ammonia::UrlRelative::Custom(Box::new(absolute)))
                .clean(html)
                .to_string()
        })
    };
    into_bounded(clean)
}

/// `html` cut to [`MAX_DESCRIPTION_BYTES`] (see [`truncate_html`]).
pub(super) fn into_bounded(html: String) -> String {
    match truncate_html(&html, MAX_DESCRIPTION_BYTES) {
        Cow::Borrowed(_) => html,
        Cow::Owned(cut) => cut,
    }
}

/// At most [`MAX_DESCRIPTION_INPUT_BYTES`] of `text`, cut at a character boundary. The HTML
/// parser closes whatever the cut leaves open, and drops a tag cut in half.
pub(super) fn bounded_input(text: &str) -> &str {
    &text[..floor_char_boundary(text, MAX_DESCRIPTION_INPUT_BYTES)]
}

/// Relative links made absolute against the feed's URL, until they have added a
/// description's worth of bytes: the links after that are dropped, so `<img src=.>` repeated
/// cannot make one description hundreds of times its size.
struct AbsoluteLinks {
    base: url::Url,
    budget: AtomicUsize,
}

impl ammonia::UrlRelativeEvaluate<'static> for AbsoluteLinks {
    fn evaluate<'url>(&self, relative: &'url str) -> Option<Cow<'url, str>> {
        let absolute = String::from(self.base.join(relative).ok()?);
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(absolute.len())
            })
            .ok()?;
        Some(Cow::Owned(absolute))
    }
}

thread_local! {
    /// One allow-list per thread: building an `ammonia::Builder` (hash sets of the allowed
    /// tags, attributes and schemes) and dropping it for every description made sanitizing
    /// about twice as slow (`benches/feed_engine.rs`). Only the link rewriter (the base URL
    /// and its budget) changes per call.
    static SANITIZER: std::cell::RefCell<ammonia::Builder<'static>> = {
        let mut sanitizer = ammonia::Builder::default();
        sanitizer.link_rel(Some("noopener noreferrer nofollow"));
        std::cell::RefCell::new(sanitizer)
    };
}

/// How deep sanitized HTML may nest (see [`sanitize_html`]).
pub const MAX_HTML_DEPTH: usize = 256;

/// Whether `html` may nest deeper than `limit`, counting start tags (but HTML's empty elements)
/// up and end tags down: a linear over-estimate that never misses deep nesting.
fn html_depth_exceeds(html: &str, limit: usize) -> bool {
    let bytes = html.as_bytes();
    if bytes.len() < limit * 3 {
        return false;
    }
    let mut depth: usize = 0;
    for at in memchr::memchr_iter(b'<', bytes) {
        match bytes.get(at + 1) {
            Some(b'/') => depth = depth.saturating_sub(1),
            Some(c) if c.is_ascii_alphabetic() => {
                let name: Vec<u8> = bytes[at + 1..]
                    .iter()
                    .take(8)
                    .take_while(|b| b.is_ascii_alphanumeric())
                    .map(u8::to_ascii_lowercase)
                    .collect();
                let empty = matches!(
                    name.as_slice(),
                    b"br"
                        | b"img"
                        | b"hr"
                        | b"input"
                        | b"meta"
                        | b"link"
                        | b"wbr"
                        | b"source"
                        | b"area"
                        | b"col"
                        | b"embed"
                        | b"param"
                        | b"track"
                        | b"base"
                );
                if !empty {
                    depth += 1;
                    if depth > limit {
                        return true;
                    }
                }
            }
            _ => {}
        }
    }
    false
}

/// The text of markup, tags dropped (entities left for the caller's escaping to show).
fn text_of_markup(html: &str) -> String {
    let mut text = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        text.push_str(&rest[..at]);
        rest = rest[at..].find('>').map_or("", |end| &rest[at + end + 1..]);
    }
    text.push_str(rest);
    decode_entities(&text).into_owned()
}

/// `html` cut to at most `max` bytes without breaking it: only between tags, entities and
/// characters, with the elements open at the cut closed (their end tags count in `max`).
///
/// `html` must be a serialization as ammonia writes it: well-formed, attribute values in
/// double quotes, no comments, scripts or styles, HTML's empty elements without end tags.
pub fn truncate_html(html: &str, max: usize) -> Cow<'_, str> {
    if html.len() <= max {
        return Cow::Borrowed(html);
    }
    // First pass: the last point where the text so far plus the end tags it needs fit.
    let mut cut = 0;
    walk_html(html, |at, end_tags, next| {
        if let Some(room) = max.checked_sub(end_tags)
            && room >= at
        {
            cut = floor_char_boundary(html, room.min(next));
        }
        at <= max
    });
    // Second pass: which elements are open at that point.
    let mut open: Vec<&str> = Vec::new();
    let mut at = 0;
    let bytes = html.as_bytes();
    while at < cut {
        let Some(start) = memchr::memchr(b'<', &bytes[at..cut]).map(|p| at + p) else {
            break;
        };
        let end = tag_end(bytes, start);
        if end > cut {
            break;
        }
        track_tag(&html[start..end], &mut open);
        at = end;
    }
    let mut out = String::with_capacity(max);
    out.push_str(&html[..cut]);
    for name in open.iter().rev() {
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    Cow::Owned(out)
}

/// Calls `visit(at, end_tags, next)` for each run of text, `at..next` (where a cut may fall at
/// any character boundary), with the bytes of end tags the elements open there need; stops
/// when `visit` says so.
fn walk_html(html: &str, mut visit: impl FnMut(usize, usize, usize) -> bool) {
    let bytes = html.as_bytes();
    let mut open: Vec<&str> = Vec::new();
    let mut end_tags = 0;
    let mut at = 0;
    while at <= bytes.len() {
        let next = memchr::memchr2(b'<', b'&', &bytes[at..]).map_or(bytes.len(), |p| at + p);
        if !visit(at, end_tags, next) || next == bytes.len() {
            return;
        }
        at = if bytes[next] == b'&' {
            // An entity is one unit: `&amp;`, `&#160;`...
            memchr::memchr(b';', &bytes[next..]).map_or(bytes.len(), |p| next + p + 1)
        } else {
            let end = tag_end(bytes, next);
            track_tag(&html[next..end], &mut open);
            end_tags = open.iter().map(|name| name.len() + 3).sum();
            end
        };
    }
}

/// Where the tag starting at `start` ends (after its `>`), quotes respected.
fn tag_end(bytes: &[u8], start: usize) -> usize {
    let mut quoted = false;
    for (offset, &byte) in bytes[start..].iter().enumerate() {
        match byte {
            b'"' => quoted = !quoted,
            b'>' if !quoted => return start + offset + 1,
            _ => {}
        }
    }
    bytes.len()
}

/// Updates the stack of open elements with one tag.
fn track_tag<'a>(tag: &'a str, open: &mut Vec<&'a str>) {
    let (closing, rest) = match tag.strip_prefix("</") {
        Some(rest) => (true, rest),
        None => (false, &tag[1..]),
    };
    let name = &rest[..rest
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .unwrap_or(rest.len())];
    if closing {
        if let Some(at) = open.iter().rposition(|open| *open == name) {
            open.truncate(at);
        }
    } else if !name.is_empty() && !is_void(name) && !tag.ends_with("/>") {
        open.push(name);
    }
}

/// HTML's empty elements, written without an end tag.
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
            | "keygen"
            | "basefont"
            | "bgsound"
            | "frame"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Well-formed, as the sanitizer writes it: sanitizing it again changes nothing.
    fn assert_well_formed(html: &str) {
        let again = ammonia::Builder::default()
            .link_rel(Some("noopener noreferrer nofollow"))
            .clean(html)
            .to_string();
        assert_eq!(again, html, "not well-formed");
    }

    #[test]
    fn relative_links_cannot_amplify_a_description() {
        let base = url::Url::parse(&format!(
            "https://blog.example/{}/feed.xml",
            "a".repeat(2000)
        ))
        .expect("url");
        let hostile = "<img src=.>".repeat(10_000);
        let clean = sanitize_html(&hostile, &base);
        assert!(
            clean.len() <= MAX_DESCRIPTION_BYTES,
            "{} bytes",
            clean.len()
        );
        assert!(
            clean.contains("https://blog.example/"),
            "the first links are kept"
        );
        assert_well_formed(&clean);
    }

    #[test]
    fn long_descriptions_are_cut_between_tags_and_characters_with_elements_closed() {
        let base = url::Url::parse("https://blog.example/feed").expect("url");
        let post =
            r#"<div><p>Ελληνικά &amp; <a href="/x?a=1&b=2"><b>bold "quoted"</b></a></p></div>"#
                .repeat(3000);
        let clean = sanitize_html(&post, &base);
        assert!(
            clean.len() <= MAX_DESCRIPTION_BYTES,
            "{} bytes",
            clean.len()
        );
        assert!(
            clean.len() > MAX_DESCRIPTION_BYTES - 200,
            "cut near the cap"
        );
        assert!(clean.ends_with("</div>"), "elements closed");
        assert_well_formed(&clean);
        // Every cut length gives well-formed HTML within the bound.
        let sample = sanitize_html(&post[..2000], &base);
        for max in (0..sample.len()).step_by(7) {
            let cut = truncate_html(&sample, max);
            assert!(cut.len() <= max, "{max}: {}", cut.len());
            assert_well_formed(&cut);
        }
    }

    #[test]
    fn text_descriptions_are_bounded_too() {
        let escaped = into_bounded(escape_html(bounded_input(&"<&>é".repeat(100_000))));
        assert!(escaped.len() <= MAX_DESCRIPTION_BYTES);
        assert_well_formed(&escaped);
    }
}
