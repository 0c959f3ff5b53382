//! One item as the reader's pages show it: in the river (full or compact) and in the reading
//! view. Everything the middle tier sends is checked again here before it reaches a page:
//! descriptions are sanitized (through the [`SanitizedCache`]), links and media addresses
//! must be absolute `http(s)`, and text is escaped by the templates.

use std::sync::Arc;

use middletier_api::{Enclosure, Filter, MediaKind, RiverItem};

use super::icons::icon_href;
use super::{Published, SanitizedCache, encode, web_link};

/// The river's address for a view; the default filter (unread) is left out.
pub(super) fn view_href(
    feed: Option<&str>,
    category: Option<&str>,
    filter: Filter,
    before: Option<&str>,
) -> String {
    let mut query = Vec::new();
    if let Some(feed) = feed {
        query.push(format!("feed={}", encode(feed)));
    }
    if let Some(category) = category {
        query.push(format!("category={}", encode(category)));
    }
    match filter {
        Filter::Unread => {}
        Filter::All => query.push("filter=all".to_owned()),
        Filter::Starred => query.push("filter=starred".to_owned()),
    }
    if let Some(before) = before {
        query.push(format!("before={}", encode(before)));
    }
    if query.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{}", query.join("&"))
    }
}

/// Which list an item was opened from: the reading view's previous and next come from it,
/// and "back to the list" returns to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct View {
    pub feed: Option<String>,
    pub category: Option<String>,
    pub filter: Filter,
    /// The list page's cursor (`None`: the newest page).
    pub before: Option<String>,
}

impl View {
    /// The list's address.
    pub fn href(&self) -> String {
        view_href(
            self.feed.as_deref(),
            self.category.as_deref(),
            self.filter,
            self.before.as_deref(),
        )
    }

    /// Item `number`'s reading view, opened from this list.
    pub fn item_href(&self, number: u64) -> String {
        // The list's query string, if any, carried over as is.
        let list = self.href();
        format!("/items/{number}{}", &list[1..])
    }
}

/// One item as a page shows it, borrowing the middle tier's answer rather than copying it.
#[derive(Debug)]
pub(super) struct ItemView<'a> {
    pub feed_url: &'a str,
    pub feed_title: &'a str,
    pub feed_href: Arc<str>,
    /// The feed's icon (`/icons/<hash>`), if it has one.
    pub feed_icon: Option<Arc<str>>,
    pub id: &'a str,
    pub title: &'a str,
    /// Through `/items/open`, which marks the item read; `None` when it has no link.
    pub open_href: Option<String>,
    /// The item's reading view in this list; `None` from a middle tier that sends no number.
    pub read_href: Option<String>,
    pub author: Option<&'a str>,
    pub description: Arc<str>,
    pub published: Option<Published>,
    pub media: Vec<MediaView<'a>>,
    pub read: bool,
    pub starred: bool,
}

/// What every item of one feed links to, worked out once per feed on a page rather than once
/// per item: a page has fifty items from a handful of feeds.
#[derive(Debug)]
pub(super) struct FeedLinks {
    /// The feed's own view.
    href: Arc<str>,
    /// The feed's address as a query-string value.
    encoded_url: String,
    /// The feed's icon (`/icons/<hash>`), if it has one.
    icon: Option<Arc<str>>,
}

impl FeedLinks {
    /// `icon`: the feed's icon hash, as the middle tier gives it.
    pub fn new(feed_url: &str, icon: Option<&str>) -> Self {
        Self {
            href: view_href(Some(feed_url), None, Filter::Unread, None).into(),
            encoded_url: encode(feed_url),
            icon: icon_href(icon).map(Into::into),
        }
    }
}

impl<'a> ItemView<'a> {
    pub fn new(
        entry: &'a RiverItem,
        links: &FeedLinks,
        view: &View,
        sanitized: &SanitizedCache,
    ) -> Self {
        let item = &entry.item;
        // Only the item is named: the edge looks its link up again when it is opened.
        let open_href = web_link(item.link.clone()).map(|_| {
            format!(
                "/items/open?feed={}&item={}",
                links.encoded_url,
                encode(&item.id)
            )
        });
        Self {
            feed_href: links.href.clone(),
            feed_icon: links.icon.clone(),
            feed_url: &entry.feed_url,
            feed_title: &entry.feed_title,
            id: &item.id,
            title: &item.title,
            open_href,
            read_href: entry.number.map(|number| view.item_href(number)),
            author: item.author.as_deref().filter(|a| !a.trim().is_empty()),
            description: sanitized.get(&item.description, &entry.feed_url),
            published: item.published.clone().and_then(Published::parse),
            media: MediaView::all(&item.enclosures),
            read: item.read,
            starred: item.starred,
        }
    }

    /// The first line or so of the description as plain text, for the compact list.
    pub fn excerpt(&self) -> String {
        excerpt(&self.description, EXCERPT_CHARS)
    }
}

/// Characters of text the compact list shows per item: one line on a wide screen.
const EXCERPT_CHARS: usize = 180;

