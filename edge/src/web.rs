//! The HTML UI: a feed reader that works without JavaScript.
//!
//! Forms POST and redirect (POST/redirect/GET); a failed write shows the reason and keeps
//! what the user typed. `/static/reader.js` only enhances: keyboard shortcuts, and the read
//! and star forms sent with fetch. Every handler that touches a user's data takes a
//! [`CurrentUser`](crate::accounts::CurrentUser): whose data it is never comes from the URL or
//! a form field. The handlers' [`WebState`] carries the accounts that extractor reads; a form's
//! `back` address becomes a [`LocalPath`] before anything redirects to it.
//!
//! # Layout
//! - [`reader`]: the river of news at `/` (all feeds, a category or one feed; unread, all or
//!   starred; one page at a time with the middle tier's cursor), the sidebar of feeds with
//!   unread counts, opening an item (marks it read), read/unread and star forms, and "mark
//!   all as read".
//! - [`reading`]: the reading view of one item at `/items/{number}`, with the previous and
//!   next items of the list it was opened from.
//! - [`items`]: one item as those pages show it (media players, the compact list's line of
//!   text); [`list_style`]: the choice of full items or the compact list.
//! - [`search`]: `/search`, the history of the reader's feeds searched, matches highlighted,
//!   a page at a time; the search box in every page's header leads there.
//! - [`manage`]: the "Manage feeds" page at `/subscriptions`: subscribe (a feed URL, or a web
//!   page whose feeds are discovered, with a page to choose when it has several), each feed's
//!   status, category and unsubscribe button, and OPML export and import.
//! - [`health`]: the "Feed health" page at `/subscriptions/health`: the feeds whose last check
//!   failed, why in plain words, what the fetcher saw, and "Check now" for each.
//! - [`app_passwords`]: the "Apps" page at `/settings/app-passwords`: app passwords for the
//!   sync APIs (created and shown once, listed with their last use, revoked), and the server
//!   addresses apps ask for.
//! - `icons`: `/icons/{hash}`, feed icons served as images only, cached for a year.
//! - here: the router and its state, the static assets, and what both pages share (banners,
//!   the message page, description sanitizing and its [`SanitizedCache`]).

mod app_passwords;
mod health;
mod icons;
mod items;
mod list_style;
mod manage;
mod reader;
mod reading;
mod search;

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use middletier_api::limits::MAX_OPML_BYTES;

use crate::accounts::{Accounts, Viewer};
use crate::cache_budget::Budget;
use crate::local_path::LocalPath;
use crate::upstream::Upstream;

const STYLE_CSS: &str = include_str!("../assets/style.css");
const READER_JS: &str = include_str!("../assets/reader.js");

#[derive(Clone, Debug)]
pub struct WebState {
    pub upstream: Arc<Upstream>,
    /// Whose data a request uses: the pages' [`CurrentUser`](crate::accounts::CurrentUser)
    /// takes it from here (single-user mode included).
    pub accounts: Arc<Accounts>,
    pub sanitized: Arc<SanitizedCache>,
}

impl WebState {
    /// `sanitized_bytes`: the sanitized descriptions' byte budget (`[ui] max_sanitized_bytes`).
    pub fn new(upstream: Arc<Upstream>, accounts: Arc<Accounts>, sanitized_bytes: u64) -> Self {
        Self {
            upstream,
            accounts,
            sanitized: Arc::new(SanitizedCache::new(sanitized_bytes)),
        }
    }
}

impl FromRef<WebState> for Arc<Accounts> {
    fn from_ref(state: &WebState) -> Self {
        state.accounts.clone()
    }
}

pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(reader::river))
        .route("/search", get(search::search))
        .route("/items/open", get(reader::open_item))
        .route("/items/{number}", get(reading::read_item))
        .route("/settings/view", post(list_style::set_list_style))
        .route("/items/state", post(reader::set_item_state))
        .route("/items/read", post(reader::mark_all_read))
        .route("/subscriptions", get(manage::page).post(manage::subscribe))
        .route("/subscriptions/delete", post(manage::unsubscribe))
        .route("/subscriptions/category", post(manage::set_category))
        .route(health::PAGE, get(health::page))
        .route(health::CHECK, post(health::check_now))
        .route("/subscriptions.opml", get(manage::export_opml))
        .route(
            "/subscriptions/import",
            // The OPML cap plus room for the multipart envelope.
            post(manage::import_opml).layer(DefaultBodyLimit::max(MAX_OPML_BYTES + 64 * 1024)),
        )
        .route(
            app_passwords::PAGE,
            get(app_passwords::page).post(app_passwords::create),
        )
        .route(app_passwords::REVOKE, post(app_passwords::revoke))
        .route("/icons/{hash}", get(icons::icon))
        .route("/static/style.css", get(style))
        .route("/static/reader.js", get(script))
        .with_state(state)
}

