//! Feed icons: found by the refresher after it parses a feed, never on a page view.
//!
//! Where an icon comes from, in order: the feed's own image (Atom `<icon>`/`<logo>`, RSS
//! `<image>`, JSON Feed `favicon`/`icon`); else the icons the site's home page (the feed's
//! `<link>`) links in its head (`links`); else `/favicon.ico` on the site's origin. The first
//! that is an accepted image wins.
//!
//! Everything is fetched through the feed [`Fetcher`]: the same SSRF guard, redirect checks,
//! per-host politeness and timeouts as feeds, with smaller caps: an icon is refused past
//! [`MAX_ICON_BYTES`], and only the first [`MAX_PAGE_BYTES`] of a home page are read. The
//! bytes' type is sniffed (`sniff`), never taken from the publisher's headers, and only PNG,
//! GIF, JPEG, ICO and WebP are kept (SVG is refused; `sniff` says why). The whole look is
//! bounded by the fetch timeout, so a slow site cannot hold a refresh much longer than a slow
//! feed would.
//!
//! A feed is looked at when it is [`due`]: a week after its icon was last settled (kept in its
//! state), so a feed that changes its image URL or site link on every refresh still costs at
//! most one look a week. What a look found is kept per source (the image URL, or the site's origin) with when it
//! looked ([`IconSource`]), found or not, and the source is not looked at again for
//! [`RECHECK_AFTER`]: every feed of a site shares one look, and a site without an icon is not
//! asked on every refresh. An icon's bytes are stored once, by SHA-256; the feed's state names
//! that hash, which page views pass to the edge.
//!
//! # Layout
//! - this module: [`Icons`], the look and its record.
//! - `sniff`: the image type of a body, from its magic number.
//! - `links`: the icon links of a home page.

mod links;
mod sniff;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use middletier_api::domain::FeedUrl;
pub use middletier_api::limits::MAX_ICON_BYTES;

use crate::feed::ParsedFeed;
use crate::fetch::{BodyLimit, FetchError, Fetcher, Validators};
use crate::store::{IconSource, Store, StoreError, StoredIcon};

pub use links::{MAX_ICON_LINKS, icon_links};
pub use sniff::image_type;

/// How long what a look found (or did not find) is kept before the source is looked at again.
pub const RECHECK_AFTER: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How much of a home page is read for its icon links: they are in the head, which real
/// pages finish within a few kilobytes.
pub const MAX_PAGE_BYTES: u64 = 256 * 1024;

/// How long a subscribe waits for the new feed's icon: the reader is waiting for the answer
/// (the edge gives up on a subscribe after 5 s), so a slow site costs the feed its icon until
/// a later refresh, not the subscription.
pub const SUBSCRIBE_BUDGET: Duration = Duration::from_secs(2);

/// Who is waiting for a look, which decides how long it may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// The scheduled refresh: the look may take the fetch timeout, and a timeout is remembered
    /// like any other failure.
    Refresh,
    /// A reader subscribing: at most [`SUBSCRIBE_BUDGET`]; a look cut short records nothing,
    /// so the next refresh that parses the feed looks again.
    Subscribe,
}

/// What [`Icons::icon_for`] settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The feed's icon hash; `None`: it has none.
    Icon(Option<String>),
    /// Nothing: a subscribe's look was cut short; the next refresh looks again.
    Unsettled,
}

/// Whether a feed whose icon was last settled at `checked` is due for another look at `now`.
pub fn due(checked: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    checked.is_none_or(|at| now.signed_duration_since(at).to_std().ok() >= Some(RECHECK_AFTER))
}

/// Finds, stores and names feeds' icons.
#[derive(Clone, Debug)]
pub struct Icons {
    store: Arc<dyn Store>,
    fetcher: Fetcher,
}

impl Icons {
    pub fn new(store: Arc<dyn Store>, fetcher: Fetcher) -> Self {
        Self { store, fetcher }
    }

