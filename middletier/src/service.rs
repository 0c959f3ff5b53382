//! The middle tier's behaviour, independent of HTTP: read a user's feeds, subscribe,
//! unsubscribe.
//!
//! Reading is online: it reads the subscriptions and the feed cache the refresher keeps
//! (`crate::refresh`), never a publisher, so it is as fast as the store. Subscribing is an
//! event: the URL is fetched at once, so the user sees the items right away and learns at once
//! when the URL is not a feed; a web page is searched for its feeds.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::api::{
    FeedStatus, ImportedFeed, OpmlImport, Subscription, SubscriptionChange, UserFeeds,
};
use crate::discover::{self, Candidate};
use crate::domain::{FeedUrl, UserId};
use crate::opml::{self, OpmlFeed};
use crate::refresh::{FirstFetch, Refresher};
use crate::store::{FeedState, MAX_SUBSCRIPTIONS_PER_USER, Store, StoreError};

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
        let urls = self.store.subscriptions(user).await?;
        let states = self.store.feed_states(&urls).await?;
        let subscriptions = urls
            .into_iter()
            .zip(states)
            .map(|(url, state)| match state {
                Some(state) => subscription(state),
                None => Subscription {
                    title: url.host_label(),
                    url: url.to_string(),
                    items: Vec::new(),
                    error: None,
                    status: FeedStatus::default(),
                },
            })
            .collect();
        Ok(UserFeeds {
            user: user.to_string(),
            subscriptions,
        })
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
        self.store.save_feed_state(&state).await?;
        Ok(SubscriptionChange {
            user: user.to_string(),
            url: state.url.to_string(),
            changed,
        })
    }

    /// The user's subscriptions as an OPML 2.0 document.
    pub async fn export_opml(&self, user: &UserId) -> Result<String, StoreError> {
        let feeds = self.user_feeds(user).await?;
        let outlines: Vec<(String, String)> = feeds
            .subscriptions
            .into_iter()
            .map(|feed| (feed.url, feed.title))
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
        Ok(SubscriptionChange {
            user: user.to_string(),
            url: url.to_string(),
            changed,
        })
    }
}

fn subscription(state: FeedState) -> Subscription {
    let time =
        |at: Option<DateTime<Utc>>| at.map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true));
    Subscription {
        title: state
            .title
            .clone()
            .unwrap_or_else(|| state.url.host_label()),
        url: state.url.to_string(),
        items: state.items,
        error: state.last_error,
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
    }
}
