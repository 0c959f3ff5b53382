//! Turning downloaded bytes into the API's items: decode to UTF-8, parse with feed-rs (repairing
//! what real feeds get wrong), then make every string safe to show (plain-text titles,
//! sanitized HTML descriptions, absolute `http(s)` links).
//!
//! # Feeds as they are in the wild
//! feed-rs is fast and strict; feeds in the wild are neither. This module gives feedparser's
//! coverage at feed-rs's speed by trying the strict way first and paying for leniency only
//! when a feed needs it:
//!
//! 1. [`encoding`] picks the encoding as a browser would (byte-order mark, HTTP charset, XML
//!    declaration, detection when they are missing or lie) and decodes to UTF-8, borrowing
//!    valid UTF-8 without copying it.
//! 2. A cheap scan ([`repair::needs_repair`]) looks for what feed-rs would accept but get
//!    wrong (HTML entities, unescaped HTML in RSS descriptions).
//! 3. feed-rs parses the document, with our lenient date reader ([`dates`]). Well-formed
//!    feeds stop here.
//! 4. Only if that failed, was skipped, or produced no entries from a document that has
//!    some, [`repair`] rewrites the document into well-formed XML in one linear pass (bare
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

pub mod dates;
mod encoding;
mod repair;

use std::borrow::Cow;
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use base64::Engine as _;
use feed_rs::model::{Content, Entry, FeedType, Text};
use feed_rs::parser::{ParseErrorKind, ParseFeedError};
use memchr::memmem;

use middletier_api::Item;
use middletier_api::limits::MAX_ITEM_ID_LEN;

pub use encoding::EncodingSource;

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
        let document = read_document(body, content_type, base)?;
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
    guarded(|| read_document(body, content_type, base))
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

/// A new feed-rs parser for each parse: one that failed mid-entry keeps MediaRSS state and
/// panics on its next entry (an assertion in feed-rs 3.0), so parsers are never reused.
fn feed_rs_parser(base: &url::Url) -> feed_rs::parser::Parser {
    feed_rs::parser::Builder::new()
        .base_uri(Some(base.as_str()))
        .timestamp_parser(dates::parse)
        // No generated ids: feed-rs falls back to a random UUID, which would make an item
        // unread again on every refresh. `item_id` derives a stable one instead.
        .id_generator(|_, _, _| String::new())
        .build()
}

fn read_document(
    body: &[u8],
    content_type: Option<&str>,
    base: &url::Url,
) -> Result<Document, FeedError> {
    let decoded = encoding::decode(body, content_type, base.host_str());
    let text: &str = &decoded.text;
    let document = |feed, recovered, mut adapted: Vec<String>| {
        let mut warnings = decoded.warnings.clone();
        warnings.append(&mut adapted);
        Document {
            feed,
            version: declared_version(text),
            encoding: decoded.encoding,
            encoding_source: decoded.source,
            recovered,
            warnings,
        }
    };
    let parse = |text: &str| feed_rs_parser(base).parse(without_declaration(text).as_bytes());
    let json = text.trim_start().starts_with('{');

    // The fast path: a well-formed feed is parsed once, in place.
    let strict = if json || !repair::needs_repair(text) {
        match parse(text) {
            Ok(feed) if !lost_its_entries(&feed, text) => {
                return Ok(document(feed, Vec::new(), Vec::new()));
            }
            Ok(feed) => Strict::LostEntries(Box::new(feed)),
            Err(error) => Strict::Failed(error),
        }
    } else {
        Strict::Skipped
    };
    if json {
        return match strict {
            Strict::Failed(ParseFeedError::JsonUnsupportedVersion(version)) => {
                let feed = json_as_version_1_1(base, text).ok_or_else(|| {
                    FeedError::Unsupported(format!("JSON Feed version {version}"))
                })?;
                let read_as = format!("JSON Feed version {version:?} read as 1.1");
                Ok(document(feed, Vec::new(), vec![read_as]))
            }
            Strict::Failed(error) => Err(describe(error)),
            Strict::LostEntries(feed) => Ok(document(*feed, Vec::new(), Vec::new())),
            Strict::Skipped => Err(FeedError::NotAFeed),
        };
    }
    if matches!(strict, Strict::Failed(_)) && looks_like_html(text.as_bytes()) {
        return Err(FeedError::HtmlPage);
    }

    let repaired = repair::repair(text);
    if let Ok(feed) = parse(&repaired.text)
        && has_substance(&feed)
    {
        return Ok(document(feed, repaired.recovered, repaired.adapted));
    }
    match strict {
        // It parsed, and the repair found nothing more: an empty feed is still a feed.
        Strict::LostEntries(feed) => Ok(document(*feed, Vec::new(), Vec::new())),
        Strict::Failed(error) => Err(describe(error)),
        // The scan sent it straight to repair, which found nothing: the strict parser
        // decides, unless the document is one that makes it panic.
        Strict::Skipped if repair::has_late_declaration(text.as_bytes()) => {
            if looks_like_html(text.as_bytes()) {
                Err(FeedError::HtmlPage)
            } else {
                Err(FeedError::Malformed(
                    "a second XML declaration, and no readable feed".to_owned(),
                ))
            }
        }
        Strict::Skipped => match parse(text) {
            Ok(feed) => Ok(document(feed, Vec::new(), Vec::new())),
            Err(_) if looks_like_html(text.as_bytes()) => Err(FeedError::HtmlPage),
            Err(error) => Err(describe(error)),
        },
    }
}

