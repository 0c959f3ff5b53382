//! Choosing a feed's character encoding and decoding it to UTF-8, the way a browser would.
//!
//! The order is the HTML/XML one: a byte-order mark; then (for documents whose bytes show they
//! are UTF-16 or UTF-32 without a mark) that byte pattern; then the HTTP `charset`; then the XML
//! declaration. Labels map through the WHATWG Encoding Standard (`ISO-8859-1` means
//! windows-1252, as on the web), plus UTF-32 and code page 437, which the web dropped but old
//! feeds still use.
//!
//! Labels lie. A label is set aside, with a warning, when the bytes prove it wrong: UTF-8 that
//! is not valid UTF-8, a multi-byte encoding (Shift_JIS, GBK, Big5...) the bytes are malformed
//! in, or UTF-16 named by an ASCII-compatible document. A document labelled with a legacy
//! single-byte encoding whose bytes are valid, non-ASCII UTF-8 is read as UTF-8: legacy text
//! essentially never forms valid UTF-8 by accident, while CMS templates that declare
//! ISO-8859-1 over UTF-8 content are common. With no usable label the bytes are UTF-8 if they
//! are valid UTF-8, else `chardetng` (Firefox's detector) guesses, helped by the site's
//! top-level domain.
//!
//! A valid UTF-8 document (nearly every feed) is borrowed, never copied. The XML declaration
//! is left as it is: the parent module hands feed-rs the text after it, so feed-rs reads the
//! text as the UTF-8 it now is.

use std::borrow::Cow;

use encoding_rs::Encoding;

/// How the encoding was chosen, for `check-feed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodingSource {
    ByteOrderMark,
    /// UTF-16 or UTF-32 recognised from the zero bytes around the first characters.
    BytePattern,
    HttpHeader,
    XmlDeclaration,
    /// No usable label: guessed from the bytes.
    Detected,
    /// No label and valid UTF-8 (or plain ASCII): UTF-8, as XML and JSON specify.
    Default,
}

impl EncodingSource {
    pub fn label(self) -> &'static str {
        match self {
            EncodingSource::ByteOrderMark => "byte-order mark",
            EncodingSource::BytePattern => "byte pattern (UTF-16/32 without a byte-order mark)",
            EncodingSource::HttpHeader => "HTTP Content-Type charset",
            EncodingSource::XmlDeclaration => "XML declaration",
            EncodingSource::Detected => "detected from the bytes",
            EncodingSource::Default => "default (no label, valid UTF-8)",
        }
    }
}

impl std::fmt::Display for EncodingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// An encoding a feed can be written in: encoding_rs's, plus two it leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Charset {
    Web(&'static Encoding),
    Utf32Le,
    Utf32Be,
    Cp437,
}

impl Charset {
    fn name(self) -> &'static str {
        match self {
            Charset::Web(encoding) => encoding.name(),
            Charset::Utf32Le => "UTF-32LE",
            Charset::Utf32Be => "UTF-32BE",
            Charset::Cp437 => "IBM437",
        }
    }

    /// Whether ASCII bytes mean ASCII characters (so a declaration can be read as ASCII).
    fn ascii_compatible(self) -> bool {
        match self {
            Charset::Web(encoding) => encoding.is_ascii_compatible(),
            Charset::Utf32Le | Charset::Utf32Be => false,
            Charset::Cp437 => true,
        }
    }

    fn for_label(label: &str) -> Option<Charset> {
        let label = label.trim();
        let lower = label.to_ascii_lowercase();
        match lower.as_str() {
            "utf-32" | "utf32" | "ucs-4" | "iso-10646-ucs-4" | "utf-32le" => Some(Charset::Utf32Le),
            "utf-32be" => Some(Charset::Utf32Be),
            "cp437" | "ibm437" | "437" | "cspc8codepage437" | "ibm-437" => Some(Charset::Cp437),
            _ => Encoding::for_label(label.as_bytes())
                // The WHATWG "replacement" encoding turns a whole document into one U+FFFD.
                .filter(|encoding| *encoding != encoding_rs::REPLACEMENT)
                .map(Charset::Web),
        }
    }

    fn decode(self, bytes: &[u8]) -> Cow<'_, str> {
        match self {
            Charset::Web(encoding) => encoding.decode_without_bom_handling(bytes).0,
            Charset::Utf32Le => Cow::Owned(decode_utf32(bytes, u32::from_le_bytes)),
            Charset::Utf32Be => Cow::Owned(decode_utf32(bytes, u32::from_be_bytes)),
            Charset::Cp437 => Cow::Owned(oem_cp::decode_string_complete_table(
                bytes,
                &oem_cp::code_table::DECODING_TABLE_CP437,
            )),
        }
    }

    /// Whether `bytes` are well-formed in this encoding (single-byte ones always are).
    fn accepts(self, bytes: &[u8]) -> bool {
        match self {
            Charset::Web(encoding) => encoding
                .decode_without_bom_handling_and_without_replacement(bytes)
                .is_some(),
            _ => true,
        }
    }

    fn is_single_byte(self) -> bool {
        match self {
            Charset::Web(encoding) => encoding.is_single_byte(),
            Charset::Cp437 => true,
            Charset::Utf32Le | Charset::Utf32Be => false,
        }
    }
}

