//! Finding a website's feeds, so people can subscribe by pasting the address they know.
//!
//! Modelled on Miniflux's `subscription/finder.go`. Given an HTML page (already fetched by the
//! caller, which found it was not a feed), [`discover`] returns, best first:
//!
//! 1. the feeds the page announces with `<link rel="alternate" type="application/rss+xml" …>`
//!    (and Atom, JSON Feed), in document order, without fetching them: publishers who announce
//!    a feed mean it, and fetching each would make every discovery as slow as the slowest link;
//! 2. only if the page announces none, the first of [`COMMON_PATHS`] on the page's origin that
//!    answers with something that parses as a feed.
//!
//! The link scanner ([`feed_links`]) is a small hand-written tokenizer rather than an HTML5
//! parser: it only needs the attributes of `<link>` and `<base>` tags, must never see tags inside
//! comments or `<script>`, and reads at most [`MAX_HTML_BYTES`], which bounds its work on
//! hostile pages. Every URL it returns is absolute `http(s)` and normalised by
//! [`FeedUrl::parse`], so it can be subscribed to as is.

use std::collections::HashSet;

use futures::StreamExt;
use middletier_api::domain::FeedUrl;
use middletier_api::{Candidate, FeedKind};

use crate::fetch::Fetcher;

/// How much of a page is scanned for links. Feed links live in `<head>`, which real pages
/// finish within the first few kilobytes; 2 MiB leaves room for pages that inline megabytes of
/// scripts or styles before them, and bounds the work a hostile page can cause.
pub const MAX_HTML_BYTES: usize = 2 * 1024 * 1024;

/// Most candidates offered from one page. Real pages link a handful (posts, comments, per
/// category); a longer list could not be chosen from, and the cap bounds hostile pages.
pub const MAX_CANDIDATES: usize = 20;

/// Where sites without `<link rel="alternate">` usually keep their feed, in the order tried:
/// WordPress (`/feed`), Ghost and many CMSs (`/rss`), Jekyll and Octopress (`/atom.xml`,
/// `/feed.xml`), generic (`/rss.xml`), Hugo (`/index.xml`), JSON Feed (`/feed.json`), Blogger
/// (`/feeds/posts/default`). The most widespread engines come first, since the first hit wins.
pub const COMMON_PATHS: &[&str] = &[
    "/feed",
    "/rss",
    "/atom.xml",
    "/feed.xml",
    "/rss.xml",
    "/index.xml",
    "/feed.json",
    "/feeds/posts/default",
];

/// How many common paths are probed at once: enough to hide most of a round trip, few enough
/// not to hammer a site that has none of them (it gets at most `COMMON_PATHS.len()` requests).
const PROBE_CONCURRENCY: usize = 3;

/// The kind of a document that is known to parse as a feed, from its first bytes.
fn sniff_kind(body: &[u8]) -> FeedKind {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let text = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if text.starts_with('{') {
        return FeedKind::JsonFeed;
    }
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        if rest.starts_with(['?', '!']) {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '>' | '/'))
            .collect();
        let local = name.rsplit(':').next().unwrap_or_default();
        return if local.eq_ignore_ascii_case("feed") {
            FeedKind::Atom
        } else {
            FeedKind::Rss
        };
    }
    FeedKind::Rss
}

/// The feeds an HTML page announces, in document order, without duplicates, at most
/// [`MAX_CANDIDATES`].
///
/// Looks at `<link>` tags whose `rel` holds the token `alternate` (any case, among others) and
/// whose `type` is RSS, Atom or JSON Feed. Relative `href`s resolve against the page's first
/// `<base href>`, else `page_url`. Tags inside comments, `<script>`, `<style>`, `<template>`
/// and `<textarea>` are ignored; only the first [`MAX_HTML_BYTES`] are read.
pub fn feed_links(html: &str, page_url: &url::Url) -> Vec<Candidate> {
    let html = truncate_at_char_boundary(html, MAX_HTML_BYTES);
    let mut base_href: Option<String> = None;
    let mut links = Vec::new();
    for tag in Tags::new(html) {
        match tag.name.as_str() {
            "base" if base_href.is_none() => base_href = tag.attr("href").map(str::to_owned),
            "link" => links.push(tag),
            _ => {}
        }
    }
    // Like browsers, the first <base href> applies to the whole document, even links before it.
    let base = base_href
        .and_then(|href| page_url.join(href.trim()).ok())
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .unwrap_or_else(|| page_url.clone());

    let mut candidates: Vec<Candidate> = Vec::new();
    let mut seen = HashSet::new();
    for link in links {
        if candidates.len() == MAX_CANDIDATES {
            break;
        }
        let is_alternate = link.attr("rel").is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|token| token.eq_ignore_ascii_case("alternate"))
        });
        if !is_alternate {
            continue;
        }
        let Some(kind) = link.attr("type").and_then(FeedKind::from_media_type) else {
            continue;
        };
        let Some(href) = link.attr("href").map(str::trim).filter(|h| !h.is_empty()) else {
            continue;
        };
        // FeedUrl keeps only http(s) without credentials, and normalises for deduplication.
        let Some(url) = base
            .join(href)
            .ok()
            .and_then(|url| FeedUrl::parse(url.as_str()).ok())
        else {
            continue;
        };
        if !seen.insert(url.to_string()) {
            continue;
        }
        candidates.push(Candidate {
            url: url.to_string(),
            title: link.attr("title").and_then(clean_title),
            kind,
        });
    }
    candidates
}