/// The stylesheet alone, for the pages served elsewhere than [`router`] (the dashboard, on the
/// admin port).
pub fn stylesheet() -> Router {
    Router::new().route("/static/style.css", get(style))
}

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE_CSS,
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        READER_JS,
    )
}

/// A message across the top of a page.
#[derive(Debug)]
struct Banner {
    /// `stale`, `error` or `notice`: picks the style and the ARIA role.
    kind: &'static str,
    message: String,
}

impl Banner {
    fn stale(age: Duration, reason: &impl std::fmt::Display) -> Self {
        Self {
            kind: "stale",
            message: format!("Showing your feeds as they were {}: {reason}.", ago(age)),
        }
    }

    fn unavailable(reason: &impl std::fmt::Display) -> Self {
        Self {
            kind: "error",
            message: format!(
                "Your feeds can't be shown right now: {reason}. Please try again in a moment."
            ),
        }
    }
}

/// One message and one link: a change that was not saved, or the step before an article.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "message.html")]
struct MessagePage {
    user: Viewer,
    heading: String,
    message: String,
    link_href: String,
    link_text: String,
    /// The link leaves this site (no referrer, no opener).
    external: bool,
}

/// A change to reading state failed: the reason and a way back to the page.
fn not_saved(user: Viewer, status: StatusCode, reason: String, back: LocalPath) -> Response {
    let page = MessagePage {
        user,
        heading: "Your change was not saved".to_owned(),
        message: reason,
        link_href: back.into_string(),
        link_text: "Back to the page you were reading".to_owned(),
        external: false,
    };
    (status, page).into_response()
}

/// Where a form sends the browser back to: its `back` field if that is a path on this site,
/// else the home page.
fn back_to(back: Option<&str>) -> LocalPath {
    back.and_then(LocalPath::parse).unwrap_or_default()
}

/// The caller is reader.js (it asks for JSON), not a plain form post.
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"))
}

/// A query-string value, percent-encoded.
fn encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len() + value.len() / 4);
    encoded.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
    encoded
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// "just now", "3 minutes ago", "2 hours ago", "5 days ago".
fn ago(elapsed: Duration) -> String {
    match elapsed.as_secs() {
        0..=59 => "just now".to_owned(),
        secs => format!("{} ago", span(secs)),
    }
}

/// "in a moment", "in 25 minutes", "in 3 hours".
fn within(wait: Duration) -> String {
    match wait.as_secs() {
        0..=59 => "in a moment".to_owned(),
        secs => format!("in {}", span(secs)),
    }
}