/// A document decoded to UTF-8, and how its encoding was chosen.
#[derive(Debug)]
pub(super) struct Decoded<'a> {
    pub text: Cow<'a, str>,
    pub encoding: &'static str,
    pub source: EncodingSource,
    /// Labels that disagreed or lied, in plain words.
    pub warnings: Vec<String>,
}

/// Decodes `body` (see the module docs for how the encoding is chosen). `site` is the host the
/// feed came from, whose top-level domain helps the detector.
pub(super) fn decode<'a>(
    body: &'a [u8],
    content_type: Option<&str>,
    site: Option<&str>,
) -> Decoded<'a> {
    let mut warnings = Vec::new();
    let header_label = content_type.and_then(charset_parameter);
    let header = header_label.map(|label| (label, Charset::for_label(label)));

    if let Some((charset, bom_length)) = byte_order_mark(body) {
        if let Some((label, Some(named))) = header
            && named != charset
        {
            warnings.push(format!(
                "the HTTP header says charset={label}, but the byte-order mark says {}: the mark wins",
                charset.name()
            ));
        }
        return finish(
            charset,
            &body[bom_length..],
            EncodingSource::ByteOrderMark,
            warnings,
        );
    }
    if let Some(charset) = byte_pattern(body) {
        if let Some((label, named)) = header
            && named != Some(charset)
        {
            warnings.push(format!(
                "the HTTP header says charset={label}, but the bytes are {}",
                charset.name()
            ));
        }
        return finish(charset, body, EncodingSource::BytePattern, warnings);
    }

    // From here on the document is ASCII-compatible: its labels can be read as ASCII.
    let mut candidates: Vec<(Charset, EncodingSource, String)> = Vec::with_capacity(2);
    if let Some((label, named)) = header {
        consider(
            &mut candidates,
            &mut warnings,
            label,
            named,
            EncodingSource::HttpHeader,
        );
    }
    if let Some(span) = declared_encoding_span(body) {
        let label = String::from_utf8_lossy(&body[span]);
        let named = Charset::for_label(&label);
        if let (Some((header_label, Some(from_header))), Some(declared)) = (header, named)
            && from_header.ascii_compatible()
            && from_header != declared
        {
            warnings.push(format!(
                "the HTTP header says charset={header_label}, the XML declaration says {label}: \
                 the header wins, as in a browser"
            ));
        }
        consider(
            &mut candidates,
            &mut warnings,
            &label,
            named,
            EncodingSource::XmlDeclaration,
        );
    }

    let utf8 = std::str::from_utf8(body).ok();
    let had_labels = !candidates.is_empty();
    for (charset, source, label) in candidates {
        if charset == Charset::Web(encoding_rs::UTF_8) {
            match utf8 {
                Some(text) => return borrowed_utf8(text, source, warnings),
                None => warnings.push(format!(
                    "the {source} says {label}, but the bytes are not valid UTF-8"
                )),
            }
            continue;
        }
        if charset.is_single_byte()
            && let Some(text) = utf8.filter(|text| !text.is_ascii())
        {
            warnings.push(format!(
                "the {source} says {label}, but the document is valid UTF-8: read as UTF-8"
            ));
            return borrowed_utf8(text, EncodingSource::Detected, warnings);
        }
        if !charset.accepts(body) {
            warnings.push(format!(
                "the {source} says {label}, but the bytes are not valid {}",
                charset.name()
            ));
            continue;
        }
        return finish(charset, body, source, warnings);
    }
    if let Some(text) = utf8 {
        let source = if had_labels {
            EncodingSource::Detected
        } else {
            EncodingSource::Default
        };
        return borrowed_utf8(text, source, warnings);
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
    detector.feed(body, true);
    let tld = site
        .and_then(|host| host.rsplit('.').next())
        .filter(|tld| !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_alphabetic()));
    let guess = detector.guess(tld.map(str::as_bytes), chardetng::Utf8Detection::Allow);
    finish(
        Charset::Web(guess),
        body,
        EncodingSource::Detected,
        warnings,
    )
}