/// The document without its leading XML declaration. The text is UTF-8 now, whatever the
/// declaration says, and feed-rs would switch quick-xml's decoder to what it says (which can
/// even panic, with two `encoding` attributes); without a declaration XML is UTF-8. A slice:
/// nothing is copied.
fn without_declaration(text: &str) -> &str {
    let trimmed = text.trim_start();
    let is_declaration = trimmed
        .strip_prefix("<?xml")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_whitespace() || c == '?'));
    match trimmed.find("?>") {
        Some(end) if is_declaration => &trimmed[end + 2..],
        _ => text,
    }
}

/// What the strict attempt left to decide, when it did not settle the matter.
enum Strict {
    /// The pre-scan sent the document straight to repair.
    Skipped,
    Failed(ParseFeedError),
    /// It parsed, but without entries the document visibly has.
    LostEntries(Box<feed_rs::model::Feed>),
}

/// A strict parse with no entries from a document that visibly has some: feed-rs skipped
/// them (RSS under an unknown namespace, Atom 0.3...). Checked only for empty feeds.
fn lost_its_entries(feed: &feed_rs::model::Feed, text: &str) -> bool {
    if feed.feed_type == FeedType::RSS1 {
        // feed-rs drops RSS 1.0 items without <link>.
        let items = memmem::find_iter(text.as_bytes(), b"item")
            .filter(|&at| at > 0 && matches!(text.as_bytes()[at - 1], b'<' | b':'))
            .filter(|&at| {
                text.as_bytes()
                    .get(at + 4)
                    .is_some_and(|b| matches!(b, b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/'))
            })
            .count();
        return feed.entries.len() < items;
    }
    feed.entries.is_empty()
        && (memmem::find(text.as_bytes(), b"<item").is_some()
            || memmem::find(text.as_bytes(), b"<entry").is_some()
            || memmem::find(text.as_bytes(), b":item").is_some()
            || memmem::find(text.as_bytes(), b":entry").is_some())
}

/// Whether a repaired document gave anything a reader could show.
fn has_substance(feed: &feed_rs::model::Feed) -> bool {
    feed.title.is_some()
        || feed.entries.iter().any(|entry| {
            entry.title.is_some()
                || !entry.links.is_empty()
                || entry.summary.is_some()
                || entry.content.is_some()
        })
}

/// A JSON Feed with a version feed-rs does not know, read as 1.1 (later versions only add).
fn json_as_version_1_1(base: &url::Url, text: &str) -> Option<feed_rs::model::Feed> {
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.as_object_mut()?.insert(
        "version".to_owned(),
        "https://jsonfeed.org/version/1.1".into(),
    );
    feed_rs_parser(base)
        .parse(value.to_string().as_bytes())
        .ok()
}

/// The version the document declares: the root's `version` attribute, Atom 1.0's namespace,
/// or a JSON Feed's version URL. Looks at the first few kilobytes only.
fn declared_version(text: &str) -> Option<String> {
    let head = &text[..floor_char_boundary(text, 4096)];
    if head.trim_start().starts_with('{') {
        let at = head.find("jsonfeed.org/version/")? + "jsonfeed.org/version/".len();
        let rest = &head[at..];
        return Some(rest[..rest.find('"')?].to_owned());
    }
    let root = head
        .match_indices('<')
        .map(|(at, _)| &head[at + 1..])
        .find(|tag| {
            let name = &tag[..tag
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(tag.len())];
            matches!(name.rsplit(':').next(), Some("rss" | "RDF" | "feed"))
        })?;
    let tag = &root[..root.find('>').unwrap_or(root.len())];
    let version = tag.find("version=").and_then(|at| {
        let value = &tag[at + "version=".len()..];
        let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'')?;
        let value = &value[1..];
        Some(value[..value.find(quote)?].trim().to_owned())
    });
    version.or_else(|| {
        if tag.contains("http://my.netscape.com/rdf/simple/0.9/") {
            Some("0.90".to_owned())
        } else if tag.contains("http://www.w3.org/2005/Atom")
            || tag.contains("http://purl.org/rss/1.0/")
        {
            Some("1.0".to_owned())
        } else {
            None
        }
    })
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
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
    let items = feed.entries.iter().map(|entry| item(entry, base)).collect();
    let site_url = feed
        .links
        .iter()
        .filter(|link| link.rel.as_deref().is_none_or(|rel| rel == "alternate"))
        .find_map(|link| web_url(base, &link.href));
    Inspected {
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
        version,
        encoding,
        encoding_source,
        recovered,
        warnings,
    }
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
            // Atom's xml:base on <content> applies to the links inside it.
            let content_base = entry.base.as_deref().and_then(|href| base.join(href).ok());
            content_html(content, content_base.as_ref().unwrap_or(base))
        })
        .unwrap_or_default();
    let title = entry
        .title
        .as_ref()
        .map(plain_text)
        .filter(|t| !t.is_empty());
    let published = entry.published.or(entry.updated).map(|at| at.to_rfc3339());
    let title = title.unwrap_or_else(|| "(untitled)".to_owned());
    Item {
        id: item_id(
            &entry.id,
            link.as_deref(),
            &title,
            &description,
            published.as_deref(),
        ),
        title,
        link,
        description,
        published,
        read: false,
        starred: false,
    }
}

