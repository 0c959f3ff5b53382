//! Feed HTML made safe to show, with ammonia's allow-list ([`sanitize_html`]). Markup nested
//! too deep for the HTML parser under ammonia to handle in linear time is shown as its text.

use super::text::{decode_entities, escape_html};

/// Feed HTML is untrusted: keep formatting, drop scripts, styles, event handlers and any URL
/// scheme but http(s)/mailto; make relative links absolute; links open without a referrer.
///
/// HTML nested deeper than [`MAX_HTML_DEPTH`] is shown as its text: the HTML parser under
/// ammonia checks the open elements at every tag, so depth costs it quadratic time (200,000
/// unclosed `<div>` take minutes), and no real post nests that deep.
pub fn sanitize_html(html: &str, base: &url::Url) -> String {
    if html_depth_exceeds(html, MAX_HTML_DEPTH) {
        return escape_html(&text_of_markup(html));
    }
    SANITIZER.with_borrow_mut(|sanitizer| {
        sanitizer
            .url_relative(ammonia::UrlRelative::RewriteWithBase(base.clone()))
            .clean(html)
            .to_string()
    })
}

thread_local! {
    /// One allow-list per thread: building an `ammonia::Builder` (hash sets of the allowed
    /// tags, attributes and schemes) and dropping it for every description made sanitizing
    /// about twice as slow (`benches/feed_engine.rs`). Only the base URL changes per call.
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
