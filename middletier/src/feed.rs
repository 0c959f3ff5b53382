//! Turning downloaded bytes into the API's items: decode to UTF-8, parse with feed-rs, then
//! make every string safe to show (plain-text titles, sanitized HTML descriptions, absolute
//! `http(s)` links).
//!
//! # Character encodings
//! The encoding is decided the way a browser decides it: a byte-order mark first (UTF-8,
//! UTF-16LE/BE), else the HTTP `Content-Type` charset, else the XML declaration's `encoding`,
//! else UTF-8 (labels map through the WHATWG Encoding Standard, so `ISO-8859-1` means
//! windows-1252, as on the web). The document is transcoded to UTF-8 with `encoding_rs` and its
//! XML declaration rewritten to say so, so feed-rs never decodes a second time. A valid UTF-8
//! document without a foreign declaration (nearly every feed) is parsed in place, uncopied.
//!
//! # Hostile documents
//! feed-rs resolves only the five predefined XML entities and character references: a DTD,
//! an external entity (XXE) or an entity bomb stays literal text, so parsing is linear in the
//! input, which the fetcher has already capped in size.

use std::borrow::Cow;
use std::time::Duration;

use encoding_rs::Encoding;
use feed_rs::model::{Entry, FeedType, Text};
use feed_rs::parser::{ParseErrorKind, ParseFeedError};

use crate::api::Item;

/// What we keep of a parsed feed.
#[derive(Debug)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub items: Vec<Item>,
    /// RSS `<ttl>`: how long the publisher says the feed may be cached.
    pub ttl: Option<Duration>,
    /// The feed's home page (RSS `<link>`, Atom `rel="alternate"`, JSON `home_page_url`).
    pub site_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("this is not an RSS, Atom or JSON feed")]
    NotAFeed,
    /// The hook for feed auto-discovery: the user gave us a web page.
    #[error("this page is HTML; no feed link found")]
    HtmlPage,
    #[error("the feed is malformed: {0}")]
    Malformed(String),
    #[error("the feed uses an unsupported format: {0}")]
    Unsupported(String),
}

/// The syndication format a document turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedFormat {
    Rss2,
    Rss1,
    /// RSS 0.9x.
    Rss0,
    Atom,
    JsonFeed,
}

impl FeedFormat {
    pub fn label(self) -> &'static str {
        match self {
            FeedFormat::Rss2 => "RSS 2.0",
            FeedFormat::Rss1 => "RSS 1.0",
            FeedFormat::Rss0 => "RSS 0.9x",
            FeedFormat::Atom => "Atom",
            FeedFormat::JsonFeed => "JSON Feed",
        }
    }
}

impl std::fmt::Display for FeedFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// A parsed feed with what was learnt on the way, for diagnostics (`middletier check-feed`).
#[derive(Debug)]
pub struct Inspected {
    pub feed: ParsedFeed,
    pub format: FeedFormat,
    /// The encoding the document was decoded from (WHATWG name, e.g. `windows-1252`).
    pub encoding: &'static str,
}

/// Parses a feed document whose charset is known only from the document itself.
/// `base` (the URL it was fetched from) resolves relative links.
pub fn parse(body: &[u8], base: &url::Url) -> Result<ParsedFeed, FeedError> {
    parse_with_content_type(body, None, base)
}

/// Parses a feed document served with `content_type` (whose `charset`, if any, is honoured
/// unless a byte-order mark says otherwise).
pub fn parse_with_content_type(
    body: &[u8],
    content_type: Option<&str>,
    base: &url::Url,
) -> Result<ParsedFeed, FeedError> {
    inspect(body, content_type, base).map(|inspected| inspected.feed)
}

