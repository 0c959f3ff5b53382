//! feed-rs's entries as the API's [`Item`]s: links made absolute `http(s)`, descriptions
//! sanitized (or escaped when they are text), titles as plain text, and an id that stays the
//! same from one refresh to the next, so read and starred marks stick to the item.

use base64::Engine as _;
use feed_rs::model::{Content, Entry, Text};

use middletier_api::Item;
use middletier_api::limits::MAX_ITEM_ID_LEN;

use super::sanitize::{bounded_input, into_bounded, sanitize_html};
use super::text::{decode_entities, escape_html, plain_text, web_url};

/// An entry as the API's item, every string made safe to show.
pub(super) fn item(entry: &Entry, base: &url::Url) -> Item {
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
        author: super::media::author(entry),
        enclosures: super::media::enclosures(entry, base),
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
        ("text", _) => Some(escaped_text(body)),
        _ => {
            // Atom: "a base64 encoded document of the indicated media type". Text we can show.
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .ok()?;
            let text = String::from_utf8(bytes).ok()?;
            (ty == "application" && subtype.ends_with("json"))
                .then(|| into_bounded(escape_html(bounded_input(&text))))
        }
    }
}

/// Plain text as HTML, bounded as sanitized HTML is.
fn escaped_text(text: &str) -> String {
    into_bounded(escape_html(&decode_entities(bounded_input(text))))
}

fn html_of(text: &Text, base: &url::Url) -> String {
    if text.content_type.subty() == "plain" {
        escaped_text(&text.content)
    } else {
        sanitize_html(&text.content, base)
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use middletier_api::limits::MAX_URL_LEN;

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
    fn overlong_links_are_dropped() {
        let long = format!("/{}", "a".repeat(MAX_URL_LEN));
        let rss = format!(
            "<rss version=\"2.0\"><channel><title>t</title><link>{long}</link>\
             <item><title>x</title><link>{long}</link></item></channel></rss>"
        );
        let feed = parse(rss.as_bytes(), &base()).expect("parses");
        assert_eq!(feed.items[0].link, None);
        assert_eq!(feed.site_url, None);
    }

    #[test]
    fn javascript_links_are_dropped() {
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
            <entry><title>x</title><link href="javascript:alert(1)"/><id>1</id></entry></feed>"#;
        let feed = parse(atom, &base()).expect("parses");
        assert_eq!(feed.items[0].link, None);
    }
}
