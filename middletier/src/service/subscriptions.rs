//! Subscribing (fetching the URL at once, finding the feed a web page links), unsubscribing,
//! categories, and OPML import and export.

use middletier_api::domain::{self, FeedUrl, UserId};
use middletier_api::{CategoryChange, ImportedFeed, OpmlImport, SubscriptionChange};

use super::{FeedService, ServiceError};
use crate::discover;
use crate::opml::{self, OpmlFeed};
use crate::refresh::FirstFetch;
use crate::store::{FeedState, StoreError};

impl FeedService {
    /// Fetches `url` at once and subscribes to it (or to the feed it moved to, or to the one
    /// feed the web page at `url` links). Errors say why the URL is not a feed.
    pub async fn subscribe(
        &self,
        user: &UserId,
        url: &FeedUrl,
    ) -> Result<SubscriptionChange, ServiceError> {
        let state = match self.refresher.fetch_new(url).await {
            FirstFetch::Feed(state) => *state,
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
                            FirstFetch::Feed(state) => *state,
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
        let max = self.accounts.max_subscriptions_per_user;
        let changed = self.store.subscribe(user, &state.url, max).await?;
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
                title: reading.feed_title(url, feed.as_deref()),
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
        let existing: std::collections::HashSet<FeedUrl> =
            self.store.subscriptions(user).await?.into_iter().collect();
        let parsed: Vec<(FeedUrl, OpmlFeed)> = feeds
            .into_iter()
            .filter_map(|feed| Some((FeedUrl::parse(&feed.url).ok()?, feed)))
            .collect();
        let new = parsed
            .iter()
            .filter(|(url, _)| !existing.contains(url))
            .count();
        let max = self.accounts.max_subscriptions_per_user;
        if existing.len() + new > max {
            let room = max.saturating_sub(existing.len());
            return Err(ServiceError::Refused(format!(
                "nothing was imported: this file has {new} feeds you don't subscribe to yet, \
                 and you have {have} of the limit of {max} subscriptions per user \
                 (RSS_ACCOUNTS__MAX_SUBSCRIPTIONS_PER_USER on the middle tier), so there is \
                 room for {room}; import a smaller file, unsubscribe from some feeds first, \
                 or ask your administrator to raise the limit",
                have = existing.len(),
            )));
        }
        let mut imported = Vec::with_capacity(parsed.len());
        for (url, feed) in parsed {
            let new = self.store.subscribe(user, &url, max).await?;
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
}
