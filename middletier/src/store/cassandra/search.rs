//! Full-text search over the item history: the per-feed postings `item_postings_by_feed`
//! (written with the items, `terms`), each (feed, word) partition newest first.
//!
//! A search walks the searched feeds' postings in rounds, a few feeds at once, and stops as
//! soon as what it found settles the answer, so its cost follows the page, not the history:
//! - each feed walks the postings of its rarest searched word (the one whose first page reaches
//!   furthest back), a page at a time, and looks up the page's items in its other words' and
//!   excluded words' partitions by key;
//! - a phrase is looked up by its adjacent word pairs (`terms::phrase_terms`), each a term
//!   with its own postings: a pair of common words is rare, so a phrase walks few postings
//!   even where every item holds its words; it is checked from where each pair is (the
//!   postings' positions, read with the postings), and only postings written without positions
//!   send a candidate to its content;
//! - the other required words' first pages settle the candidates they reach, so only older
//!   ones are looked up;
//! - after each round, once the hits found hold as many as the answer needs (the page's end
//!   newest first, [`RELEVANCE_WINDOW`] by relevance), the river time of the last one needed
//!   is a bound: a feed whose walk is already older than it cannot add a hit and stops; the
//!   others walk on with larger pages.
//!
//! Words are cut as `terms` cuts them. Relevance is simple: how often the searched words (and
//! a phrase's pairs) occur in the item, over the newest [`RELEVANCE_WINDOW`] matches as on every
//! store.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use scylla::response::{PagingState, PagingStateResponse};

use middletier_api::domain::FeedUrl;

use super::history::read_items;
use super::terms::{phrase_terms, words};
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
/// How many times larger the first pages are than a word search's for a phrase of three words
/// or more, whose matches are a small part of the items holding all its pairs.
const PHRASE_RARITY: usize = 8;
/// How many items one lookup in another word's partition names.
const LOOKUPS_AT_ONCE: usize = 100;

/// How often a word occurs in one item, and where when its posting holds the positions.
#[derive(Clone)]
struct Occurrences {
    count: i32,
    positions: Option<Vec<i32>>,
}

impl Occurrences {
    /// A posting row's occurrences; its positions only if the write that set its count wrote
    /// them too (a writer that does not know them leaves an older list behind).
    fn of_row(
        count: i32,
        positions: Option<Vec<i32>>,
        count_written: Option<i64>,
        positions_written: Option<i64>,
    ) -> Self {
        let current = count_written.is_some() && count_written == positions_written;
        Self {
            count,
            positions: positions.filter(|_| current),
        }
    }
}

/// One item a word occurs in.
type Posting = (HistoryEntry, Occurrences);

/// A posting row as `select_postings` reads it.
type PostingRow = (
    DateTime<Utc>,
    String,
    DateTime<Utc>,
    i32,
    Option<Vec<i32>>,
    Option<i64>,
    Option<i64>,
);

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
    let postings: Vec<Posting> = result
        .into_rows_result()
        .map_err(query_failed)?
        .rows::<PostingRow>()
        .map_err(query_failed)?
        .map(|row| {
            row.map(
                |(time, id, seen, count, positions, count_at, positions_at)| {
                    let entry = HistoryEntry {
                        id,
                        time: time.timestamp_millis(),
                        seen: seen.timestamp_millis(),
                    };
                    let found = Occurrences::of_row(count, positions, count_at, positions_at);
                    (entry, found)
                },
            )
        })
        .collect::<Result<_, _>>()
        .map_err(query_failed)?;
    let next = match paging {
        PagingStateResponse::HasMorePages { state } => Some(state),
        PagingStateResponse::NoMorePages => None,
    };
    Ok(Page { postings, next })
}

