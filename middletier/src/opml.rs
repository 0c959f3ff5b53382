//! OPML, the format feed readers exchange subscription lists in: import ([`parse`]) and
//! export ([`export`]).
//!
//! Import is all or nothing. A file either yields every feed it lists, each URL valid and
//! normalised by [`FeedUrl::parse`], or an [`OpmlError`] that says in plain words what is wrong
//! (naming the first bad feed), so the caller never subscribes to part of a list silently.
//!
//! Real files come from many readers (Feedly, Inoreader, NetNewsWire, Miniflux, FreshRSS,
//! OPML 1.0 tools), so parsing is lenient where they differ and strict where it matters:
//! - any `<outline>` with an `xmlUrl` is a feed, whatever its `type` (`rss`, `atom`, `RSS`, none);
//!   attribute names are matched case-insensitively (`xmlurl`, `XMLURL`);
//! - outlines nest to any depth up to [`MAX_DEPTH`]; nested feeds are flattened, and the titles
//!   of the folders around a feed become its `category` ("Tech / Rust");
//! - the same feed listed twice (after normalisation) is kept once, with its first category;
//! - the file must be well-formed XML with an `<opml>` root and a `<body>`, at most
//!   [`MAX_OPML_BYTES`] and [`MAX_OPML_OUTLINES`] outlines; the encoding comes from the BOM or
//!   XML declaration.
//!
//! Parsing is linear in the file (duplicates are found with a set) and is CPU work: callers on
//! an async runtime use [`parse_off_runtime`], so a 2 MiB upload never holds a worker.
//!
//! XML safety: quick-xml never reads a DTD, so `<!DOCTYPE>` declarations, external entities
//! and entity-expansion bombs are inert: an undeclared entity in an attribute is kept as
//! written, never expanded or fetched.

use std::borrow::Cow;
use std::collections::HashSet;

use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::{BytesStart, Event};

use middletier_api::domain::{FeedUrl, ParseError};
use middletier_api::limits::{MAX_OPML_BYTES, MAX_OPML_DEPTH, MAX_OPML_OUTLINES};

/// Deepest element nesting accepted ([`MAX_OPML_DEPTH`]): it keeps hostile files from growing
/// the folder stack without bound.
pub const MAX_DEPTH: usize = MAX_OPML_DEPTH;

/// One feed of an imported list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpmlFeed {
    /// Normalised `http(s)` URL of the feed.
    pub url: String,
    /// The outline's `text` (else `title`), whitespace collapsed.
    pub title: Option<String>,
    /// The titles of the enclosing outlines joined with " / " (`None` at the top level).
    pub category: Option<String>,
}

/// Why an OPML file was refused, worded for the person who uploaded it. Nothing is imported
/// when any of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    #[error("the file is larger than the {} MiB limit for OPML files", MAX_OPML_BYTES / (1024 * 1024))]
    TooLarge,
    #[error("the file is not valid XML ({0}); export it again from your feed reader")]
    NotXml(String),
    #[error("the file's text could not be read: {0}; save it as UTF-8")]
    Encoding(String),
    #[error("the file is not an OPML subscription list: {0}")]
    NotOpml(&'static str),
    #[error("the OPML file lists no feeds (no outline has an xmlUrl)")]
    NoFeeds,
    #[error("outlines are nested more than {MAX_DEPTH} levels deep, the limit for OPML files")]
    TooDeep,
    #[error("the file has more than {MAX_OPML_OUTLINES} outlines, the limit for OPML files")]
    TooManyOutlines,
    /// A bug of ours or of the XML reader, caught at the boundary.
    #[error("the file could not be read (parser error)")]
    Crashed,
    #[error("{}; nothing was imported", describe_invalid(.title.as_deref(), .url, .reason, *.others))]
    InvalidFeedUrl {
        /// The outline's title, when it has one.
        title: Option<String>,
        /// The URL as written in the file.
        url: String,
        reason: ParseError,
        /// How many more feeds have invalid URLs.
        others: usize,
    },
}

