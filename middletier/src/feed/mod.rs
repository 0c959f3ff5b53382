//! Turning downloaded bytes into the API's items: decode to UTF-8, parse with feed-rs (repairing
//! what real feeds get wrong), then make every string safe to show (plain-text titles,
//! sanitized HTML descriptions, absolute `http(s)` links).
//!
//! # Feeds as they are in the wild
//! feed-rs is fast and strict; feeds in the wild are neither. This module gives feedparser's
//! coverage at feed-rs's speed by trying the strict way first and paying for leniency only
//! when a feed needs it:
//!
//! 1. `encoding` picks the encoding as a browser would (byte-order mark, HTTP charset, XML
//!    declaration, detection when they are missing or lie) and decodes to UTF-8, borrowing
//!    valid UTF-8 without copying it.
//! 2. A cheap scan (`repair::needs_repair`) looks for what feed-rs would accept but get
//!    wrong (HTML entities, unescaped HTML in RSS descriptions).
//! 3. feed-rs parses the document, with our lenient date reader ([`dates`]). Well-formed
//!    feeds stop here.
//! 4. Only if that failed, was skipped, or produced no entries from a document that has
//!    some, `repair` rewrites the document into well-formed XML in one linear pass (bare
//!    `&`, HTML entities, junk before the root, unclosed CDATA, missing closing tags, RSS
//!    versions and namespaces feed-rs does not know, Atom 0.3...) and feed-rs parses that. The
//!    feed is then marked recovered, with what was wrong, for `check-feed`. A repair that finds
//!    nothing real (no title, no entry with a title, link or content) is not a feed: the
//!    strict parser's error stands.
//!
//! # Never a panic, always bounded
//! [`inspect`] (and so [`parse`]) runs under `catch_unwind`: a panic anywhere below is that
//! feed's [`FeedError::Crashed`], and the service goes on. Every step is linear in the input,
//! which the fetcher has already capped in size: no entity expansion (feed-rs resolves only
//! the five predefined entities; the repair drops a DTD whole, so an entity bomb or an
//! external entity stays inert text), no recursion on the input's nesting, bounded attributes.
//! `middletier/fuzz` fuzzes this whole path; what it found is replayed by the tests.
//!
//! What comes out is bounded as well, whatever the input makes of it: at most
//! [`MAX_ENTRIES`] items per document, each title at most
//! [`MAX_TITLE_BYTES`](middletier_api::limits::MAX_TITLE_BYTES) and each description at most
//! [`MAX_DESCRIPTION_BYTES`](middletier_api::limits::MAX_DESCRIPTION_BYTES) (see `sanitize`).
//!
//! # Layout
//! - this module: the public face: [`parse`], [`inspect`], [`parse_document`], the types they
//!   return, and presenting a read [`Document`] as the API's feed.
//! - `read`: the lenient reading layer (steps 1 to 4 above) that builds a [`Document`].
//! - `encoding`: picking the encoding and decoding to UTF-8; [`dates`]: the lenient date reader.
//! - `repair`: the XML repair rewriter.
//! - `item`: feed-rs's entries as the API's items, with stable ids ([`item_id`]).
//! - `media`: an entry's author and enclosures (podcast files, iTunes and Podcasting 2.0
//!   durations and images), as plain text and web addresses.
//! - `sanitize`: untrusted HTML made safe to show ([`sanitize_html`]).
//! - `text`: titles as plain text, HTML escaping and character references.

pub mod dates;
mod encoding;
mod item;
mod media;
mod read;
mod repair;
mod sanitize;
mod text;

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use feed_rs::model::FeedType;

use middletier_api::Item;

pub use encoding::EncodingSource;
pub use item::item_id;
pub use media::{author_text, clean_enclosures};
pub use sanitize::{MAX_DESCRIPTION_INPUT_BYTES, MAX_HTML_DEPTH, sanitize_html, truncate_html};
pub(crate) use text::decode_entities;

/// Most entries presented from one document, in document order (feeds list newest first);
/// the rest are ignored before any sanitizing. An archive of every post ever is not a feed,
/// and this bounds what one document can make the sanitizer produce.
pub const MAX_ENTRIES: usize = 500;