/// The feeds of the page `page` whose body is `html`: its announced feeds, else the first
/// common path on its origin that serves a feed (see the module docs).
///
/// `page` should be the URL the page was finally served from (after redirects), so relative
/// links resolve as the browser would. Probes go through `fetcher`, with its timeouts, size cap
/// and private-network guard; at most [`COMMON_PATHS`]`.len()` requests, 3 at a time, and the
/// probing stops at the first hit. Probe failures are not errors: they just find nothing. The
/// probed URL is returned rather than where it redirected to, so a temporary redirect is not
/// frozen into the subscription.
pub async fn discover(fetcher: &Fetcher, page: &FeedUrl, html: &[u8]) -> Vec<Candidate> {
    let scanned = &html[..html.len().min(MAX_HTML_BYTES)];
    let linked = feed_links(&String::from_utf8_lossy(scanned), page.as_url());
    if !linked.is_empty() {
        return linked;
    }
    let probes = common_path_urls(page);
    let mut results = futures::stream::iter(probes)
        .map(|url| async move { probe(fetcher, url).await })
        .buffered(PROBE_CONCURRENCY);
    while let Some(result) = results.next().await {
        if let Some(candidate) = result {
            return vec![candidate];
        }
    }
    Vec::new()
}

/// [`COMMON_PATHS`] on the origin of `page`, skipping the page itself.
fn common_path_urls(page: &FeedUrl) -> Vec<FeedUrl> {
    COMMON_PATHS
        .iter()
        .filter_map(|path| page.as_url().join(path).ok())
        .filter_map(|url| FeedUrl::parse(url.as_str()).ok())
        .filter(|url| url != page)
        .collect()
}

async fn probe(fetcher: &Fetcher, url: FeedUrl) -> Option<Candidate> {
    let fetched = match fetcher.fetch(&url).await {
        Ok(fetched) => fetched,
        Err(error) => {
            tracing::debug!(%url, %error, "discovery probe found nothing");
            return None;
        }
    };
    // Parsing is CPU work (up to the fetch size cap): keep it off the async workers.
    let parsed = tokio::task::spawn_blocking(move || {
        crate::feed::parse(&fetched.body, &fetched.final_url)
            .map(|feed| (feed.title, sniff_kind(&fetched.body)))
    })
    .await;
    match parsed {
        Ok(Ok((title, kind))) => Some(Candidate {
            url: url.to_string(),
            title,
            kind,
        }),
        Ok(Err(error)) => {
            tracing::debug!(%url, %error, "discovery probe is not a feed");
            None
        }
        Err(join_error) => {
            tracing::warn!(%url, error = %join_error, "feed parser crashed during discovery");
            None
        }
    }
}

fn truncate_at_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn clean_title(raw: &str) -> Option<String> {
    let title = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    (!title.is_empty()).then_some(title)
}

/// A start tag: lower-cased name and attributes (names lower-cased, values entity-decoded).
#[derive(Debug)]
struct Tag {
    name: String,
    attributes: Vec<(String, String)>,
}

impl Tag {
    /// The first attribute of that (lower-case) name; later duplicates are ignored, as in HTML.
    fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Elements whose content is text, not markup: a `<link` inside them is not a tag.
const RAW_TEXT_ELEMENTS: &[&str] = &["script", "style", "template", "textarea", "title", "xmp"];

/// An iterator over the start tags of an HTML document (a deliberately small subset of the
/// HTML tokenizer: comments, doctypes, processing instructions, end tags and raw-text element
/// contents are skipped).
#[derive(Debug)]
struct Tags<'a> {
    html: &'a str,
    pos: usize,
}

impl<'a> Tags<'a> {
    fn new(html: &'a str) -> Self {
        Self { html, pos: 0 }
    }

