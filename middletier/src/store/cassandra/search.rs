//! Full-text search over the item history: the per-feed postings `item_postings_by_feed`
//! (written with the items, `terms`), each (feed, word) partition newest first.
//!
//! A search walks the searched feeds' postings in rounds, a few feeds at once, and stops as
//! soon as what it found settles the answer, so its cost follows the page, not the history:
//! - each feed walks the postings of its rarest searched word (the one whose first page reaches
//!   furthest back), a page at a time, and looks up the page's items in its other words' and
//!   excluded words' partitions by key;
//! - phrases are checked against the content of those candidates only;
//! - after each round, once the hits found hold as many as the answer needs (the page's end
//!   newest first, [`RELEVANCE_WINDOW`] by relevance), the river time of the last one needed
//!   is a bound: a feed whose walk is already older than it cannot add a hit and stops; the
//!   others walk on with larger pages.
//!
//! Words are cut as `terms` cuts them. Relevance is simple: how often the searched words occur
//! in the item, over the newest [`RELEVANCE_WINDOW`] matches as on every store.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use scylla::response::{PagingState, PagingStateResponse};

use middletier_api::domain::FeedUrl;

use super::history::read_items;
use super::terms::words;
use super::{CassandraStore, Connected, query_failed, query_rows};
use crate::store::{
    HistoryEntry, RELEVANCE_WINDOW, SearchHit, SearchOrder, SearchQuery, SearchStore, SearchTerms,
    StoreError, rank_hits,
};

/// How many feeds walk at once.
const FEEDS_AT_ONCE: usize = 32;
/// The fewest and most postings one page of a walk reads.
const SMALLEST_PAGE: usize = 8;
const LARGEST_PAGE: usize = 4_000;
/// How many items one lookup in another word's partition names.
const LOOKUPS_AT_ONCE: usize = 100;

/// One item a word occurs in: its entry and how often.
type Posting = (HistoryEntry, i32);

/// A page of one (feed, word) partition, newest first, and where the next one starts.
struct Page {
    postings: Vec<Posting>,
    next: Option<PagingState>,
}

async fn read_page(
    connected: &Connected,
    url: &FeedUrl,
    term: &str,
    size: usize,
    from: PagingState,
) -> Result<Page, StoreError> {
    let mut statement = connected.select_postings.clone();
    statement.set_page_size(i32::try_from(size).unwrap_or(i32::MAX));
    let (result, paging) = connected
        .session
        .execute_single_page(&statement, (url.as_str(), term), from)
        .await
        .map_err(query_failed)?;
    let postings = result
        .into_rows_result()
        .map_err(query_failed)?
        .rows::<(DateTime<Utc>, String, DateTime<Utc>, i32)>()
        .map_err(query_failed)?
        .map(|row| {
            row.map(|(time, id, seen, count)| {
                let entry = HistoryEntry {
                    id,
                    time: time.timestamp_millis(),
                    seen: seen.timestamp_millis(),
                };
                (entry, count)
            })
        })
        .collect::<Result<_, _>>()
        .map_err(query_failed)?;
    let next = match paging {
        PagingStateResponse::HasMorePages { state } => Some(state),
        PagingStateResponse::NoMorePages => None,
    };
    Ok(Page { postings, next })
}

