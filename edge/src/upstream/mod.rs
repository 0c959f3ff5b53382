//! Calling the middle tier the way the recipe did: client-side balancing over the instances
//! the registry lists (see [`crate::balancer`]), Ribbon's retries within a retry budget
//! (`retries`), and every call inside its operation's Hystrix command
//! ([`crate::resilience::command`]), with the fallbacks a command's failure leaves to its
//! caller: the last good answers (`cache`).
//!
//! Each operation picks its command and says whether it may be retried; everything else is
//! shared. Reads that fail answer from the cache, marked stale with their age and the reason;
//! writes have no earlier answer to give, so their failure goes back to the caller, which shows
//! the reason and keeps the input. Failures reach the rest of the edge as [`UpstreamError`],
//! in words a user can read.
//!
//! # Layout
//! - `settings`: `[middletier]`, `[commands.*]`, `[read_cache]` and [`UpstreamSettings`].
//! - `retries`: Ribbon's retry loop over the balancer, within the retry budget.
//! - `cache`: the read cache (the feed list) and the river's fallback pages.
//! - `error`: [`UpstreamError`], and how a middle-tier error counts in a command.
//! - `apps`: the calls sync apps make (Google Reader and Fever APIs), in their own commands.
//! - `preferences`: each user's reading preferences.

mod apps;
mod cache;
mod error;
mod preferences;
mod retries;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use middletier_api::{
    Account, CallError, CategoryChange, Checked, IconFile, ItemQuery, ItemStateChange, MarkRead,
    MarkedRead, MiddletierClient, NewAccount, NewSession, OpmlImport, PasswordChange, River,
    RiverItem, RiverQuery, SearchQuery, SearchResults, Session, SubscriptionChange, UserFeeds,
};
use registry_client::Discovery;

use crate::balancer::{Balancer, InstanceView};
use crate::resilience::command::{Command, CommandSettings};

use cache::{Lookup, ReadCache, RiverCache};
pub use error::{SHED_RETRY_AFTER, UpstreamError, retry_after_header};
use retries::Idempotence::{Idempotent, NotIdempotent};
use retries::Retries;
pub use settings::{CommandsSettings, MiddletierSettings, ReadCacheSettings, UpstreamSettings};

/// What a read produced: fresh data, or the fallback.
#[derive(Debug)]
pub enum FeedsOutcome {
    /// From the middle tier, or from the read cache within `fresh_for`.
    Fresh(Arc<UserFeeds>),
    /// The last good answer, `age` old, served because of `reason`.
    Stale {
        feeds: Arc<UserFeeds>,
        age: Duration,
        reason: UpstreamError,
    },
    /// Nothing to show: the call failed and there is no earlier answer.
    Unavailable { reason: UpstreamError },
}

/// What a river read produced: fresh, or the fallback (as [`FeedsOutcome`]).
#[derive(Debug)]
pub enum RiverOutcome {
    Fresh(Arc<River>),
    /// The last good answer to the same query, `age` old, served because of `reason`.
    Stale {
        river: Arc<River>,
        age: Duration,
        reason: UpstreamError,
    },
    Unavailable {
        reason: UpstreamError,
    },
}

/// The middle tier as the edge's pages see it: one method per operation, each through its
/// command, the retries and (for reads) the last good answer.
#[derive(Debug)]
pub struct Upstream {
    client: MiddletierClient,
    /// The balancer and the retry budget, with the live retry settings.
    retries: Retries,
    get: Command,
    add: Command,
    delete: Command,
    import: Command,
    mark: Command,
    session: Command,
    account: Command,
    search: Command,
    app_read: Command,
    app_write: Command,
    icon: Command,
    cache: ReadCache,
    rivers: RiverCache,
}

impl Upstream {
    pub fn new(client: MiddletierClient, discovery: Discovery, settings: UpstreamSettings) -> Self {
        let balancer = Balancer::new(
            discovery,
            settings.balancer.clone(),
            settings.outlier.clone(),
        );
        Self::with_balancer(client, balancer, &settings)
    }

