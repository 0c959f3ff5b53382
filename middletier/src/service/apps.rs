//! What sync apps read and change through the edge's Google Reader and Fever APIs: selections
//! of the user's items in the orders apps page in, items by number, read and starred state of
//! many items at once, and per-feed counts.
//!
//! Item numbers are derived, never stored ([`middletier_api::item_number`]), so a number is
//! resolved by walking the user's feeds' history indexes: only entries first seen in one of
//! the wanted seconds (a number's high 32 bits) are hashed. A number that is no item of the
//! user's feeds resolves to nothing, so another user's items are never reachable.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::DateTime;

use middletier_api::domain::{FeedUrl, ParseError, UserId};
use middletier_api::{
    AppCounts, AppFeedCount, AppItem, AppItems, AppItemsQuery, Item, ItemNumbers, MAX_APP_ITEMS,
    MAX_APP_NUMBERS, MAX_APP_REFS, NumbersStateChange, NumbersStateChanged,
};

use super::{FeedService, ServiceError};
use crate::app_items::{self, Continuation, Filters, Picked, number_of, number_second};
use crate::river::Source;
use crate::store::{CachedFeed, HistoryEntry, MarkChange, MarkTarget, StoreError, UserReading};

/// Items per page when the app does not say.
pub const DEFAULT_APP_ITEMS: usize = 20;

/// The user's feeds a call draws from: each with its cached feed and category.
struct Feeds {
    reading: Arc<UserReading>,
    /// Parallel to `reading.subscriptions` (filtered to the scope): URL, category, cached feed.
    feeds: Vec<(FeedUrl, Option<String>, Arc<CachedFeed>)>,
}

impl Feeds {
    /// The feeds `keep` keeps, as merge sources with their categories.
    fn sources(&self, keep: impl Fn(&Source<'_>) -> bool) -> Sources<'_> {
        let mut sources = Sources {
            reading: &self.reading,
            sources: Vec::with_capacity(self.feeds.len()),
            categories: Vec::with_capacity(self.feeds.len()),
        };
        for (url, category, feed) in &self.feeds {
            let source = Source {
                url,
                feed,
                reading: self.reading.feeds.get(url).map(AsRef::as_ref),
            };
            if keep(&source) {
                sources.sources.push(source);
                sources.categories.push(category.as_deref());
            }
        }
        sources
    }
}

/// Merge sources (what [`Picked::source`] indexes) and each one's category, with the user's
/// reading state (which holds the user's own feed titles).
struct Sources<'f> {
    reading: &'f UserReading,
    sources: Vec<Source<'f>>,
    categories: Vec<Option<&'f str>>,
}

impl FeedService {
    /// The user's subscribed feeds in `scope`'s feed or category (all when both are `None`)
    /// that have been fetched, with the user's reading state.
    async fn app_feeds(
        &self,
        user: &UserId,
        feed: Option<&str>,
        category: Option<&str>,
    ) -> Result<Feeds, ServiceError> {
        let scoped = self.scoped(user, feed, category).await?;
        let scope = scoped.scope();
        let (urls, categories): (Vec<FeedUrl>, Vec<Option<String>>) = scoped
            .reading
            .subscriptions
            .iter()
            .filter(|(url, category)| scope.includes(url, category.as_deref()))
            .cloned()
            .unzip();
        let cached = self.store.cached_feeds(&urls).await?;
        let feeds = urls
            .into_iter()
            .zip(categories)
            .zip(cached)
            .filter_map(|((url, category), feed)| Some((url, category, feed?)))
            .collect();
        Ok(Feeds {
            reading: scoped.reading.clone(),
            feeds,
        })
    }

    /// A page of a selection of the user's items (`GET …/app/items`).
    pub async fn app_items(
        &self,
        user: &UserId,
        query: &AppItemsQuery,
    ) -> Result<AppItems, ServiceError> {
        let max = if query.refs_only {
            MAX_APP_REFS
        } else {
            MAX_APP_ITEMS
        };
        let limit = query.limit.unwrap_or(DEFAULT_APP_ITEMS);
        if !(1..=max).contains(&limit) {
            return Err(ParseError::Limit(max).into());
        }
        let after = query
            .continuation
            .as_deref()
            .map(|raw| Continuation::decode(raw, query.order))
            .transpose()?;
        let filters = Filters {
            unread: query.unread,
            starred: query.starred,
            since: query.since.map(|at| at.saturating_mul(1000)),
            until: query.until.map(|at| at.saturating_mul(1000)),
            above: query.above,
            below: query.below,
        };
        let feeds = self
            .app_feeds(user, query.feed.as_deref(), query.category.as_deref())
            .await?;
        // Feeds with nothing unread are left out of an unread selection rather than walked.
        let sources = feeds.sources(|source| !query.unread || source.unread() > 0);
        let (picked, next) = app_items::select(
            &sources.sources,
            query.order,
            filters,
            after.as_ref(),
            limit,
        );
        let items = if query.refs_only {
            picked
                .iter()
                .map(|picked| reference(&sources.sources, picked))
                .collect()
        } else {
            self.with_content(&sources, &picked).await?
        };
        Ok(AppItems {
            items,
            continuation: next.map(|next| next.encode()),
        })
    }

