//! Loading the file into a store, one user at a time, through the normal store trait methods
//! (so the subscription cap and every validation apply as for a request).
//!
//! Guarantee: a user's records are all read and checked before any of them is written, so a
//! bad record (or a file cut short inside a user) leaves that user untouched; users before it
//! stay imported. Writing is idempotent (importing the same file twice changes nothing), so
//! after a store failure part-way through a user, importing again completes it.

use std::collections::HashSet;
use std::io::BufRead;

use chrono::{DateTime, Utc};

use middletier_api::domain::{self, FeedUrl, UserId};
use middletier_api::limits::{MAX_TITLE_BYTES, MAX_URL_LEN};
use middletier_api::{Item, MAX_APP_PASSWORDS};

use super::{FORMAT, Header, MAX_LINE_BYTES, READS, Record, StarredContent, Summary};
use crate::feed::{author_text, clean_enclosures, sanitize_html};
use crate::store::{
    AccountRecord, AppPasswordCreated, AppPasswordRecord, MarkChange, Store, StoreError, StoredItem,
};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not one this build can load; nothing of the user named was written.
    #[error("line {line}: {problem}")]
    Invalid { line: u64, problem: String },
    /// The store refused or failed a write (the cap, or unavailable).
    #[error("line {line}: {source}")]
    Store { line: u64, source: StoreError },
    #[error("cannot read the import: {0}")]
    Io(#[from] std::io::Error),
}

/// Bounds on what one user's records may hold.
#[derive(Clone, Copy, Debug)]
pub struct ImportLimits {
    /// The middle tier's `accounts.max_subscriptions_per_user`.
    pub max_subscriptions_per_user: usize,
    /// Records (subscriptions, marks, starred items) per user: import holds one user's in
    /// memory, so a hostile file cannot make it hold more.
    pub max_records_per_user: usize,
    /// Bytes of starred items' content per user (held until the user's records are all
    /// checked): each is at most a feed item's size, so this bounds their number times that.
    pub max_starred_bytes_per_user: usize,
}

impl ImportLimits {
    /// Marks are bounded by the items a feed's history keeps (retention's
    /// `max_items_per_feed`, and they leave with their items): per subscription, room for a mark
    /// and a starred item's content on each item it keeps.
    pub fn for_cap(max_subscriptions_per_user: usize, max_items_per_feed: usize) -> Self {
        let per_subscription = max_items_per_feed.saturating_mul(2).saturating_add(1);
        Self {
            max_subscriptions_per_user,
            max_records_per_user: max_subscriptions_per_user
                .saturating_mul(per_subscription)
                .max(10_000),
            // Thousands of typical articles, and a bound on memory whatever the file says.
            max_starred_bytes_per_user: 64 * 1024 * 1024,
        }
    }
}