/// A stable id for an item: the feed's own (Atom id, RSS guid, JSON Feed id) when it has a
/// usable one, else a hash of its link and title (or, with no link, its title, date and text),
/// so the same item keeps its read/starred state across refreshes.
pub fn item_id(
    own: &str,
    link: Option<&str>,
    title: &str,
    description: &str,
    published: Option<&str>,
) -> String {
    let own = own.trim();
    if !own.is_empty() && own.len() <= MAX_ITEM_ID_LEN && !own.chars().any(char::is_control) {
        return own.to_owned();
    }
    let mut hasher = siphasher::sip128::SipHasher13::new();
    let mut write = |part: &str| {
        std::hash::Hasher::write(&mut hasher, part.as_bytes());
        // A separator, so ("ab", "c") and ("a", "bc") differ.
        std::hash::Hasher::write_u8(&mut hasher, 0xff);
    };
    // A too-long own id still identifies the item: hash it rather than cut it.
    if !own.is_empty() {
        write("id");
        write(own);
    } else if let Some(link) = link {
        write("link");
        write(link);
        write(title);
    } else {
        write("text");
        write(title);
        write(published.unwrap_or_default());
        write(description);
    }
    use siphasher::sip128::Hasher128;
    format!("h:{:032x}", hasher.finish128().as_u128())
}

