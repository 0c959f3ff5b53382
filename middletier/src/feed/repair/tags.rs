//! Start tags read leniently (unquoted, valueless, duplicate and misnamed attributes, a tag the
//! input ends inside) and written back as well-formed XML; names as XML allows them.

use super::chars::push_xml_chars;
use super::references::fix_reference;
use super::report::Counts;

/// Attributes kept per element: a real one has a handful.
const MAX_ATTRIBUTES: usize = 64;

/// A start tag as read from the input.
#[derive(Debug)]
pub(super) struct StartTag {
    pub(super) name: String,
    pub(super) attributes: Vec<(String, String)>,
    pub(super) self_closing: bool,
}

pub(super) fn local_name(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

pub(super) fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == ':' || !c.is_ascii() && !c.is_whitespace()
}

fn is_name_char(c: char) -> bool {
    !(c.is_whitespace() || c.is_control() || matches!(c, '/' | '>' | '<' | '=' | '"' | '\'' | '&'))
}

/// The element name at the start of `text`.
pub(super) fn tag_name(text: &str) -> &str {
    let end = text.find(|c: char| !is_name_char(c)).unwrap_or(text.len());
    &text[..end]
}

/// HTML elements that never have content, written as HTML (`<br>`) in feeds. `link` and
/// `source` are RSS elements with content, so they are not among them.
pub(super) fn is_html_void(local: &str) -> bool {
    matches!(
        local.to_ascii_lowercase().as_str(),
        "area" | "br" | "col" | "embed" | "hr" | "img" | "input" | "param" | "track" | "wbr"
    )
}

/// Reads a start tag at the start of `text` leniently; `None` if the input ends inside it.
pub(super) fn read_start_tag(text: &str, counts: &mut Counts) -> Option<(StartTag, usize)> {
    let raw_name = tag_name(&text[1..]);
    let mut at = 1 + raw_name.len();
    // A QName has at most one colon, not at either end.
    let name = if raw_name.matches(':').count() > 1
        || raw_name.starts_with(':')
        || raw_name.ends_with(':')
    {
        counts.attributes += 1;
        raw_name.replace(':', "_")
    } else {
        raw_name.to_owned()
    };
    let mut tag = StartTag {
        name,
        attributes: Vec::new(),
        self_closing: false,
    };
    let bytes = text.as_bytes();
    loop {
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        match bytes.get(at)? {
            b'>' => return Some((tag, at + 1)),
            b'/' if bytes.get(at + 1) == Some(&b'>') => {
                tag.self_closing = true;
                return Some((tag, at + 2));
            }
            // Another tag begins: this one was never closed.
            b'<' => {
                counts.truncated_tag = true;
                return Some((tag, at));
            }
            _ => {}
        }
        let name = tag_name(&text[at..]);
        if name.is_empty() || !name.starts_with(is_name_start) {
            // Stray characters (quotes, `/`, `=`...) between attributes.
            counts.attributes += 1;
            at += text[at..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        at += name.len();
        let mut cursor = at;
        while bytes.get(cursor).is_some_and(u8::is_ascii_whitespace) {
            cursor += 1;
        }
        let value = if bytes.get(cursor) == Some(&b'=') {
            cursor += 1;
            while bytes.get(cursor).is_some_and(u8::is_ascii_whitespace) {
                cursor += 1;
            }
            match *bytes.get(cursor)? {
                quote @ (b'"' | b'\'') => {
                    let start = cursor + 1;
                    let length = memchr::memchr(quote, &bytes[start..])?;
                    at = start + length + 1;
                    &text[start..start + length]
                }
                _ => {
                    counts.attributes += 1;
                    let start = cursor;
                    let length = text[start..]
                        .find(|c: char| c.is_whitespace() || c == '>')
                        .unwrap_or(text.len() - start);
                    at = start + length;
                    let value = &text[start..start + length];
                    value
                        .strip_suffix('/')
                        .filter(|_| bytes.get(at) == Some(&b'>'))
                        .map_or(value, |v| {
                            at -= 1;
                            v
                        })
                }
            }
        } else {
            counts.attributes += 1;
            name
        };
        if tag.attributes.len() >= MAX_ATTRIBUTES || tag.attributes.iter().any(|(n, _)| n == name) {
            counts.attributes += 1;
            continue;
        }
        let mut escaped = String::with_capacity(value.len());
        push_attribute_value(&mut escaped, value, counts);
        let name = if name.matches(':').count() > 1 || name.ends_with(':') {
            name.replace(':', "_")
        } else {
            name.to_owned()
        };
        tag.attributes.push((name, escaped));
    }
}

pub(super) fn write_start_tag(out: &mut String, tag: &StartTag, self_closing: bool) {
    out.push('<');
    out.push_str(&tag.name);
    for (name, value) in &tag.attributes {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(value);
        out.push('"');
    }
    out.push_str(if self_closing { "/>" } else { ">" });
}

/// An attribute value, as XML in double quotes.
fn push_attribute_value(out: &mut String, value: &str, counts: &mut Counts) {
    let mut rest = value;
    while let Some(at) = rest.find(['&', '<', '"']) {
        push_xml_chars(out, &rest[..at], &mut counts.forbidden_characters);
        let tail = &rest[at..];
        match tail.as_bytes()[0] {
            b'&' => {
                let next = fix_reference(tail, counts, out);
                rest = &tail[next..];
            }
            b'<' => {
                out.push_str("&lt;");
                rest = &tail[1..];
            }
            _ => {
                out.push_str("&quot;");
                rest = &tail[1..];
            }
        }
    }
    push_xml_chars(out, rest, &mut counts.forbidden_characters);
}