/// Reads the file from `input` into `store` and returns what it loaded.
pub async fn import(
    store: &dyn Store,
    input: &mut dyn BufRead,
    limits: ImportLimits,
) -> Result<Summary, ImportError> {
    let mut lines = Lines {
        input,
        number: 0,
        buffer: Vec::new(),
    };
    let (first, header) = lines
        .next()?
        .ok_or_else(|| invalid(1, "the file is empty".to_owned()))?;
    let header: Header = serde_json::from_slice(header).map_err(|error| {
        invalid(
            first,
            format!("not an export header ({error}); expected {{\"format\":\"{FORMAT}\",...}}"),
        )
    })?;
    if header.format != FORMAT {
        return Err(invalid(
            first,
            format!("format '{}' is not '{FORMAT}'", header.format),
        ));
    }
    if !READS.contains(&header.version) {
        return Err(invalid(
            first,
            format!(
                "version {} is not supported (this build reads versions {READS:?})",
                header.version
            ),
        ));
    }
    let mut summary = Summary::default();
    let mut done: HashSet<UserId> = HashSet::new();
    let mut pending: Option<Pending> = None;
    let mut records = 0u64;
    loop {
        let Some((line, raw)) = lines.next()? else {
            return Err(invalid(
                lines.number,
                "the file ends without its end line: it was cut short (users before the last \
                 one listed were imported)"
                    .to_owned(),
            ));
        };
        let record: Record = serde_json::from_slice(raw)
            .map_err(|error| invalid(line, format!("not a valid record: {error}")))?;
        let Some(name) = record.user() else {
            let Record::End {
                users,
                records: expected,
            } = record
            else {
                unreachable!("only the end line has no user");
            };
            let held = summary.users + u64::from(pending.is_some());
            if users != held || expected != records {
                return Err(invalid(
                    line,
                    format!(
                        "the end line counts {users} users and {expected} records, the file \
                         held {held} and {records}"
                    ),
                ));
            }
            if let Some((after, _)) = lines.next()? {
                return Err(invalid(after, "data after the end line".to_owned()));
            }
            if let Some(user) = pending.take() {
                user.apply(store, limits, &mut summary).await?;
                summary.users += 1;
            }
            return Ok(summary);
        };
        let user = UserId::parse(name).map_err(|error| invalid(line, format!("user: {error}")))?;
        if pending.as_ref().is_none_or(|p| p.user != user) {
            if done.contains(&user) {
                return Err(invalid(
                    line,
                    format!(
                        "records of user '{name}' are not together (an export writes each \
                         user's records in one run)"
                    ),
                ));
            }
            if let Some(previous) = pending.take() {
                done.insert(previous.user.clone());
                previous.apply(store, limits, &mut summary).await?;
                summary.users += 1;
            }
            pending = Some(Pending::new(user));
        }
        records += 1;
        pending
            .as_mut()
            .unwrap_or_else(|| unreachable!("set above"))
            .add(line, record, limits)?;
    }
}

/// Lines read with a bound: a line over [`MAX_LINE_BYTES`] is refused before it is all read.
struct Lines<'a> {
    input: &'a mut dyn BufRead,
    number: u64,
    buffer: Vec<u8>,
}

impl Lines<'_> {
    /// The next line that is not blank, with its number.
    fn next(&mut self) -> Result<Option<(u64, &[u8])>, ImportError> {
        loop {
            self.buffer.clear();
            self.number += 1;
            let limit = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX) + 1;
            let read =
                std::io::Read::take(&mut *self.input, limit).read_until(b'\n', &mut self.buffer)?;
            if read == 0 {
                return Ok(None);
            }
            if self.buffer.last() == Some(&b'\n') {
                self.buffer.pop();
            }
            if self.buffer.len() > MAX_LINE_BYTES {
                return Err(invalid(
                    self.number,
                    format!("the line is longer than {MAX_LINE_BYTES} bytes"),
                ));
            }
            if !self.buffer.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some((self.number, &self.buffer)));
            }
        }
    }
}

/// A starred item's content as the store will serve it. The file is as untrusted as a feed:
/// the description goes through the feed sanitizer again (a no-op on what export wrote), the
/// author and enclosures through the feed reader's checks (dropping what a feed could not have
/// given), and a title, link or date a feed could not have given is refused.
fn starred_item(
    line: u64,
    feed: &FeedUrl,
    item: StarredContent,
) -> Result<StoredItem, ImportError> {
    domain::item_id(&item.id).map_err(|error| invalid(line, error.to_string()))?;
    if item.title.len() > MAX_TITLE_BYTES {
        return Err(invalid(
            line,
            format!("the title is longer than {MAX_TITLE_BYTES} bytes"),
        ));
    }
    if let Some(link) = &item.link
        && (link.len() > MAX_URL_LEN
            || !url::Url::parse(link).is_ok_and(|link| matches!(link.scheme(), "http" | "https")))
    {
        return Err(invalid(
            line,
            format!("the link is not an absolute http(s) URL of at most {MAX_URL_LEN} bytes"),
        ));
    }
    if let Some(published) = &item.published
        && DateTime::parse_from_rfc3339(published).is_err()
    {
        return Err(invalid(
            line,
            "'published' is not an RFC 3339 time".to_owned(),
        ));
    }
    Ok(StoredItem {
        item: Item {
            description: sanitize_html(&item.description, feed.as_url()),
            id: item.id,
            title: item.title,
            link: item.link,
            published: item.published,
            read: false,
            starred: false,
            author: item.author.as_deref().and_then(author_text),
            enclosures: clean_enclosures(item.enclosures, feed.as_url()),
        },
        seen: item.seen.unwrap_or_else(Utc::now),
    })
}

