//! The in-memory store: maps in this process's memory, the default for tests and throwaway
//! demos.
//!
//! It is lost on restart and not shared between processes, so several middle tiers only agree
//! on subscriptions when they share one `MemoryStore` (in tests) or use Cassandra.
//!
//! Page views share what they read rather than copying it: feeds are kept decoded behind `Arc`
//! ([`CachedFeed`]), and so is each user's reading state per feed, changed copy-on-write.
//! Each feed's item history (`history`) is kept beside it, with the content of every item.

mod app_passwords;
mod history;
mod icons;
mod search;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use middletier_api::domain::{FeedUrl, UserId};

use super::{
    AccountRecord, AccountStore, AppPasswordRecord, CachedFeed, FeedReading, FeedState, FeedStore,
    ItemMark, MarkChange, MarkTarget, ReadingStore, Scheduled, SessionRecord, StoreError,
    SubscriptionStore, UserReading, Watermark,
};

#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    users: HashMap<UserId, Vec<FeedUrl>>,
    categories: HashMap<UserId, HashMap<FeedUrl, String>>,
    /// The users' own feed titles, beside their categories.
    titles: HashMap<UserId, HashMap<FeedUrl, String>>,
    reading: HashMap<UserId, HashMap<FeedUrl, Arc<FeedReading>>>,
    feeds: HashMap<FeedUrl, Arc<CachedFeed>>,
    history: HashMap<FeedUrl, history::FeedHistory>,
    accounts: HashMap<UserId, AccountRecord>,
    sessions: HashMap<String, SessionRecord>,
    /// By owner and id; found by hash with a scan (a test store holds a handful).
    app_passwords: HashMap<(UserId, String), AppPasswordRecord>,
    icon_sources: HashMap<String, super::IconSource>,
    /// By SHA-256 (hex) of their bytes.
    icons: HashMap<String, super::StoredIcon>,
    /// Each user's preferences, as stored JSON.
    preferences: HashMap<UserId, String>,
}

impl Inner {
    fn subscribes(&self, user: &UserId, feed: &FeedUrl) -> bool {
        self.users
            .get(user)
            .is_some_and(|feeds| feeds.contains(feed))
    }

    /// Merges `change` into the user's mark on `item`: each flag set alone.
    fn mark(
        &mut self,
        user: &UserId,
        feed: &FeedUrl,
        item: &str,
        change: MarkChange,
        at: DateTime<Utc>,
    ) {
        let reading = self.reading_mut(user, feed);
        let mark: &mut ItemMark = reading.marks.entry(item.to_owned()).or_default();
        if let Some(read) = change.read {
            mark.read = Some((read, at));
        }
        if let Some(starred) = change.starred {
            mark.starred = starred;
        }
    }

    /// The user's reading state in `feed`, to change (copied only if a page view holds it).
    fn reading_mut(&mut self, user: &UserId, feed: &FeedUrl) -> &mut FeedReading {
        let feeds = self.reading.entry(user.clone()).or_default();
        Arc::make_mut(feeds.entry(feed.clone()).or_default())
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        // A panic while holding the lock cannot leave the maps half-updated (every change is a
        // single insert, push or retain), so a poisoned lock is still safe to use.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut inner)
    }
}

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn subscriptions(&self, user: &UserId) -> Result<Vec<FeedUrl>, StoreError> {
        Ok(self.with(|inner| inner.users.get(user).cloned().unwrap_or_default()))
    }

    async fn subscribe(
        &self,
        user: &UserId,
        url: &FeedUrl,
        max_per_user: usize,
    ) -> Result<bool, StoreError> {
        self.with(|inner| {
            let feeds = inner.users.entry(user.clone()).or_default();
            if feeds.contains(url) {
                return Ok(false);
            }
            if feeds.len() >= max_per_user {
                return Err(StoreError::TooManySubscriptions(max_per_user));
            }
            feeds.push(url.clone());
            Ok(true)
        })
    }

    async fn unsubscribe(&self, user: &UserId, url: &FeedUrl) -> Result<bool, StoreError> {
        Ok(self.with(|inner| {
            let Some(feeds) = inner.users.get_mut(user) else {
                return false;
            };
            let before = feeds.len();
            feeds.retain(|feed| feed != url);
            let removed = feeds.len() != before;
            if feeds.is_empty() {
                inner.users.remove(user);
            }
            if let Some(categories) = inner.categories.get_mut(user) {
                categories.remove(url);
            }
            if let Some(titles) = inner.titles.get_mut(user) {
                titles.remove(url);
            }
            removed
        }))
    }
}

