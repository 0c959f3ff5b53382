//! Sync apps' selections of a user's items (the Google Reader and Fever APIs, through the
//! edge): pure computation over what the store shares, like [`crate::river`].
//!
//! Apps page in two kinds of order: river time (newest or oldest first, ties by item number)
//! and item number (Fever's `since_id`/`max_id`). Each cached feed already walks in both
//! without sorting: its history is sorted by river time and [`CachedFeed::by_seen`] by
//! first-seen time, whose second is an item number's high 32 bits. A page is a k-way merge
//! over the feeds, as the river's: each feed (a [`Lane`]) yields its entries one *group* at a
//! time (entries of equal river time, or of equal first-seen second), hashing only those to
//! number and sort them, so a page of `n` items costs about `n` hashes and heap operations
//! plus the entries the filters skip, not a hash per item of the history.
//!
//! **Continuation.** The sort key of the last item shown (river time or nothing, number, feed
//! URL, item id), with the order it belongs to, base64url encoded: opaque to apps, total, and
//! stable while items arrive, so paging never repeats or skips an item; it names no user.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use middletier_api::AppOrder;
use middletier_api::domain::ParseError;

use crate::river::Source;
use crate::store::HistoryEntry;

/// Longest continuation accepted (a feed URL and an item id, encoded).
const MAX_CONTINUATION_LEN: usize = 4096;

/// Which items a selection keeps, beside its feeds (the caller picks the [`Source`]s).
#[derive(Clone, Copy, Debug, Default)]
pub struct Filters {
    pub unread: bool,
    pub starred: bool,
    /// River time at or after, Unix milliseconds.
    pub since: Option<i64>,
    /// River time before, Unix milliseconds.
    pub until: Option<i64>,
    /// Item number above.
    pub above: Option<u64>,
    /// Item number below.
    pub below: Option<u64>,
}

impl Filters {
    /// Whether the entry passes every filter but the number ones (no hash needed), given its
    /// read and starred state.
    fn keeps(&self, entry: &HistoryEntry, (read, starred): (bool, bool)) -> bool {
        let second = number_second(entry.seen);
        !(self.unread && read
            || self.starred && !starred
            || self.since.is_some_and(|since| entry.time < since)
            || self.until.is_some_and(|until| entry.time >= until)
            || self.above.is_some_and(|above| second < high(above))
            || self.below.is_some_and(|below| second > high(below)))
    }

    fn keeps_number(&self, number: u64) -> bool {
        self.above.is_none_or(|above| number > above)
            && self.below.is_none_or(|below| number < below)
    }
}

/// The high 32 bits of a number, as the first-seen second it encodes.
fn high(number: u64) -> i64 {
    i64::try_from(number >> 32).unwrap_or(i64::MAX)
}

pub use crate::store::{number_of, number_second};

fn descending(order: AppOrder) -> bool {
    matches!(order, AppOrder::Newest | AppOrder::NumberDescending)
}

fn by_time(order: AppOrder) -> bool {
    matches!(order, AppOrder::Newest | AppOrder::Oldest)
}

/// Where an item sorts: river time first in the river orders (0 in the number orders), then
/// number, feed URL and item id, so the order is total.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key<'a> {
    major: i64,
    number: u64,
    feed: &'a str,
    id: &'a str,
}

/// Where a page starts: strictly after this key, in its order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Continuation {
    order: AppOrder,
    major: i64,
    number: u64,
    feed: String,
    item: String,
}

impl Continuation {
    fn key(&self) -> Key<'_> {
        Key {
            major: self.major,
            number: self.number,
            feed: &self.feed,
            id: &self.item,
        }
    }

    pub fn encode(&self) -> String {
        let text = serde_json::json!([self.order, self.major, self.number, self.feed, self.item]);
        URL_SAFE_NO_PAD.encode(text.to_string())
    }

    /// The continuation `raw` of a page in `order`; a malformed one, or one from a page in
    /// another order, is refused.
    pub fn decode(raw: &str, order: AppOrder) -> Result<Self, ParseError> {
        if raw.len() > MAX_CONTINUATION_LEN {
            return Err(ParseError::Cursor);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim())
            .map_err(|_| ParseError::Cursor)?;
        let (made_for, major, number, feed, item): (AppOrder, i64, u64, String, String) =
            serde_json::from_slice(&bytes).map_err(|_| ParseError::Cursor)?;
        if made_for != order {
            return Err(ParseError::Cursor);
        }
        Ok(Self {
            order,
            major,
            number,
            feed,
            item,
        })
    }
}