/// How often `term` occurs in each of `postings`' items that hold it (looked up by key).
async fn counts_in(
    connected: &Connected,
    url: &FeedUrl,
    term: &str,
    postings: &[Posting],
) -> Result<HashMap<String, i32>, StoreError> {
    let lookups = postings.chunks(LOOKUPS_AT_ONCE).map(|chunk| async move {
        let keys: Vec<(DateTime<Utc>, &str)> = chunk
            .iter()
            .filter_map(|(entry, _)| {
                Some((
                    DateTime::from_timestamp_millis(entry.time)?,
                    entry.id.as_str(),
                ))
            })
            .collect();
        let result = query_rows(
            &connected.session,
            &connected.select_postings_of,
            (url.as_str(), term, keys),
        )
        .await?;
        result
            .rows::<(String, i32)>()
            .map_err(query_failed)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(query_failed)
    });
    Ok(futures::future::try_join_all(lookups)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// What a search looks for, cut as the index cuts words.
struct Wanted {
    /// Every word an item must hold (a phrase's words too), each once.
    required: Vec<String>,
    terms: SearchTerms,
}

/// One feed's walk through its postings.
struct Walk {
    url: FeedUrl,
    /// The word walked (chosen on the first page) and where its next page starts.
    driver: Option<(String, Option<PagingState>)>,
    /// The river time of the oldest posting walked so far.
    reached: i64,
    done: bool,
    hits: Vec<SearchHit>,
}

impl Walk {
    fn new(url: FeedUrl) -> Self {
        Self {
            url,
            driver: None,
            reached: i64::MAX,
            done: false,
            hits: Vec::new(),
        }
    }

    /// Walks one more page (of `size` postings) and keeps its hits no older than `bound`.
    async fn step(
        mut self,
        connected: &Connected,
        wanted: &Wanted,
        size: usize,
        bound: Option<i64>,
    ) -> Result<Self, StoreError> {
        let (driver, page) = match self.driver.take() {
            Some((term, Some(from))) => {
                let page = read_page(connected, &self.url, &term, size, from).await?;
                (term, page)
            }
            Some((_, None)) => {
                self.done = true;
                return Ok(self);
            }
            None => self.first_page(connected, wanted, size).await?,
        };
        self.done = page.next.is_none();
        self.driver = Some((driver.clone(), page.next));
        let mut candidates = page.postings;
        let Some((oldest, _)) = candidates.last() else {
            return Ok(self);
        };
        self.reached = oldest.time;
        if let Some(bound) = bound {
            candidates.retain(|(entry, _)| entry.time >= bound);
            self.done |= self.reached < bound;
        }
        for term in wanted.required.iter().filter(|term| **term != driver) {
            if candidates.is_empty() {
                break;
            }
            let counts = counts_in(connected, &self.url, term, &candidates).await?;
            candidates.retain_mut(|(entry, count)| match counts.get(&entry.id) {
                Some(more) => {
                    *count += more;
                    true
                }
                None => false,
            });
        }
        for term in &wanted.terms.excluded {
            if candidates.is_empty() {
                break;
            }
            let counts = counts_in(connected, &self.url, term, &candidates).await?;
            candidates.retain(|(entry, _)| !counts.contains_key(&entry.id));
        }
        if !wanted.terms.phrases.is_empty() && !candidates.is_empty() {
            candidates = with_phrases(connected, &self.url, &wanted.terms, candidates).await?;
        }
        self.hits
            .extend(candidates.into_iter().map(|(entry, count)| SearchHit {
                feed: self.url.clone(),
                entry,
                score: f64::from(count),
            }));
        Ok(self)
    }

    /// The first page of every required word; the walk goes on with the one reaching furthest
    /// back (all of a partition, the smallest such), the rarest word in this feed.
    async fn first_page(
        &self,
        connected: &Connected,
        wanted: &Wanted,
        size: usize,
    ) -> Result<(String, Page), StoreError> {
        let pages = futures::future::try_join_all(wanted.required.iter().map(|term| async move {
            let page = read_page(connected, &self.url, term, size, PagingState::start()).await?;
            Ok::<_, StoreError>((term.clone(), page))
        }))
        .await?;
        let reach = |page: &Page| match page.next {
            None => (0, page.postings.len() as i64),
            Some(_) => (1, page.postings.last().map_or(i64::MAX, |(e, _)| e.time)),
        };
        pages
            .into_iter()
            .min_by_key(|(_, page)| reach(page))
            .ok_or_else(|| StoreError::Unavailable("a search without words".to_owned()))
    }
}

/// The `candidates` whose content holds every phrase, its words in order.
async fn with_phrases(
    connected: &Connected,
    url: &FeedUrl,
    terms: &SearchTerms,
    candidates: Vec<Posting>,
) -> Result<Vec<Posting>, StoreError> {
    let entries: Vec<HistoryEntry> = candidates.iter().map(|(entry, _)| entry.clone()).collect();
    let contents = read_items(connected, url, &entries).await?;
    Ok(candidates
        .into_iter()
        .zip(contents)
        .filter(|(_, item)| {
            let Some(item) = item else { return false };
            let title = words(&item.title);
            let text = words(&crate::store::words::html_text(&item.description));
            let has = |phrase: &Vec<String>| {
                [&title, &text]
                    .iter()
                    .any(|words| words.windows(phrase.len()).any(|w| w == phrase.as_slice()))
            };
            terms.phrases.iter().all(has)
        })
        .map(|(hit, _)| hit)
        .collect())
}

/// The river time of the `need`th newest of `walks`' hits, once they hold that many: no hit
/// older than it can be in the answer.
fn bound(walks: &[Walk], need: usize) -> Option<i64> {
    let mut times: Vec<i64> = walks
        .iter()
        .flat_map(|walk| walk.hits.iter().map(|hit| hit.entry.time))
        .collect();
    if need == 0 || times.len() < need {
        return None;
    }
    let (_, nth, _) = times.select_nth_unstable_by(need - 1, |a, b| b.cmp(a));
    Some(*nth)
}

#[async_trait]
impl SearchStore for CassandraStore {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        let connected = self.connection()?;
        // The query's words cut as the index cuts them, so "Café" finds what "cafe" finds.
        let cut = |list: &[String]| -> Vec<String> { list.iter().flat_map(|w| words(w)).collect() };
        let terms = SearchTerms {
            words: cut(&query.terms.words),
            phrases: query.terms.phrases.iter().map(|p| cut(p)).collect(),
            excluded: cut(&query.terms.excluded),
        };
        // Every word of a phrase is required too, so the index narrows phrases as well.
        let mut required: Vec<String> = Vec::new();
        let mut known = HashSet::new();
        for word in terms.words.iter().chain(terms.phrases.iter().flatten()) {
            if known.insert(word.clone()) {
                required.push(word.clone());
            }
        }
        // Nothing to look up: a search of only excluded words would be a scan of every item.
        if required.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = Wanted { required, terms };
        let need = match query.order {
            SearchOrder::Newest => query.offset.saturating_add(query.limit),
            SearchOrder::Relevance => RELEVANCE_WINDOW,
        };
        let feeds: HashSet<FeedUrl> = query.feeds.iter().cloned().collect();
        let mut walks: Vec<Walk> = feeds.into_iter().map(Walk::new).collect();
        // The first pages together hold about twice what the answer needs, if the matches
        // spread evenly over the feeds; each later round doubles the pages.
        let mut size =
            (need.saturating_mul(2) / walks.len().max(1)).clamp(SMALLEST_PAGE, LARGEST_PAGE);
        let mut bound_at = None;
        loop {
            let (walking, mut finished): (Vec<Walk>, Vec<Walk>) = walks
                .into_iter()
                .partition(|walk| !walk.done && bound_at.is_none_or(|b| walk.reached >= b));
            if walking.is_empty() {
                walks = finished;
                break;
            }
            let wanted = &wanted;
            let stepped: Vec<Walk> = futures::stream::iter(
                walking
                    .into_iter()
                    .map(|walk| walk.step(connected, wanted, size, bound_at)),
            )
            .buffer_unordered(FEEDS_AT_ONCE)
            .try_collect()
            .await?;
            finished.extend(stepped);
            walks = finished;
            bound_at = bound(&walks, need);
            size = (size * 2).min(LARGEST_PAGE);
        }
        let hits = walks.into_iter().flat_map(|walk| walk.hits).collect();
        Ok(rank_hits(hits, query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk_with(times: &[i64]) -> Walk {
        let url = FeedUrl::parse("https://example.com/feed").expect("url");
        let mut walk = Walk::new(url.clone());
        walk.hits = times
            .iter()
            .map(|&time| SearchHit {
                feed: url.clone(),
                entry: HistoryEntry {
                    id: time.to_string(),
                    time,
                    seen: time,
                },
                score: 1.0,
            })
            .collect();
        walk
    }

    #[test]
    fn the_bound_is_the_time_of_the_last_hit_the_answer_needs() {
        let walks = [walk_with(&[9, 5, 1]), walk_with(&[8, 7])];
        assert_eq!(bound(&walks, 3), Some(7));
        assert_eq!(bound(&walks, 5), Some(1));
        // Fewer hits than needed: every feed walks on.
        assert_eq!(bound(&walks, 6), None);
    }
}
