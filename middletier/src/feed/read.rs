//! The lenient reading layer: bytes to a feed-rs [`Feed`](feed_rs::model::Feed), the strict
//! parse first and the repair only when a document needs it (steps 1 to 4 of the parent
//! module's docs). Nothing here makes content safe to show: that is the parent's `present`.

use feed_rs::model::FeedType;
use feed_rs::parser::{ParseErrorKind, ParseFeedError};
use memchr::memmem;

use super::text::floor_char_boundary;
use super::{Document, FeedError, dates, encoding, repair};

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

/// Decodes and parses `body`, strictly first, repairing only when needed (see the parent
/// module's docs).
pub(super) fn read_document(
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

#[cfg(test)]
mod tests {
    use super::super::{FeedError, parse};

    fn base() -> url::Url {
        url::Url::parse("https://blog.example/feed.xml").expect("url")
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
}
