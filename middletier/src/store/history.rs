//! Item history: every item a feed has published, one row each from the first time it was
//! seen, until the retention policy removes it (never while somebody has it starred); and
//! full-text search over it.
//!
//! A feed's stored state ([`FeedState`](super::FeedState)) holds its current document's
//! items; saving it also writes each of them into the history (new ones with their first-seen
//! time, known ones with their content refreshed and their first-seen time kept). Page views
//! page through the history by [`HistoryEntry`] (small, kept in the process) and read the
//! content of only the items on the page ([`HistoryStore::history_items`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use middletier_api::Item;
use middletier_api::domain::{FeedUrl, UserId};

use super::{FeedReading, StoreError};

/// One item of a feed's history as stored: its content and when it was first seen.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredItem {
    /// The item as the feed gave it (`read`/`starred` always false here).
    pub item: Item,
    pub seen: DateTime<Utc>,
}

/// An item's place in its feed's history: enough to order it, filter it by reading state and
/// find its content, without the content.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HistoryEntry {
    pub id: String,
    /// River order, Unix milliseconds: [`sort_time`].
    pub time: i64,
    /// When it was first seen, Unix milliseconds (what "read up to" and retention compare).
    pub seen: i64,
}

impl HistoryEntry {
    pub fn of(item: &Item, seen: DateTime<Utc>) -> Self {
        Self {
            id: item.id.clone(),
            time: sort_time(item, seen),
            seen: seen.timestamp_millis(),
        }
    }
}

/// The first-seen second an item first seen at `seen` (Unix ms) is numbered with: as
/// [`item_number`](middletier_api::item_number) takes it.
pub fn number_second(seen: i64) -> i64 {
    seen.div_euclid(1000).clamp(0, i64::from(u32::MAX))
}

/// An item's number: [`item_number`](middletier_api::item_number) of its feed, id and
/// first-seen second.
pub fn number_of(feed: &str, entry: &HistoryEntry) -> u64 {
    middletier_api::item_number(feed, &entry.id, number_second(entry.seen))
}

/// Where an item sorts in the river, Unix milliseconds: published, but never later than
/// first seen (so a feed dating its items in the future cannot pin them to the top), or first
/// seen if undated.
pub fn sort_time(item: &Item, seen: DateTime<Utc>) -> i64 {
    let seen = seen.timestamp_millis();
    item.published
        .as_deref()
        .and_then(|p| DateTime::parse_from_rfc3339(p).ok())
        .map_or(seen, |p| p.timestamp_millis().min(seen))
}

/// Each feed's item history.
#[async_trait]
pub trait HistoryStore: Send + Sync + std::fmt::Debug + 'static {
    /// Every item `url`'s history holds, in no particular order (empty when none).
    async fn history(&self, url: &FeedUrl) -> Result<Vec<HistoryEntry>, StoreError>;

    /// The content of `entries` of `url`'s history, in their order (`None`: no longer held,
    /// e.g. removed by retention since the entry was read).
    async fn history_items(
        &self,
        url: &FeedUrl,
        entries: &[HistoryEntry],
    ) -> Result<Vec<Option<Item>>, StoreError>;

    /// Adds to `url`'s history the items it does not hold yet, with the content and first-seen
    /// time given (what `middletier import` restores); items it holds are left as they are.
    /// Returns how many were added.
    async fn insert_history(
        &self,
        url: &FeedUrl,
        items: &[StoredItem],
    ) -> Result<usize, StoreError>;

    /// Removes the items `ids` from `url`'s history, with every user's marks on them (what
    /// retention does). Returns how many it held.
    async fn remove_history(&self, url: &FeedUrl, ids: &[String]) -> Result<usize, StoreError>;

    /// Who subscribes to `url` (retention asks what each of them has read and starred).
    async fn subscribers(&self, url: &FeedUrl) -> Result<Vec<UserId>, StoreError>;

    /// One user's reading state in one feed (`Default` when none).
    async fn feed_reading(&self, user: &UserId, url: &FeedUrl) -> Result<FeedReading, StoreError>;
}

/// A parsed search: every `words` and `phrases` present, no `excluded` word.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchTerms {
    /// Lower-case words, each required.
    pub words: Vec<String>,
    /// Lower-case word sequences, each required in that order.
    pub phrases: Vec<Vec<String>>,
    /// Lower-case words that must not appear.
    pub excluded: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SearchOrder {
    /// By [`HistoryEntry::time`], newest first.
    #[default]
    Newest,
    /// Best match first (ties newest first), among the [`RELEVANCE_WINDOW`] newest matches.
    Relevance,
}

