//! Turning downloaded bytes into the API's items: parse with feed-rs, then make every string
//! safe to show (plain-text titles, sanitized HTML descriptions, absolute `http(s)` links).

use feed_rs::model::{Entry, Text};
use feed_rs::parser::{ParseErrorKind, ParseFeedError};

use crate::api::Item;

/// What we keep of a parsed feed.
#[derive(Debug)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub items: Vec<Item>,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("this is not an RSS, Atom or JSON feed")]
    NotAFeed,
    #[error("the feed is malformed: {0}")]
    Malformed(String),
    #[error("the feed uses an unsupported format: {0}")]
    Unsupported(String),
}

/// Parses a feed document. `base` (the URL it was fetched from) resolves relative links.
///
/// feed-rs gets the raw bytes so it can honour the document's own encoding declaration.
pub fn parse(body: &[u8], base: &url::Url) -> Result<ParsedFeed, FeedError> {
    let feed = feed_rs::parser::Builder::new()
        .base_uri(Some(base.as_str()))
        .build()
        .parse(body)
        .map_err(describe)?;
    let items = feed.entries.iter().map(|entry| item(entry, base)).collect();
    Ok(ParsedFeed {
        title: feed
            .title
            .as_ref()
            .map(plain_text)
            .filter(|t| !t.is_empty()),
        items,
    })
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
        .and_then(|l| base.join(&l.href).ok())
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .map(String::from);
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
    fn html_pages_are_not_feeds() {
        let err = parse(b"<!doctype html><html><body>hi</body></html>", &base()).expect_err("html");
        assert!(matches!(err, FeedError::NotAFeed), "{err}");
    }

    #[test]
    fn javascript_links_are_dropped() {
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
            <entry><title>x</title><link href="javascript:alert(1)"/><id>1</id></entry></feed>"#;
        let feed = parse(atom, &base()).expect("parses");
        assert_eq!(feed.items[0].link, None);
    }
}