    /// These items of the user's feeds with content, in the order given (`POST …/app/items`);
    /// numbers that are none of them are left out.
    pub async fn app_items_by_number(
        &self,
        user: &UserId,
        numbers: &ItemNumbers,
    ) -> Result<AppItems, ServiceError> {
        check_count(numbers.numbers.len())?;
        let feeds = self.app_feeds(user, None, None).await?;
        let sources = feeds.sources(|_| true);
        let found = find_numbers(&sources.sources, &numbers.numbers);
        let mut shown = HashSet::new();
        let picked: Vec<Picked> = numbers
            .numbers
            .iter()
            .filter(|&&number| shown.insert(number))
            .filter_map(|number| found.get(number).copied())
            .collect();
        Ok(AppItems {
            items: self.with_content(&sources, &picked).await?,
            continuation: None,
        })
    }

    /// Marks many items of the user's feeds read/unread, starred/unstarred at once
    /// (`POST …/app/items/state`): one bulk write.
    pub async fn set_numbers_state(
        &self,
        user: &UserId,
        change: &NumbersStateChange,
    ) -> Result<NumbersStateChanged, ServiceError> {
        check_count(change.numbers.len())?;
        let now = chrono::Utc::now();
        let feeds = self.app_feeds(user, None, None).await?;
        let sources = feeds.sources(|_| true);
        let found = find_numbers(&sources.sources, &change.numbers);
        let wanted: HashSet<u64> = change.numbers.iter().copied().collect();
        let unknown = wanted.len() - found.len();
        let mut changed = 0;
        let mut targets = Vec::with_capacity(found.len());
        for picked in found.values() {
            let source = &sources.sources[picked.source];
            let entry = &source.feed.history[picked.position];
            let (read, starred) = source.state(entry);
            if change.read.is_some_and(|want| want != read)
                || change.starred.is_some_and(|want| want != starred)
            {
                changed += 1;
            }
            targets.push(MarkTarget {
                feed: source.url.clone(),
                item: entry.id.clone(),
                seen: DateTime::from_timestamp_millis(entry.seen).unwrap_or_default(),
            });
        }
        let marks = MarkChange {
            read: change.read,
            starred: change.starred,
        };
        if !targets.is_empty() && (marks.read.is_some() || marks.starred.is_some()) {
            self.store.mark_items(user, &targets, marks, now).await?;
        }
        Ok(NumbersStateChanged { changed, unknown })
    }

    /// Per subscription: title, category, unread count over the whole history, newest item
    /// and last successful fetch (`GET …/app/counts`).
    pub async fn app_counts(&self, user: &UserId) -> Result<AppCounts, ServiceError> {
        let reading = self.store.reading(user).await?;
        let urls: Vec<FeedUrl> = reading
            .subscriptions
            .iter()
            .map(|(url, _)| url.clone())
            .collect();
        let cached = self.store.cached_feeds(&urls).await?;
        let feeds = reading
            .subscriptions
            .iter()
            .zip(cached)
            .map(|((url, category), feed)| {
                let mut count = AppFeedCount {
                    url: url.to_string(),
                    title: reading.feed_title(url, None),
                    // The store keeps no feed's web site yet; apps fall back to the URL.
                    site: None,
                    category: category.clone(),
                    unread: 0,
                    newest: None,
                    updated: None,
                };
                if let Some(feed) = feed {
                    let source = Source {
                        url,
                        feed: &feed,
                        reading: reading.feeds.get(url).map(AsRef::as_ref),
                    };
                    count.title = reading.feed_title(url, Some(&feed));
                    count.unread = source.unread();
                    // The history runs newest first.
                    count.newest = feed.history.first().map(|entry| entry.time);
                    count.updated = feed.state.last_success.map(|at| at.timestamp());
                }
                count
            })
            .collect();
        Ok(AppCounts { feeds })
    }