/// What we keep of a parsed feed.
#[derive(Debug)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub items: Vec<Item>,
    /// RSS `<ttl>`: how long the publisher says the feed may be cached.
    pub ttl: Option<Duration>,
    /// The feed's home page (RSS `<link>`, Atom `rel="alternate"`, JSON `home_page_url`).
    pub site_url: Option<String>,
    /// The feed's own image, absolute: Atom `<icon>` or JSON `favicon` (small, square) before
    /// RSS `<image>`, Atom `<logo>` or JSON `icon`. Where the refresher looks for its icon
    /// first (`icons`).
    pub image: Option<String>,
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
    /// A bug of ours or of a parser below us, caught at the boundary.
    #[error("the feed could not be read (parser error: {0})")]
    Crashed(String),
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
    /// The version the document declares (`2.01`, `0.91`, `0.3`, `1.1`...), if it says.
    pub version: Option<String>,
    /// The encoding the document was decoded from (WHATWG name, e.g. `windows-1252`).
    pub encoding: &'static str,
    /// How that encoding was chosen.
    pub encoding_source: EncodingSource,
    /// What was wrong with the document and was repaired; empty for a well-formed feed.
    pub recovered: Vec<String>,
    /// Things worth knowing that are not errors: labels that disagreed, format variants read
    /// as the standard they extend.
    pub warnings: Vec<String>,
}

impl Inspected {
    /// Whether the feed was only readable after repairs.
    pub fn is_recovered(&self) -> bool {
        !self.recovered.is_empty()
    }
}

/// A document read by the lenient layer, before anything is made safe to show: what
/// [`inspect`] builds on, public for benchmarks and tools.
#[derive(Debug)]
pub struct Document {
    pub feed: feed_rs::model::Feed,
    pub version: Option<String>,
    pub encoding: &'static str,
    pub encoding_source: EncodingSource,
    pub recovered: Vec<String>,
    pub warnings: Vec<String>,
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

/// [`parse_with_content_type`], also reporting the format, the encoding and how it was
/// chosen, and what had to be repaired. Never panics.
pub fn inspect(
    body: &[u8],
    content_type: Option<&str>,
    base: &url::Url,
) -> Result<Inspected, FeedError> {
    guarded(|| {
        let document = read::read_document(body, content_type, base)?;
        Ok(present(document, base))
    })
}

/// The lenient layer alone (decoding, the strict parse, repair when needed), without making
/// anything safe to show. Never panics.
pub fn parse_document(
    body: &[u8],
    content_type: Option<&str>,
    base: &url::Url,
) -> Result<Document, FeedError> {
    guarded(|| read::read_document(body, content_type, base))
}

fn guarded<T>(read: impl FnOnce() -> Result<T, FeedError>) -> Result<T, FeedError> {
    panic::catch_unwind(AssertUnwindSafe(read)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        tracing::error!(%message, "feed parser panicked");
        Err(FeedError::Crashed(message))
    })
}

/// Makes a read document the API's feed: titles as plain text, HTML sanitized, links absolute.
fn present(document: Document, base: &url::Url) -> Inspected {
    let Document {
        feed,
        version,
        encoding,
        encoding_source,
        recovered,
        warnings,
    } = document;
    let items = feed
        .entries
        .iter()
        .take(MAX_ENTRIES)
        .map(|entry| item::item(entry, base))
        .collect();
    let site_url = feed
        .links
        .iter()
        .filter(|link| link.rel.as_deref().is_none_or(|rel| rel == "alternate"))
        .find_map(|link| text::web_url(base, &link.href));
    let image = [&feed.icon, &feed.logo]
        .into_iter()
        .flatten()
        .find_map(|image| text::web_url(base, image.uri.trim()));
    Inspected {
        feed: ParsedFeed {
            title: feed
                .title
                .as_ref()
                .map(text::plain_text)
                .filter(|t| !t.is_empty()),
            items,
            ttl: feed
                .ttl
                .map(|minutes| Duration::from_secs(u64::from(minutes) * 60)),
            site_url,
            image,
        },
        format: match feed.feed_type {
            FeedType::Atom => FeedFormat::Atom,
            FeedType::JSON => FeedFormat::JsonFeed,
            FeedType::RSS0 => FeedFormat::Rss0,
            FeedType::RSS1 => FeedFormat::Rss1,
            FeedType::RSS2 => FeedFormat::Rss2,
        },
        version,
        encoding,
        encoding_source,
        recovered,
        warnings,
    }
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
    fn entity_bombs_and_external_entities_stay_inert() {
        let bomb = crate::testing::ENTITY_BOMB.as_bytes();
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
}