    /// Moves past the next occurrence of `needle` (ASCII, matched case-insensitively), or to
    /// the end of the input.
    fn skip_past(&mut self, needle: &str) {
        let bytes = self.html.as_bytes();
        let found = bytes[self.pos..]
            .windows(needle.len())
            .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()));
        self.pos = match found {
            Some(at) => self.pos + at + needle.len(),
            None => bytes.len(),
        };
    }

    /// Parses the attributes of a start tag whose name ended at `self.pos`, through its `>`.
    fn attributes(&mut self) -> Vec<(String, String)> {
        let bytes = self.html.as_bytes();
        let mut attributes = Vec::new();
        loop {
            while self.pos < bytes.len()
                && (bytes[self.pos].is_ascii_whitespace() || bytes[self.pos] == b'/')
            {
                self.pos += 1;
            }
            if self.pos >= bytes.len() {
                return attributes;
            }
            if bytes[self.pos] == b'>' {
                self.pos += 1;
                return attributes;
            }
            let name_start = self.pos;
            // A name runs to whitespace, '/', '>' or '='; a leading '=' belongs to the name.
            self.pos += 1;
            while self.pos < bytes.len()
                && !bytes[self.pos].is_ascii_whitespace()
                && !matches!(bytes[self.pos], b'/' | b'>' | b'=')
            {
                self.pos += 1;
            }
            let name = self.html[name_start..self.pos].to_ascii_lowercase();
            let after_name = self.pos;
            while self.pos < bytes.len() && bytes[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            if self.pos >= bytes.len() || bytes[self.pos] != b'=' {
                // A bare attribute (`<link async>`): empty value; what follows is a new name.
                self.pos = after_name;
                attributes.push((name, String::new()));
                continue;
            }
            self.pos += 1;
            while self.pos < bytes.len() && bytes[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            let raw = match bytes.get(self.pos) {
                Some(&quote @ (b'"' | b'\'')) => {
                    let start = self.pos + 1;
                    let end = bytes[start..]
                        .iter()
                        .position(|&b| b == quote)
                        .map_or(bytes.len(), |at| start + at);
                    self.pos = (end + 1).min(bytes.len());
                    &self.html[start..end]
                }
                _ => {
                    let start = self.pos;
                    while self.pos < bytes.len()
                        && !bytes[self.pos].is_ascii_whitespace()
                        && bytes[self.pos] != b'>'
                    {
                        self.pos += 1;
                    }
                    &self.html[start..self.pos]
                }
            };
            attributes.push((name, decode_entities(raw)));
        }
    }
}

impl Iterator for Tags<'_> {
    type Item = Tag;

    fn next(&mut self) -> Option<Tag> {
        let bytes = self.html.as_bytes();
        loop {
            let lt = self.pos + bytes.get(self.pos..)?.iter().position(|&b| b == b'<')?;
            self.pos = lt + 1;
            let rest = &bytes[self.pos..];
            if rest.starts_with(b"!--") {
                self.pos += 3;
                self.skip_past("-->");
                continue;
            }
            if rest.starts_with(b"!") || rest.starts_with(b"?") || rest.starts_with(b"/") {
                self.skip_past(">");
                continue;
            }
            if !rest.first().is_some_and(u8::is_ascii_alphabetic) {
                continue; // a lone '<' in text
            }
            let name_len = rest
                .iter()
                .position(|&b| b.is_ascii_whitespace() || matches!(b, b'/' | b'>'))
                .unwrap_or(rest.len());
            let name = self.html[self.pos..self.pos + name_len].to_ascii_lowercase();
            self.pos += name_len;
            let attributes = self.attributes();
            if RAW_TEXT_ELEMENTS.contains(&name.as_str()) {
                self.skip_past(&format!("</{name}"));
            }
            return Some(Tag { name, attributes });
        }
    }
}

