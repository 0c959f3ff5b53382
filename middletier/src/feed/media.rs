//! Who wrote an entry and what media it carries, as the API's [`Item::author`] and
//! [`Item::enclosures`]: plain text and absolute `http(s)` addresses only, bounded in size and
//! count, whatever the feed says.
//!
//! feed-rs gathers RSS `<enclosure>`, Media RSS, iTunes and Podcasting 2.0 tags into media
//! objects (an episode's file in one, its `itunes:duration` and `itunes:image` often in
//! another), and keeps Atom's `rel="enclosure"` among the links; this module reads both. The
//! same checks apply to enclosures an import brings ([`clean_enclosures`]), so a stored item
//! holds nothing a feed could not have given.
//!
//! [`Item::author`]: middletier_api::Item::author
//! [`Item::enclosures`]: middletier_api::Item::enclosures

use feed_rs::model::Entry;

use middletier_api::Enclosure;
use middletier_api::limits::{MAX_AUTHOR_BYTES, MAX_ENCLOSURES, MAX_MEDIA_TYPE_LEN};

use super::text::{decode_entities, floor_char_boundary, web_url};

/// The entry's authors' names (else their e-mail addresses) as one line of plain text.
pub(super) fn author(entry: &Entry) -> Option<String> {
    let names = entry
        .authors
        .iter()
        .filter_map(|person| person.name.as_deref().or(person.email.as_deref()))
        // RSS's `email (Name)` leaves the parentheses on the name.
        .map(|name| {
            let name = name.trim();
            name.strip_prefix('(')
                .and_then(|name| name.strip_suffix(')'))
                .unwrap_or(name)
        })
        .take(MAX_ENCLOSURES);
    let mut joined = String::new();
    for name in names {
        let Some(name) = author_text(name) else {
            continue;
        };
        if joined.split(", ").any(|known| known == name) {
            continue;
        }
        if !joined.is_empty() {
            joined.push_str(", ");
        }
        joined.push_str(&name);
        if joined.len() >= MAX_AUTHOR_BYTES {
            break;
        }
    }
    author_text(&joined)
}

/// `raw` as a byline: entities decoded, tags and control characters removed, runs of white
/// space made one space, at most [`MAX_AUTHOR_BYTES`] (cut at a character boundary).
pub fn author_text(raw: &str) -> Option<String> {
    // What is past a few times the limit can't be shown: no work is spent on it.
    let raw = &raw[..floor_char_boundary(raw, 4 * MAX_AUTHOR_BYTES)];
    let decoded = decode_entities(raw);
    let text = if decoded.contains('<') {
        ammonia::Builder::empty().clean(&decoded).to_string()
    } else {
        decoded.into_owned()
    };
    let mut words = String::with_capacity(text.len().min(MAX_AUTHOR_BYTES));
    for word in text.split_whitespace() {
        if !words.is_empty() {
            words.push(' ');
        }
        words.extend(word.chars().filter(|c| !c.is_control()));
    }
    words.truncate(floor_char_boundary(&words, MAX_AUTHOR_BYTES));
    let words = words.trim_end().to_owned();
    (!words.is_empty()).then_some(words)
}

