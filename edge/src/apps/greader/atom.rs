//! `GET /reader/atom/<stream>`: a stream as Google Reader's Atom output, which older clients
//! read instead of the JSON (newsboat's `feedhq` source, and others written for FeedHQ or
//! The Old Reader).
//!
//! The same selection as `stream/contents` (the same filters, `n`, `c`, `r=o`), written as an
//! Atom feed whose entries carry Google Reader's ids and state categories: `read`, or `fresh`
//! for unread, and `starred`. The continuation goes in `gr:continuation`. Every string is
//! XML-escaped; item HTML is the middle tier's sanitized description, escaped once more as
//! Atom's `type="html"` requires.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use middletier_api::{AppItem, MAX_APP_ITEMS};

use super::GreaderState;
use super::auth::AppUser;
use super::error::ApiError;
use super::ids::{feed_id, label_id, long_id};
use super::json::site_of;
use super::params::Params;
use super::streams::{ATOM_PATH, Selection, path_stream};

/// Google Reader's scheme for its state and label categories.
const SCHEME: &str = "http://www.google.com/reader/";

pub(super) async fn stream(
    State(state): State<GreaderState>,
    user: AppUser,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = Params::read(&uri, &[])?;
    let stream = path_stream(ATOM_PATH, &uri, &params, &user.name)?;
    let selection = Selection::new(&stream, &params, &user.name, MAX_APP_ITEMS)?;
    let page = state
        .apps
        .upstream
        .app_items(&user.name, &selection.query)
        .await?;
    let items: Vec<&AppItem> = page
        .items
        .iter()
        .filter(|item| selection.keeps(item))
        .collect();
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" \
         xmlns:gr=\"http://www.google.com/schemas/reader/atom/\">\n",
    );
    let id = stream.id();
    let title = items
        .first()
        .and_then(|item| item.feed_title.clone())
        .filter(|_| id.starts_with("feed/"))
        .unwrap_or_else(|| id.clone());
    let _ = writeln!(
        xml,
        "<id>tag:google.com,2005:reader/{}</id><title>{}</title><updated>{}</updated>",
        escape(&id),
        escape(&title),
        Utc::now().to_rfc3339()
    );
    if let Some(continuation) = &page.continuation {
        let _ = writeln!(
            xml,
            "<gr:continuation>{}</gr:continuation>",
            escape(continuation)
        );
    }
    for item in items {
        entry(&mut xml, item);
    }
    xml.push_str("</feed>\n");
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        xml,
    )
        .into_response())
}

fn entry(xml: &mut String, item: &AppItem) {
    let time = |ms: i64| {
        DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .to_rfc3339()
    };
    let category = |xml: &mut String, term: &str, label: &str| {
        let _ = write!(
            xml,
            "<category term=\"{}\" scheme=\"{SCHEME}\" label=\"{}\"/>",
            escape(term),
            escape(label)
        );
    };
    let _ = write!(
        xml,
        "<entry gr:crawl-timestamp-msec=\"{}\"><id>{}</id>",
        item.seen,
        long_id(item.number)
    );
    category(xml, "user/-/state/com.google/reading-list", "reading-list");
    if item.read {
        category(xml, "user/-/state/com.google/read", "read");
    } else {
        category(xml, "user/-/state/com.google/fresh", "fresh");
    }
    if item.starred {
        category(xml, "user/-/state/com.google/starred", "starred");
    }
    if let Some(label) = item.category.as_deref().filter(|c| !c.is_empty()) {
        category(xml, &label_id(label), label);
    }
    let (title, link, description) = item.content.as_ref().map_or(("", None, ""), |c| {
        (c.title.as_str(), c.link.as_deref(), c.description.as_str())
    });
    let _ = write!(
        xml,
        "<title type=\"html\">{}</title><published>{}</published><updated>{}</updated>",
        escape(title),
        time(item.time),
        time(item.time)
    );
    if let Some(link) = link {
        let _ = write!(
            xml,
            "<link rel=\"alternate\" href=\"{}\" type=\"text/html\"/>",
            escape(link)
        );
    }
    let _ = writeln!(
        xml,
        "<summary type=\"html\">{}</summary><source><id>tag:google.com,2005:reader/{}</id>\
         <title>{}</title><link rel=\"alternate\" href=\"{}\"/></source></entry>",
        escape(description),
        escape(&feed_id(&item.feed_url)),
        escape(item.feed_title.as_deref().unwrap_or("")),
        escape(&site_of(&item.feed_url)),
    );
}

/// Text and attribute values for XML. Characters XML 1.0 forbids (most control characters)
/// are dropped, so no item can make the document unparseable.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_forbidden_characters_dropped() {
        assert_eq!(
            escape("<b a=\"1\">Tom & 'Jerry'</b>\u{0}\u{1b}"),
            "&lt;b a=&quot;1&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/b&gt;"
        );
    }

    #[test]
    fn an_entry_carries_the_id_and_state_newsboat_reads() {
        let mut xml = String::new();
        entry(
            &mut xml,
            &AppItem {
                number: 0x6560_0000_dead_beef,
                feed_url: "https://a.example/feed".into(),
                time: 1_700_000_000_000,
                seen: 1_700_000_000_500,
                read: true,
                starred: true,
                feed_title: Some("A & B".into()),
                category: Some("Tech".into()),
                content: Some(middletier_api::Item {
                    id: "x".into(),
                    title: "<script>".into(),
                    link: Some("https://a.example/1?a=1&b=2".into()),
                    description: "<p>hi</p>".into(),
                    published: None,
                    read: true,
                    starred: true,
                    author: None,
                    enclosures: Vec::new(),
                }),
            },
        );
        for expected in [
            "<id>tag:google.com,2005:reader/item/65600000deadbeef</id>",
            "term=\"user/-/state/com.google/read\" scheme=\"http://www.google.com/reader/\" label=\"read\"",
            "label=\"starred\"",
            "term=\"user/-/label/Tech\"",
            "<title type=\"html\">&lt;script&gt;</title>",
            "href=\"https://a.example/1?a=1&amp;b=2\"",
            "<summary type=\"html\">&lt;p&gt;hi&lt;/p&gt;</summary>",
            "<title>A &amp; B</title>",
        ] {
            assert!(xml.contains(expected), "{expected} in {xml}");
        }
        assert!(!xml.contains("fresh"));
    }
}