/// Adds a label to the candidates, or says why it cannot be one.
fn consider(
    candidates: &mut Vec<(Charset, EncodingSource, String)>,
    warnings: &mut Vec<String>,
    label: &str,
    named: Option<Charset>,
    source: EncodingSource,
) {
    match named {
        Some(charset) if charset.ascii_compatible() => {
            candidates.push((charset, source, label.to_owned()));
        }
        Some(_) => warnings.push(format!(
            "the {source} says {label}, but the bytes are not UTF-16 or UTF-32: ignored"
        )),
        None => warnings.push(format!(
            "the {source} names an unknown encoding '{label}': ignored"
        )),
    }
}

fn borrowed_utf8<'a>(text: &'a str, source: EncodingSource, warnings: Vec<String>) -> Decoded<'a> {
    Decoded {
        text: Cow::Borrowed(text),
        encoding: encoding_rs::UTF_8.name(),
        source,
        warnings,
    }
}

fn finish<'a>(
    charset: Charset,
    bytes: &'a [u8],
    source: EncodingSource,
    warnings: Vec<String>,
) -> Decoded<'a> {
    Decoded {
        text: charset.decode(bytes),
        encoding: charset.name(),
        source,
        warnings,
    }
}

fn byte_order_mark(body: &[u8]) -> Option<(Charset, usize)> {
    // UTF-32LE's mark starts with UTF-16LE's, so it goes first.
    match body {
        [0xff, 0xfe, 0, 0, ..] => Some((Charset::Utf32Le, 4)),
        [0, 0, 0xfe, 0xff, ..] => Some((Charset::Utf32Be, 4)),
        _ => Encoding::for_bom(body).map(|(encoding, length)| (Charset::Web(encoding), length)),
    }
}

/// UTF-16 or UTF-32 without a mark, from the zero bytes around an ASCII first character
/// (`<` or `{`, possibly after white space); XML 1.0 appendix F.
fn byte_pattern(body: &[u8]) -> Option<Charset> {
    let ascii = |b: u8| b != 0 && b.is_ascii();
    match *body.get(..4)? {
        [a, 0, 0, 0] if ascii(a) => Some(Charset::Utf32Le),
        [0, 0, 0, a] if ascii(a) => Some(Charset::Utf32Be),
        [a, 0, b, 0] if ascii(a) && ascii(b) => Some(Charset::Web(encoding_rs::UTF_16LE)),
        [0, a, 0, b] if ascii(a) && ascii(b) => Some(Charset::Web(encoding_rs::UTF_16BE)),
        _ => None,
    }
}

