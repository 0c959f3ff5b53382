//! The river of news: a user's items from all (or some) feeds, newest first, one page at a
//! time, with unread counts. Pure computation over what the store shares.
//!
//! Each cached feed keeps its whole retained history's index sorted newest first
//! ([`CachedFeed::history`]), so a page is a k-way merge: a heap holds the next matching entry
//! of each feed, and a page of `n` items costs about `n` heap operations plus skipping entries
//! the filter hides. The answer ([`RiverPage`]) names the `n` entries, with the content of those
//! still in their feed's current document; the service reads the others' content from the
//! store, one read per feed ([`RiverPage::missing`], [`RiverPage::into_river`]).
//!
//! **Order and cursor.** Items are ordered by `(time, feed URL, item id)`, descending, which is
//! total and stable across refreshes. The cursor is that key of the last item shown, base64url
//! encoded: opaque to clients, and it names no user, so presenting another user's cursor only
//! positions the page within one's own feeds.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use middletier_api::domain::{FeedUrl, ParseError};
use middletier_api::{FeedSummary, Filter, Item, River, RiverItem};

use crate::store::{CachedFeed, FeedReading, HistoryEntry, UserReading};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

/// Longest cursor accepted (a feed URL and an item id, encoded).
const MAX_CURSOR_LEN: usize = 4096;

/// Where a page starts: strictly after (older than) this key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub time: i64,
    pub feed: String,
    pub item: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let text = serde_json::json!([self.time, self.feed, self.item]).to_string();
        URL_SAFE_NO_PAD.encode(text)
    }

    pub fn decode(raw: &str) -> Result<Self, ParseError> {
        if raw.len() > MAX_CURSOR_LEN {
            return Err(ParseError::Cursor);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim())
            .map_err(|_| ParseError::Cursor)?;
        let (time, feed, item): (i64, String, String) =
            serde_json::from_slice(&bytes).map_err(|_| ParseError::Cursor)?;
        Ok(Self { time, feed, item })
    }
}

/// One feed the page draws from.
#[derive(Debug)]
pub struct Source<'a> {
    pub url: &'a FeedUrl,
    pub feed: &'a CachedFeed,
    pub reading: Option<&'a FeedReading>,
}

impl Source<'_> {
    /// Whether the entry is read and starred for this user.
    pub fn state(&self, entry: &HistoryEntry) -> (bool, bool) {
        match self.reading {
            Some(reading) => reading.state_of(&entry.id, entry.seen),
            None => (false, false),
        }
    }

    fn shows(&self, entry: &HistoryEntry, filter: Filter) -> bool {
        match filter {
            Filter::All => true,
            Filter::Unread => !self.state(entry).0,
            Filter::Starred => self.state(entry).1,
        }
    }

    /// Unread items in this feed's history: what the watermark leaves unread (a binary search
    /// over the first-seen times, so a page over 500 feeds of 2,000 items each never walks a
    /// million entries for its sidebar), corrected by the few items marked one by one (a
    /// lookup per mark, not per entry).
    pub fn unread(&self) -> usize {
        let Some(reading) = self.reading else {
            return self.feed.history.len();
        };
        let up_to = reading
            .watermark
            .map_or(i64::MIN, |w| w.up_to.timestamp_millis());
        let mut unread = self.feed.seen_after(up_to);
        for id in reading.marks.keys() {
            // Marks of items the history no longer holds count for nothing.
            let Some(entry) = self.feed.entry(id) else {
                continue;
            };
            let seen = entry.seen;
            let by_watermark = seen <= up_to;
            match (by_watermark, reading.state_of(id, seen).0) {
                (true, false) => unread += 1,
                (false, true) => unread -= 1,
                _ => {}
            }
        }
        unread
    }
}

/// A candidate in the merge: the next shown item of one source.
struct Head<'a> {
    time: i64,
    feed: &'a str,
    item: &'a str,
    source: usize,
    position: usize,
}