/// One item a selection picked: its source (index into the sources given), its position in
/// that source's history, and its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Picked {
    pub source: usize,
    pub position: usize,
    pub number: u64,
}

/// The positions of one source's history in the walk's order, from which a lane loads groups.
struct Walk<'s> {
    /// Positions walked; `None`: every position of the history, in its order.
    list: Option<Vec<u32>>,
    /// Or the feed's [`CachedFeed::by_seen`](crate::store::CachedFeed::by_seen).
    by_seen: Option<&'s [u32]>,
    len: usize,
    reversed: bool,
}

impl Walk<'_> {
    fn position(&self, index: usize) -> usize {
        let index = if self.reversed {
            self.len - 1 - index
        } else {
            index
        };
        match (&self.list, self.by_seen) {
            (Some(list), _) => list[index] as usize,
            (None, Some(by_seen)) => by_seen[index] as usize,
            (None, None) => index,
        }
    }
}

/// One source's entries in the selection's order, loaded a group at a time.
struct Lane<'s, 'a> {
    source: &'s Source<'a>,
    walk: Walk<'s>,
    /// The next walk index to load.
    next: usize,
    /// The loaded group's kept entries, in the selection's order: key and history position.
    run: VecDeque<(Key<'s>, usize, u64)>,
}

/// What every lane of one selection shares.
struct Plan<'c> {
    order: AppOrder,
    filters: Filters,
    after: Option<Key<'c>>,
}

impl Plan<'_> {
    fn group(&self, entry: &HistoryEntry) -> i64 {
        if by_time(self.order) {
            entry.time
        } else {
            number_second(entry.seen)
        }
    }

    /// Whether `a` comes before `b` in the selection's order.
    fn precedes(&self, a: &Key<'_>, b: &Key<'_>) -> bool {
        if descending(self.order) { a > b } else { a < b }
    }

    /// Whether a group comes wholly before `group` (strictly), in the selection's order.
    fn group_precedes(&self, a: i64, b: i64) -> bool {
        if descending(self.order) { a > b } else { a < b }
    }

    /// Whether no entry of the group or any later one can pass the range filters.
    fn past_the_end(&self, group: i64) -> bool {
        let filters = &self.filters;
        match self.order {
            AppOrder::Newest => filters.since.is_some_and(|since| group < since),
            AppOrder::Oldest => filters.until.is_some_and(|until| group >= until),
            AppOrder::NumberDescending => filters.above.is_some_and(|above| group < high(above)),
            AppOrder::NumberAscending => filters.below.is_some_and(|below| group > high(below)),
        }
    }
}

impl<'s, 'a> Lane<'s, 'a> {
    fn new(source: &'s Source<'a>, plan: &Plan<'_>) -> Self {
        let feed = source.feed;
        let by_time = by_time(plan.order);
        let list = plan.filters.starred.then(|| {
            // Walk the stars (a few marks), not the whole history.
            let mut list = source.starred_positions();
            if !by_time {
                list.sort_by_key(|&p| feed.history[p].seen);
            }
            list.into_iter()
                .map(|p| u32::try_from(p).unwrap_or(u32::MAX))
                .collect::<Vec<u32>>()
        });
        let by_seen = (!by_time).then_some(feed.by_seen.as_slice());
        let len = list.as_ref().map_or(feed.history.len(), Vec::len);
        // The history runs newest first, `by_seen` oldest first.
        let reversed = match plan.order {
            AppOrder::Newest | AppOrder::NumberAscending => false,
            AppOrder::Oldest | AppOrder::NumberDescending => true,
        };
        let walk = Walk {
            list,
            by_seen,
            len,
            reversed,
        };
        let mut lane = Self {
            source,
            walk,
            next: 0,
            run: VecDeque::new(),
        };
        if let Some(after) = &plan.after {
            // Skip the groups wholly before the continuation: a binary search on the walk.
            let after_group = if by_time {
                after.major
            } else {
                high(after.number)
            };
            let (mut low, mut high) = (0, lane.walk.len);
            while low < high {
                let middle = low + (high - low) / 2;
                let entry = &feed.history[lane.walk.position(middle)];
                if plan.group_precedes(plan.group(entry), after_group) {
                    low = middle + 1;
                } else {
                    high = middle;
                }
            }
            lane.next = low;
        }
        lane.load(plan);
        lane
    }

