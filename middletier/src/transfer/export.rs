//! Writing the file: one user at a time, read through the store traits, so memory holds one
//! user's reading state and subscribed feeds, never the whole store.

use std::io::Write;

use chrono::{DateTime, Utc};

use super::{FORMAT, Header, ReadUpTo, Record, StarredContent, Summary, VERSION};
use crate::store::{ItemMark, Store, StoreError};

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
/// new store sees every item for the first time after the move, so the watermark alone would
/// show read items as unread there. Items the watermark covers in the feed cache are therefore
/// also written as explicit read marks, set when the watermark was, which keeps the reader's
/// view the same on the new store.
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
        let reading = store.reading(&user).await?;
        let urls: Vec<_> = reading
            .subscriptions
            .iter()
            .map(|(u, _)| u.clone())
            .collect();
        let cached = store.cached_feeds(&urls).await?;
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
                    read_up_to: state.and_then(|s| s.watermark).map(|w| ReadUpTo {
                        up_to: w.up_to,
                        set_at: w.set_at,
                    }),
                },
            )?;
        }
        for (url, feed) in urls.iter().zip(&cached) {
            let Some(state) = reading.feeds.get(url) else {
                continue;
            };
            let mut marks: Vec<(String, ItemMark)> = state
                .marks
                .iter()
                .map(|(id, mark)| (id.clone(), *mark))
                .collect();
            if let (Some(watermark), Some(feed)) = (state.watermark, feed) {
                for (index, item) in feed.state.items.iter().enumerate() {
                    let (read, _) = state.state_of(&item.id, feed.seen[index]);
                    let explicit = state.marks.get(&item.id).and_then(|m| m.read);
                    if read && !matches!(explicit, Some((true, _))) {
                        let read = Some((true, watermark.set_at));
                        match marks.iter_mut().find(|(id, _)| *id == item.id) {
                            Some((_, mark)) => mark.read = read,
                            None => marks.push((
                                item.id.clone(),
                                ItemMark {
                                    read,
                                    starred: false,
                                },
                            )),
                        }
                    }
                }
            }
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
                let content = feed.as_ref().and_then(|f| f.current_item(&id));
                // A star on an item its feed no longer holds keeps its mark; today's feed
                // cache has no content left to carry for it.
                if let Some(item) = content {
                    records += 1;
                    line(
                        out,
                        &Record::StarredItem {
                            user: name.to_owned(),
                            feed: url.as_str().to_owned(),
                            item: StarredContent {
                                id: item.id.clone(),
                                title: item.title.clone(),
                                link: item.link.clone(),
                                description: item.description.clone(),
                                published: item.published.clone(),
                            },
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

fn line(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), ExportError> {
    serde_json::to_writer(&mut *out, value).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}