/// The entry's media files, in feed order, without duplicates, at most [`MAX_ENCLOSURES`].
/// A duration or image the feed gives for the entry (iTunes tags sit beside the
/// `<enclosure>`, not in it) applies to each file that has none of its own.
///
/// feed-rs 3 keeps an item's iTunes (and Podcasting 2.0) tags only when they include a title
/// or summary (`itunes:title`, `itunes:summary`), as most podcast feeds' items do; an item
/// with only `itunes:duration` and `itunes:image` beside its enclosure loses them.
pub(super) fn enclosures(entry: &Entry, base: &url::Url) -> Vec<Enclosure> {
    let mut found: Vec<Enclosure> = Vec::new();
    let mut duration = None;
    let mut image = None;
    for media in &entry.media {
        duration = duration.or(media.duration);
        image = image.or_else(|| {
            media
                .thumbnails
                .iter()
                .find_map(|thumbnail| web_url(base, &thumbnail.image.uri))
        });
        for content in &media.content {
            let Some(url) = content.url.as_ref() else {
                continue;
            };
            let candidate = enclosure(
                base,
                url.as_str(),
                content
                    .content_type
                    .as_ref()
                    .map(|t| t.to_string())
                    .as_deref(),
                content.size,
                content.duration.map(|d| d.as_secs()),
            );
            push(&mut found, candidate);
        }
    }
    for link in &entry.links {
        if link.rel.as_deref() == Some("enclosure") {
            let candidate = enclosure(
                base,
                &link.href,
                link.media_type.as_deref(),
                link.length,
                None,
            );
            push(&mut found, candidate);
        }
    }
    for found in &mut found {
        found.duration = found.duration.or(duration.map(|d| d.as_secs()));
        found.image = found.image.take().or_else(|| image.clone());
    }
    found
}

/// Adds `candidate` unless it is no enclosure, already there, or one too many.
fn push(found: &mut Vec<Enclosure>, candidate: Option<Enclosure>) {
    if let Some(candidate) = candidate
        && found.len() < MAX_ENCLOSURES
        && !found.iter().any(|known| known.url == candidate.url)
    {
        found.push(candidate);
    }
}

/// An enclosure if `href` is a web address; its media type kept only when it looks like one.
fn enclosure(
    base: &url::Url,
    href: &str,
    media_type: Option<&str>,
    length: Option<u64>,
    duration: Option<u64>,
) -> Option<Enclosure> {
    Some(Enclosure {
        url: web_url(base, href.trim())?,
        media_type: media_type.and_then(clean_media_type),
        length: length.filter(|&bytes| bytes > 0),
        duration: duration.filter(|&seconds| seconds > 0),
        image: None,
    })
}

/// `type/subtype` in lower case without parameters, if that is what `raw` holds.
fn clean_media_type(raw: &str) -> Option<String> {
    let essence = raw.split(';').next()?.trim().to_ascii_lowercase();
    let (ty, subtype) = essence.split_once('/')?;
    let token = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    (essence.len() <= MAX_MEDIA_TYPE_LEN && token(ty) && token(subtype)).then_some(essence)
}