fn decode_utf32(bytes: &[u8], read: fn([u8; 4]) -> u32) -> String {
    let chunks = bytes.chunks_exact(4);
    let trailing = !chunks.remainder().is_empty();
    let mut text: String = chunks
        .map(|chunk| {
            let unit = read([chunk[0], chunk[1], chunk[2], chunk[3]]);
            char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER)
        })
        .collect();
    if trailing {
        text.push(char::REPLACEMENT_CHARACTER);
    }
    text
}

/// The `charset` parameter of a media type, unquoted.
pub(super) fn charset_parameter(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(|c| c == '"' || c == '\'').trim())
            .filter(|value| !value.is_empty())
    })
}

/// Where the `encoding` value of a leading XML declaration is, in an ASCII-compatible document
/// (leading white space, which real feeds have, is allowed).
fn declared_encoding_span(document: &[u8]) -> Option<std::ops::Range<usize>> {
    const LONGEST_DECLARATION: usize = 512;
    let skipped = document.len() - document.trim_ascii_start().len();
    let start = skipped.min(LONGEST_DECLARATION);
    let head = &document[start..document.len().min(start + LONGEST_DECLARATION)];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|pair| pair == b"?>")?;
    let declaration = &head[..end];
    let name = declaration
        .windows(b"encoding".len())
        .position(|window| window == b"encoding")?;
    let mut at = name + b"encoding".len();
    let skip_spaces = |mut at: usize| {
        while declaration.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        at
    };
    at = skip_spaces(at);
    if declaration.get(at) != Some(&b'=') {
        return None;
    }
    at = skip_spaces(at + 1);
    let quote = *declaration.get(at).filter(|q| matches!(q, b'"' | b'\''))?;
    let value = at + 1;
    let length = declaration[value..].iter().position(|&c| c == quote)?;
    Some(start + value..start + value + length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_feeds_are_not_copied() {
        let rss = "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"/>";
        let decoded = decode(rss.as_bytes(), Some("application/rss+xml"), None);
        assert!(matches!(decoded.text, Cow::Borrowed(_)));
        assert_eq!(decoded.source, EncodingSource::XmlDeclaration);
        assert!(decoded.warnings.is_empty());
    }

    #[test]
    fn utf32_with_and_without_a_mark() {
        let text = "<rss version=\"2.0\">é</rss>";
        let le: Vec<u8> = text
            .chars()
            .flat_map(|c| u32::from(c).to_le_bytes())
            .collect();
        let decoded = decode(&le, None, None);
        assert_eq!(
            (decoded.text.as_ref(), decoded.encoding),
            (text, "UTF-32LE")
        );
        assert_eq!(decoded.source, EncodingSource::BytePattern);
        let mut be = vec![0, 0, 0xfe, 0xff];
        be.extend(text.chars().flat_map(|c| u32::from(c).to_be_bytes()));
        let decoded = decode(&be, None, None);
        assert_eq!(
            (decoded.text.as_ref(), decoded.source),
            (text, EncodingSource::ByteOrderMark)
        );
    }

    #[test]
    fn a_lying_utf8_header_falls_back_to_the_declaration() {
        let body =
            b"<?xml version=\"1.0\" encoding=\"windows-1251\"?><rss>\xcf\xf0\xe8\xe2\xe5\xf2</rss>";
        let decoded = decode(body, Some("text/xml; charset=utf-8"), None);
        assert_eq!(decoded.encoding, "windows-1251");
        assert_eq!(decoded.source, EncodingSource::XmlDeclaration);
        assert!(decoded.text.contains("Привет"), "{}", decoded.text);
        assert!(
            decoded
                .warnings
                .iter()
                .any(|w| w.contains("not valid UTF-8"))
        );
    }

    #[test]
    fn unlabelled_legacy_text_is_detected() {
        let body = "<rss version=\"2.0\"><channel><title>Привет, как дела? Это русский текст для проверки</title></channel></rss>";
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(body);
        let decoded = decode(&bytes, None, Some("news.example.ru"));
        assert_eq!(decoded.source, EncodingSource::Detected);
        assert_eq!(decoded.encoding, "windows-1251");
        assert_eq!(decoded.text, body);
    }
}