impl Head<'_> {
    fn key(&self) -> (i64, &str, &str) {
        (self.time, self.feed, self.item)
    }
}

impl PartialEq for Head<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Head<'_> {}
impl PartialOrd for Head<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head<'_> {
    // Max-heap: the newest item on top.
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl Source<'_> {
    /// Positions in the history of the items this user starred, ascending: a starred page
    /// walks these (a few marks) rather than the whole history (thousands of entries).
    pub(crate) fn starred_positions(&self) -> Vec<usize> {
        let Some(reading) = self.reading else {
            return Vec::new();
        };
        let mut positions: Vec<usize> = reading
            .marks
            .iter()
            .filter(|(_, mark)| mark.starred)
            .filter_map(|(id, _)| self.feed.by_id.get(id).map(|&index| index as usize))
            .collect();
        positions.sort_unstable();
        positions
    }
}

/// The next item of `source` at or after `position` that `filter` shows; `starred`: the
/// source's [`Source::starred_positions`] when the filter is [`Filter::Starred`].
fn next_shown<'a>(
    sources: &[Source<'a>],
    index: usize,
    mut position: usize,
    filter: Filter,
    starred: Option<&[usize]>,
) -> Option<Head<'a>> {
    let source = &sources[index];
    let entries = &source.feed.history;
    if let Some(starred) = starred {
        let next = starred.partition_point(|&p| p < position);
        position = starred.get(next).copied()?;
    }
    while let Some(entry) = entries.get(position) {
        if source.shows(entry, filter) {
            return Some(Head {
                time: entry.time,
                feed: source.url.as_str(),
                item: &entry.id,
                source: index,
                position,
            });
        }
        position += 1;
    }
    None
}

/// One item on a page: its place, this user's marks, and its content when its feed's current
/// document holds it (`None`: to read from the history).
#[derive(Clone, Debug)]
pub struct PageItem {
    pub feed: FeedUrl,
    pub feed_title: String,
    pub entry: HistoryEntry,
    pub read: bool,
    pub starred: bool,
    pub content: Option<Item>,
}

impl PageItem {
    /// The item as the river shows it, given its content.
    pub fn shown(self, content: Item) -> RiverItem {
        RiverItem {
            number: Some(crate::store::number_of(self.feed.as_str(), &self.entry)),
            feed_url: self.feed.to_string(),
            feed_title: self.feed_title,
            item: Item {
                read: self.read,
                starred: self.starred,
                ..content
            },
        }
    }
}