    fn with_balancer(
        client: MiddletierClient,
        balancer: Balancer,
        settings: &UpstreamSettings,
    ) -> Self {
        let commands = &settings.commands;
        // Each command reads its own part of the live `[commands]` section.
        let command = |name, part: fn(&CommandsSettings) -> &CommandSettings| {
            Command::dynamic(name, commands.map(move |all| part(all).clone()))
        };
        Self {
            client,
            retries: Retries::new(balancer, settings.middletier.clone()),
            cache: ReadCache::new(&settings.read_cache, commands.get().get.timeout),
            get: command("RSSGet", |c| &c.get)
                .with_request_cache(!settings.read_cache.fresh_for.is_zero()),
            add: command("RSSAdd", |c| &c.add),
            delete: command("RSSDel", |c| &c.delete),
            import: command("RSSImport", |c| &c.import),
            mark: command("RSSMark", |c| &c.mark),
            session: command("RSSSession", |c| &c.session),
            account: command("RSSAccount", |c| &c.account),
            search: command("RSSSearch", |c| &c.search),
            app_read: command("AppRead", |c| &c.app_read),
            app_write: command("AppWrite", |c| &c.app_write),
            icon: command("RSSIcon", |c| &c.icon),
            rivers: RiverCache::new(settings.read_cache.river_budget()),
        }
    }

    pub fn commands(&self) -> [&Command; 11] {
        [
            &self.get,
            &self.add,
            &self.delete,
            &self.import,
            &self.mark,
            &self.session,
            &self.account,
            &self.search,
            &self.app_read,
            &self.app_write,
            &self.icon,
        ]
    }

    /// The middle-tier instances with their health, for the dashboard.
    pub fn instances(&self) -> Vec<InstanceView> {
        self.retries.balancer().instances()
    }

    /// Retries refused by the retry budget since start.
    pub fn retries_refused(&self) -> u64 {
        self.retries.refused()
    }
}

/// The user's subscriptions: the feed list, subscribing and OPML.
impl Upstream {
    pub async fn feeds(&self, user: &str) -> FeedsOutcome {
        let _refresh = match self.cache.lookup(user) {
            Lookup::Hit(feeds) => {
                self.get.record_cache_hit();
                return FeedsOutcome::Fresh(feeds);
            }
            Lookup::Miss(guard) => guard,
        };
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.feeds(&base, user).await
        });
        match self.get.execute(call).await.map_err(UpstreamError::from) {
            Ok(feeds) => {
                let feeds = Arc::new(feeds);
                self.cache.put(feeds.clone());
                FeedsOutcome::Fresh(feeds)
            }
            Err(reason) if reason.is_bad_request() => FeedsOutcome::Unavailable { reason },
            Err(reason) => {
                let stale = self.cache.stale(user);
                self.get.record_fallback(stale.is_some());
                match stale {
                    Some((age, feeds)) => FeedsOutcome::Stale { feeds, age, reason },
                    None => FeedsOutcome::Unavailable { reason },
                }
            }
        }
    }

    /// Runs a write and accounts for its fallback: there is no earlier answer to give, so the
    /// caller shows the reason and keeps the input.
    async fn write<T>(
        &self,
        command: &Command,
        user: &str,
        call: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, UpstreamError> {
        let result = command.execute(call).await.map_err(UpstreamError::from);
        match &result {
            Ok(_) => self.cache.expire(user),
            Err(error) if error.is_bad_request() => {}
            Err(_) => command.record_fallback(false),
        }
        result
    }

    /// Subscribing is idempotent in the middle tier's API, so it may be retried like a read.
    pub async fn subscribe(
        &self,
        user: &str,
        url: &str,
    ) -> Result<SubscriptionChange, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.subscribe(&base, user, url).await
        });
        self.write(&self.add, user, call).await
    }

    /// Unsubscribing is idempotent too.
    pub async fn unsubscribe(
        &self,
        user: &str,
        url: &str,
    ) -> Result<SubscriptionChange, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.unsubscribe(&base, user, url).await
        });
        self.write(&self.delete, user, call).await
    }

    /// The user's subscriptions as OPML: a read, so it runs as `RSSGet`.
    pub async fn export_opml(&self, user: &str) -> Result<String, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.export_opml(&base, user).await
        });
        self.without_fallback(&self.get, call).await
    }

    /// Importing is idempotent (subscribing twice subscribes once), so it may be retried.
    pub async fn import_opml(
        &self,
        user: &str,
        opml: Vec<u8>,
    ) -> Result<OpmlImport, UpstreamError> {
        let opml = &opml;
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.import_opml(&base, user, opml.clone()).await
        });
        self.write(&self.import, user, call).await
    }
}