/// One enclosure as a page shows it: a player for audio and video, the picture for an
/// image, a link for anything else. Addresses that are not `http(s)` are never shown.
#[derive(Debug)]
pub(super) struct MediaView<'a> {
    pub kind: &'static str,
    pub url: &'a str,
    pub media_type: Option<&'a str>,
    /// "12.3 MB · 1:02:03", or empty.
    pub details: String,
    pub image: Option<&'a str>,
}

impl<'a> MediaView<'a> {
    fn all(enclosures: &'a [Enclosure]) -> Vec<Self> {
        enclosures
            .iter()
            .filter(|enclosure| is_web(&enclosure.url))
            .take(middletier_api::limits::MAX_ENCLOSURES)
            .map(|enclosure| Self {
                kind: match enclosure.kind() {
                    MediaKind::Audio => "audio",
                    MediaKind::Video => "video",
                    MediaKind::Image => "image",
                    MediaKind::Other => "other",
                },
                url: &enclosure.url,
                media_type: enclosure.media_type.as_deref(),
                details: details(enclosure),
                image: enclosure.image.as_deref().filter(|image| is_web(image)),
            })
            .collect()
    }

    /// The file's name, for a download link's text.
    pub fn name(&self) -> &'a str {
        let path = self.url.split(['?', '#']).next().unwrap_or(self.url);
        path.rsplit('/')
            .find(|part| !part.is_empty())
            .unwrap_or(self.url)
    }
}

fn is_web(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// Size and running time, as far as the feed says.
fn details(enclosure: &Enclosure) -> String {
    let mut parts = Vec::new();
    if let Some(bytes) = enclosure.length {
        #[allow(clippy::cast_precision_loss)] // one decimal shown
        let megabytes = bytes as f64 / 1_000_000.0;
        parts.push(if megabytes >= 1.0 {
            format!("{megabytes:.1} MB")
        } else {
            format!("{} kB", bytes.div_ceil(1000))
        });
    }
    if let Some(seconds) = enclosure.duration {
        let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
        parts.push(if h > 0 {
            format!("{h}:{m:02}:{s:02}")
        } else {
            format!("{m}:{s:02}")
        });
    }
    parts.join(" · ")
}

/// Sanitized HTML as plain text: tags dropped, the escapes the sanitizer writes undone, runs
/// of white space made one, at most `limit` characters (then `…`). The template escapes it.
fn excerpt(html: &str, limit: usize) -> String {
    let mut text = String::with_capacity(limit + 4);
    let mut count = 0;
    let mut in_tag = false;
    let mut space = false;
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        let c = match c {
            '<' => {
                in_tag = true;
                continue;
            }
            '>' if in_tag => {
                in_tag = false;
                // A tag separates words (`<p>a</p><p>b</p>`).
                space = true;
                continue;
            }
            _ if in_tag => continue,
            '&' => match [
                ("amp;", '&'),
                ("lt;", '<'),
                ("gt;", '>'),
                ("quot;", '"'),
                ("#39;", '\''),
                ("nbsp;", ' '),
            ]
            .iter()
            .find(|(name, _)| rest.starts_with(name))
            {
                Some((name, decoded)) => {
                    rest = &rest[name.len()..];
                    *decoded
                }
                None => '&',
            },
            c => c,
        };
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        if count == limit {
            text.push('…');
            break;
        }
        if space && !text.is_empty() {
            text.push(' ');
            count += 1;
        }
        space = false;
        text.push(c);
        count += 1;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_the_text_of_the_html_on_one_bounded_line() {
        assert_eq!(
            excerpt("<p>Fish &amp; <b>chips</b></p>\n<p>&lt;tasty&gt;</p>", 100),
            "Fish & chips <tasty>"
        );
        assert_eq!(excerpt("<p>abcdef</p>", 3), "abc…");
    }

    #[test]
    fn media_shows_only_web_addresses_with_size_and_time() {
        let enclosures = [
            Enclosure {
                url: "javascript:alert(1)".to_owned(),
                media_type: Some("audio/mpeg".to_owned()),
                ..Enclosure::default()
            },
            Enclosure {
                url: "https://cdn.example/show/e1.mp3?x=1".to_owned(),
                media_type: Some("audio/mpeg".to_owned()),
                length: Some(12_345_678),
                duration: Some(3723),
                image: Some("data:image/png;base64,AAAA".to_owned()),
            },
        ];
        let media = MediaView::all(&enclosures);
        assert_eq!(media.len(), 1);
        assert_eq!(media[0].kind, "audio");
        assert_eq!(media[0].details, "12.3 MB · 1:02:03");
        assert_eq!(media[0].name(), "e1.mp3");
        assert_eq!(media[0].image, None);
    }

    #[test]
    fn an_item_opened_from_a_list_keeps_the_list_in_its_address() {
        let view = View {
            category: Some("Dev & Ops".to_owned()),
            filter: Filter::All,
            ..View::default()
        };
        assert_eq!(
            view.item_href(42),
            "/items/42?category=Dev+%26+Ops&filter=all"
        );
        assert_eq!(View::default().item_href(7), "/items/7");
    }
}