fn describe_invalid(title: Option<&str>, url: &str, reason: &ParseError, others: usize) -> String {
    let feed = match title {
        Some(title) => format!("the feed \"{title}\" has an invalid URL \"{url}\""),
        None => format!("the feed URL \"{url}\" is invalid"),
    };
    let more = match others {
        0 => String::new(),
        1 => " (and 1 more feed has an invalid URL)".to_owned(),
        n => format!(" (and {n} more feeds have invalid URLs)"),
    };
    format!("{feed}: {reason}{more}")
}

/// [`parse`] on the blocking thread pool, so the async workers go on serving while it runs.
pub async fn parse_off_runtime(bytes: axum::body::Bytes) -> Result<Vec<OpmlFeed>, OpmlError> {
    tokio::task::spawn_blocking(move || parse(&bytes))
        .await
        .unwrap_or_else(|panicked| {
            tracing::error!(error = %panicked, "OPML parser crashed");
            Err(OpmlError::Crashed)
        })
}

/// Reads the feeds of an OPML 1.0 or 2.0 document; see the module docs for what is accepted.
pub fn parse(bytes: &[u8]) -> Result<Vec<OpmlFeed>, OpmlError> {
    if bytes.len() > MAX_OPML_BYTES {
        return Err(OpmlError::TooLarge);
    }
    let text = decode(bytes)?;
    let mut reader = quick_xml::Reader::from_str(&text);
    reader.config_mut().check_end_names = true;

    // Element names from the root down, and the folder label each outline contributes.
    let mut open: Vec<(String, Option<String>)> = Vec::new();
    let mut seen_root = false;
    let mut seen_body = false;
    let mut feeds: Vec<OpmlFeed> = Vec::new();
    let mut listed: HashSet<String> = HashSet::new();
    let mut outlines = 0;
    let mut invalid: Vec<(Option<String>, String, ParseError)> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|error| {
            OpmlError::NotXml(format!("{error} near byte {}", reader.error_position()))
        })?;
        let (element, is_empty) = match event {
            Event::Start(element) => (element, false),
            Event::Empty(element) => (element, true),
            Event::End(_) => {
                open.pop();
                continue;
            }
            Event::Eof => break,
            // Text, comments, processing instructions, the declaration and the DTD carry no
            // feeds; the DTD in particular is never interpreted.
            _ => continue,
        };
        let name = local_name(&element);
        if !seen_root {
            seen_root = true;
            if !name.eq_ignore_ascii_case("opml") {
                return Err(OpmlError::NotOpml(not_opml_hint(&name)));
            }
        } else if open.is_empty() {
            return Err(OpmlError::NotXml("more than one root element".to_owned()));
        }
        let in_opml = open.len() == 1;
        let in_body = open.len() >= 2 && open[1].0.eq_ignore_ascii_case("body");
        let mut label = None;
        if in_opml && name.eq_ignore_ascii_case("body") {
            seen_body = true;
        } else if in_body && name.eq_ignore_ascii_case("outline") {
            outlines += 1;
            if outlines > MAX_OPML_OUTLINES {
                return Err(OpmlError::TooManyOutlines);
            }
            let outline = Outline::read(&element)?;
            if let Some(raw_url) = outline.xml_url.filter(|u| !u.trim().is_empty()) {
                match FeedUrl::parse(&raw_url) {
                    Ok(url) => {
                        let url = url.to_string();
                        if listed.insert(url.clone()) {
                            feeds.push(OpmlFeed {
                                url,
                                title: outline.title.clone(),
                                category: category(&open),
                            });
                        }
                    }
                    Err(reason) => invalid.push((outline.title.clone(), raw_url, reason)),
                }
            }
            label = outline.title;
        }
        if !is_empty {
            if open.len() >= MAX_DEPTH {
                return Err(OpmlError::TooDeep);
            }
            open.push((name, label));
        }
    }
    if !open.is_empty() {
        return Err(OpmlError::NotXml(
            "the file ends before its elements are closed; it may be truncated".to_owned(),
        ));
    }
    if !seen_root {
        return Err(OpmlError::NotXml("there is no root element".to_owned()));
    }
    if !seen_body {
        return Err(OpmlError::NotOpml("it has no <body>"));
    }
    let others = invalid.len().saturating_sub(1);
    if let Some((title, url, reason)) = invalid.into_iter().next() {
        return Err(OpmlError::InvalidFeedUrl {
            title,
            url,
            reason,
            others,
        });
    }
    if feeds.is_empty() {
        return Err(OpmlError::NoFeeds);
    }
    Ok(feeds)
}