/// [`parse_with_content_type`], also reporting the format and the encoding.
pub fn inspect(
    body: &[u8],
    content_type: Option<&str>,
    base: &url::Url,
) -> Result<Inspected, FeedError> {
    let (text, encoding) = to_utf8(body, content_type);
    let feed = feed_rs::parser::Builder::new()
        .base_uri(Some(base.as_str()))
        .build()
        .parse(text.as_bytes())
        .map_err(|error| {
            if looks_like_html(text.as_bytes()) {
                FeedError::HtmlPage
            } else {
                describe(error)
            }
        })?;
    let items = feed.entries.iter().map(|entry| item(entry, base)).collect();
    let site_url = feed
        .links
        .iter()
        .filter(|link| link.rel.as_deref().is_none_or(|rel| rel == "alternate"))
        .find_map(|link| web_url(base, &link.href));
    Ok(Inspected {
        feed: ParsedFeed {
            title: feed
                .title
                .as_ref()
                .map(plain_text)
                .filter(|t| !t.is_empty()),
            items,
            ttl: feed
                .ttl
                .map(|minutes| Duration::from_secs(u64::from(minutes) * 60)),
            site_url,
        },
        format: match feed.feed_type {
            FeedType::Atom => FeedFormat::Atom,
            FeedType::JSON => FeedFormat::JsonFeed,
            FeedType::RSS0 => FeedFormat::Rss0,
            FeedType::RSS1 => FeedFormat::Rss1,
            FeedType::RSS2 => FeedFormat::Rss2,
        },
        encoding: encoding.name(),
    })
}

/// Decodes `body` to UTF-8 (see the module docs for how the encoding is chosen) with a
/// declaration that says UTF-8. Malformed sequences become U+FFFD rather than failing the feed.
fn to_utf8<'a>(body: &'a [u8], content_type: Option<&str>) -> (Cow<'a, str>, &'static Encoding) {
    let (encoding, bom_length) = Encoding::for_bom(body).unwrap_or_else(|| {
        let encoding = content_type
            .and_then(charset_parameter)
            .and_then(|label| Encoding::for_label(label.as_bytes()))
            .or_else(|| utf16_without_bom(body))
            // A declaration we could read as ASCII cannot really be UTF-16.
            .or_else(|| declared_encoding(body).map(Encoding::output_encoding))
            .unwrap_or(encoding_rs::UTF_8);
        (encoding, 0)
    });
    let (text, _malformed) = encoding.decode_without_bom_handling(&body[bom_length..]);
    (declare_utf8(text), encoding)
}

/// The `charset` parameter of a media type, unquoted.
fn charset_parameter(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').trim())
            .filter(|value| !value.is_empty())
    })
}

/// `<?` in UTF-16 without a byte-order mark (XML 1.0, appendix F).
fn utf16_without_bom(body: &[u8]) -> Option<&'static Encoding> {
    match body.get(..4)? {
        [0x3c, 0, 0x3f, 0] => Some(encoding_rs::UTF_16LE),
        [0, 0x3c, 0, 0x3f] => Some(encoding_rs::UTF_16BE),
        _ => None,
    }
}

fn declared_encoding(body: &[u8]) -> Option<&'static Encoding> {
    let span = declared_encoding_span(body)?;
    Encoding::for_label(&body[span])
}

/// Where the `encoding` value of a leading XML declaration is, in an ASCII-compatible document.
fn declared_encoding_span(document: &[u8]) -> Option<std::ops::Range<usize>> {
    const LONGEST_DECLARATION: usize = 512;
    if !document.starts_with(b"<?xml") {
        return None;
    }
    let head = &document[..document.len().min(LONGEST_DECLARATION)];
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
    let start = at + 1;
    let length = declaration[start..].iter().position(|&c| c == quote)?;
    Some(start..start + length)
}