    /// Loads groups until one keeps an entry or the walk ends.
    fn load(&mut self, plan: &Plan<'_>) {
        let history = &self.source.feed.history;
        let url = self.source.url.as_str();
        while self.run.is_empty() && self.next < self.walk.len {
            let group = plan.group(&history[self.walk.position(self.next)]);
            if plan.past_the_end(group) {
                self.next = self.walk.len;
                return;
            }
            let mut end = self.next;
            while end < self.walk.len && plan.group(&history[self.walk.position(end)]) == group {
                end += 1;
            }
            let mut run = Vec::new();
            for index in self.next..end {
                let position = self.walk.position(index);
                let entry = &history[position];
                if !plan.filters.keeps(entry, self.source.state(entry)) {
                    continue;
                }
                let number = number_of(url, entry);
                if !plan.filters.keeps_number(number) {
                    continue;
                }
                let key = Key {
                    major: if by_time(plan.order) { entry.time } else { 0 },
                    number,
                    feed: url,
                    id: &entry.id,
                };
                if plan.after.is_some_and(|after| !plan.precedes(&after, &key)) {
                    continue;
                }
                run.push((key, position, number));
            }
            if descending(plan.order) {
                run.sort_by(|a, b| b.0.cmp(&a.0));
            } else {
                run.sort_by(|a, b| a.0.cmp(&b.0));
            }
            self.run = run.into();
            self.next = end;
        }
    }
}

/// A lane's next entry in the merge.
struct Head<'s> {
    key: Key<'s>,
    lane: usize,
    descending: bool,
}

impl PartialEq for Head<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Head<'_> {}
impl PartialOrd for Head<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head<'_> {
    // Max-heap: the item to show next on top.
    fn cmp(&self, other: &Self) -> Ordering {
        if self.descending {
            self.key.cmp(&other.key)
        } else {
            other.key.cmp(&self.key)
        }
    }
}

