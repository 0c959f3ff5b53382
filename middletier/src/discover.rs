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
//! The link scanner ([`feed_links`]) runs html5ever's tokenizer (the one ammonia already
//! compiles to sanitize feed HTML) without building a document: it only needs the attributes
//! of `<link>` and `<base>` tags, read and entity-decoded as a browser reads them, must never
//! see tags inside comments, `<script>` or other raw text, and reads at most
//! [`MAX_HTML_BYTES`], which bounds its work on hostile pages. Every URL it returns is absolute
//! `http(s)` and normalised by [`FeedUrl::parse`], so it can be subscribed to as is.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use futures::StreamExt;
use html5ever::TokenizerResult;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
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
    let LinkTags { base_href, links } = link_tags(html);
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
        let is_alternate = attr(&link, "rel").is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|token| token.eq_ignore_ascii_case("alternate"))
        });
        if !is_alternate {
            continue;
        }
        let Some(kind) = attr(&link, "type").and_then(FeedKind::from_media_type) else {
            continue;
        };
        let Some(href) = attr(&link, "href").map(str::trim).filter(|h| !h.is_empty()) else {
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
            title: attr(&link, "title").and_then(clean_title),
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

pub(crate) fn truncate_at_char_boundary(text: &str, max: usize) -> &str {
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

/// What the scanner keeps of a page: the first `<base href>` and every `<link>` tag.
#[derive(Debug, Default)]
pub(crate) struct LinkTags {
    pub(crate) base_href: Option<String>,
    pub(crate) links: Vec<Tag>,
}

/// The `<link>` tags and the first `<base href>` of `html`, as html5ever's tokenizer reads them
/// (names lower-cased, values entity-decoded, later duplicates of an attribute dropped). Feed
/// discovery and icon discovery (`icons`) both read pages through it.
pub(crate) fn link_tags(html: &str) -> LinkTags {
    let tokenizer = Tokenizer::new(LinkSink::default(), TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    // The tokenizer pauses only when its sink asks it to (a script to run, an encoding to
    // switch to); this sink never does, so one call reads the whole input.
    let fed = tokenizer.feed(&input);
    debug_assert!(matches!(fed, TokenizerResult::Done));
    tokenizer.end();
    LinkTags {
        base_href: tokenizer.sink.base_href.take(),
        links: tokenizer.sink.links.take(),
    }
}

/// Elements whose content is text, not markup, and the tokenizer state that reads it. The
/// tokenizer alone reads everything as markup: the tree builder switches it to these states
/// after their start tags, and this sink does the same, so a `<link` inside them is text.
fn raw_text_kind(element: &str) -> Option<RawKind> {
    match element {
        "script" => Some(RawKind::ScriptData),
        "style" | "xmp" => Some(RawKind::Rawtext),
        "title" | "textarea" => Some(RawKind::Rcdata),
        _ => None,
    }
}

/// Collects the `<link>` tags and the first `<base href>` as the tokenizer emits them.
#[derive(Debug, Default)]
struct LinkSink {
    base_href: RefCell<Option<String>>,
    links: RefCell<Vec<Tag>>,
    /// How many `<template>` elements are open: their content is markup, but inert, not part
    /// of the page (browsers apply neither its `<base>` nor its `<link>`s).
    templates: Cell<usize>,
}

impl TokenSink for LinkSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let Token::TagToken(tag) = token else {
            return TokenSinkResult::Continue;
        };
        let name: &str = &tag.name;
        if tag.kind == TagKind::EndTag {
            if name == "template" {
                self.templates.set(self.templates.get().saturating_sub(1));
            }
            return TokenSinkResult::Continue;
        }
        if let Some(kind) = raw_text_kind(name) {
            return TokenSinkResult::RawData(kind);
        }
        match name {
            "template" => self.templates.set(self.templates.get() + 1),
            _ if self.templates.get() > 0 => {}
            "base" => {
                let mut base_href = self.base_href.borrow_mut();
                if base_href.is_none() {
                    *base_href = attr(&tag, "href").map(str::to_owned);
                }
            }
            "link" => self.links.borrow_mut().push(tag),
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// The value of `tag`'s attribute `name` (lower case; the tokenizer keeps the first of
/// duplicates, as browsers do).
pub(crate) fn attr<'t>(tag: &'t Tag, name: &str) -> Option<&'t str> {
    tag.attrs
        .iter()
        .find(|attribute| &*attribute.name.local == name)
        .map(|attribute| &*attribute.value)
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

    /// The title of the one feed a page links to with `title="{title}"`.
    fn title_of(title: &str) -> Option<String> {
        let html =
            format!("<link rel=alternate type=application/rss+xml href=/f title=\"{title}\">");
        feed_links(&html, &page()).pop()?.title
    }

    #[test]
    fn entities_decode_like_html_and_unknown_ones_stay_literal() {
        assert_eq!(
            title_of("a&amp;b&lt;&gt;&quot;&apos;").as_deref(),
            Some("a&b<>\"'")
        );
        assert_eq!(title_of("&#39;&#x41;&#X42;").as_deref(), Some("'AB"));
        // Every HTML named reference is known, and the legacy ones without `;` too.
        assert_eq!(
            title_of("&copy; &eacute; &bogus; & &amp").as_deref(),
            Some("\u{a9} \u{e9} &bogus; & &")
        );
        // References to no character become U+FFFD, as in browsers.
        assert_eq!(
            title_of("&#0;x&#x110000;").as_deref(),
            Some("\u{fffd}x\u{fffd}")
        );
        // In an attribute, a reference without `;` followed by `=` or a letter is not one, so
        // query strings keep their parameters.
        let html =
            r#"<link rel=alternate type=application/rss+xml href="/f?a=1&copy=2&lang=en&amp;x=3">"#;
        assert_eq!(
            urls(&feed_links(html, &page())),
            ["https://blog.example/f?a=1&copy=2&lang=en&x=3"]
        );
    }

    #[test]
    fn a_tag_or_comment_the_page_ends_inside_is_dropped() {
        for html in [
            r#"<link rel="alternate" type="application/rss+xml" href="/unterminated"#,
            "<link rel=alternate type=application/rss+xml href=/cut",
            "<!-- <link rel=alternate type=application/rss+xml href=/commented>",
            "<script><link rel=alternate type=application/rss+xml href=/scripted>",
        ] {
            assert_eq!(feed_links(html, &page()), [], "{html}");
        }
        let html = "<link rel=alternate type=application/rss+xml href=/kept><link rel=alternate \
                    type=application/rss+xml href=/cut";
        assert_eq!(
            urls(&feed_links(html, &page())),
            ["https://blog.example/kept"]
        );
    }

    #[test]
    fn raw_text_ends_where_a_browser_ends_it() {
        let link =
            |path: &str| format!("<link rel=alternate type=application/rss+xml href={path}>");
        let real = link("/real");
        // `</script>` inside a string literal still ends the script.
        let in_string = format!("<script>var s = \"</script>{real}\";</script>");
        assert_eq!(
            urls(&feed_links(&in_string, &page())),
            ["https://blog.example/real"]
        );
        // Inside `<!--`, a nested `<script>` makes the next `</script>` part of the script.
        let hidden = link("/hidden");
        let nested = format!("<script><!--<script></script>{hidden}--></script>{real}");
        // Only the element's own end tag ends it.
        let misnamed =
            format!("<script></scripts>{hidden}</script><style></styles>{hidden}</style>{real}");
        // A template's content is inert, nested templates included.
        let templated = format!(
            "<template><template></template>{hidden}<base href=//cdn.example/></template>{real}"
        );
        for html in [nested, misnamed, templated] {
            assert_eq!(
                urls(&feed_links(&html, &page())),
                ["https://blog.example/real"],
                "{html}"
            );
        }
    }

    #[test]
    fn huge_attribute_values_are_read_whole_or_dropped_with_their_tag() {
        let title = "t".repeat(MAX_HTML_BYTES / 2);
        let html = format!(
            "<link rel=alternate type=application/rss+xml title=\"{title}\" href=/big>\
             <link rel=alternate type=application/rss+xml href=/next>"
        );
        let found = feed_links(&html, &page());
        assert_eq!(
            urls(&found),
            ["https://blog.example/big", "https://blog.example/next"]
        );
        assert_eq!(found[0].title.as_deref(), Some(title.as_str()));
        // A value still open at the scan limit is cut off with its tag.
        let endless = format!(
            "<link rel=alternate type=application/rss+xml href=\"/{}",
            "x".repeat(2 * MAX_HTML_BYTES)
        );
        assert_eq!(feed_links(&endless, &page()), []);
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