/// Rewrites a leading XML declaration's encoding to UTF-8 (the text now is UTF-8, whatever it
/// was), so feed-rs doesn't decode it again.
fn declare_utf8(text: Cow<'_, str>) -> Cow<'_, str> {
    let Some(span) = declared_encoding_span(text.as_bytes()) else {
        return text;
    };
    if text[span.clone()].eq_ignore_ascii_case("utf-8") {
        return text;
    }
    let mut rewritten = text.into_owned();
    rewritten.replace_range(span, "UTF-8");
    Cow::Owned(rewritten)
}

/// Whether the document's first element (after the prolog) is an HTML one.
fn looks_like_html(document: &[u8]) -> bool {
    fn starts_with_ignoring_case(text: &[u8], prefix: &[u8]) -> bool {
        text.get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    }
    fn after<'a>(text: &'a [u8], terminator: &[u8]) -> &'a [u8] {
        text.windows(terminator.len())
            .position(|window| window == terminator)
            .map_or(&[], |at| &text[at + terminator.len()..])
    }
    let mut rest = &document[..document.len().min(64 * 1024)];
    loop {
        rest = rest.trim_ascii_start();
        if starts_with_ignoring_case(rest, b"<!doctype") {
            return starts_with_ignoring_case(
                rest[b"<!doctype".len()..].trim_ascii_start(),
                b"html",
            );
        } else if rest.starts_with(b"<?") {
            rest = after(rest, b"?>");
        } else if rest.starts_with(b"<!--") {
            rest = after(rest, b"-->");
        } else {
            return [b"<html".as_slice(), b"<head", b"<body"]
                .iter()
                .any(|tag| starts_with_ignoring_case(rest, tag));
        }
    }
}

/// `href` made absolute against `base`, if it is a web URL.
fn web_url(base: &url::Url, href: &str) -> Option<String> {
    base.join(href)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .map(String::from)
}

fn describe(error: ParseFeedError) -> FeedError {
    match error {
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) => FeedError::NotAFeed,
        ParseFeedError::ParseError(kind) => FeedError::Malformed(kind.to_string()),
        ParseFeedError::JsonUnsupportedVersion(version) => {
            FeedError::Unsupported(format!("JSON Feed version {version}"))
        }
        other => FeedError::Malformed(other.to_string()),
    }
}

fn item(entry: &Entry, base: &url::Url) -> Item {
    let link = entry
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|rel| rel == "alternate"))
        .or(entry.links.first())
        .and_then(|l| web_url(base, &l.href));
    let description = entry
        .summary
        .as_ref()
        .map(|text| html_of(text, base))
        .or_else(|| {
            let content = entry.content.as_ref()?;
            let body = content.body.as_deref()?;
            Some(sanitize_html(body, base))
        })
        .unwrap_or_default();
    let title = entry
        .title
        .as_ref()
        .map(plain_text)
        .filter(|t| !t.is_empty());
    Item {
        title: title.unwrap_or_else(|| "(untitled)".to_owned()),
        link,
        description,
        published: entry.published.or(entry.updated).map(|at| at.to_rfc3339()),
    }
}

fn html_of(text: &Text, base: &url::Url) -> String {
    if text.content_type.subty() == "plain" {
        escape_html(&text.content)
    } else {
        sanitize_html(&text.content, base)
    }
}

/// Feed HTML is untrusted: keep formatting, drop scripts, styles, event handlers and any URL
/// scheme but http(s)/mailto; make relative links absolute; links open without a referrer.
pub fn sanitize_html(html: &str, base: &url::Url) -> String {
    ammonia::Builder::default()
        .url_relative(ammonia::UrlRelative::RewriteWithBase(base.clone()))
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
}