/// Up to `limit` entries from `sources` after `cursor`, newest first, and the cursor of the
/// page after, if there is one.
pub fn page(
    sources: &[Source<'_>],
    filter: Filter,
    cursor: Option<&Cursor>,
    limit: usize,
) -> (Vec<PageItem>, Option<Cursor>) {
    let mut heap = BinaryHeap::with_capacity(sources.len());
    let starred: Vec<Vec<usize>> = match filter {
        Filter::Starred => sources.iter().map(Source::starred_positions).collect(),
        Filter::All | Filter::Unread => Vec::new(),
    };
    let starred_of = |index: usize| starred.get(index).map(Vec::as_slice);
    for (index, source) in sources.iter().enumerate() {
        let url = source.url.as_str();
        let start = match cursor {
            None => 0,
            // Entries not older than the cursor were on earlier pages.
            Some(cursor) => source.feed.history.partition_point(|entry| {
                (entry.time, url, entry.id.as_str())
                    >= (cursor.time, cursor.feed.as_str(), cursor.item.as_str())
            }),
        };
        if let Some(head) = next_shown(sources, index, start, filter, starred_of(index)) {
            heap.push(head);
        }
    }
    let mut page = Vec::with_capacity(limit.min(MAX_LIMIT));
    let mut last = None;
    while let Some(head) = heap.pop() {
        if page.len() == limit {
            // One more exists: the page has a successor.
            return (page, last);
        }
        let source = &sources[head.source];
        let entry = &source.feed.history[head.position];
        let (read, starred) = source.state(entry);
        page.push(PageItem {
            feed: source.url.clone(),
            feed_title: title_of(source.url, source.feed),
            entry: entry.clone(),
            read,
            starred,
            content: source.feed.current_item(&entry.id).cloned(),
        });
        last = Some(Cursor {
            time: head.time,
            feed: head.feed.to_owned(),
            item: head.item.to_owned(),
        });
        let after = head.position + 1;
        if let Some(next) = next_shown(sources, head.source, after, filter, starred_of(head.source))
        {
            heap.push(next);
        }
    }
    (page, None)
}

/// The feed's own title, or its host while it has none; where a user's own title may apply,
/// [`UserReading::feed_title`] is the one to use.
pub(crate) fn title_of(url: &FeedUrl, feed: &CachedFeed) -> String {
    feed.state.title.clone().unwrap_or_else(|| url.host_label())
}

/// Which of the user's feeds a river draws from.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    All,
    Feed(&'a FeedUrl),
    Category(&'a str),
}

impl<'a> Scope<'a> {
    /// One feed if given, else one category if given, else everything.
    pub fn of(feed: Option<&'a FeedUrl>, category: Option<&'a str>) -> Self {
        match (feed, category) {
            (Some(feed), _) => Scope::Feed(feed),
            (None, Some(category)) => Scope::Category(category),
            (None, None) => Scope::All,
        }
    }

    pub fn includes(&self, url: &FeedUrl, category: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::Feed(feed) => *feed == url,
            Scope::Category(wanted) => category == Some(*wanted),
        }
    }
}

/// A river answer before the content of its older items is read: the page, and the sidebar
/// with unread counts of every subscription.
#[derive(Debug)]
pub struct RiverPage {
    pub items: Vec<PageItem>,
    pub next: Option<Cursor>,
    pub unread: usize,
    pub feeds: Vec<FeedSummary>,
}

impl RiverPage {
    /// The entries whose content is not held, by feed: what to read from the history.
    pub fn missing(&self) -> HashMap<FeedUrl, Vec<HistoryEntry>> {
        let mut missing: HashMap<FeedUrl, Vec<HistoryEntry>> = HashMap::new();
        for item in self.items.iter().filter(|item| item.content.is_none()) {
            missing
                .entry(item.feed.clone())
                .or_default()
                .push(item.entry.clone());
        }
        missing
    }

    /// The answer, with the content read for [`missing`](Self::missing) entries (by feed and
    /// id). An entry whose content is in neither (removed by retention since the index was
    /// read) is left out: the page is one shorter, and its cursor still holds.
    pub fn into_river(self, user: &str, mut read: HashMap<(FeedUrl, String), Item>) -> River {
        let items = self
            .items
            .into_iter()
            .filter_map(|mut item| {
                let content = match item.content.take() {
                    Some(content) => content,
                    None => read.remove(&(item.feed.clone(), item.entry.id.clone()))?,
                };
                Some(item.shown(content))
            })
            .collect();
        River {
            user: user.to_owned(),
            items,
            next: self.next.map(|cursor| cursor.encode()),
            unread: self.unread,
            feeds: self.feeds,
        }
    }
}

/// A whole river answer: the page, and the sidebar with unread counts of every subscription.
pub fn river(
    reading: &UserReading,
    feeds: &[Option<Arc<CachedFeed>>],
    scope: Scope<'_>,
    filter: Filter,
    cursor: Option<&Cursor>,
    limit: usize,
) -> RiverPage {
    let mut sources = Vec::new();
    let mut summaries = Vec::with_capacity(reading.subscriptions.len());
    let mut total = 0;
    for ((url, category), feed) in reading.subscriptions.iter().zip(feeds) {
        let feed_reading = reading.feeds.get(url).map(Arc::as_ref);
        let (title, error, unread) = match feed {
            Some(feed) => {
                let source = Source {
                    url,
                    feed,
                    reading: feed_reading,
                };
                let unread = source.unread();
                // Feeds with nothing to show are left out of the merge, rather than scanned.
                let may_show = match filter {
                    Filter::All => true,
                    Filter::Unread => unread > 0,
                    Filter::Starred => {
                        feed_reading.is_some_and(|r| r.marks.values().any(|m| m.starred))
                    }
                };
                if may_show && scope.includes(url, category.as_deref()) {
                    sources.push(source);
                }
                (
                    reading.feed_title(url, Some(feed)),
                    feed.state.last_error.clone(),
                    unread,
                )
            }
            None => (reading.feed_title(url, None), None, 0),
        };
        total += unread;
        summaries.push(FeedSummary {
            url: url.to_string(),
            title,
            category: category.clone(),
            unread,
            error,
            icon: feed.as_ref().and_then(|feed| feed.state.icon.clone()),
        });
    }
    let (mut items, next) = page(&sources, filter, cursor, limit);
    for item in &mut items {
        if let Some(title) = reading.titles.get(&item.feed) {
            item.feed_title.clone_from(title);
        }
    }
    RiverPage {
        items,
        next,
        unread: total,
        feeds: summaries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FeedState, ItemMark, Watermark};
    use chrono::{DateTime, Utc};

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_750_000_000_000 + ms).expect("time")
    }

    #[test]
    fn unread_counts_match_item_by_item_state() {
        let url = FeedUrl::parse("https://example.com/feed").expect("url");
        let mut state = FeedState::new(url.clone(), at(0));
        for n in 0..20 {
            state.items.push(Item {
                id: format!("i{n}"),
                title: format!("{n}"),
                link: None,
                description: String::new(),
                published: None,
                read: false,
                starred: false,
                author: None,
                enclosures: Vec::new(),
            });
            state.first_seen.insert(format!("i{n}"), at(n * 10));
        }
        let feed = CachedFeed::new(state, Vec::new());
        let mark = |read: Option<(bool, i64)>, starred| ItemMark {
            read: read.map(|(read, ms)| (read, at(ms))),
            starred,
        };
        let marks = [
            ("i1", mark(Some((false, 500)), false)), // unread after the watermark
            ("i2", mark(Some((false, 50)), true)),   // unread before it: covered
            ("i15", mark(Some((true, 10)), false)),  // read, not covered
            ("i16", mark(None, true)),               // only starred
            ("gone", mark(Some((true, 10)), false)), // no longer in the feed
        ];
        for watermark in [None, Some((95, 100)), Some((1_000, 1_000))] {
            let reading = FeedReading {
                watermark: watermark.map(|(up_to, set_at)| Watermark {
                    up_to: at(up_to),
                    set_at: at(set_at),
                }),
                marks: marks
                    .iter()
                    .map(|(id, mark)| ((*id).to_owned(), *mark))
                    .collect(),
            };
            let source = Source {
                url: &url,
                feed: &feed,
                reading: Some(&reading),
            };
            let brute = feed
                .history
                .iter()
                .filter(|entry| !source.state(entry).0)
                .count();
            assert_eq!(source.unread(), brute, "{watermark:?}");
        }
    }

    #[test]
    fn older_items_are_paged_from_the_index_and_ones_gone_meanwhile_are_left_out() {
        let url = FeedUrl::parse("https://example.com/feed").expect("url");
        let mut state = FeedState::new(url.clone(), at(0));
        let item = |n: i64| Item {
            id: format!("i{n}"),
            title: format!("{n}"),
            link: None,
            description: String::new(),
            published: None,
            read: false,
            starred: false,
            author: None,
            enclosures: Vec::new(),
        };
        state.items = vec![item(3)];
        state.first_seen.insert("i3".to_owned(), at(30));
        // i0..i2 left the document: only their index is held.
        let history = (0..3)
            .map(|n| HistoryEntry::of(&item(n), at(n * 10)))
            .collect();
        let feed = Arc::new(CachedFeed::new(state, history));
        let reading = UserReading {
            subscriptions: vec![(url.clone(), None)],
            ..Default::default()
        };
        let page = river(&reading, &[Some(feed)], Scope::All, Filter::All, None, 3);
        assert_eq!(page.unread, 4, "unread counts cover the history");
        let ids: Vec<&str> = page.items.iter().map(|i| i.entry.id.as_str()).collect();
        assert_eq!(ids, ["i3", "i2", "i1"]);
        let missing = page.missing();
        let wanted: Vec<&str> = missing[&url].iter().map(|e| e.id.as_str()).collect();
        assert_eq!(wanted, ["i2", "i1"], "only what the document does not hold");
        // i1 was removed between the index read and the content read.
        let read = [((url.clone(), "i2".to_owned()), item(2))].into();
        let river = page.into_river("ann", read);
        let shown: Vec<&str> = river.items.iter().map(|i| i.item.id.as_str()).collect();
        assert_eq!(shown, ["i3", "i2"], "the page is one shorter, not an error");
        let next = Cursor::decode(river.next.as_deref().expect("more")).expect("cursor");
        assert_eq!(
            next.item, "i1",
            "and its cursor still follows on from the gap"
        );
    }

    #[test]
    fn starred_pages_walk_the_stars_and_match_a_scan_of_the_history() {
        let item = |feed: usize, n: i64| Item {
            id: format!("f{feed}-i{n}"),
            title: String::new(),
            link: None,
            description: String::new(),
            published: None,
            read: false,
            starred: false,
            author: None,
            enclosures: Vec::new(),
        };
        let urls: Vec<FeedUrl> = (0..3)
            .map(|f| FeedUrl::parse(&format!("https://example.com/{f}")).expect("url"))
            .collect();
        let mut feeds = Vec::new();
        let mut readings = Vec::new();
        for (f, url) in urls.iter().enumerate() {
            let history = (0..40)
                .map(|n| HistoryEntry::of(&item(f, n), at(n * 7 + f as i64)))
                .collect();
            feeds.push(CachedFeed::new(FeedState::new(url.clone(), at(0)), history));
            let marks = (0..40)
                .filter(|n| (n + f as i64) % 6 == 0)
                .map(|n| {
                    let starred = ItemMark {
                        read: None,
                        starred: n % 4 != 1,
                    };
                    (format!("f{f}-i{n}"), starred)
                })
                .collect();
            readings.push(FeedReading {
                watermark: None,
                marks,
            });
        }
        let sources: Vec<Source<'_>> = urls
            .iter()
            .zip(&feeds)
            .zip(&readings)
            .map(|((url, feed), reading)| Source {
                url,
                feed,
                reading: Some(reading),
            })
            .collect();
        let mut expected: Vec<(i64, &str, &str)> = sources
            .iter()
            .flat_map(|source| {
                source
                    .feed
                    .history
                    .iter()
                    .filter(|entry| source.state(entry).1)
                    .map(|entry| (entry.time, source.url.as_str(), entry.id.as_str()))
            })
            .collect();
        expected.sort_by(|a, b| b.cmp(a));
        let mut paged = Vec::new();
        let mut cursor = None;
        loop {
            let (items, next) = page(&sources, Filter::Starred, cursor.as_ref(), 4);
            paged.extend(items.into_iter().map(|item| item.entry.id));
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let expected: Vec<&str> = expected.iter().map(|(_, _, id)| *id).collect();
        assert!(!expected.is_empty());
        assert_eq!(paged, expected);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            time: 1_750_000_000_123,
            feed: "https://example.com/feed?a=1&b=\"2\"".to_owned(),
            item: "urn:uuid:1".to_owned(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
        for bad in ["", "!!!", "bm90IGpzb24", &"A".repeat(5000)] {
            assert_eq!(Cursor::decode(bad), Err(ParseError::Cursor), "{bad:?}");
        }
    }
}