#[async_trait]
impl FeedStore for MemoryStore {
    async fn feed_states(&self, urls: &[FeedUrl]) -> Result<Vec<Option<FeedState>>, StoreError> {
        Ok(self.with(|inner| {
            urls.iter()
                .map(|url| inner.feeds.get(url).map(|feed| feed.state.clone()))
                .collect()
        }))
    }

    async fn cached_feeds(
        &self,
        urls: &[FeedUrl],
    ) -> Result<Vec<Option<Arc<CachedFeed>>>, StoreError> {
        Ok(self.with(|inner| {
            urls.iter()
                .map(|url| inner.feeds.get(url).cloned())
                .collect()
        }))
    }

    async fn save_feed_state(&self, state: &FeedState) -> Result<(), StoreError> {
        // The index is rebuilt under the lock, so a save and a retention pass on the same
        // feed cannot interleave (sorting a few thousand entries takes well under a
        // millisecond).
        self.with(|inner| inner.save_with_history(state));
        Ok(())
    }

    async fn scheduled_feeds(&self) -> Result<Vec<Scheduled>, StoreError> {
        Ok(self.with(|inner| {
            let subscribed: HashSet<&FeedUrl> = inner.users.values().flatten().collect();
            // Unsubscribed feeds' cache and history go: nobody will read them (nobody has
            // marks on them either: unsubscribing clears them).
            inner.feeds.retain(|url, _| subscribed.contains(url));
            inner.history.retain(|url, _| subscribed.contains(url));
            subscribed
                .into_iter()
                .map(|url| {
                    let state = inner.feeds.get(url).map(|feed| &feed.state);
                    Scheduled {
                        url: url.clone(),
                        next_refresh: state.map(|s| s.next_refresh),
                        gone: state.is_some_and(|s| s.gone),
                    }
                })
                .collect()
        }))
    }

    async fn move_feed(&self, from: &FeedUrl, to: &FeedUrl) -> Result<(), StoreError> {
        self.with(|inner| {
            for (user, feeds) in &mut inner.users {
                if let Some(position) = feeds.iter().position(|feed| feed == from) {
                    if feeds.contains(to) {
                        feeds.remove(position);
                    } else {
                        feeds[position] = to.clone();
                        // The category and reading state follow the feed (item ids are
                        // the feed's own, so they stay valid).
                        if let Some(categories) = inner.categories.get_mut(user)
                            && let Some(category) = categories.remove(from)
                        {
                            categories.insert(to.clone(), category);
                        }
                        if let Some(titles) = inner.titles.get_mut(user)
                            && let Some(title) = titles.remove(from)
                        {
                            titles.insert(to.clone(), title);
                        }
                        if let Some(reading) = inner.reading.get_mut(user)
                            && let Some(state) = reading.remove(from)
                        {
                            reading.insert(to.clone(), state);
                        }
                    }
                }
            }
            inner.feeds.remove(from);
            // Items ids are the feed's own, so the history (and stars on it) moves as is.
            inner.move_history(from, to);
        });
        Ok(())
    }
}

#[async_trait]
impl ReadingStore for MemoryStore {
    async fn reading(&self, user: &UserId) -> Result<Arc<UserReading>, StoreError> {
        Ok(self.with(|inner| {
            let categories = inner.categories.get(user);
            let subscriptions = inner
                .users
                .get(user)
                .map(|feeds| {
                    feeds
                        .iter()
                        .map(|url| (url.clone(), categories.and_then(|c| c.get(url)).cloned()))
                        .collect()
                })
                .unwrap_or_default();
            Arc::new(UserReading {
                subscriptions,
                feeds: inner.reading.get(user).cloned().unwrap_or_default(),
                titles: inner.titles.get(user).cloned().unwrap_or_default(),
            })
        }))
    }