/// The document as text: UTF-8 (with or without BOM), UTF-16 with a BOM, or the 8-bit
/// encoding its XML declaration names (`ISO-8859-1`, `windows-1252`, …). Text that is valid
/// UTF-8 is read as UTF-8 whatever it declares, the common case of a mislabelled export.
fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, OpmlError> {
    let detected = quick_xml::encoding::detect_encoding(bytes);
    let body = &bytes[detected.as_ref().map_or(0, |d| d.bom_len())..];
    if let Some(wide) = detected
        .map(|d| d.encoding())
        .filter(|encoding| encoding.name().starts_with("UTF-16"))
    {
        return quick_xml::encoding::decode(body, wide)
            .map_err(|_| OpmlError::Encoding(format!("it is not valid {}", wide.name())));
    }
    if let Ok(text) = std::str::from_utf8(body) {
        return Ok(Cow::Borrowed(text));
    }
    // Not UTF-8: the declaration, which is ASCII in every 8-bit encoding, says what it is.
    let declared = match quick_xml::Reader::from_reader(body).read_event() {
        Ok(Event::Decl(declaration)) => declaration.encoder(),
        _ => None,
    };
    match declared.filter(|encoding| encoding.name() != "UTF-8") {
        Some(encoding) => quick_xml::encoding::decode(body, encoding)
            .map_err(|_| OpmlError::Encoding(format!("it is not valid {}", encoding.name()))),
        None => Err(OpmlError::Encoding(
            "it is not UTF-8 and declares no other encoding that could be read".to_owned(),
        )),
    }
}

/// The attributes of an `<outline>` that matter here.
#[derive(Debug)]
struct Outline {
    title: Option<String>,
    xml_url: Option<String>,
}

impl Outline {
    fn read(element: &BytesStart<'_>) -> Result<Self, OpmlError> {
        let (mut text, mut title, mut xml_url) = (None, None, None);
        // Duplicate attributes are a common exporter slip; the first one wins.
        for attribute in element.attributes().with_checks(false) {
            let attribute = attribute.map_err(|error| OpmlError::NotXml(error.to_string()))?;
            let key = attribute.key.local_name().as_ref().to_owned();
            let slot = match key.to_ascii_lowercase().as_str() {
                "text" => &mut text,
                "title" => &mut title,
                "xmlurl" => &mut xml_url,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(attribute_value(&attribute));
            }
        }
        Ok(Self {
            title: text.and_then(clean).or_else(|| title.and_then(clean)),
            xml_url,
        })
    }
}

/// The attribute's value with the predefined and numeric references decoded. A reference to an
/// entity a DTD would declare is not expanded: the raw value is kept as written.
fn attribute_value(attribute: &quick_xml::events::attributes::Attribute<'_>) -> String {
    attribute
        .normalized_value_with(
            quick_xml::XmlVersion::Implicit1_0,
            1,
            resolve_predefined_entity,
        )
        .unwrap_or_else(|_| Cow::Borrowed(attribute.value.as_ref()))
        .into_owned()
}

fn local_name(element: &BytesStart<'_>) -> String {
    element.local_name().as_ref().to_owned()
}

/// Labels of the enclosing outlines, outermost first.
fn category(open: &[(String, Option<String>)]) -> Option<String> {
    let labels: Vec<&str> = open
        .iter()
        .filter_map(|(_, label)| label.as_deref())
        .collect();
    (!labels.is_empty()).then(|| labels.join(" / "))
}

fn clean(raw: String) -> Option<String> {
    let title = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    (!title.is_empty()).then_some(title)
}