/// What a starred item holds in memory, near enough to bound it.
fn stored_size(item: &Item) -> usize {
    item.id.len()
        + item.title.len()
        + item.description.len()
        + item.link.as_ref().map_or(0, String::len)
        + item.published.as_ref().map_or(0, String::len)
}

/// An app password record's fields, checked as the API checks a new one.
fn app_password(
    line: u64,
    user: &UserId,
    id: String,
    name: String,
    secret_hash: String,
    fever_hash: String,
) -> Result<AppPasswordRecord, ImportError> {
    let bad = |error: domain::ParseError| invalid(line, error.to_string());
    domain::app_password_id(&id).map_err(bad)?;
    domain::app_password_hash(&secret_hash).map_err(bad)?;
    domain::app_password_hash(&fever_hash).map_err(bad)?;
    Ok(AppPasswordRecord {
        user: user.clone(),
        id,
        name: domain::app_password_name(&name).map_err(bad)?,
        secret_hash,
        fever_hash,
        created: DateTime::default(),
        last_used: None,
    })
}

/// Whether `held` is `imported` (a second import of one file), whatever its use since.
fn same_password(held: &AppPasswordRecord, imported: &AppPasswordRecord) -> bool {
    held.id == imported.id
        && held.secret_hash == imported.secret_hash
        && held.fever_hash == imported.fever_hash
}

fn invalid(line: u64, problem: String) -> ImportError {
    ImportError::Invalid { line, problem }
}

struct Subscription {
    line: u64,
    url: FeedUrl,
    category: Option<String>,
    title: Option<String>,
    /// "Read up to" and when it was set.
    watermark: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

struct Mark {
    line: u64,
    url: FeedUrl,
    item: String,
    read: Option<(bool, DateTime<Utc>)>,
    starred: bool,
}

/// One user's records, checked, waiting to be written.
struct Pending {
    user: UserId,
    records: usize,
    account: Option<(u64, AccountRecord)>,
    app_passwords: Vec<(u64, AppPasswordRecord)>,
    preferences: Option<(u64, middletier_api::Preferences)>,
    subscriptions: Vec<Subscription>,
    marks: Vec<Mark>,
    /// Starred items' content, for the feeds' histories.
    starred_items: Vec<(u64, FeedUrl, StoredItem)>,
    starred_bytes: usize,
}

impl Pending {
    fn new(user: UserId) -> Self {
        Self {
            user,
            records: 0,
            account: None,
            app_passwords: Vec::new(),
            preferences: None,
            subscriptions: Vec::new(),
            marks: Vec::new(),
            starred_items: Vec::new(),
            starred_bytes: 0,
        }
    }

    fn subscribed(&self, line: u64, feed: &str) -> Result<FeedUrl, ImportError> {
        let url = FeedUrl::parse(feed).map_err(|error| invalid(line, format!("feed: {error}")))?;
        if !self.subscriptions.iter().any(|s| s.url == url) {
            return Err(invalid(
                line,
                format!("'{feed}' is not among the user's subscriptions listed before it"),
            ));
        }
        Ok(url)
    }