/// How often and where `term` occurs in each of the `entries`' items that hold it (looked up
/// by key).
async fn occurrences_in(
    connected: &Connected,
    url: &FeedUrl,
    term: &str,
    entries: &[&HistoryEntry],
) -> Result<HashMap<String, Occurrences>, StoreError> {
    let lookups = entries.chunks(LOOKUPS_AT_ONCE).map(|chunk| async move {
        let keys: Vec<(DateTime<Utc>, &str)> = chunk
            .iter()
            .filter_map(|entry| {
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
        type Row = (String, i32, Option<Vec<i32>>, Option<i64>, Option<i64>);
        result
            .rows::<Row>()
            .map_err(query_failed)?
            .map(|row| {
                row.map(|(id, count, positions, count_at, positions_at)| {
                    (
                        id,
                        Occurrences::of_row(count, positions, count_at, positions_at),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(query_failed)
    });
    Ok(futures::future::try_join_all(lookups)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// An item a walk found: its entry, how often the searched words occur in it (its score), and
/// where each of them does, as far as the postings tell.
struct Candidate {
    entry: HistoryEntry,
    count: i32,
    positions: HashMap<String, Option<Vec<i32>>>,
}

impl Candidate {
    fn new(term: &str, (entry, found): Posting) -> Self {
        let mut candidate = Self {
            entry,
            count: 0,
            positions: HashMap::new(),
        };
        candidate.add(term, found);
        candidate
    }

    fn add(&mut self, term: &str, found: Occurrences) {
        self.count = self.count.saturating_add(found.count);
        self.positions.insert(term.to_owned(), found.positions);
    }

    /// Whether the item holds a phrase looked up by `terms` ([`phrase_terms`]), each starting
    /// one word after the one before, if the postings tell where each term is; `None` sends it
    /// to the content check.
    fn holds(&self, terms: &[String]) -> Option<bool> {
        let lists = terms
            .iter()
            .map(|word| self.positions.get(word)?.as_deref())
            .collect::<Option<Vec<&[i32]>>>()?;
        let Some((first, rest)) = lists.split_first() else {
            return Some(true);
        };
        Some(first.iter().any(|&start| {
            rest.iter().zip(1..).all(|(list, offset)| {
                start
                    .checked_add(offset)
                    .is_some_and(|at| list.contains(&at))
            })
        }))
    }
}

/// What a search looks for, cut as the index cuts words.
struct Wanted {
    /// Every term an item must hold (a phrase's pairs too), each once.
    required: Vec<String>,
    /// Each of `terms.phrases` as the terms it is looked up by ([`phrase_terms`]).
    phrases: Vec<Vec<String>>,
    terms: SearchTerms,
}

/// What the first page of a word's partition settles: the postings newer than its oldest
/// (the partition is newest first), or all of them when the page is the whole partition.
struct Known {
    postings: HashMap<String, Occurrences>,
    /// Items newer than this are in `postings` if they hold the word; `None`: every item is.
    newer_than: Option<i64>,
}

impl Known {
    fn from_page(page: &Page) -> Self {
        let postings = page
            .postings
            .iter()
            .map(|(entry, found)| (entry.id.clone(), found.clone()))
            .collect();
        // Postings at the oldest time may go on past the page (ties sort by item id), so only
        // strictly newer ones are settled.
        let newer_than = page.next.as_ref().map(|_| {
            page.postings
                .last()
                .map_or(i64::MAX, |(entry, _)| entry.time)
        });
        Self {
            postings,
            newer_than,
        }
    }

    fn covers(&self, time: i64) -> bool {
        self.newer_than.is_none_or(|oldest| time > oldest)
    }
}

/// One feed's walk through its postings.
struct Walk {
    url: FeedUrl,
    /// The word walked (chosen on the first page) and where its next page starts.
    driver: Option<(String, Option<PagingState>)>,
    /// The first pages of the required words not walked: the lookups in those words'
    /// partitions skip the items these pages already settle.
    known: HashMap<String, Known>,
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
            known: HashMap::new(),
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
        let Some((oldest, _)) = page.postings.last() else {
            return Ok(self);
        };
        self.reached = oldest.time;
        let mut candidates: Vec<Candidate> = page
            .postings
            .into_iter()
            .map(|posting| Candidate::new(&driver, posting))
            .collect();
        if let Some(bound) = bound {
            candidates.retain(|candidate| candidate.entry.time >= bound);
            self.done |= self.reached < bound;
        }
        for term in wanted.required.iter().filter(|term| **term != driver) {
            if candidates.is_empty() {
                break;
            }
            let mut found = self.occurrences_of(connected, term, &candidates).await?;
            candidates.retain_mut(|candidate| match found.remove(&candidate.entry.id) {
                Some(more) => {
                    candidate.add(term, more);
                    true
                }
                None => false,
            });
        }
        for term in &wanted.terms.excluded {
            if candidates.is_empty() {
                break;
            }
            let found = self.occurrences_of(connected, term, &candidates).await?;
            candidates.retain(|candidate| !found.contains_key(&candidate.entry.id));
        }
        if !wanted.phrases.is_empty() && !candidates.is_empty() {
            candidates = with_phrases(connected, &self.url, wanted, candidates).await?;
        }
        self.hits
            .extend(candidates.into_iter().map(|candidate| SearchHit {
                feed: self.url.clone(),
                entry: candidate.entry,
                score: f64::from(candidate.count),
            }));
        Ok(self)
    }

    /// How often and where `term` occurs in each of `candidates`' items that hold it: from
    /// the word's first page where it reaches that far back, looked up by key for the rest.
    async fn occurrences_of(
        &self,
        connected: &Connected,
        term: &str,
        candidates: &[Candidate],
    ) -> Result<HashMap<String, Occurrences>, StoreError> {
        let known = self.known.get(term);
        let (settled, unsettled): (Vec<&HistoryEntry>, Vec<&HistoryEntry>) = candidates
            .iter()
            .map(|candidate| &candidate.entry)
            .partition(|entry| known.is_some_and(|known| known.covers(entry.time)));
        let mut found = if unsettled.is_empty() {
            HashMap::new()
        } else {
            occurrences_in(connected, &self.url, term, &unsettled).await?
        };
        if let Some(known) = known {
            for entry in settled {
                if let Some(occurrences) = known.postings.get(&entry.id) {
                    found.insert(entry.id.clone(), occurrences.clone());
                }
            }
        }
        Ok(found)
    }

    /// The first page of every required word; the walk goes on with the one reaching furthest
    /// back (all of a partition, the smallest such), the rarest word in this feed, and keeps
    /// the others' pages to settle what they can of its lookups.
    async fn first_page(
        &mut self,
        connected: &Connected,
        wanted: &Wanted,
        size: usize,
    ) -> Result<(String, Page), StoreError> {
        let url = &self.url;
        let pages = futures::future::try_join_all(wanted.required.iter().map(|term| async move {
            let page = read_page(connected, url, term, size, PagingState::start()).await?;
            Ok::<_, StoreError>((term.clone(), page))
        }))
        .await?;
        let reach = |page: &Page| match page.next {
            None => (0, page.postings.len() as i64),
            Some(_) => (1, page.postings.last().map_or(i64::MAX, |(e, _)| e.time)),
        };
        let mut pages = pages;
        let driver = (0..pages.len())
            .min_by_key(|&at| reach(&pages[at].1))
            .ok_or_else(|| StoreError::Unavailable("a search without words".to_owned()))?;
        let walked = pages.swap_remove(driver);
        self.known = pages
            .iter()
            .map(|(term, page)| (term.clone(), Known::from_page(page)))
            .collect();
        Ok(walked)
    }
}

/// The `candidates` that hold every phrase, its words in order: told by the postings'
/// positions, or for postings written without them, by the candidate's content.
async fn with_phrases(
    connected: &Connected,
    url: &FeedUrl,
    wanted: &Wanted,
    candidates: Vec<Candidate>,
) -> Result<Vec<Candidate>, StoreError> {
    let mut held = Vec::new();
    let mut unsettled = Vec::new();
    for candidate in candidates {
        let mut holds = Some(true);
        for phrase in &wanted.phrases {
            match candidate.holds(phrase) {
                Some(true) => {}
                Some(false) => {
                    holds = Some(false);
                    break;
                }
                None => holds = None,
            }
        }
        match holds {
            Some(true) => held.push(candidate),
            Some(false) => {}
            None => unsettled.push(candidate),
        }
    }
    if unsettled.is_empty() {
        return Ok(held);
    }
    let entries: Vec<HistoryEntry> = unsettled.iter().map(|c| c.entry.clone()).collect();
    let contents = read_items(connected, url, &entries).await?;
    held.extend(
        unsettled
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
                wanted.terms.phrases.iter().all(has)
            })
            .map(|(candidate, _)| candidate),
    );
    Ok(held)
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
        // A phrase's pairs are required too: the index narrows phrases by them.
        let phrases: Vec<Vec<String>> = terms.phrases.iter().map(|p| phrase_terms(p)).collect();
        let mut required: Vec<String> = Vec::new();
        let mut known = HashSet::new();
        for term in terms.words.iter().chain(phrases.iter().flatten()) {
            if known.insert(term.clone()) {
                required.push(term.clone());
            }
        }
        // Nothing to look up: a search of only excluded words would be a scan of every item.
        if required.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = Wanted {
            required,
            phrases,
            terms,
        };
        let need = match query.order {
            SearchOrder::Newest => query.offset.saturating_add(query.limit),
            SearchOrder::Relevance => RELEVANCE_WINDOW,
        };
        let feeds: HashSet<FeedUrl> = query.feeds.iter().cloned().collect();
        let mut walks: Vec<Walk> = feeds.into_iter().map(Walk::new).collect();
        // The first pages together hold about twice what the answer needs, if the matches
        // spread evenly over the feeds; each later round doubles the pages.
        // A phrase of three words or more matches a small part of the items holding all its
        // pairs, so its first pages are larger still: a feed whose pairs' partitions fit in
        // them settles every candidate (positions included) from those pages, in one round and
        // no lookups. A two-word phrase's pair postings are its matches.
        let rarity = if wanted.phrases.iter().any(|terms| terms.len() > 1) {
            PHRASE_RARITY
        } else {
            1
        };
        let mut size = (need.saturating_mul(2) / walks.len().max(1))
            .clamp(SMALLEST_PAGE, LARGEST_PAGE)
            .saturating_mul(rarity)
            .min(LARGEST_PAGE);
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

    fn candidate(positions: &[(&str, Option<Vec<i32>>)]) -> Candidate {
        Candidate {
            entry: HistoryEntry {
                id: "item".to_owned(),
                time: 1,
                seen: 1,
            },
            count: 0,
            positions: positions
                .iter()
                .map(|(term, at)| ((*term).to_owned(), at.clone()))
                .collect(),
        }
    }

    fn phrase(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn a_phrase_is_held_where_its_words_follow_each_other() {
        let item = candidate(&[("brown", Some(vec![1, 5])), ("fox", Some(vec![3, 6]))]);
        assert_eq!(item.holds(&phrase(&["brown", "fox"])), Some(true));
        assert_eq!(item.holds(&phrase(&["fox", "brown"])), Some(false));
        assert_eq!(item.holds(&phrase(&["brown", "brown"])), Some(false));
        let edge = candidate(&[("a", Some(vec![i32::MAX])), ("b", Some(vec![0]))]);
        assert_eq!(edge.holds(&phrase(&["a", "b"])), Some(false), "no wrap");
    }

    #[test]
    fn a_longer_phrase_is_held_where_its_pairs_follow_each_other() {
        let three = phrase_terms(&phrase(&["brown", "fox", "jumps"]));
        // "brown fox" and "fox jumps" both occur, but apart ("brown fox x fox jumps").
        let apart = candidate(&[("brown fox", Some(vec![0])), ("fox jumps", Some(vec![3]))]);
        assert_eq!(apart.holds(&three), Some(false));
        let together = candidate(&[
            ("brown fox", Some(vec![0, 7])),
            ("fox jumps", Some(vec![8])),
        ]);
        assert_eq!(together.holds(&three), Some(true));
    }

    #[test]
    fn a_posting_without_positions_leaves_the_phrase_to_the_content() {
        let item = candidate(&[("brown", Some(vec![1])), ("fox", None)]);
        assert_eq!(item.holds(&phrase(&["brown", "fox"])), None);
    }

    #[test]
    fn positions_are_trusted_only_from_the_write_that_set_the_count() {
        let same = Occurrences::of_row(1, Some(vec![4]), Some(10), Some(10));
        assert_eq!(same.positions, Some(vec![4]));
        let older = Occurrences::of_row(1, Some(vec![4]), Some(11), Some(10));
        assert_eq!(older.positions, None);
        let none = Occurrences::of_row(1, None, Some(11), None);
        assert_eq!(none.positions, None);
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