/// A hint for the common mistake of uploading something else.
fn not_opml_hint(root: &str) -> &'static str {
    match root.to_ascii_lowercase().as_str() {
        "rss" | "rdf" | "feed" => "it is a feed; subscribe to its URL instead",
        "html" => "it is a web page",
        _ => "its root element is not <opml>",
    }
}

/// One subscription to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportFeed {
    pub url: String,
    pub title: String,
    /// Its folder; `None`: at the top level.
    pub category: Option<String>,
}

/// An OPML 2.0 document listing `feeds` for `user`, as feed readers import it: uncategorised
/// feeds at the top level, then one folder outline per category (in order of first use).
pub fn export(user: &str, feeds: &[ExportFeed]) -> String {
    export_at(user, feeds, chrono::Utc::now())
}

fn export_at(user: &str, feeds: &[ExportFeed], created: chrono::DateTime<chrono::Utc>) -> String {
    let mut out = String::with_capacity(256 + feeds.len() * 160);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head>\n");
    out.push_str(&format!(
        "    <title>Subscriptions of {}</title>\n",
        xml_text(user)
    ));
    // RFC 822 dates, as OPML 2.0 asks.
    out.push_str(&format!(
        "    <dateCreated>{}</dateCreated>\n",
        created.format("%a, %d %b %Y %H:%M:%S GMT")
    ));
    out.push_str("  </head>\n  <body>\n");
    let feed_line = |out: &mut String, indent: &str, feed: &ExportFeed| {
        // `text` is required; a feed whose title is unknown is labelled by its URL.
        let text = if feed.title.trim().is_empty() {
            &feed.url
        } else {
            &feed.title
        };
        out.push_str(&format!(
            "{indent}<outline type=\"rss\" text=\"{text}\" title=\"{text}\" xmlUrl=\"{url}\"/>\n",
            text = xml_text(text),
            url = xml_text(&feed.url),
        ));
    };
    for feed in feeds.iter().filter(|feed| feed.category.is_none()) {
        feed_line(&mut out, "    ", feed);
    }
    let mut categories: Vec<&str> = Vec::new();
    for category in feeds.iter().filter_map(|feed| feed.category.as_deref()) {
        if !categories.contains(&category) {
            categories.push(category);
        }
    }
    for category in categories {
        out.push_str(&format!(
            "    <outline text=\"{name}\" title=\"{name}\">\n",
            name = xml_text(category)
        ));
        for feed in feeds
            .iter()
            .filter(|feed| feed.category.as_deref() == Some(category))
        {
            feed_line(&mut out, "      ", feed);
        }
        out.push_str("    </outline>\n");
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

/// Escapes for both text and attribute values. Control characters, which XML 1.0 cannot
/// carry even escaped, become spaces (titles are shown as text, so nothing is lost).
fn xml_text(raw: &str) -> Cow<'_, str> {
    if raw.chars().any(char::is_control) {
        let cleaned: String = raw
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        Cow::Owned(escape(cleaned).into_owned())
    } else {
        escape(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(url: &str, title: &str, category: Option<&str>) -> OpmlFeed {
        OpmlFeed {
            url: url.to_owned(),
            title: Some(title.to_owned()),
            category: category.map(str::to_owned),
        }
    }

    #[test]
    fn feedly_style_categories_become_category_labels() {
        let opml = br#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>Ann subscriptions in feedly Cloud</title></head>
  <body>
    <outline text="Tech" title="Tech">
      <outline type="rss" text="Rust Blog" title="Rust Blog" xmlUrl="https://blog.rust-lang.org/feed.xml" htmlUrl="https://blog.rust-lang.org/"/>
      <outline type="rss" text="LWN" title="LWN.net" xmlUrl="https://lwn.net/headlines/rss"/>
    </outline>
    <outline text="News">
      <outline type="rss" text="BBC" xmlUrl="http://feeds.bbci.co.uk/news/rss.xml"/>
    </outline>
  </body>
</opml>"#;
        assert_eq!(
            parse(opml).expect("parses"),
            [
                feed(
                    "https://blog.rust-lang.org/feed.xml",
                    "Rust Blog",
                    Some("Tech")
                ),
                feed("https://lwn.net/headlines/rss", "LWN", Some("Tech")),
                feed("http://feeds.bbci.co.uk/news/rss.xml", "BBC", Some("News")),
            ]
        );
    }

    #[test]
    fn nested_folders_are_flattened_into_a_path_and_top_level_feeds_have_none() {
        // NetNewsWire and Inoreader shapes: top-level feeds, nested folders, title-only labels.
        let opml = br#"<?xml version="1.0" encoding="UTF-8"?>
<!-- OPML generated by NetNewsWire -->
<opml version="1.1">
<head><title>Subscriptions-OnMyMac.opml</title></head>
<body>
<outline text="Daring Fireball" title="Daring Fireball" description="" type="rss" version="RSS" htmlUrl="https://daringfireball.net/" xmlUrl="https://daringfireball.net/feeds/main"/>
<outline title="Dev">
  <outline text="Languages">
    <outline text="  Go
       Blog " type="atom" xmlUrl="https://go.dev/blog/feed.atom"/>
  </outline>
  <outline text="Six Colors" xmlUrl="https://sixcolors.com/feed/"></outline>
</outline>
<outline text="Empty folder"/>
</body>
</opml>"#;
        assert_eq!(
            parse(opml).expect("parses"),
            [
                OpmlFeed {
                    url: "https://daringfireball.net/feeds/main".into(),
                    title: Some("Daring Fireball".into()),
                    category: None,
                },
                feed(
                    "https://go.dev/blog/feed.atom",
                    "Go Blog",
                    Some("Dev / Languages")
                ),
                feed("https://sixcolors.com/feed/", "Six Colors", Some("Dev")),
            ]
        );
    }

    #[test]
    fn attribute_names_in_any_case_and_any_outline_type_are_accepted() {
        let opml = br#"<opml version="2.0"><body>
            <outline TEXT="Upper" XMLURL="https://a.example/feed" TYPE="RSS"/>
            <outline title="Lower" xmlurl="https://b.example/feed"/>
            <outline text="Typeless" xmlUrl="https://c.example/feed"/>
            <outline text="No title attr at all" type="link" url="https://d.example/"/>
            <outline xmlUrl="https://e.example/feed?a=1&amp;b=2"/>
        </body></opml>"#;
        let feeds = parse(opml).expect("parses");
        let urls: Vec<&str> = feeds.iter().map(|f| f.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://a.example/feed",
                "https://b.example/feed",
                "https://c.example/feed",
                "https://e.example/feed?a=1&b=2",
            ]
        );
        assert_eq!(feeds[0].title.as_deref(), Some("Upper"));
        assert_eq!(feeds[1].title.as_deref(), Some("Lower"));
        assert_eq!(feeds[3].title, None);
    }

    #[test]
    fn the_same_feed_listed_twice_is_imported_once_with_its_first_category() {
        let opml = br#"<opml version="2.0"><body>
            <outline text="A"><outline text="One" xmlUrl="HTTPS://Example.com:443/feed#x"/></outline>
            <outline text="B"><outline text="Two" xmlUrl="https://example.com/feed"/></outline>
        </body></opml>"#;
        assert_eq!(
            parse(opml).expect("parses"),
            [feed("https://example.com/feed", "One", Some("A"))]
        );
    }

    #[test]
    fn an_invalid_url_refuses_the_whole_file_and_names_the_feed() {
        let opml = br#"<opml version="2.0"><body>
            <outline text="Good" xmlUrl="https://good.example/feed"/>
            <outline text="Local file" xmlUrl="file:///etc/passwd"/>
            <outline text="Relative" xmlUrl="/feed.xml"/>
        </body></opml>"#;
        let error = parse(opml).expect_err("refused");
        assert!(
            matches!(&error, OpmlError::InvalidFeedUrl { title: Some(t), url, others: 1, .. }
                if t == "Local file" && url == "file:///etc/passwd"),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "the feed \"Local file\" has an invalid URL \"file:///etc/passwd\": only http and \
             https feed URLs are supported, not 'file:' (and 1 more feed has an invalid URL); \
             nothing was imported"
        );
    }

    #[test]
    fn files_that_are_not_opml_get_a_clear_reason() {
        let cases: [(&[u8], &str); 9] = [
            (b"", "not valid XML"),
            (b"just some text", "not valid XML"),
            (
                b"<opml><body><outline xmlUrl='https://a.example/'></body></opml>",
                "not valid XML",
            ),
            (
                b"<opml><body><outline text='x' xmlUrl='https://a.example/'/>",
                "truncated",
            ),
            (b"<opml><body/></opml><opml/>", "more than one root"),
            (b"<rss version='2.0'><channel/></rss>", "it is a feed"),
            (b"<html><body></body></html>", "it is a web page"),
            (b"<opml version='2.0'><head/></opml>", "it has no <body>"),
            (
                b"<opml version='2.0'><head/><body><outline text='folder'/></body></opml>",
                "lists no feeds",
            ),
        ];
        for (input, expected) in cases {
            let message = parse(input).expect_err("refused").to_string();
            assert!(
                message.contains(expected),
                "{:?}: {message}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn oversized_and_overly_deep_files_are_refused() {
        let big = vec![b' '; MAX_OPML_BYTES + 1];
        assert!(matches!(parse(&big), Err(OpmlError::TooLarge)));
        let deep = format!(
            "<opml><body>{}{}</body></opml>",
            "<outline text='f'>".repeat(MAX_DEPTH),
            "</outline>".repeat(MAX_DEPTH)
        );
        assert!(matches!(parse(deep.as_bytes()), Err(OpmlError::TooDeep)));
        let outline = "<outline xmlUrl='https://a.example/feed'/>";
        let many = |n| format!("<opml><body>{}</body></opml>", outline.repeat(n));
        assert!(parse(many(MAX_OPML_OUTLINES).as_bytes()).is_ok());
        assert!(matches!(
            parse(many(MAX_OPML_OUTLINES + 1).as_bytes()),
            Err(OpmlError::TooManyOutlines)
        ));
    }

    #[test]
    fn dtds_and_entities_stay_inert() {
        let opml = br#"<?xml version="1.0"?>
<!DOCTYPE opml [
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
  <!ENTITY a "aaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
]>
<opml version="2.0"><body>
  <outline text="&b;&xxe;" xmlUrl="https://a.example/feed"/>
  <outline text="Body &xxe;">&xxe;&b;</outline>
</body></opml>"#;
        let feeds = parse(opml).expect("parses");
        assert_eq!(feeds.len(), 1);
        assert_eq!(feeds[0].title.as_deref(), Some("&b;&xxe;"));
        let in_url = br#"<!DOCTYPE opml [<!ENTITY host "internal.example">]>
<opml><body><outline text="x" xmlUrl="http://&host;/feed"/></body></opml>"#;
        let feeds = parse(in_url).expect("parses");
        assert_eq!(feeds[0].url, "http://&host;/feed", "never expanded");
    }

    #[test]
    fn encodings_other_than_utf8_are_decoded() {
        let mut latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n\
            <opml version=\"1.0\"><body><outline text=\"Caf"
            .to_vec();
        latin1.push(0xE9);
        latin1.extend_from_slice(b"\" xmlUrl=\"https://cafe.example/rss\"/></body></opml>");
        assert_eq!(
            parse(&latin1).expect("parses")[0].title.as_deref(),
            Some("Café")
        );

        let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><opml><body>\
                    <outline text=\"Wide\" xmlUrl=\"https://w.example/\"/></body></opml>";
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(
            parse(&utf16).expect("parses")[0].title.as_deref(),
            Some("Wide")
        );

        let mut not_utf8 = b"<opml><body><outline text='".to_vec();
        not_utf8.extend_from_slice(&[0xC3, 0x28]);
        not_utf8.extend_from_slice(b"' xmlUrl='https://b.example/'/></body></opml>");
        let error = parse(&not_utf8).expect_err("undecodable");
        assert!(matches!(error, OpmlError::Encoding(_)), "{error}");

        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(
            b"<opml><body><outline text='B' xmlUrl='https://b.example/'/></body></opml>",
        );
        assert_eq!(parse(&bom).expect("parses").len(), 1);
    }

    fn outlines(feeds: &[(String, String)]) -> Vec<ExportFeed> {
        feeds
            .iter()
            .map(|(url, title)| ExportFeed {
                url: url.clone(),
                title: title.clone(),
                category: None,
            })
            .collect()
    }

    #[test]
    fn export_groups_by_category_and_import_reads_it_back() {
        let feed = |n: u8, category: Option<&str>| ExportFeed {
            url: format!("https://{n}.example/feed"),
            title: format!("Feed {n}"),
            category: category.map(str::to_owned),
        };
        let feeds = [
            feed(1, Some("Rust & Go")),
            feed(2, None),
            feed(3, Some("News")),
            feed(4, Some("Rust & Go")),
        ];
        let out = export("ann", &feeds);
        assert!(
            out.contains("<outline text=\"Rust &amp; Go\" title=\"Rust &amp; Go\">"),
            "{out}"
        );
        let imported = parse(out.as_bytes()).expect("round trip");
        let got: Vec<(String, Option<String>)> = imported
            .into_iter()
            .map(|feed| (feed.url, feed.category))
            .collect();
        let category = |name: &str| Some(name.to_owned());
        assert_eq!(
            got,
            [
                ("https://2.example/feed".to_owned(), None),
                ("https://1.example/feed".to_owned(), category("Rust & Go")),
                ("https://4.example/feed".to_owned(), category("Rust & Go")),
                ("https://3.example/feed".to_owned(), category("News")),
            ],
            "uncategorised first, then each folder once"
        );
    }

    #[test]
    fn export_is_opml_2_with_escaped_titles() {
        let created = chrono::DateTime::parse_from_rfc3339("2025-06-10T04:05:06Z")
            .expect("date")
            .with_timezone(&chrono::Utc);
        let out = export_at(
            "ann",
            &outlines(&[
                (
                    "https://a.example/feed?x=1&y=2".into(),
                    "Tom & \"Jerry\" <3".into(),
                ),
                ("https://b.example/feed".into(), " ".into()),
            ]),
            created,
        );
        assert_eq!(
            out,
            r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head>
    <title>Subscriptions of ann</title>
    <dateCreated>Tue, 10 Jun 2025 04:05:06 GMT</dateCreated>
  </head>
  <body>
    <outline type="rss" text="Tom &amp; &quot;Jerry&quot; &lt;3" title="Tom &amp; &quot;Jerry&quot; &lt;3" xmlUrl="https://a.example/feed?x=1&amp;y=2"/>
    <outline type="rss" text="https://b.example/feed" title="https://b.example/feed" xmlUrl="https://b.example/feed"/>
  </body>
</opml>
"#
        );
    }

    #[test]
    fn export_then_import_gives_the_same_feeds() {
        let feeds: Vec<(String, String)> = vec![
            (
                "https://a.example/feed?x=1&y=2".into(),
                "Tom & \"Jerry\" <3 'ok'".into(),
            ),
            (
                "http://b.example/rss.xml".into(),
                "Ünïcødé — 日本語 🦀".into(),
            ),
            (
                "https://c.example/atom".into(),
                "Tab\there\u{0}and NUL".into(),
            ),
        ];
        let imported = parse(export("ann <&>", &outlines(&feeds)).as_bytes()).expect("round trip");
        let expected: Vec<OpmlFeed> = vec![
            OpmlFeed {
                url: feeds[0].0.clone(),
                title: Some(feeds[0].1.clone()),
                category: None,
            },
            OpmlFeed {
                url: feeds[1].0.clone(),
                title: Some(feeds[1].1.clone()),
                category: None,
            },
            OpmlFeed {
                url: feeds[2].0.clone(),
                title: Some("Tab here and NUL".into()),
                category: None,
            },
        ];
        assert_eq!(imported, expected);
    }
}