    /// Checks one record and keeps it; nothing is written yet.
    fn add(&mut self, line: u64, record: Record, limits: ImportLimits) -> Result<(), ImportError> {
        self.records += 1;
        if self.records > limits.max_records_per_user {
            return Err(invalid(
                line,
                format!(
                    "user '{}' has more than {} records",
                    self.user.as_str(),
                    limits.max_records_per_user
                ),
            ));
        }
        match record {
            Record::Account {
                password_hash,
                created,
                ..
            } => {
                if self.account.is_some() {
                    return Err(invalid(line, "a second account for this user".to_owned()));
                }
                domain::password_hash(&password_hash)
                    .map_err(|error| invalid(line, error.to_string()))?;
                let account = AccountRecord {
                    user: self.user.clone(),
                    password_hash,
                    created,
                };
                self.account = Some((line, account));
            }
            Record::AppPassword {
                id,
                name,
                secret_hash,
                fever_hash,
                created,
                last_used,
                ..
            } => {
                let password = app_password(line, &self.user, id, name, secret_hash, fever_hash)?;
                if self.app_passwords.iter().any(|(_, p)| p.id == password.id) {
                    return Err(invalid(
                        line,
                        format!("app password '{}' twice", password.id),
                    ));
                }
                if self.app_passwords.len() >= MAX_APP_PASSWORDS {
                    return Err(invalid(
                        line,
                        format!(
                            "user '{}' has more than {MAX_APP_PASSWORDS} app passwords",
                            self.user.as_str()
                        ),
                    ));
                }
                let password = AppPasswordRecord {
                    created,
                    last_used,
                    ..password
                };
                self.app_passwords.push((line, password));
            }
            Record::Preferences { preferences, .. } => {
                if self.preferences.is_some() {
                    return Err(invalid(line, "a second preferences record".to_owned()));
                }
                preferences.check().map_err(|error| invalid(line, error))?;
                self.preferences = Some((line, preferences));
            }
            Record::Subscription {
                feed,
                category,
                title,
                read_up_to,
                ..
            } => {
                let url = FeedUrl::parse(&feed)
                    .map_err(|error| invalid(line, format!("feed: {error}")))?;
                if self.subscriptions.iter().any(|s| s.url == url) {
                    return Err(invalid(line, format!("'{feed}' is listed twice")));
                }
                if self.subscriptions.len() >= limits.max_subscriptions_per_user {
                    return Err(invalid(
                        line,
                        format!(
                            "user '{}' has more than {} subscriptions, the limit \
                             (RSS_ACCOUNTS__MAX_SUBSCRIPTIONS_PER_USER)",
                            self.user.as_str(),
                            limits.max_subscriptions_per_user
                        ),
                    ));
                }
                let category = domain::category(category.as_deref())
                    .map_err(|error| invalid(line, error.to_string()))?;
                let title = domain::feed_title(title.as_deref())
                    .map_err(|error| invalid(line, error.to_string()))?;
                let watermark = read_up_to.map(|w| (w.up_to, w.set_at));
                self.subscriptions.push(Subscription {
                    line,
                    url,
                    category,
                    title,
                    watermark,
                });
            }
            Record::Mark {
                feed,
                item,
                read,
                read_at,
                starred,
                ..
            } => {
                let url = self.subscribed(line, &feed)?;
                domain::item_id(&item).map_err(|error| invalid(line, error.to_string()))?;
                let read = match (read, read_at) {
                    (Some(read), Some(at)) => Some((read, at)),
                    (None, None) => None,
                    _ => {
                        return Err(invalid(line, "'read' and 'read_at' go together".to_owned()));
                    }
                };
                self.marks.push(Mark {
                    line,
                    url,
                    item,
                    read,
                    starred,
                });
            }
            Record::StarredItem { feed, item, .. } => {
                let url = self.subscribed(line, &feed)?;
                let stored = starred_item(line, &url, item)?;
                self.starred_bytes += stored_size(&stored.item);
                if self.starred_bytes > limits.max_starred_bytes_per_user {
                    return Err(invalid(
                        line,
                        format!(
                            "user '{}' has more than {} MiB of starred items' content",
                            self.user.as_str(),
                            limits.max_starred_bytes_per_user / (1024 * 1024)
                        ),
                    ));
                }
                self.starred_items.push((line, url, stored));
            }
            Record::End { .. } => unreachable!("the end line is handled by the caller"),
        }
        Ok(())
    }

