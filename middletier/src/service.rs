//! The middle tier's behaviour, independent of HTTP: read a user's feeds, subscribe,
//! unsubscribe.
//!
//! Reading is online: it reads the subscriptions and the feed cache the refresher keeps
//! (`crate::refresh`), never a publisher, so it is as fast as the store. Subscribing is an
//! event: the URL is fetched at once, so the user sees the items right away and learns at once
//! when the URL is not a feed; a web page is searched for its feeds.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use middletier_api::domain::{self, FeedUrl, ParseError, UserId};
use middletier_api::limits::MAX_SESSION_DAYS;
use middletier_api::{
    Account, Candidate, CategoryChange, FeedStatus, ImportedFeed, Item, ItemStateChange, MarkRead,
    MarkedRead, NewAccount, NewSession, OpmlImport, River, RiverQuery, Session, Subscription,
    SubscriptionChange, UserFeeds,
};

use crate::discover;
use crate::opml::{self, OpmlFeed};
use crate::refresh::{FirstFetch, Refresher};
use crate::river::{self, Cursor, Scope, Source};
use crate::store::{
    AccountRecord, FeedState, MAX_SUBSCRIPTIONS_PER_USER, MarkChange, SessionRecord, Store,
    StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The URL can't be subscribed to; the message says why, for the user.
    #[error("{0}")]
    Refused(String),
    /// A web page linking several feeds: the user picks one.
    #[error("this page links to {} feeds; choose one", .0.len())]
    Choose(Vec<Candidate>),
    #[error(transparent)]
    BadRequest(#[from] ParseError),
    /// The user does not subscribe to the feed named (404: there is nothing of theirs there).
    #[error("not subscribed to {0}")]
    NotSubscribed(String),
    /// An account with this name exists (409).
    #[error("the name is taken")]
    Taken,
    /// No such account or session (404).
    #[error("{0} not found")]
    NotFound(&'static str),
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Clone, Debug)]
pub struct FeedService {
    store: Arc<dyn Store>,
    refresher: Refresher,
}

impl FeedService {
    pub fn new(store: Arc<dyn Store>, refresher: Refresher) -> Self {
        Self { store, refresher }
    }

    pub fn refresher(&self) -> &Refresher {
        &self.refresher
    }

    pub async fn user_feeds(&self, user: &UserId) -> Result<UserFeeds, StoreError> {
        let reading = self.store.reading(user).await?;
        let urls: Vec<FeedUrl> = reading
            .subscriptions
            .iter()
            .map(|(url, _)| url.clone())
            .collect();
        let feeds = self.store.cached_feeds(&urls).await?;
        let subscriptions = reading
            .subscriptions
            .iter()
            .zip(feeds)
            .map(|((url, category), feed)| {
                let mut subscription = match &feed {
                    Some(feed) => {
                        let source = Source {
                            url,
                            feed,
                            reading: reading.feeds.get(url).map(AsRef::as_ref),
                        };
                        let mut subscription = subscription(&feed.state);
                        subscription.unread = source.unread();
                        subscription.items = items_for(&source);
                        subscription
                    }
                    None => Subscription {
                        title: url.host_label(),
                        url: url.to_string(),
                        items: Vec::new(),
                        error: None,
                        status: FeedStatus::default(),
                        category: None,
                        unread: 0,
                    },
                };
                subscription.category = category.clone();
                subscription
            })
            .collect();
        Ok(UserFeeds {
            user: user.to_string(),
            subscriptions,
        })
    }

    /// A page of the user's river (all feeds, one feed or one category), and unread counts.
    pub async fn river(&self, user: &UserId, query: &RiverQuery) -> Result<River, ServiceError> {
        let limit = query.limit.unwrap_or(river::DEFAULT_LIMIT);
        if !(1..=river::MAX_LIMIT).contains(&limit) {
            return Err(ParseError::Limit(river::MAX_LIMIT).into());
        }
        let cursor = query.before.as_deref().map(Cursor::decode).transpose()?;
        let feed = query.feed.as_deref().map(FeedUrl::parse).transpose()?;
        let category = domain::category(query.category.as_deref())?;
        let scope = Scope::of(feed.as_ref(), category.as_deref());
        let reading = self.store.reading(user).await?;
        if let Some(feed) = &feed
            && !reading.subscriptions.iter().any(|(url, _)| url == feed)
        {
            return Err(ServiceError::NotSubscribed(feed.to_string()));
        }
        let urls: Vec<FeedUrl> = reading
            .subscriptions
            .iter()
            .map(|(url, _)| url.clone())
            .collect();
        let feeds = self.store.cached_feeds(&urls).await?;
        Ok(river::river(
            user.as_str(),
            &reading,
            &feeds,
            scope,
            query.filter,
            cursor.as_ref(),
            limit,
        ))
    }

    /// Marks one item read/unread or starred/unstarred, in a feed the user subscribes to.
    pub async fn set_item_state(
        &self,
        user: &UserId,
        change: &ItemStateChange,
    ) -> Result<ItemStateChange, ServiceError> {
        let feed = FeedUrl::parse(&change.feed)?;
        let item = domain::item_id(&change.item)?;
        let marks = MarkChange {
            read: change.read,
            starred: change.starred,
        };
        match self
            .store
            .mark_item(user, &feed, item, marks, Utc::now())
            .await
        {
            Ok(()) => Ok(change.clone()),
            Err(StoreError::NotSubscribed) => Err(ServiceError::NotSubscribed(feed.to_string())),
            Err(error) => Err(error.into()),
        }
    }

    /// Marks a feed, a category or all the user's feeds read, up to a time: one write per
    /// feed. Answers how many unread items that covered.
    pub async fn mark_read(
        &self,
        user: &UserId,
        mark: &MarkRead,
    ) -> Result<MarkedRead, ServiceError> {
        let now = Utc::now();
        // Never later than now: a watermark in the future would swallow items not yet seen.
        let up_to = match mark.up_to.as_deref() {
            Some(raw) => domain::time(raw)?.min(now),
            None => now,
        };
        let feed = mark.feed.as_deref().map(FeedUrl::parse).transpose()?;
        let category = domain::category(mark.category.as_deref())?;
        let scope = Scope::of(feed.as_ref(), category.as_deref());
        let reading = self.store.reading(user).await?;
        let urls: Vec<FeedUrl> = reading
            .subscriptions
            .iter()
            .filter(|(url, category)| scope.includes(url, category.as_deref()))
            .map(|(url, _)| url.clone())
            .collect();
        if let Some(feed) = &feed
            && urls.is_empty()
        {
            return Err(ServiceError::NotSubscribed(feed.to_string()));
        }
        let feeds = self.store.cached_feeds(&urls).await?;
        let up_to_ms = up_to.timestamp_millis();
        let marked = urls
            .iter()
            .zip(&feeds)
            .filter_map(|(url, feed)| Some((url, feed.as_ref()?)))
            .map(|(url, feed)| {
                let source = Source {
                    url,
                    feed,
                    reading: reading.feeds.get(url).map(AsRef::as_ref),
                };
                feed.newest_first
                    .iter()
                    .filter(|order| order.seen <= up_to_ms && !source_read(&source, order))
                    .count()
            })
            .sum();
        self.store.mark_read_up_to(user, &urls, up_to, now).await?;
        Ok(MarkedRead { marked })
    }

    /// Sets or clears a subscription's category.
    pub async fn set_category(
        &self,
        user: &UserId,
        change: &CategoryChange,
    ) -> Result<(), ServiceError> {
        let feed = FeedUrl::parse(&change.url)?;
        let category = domain::category(change.category.as_deref())?;
        if self
            .store
            .set_category(user, &feed, category.as_deref())
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotSubscribed(feed.to_string()))
        }
    }

    pub async fn create_account(&self, new: &NewAccount) -> Result<Account, ServiceError> {
        let record = AccountRecord {
            user: UserId::parse(&new.user)?,
            password_hash: domain::password_hash(&new.password_hash)?.to_owned(),
            // Whole milliseconds: what every store keeps.
            created: millis(Utc::now()),
        };
        if !self.store.create_account(&record).await? {
            return Err(ServiceError::Taken);
        }
        Ok(account(record))
    }

    pub async fn account(&self, user: &UserId) -> Result<Account, ServiceError> {
        match self.store.account(user).await? {
            Some(record) => Ok(account(record)),
            None => Err(ServiceError::NotFound("account")),
        }
    }

    pub async fn create_session(&self, new: &NewSession) -> Result<(), ServiceError> {
        let token_hash = domain::token_hash(&new.token_hash)?;
        let expires = domain::time(&new.expires)?;
        let now = Utc::now();
        if expires <= now || expires > now + chrono::Duration::days(MAX_SESSION_DAYS) {
            return Err(ParseError::SessionExpiry.into());
        }
        let session = SessionRecord {
            user: UserId::parse(&new.user)?,
            expires: millis(expires),
        };
        Ok(self.store.create_session(token_hash, &session).await?)
    }

    /// The live session; unknown and expired ones are both "not found".
    pub async fn session(&self, token_hash: &str) -> Result<Session, ServiceError> {
        let token_hash = domain::token_hash(token_hash)?;
        match self.store.session(token_hash, Utc::now()).await? {
            Some(session) => Ok(Session {
                user: session.user.to_string(),
                expires: rfc3339(session.expires),
            }),
            None => Err(ServiceError::NotFound("session")),
        }
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), ServiceError> {
        let token_hash = domain::token_hash(token_hash)?;
        Ok(self.store.delete_session(token_hash).await?)
    }

    /// Fetches `url` at once and subscribes to it (or to the feed it moved to, or to the one
    /// feed the web page at `url` links). Errors say why the URL is not a feed.
    pub async fn subscribe(
        &self,
        user: &UserId,
        url: &FeedUrl,
    ) -> Result<SubscriptionChange, ServiceError> {
        let state = match self.refresher.fetch_new(url).await {
            FirstFetch::Feed(state) => state,
            FirstFetch::Refused(message) => return Err(ServiceError::Refused(message)),
            FirstFetch::Html { body, url: page } => {
                let page = FeedUrl::parse(page.as_str()).unwrap_or_else(|_| url.clone());
                let mut candidates =
                    discover::discover(self.refresher.fetcher(), &page, &body).await;
                match candidates.len() {
                    0 => {
                        return Err(ServiceError::Refused(
                            "this page is HTML; no feed link found".to_owned(),
                        ));
                    }
                    1 => {
                        let only = FeedUrl::parse(&candidates.remove(0).url)
                            .map_err(|e| ServiceError::Refused(e.to_string()))?;
                        match self.refresher.fetch_new(&only).await {
                            FirstFetch::Feed(state) => state,
                            FirstFetch::Refused(message) => {
                                return Err(ServiceError::Refused(message));
                            }
                            FirstFetch::Html { .. } => {
                                return Err(ServiceError::Refused(
                                    "the page's feed link leads to another web page".to_owned(),
                                ));
                            }
                        }
                    }
                    _ => return Err(ServiceError::Choose(candidates)),
                }
            }
        };
        let changed = self.store.subscribe(user, &state.url).await?;
        let state = self.keep_first_seen(state).await?;
        self.store.save_feed_state(&state).await?;
        Ok(SubscriptionChange {
            user: user.to_string(),
            url: state.url.to_string(),
            changed,
        })
    }

    /// A fresh fetch of a feed others may already read keeps when its items first arrived,
    /// so their "read up to" marks still cover them.
    async fn keep_first_seen(&self, mut state: FeedState) -> Result<FeedState, StoreError> {
        let cached = self
            .store
            .feed_states(std::slice::from_ref(&state.url))
            .await?
            .pop()
            .flatten();
        if let Some(cached) = cached {
            for (id, seen) in &mut state.first_seen {
                if let Some(earlier) = cached.first_seen.get(id) {
                    *seen = (*seen).min(*earlier);
                }
            }
        }
        Ok(state)
    }

    /// The user's subscriptions as an OPML 2.0 document.
    pub async fn export_opml(&self, user: &UserId) -> Result<String, StoreError> {
        let reading = self.store.reading(user).await?;
        let urls: Vec<FeedUrl> = reading
            .subscriptions
            .iter()
            .map(|(url, _)| url.clone())
            .collect();
        let feeds = self.store.cached_feeds(&urls).await?;
        let outlines: Vec<opml::ExportFeed> = reading
            .subscriptions
            .iter()
            .zip(feeds)
            .map(|((url, category), feed)| opml::ExportFeed {
                url: url.to_string(),
                title: feed
                    .and_then(|feed| feed.state.title.clone())
                    .unwrap_or_else(|| url.host_label()),
                category: category.clone(),
            })
            .collect();
        Ok(opml::export(user.as_str(), &outlines))
    }

    /// Subscribes to every feed of an OPML file, all or nothing as far as validation goes
    /// (the file was parsed whole before this). Feeds are not fetched here: the refresher
    /// fetches new ones at its next scan, so a large import returns at once.
    pub async fn import_opml(
        &self,
        user: &UserId,
        feeds: Vec<OpmlFeed>,
    ) -> Result<OpmlImport, ServiceError> {
        let existing = self.store.subscriptions(user).await?;
        let parsed: Vec<(FeedUrl, OpmlFeed)> = feeds
            .into_iter()
            .filter_map(|feed| Some((FeedUrl::parse(&feed.url).ok()?, feed)))
            .collect();
        let new = parsed
            .iter()
            .filter(|(url, _)| !existing.contains(url))
            .count();
        if existing.len() + new > MAX_SUBSCRIPTIONS_PER_USER {
            return Err(ServiceError::Refused(format!(
                "importing {new} new feeds would exceed the limit of {MAX_SUBSCRIPTIONS_PER_USER} \
                 subscriptions; nothing was imported"
            )));
        }
        let mut imported = Vec::with_capacity(parsed.len());
        for (url, feed) in parsed {
            let new = self.store.subscribe(user, &url).await?;
            // The first folder level is the category (categories are flat); a feed already
            // subscribed keeps the one the user gave it.
            let category = feed
                .category
                .as_deref()
                .and_then(|path| path.split(" / ").next())
                .and_then(|first| domain::category(Some(first)).ok().flatten());
            if new && category.is_some() {
                self.store
                    .set_category(user, &url, category.as_deref())
                    .await?;
            }
            imported.push(ImportedFeed {
                url: url.to_string(),
                title: feed.title,
                category: feed.category,
                new,
            });
        }
        Ok(OpmlImport {
            user: user.to_string(),
            imported: imported.iter().filter(|f| f.new).count(),
            already: imported.iter().filter(|f| !f.new).count(),
            feeds: imported,
        })
    }

    pub async fn unsubscribe(
        &self,
        user: &UserId,
        url: &FeedUrl,
    ) -> Result<SubscriptionChange, StoreError> {
        let changed = self.store.unsubscribe(user, url).await?;
        if changed {
            // Nobody will see these marks again; subscribing later starts afresh.
            self.store.clear_reading(user, url).await?;
        }
        Ok(SubscriptionChange {
            user: user.to_string(),
            url: url.to_string(),
            changed,
        })
    }
}