/// The reader: the river of news and reading state.
impl Upstream {
    /// A page of the user's river; on failure the last good answer to the same query.
    pub async fn river(&self, user: &str, query: &RiverQuery) -> RiverOutcome {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.river(&base, user, query).await
        });
        match self.get.execute(call).await.map_err(UpstreamError::from) {
            Ok(river) => {
                let river = Arc::new(river);
                self.rivers.put(user, query, river.clone());
                RiverOutcome::Fresh(river)
            }
            Err(reason) if reason.is_bad_request() => RiverOutcome::Unavailable { reason },
            Err(reason) => {
                let stale = self.rivers.stale(user, query);
                self.get.record_fallback(stale.is_some());
                match stale {
                    Some((age, river)) => RiverOutcome::Stale { river, age, reason },
                    None => RiverOutcome::Unavailable { reason },
                }
            }
        }
    }

    /// One item of a feed the user subscribes to, as the feed holds it: where opening it leads.
    /// A read (`RSSGet`) without a fallback: an item can't be opened from a stale answer.
    pub async fn item(&self, user: &str, query: &ItemQuery) -> Result<RiverItem, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.item(&base, user, query).await
        });
        self.without_fallback(&self.get, call).await
    }

    /// A feed icon by content hash; `None`: the middle tier has none by that hash. Through its
    /// own command (`RSSIcon`), without a fallback; browsers keep what it answers for a year.
    pub async fn icon(&self, hash: &str) -> Result<Option<IconFile>, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.icon(&base, hash).await
        });
        self.without_fallback(&self.icon, call).await
    }

    /// Item `number` of the user's feeds, with its content, feed title and this user's
    /// state, for the reading view; `None` when the user has no such item (another user's
    /// number included). Through the reader's reads (`RSSGet`), never the apps' command, so a
    /// phone's sync can't slow the page; no fallback, as for [`Upstream::item`].
    pub async fn item_by_number(
        &self,
        user: &str,
        number: u64,
    ) -> Result<Option<middletier_api::AppItem>, UpstreamError> {
        let numbers = &middletier_api::ItemNumbers {
            numbers: vec![number],
        };
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.app_items_by_number(&base, user, numbers).await
        });
        let found = self.without_fallback(&self.get, call).await?;
        Ok(found.items.into_iter().find(|item| item.number == number))
    }

    /// A page of search results, through its own command (`RSSSearch`). No fallback: results
    /// from an earlier answer would pretend to be this search's, so a failure is the caller's
    /// to show ("search is unavailable right now").
    pub async fn search(
        &self,
        user: &str,
        query: &SearchQuery,
    ) -> Result<SearchResults, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.search(&base, user, query).await
        });
        self.without_fallback(&self.search, call).await
    }

    /// Marks one item read or unread, starred or not. Idempotent, so retried like a read.
    pub async fn set_item_state(
        &self,
        user: &str,
        change: &ItemStateChange,
    ) -> Result<ItemStateChange, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.set_item_state(&base, user, change).await
        });
        self.write(&self.mark, user, call).await
    }

    /// "Mark all as read" for a feed, a category or everything (idempotent).
    pub async fn mark_read(
        &self,
        user: &str,
        mark: &MarkRead,
    ) -> Result<MarkedRead, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.mark_read(&base, user, mark).await
        });
        self.write(&self.mark, user, call).await
    }

    /// Files a subscription under a category, or clears it (idempotent).
    pub async fn set_category(
        &self,
        user: &str,
        change: &CategoryChange,
    ) -> Result<(), UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.set_category(&base, user, change).await
        });
        self.write(&self.mark, user, call).await
    }

    /// Fetches one subscribed feed now ("check now"). In `RSSAdd`, whose timeout already
    /// allows for a publisher's fetch (subscribing fetches too). Not retried after a timeout
    /// or a 5xx: the first attempt may have checked, and a retry would only be told it is too
    /// soon.
    pub async fn check_now(&self, user: &str, url: &str) -> Result<Checked, UpstreamError> {
        let call = self.retries.run(NotIdempotent, |base| async move {
            self.client.check_now(&base, user, url).await
        });
        self.write(&self.add, user, call).await
    }
}