    /// Writes the user's records through the store traits, in the file's order.
    async fn apply(
        self,
        store: &dyn Store,
        limits: ImportLimits,
        summary: &mut Summary,
    ) -> Result<(), ImportError> {
        let user = &self.user;
        let failed = |line: u64| move |source: StoreError| ImportError::Store { line, source };
        if let Some((line, account)) = &self.account {
            if !store.create_account(account).await.map_err(failed(*line))? {
                let existing = store.account(user).await.map_err(failed(*line))?;
                if existing.is_none_or(|e| e.password_hash != account.password_hash) {
                    return Err(invalid(
                        *line,
                        format!(
                            "the target store already has an account '{}' with another \
                             password; it was left as it is",
                            user.as_str()
                        ),
                    ));
                }
            }
            summary.accounts += 1;
        }
        for (line, password) in &self.app_passwords {
            match store
                .create_app_password(password, MAX_APP_PASSWORDS)
                .await
                .map_err(failed(*line))?
            {
                AppPasswordCreated::Created => {}
                // Imported before: the same password, with the same hashes.
                _ if store
                    .app_passwords(user)
                    .await
                    .map_err(failed(*line))?
                    .iter()
                    .any(|held| same_password(held, password)) => {}
                AppPasswordCreated::TooMany | AppPasswordCreated::Taken => {
                    return Err(invalid(
                        *line,
                        format!(
                            "the target store refused app password '{}' of '{}': the user has \
                             {MAX_APP_PASSWORDS} already, or another password has its id or \
                             hashes",
                            password.id,
                            user.as_str()
                        ),
                    ));
                }
            }
            summary.app_passwords += 1;
        }
        if let Some((line, preferences)) = &self.preferences {
            let json = serde_json::to_string(preferences)
                .map_err(|error| invalid(*line, error.to_string()))?;
            store
                .set_preferences(user, &json)
                .await
                .map_err(failed(*line))?;
        }
        for Subscription {
            line,
            url,
            category,
            title,
            watermark,
        } in &self.subscriptions
        {
            store
                .subscribe(user, url, limits.max_subscriptions_per_user)
                .await
                .map_err(failed(*line))?;
            store
                .set_category(user, url, category.as_deref())
                .await
                .map_err(failed(*line))?;
            store
                .set_title(user, url, title.as_deref())
                .await
                .map_err(failed(*line))?;
            if let Some((up_to, set_at)) = watermark {
                store
                    .mark_read_up_to(user, std::slice::from_ref(url), *up_to, *set_at)
                    .await
                    .map_err(failed(*line))?;
            }
            summary.subscriptions += 1;
        }
        for Mark {
            line,
            url,
            item,
            read,
            starred,
        } in &self.marks
        {
            let change = MarkChange {
                read: read.map(|(r, _)| r),
                starred: Some(*starred),
            };
            let at = read.map_or_else(Utc::now, |(_, at)| at);
            store
                .mark_item(user, url, item, change, at)
                .await
                .map_err(failed(*line))?;
            summary.marks += 1;
            summary.stars += u64::from(*starred);
        }
        // Held items are left as they are (a feed's own copy is newer than a file's), so a
        // second import changes nothing.
        for (line, url, stored) in &self.starred_items {
            store
                .insert_history(url, std::slice::from_ref(stored))
                .await
                .map_err(failed(*line))?;
        }
        Ok(())
    }
}