    /// The picked items with content: from the current documents, and from the history in
    /// one read per feed for the others. An item whose content is gone (removed by retention
    /// since the index was read) is left out.
    async fn with_content(
        &self,
        sources: &Sources<'_>,
        picked: &[Picked],
    ) -> Result<Vec<AppItem>, StoreError> {
        let (reading, categories) = (sources.reading, &sources.categories);
        let sources = sources.sources.as_slice();
        let mut missing: HashMap<usize, Vec<HistoryEntry>> = HashMap::new();
        for picked in picked {
            let source = &sources[picked.source];
            let entry = &source.feed.history[picked.position];
            if source.feed.current_item(&entry.id).is_none() {
                missing
                    .entry(picked.source)
                    .or_default()
                    .push(entry.clone());
            }
        }
        let reads = missing.into_iter().map(|(index, entries)| async move {
            let items = self
                .store
                .history_items(sources[index].url, &entries)
                .await?;
            Ok::<_, StoreError>(
                entries
                    .into_iter()
                    .zip(items)
                    .filter_map(|(entry, item)| Some(((index, entry.id), item?)))
                    .collect::<Vec<_>>(),
            )
        });
        let mut read: HashMap<(usize, String), Item> = futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok(picked
            .iter()
            .filter_map(|picked| {
                let source = &sources[picked.source];
                let entry = &source.feed.history[picked.position];
                let content = match source.feed.current_item(&entry.id) {
                    Some(item) => item.clone(),
                    None => read.remove(&(picked.source, entry.id.clone()))?,
                };
                let mut item = reference(sources, picked);
                item.feed_title = Some(reading.feed_title(source.url, Some(source.feed)));
                item.category = categories[picked.source].map(str::to_owned);
                item.content = Some(Item {
                    read: item.read,
                    starred: item.starred,
                    ..content
                });
                Some(item)
            })
            .collect())
    }
}

/// Refuses more numbers than one call may carry.
fn check_count(count: usize) -> Result<(), ServiceError> {
    if count > MAX_APP_NUMBERS {
        return Err(ServiceError::Invalid(format!(
            "at most {MAX_APP_NUMBERS} item numbers per call, got {count}"
        )));
    }
    Ok(())
}

/// The picked item without content, feed title or category.
fn reference(sources: &[Source<'_>], picked: &Picked) -> AppItem {
    let source = &sources[picked.source];
    let entry = &source.feed.history[picked.position];
    let (read, starred) = source.state(entry);
    AppItem {
        number: picked.number,
        feed_url: source.url.to_string(),
        time: entry.time,
        seen: entry.seen,
        read,
        starred,
        feed_title: None,
        category: None,
        content: None,
    }
}

/// Which of `numbers` are items of `sources`, by number. Each feed's first-seen times (sorted)
/// are walked beside the wanted seconds (sorted), and only entries first seen in a wanted
/// second are hashed: a thousand numbers over a million entries cost a walk, not a million
/// hashes. Two items of one second sharing a number (a one in four billion chance) resolve to
/// the first found.
fn find_numbers(sources: &[Source<'_>], numbers: &[u64]) -> HashMap<u64, Picked> {
    let wanted: HashSet<u64> = numbers.iter().copied().collect();
    let mut seconds: Vec<i64> = numbers
        .iter()
        .map(|&number| middletier_api::item_number_seconds(number))
        .collect();
    seconds.sort_unstable();
    seconds.dedup();
    let mut found = HashMap::with_capacity(wanted.len());
    for (index, source) in sources.iter().enumerate() {
        let feed = source.feed;
        let url = source.url.as_str();
        // `seen_ascending[i]` is the first-seen time of `history[by_seen[i]]`.
        let (mut at, mut want) = (0, 0);
        while at < feed.seen_ascending.len() && want < seconds.len() {
            let second = number_second(feed.seen_ascending[at]);
            match second.cmp(&seconds[want]) {
                std::cmp::Ordering::Less => at += 1,
                std::cmp::Ordering::Greater => want += 1,
                std::cmp::Ordering::Equal => {
                    let position = feed.by_seen[at] as usize;
                    let number = number_of(url, &feed.history[position]);
                    if wanted.contains(&number) {
                        found.entry(number).or_insert(Picked {
                            source: index,
                            position,
                            number,
                        });
                    }
                    at += 1;
                }
            }
        }
    }
    found
}