/// Up to `limit` items of `sources` kept by `filters`, in `order`, after `after`; and the
/// continuation of the page after, if there is one.
pub fn select(
    sources: &[Source<'_>],
    order: AppOrder,
    filters: Filters,
    after: Option<&Continuation>,
    limit: usize,
) -> (Vec<Picked>, Option<Continuation>) {
    let plan = Plan {
        order,
        filters,
        after: after.map(Continuation::key),
    };
    let descending = descending(order);
    let mut lanes: Vec<Lane<'_, '_>> = sources
        .iter()
        .map(|source| Lane::new(source, &plan))
        .collect();
    let mut heap: BinaryHeap<Head<'_>> = lanes
        .iter()
        .enumerate()
        .filter_map(|(lane, state)| {
            let &(key, _, _) = state.run.front()?;
            Some(Head {
                key,
                lane,
                descending,
            })
        })
        .collect();
    let mut picked = Vec::with_capacity(limit.min(1024));
    let mut last: Option<Key<'_>> = None;
    while let Some(head) = heap.pop() {
        if picked.len() == limit {
            // One more exists: the page has a successor.
            let next = last.map(|key| Continuation {
                order,
                major: key.major,
                number: key.number,
                feed: key.feed.to_owned(),
                item: key.id.to_owned(),
            });
            return (picked, next);
        }
        let lane = &mut lanes[head.lane];
        let Some((key, position, number)) = lane.run.pop_front() else {
            continue;
        };
        picked.push(Picked {
            source: head.lane,
            position,
            number,
        });
        last = Some(key);
        lane.load(&plan);
        if let Some(&(key, _, _)) = lane.run.front() {
            heap.push(Head {
                key,
                lane: head.lane,
                descending,
            });
        }
    }
    (picked, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CachedFeed, FeedReading, FeedState, ItemMark};
    use chrono::DateTime;
    use middletier_api::domain::FeedUrl;

    const BASE: i64 = 1_750_000_000_000;

    /// Three feeds whose items tie often: river times repeat within and across feeds, and
    /// many share a first-seen second.
    fn feeds() -> (Vec<FeedUrl>, Vec<CachedFeed>, Vec<FeedReading>) {
        let mut urls = Vec::new();
        let mut feeds = Vec::new();
        let mut readings = Vec::new();
        for f in 0..3_i64 {
            let url = FeedUrl::parse(&format!("https://example.com/{f}.xml")).expect("url");
            let history = (0..60_i64)
                .map(|n| HistoryEntry {
                    id: format!("f{f}-{n}"),
                    time: BASE + (n / 4) * 1_000 + (n % 3) * 250,
                    seen: BASE + (n / 5) * 1_000 + f * 300,
                })
                .collect();
            let state = FeedState::new(
                url.clone(),
                DateTime::from_timestamp_millis(BASE).expect("t"),
            );
            feeds.push(CachedFeed::new(state, history));
            let marks = (0..60_i64)
                .filter(|n| (n + f) % 4 == 0)
                .map(|n| {
                    let at = DateTime::from_timestamp_millis(BASE).expect("t");
                    let mark = ItemMark {
                        read: Some((n % 3 != 0, at)),
                        starred: n % 8 == 0,
                    };
                    (format!("f{f}-{n}"), mark)
                })
                .collect();
            readings.push(FeedReading {
                watermark: None,
                marks,
            });
            urls.push(url);
        }
        (urls, feeds, readings)
    }

    #[test]
    fn pages_in_every_order_and_filter_match_a_sort_of_everything() {
        let (urls, feeds, readings) = feeds();
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
        let mut all_numbers: Vec<u64> = sources
            .iter()
            .flat_map(|s| s.feed.history.iter().map(|e| number_of(s.url.as_str(), e)))
            .collect();
        all_numbers.sort_unstable();
        let filter_sets = [
            Filters::default(),
            Filters {
                unread: true,
                ..Filters::default()
            },
            Filters {
                starred: true,
                ..Filters::default()
            },
            Filters {
                since: Some(BASE + 3_000),
                until: Some(BASE + 11_000),
                ..Filters::default()
            },
            Filters {
                above: Some(all_numbers[20]),
                below: Some(all_numbers[150]),
                unread: true,
                ..Filters::default()
            },
        ];
        for order in [
            AppOrder::Newest,
            AppOrder::Oldest,
            AppOrder::NumberAscending,
            AppOrder::NumberDescending,
        ] {
            for filters in filter_sets {
                let mut expected: Vec<(i64, u64, &str, &str)> = sources
                    .iter()
                    .flat_map(|s| {
                        s.feed.history.iter().filter_map(move |e| {
                            let number = number_of(s.url.as_str(), e);
                            let keep = filters.keeps(e, s.state(e)) && filters.keeps_number(number);
                            let major = if by_time(order) { e.time } else { 0 };
                            keep.then_some((major, number, s.url.as_str(), e.id.as_str()))
                        })
                    })
                    .collect();
                expected.sort_unstable();
                if descending(order) {
                    expected.reverse();
                }
                let expected: Vec<u64> = expected.iter().map(|k| k.1).collect();
                assert!(!expected.is_empty(), "{order:?} {filters:?}");
                let mut paged = Vec::new();
                let mut after: Option<Continuation> = None;
                loop {
                    let (page, next) = select(&sources, order, filters, after.as_ref(), 7);
                    paged.extend(page.iter().map(|p| p.number));
                    // Through the wire form, as apps send it back.
                    match next {
                        Some(next) => {
                            after = Some(Continuation::decode(&next.encode(), order).expect("ok"))
                        }
                        None => break,
                    }
                }
                assert_eq!(paged, expected, "{order:?} {filters:?}");
            }
        }
    }

    #[test]
    fn continuations_round_trip_only_in_their_own_order() {
        let continuation = Continuation {
            order: AppOrder::Oldest,
            major: -5,
            number: u64::MAX,
            feed: "https://example.com/feed?a=\"1\"".to_owned(),
            item: "urn:x".to_owned(),
        };
        let raw = continuation.encode();
        assert_eq!(
            Continuation::decode(&raw, AppOrder::Oldest),
            Ok(continuation)
        );
        assert_eq!(
            Continuation::decode(&raw, AppOrder::Newest),
            Err(ParseError::Cursor)
        );
        for bad in ["", "!!", "bm90IGpzb24", &"A".repeat(5_000)] {
            assert_eq!(
                Continuation::decode(bad, AppOrder::Oldest),
                Err(ParseError::Cursor)
            );
        }
    }
}