/// How many matches "best match first" ranks: the newest this many, on every store. Ranking
/// costs per match (scoring, sorting), so without a bound a word in a fifth of a million
/// items took most of a second to rank; an older match of a common word past this many newer
/// ones is still found newest first, or by a more precise query.
pub const RELEVANCE_WINDOW: usize = 10_000;

/// The page `query` asks for out of every hit in its scope (in any order): for stores that
/// rank in the process, so they all apply the same order and [`RELEVANCE_WINDOW`].
pub fn rank_hits(hits: Vec<SearchHit>, query: &SearchQuery) -> Vec<SearchHit> {
    rank_within(hits, query, RELEVANCE_WINDOW)
}

fn rank_within(mut hits: Vec<SearchHit>, query: &SearchQuery, window: usize) -> Vec<SearchHit> {
    let newest = |a: &SearchHit, b: &SearchHit| {
        b.entry
            .time
            .cmp(&a.entry.time)
            .then_with(|| a.feed.as_str().cmp(b.feed.as_str()))
            .then_with(|| a.entry.id.cmp(&b.entry.id))
    };
    hits.sort_by(newest);
    if query.order == SearchOrder::Relevance {
        hits.truncate(window);
        // Stable, so equal scores stay newest first.
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    }
    hits.into_iter()
        .skip(query.offset)
        .take(query.limit)
        .collect()
}

/// One search over some feeds' histories (the caller resolves the user's scope to `feeds`).
#[derive(Clone, Debug, PartialEq)]
pub struct SearchQuery {
    pub feeds: Vec<FeedUrl>,
    pub terms: SearchTerms,
    pub order: SearchOrder,
    /// How many hits to skip (paging; the caller encodes it in an opaque cursor).
    pub offset: usize,
    pub limit: usize,
}

/// One matching item.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchHit {
    pub feed: FeedUrl,
    pub entry: HistoryEntry,
    /// Higher is better; only comparable within one answer.
    pub score: f64,
}

/// Full-text search over title and text of the items in feeds' histories.
#[async_trait]
pub trait SearchStore: Send + Sync + std::fmt::Debug + 'static {
    /// Up to `query.limit` hits after `query.offset`, in `query.order`.
    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str, time: i64, score: f64) -> SearchHit {
        SearchHit {
            feed: FeedUrl::parse("https://example.com/feed").expect("url"),
            entry: HistoryEntry {
                id: id.to_owned(),
                time,
                seen: time,
            },
            score,
        }
    }

    fn query(order: SearchOrder) -> SearchQuery {
        SearchQuery {
            feeds: Vec::new(),
            terms: SearchTerms::default(),
            order,
            offset: 0,
            limit: 10,
        }
    }

    fn ids(hits: &[SearchHit]) -> Vec<&str> {
        hits.iter().map(|hit| hit.entry.id.as_str()).collect()
    }

    #[test]
    fn best_match_first_ranks_only_the_newest_matches_of_the_window() {
        // The oldest match scores best, but three newer ones fill a window of three.
        let hits = vec![
            hit("old-best", 1, 9.0),
            hit("a", 2, 1.0),
            hit("b", 3, 3.0),
            hit("c", 4, 2.0),
        ];
        let ranked = rank_within(hits.clone(), &query(SearchOrder::Relevance), 3);
        assert_eq!(ids(&ranked), ["b", "c", "a"]);
        let everything = rank_within(hits.clone(), &query(SearchOrder::Relevance), 4);
        assert_eq!(ids(&everything), ["old-best", "b", "c", "a"]);
        // Newest first is never cut: a page past the window still finds old matches.
        let newest = rank_within(hits, &query(SearchOrder::Newest), 3);
        assert_eq!(ids(&newest), ["c", "b", "a", "old-best"]);
    }

    #[test]
    fn equal_scores_rank_newest_first_and_pages_follow_the_ranking() {
        let hits = vec![hit("a", 1, 2.0), hit("b", 2, 2.0), hit("c", 3, 5.0)];
        let mut second_page = query(SearchOrder::Relevance);
        second_page.offset = 1;
        second_page.limit = 1;
        assert_eq!(ids(&rank_within(hits, &second_page, 10)), ["b"]);
    }
}