/// Decodes the character references that occur in real `href`s and titles: the XML five,
/// `&nbsp;` and numeric ones. Others (rare in attributes) are kept as written.
fn decode_entities(raw: &str) -> String {
    if !raw.contains('&') {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // References are short; looking no further keeps hostile input linear.
        let decoded = rest.as_bytes()[1..]
            .iter()
            .take(MAX_REFERENCE_LEN + 1)
            .position(|&b| b == b';')
            .and_then(|semi| Some((decode_reference(&rest[1..1 + semi])?, semi + 2)));
        match decoded {
            Some((c, consumed)) => {
                out.push(c);
                rest = &rest[consumed..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Longest reference decoded, without `&` and `;` (`#x10FFFF`, `quot`).
const MAX_REFERENCE_LEN: usize = 10;

fn decode_reference(name: &str) -> Option<char> {
    let code = match name {
        "amp" => return Some('&'),
        "lt" => return Some('<'),
        "gt" => return Some('>'),
        "quot" => return Some('"'),
        "apos" => return Some('\''),
        "nbsp" => return Some('\u{a0}'),
        _ => {
            let number = name.strip_prefix('#')?;
            match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            }
        }
    };
    char::from_u32(code).filter(|c| *c != '\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> url::Url {
        url::Url::parse("https://blog.example/posts/hello.html").expect("url")
    }

    fn urls(candidates: &[Candidate]) -> Vec<&str> {
        candidates.iter().map(|c| c.url.as_str()).collect()
    }

    #[test]
    fn alternate_links_of_every_feed_kind_are_found_in_document_order() {
        let html = r#"<!doctype html><html><head>
            <link rel="stylesheet" href="/style.css">
            <link rel="alternate" type="application/atom+xml" title="Atom" href="/atom.xml">
            <link rel="alternate" type="application/rss+xml" title="RSS" href="https://blog.example/rss.xml">
            <link rel="alternate" type="application/feed+json" href="feed.json">
            <link rel="alternate" type="application/json" href="/plain.json">
            <link rel="alternate" type="text/html" hreflang="fr" href="/fr/">
            </head><body></body></html>"#;
        let found = feed_links(html, &page());
        assert_eq!(
            urls(&found),
            [
                "https://blog.example/atom.xml",
                "https://blog.example/rss.xml",
                "https://blog.example/posts/feed.json",
                "https://blog.example/plain.json",
            ]
        );
        let kinds: Vec<_> = found.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                FeedKind::Atom,
                FeedKind::Rss,
                FeedKind::JsonFeed,
                FeedKind::JsonFeed
            ]
        );
        assert_eq!(found[0].title.as_deref(), Some("Atom"));
        assert_eq!(found[2].title, None);
    }

    #[test]
    fn names_and_values_are_read_the_way_browsers_read_them() {
        let html = "<HEAD><LINK REL='Alternate Feed' TYPE='Application/RSS+XML; charset=utf-8' \
                    HREF='/a?x=1&amp;y=2' Title=' Fish &amp;\n Chips '>\
                    <link rel=alternate type=application/atom+xml href=/b.xml title=B/>\
                    <link\trel=\"alternate\"\ntype=\"application/rss+xml\"\nhref=\"/c&#x2F;d\">\
                    <link disabled rel=\"alternate\" type=\"application/rss+xml\" href=\"/e\" href=\"/ignored\">";
        let found = feed_links(html, &page());
        assert_eq!(
            urls(&found),
            [
                "https://blog.example/a?x=1&y=2",
                "https://blog.example/b.xml",
                "https://blog.example/c/d",
                "https://blog.example/e",
            ]
        );
        assert_eq!(found[0].title.as_deref(), Some("Fish & Chips"));
        assert_eq!(found[1].title.as_deref(), Some("B/"));
    }

    #[test]
    fn links_without_rel_alternate_or_a_feed_type_are_not_feeds() {
        let html = r#"<link rel="stylesheet" type="application/rss+xml" href="/x">
            <link type="application/rss+xml" href="/no-rel">
            <link rel="alternative" type="application/rss+xml" href="/typo">
            <link rel="alternate" href="/no-type">
            <link rel="alternate" type="application/rdf+xml" href="/foaf">
            <link rel="alternate" type="application/rss+xml">
            <link rel="alternate" type="application/rss+xml" href="  ">"#;
        assert_eq!(feed_links(html, &page()), []);
    }

    #[test]
    fn base_href_applies_to_every_link_and_duplicates_are_dropped() {
        let html = r#"<link rel="alternate" type="application/rss+xml" href="feed.xml">
            <base href="https://cdn.example/site/">
            <base href="https://ignored.example/">
            <link rel="alternate" type="application/rss+xml" href="./feed.xml#top">
            <link rel="alternate" type="application/atom+xml" href="HTTPS://CDN.example:443/site/feed.xml">"#;
        let found = feed_links(html, &page());
        assert_eq!(urls(&found), ["https://cdn.example/site/feed.xml"]);
        assert_eq!(found[0].kind, FeedKind::Rss, "the first occurrence wins");
    }

    #[test]
    fn only_http_links_without_credentials_are_kept() {
        let html = r#"<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
            <link rel="alternate" type="application/rss+xml" href="ftp://blog.example/f">
            <link rel="alternate" type="application/rss+xml" href="https://u:p@blog.example/f">
            <link rel="alternate" type="application/rss+xml" href="data:text/xml,<rss/>">
            <link rel="alternate" type="application/rss+xml" href="http://[::1">
            <link rel="alternate" type="application/rss+xml" href="//other.example/feed">"#;
        assert_eq!(
            urls(&feed_links(html, &page())),
            ["https://other.example/feed"]
        );
    }

    #[test]
    fn links_in_comments_scripts_and_other_raw_text_are_ignored() {
        let html = r#"<!-- <link rel="alternate" type="application/rss+xml" href="/commented"> -->
            <script>document.write('<link rel="alternate" type="application/rss+xml" href="/scripted">')</script>
            <STYLE>/* <link rel="alternate" type="application/rss+xml" href="/styled"> */</style >
            <title>About <link rel="alternate" type="application/rss+xml" href="/titled"></title>
            <!DOCTYPE html><?php echo '<link>' ?>
            <p>1 < 2 and <3</p>
            <link rel="alternate" type="application/rss+xml" href="/real">"#;
        assert_eq!(
            urls(&feed_links(html, &page())),
            ["https://blog.example/real"]
        );
    }

    #[test]
    fn broken_markup_ends_the_scan_without_panicking() {
        for html in [
            "<link rel=\"alternate\" type=\"application/rss+xml\" href=\"/unterminated",
            "<link rel=",
            "<link",
            "<",
            "<!--",
            "<script><link rel=alternate type=application/rss+xml href=/x>",
            "<link rel=alternate type=application/rss+xml href=/\u{e9}t\u{e9} title=\u{1F600}",
            "&#xFFFFFFFF; <link title='&#0;&#xD800;&#99999999999;&'>",
        ] {
            let _ = feed_links(html, &page());
        }
        let found = feed_links(
            "<link rel=alternate type=application/rss+xml href=/caf\u{e9}.xml>",
            &page(),
        );
        assert_eq!(urls(&found), ["https://blog.example/caf%C3%A9.xml"]);
    }

    #[test]
    fn only_the_first_two_mebibytes_are_scanned() {
        let link = r#"<link rel="alternate" type="application/rss+xml" href="/late">"#;
        let early = format!("{link}{}", " ".repeat(MAX_HTML_BYTES));
        assert_eq!(feed_links(&early, &page()).len(), 1);
        let late = format!("{}{link}", "é".repeat(MAX_HTML_BYTES / 2));
        assert_eq!(feed_links(&late, &page()), []);
    }

    #[test]
    fn at_most_twenty_candidates_are_offered() {
        let html: String = (0..1000)
            .map(|i| format!("<link rel=alternate type=application/rss+xml href=/f{i}>"))
            .collect();
        let found = feed_links(&html, &page());
        assert_eq!(found.len(), MAX_CANDIDATES);
        assert_eq!(found[0].url, "https://blog.example/f0");
    }

    #[test]
    fn entities_decode_like_html_and_unknown_ones_stay_literal() {
        assert_eq!(decode_entities("a&amp;b&lt;&gt;&quot;&apos;"), "a&b<>\"'");
        assert_eq!(decode_entities("&#39;&#x41;&#X42;"), "'AB");
        assert_eq!(decode_entities("&copy; & &amp"), "&copy; & &amp");
        assert_eq!(decode_entities("&#0;"), "&#0;");
    }

    #[test]
    fn common_paths_are_probed_on_the_origin_only() {
        let page = FeedUrl::parse("https://blog.example/2024/05/post?x=1").expect("url");
        let probes: Vec<String> = common_path_urls(&page)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(probes.len(), COMMON_PATHS.len());
        assert_eq!(probes[0], "https://blog.example/feed");
        assert!(
            probes
                .iter()
                .all(|p| p.starts_with("https://blog.example/"))
        );
        let feed_page = FeedUrl::parse("https://blog.example/feed").expect("url");
        assert_eq!(
            common_path_urls(&feed_page).len(),
            COMMON_PATHS.len() - 1,
            "the page itself is not probed again"
        );
    }

    #[test]
    fn the_kind_of_a_probed_feed_is_sniffed_from_its_root() {
        assert_eq!(sniff_kind(b"  {\"version\":1}"), FeedKind::JsonFeed);
        assert_eq!(
            sniff_kind(b"\xEF\xBB\xBF<?xml version=\"1.0\"?><!-- c --><feed xmlns=\"\">"),
            FeedKind::Atom
        );
        assert_eq!(sniff_kind(b"<atom:feed>"), FeedKind::Atom);
        assert_eq!(sniff_kind(b"<rss version=\"2.0\">"), FeedKind::Rss);
        assert_eq!(sniff_kind(b"<rdf:RDF>"), FeedKind::Rss);
    }
}