    async fn mark_item(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        item: &str,
        change: MarkChange,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|inner| {
            if !inner.subscribes(user, feed) {
                return Err(StoreError::NotSubscribed);
            }
            inner.mark(user, feed, item, change, at);
            Ok(())
        })
    }

    async fn mark_items(
        &self,
        user: &UserId,
        targets: &[MarkTarget],
        change: MarkChange,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|inner| {
            for target in targets {
                if inner.subscribes(user, &target.feed) {
                    inner.mark(user, &target.feed, &target.item, change, at);
                }
            }
        });
        Ok(())
    }

    async fn mark_read_up_to(
        &self,
        user: &UserId,
        feeds: &[FeedUrl],
        up_to: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|inner| {
            for feed in feeds {
                if !inner.subscribes(user, feed) {
                    continue;
                }
                let reading = inner.reading_mut(user, feed);
                reading.watermark = Some(Watermark::advanced(reading.watermark, up_to, at));
            }
        });
        Ok(())
    }

    async fn set_category(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        category: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|inner| {
            if !inner.subscribes(user, feed) {
                return false;
            }
            let categories = inner.categories.entry(user.clone()).or_default();
            match category {
                Some(category) => categories.insert(feed.clone(), category.to_owned()),
                None => categories.remove(feed),
            };
            true
        }))
    }

    async fn clear_reading(&self, user: &UserId, feed: &FeedUrl) -> Result<(), StoreError> {
        self.with(|inner| {
            if let Some(reading) = inner.reading.get_mut(user) {
                reading.remove(feed);
            }
        });
        Ok(())
    }

    async fn set_title(
        &self,
        user: &UserId,
        feed: &FeedUrl,
        title: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|inner| {
            if !inner.subscribes(user, feed) {
                return false;
            }
            let titles = inner.titles.entry(user.clone()).or_default();
            match title {
                Some(title) => titles.insert(feed.clone(), title.to_owned()),
                None => titles.remove(feed),
            };
            true
        }))
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn create_account(&self, account: &AccountRecord) -> Result<bool, StoreError> {
        Ok(self.with(|inner| {
            if inner.accounts.contains_key(&account.user) {
                return false;
            }
            inner.accounts.insert(account.user.clone(), account.clone());
            true
        }))
    }

    async fn account(&self, user: &UserId) -> Result<Option<AccountRecord>, StoreError> {
        Ok(self.with(|inner| inner.accounts.get(user).cloned()))
    }

    async fn set_password_hash(
        &self,
        user: &UserId,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|inner| match inner.accounts.get_mut(user) {
            Some(account) => {
                password_hash.clone_into(&mut account.password_hash);
                true
            }
            None => false,
        }))
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        Ok(self.with(|inner| {
            let users: std::collections::BTreeSet<UserId> = inner
                .accounts
                .keys()
                .chain(inner.users.keys())
                .chain(inner.app_passwords.keys().map(|(user, _)| user))
                .cloned()
                .collect();
            users.into_iter().collect()
        }))
    }

    async fn create_session(
        &self,
        token_hash: &str,
        session: &SessionRecord,
        max_per_user: usize,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        self.with(|inner| {
            // Sessions that expired without being looked up again go here, so abandoned
            // sessions cannot pile up (each sign-in pays for the sweep; there are few).
            inner.sessions.retain(|_, s| s.expires > now);
            inner
                .sessions
                .insert(token_hash.to_owned(), session.clone());
            let mut theirs: Vec<(DateTime<Utc>, String)> = inner
                .sessions
                .iter()
                .filter(|(_, s)| s.user == session.user && s.app_password == session.app_password)
                .map(|(hash, s)| (s.expires, hash.clone()))
                .collect();
            if theirs.len() > max_per_user {
                theirs.sort();
                for (_, hash) in &theirs[..theirs.len() - max_per_user] {
                    inner.sessions.remove(hash);
                }
            }
        });
        Ok(())
    }

    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.with(|inner| {
            let session = inner.sessions.get(token_hash)?;
            if session.expires <= now {
                inner.sessions.remove(token_hash);
                return None;
            }
            Some(session.clone())
        }))
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.with(|inner| inner.sessions.remove(token_hash));
        Ok(())
    }

    async fn delete_sessions_of(&self, user: &UserId) -> Result<usize, StoreError> {
        Ok(self.with(|inner| {
            let before = inner.sessions.len();
            inner.sessions.retain(|_, session| session.user != *user);
            before - inner.sessions.len()
        }))
    }

    async fn delete_account(&self, user: &UserId) -> Result<bool, StoreError> {
        Ok(self.with(|inner| {
            inner.sessions.retain(|_, session| session.user != *user);
            inner.app_passwords.retain(|(owner, _), _| owner != user);
            inner.users.remove(user);
            inner.categories.remove(user);
            inner.titles.remove(user);
            inner.reading.remove(user);
            inner.preferences.remove(user);
            inner.accounts.remove(user).is_some()
        }))
    }

    async fn preferences(&self, user: &UserId) -> Result<Option<String>, StoreError> {
        Ok(self.with(|inner| inner.preferences.get(user).cloned()))
    }

    async fn set_preferences(&self, user: &UserId, json: &str) -> Result<(), StoreError> {
        self.with(|inner| inner.preferences.insert(user.clone(), json.to_owned()));
        Ok(())
    }

    async fn delete_browser_sessions_of(&self, user: &UserId) -> Result<usize, StoreError> {
        Ok(self.with(|inner| {
            let before = inner.sessions.len();
            inner
                .sessions
                .retain(|_, session| session.user != *user || session.app_password.is_some());
            before - inner.sessions.len()
        }))
    }
}