/// A content element as HTML: markup sanitized, text escaped; other media types (Atom's
/// base64 images, PDFs...) have nothing to show inline.
fn content_html(content: &Content, base: &url::Url) -> Option<String> {
    let body = content.body.as_deref()?;
    let media_type = &content.content_type;
    let (ty, subtype) = (media_type.ty().as_str(), media_type.subty().as_str());
    match (ty, subtype) {
        ("text", "html") => Some(sanitize_html(body, base)),
        ("application", xhtml) if xhtml.starts_with("xhtml") => Some(sanitize_html(body, base)),
        ("text", "xml") => Some(sanitize_html(body, base)),
        ("text", _) => Some(escape_html(&decode_entities(body))),
        _ => {
            // Atom: "a base64 encoded document of the indicated media type". Text we can show.
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .ok()?;
            let text = String::from_utf8(bytes).ok()?;
            (ty == "application" && subtype.ends_with("json")).then(|| escape_html(&text))
        }
    }
}

fn html_of(text: &Text, base: &url::Url) -> String {
    if text.content_type.subty() == "plain" {
        escape_html(&decode_entities(&text.content))
    } else {
        sanitize_html(&text.content, base)
    }
}

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

/// Titles are shown as text: tags removed, entities decoded (templates escape on output).
fn plain_text(text: &Text) -> String {
    let stripped = if text.content_type.subty() == "plain" {
        // Text that is plain by the spec still carries HTML entities in the wild (&nbsp;,
        // &eacute; inside CDATA): shown as what they mean, as feedparser does.
        decode_entities(&text.content).into_owned()
    } else {
        unescape_html(&ammonia::Builder::empty().clean(&text.content).to_string())
    };
    // Control characters (which some feeds carry through unescaped) are dropped, runs of
    // white space become one space.
    let mut words = String::with_capacity(stripped.len());
    for word in stripped.split_whitespace() {
        if !words.is_empty() {
            words.push(' ');
        }
        words.extend(word.chars().filter(|c| !c.is_control()));
    }
    words
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `text` with HTML character references (named, decimal, hex) decoded; unknown ones stay.
fn decode_entities(text: &str) -> Cow<'_, str> {
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
    fn item_ids_are_the_feeds_own_or_a_stable_hash() {
        let rss = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
            <item><title>Guid</title><guid isPermaLink="false">post-1</guid></item>
            <item><title>Linked</title><link>/posts/2</link></item>
            <item><title>Bare</title><description>Only text</description></item>
            </channel></rss>"#;
        let ids = |body: &[u8]| -> Vec<String> {
            parse(body, &base())
                .expect("parses")
                .items
                .into_iter()
                .map(|item| item.id)
                .collect()
        };
        let first = ids(rss);
        assert_eq!(first[0], "post-1");
        assert!(first[1].starts_with("h:") && first[2].starts_with("h:"));
        assert_ne!(first[1], first[2]);
        assert_eq!(
            ids(rss),
            first,
            "the same document gives the same ids every time"
        );
        // An overlong id is hashed, not cut (two long ids sharing a prefix stay distinct).
        let long = "x".repeat(300);
        let hashed = item_id(&long, None, "t", "", None);
        assert!(hashed.starts_with("h:") && hashed.len() <= MAX_ITEM_ID_LEN);
        assert_ne!(hashed, item_id(&format!("{long}y"), None, "t", "", None));
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

    #[test]
    fn javascript_links_are_dropped() {
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
            <entry><title>x</title><link href="javascript:alert(1)"/><id>1</id></entry></feed>"#;
        let feed = parse(atom, &base()).expect("parses");
        assert_eq!(feed.items[0].link, None);
    }
}
