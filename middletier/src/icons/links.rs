//! The icons a web page links in its head: `<link rel="icon">` (and `shortcut icon`), then
//! `<link rel="apple-touch-icon">`, read with the same tokenizer and bounds as feed discovery.

use std::collections::HashSet;

use middletier_api::domain::FeedUrl;

use crate::discover::{MAX_HTML_BYTES, attr, link_tags, truncate_at_char_boundary};

/// Most icon links taken from one page: sites list a handful of sizes; each one tried costs a
/// fetch, so the rest are left for `/favicon.ico`.
pub const MAX_ICON_LINKS: usize = 3;

/// The icon URLs `html` (served from `page`) links, best first, at most [`MAX_ICON_LINKS`]:
/// `icon` links in document order, then `apple-touch-icon` ones. SVG links are skipped (the
/// refresher refuses SVG, see `sniff`), and so is anything but http(s) without credentials.
pub fn icon_links(html: &str, page: &url::Url) -> Vec<FeedUrl> {
    let tags = link_tags(truncate_at_char_boundary(html, MAX_HTML_BYTES));
    let base = tags
        .base_href
        .and_then(|href| page.join(href.trim()).ok())
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .unwrap_or_else(|| page.clone());
    let mut icons = Vec::new();
    let mut touch = Vec::new();
    let mut seen = HashSet::new();
    for link in &tags.links {
        let Some(rel) = attr(link, "rel") else {
            continue;
        };
        let tokens: Vec<String> = rel
            .split_ascii_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        let list = if tokens.iter().any(|token| token == "icon") {
            &mut icons
        } else if tokens
            .iter()
            .any(|token| token.starts_with("apple-touch-icon"))
        {
            &mut touch
        } else {
            continue;
        };
        let is_svg = attr(link, "type").is_some_and(|kind| kind.contains("svg"));
        let Some(href) = attr(link, "href").map(str::trim).filter(|h| !h.is_empty()) else {
            continue;
        };
        let Some(url) = base
            .join(href)
            .ok()
            .and_then(|url| FeedUrl::parse(url.as_str()).ok())
        else {
            continue;
        };
        if is_svg || url.as_url().path().to_ascii_lowercase().ends_with(".svg") {
            continue;
        }
        if seen.insert(url.to_string()) {
            list.push(url);
        }
    }
    icons.extend(touch);
    icons.truncate(MAX_ICON_LINKS);
    icons
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(html: &str) -> Vec<String> {
        let page = url::Url::parse("https://blog.example/posts/").expect("url");
        icon_links(html, &page)
            .into_iter()
            .map(|url| url.to_string())
            .collect()
    }

    #[test]
    fn icon_links_come_before_touch_icons_and_resolve_against_the_page() {
        let html = r#"<head><link rel="apple-touch-icon" href="/touch.png">
            <link rel="stylesheet" href="/style.css">
            <link rel="Shortcut Icon" href="fav.ico"><link rel="icon" href="/fav.ico"></head>"#;
        assert_eq!(
            links(html),
            [
                "https://blog.example/posts/fav.ico",
                "https://blog.example/fav.ico",
                "https://blog.example/touch.png"
            ]
        );
    }

    #[test]
    fn svg_script_and_commented_links_are_skipped() {
        let html = r#"<link rel="icon" type="image/svg+xml" href="/icon.svg">
            <link rel="icon" href="/other.SVG"><link rel="icon" href="javascript:alert(1)">
            <link rel="icon" href="data:image/png;base64,AAAA">
            <link rel="icon" href="https://user:pw@blog.example/x.png">
            <!-- <link rel="icon" href="/commented.png"> -->
            <script>"<link rel='icon' href='/scripted.png'>"</script>
            <link rel="icon" href="/real.png">"#;
        assert_eq!(links(html), ["https://blog.example/real.png"]);
    }

    #[test]
    fn at_most_three_links_are_tried_from_one_page() {
        let html: String = (0..50)
            .map(|n| format!("<link rel=icon href=/i{n}.png>"))
            .collect();
        assert_eq!(links(&html).len(), MAX_ICON_LINKS);
    }

    #[test]
    fn a_base_href_applies_to_icon_links() {
        let html = r#"<base href="https://cdn.example/assets/"><link rel="icon" href="i.png">"#;
        assert_eq!(links(html), ["https://cdn.example/assets/i.png"]);
    }
}
