//! Search over the user's feeds' histories: the query parsed ([`crate::search`]), the scope
//! resolved to the user's own subscriptions (a feed of someone else's is never searched), the
//! store asked for hits, the reading filter applied, and each hit's content read and
//! highlighted.

use std::collections::HashMap;

use middletier_api::domain::{FeedUrl, ParseError, UserId};
use middletier_api::{Filter, Item, RiverItem, SearchQuery, SearchResult, SearchResults};

use super::{FeedService, ServiceError};
use crate::search::{self, snippet};
use crate::store::{self, SearchHit, UserReading, words::html_text};

/// Results per page when the caller does not say.
pub const DEFAULT_LIMIT: usize = 20;
/// Most results per page.
pub const MAX_LIMIT: usize = 100;
/// Deepest a cursor may reach into the hits: paging further means the query should be
/// narrower, and every page costs the store work proportional to its offset.
const MAX_OFFSET: usize = 10_000;
/// Most store queries one page may take while a reading filter rejects hits. Past it the page
/// comes back short, with a cursor to carry on from, so a filter matching almost nothing
/// cannot make one request scan the whole history.
const MAX_ROUNDS: usize = 5;

impl FeedService {
    /// A page of the items of the user's feeds (all, one feed or one category) matching
    /// `query.q`, with their marks and highlighted snippets.
    pub async fn search(
        &self,
        user: &UserId,
        query: &SearchQuery,
    ) -> Result<SearchResults, ServiceError> {
        let terms = search::parse(&query.q)?;
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ParseError::Limit(MAX_LIMIT).into());
        }
        let mut offset = query
            .cursor
            .as_deref()
            .map(decode_cursor)
            .transpose()?
            .unwrap_or(0);
        let scoped = self
            .scoped(user, query.feed.as_deref(), query.category.as_deref())
            .await?;
        let (reading, scope) = (&scoped.reading, scoped.scope());
        let feeds: Vec<FeedUrl> = reading
            .subscriptions
            .iter()
            .filter(|(url, category)| scope.includes(url, category.as_deref()))
            .map(|(url, _)| url.clone())
            .collect();
        let marks = |hit: &SearchHit| {
            reading
                .feeds
                .get(&hit.feed)
                .map_or((false, false), |marks| {
                    marks.state_of(&hit.entry.id, hit.entry.seen)
                })
        };
        let wanted = |(read, starred): (bool, bool)| match query.filter {
            None | Some(Filter::All) => true,
            Some(Filter::Unread) => !read,
            Some(Filter::Starred) => starred,
        };
        // Asks for more than a page when filtering, as some hits will be dropped; and for one
        // more than it takes, to know whether anything is left after it.
        let batch = if query.filter.is_some() {
            2 * limit
        } else {
            limit
        };
        let order = match query.order {
            middletier_api::SearchOrder::Newest => store::SearchOrder::Newest,
            middletier_api::SearchOrder::Relevance => store::SearchOrder::Relevance,
        };
        let mut page: Vec<(SearchHit, (bool, bool))> = Vec::with_capacity(limit);
        let mut exhausted = feeds.is_empty();
        let mut rounds = 0;
        while !exhausted && page.len() < limit && rounds < MAX_ROUNDS {
            rounds += 1;
            let hits = self
                .store
                .search(&store::SearchQuery {
                    feeds: feeds.clone(),
                    terms: terms.clone(),
                    order,
                    offset,
                    limit: batch + 1,
                })
                .await?;
            exhausted = hits.len() <= batch;
            for hit in hits.into_iter().take(batch) {
                if page.len() == limit {
                    // Not consumed: the next page starts with it.
                    exhausted = false;
                    break;
                }
                offset += 1;
                let marks = marks(&hit);
                if wanted(marks) {
                    page.push((hit, marks));
                }
            }
        }
        let results = self.results(reading, page, &terms).await?;
        Ok(SearchResults {
            user: user.to_string(),
            results,
            next: (!exhausted && offset <= MAX_OFFSET).then(|| encode_cursor(offset)),
        })
    }

    /// The hits' content (read per feed, one store call each), as river items with snippets.
    async fn results(
        &self,
        reading: &UserReading,
        page: Vec<(SearchHit, (bool, bool))>,
        terms: &store::SearchTerms,
    ) -> Result<Vec<SearchResult>, ServiceError> {
        // Each feed's hits, by their place on the page.
        let mut by_feed: HashMap<&FeedUrl, Vec<usize>> = HashMap::new();
        for (at, (hit, _)) in page.iter().enumerate() {
            by_feed.entry(&hit.feed).or_default().push(at);
        }
        let mut content: Vec<Option<Item>> = vec![None; page.len()];
        let mut titles: HashMap<&FeedUrl, String> = HashMap::new();
        for (feed, places) in by_feed {
            let entries: Vec<_> = places.iter().map(|&at| page[at].0.entry.clone()).collect();
            let items = self.store.history_items(feed, &entries).await?;
            for (at, item) in places.into_iter().zip(items) {
                content[at] = item;
            }
            let cached = self.store.cached_feeds(std::slice::from_ref(feed)).await?;
            let title = reading.feed_title(feed, cached.into_iter().next().flatten().as_deref());
            titles.insert(feed, title);
        }
        Ok(page
            .iter()
            .zip(content)
            // `None`: retention removed the item between the search and now.
            .filter_map(|((hit, (read, starred)), item)| {
                let item = item?;
                Some(SearchResult {
                    title: snippet::title(&item.title, terms),
                    excerpt: snippet::excerpt(&html_text(&item.description), terms),
                    item: RiverItem {
                        number: Some(crate::store::number_of(hit.feed.as_str(), &hit.entry)),
                        feed_url: hit.feed.to_string(),
                        feed_title: titles.get(&hit.feed).cloned().unwrap_or_default(),
                        item: Item {
                            read: *read,
                            starred: *starred,
                            ..item
                        },
                    },
                })
            })
            .collect())
    }
}

/// A cursor: how many hits of the same query came before the next page. Opaque to callers
/// (`s` and a number) so it can change form without changing the API.
fn encode_cursor(offset: usize) -> String {
    format!("s{offset}")
}

fn decode_cursor(raw: &str) -> Result<usize, ParseError> {
    raw.strip_prefix('s')
        .filter(|digits| !digits.is_empty() && digits.len() <= 6)
        .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
        .filter(|&offset| offset <= MAX_OFFSET)
        .ok_or(ParseError::Cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_anything_else_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(40)), Ok(40));
        for bad in [
            "",
            "s",
            "40",
            "s-1",
            "s+1",
            "s1e3",
            "s99999999999999999999",
            "s10001",
            "s４",
        ] {
            assert_eq!(decode_cursor(bad), Err(ParseError::Cursor), "{bad:?}");
        }
    }
}
