//! Writing the file: one user at a time, read through the store traits, so memory holds one
//! user's reading state and one feed's history entries at a time, never the whole store.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use chrono::{DateTime, Utc};

use middletier_api::domain::FeedUrl;

use super::{FORMAT, Header, ReadUpTo, Record, StarredContent, Summary, VERSION};
use crate::store::{FeedReading, HistoryEntry, ItemMark, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes every user's data in `store` to `out` and returns what it wrote.
///
/// A "read up to" watermark compares items' first-seen times in the store that set it; the
/// new store fetches the feeds afresh and sees their current items for the first time after
/// the move, so the watermark alone would show read items as unread there. Items of the
/// current document the watermark covers are therefore also written as explicit read marks,
/// set when the watermark was, which keeps the reader's view the same on the new store. Older
/// items need none: the new store holds none of them but the starred ones, which arrive with
/// their first-seen time for the watermark to compare (and marking every item of a long
/// history would bloat the file past what import accepts per user).
pub async fn export(
    store: &dyn Store,
    out: &mut dyn Write,
    now: DateTime<Utc>,
) -> Result<Summary, ExportError> {
    let mut summary = Summary::default();
    let mut records = 0u64;
    let header = Header {
        format: FORMAT.to_owned(),
        version: VERSION,
        exported_at: now,
    };
    line(out, &header)?;
    for user in store.users().await? {
        summary.users += 1;
        let name = user.as_str();
        if let Some(account) = store.account(&user).await? {
            summary.accounts += 1;
            records += 1;
            line(
                out,
                &Record::Account {
                    user: name.to_owned(),
                    password_hash: account.password_hash,
                    created: account.created,
                },
            )?;
        }
        // Oldest first, so an import's "newest first" list comes out the same.
        for password in store.app_passwords(&user).await?.into_iter().rev() {
            summary.app_passwords += 1;
            records += 1;
            line(
                out,
                &Record::AppPassword {
                    user: name.to_owned(),
                    id: password.id,
                    name: password.name,
                    secret_hash: password.secret_hash,
                    fever_hash: password.fever_hash,
                    created: password.created,
                    last_used: password.last_used,
                },
            )?;
        }
        // What does not parse (written by a newer middle tier) is left out: the new store
        // then shows the defaults, as this one does.
        let preferences = store.preferences(&user).await?;
        if let Some(preferences) = preferences.and_then(|json| serde_json::from_str(&json).ok()) {
            records += 1;
            line(
                out,
                &Record::Preferences {
                    user: name.to_owned(),
                    preferences,
                },
            )?;
        }
        let reading = store.reading(&user).await?;
        let urls: Vec<_> = reading
            .subscriptions
            .iter()
            .map(|(u, _)| u.clone())
            .collect();
        for (url, category) in &reading.subscriptions {
            summary.subscriptions += 1;
            records += 1;
            let state = reading.feeds.get(url);
            line(
                out,
                &Record::Subscription {
                    user: name.to_owned(),
                    feed: url.as_str().to_owned(),
                    category: category.clone(),
                    title: reading.titles.get(url).cloned(),
                    read_up_to: state.and_then(|s| s.watermark).map(|w| ReadUpTo {
                        up_to: w.up_to,
                        set_at: w.set_at,
                    }),
                },
            )?;
        }
        for url in &urls {
            let Some(state) = reading.feeds.get(url) else {
                continue;
            };
            let starred = state.marks.values().any(|mark| mark.starred);
            // Only a watermark or a star needs the feed's history.
            let history = if state.watermark.is_some() || starred {
                store.history(url).await?
            } else {
                Vec::new()
            };
            let mut marks: Vec<(String, ItemMark)> = state
                .marks
                .iter()
                .map(|(id, mark)| (id.clone(), *mark))
                .collect();
            if let Some(watermark) = state.watermark {
                let current: HashSet<String> = store
                    .feed_states(std::slice::from_ref(url))
                    .await?
                    .into_iter()
                    .flatten()
                    .flat_map(|feed| feed.items.into_iter().map(|item| item.id))
                    .collect();
                for entry in history.iter().filter(|entry| current.contains(&entry.id)) {
                    let (read, _) = state.state_of(&entry.id, entry.seen);
                    let explicit = state.marks.get(&entry.id).and_then(|m| m.read);
                    if read && !matches!(explicit, Some((true, _))) {
                        let read = Some((true, watermark.set_at));
                        match marks.iter_mut().find(|(id, _)| *id == entry.id) {
                            Some((_, mark)) => mark.read = read,
                            None => marks.push((
                                entry.id.clone(),
                                ItemMark {
                                    read,
                                    starred: false,
                                },
                            )),
                        }
                    }
                }
            }
            let contents = starred_contents(store, url, state, &history).await?;
            marks.sort_by(|a, b| a.0.cmp(&b.0));
            for (id, ItemMark { read, starred }) in marks {
                if read.is_none() && !starred {
                    continue;
                }
                summary.marks += 1;
                records += 1;
                line(
                    out,
                    &Record::Mark {
                        user: name.to_owned(),
                        feed: url.as_str().to_owned(),
                        item: id.clone(),
                        read: read.map(|(r, _)| r),
                        read_at: read.map(|(_, at)| at),
                        starred,
                    },
                )?;
                if !starred {
                    continue;
                }
                summary.stars += 1;
                // A star on an item retention or a move has already removed keeps its mark;
                // there is no content left to carry for it.
                if let Some(item) = contents.get(&id) {
                    records += 1;
                    line(
                        out,
                        &Record::StarredItem {
                            user: name.to_owned(),
                            feed: url.as_str().to_owned(),
                            item: item.clone(),
                        },
                    )?;
                }
            }
        }
    }
    line(
        out,
        &Record::End {
            users: summary.users,
            records,
        },
    )?;
    out.flush()?;
    Ok(summary)
}

/// The content and first-seen time of the items of `url` the user starred, by id, read in one
/// call from the feed's history.
async fn starred_contents(
    store: &dyn Store,
    url: &FeedUrl,
    reading: &FeedReading,
    history: &[HistoryEntry],
) -> Result<HashMap<String, StarredContent>, StoreError> {
    let entries: Vec<HistoryEntry> = history
        .iter()
        .filter(|entry| reading.marks.get(&entry.id).is_some_and(|m| m.starred))
        .cloned()
        .collect();
    if entries.is_empty() {
        return Ok(HashMap::new());
    }
    let items = store.history_items(url, &entries).await?;
    Ok(entries
        .iter()
        .zip(items)
        .filter_map(|(entry, item)| {
            let item = item?;
            let content = StarredContent {
                id: item.id,
                title: item.title,
                link: item.link,
                description: item.description,
                published: item.published,
                seen: DateTime::from_timestamp_millis(entry.seen),
                author: item.author,
                enclosures: item.enclosures,
            };
            Some((entry.id.clone(), content))
        })
        .collect())
}

fn line(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), ExportError> {
    serde_json::to_writer(&mut *out, value).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}