fn span(secs: u64) -> String {
    let (n, unit) = match secs {
        0..=3599 => (secs / 60, "minute"),
        3600..=86_399 => (secs / 3600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[derive(Debug)]
struct Published {
    machine: String,
    human: String,
}

impl Published {
    fn parse(raw: String) -> Option<Self> {
        use chrono::{Datelike, Timelike};
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let at = chrono::DateTime::parse_from_rfc3339(&raw)
            .ok()?
            .with_timezone(&chrono::Utc);
        // `format("%e %b %Y, %H:%M UTC")` spelled out: a page shows fifty of these, and
        // chrono parses the pattern again on every call.
        let human = format!(
            "{:>2} {} {:04}, {:02}:{:02} UTC",
            at.day(),
            MONTHS[at.month0() as usize],
            at.year(),
            at.hour(),
            at.minute()
        );
        Some(Published {
            human,
            machine: raw,
        })
    }
}

/// Sanitized descriptions, by a keyed hash of their HTML and base address.
///
/// Sanitizing (ammonia parses every description) costs far more than the rest of a page, and
/// an item's HTML rarely changes, so each description is cleaned once while it stays here
/// rather than on every page view. Only sanitized output is stored, and the hash is keyed per
/// process, so a publisher can't aim a collision at another item's entry; at worst one would
/// show another feed's (sanitized) text.
///
/// At most [`MAX_SANITIZED`] are kept, and at most the byte budget given (weighed by their
/// length: a publisher decides how long a description is); when full, the descriptions shown
/// least leave first (S3-FIFO, in constant time), so the pages readers keep opening stay cheap.
#[derive(Debug)]
pub struct SanitizedCache {
    entries: quick_cache::sync::Cache<u64, Arc<str>, ByLength>,
    keys: std::hash::RandomState,
}

/// Enough for the pages of many readers.
const MAX_SANITIZED: usize = 20_000;

/// Weighs a sanitized description by its length (plus its key and the `Arc`'s counts).
#[derive(Clone, Debug)]
struct ByLength(Budget);

impl quick_cache::Weighter<u64, Arc<str>> for ByLength {
    fn weight(&self, _: &u64, clean: &Arc<str>) -> u64 {
        self.0.weight(clean.len() + 32)
    }
}

impl SanitizedCache {
    pub fn new(max_bytes: u64) -> Self {
        let budget = Budget {
            bytes: max_bytes,
            entries: MAX_SANITIZED,
        };
        Self {
            entries: budget.cache(ByLength(budget)),
            keys: std::hash::RandomState::new(),
        }
    }

    /// `html` sanitized with relative links resolved against `feed`, the feed's address
    /// (parsed only when the description is not here yet).
    fn get(&self, html: &str, feed: &str) -> Arc<str> {
        use std::hash::BuildHasher;
        let key = self.keys.hash_one((html, feed));
        if let Some(clean) = self.entries.get(&key) {
            return clean;
        }
        // Two pages showing a new description at once may both clean it: cheaper than making
        // one wait for the other, and they store the same text.
        let base = url::Url::parse(feed).ok();
        let clean: Arc<str> = sanitize(html, base.as_ref()).into();
        self.entries.insert(key, clean.clone());
        clean
    }
}

/// Feed HTML, sanitized here again: the edge does not rely on upstream HTML being safe.
/// Relative links resolve against the feed's address.
fn sanitize(html: &str, base: Option<&url::Url>) -> String {
    let mut sanitizer = ammonia::Builder::default();
    sanitizer.link_rel(Some("noopener noreferrer nofollow"));
    if let Some(base) = base {
        sanitizer.url_relative(ammonia::UrlRelative::RewriteWithBase(base.clone()));
    }
    sanitizer.clean(html).to_string()
}

/// Only absolute http(s) links reach a page (no `javascript:`, `data:`...).
fn web_link(link: Option<String>) -> Option<String> {
    link.filter(|link| link.starts_with("https://") || link.starts_with("http://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_sanitized_again_at_the_edge() {
        let clean = sanitize(
            "<img src=x onerror=alert(1)><script>alert(2)</script><a href=\"/a\">ok</a>",
            url::Url::parse("http://example.com/feed").ok().as_ref(),
        );
        assert!(!clean.contains("onerror"));
        assert!(!clean.contains("script"));
        assert!(clean.contains(r#"href="http://example.com/a""#), "{clean}");
        assert_eq!(web_link(Some("javascript:alert(1)".into())), None);
        assert_eq!(
            Published::parse("2025-06-10T04:00:00+00:00".into()).map(|p| p.human),
            Some("10 Jun 2025, 04:00 UTC".to_owned())
        );
    }

    #[test]
    fn publication_dates_read_as_chrono_would_write_them() {
        for raw in [
            "2025-06-10T04:00:00+00:00",
            "2025-01-05T00:59:59+01:00",
            "1999-12-31T23:30:00-05:30",
            "0987-02-28T12:00:00Z",
        ] {
            let expected = chrono::DateTime::parse_from_rfc3339(raw)
                .expect("valid")
                .with_timezone(&chrono::Utc)
                .format("%e %b %Y, %H:%M UTC")
                .to_string();
            let published = Published::parse(raw.to_owned()).expect("parsed");
            assert_eq!(published.human, expected, "{raw}");
            assert_eq!(published.machine, raw);
        }
        for bad in ["", "yesterday", "2025-13-01T00:00:00Z", "<script>"] {
            assert!(Published::parse(bad.to_owned()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn each_description_is_sanitized_once_per_base_address() {
        let cache = SanitizedCache::new(1024 * 1024);
        let html = r#"<a href="/a" onclick="x()">a</a>"#;
        let (one, two) = ("http://one.example/feed", "http://two.example/feed");
        let first = cache.get(html, one);
        assert!(
            Arc::ptr_eq(&first, &cache.get(html, one)),
            "served from the cache"
        );
        assert!(!first.contains("onclick"));
        assert!(first.contains("http://one.example/a"), "{first}");
        let other = cache.get(html, two);
        assert!(other.contains("http://two.example/a"), "{other}");
    }

    #[test]
    fn sanitized_descriptions_stay_within_their_bytes() {
        use std::hash::BuildHasher;
        let budget = 1024 * 1024;
        let cache = SanitizedCache::new(budget);
        let long = "<p>".to_owned() + &"x".repeat(64 * 1024) + "</p>";
        for n in 0..100 {
            cache.get(&format!("{long}{n}"), "");
        }
        assert!(cache.entries.weight() <= budget);
        let held: usize = (0..100)
            .map(|n| cache.keys.hash_one((format!("{long}{n}").as_str(), "")))
            .filter_map(|key| cache.entries.peek(&key))
            .map(|clean| clean.len())
            .sum();
        assert!(held as u64 <= budget, "{held} bytes held");
        assert!(held > 0, "long descriptions are still kept");
    }

    /// Which paths are local is [`LocalPath`]'s table; a form without one goes home.
    #[test]
    fn forms_only_send_the_browser_back_to_this_site() {
        assert_eq!(
            back_to(Some("/?feed=x&filter=all")).as_str(),
            "/?feed=x&filter=all"
        );
        assert_eq!(back_to(Some("//evil.example/")).as_str(), "/");
        assert_eq!(back_to(None).as_str(), "/");
    }
}