/// Enclosures from elsewhere (an import) held to what a feed could give: web addresses of
/// at most [`MAX_URL_LEN`](middletier_api::limits::MAX_URL_LEN), media types that are
/// media types, at most [`MAX_ENCLOSURES`]; the others are dropped.
pub fn clean_enclosures(given: Vec<Enclosure>, base: &url::Url) -> Vec<Enclosure> {
    let mut found = Vec::new();
    for given in given.into_iter().take(4 * MAX_ENCLOSURES) {
        let candidate = enclosure(
            base,
            &given.url,
            given.media_type.as_deref(),
            given.length,
            given.duration,
        )
        .map(|enclosure| Enclosure {
            image: given.image.and_then(|image| web_url(base, &image)),
            ..enclosure
        });
        push(&mut found, candidate);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn base() -> url::Url {
        url::Url::parse("https://pod.example/feed.xml").expect("url")
    }

    #[test]
    fn a_podcast_episode_has_its_file_type_length_duration_and_image() {
        let rss = br#"<?xml version="1.0"?>
            <rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
            <channel><title>Pod</title>
            <item><title>Episode 1</title><guid>e1</guid>
              <author>host@pod.example (Ada &amp; Bob)</author>
              <enclosure url="https://cdn.pod.example/e1.mp3" length="12345678" type="Audio/MPEG; charset=x"/>
              <itunes:summary>The first one.</itunes:summary>
              <itunes:duration>1:02:03</itunes:duration>
              <itunes:image href="https://cdn.pod.example/e1.jpg"/>
            </item></channel></rss>"#;
        let feed = parse(rss, &base()).expect("parses");
        let item = &feed.items[0];
        assert_eq!(item.author.as_deref(), Some("Ada & Bob"));
        assert_eq!(
            item.enclosures,
            vec![Enclosure {
                url: "https://cdn.pod.example/e1.mp3".to_owned(),
                media_type: Some("audio/mpeg".to_owned()),
                length: Some(12_345_678),
                duration: Some(3723),
                image: Some("https://cdn.pod.example/e1.jpg".to_owned()),
            }]
        );
        assert_eq!(item.enclosures[0].kind(), middletier_api::MediaKind::Audio);
    }

    #[test]
    fn atom_enclosure_links_and_authors_are_read() {
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
            <entry><title>x</title><id>1</id>
              <author><name>Grace</name></author><author><name>Linus</name></author>
              <link rel="enclosure" href="/media/talk.webm" type="video/webm" length="99"/>
            </entry></feed>"#;
        let item = &parse(atom, &base()).expect("parses").items[0];
        assert_eq!(item.author.as_deref(), Some("Grace, Linus"));
        assert_eq!(item.enclosures.len(), 1);
        assert_eq!(
            item.enclosures[0].url,
            "https://pod.example/media/talk.webm"
        );
        assert_eq!(item.enclosures[0].media_type.as_deref(), Some("video/webm"));
        assert_eq!(item.enclosures[0].length, Some(99));
    }

    #[test]
    fn hostile_enclosures_are_dropped_or_bounded() {
        let mut many = String::new();
        for n in 0..10_000 {
            many.push_str(&format!(
                "<link rel=\"enclosure\" href=\"https://cdn.example/{n}.mp3\" type=\"audio/mpeg\"/>"
            ));
        }
        let atom = format!(
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title>\
             <entry><title>x</title><id>1</id>\
             <link rel=\"enclosure\" href=\"javascript:alert(1)\" type=\"audio/mpeg\"/>\
             <link rel=\"enclosure\" href=\"data:audio/mpeg;base64,AAAA\"/>\
             <link rel=\"enclosure\" href=\"https://cdn.example/x.mp3\" \
                   type=\"audio/mpeg&quot; onerror=&quot;alert(1)\"/>\
             {many}</entry></feed>"
        );
        let item = &parse(atom.as_bytes(), &base()).expect("parses").items[0];
        assert_eq!(item.enclosures.len(), MAX_ENCLOSURES);
        assert!(
            item.enclosures
                .iter()
                .all(|e| e.url.starts_with("https://cdn.example/")),
            "{:?}",
            item.enclosures
        );
        assert_eq!(
            item.enclosures[0].media_type, None,
            "a type that is no media type is not kept"
        );
    }

    #[test]
    fn a_huge_or_marked_up_author_is_plain_bounded_text() {
        let huge = "A".repeat(100_000);
        let rss = format!(
            "<rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel><title>t</title>\
             <item><title>x</title><guid>1</guid><dc:creator>{huge}</dc:creator></item>\
             <item><title>y</title><guid>2</guid>\
             <dc:creator>&lt;script&gt;alert(1)&lt;/script&gt;Eve\u{7}\tthe   &lt;b&gt;bold&lt;/b&gt;</dc:creator>\
             </item></channel></rss>"
        );
        let feed = parse(rss.as_bytes(), &base()).expect("parses");
        let first = feed.items[0].author.as_deref().expect("an author");
        assert!(first.len() <= MAX_AUTHOR_BYTES && first.starts_with("AAA"));
        assert_eq!(feed.items[1].author.as_deref(), Some("Eve the bold"));
    }

    #[test]
    fn imported_enclosures_are_held_to_what_a_feed_could_give() {
        let given = vec![
            Enclosure {
                url: "javascript:alert(1)".to_owned(),
                ..Enclosure::default()
            },
            Enclosure {
                url: "https://cdn.example/a.mp3".to_owned(),
                media_type: Some("audio/mpeg".to_owned()),
                image: Some("javascript:alert(1)".to_owned()),
                ..Enclosure::default()
            },
        ];
        let kept = clean_enclosures(given, &base());
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].url, "https://cdn.example/a.mp3");
        assert_eq!(kept[0].image, None);
    }
}