    /// The hash of the icon of the feed at `feed_url`, just parsed as `parsed`: what its source
    /// was found to have within [`RECHECK_AFTER`] of `now`, else what a look finds now (and
    /// records). The refresher asks only when the feed is [`due`].
    pub async fn icon_for(
        &self,
        feed_url: &FeedUrl,
        parsed: &ParsedFeed,
        now: DateTime<Utc>,
        waiting: Waiting,
    ) -> Result<Settled, StoreError> {
        let image = parsed
            .image
            .as_deref()
            .and_then(|image| FeedUrl::parse(image).ok());
        let site = parsed
            .site_url
            .as_deref()
            .and_then(|site| FeedUrl::parse(site).ok())
            .unwrap_or_else(|| feed_url.clone());
        let source = match &image {
            Some(image) => image.to_string(),
            None => site.as_url().origin().ascii_serialization(),
        };
        if let Some(known) = self.store.icon_source(&source).await?
            && now.signed_duration_since(known.checked).to_std().ok() < Some(RECHECK_AFTER)
        {
            return Ok(Settled::Icon(known.hash));
        }
        let timeout = self.fetcher.settings().timeout;
        let budget = match waiting {
            Waiting::Refresh => timeout,
            Waiting::Subscribe => SUBSCRIBE_BUDGET.min(timeout),
        };
        let looked = match tokio::time::timeout(budget, self.look(image.as_ref(), &site)).await {
            Ok(looked) => looked,
            Err(_) if waiting == Waiting::Subscribe => return Ok(Settled::Unsettled),
            Err(_) => Err("the site did not answer in time".to_owned()),
        };
        let (record, icon) = match looked {
            Ok(icon) => {
                let hash = sha256_hex(&icon.bytes);
                let record = IconSource {
                    source,
                    hash: Some(hash),
                    checked: now,
                    error: None,
                };
                (record, Some(icon))
            }
            Err(error) => {
                tracing::debug!(%source, %error, "no icon found");
                let record = IconSource {
                    source,
                    hash: None,
                    checked: now,
                    error: Some(error),
                };
                (record, None)
            }
        };
        self.store.save_icon_source(&record, icon.as_ref()).await?;
        Ok(Settled::Icon(record.hash))
    }

    /// The first accepted icon among the candidates, or why there is none (the last reason).
    async fn look(&self, image: Option<&FeedUrl>, site: &FeedUrl) -> Result<StoredIcon, String> {
        let mut why = String::from("no icon found");
        if let Some(image) = image {
            match self.fetch_icon(image).await {
                Ok(icon) => return Ok(icon),
                Err(error) => why = error,
            }
        }
        for linked in self.linked_icons(site).await {
            match self.fetch_icon(&linked).await {
                Ok(icon) => return Ok(icon),
                Err(error) => why = error,
            }
        }
        let favicon = site
            .as_url()
            .join("/favicon.ico")
            .ok()
            .and_then(|url| FeedUrl::parse(url.as_str()).ok());
        if let Some(favicon) = favicon {
            match self.fetch_icon(&favicon).await {
                Ok(icon) => return Ok(icon),
                Err(error) => why = error,
            }
        }
        Err(why)
    }

    /// The icons the site's home page links (nothing when it cannot be read).
    async fn linked_icons(&self, site: &FeedUrl) -> Vec<FeedUrl> {
        let fetched = self
            .fetcher
            .fetch_limited(
                site,
                &Validators::default(),
                BodyLimit::Prefix(MAX_PAGE_BYTES),
            )
            .await;
        match fetched {
            Ok(page) => icon_links(&String::from_utf8_lossy(&page.body), &page.final_url),
            Err(error) => {
                tracing::debug!(%site, %error, "cannot read the site for its icon links");
                Vec::new()
            }
        }
    }

    /// `url`'s body if it is an accepted image within [`MAX_ICON_BYTES`].
    async fn fetch_icon(&self, url: &FeedUrl) -> Result<StoredIcon, String> {
        let limit = u64::try_from(MAX_ICON_BYTES).unwrap_or(u64::MAX);
        let fetched = self
            .fetcher
            .fetch_limited(url, &Validators::default(), BodyLimit::Refuse(limit))
            .await
            .map_err(|error| match error {
                FetchError::TooLarge(_) => {
                    format!(
                        "{url}: larger than the {} KiB icon limit",
                        MAX_ICON_BYTES / 1024
                    )
                }
                other => format!("{url}: {other}"),
            })?;
        let content_type = image_type(&fetched.body).ok_or_else(|| {
            format!("{url}: not a PNG, GIF, JPEG, ICO or WebP image (SVG is not accepted)")
        })?;
        Ok(StoredIcon {
            content_type: content_type.to_owned(),
            bytes: fetched.body,
        })
    }
}

/// SHA-256 of `bytes` in lower-case hex: an icon's name.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