/// Titles are shown as text: tags removed, entities decoded (templates escape on output).
fn plain_text(text: &Text) -> String {
    let stripped = if text.content_type.subty() == "plain" {
        text.content.clone()
    } else {
        unescape_html(&ammonia::Builder::empty().clean(&text.content).to_string())
    };
    stripped.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> url::Url {
        url::Url::parse("https://blog.example/feed.xml").expect("url")
    }

    #[test]
    fn rss_items_are_made_safe() {
        let rss = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>A &amp; B</title>
            <item><title>&lt;b&gt;Bold&lt;/b&gt; move</title><link>/posts/1</link>
            <description>&lt;p onclick="x()"&gt;Hi&lt;script&gt;alert(1)&lt;/script&gt;&lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt;&lt;/p&gt;</description>
            <pubDate>Tue, 10 Jun 2025 04:00:00 GMT</pubDate></item></channel></rss>"#;
        let feed = parse(rss, &base()).expect("parses");
        assert_eq!(feed.title.as_deref(), Some("A & B"));
        let item = &feed.items[0];
        assert_eq!(item.link.as_deref(), Some("https://blog.example/posts/1"));
        assert_eq!(item.published.as_deref(), Some("2025-06-10T04:00:00+00:00"));
        assert!(!item.description.contains("script"), "{}", item.description);
        assert!(
            !item.description.contains("onclick"),
            "{}",
            item.description
        );
        assert!(
            !item.description.contains("javascript"),
            "{}",
            item.description
        );
        assert!(item.description.contains("Hi"));
    }

    #[test]
    fn html_pages_are_recognised_as_html() {
        for page in [
            "<!doctype html><html><body>hi</body></html>",
            "<html><body>Not a feed</body></html>",
            "\n  <!-- generated --><!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"><html>",
            "<?xml version=\"1.0\"?><!DOCTYPE html><html xmlns=\"http://www.w3.org/1999/xhtml\"><head></head></html>",
            "<head><title>t</title></head><body><p>unclosed",
        ] {
            let err = parse(page.as_bytes(), &base()).expect_err("html");
            assert!(matches!(err, FeedError::HtmlPage), "{page}: {err}");
            assert_eq!(err.to_string(), "this page is HTML; no feed link found");
        }
        for other in ["<opml version=\"2.0\"><body/></opml>", "plain words"] {
            let err = parse(other.as_bytes(), &base()).expect_err("not a feed");
            assert!(matches!(err, FeedError::NotAFeed), "{other}: {err}");
        }
    }

    #[test]
    fn ttl_site_url_and_format_are_reported() {
        let rss = br#"<rss version="2.0"><channel><title>t</title><link>/home</link><ttl>90</ttl>
            <atom:link xmlns:atom="http://www.w3.org/2005/Atom" rel="self" href="/feed.xml"/>
            </channel></rss>"#;
        let inspected = inspect(rss, None, &base()).expect("parses");
        assert_eq!(inspected.format, FeedFormat::Rss2);
        assert_eq!(inspected.encoding, "UTF-8");
        assert_eq!(inspected.feed.ttl, Some(Duration::from_secs(90 * 60)));
        assert_eq!(
            inspected.feed.site_url.as_deref(),
            Some("https://blog.example/home")
        );

        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
            <link rel="self" href="https://blog.example/atom.xml"/><link href="https://blog.example/"/></feed>"#;
        let inspected = inspect(atom, None, &base()).expect("parses");
        assert_eq!(inspected.format, FeedFormat::Atom);
        assert_eq!(inspected.feed.ttl, None);
        assert_eq!(
            inspected.feed.site_url.as_deref(),
            Some("https://blog.example/")
        );

        let json = br#"{"version":"https://jsonfeed.org/version/1.1","title":"j",
            "home_page_url":"https://blog.example/j/","items":[]}"#;
        let inspected = inspect(json, None, &base()).expect("parses");
        assert_eq!(inspected.format, FeedFormat::JsonFeed);
        assert_eq!(
            inspected.feed.site_url.as_deref(),
            Some("https://blog.example/j/")
        );
    }

    /// An RSS document around `title`, with `declaration` in front.
    fn rss_titled(declaration: &str, title: &[u8]) -> Vec<u8> {
        let mut document = declaration.as_bytes().to_vec();
        document.extend_from_slice(b"<rss version=\"2.0\"><channel><title>");
        document.extend_from_slice(title);
        document.extend_from_slice(b"</title><item><title>");
        document.extend_from_slice(title);
        document.extend_from_slice(b"</title></item></channel></rss>");
        document
    }

    fn title_of(document: &[u8], content_type: Option<&str>) -> (String, &'static str) {
        let inspected = inspect(document, content_type, &base()).expect("parses");
        assert_eq!(
            inspected.feed.items[0].title,
            inspected.feed.title.clone().unwrap_or_default()
        );
        (inspected.feed.title.expect("title"), inspected.encoding)
    }

    #[test]
    fn latin1_and_windows_1252_declared_by_header_only() {
        let latin1 = rss_titled("<?xml version=\"1.0\"?>", b"Caf\xe9 cr\xe8me");
        assert_eq!(
            title_of(&latin1, Some("application/rss+xml; charset=ISO-8859-1")),
            ("Café crème".to_owned(), "windows-1252")
        );
        let cp1252 = rss_titled("", b"\x93Quoted\x94 \x80 5");
        assert_eq!(
            title_of(&cp1252, Some("text/xml;charset=\"windows-1252\"")),
            ("\u{201c}Quoted\u{201d} € 5".to_owned(), "windows-1252")
        );
    }

    #[test]
    fn latin1_and_windows_1252_declared_by_xml_declaration_only() {
        let latin1 = rss_titled(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
            b"Caf\xe9 cr\xe8me",
        );
        assert_eq!(
            title_of(&latin1, Some("application/xml")),
            ("Café crème".to_owned(), "windows-1252")
        );
        let cp1252 = rss_titled(
            "<?xml version='1.0' encoding = 'windows-1252' standalone='yes'?>",
            b"\x93Quoted\x94 \x80 5",
        );
        assert_eq!(
            title_of(&cp1252, None),
            ("\u{201c}Quoted\u{201d} € 5".to_owned(), "windows-1252")
        );
    }

    #[test]
    fn the_header_wins_over_the_declaration_and_the_bom_over_both() {
        // Really UTF-8, mislabelled in the declaration: feed-rs must not decode it again.
        let utf8 = rss_titled(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
            "Café".as_bytes(),
        );
        assert_eq!(
            title_of(&utf8, Some("application/rss+xml; charset=utf-8")),
            ("Café".to_owned(), "UTF-8")
        );
        let mut with_bom = b"\xef\xbb\xbf".to_vec();
        with_bom.extend_from_slice(&utf8);
        assert_eq!(
            title_of(&with_bom, Some("text/xml; charset=iso-8859-1")),
            ("Café".to_owned(), "UTF-8")
        );
    }

    #[test]
    fn utf16_with_a_bom_in_either_byte_order() {
        let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss version=\"2.0\"><channel>\
                    <title>Ελληνικά ✓</title><item><title>Ελληνικά ✓</title></item></channel></rss>";
        let mut little = vec![0xff, 0xfe];
        little.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(
            title_of(&little, Some("application/rss+xml")),
            ("Ελληνικά ✓".to_owned(), "UTF-16LE")
        );
        let mut big = vec![0xfe, 0xff];
        big.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(
            title_of(&big, Some("application/rss+xml; charset=utf-8")),
            ("Ελληνικά ✓".to_owned(), "UTF-16BE")
        );
        // Without a BOM, `<?` in UTF-16 still gives it away.
        assert_eq!(title_of(&little[2..], None).0, "Ελληνικά ✓");
    }

    #[test]
    fn utf8_feeds_are_not_copied() {
        let (text, _) = to_utf8(RSS_UTF8.as_bytes(), Some("application/rss+xml"));
        assert!(matches!(text, Cow::Borrowed(_)));
    }

    const RSS_UTF8: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"/>";

    #[test]
    fn entity_bombs_and_external_entities_stay_inert() {
        let bomb = br#"<?xml version="1.0"?>
            <!DOCTYPE rss [
              <!ENTITY lol "lol">
              <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
              <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
              <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
              <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
              <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
              <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
              <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
              <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
              <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
              <!ENTITY xxe SYSTEM "file:///etc/passwd">
            ]>
            <rss version="2.0"><channel><title>&lol9;</title>
            <item><title>&xxe;</title><description>&lol9;&xxe;</description></item></channel></rss>"#;
        let started = std::time::Instant::now();
        let result = parse(bomb, &base());
        assert!(started.elapsed() < Duration::from_secs(2), "bounded time");
        match result {
            Ok(feed) => {
                let title = feed.title.unwrap_or_default();
                assert!(title.len() < 100, "not expanded: {} bytes", title.len());
                let item = &feed.items[0];
                assert!(!item.title.contains("root:"), "no XXE: {}", item.title);
                assert!(!item.description.contains("root:"), "no XXE");
                assert!(item.description.len() < 200, "{}", item.description);
            }
            Err(error) => assert!(matches!(error, FeedError::Malformed(_)), "{error}"),
        }
    }

    #[test]
    fn javascript_links_are_dropped() {
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
            <entry><title>x</title><link href="javascript:alert(1)"/><id>1</id></entry></feed>"#;
        let feed = parse(atom, &base()).expect("parses");
        assert_eq!(feed.items[0].link, None);
    }
}