fn subscription(state: &FeedState) -> Subscription {
    let time = |at: Option<DateTime<Utc>>| at.map(rfc3339);
    Subscription {
        title: state
            .title
            .clone()
            .unwrap_or_else(|| state.url.host_label()),
        url: state.url.to_string(),
        items: Vec::new(),
        error: state.last_error.clone(),
        status: FeedStatus {
            last_success: time(state.last_success),
            last_attempt: time(state.last_attempt),
            http_status: state.http_status,
            next_refresh: if state.gone {
                None
            } else {
                time(Some(state.next_refresh))
            },
            gone: state.gone,
        },
        category: None,
        unread: 0,
    }
}

/// The feed's items in the feed's own order, with this user's marks.
fn items_for(source: &Source<'_>) -> Vec<Item> {
    source
        .feed
        .state
        .items
        .iter()
        .zip(&source.feed.seen)
        .map(|(item, &seen)| {
            let (read, starred) = source
                .reading
                .map_or((false, false), |reading| reading.state_of(&item.id, seen));
            Item {
                read,
                starred,
                ..item.clone()
            }
        })
        .collect()
}

fn source_read(source: &Source<'_>, order: &crate::store::ItemOrder) -> bool {
    source
        .reading
        .is_some_and(|reading| reading.state_of(&source.feed.item(order).id, order.seen).0)
}

fn account(record: AccountRecord) -> Account {
    Account {
        user: record.user.to_string(),
        password_hash: record.password_hash,
        created: rfc3339(record.created),
    }
}

fn millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}