/// Accounts and sessions (see [`crate::accounts`]): the middle tier stores them; the edge only
/// ever sends password hashes and token hashes. None of these calls has a stale fallback: an
/// answer that can't be had is an error the caller shows (the session cache in
/// [`crate::session`] keeps signed-in users reading through short outages).
impl Upstream {
    /// The live session with this token hash, `None` when unknown or expired.
    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.session(&base, token_hash).await
        });
        self.without_fallback(&self.session, call).await
    }

    /// Storing a session under a fresh random key is idempotent, so it may be retried.
    pub async fn create_session(&self, session: &NewSession) -> Result<(), UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.create_session(&base, session).await
        });
        self.without_fallback(&self.session, call).await
    }

    /// Deleting a session is idempotent (an unknown one is fine).
    pub async fn end_session(&self, token_hash: &str) -> Result<(), UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.delete_session(&base, token_hash).await
        });
        self.without_fallback(&self.session, call).await
    }

    /// Ends every session of `user` ("sign out everywhere"); idempotent.
    pub async fn end_all_sessions(&self, user: &str) -> Result<(), UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.delete_sessions_of(&base, user).await
        });
        self.without_fallback(&self.session, call).await
    }

    /// Creates an account; `None` when the name is taken. Not retried after a timeout or 5xx:
    /// the first attempt may have created it, and a retry would then report the user's own
    /// new account as taken.
    pub async fn create_account(
        &self,
        account: &NewAccount,
    ) -> Result<Option<Account>, UpstreamError> {
        let call = self.retries.run(NotIdempotent, |base| async move {
            self.client.create_account(&base, account).await
        });
        self.without_fallback(&self.account, call).await
    }

    /// Deletes the account and everything that is the user's; `false` when there was no such
    /// account. Deleting again finishes what an interrupted deletion left, so it is retried.
    pub async fn delete_account(&self, user: &str) -> Result<bool, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.delete_account(&base, user).await
        });
        self.without_fallback(&self.account, call).await
    }

    /// Replaces the account's password hash; `false` when there is no such account. Writing
    /// the same hash again changes nothing, so it may be retried.
    pub async fn set_password(
        &self,
        user: &str,
        change: &PasswordChange,
    ) -> Result<bool, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.set_password(&base, user, change).await
        });
        self.without_fallback(&self.account, call).await
    }

    pub async fn account(&self, user: &str) -> Result<Option<Account>, UpstreamError> {
        let call = self.retries.run(Idempotent, |base| async move {
            self.client.account(&base, user).await
        });
        self.without_fallback(&self.account, call).await
    }

    /// Runs a call that has no fallback answer (accounts, sessions, OPML export): a failure is
    /// the caller's to show.
    pub(crate) async fn without_fallback<T>(
        &self,
        command: &Command,
        call: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, UpstreamError> {
        let result = command.execute(call).await.map_err(UpstreamError::from);
        if result.as_ref().is_err_and(|error| !error.is_bad_request()) {
            command.record_fallback(false);
        }
        result
    }
}

#[cfg(test)]
mod tests;
