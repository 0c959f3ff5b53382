//! The river of news and reading state.
//!
//! `GET /` shows one page of items (newest first) from `GET /middletier/rss/user/{user}/items`:
//! `?feed=<url>` for one feed, `?category=<name>` for a category, `?filter=all|starred`
//! (default: unread), `?before=<cursor>` for older pages. The page renders only that page of
//! items plus the sidebar's per-feed counts, so its cost does not grow with the number of
//! items a user has. The middle tier keeps the last good page per query; when no middle tier
//! answers, the edge shows it with a banner saying how old it is.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;

use middletier_api::{Filter, ItemQuery, ItemStateChange, ListStyle, MarkRead, River, RiverQuery};
use platform::server::InternalError;

use super::icons::icon_href;
use super::items::{FeedLinks, ItemView, View, view_href};
use super::{
    Banner, MessagePage, SanitizedCache, WebState, back_to, not_saved, wants_json, web_link,
};
use crate::accounts::{CurrentUser, Viewer};
use crate::upstream::RiverOutcome;
use crate::upstream::UpstreamError;

#[derive(Debug, Default, Deserialize)]
pub(super) struct RiverParams {
    pub feed: Option<String>,
    pub category: Option<String>,
    pub filter: Option<String>,
    pub before: Option<String>,
}

impl RiverParams {
    /// The list these parameters name, or why they name none.
    pub fn view(self) -> Result<View, String> {
        Ok(View {
            filter: parse_filter(self.filter.as_deref())?,
            feed: given(self.feed),
            category: given(self.category),
            before: given(self.before),
        })
    }
}

/// An empty parameter (`?feed=`) means none.
fn given(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.trim().is_empty())
}

fn parse_filter(filter: Option<&str>) -> Result<Filter, String> {
    match filter {
        None | Some("" | "unread") => Ok(Filter::Unread),
        Some("all") => Ok(Filter::All),
        Some("starred") => Ok(Filter::Starred),
        Some(other) => Err(format!(
            "There is no filter {other:?}: use unread, all or starred."
        )),
    }
}

pub(super) async fn river(
    State(state): State<WebState>,
    user: CurrentUser,
    Query(params): Query<RiverParams>,
) -> Response {
    let view = match params.view() {
        Ok(view) => view,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    let query = river_query(&view, user.preferences.items_per_page);
    let mut retry_after = AppendHeaders(None);
    let (river, banner, status) = match state.upstream.river(&user.name, &query).await {
        RiverOutcome::Fresh(river) => (Some(river), None, StatusCode::OK),
        RiverOutcome::Stale { river, age, reason } => (
            Some(river),
            Some(Banner::stale(age, &reason)),
            StatusCode::OK,
        ),
        // The query itself was refused (a feed this user does not subscribe to, a bad cursor).
        RiverOutcome::Unavailable {
            reason: UpstreamError::BadRequest(message),
        } => (
            None,
            Some(Banner {
                kind: "error",
                message,
            }),
            StatusCode::NOT_FOUND,
        ),
        // Shed with no earlier page to show: 503, saying when to come back (see
        // docs/resilience.md, "Overload").
        RiverOutcome::Unavailable { reason } if reason.retry_after().is_some() => {
            retry_after = reason.retry_after_header();
            let banner = Banner::unavailable(&reason);
            (None, Some(banner), StatusCode::SERVICE_UNAVAILABLE)
        }
        RiverOutcome::Unavailable { reason } => {
            (None, Some(Banner::unavailable(&reason)), StatusCode::OK)
        }
    };
    let mut page = RiverPage::new(
        user.viewer(),
        &view,
        river.as_deref(),
        banner,
        &state.sanitized,
    );
    page.compact = user.preferences.list_style == ListStyle::Compact;
    page.new_tab = user.preferences.open_in_new_tab;
    (status, retry_after, page).into_response()
}

/// The middle tier's query for a page of `view`, of the user's chosen size.
pub(super) fn river_query(view: &View, per_page: u16) -> RiverQuery {
    RiverQuery {
        feed: view.feed.clone(),
        category: view.category.clone(),
        filter: view.filter,
        before: view.before.clone(),
        limit: Some(usize::from(per_page)),
    }
}

#[derive(Debug, Template)]
#[template(path = "river.html")]
struct RiverPage<'a> {
    user: Viewer,
    banner: Option<Banner>,
    sidebar: SidebarView,
    heading: String,
    /// Unread items in this view (feed, category or everything).
    unread: usize,
    /// Set in a feed's own view.
    feed: Option<FeedHeader>,
    filters: Vec<FilterLink>,
    mark_all: Option<MarkAll>,
    items: Vec<ItemView<'a>>,
    /// The compact list: titles and a line of text (the user's list style).
    compact: bool,
    /// Links to originals open in a new tab (the user's preference).
    new_tab: bool,
    /// This page's address, where the item forms send the browser back to.
    back: String,
    older: Option<String>,
    newest: Option<String>,
    empty: &'static str,
    /// No subscriptions at all: the page offers the subscribe form.
    show_subscribe: bool,
    typed_url: String,
    form_error: Option<String>,
}

#[derive(Debug)]
struct FeedHeader {
    url: String,
    error: Option<String>,
}

#[derive(Debug)]
struct FilterLink {
    label: &'static str,
    href: String,
    current: bool,
}

/// The "mark all as read" form of a view.
#[derive(Debug)]
struct MarkAll {
    feed: Option<String>,
    category: Option<String>,
    /// When the page was rendered: items that arrive later stay unread.
    up_to: String,
    label: String,
}

#[derive(Debug)]
struct SidebarView {
    unread: usize,
    /// Feeds whose last check failed: the sidebar points to the feed health page.
    failing: usize,
    all_current: bool,
    starred_current: bool,
    groups: Vec<SidebarGroup>,
}

#[derive(Debug)]
struct SidebarGroup {
    /// `None`: feeds without a category.
    name: Option<String>,
    href: String,
    unread: usize,
    current: bool,
    feeds: Vec<SidebarFeed>,
}

#[derive(Debug)]
struct SidebarFeed {
    title: String,
    /// `/icons/<hash>`; `None`: no icon is shown.
    icon: Option<String>,
    href: String,
    unread: usize,
    error: Option<String>,
    current: bool,
}

impl<'a> RiverPage<'a> {
    fn new(
        user: Viewer,
        view: &View,
        river: Option<&'a River>,
        banner: Option<Banner>,
        sanitized: &SanitizedCache,
    ) -> Self {
        let feed = view.feed.as_deref();
        let category = view.category.as_deref();
        let filter = view.filter;
        let summaries = river.map_or(&[][..], |river| &river.feeds[..]);
        let this_feed = feed.and_then(|url| summaries.iter().find(|summary| summary.url == url));
        let unread = match (feed, category) {
            (Some(_), _) => this_feed.map_or(0, |summary| summary.unread),
            (None, Some(name)) => summaries
                .iter()
                .filter(|summary| summary.category.as_deref() == Some(name))
                .map(|summary| summary.unread)
                .sum(),
            (None, None) => river.map_or(0, |river| river.unread),
        };
        let heading = match (feed, category, filter) {
            (Some(url), _, _) => this_feed.map_or_else(|| url.to_owned(), |s| s.title.clone()),
            (None, Some(name), _) => name.to_owned(),
            (None, None, Filter::Starred) => "Starred".to_owned(),
            (None, None, _) => "All feeds".to_owned(),
        };
        let filters = [
            ("Unread", Filter::Unread),
            ("All", Filter::All),
            ("Starred", Filter::Starred),
        ]
        .into_iter()
        .map(|(label, option)| FilterLink {
            label,
            href: view_href(feed, category, option, None),
            current: option == filter,
        })
        .collect();
        let entries = river.map_or(&[][..], |river| &river.items[..]);
        let mut links: HashMap<&str, FeedLinks> = HashMap::new();
        let icon_of = |url: &str| {
            summaries
                .iter()
                .find(|summary| summary.url == url)
                .and_then(|summary| summary.icon.as_deref())
        };
        let items: Vec<ItemView> = entries
            .iter()
            .map(|entry| {
                let links = links
                    .entry(&entry.feed_url)
                    .or_insert_with(|| FeedLinks::new(&entry.feed_url, icon_of(&entry.feed_url)));
                ItemView::new(entry, links, view, sanitized)
            })
            .collect();
        // Marking everything read from the starred view would reach items it does not show.
        let mark_all = (unread > 0 && filter != Filter::Starred && river.is_some()).then(|| {
            // The middle tier marks items it first saw at or before `up_to`: with the time the
            // page was rendered, everything shown (and what the view had then) is covered, and
            // items fetched while the reader reads stay unread. Publication dates can't serve:
            // feeds backdate, and undated items have none.
            let rendered = chrono::Utc::now();
            MarkAll {
                feed: feed.map(str::to_owned),
                category: category.map(str::to_owned),
                up_to: rendered.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                label: match (feed, category) {
                    (Some(_), _) => "Mark this feed as read".to_owned(),
                    (None, Some(name)) => format!("Mark all in {name} as read"),
                    (None, None) => "Mark all as read".to_owned(),
                },
            }
        });
        let back = view.href();
        let older = river
            .and_then(|river| river.next.as_deref())
            .map(|next| view_href(feed, category, filter, Some(next)));
        let newest = view
            .before
            .as_ref()
            .map(|_| view_href(feed, category, filter, None));
        let empty = match filter {
            Filter::Unread => "Nothing unread here. Choose “All” to see the items you have read.",
            Filter::All => "No items yet. New items appear as the feeds are checked.",
            Filter::Starred => "No starred items. Star an item to keep it here.",
        };
        Self {
            sidebar: sidebar(summaries, view),
            show_subscribe: river.is_some_and(|river| river.feeds.is_empty()) && banner.is_none(),
            user,
            banner,
            heading,
            unread,
            feed: this_feed.map(|summary| FeedHeader {
                url: summary.url.clone(),
                error: summary.error.clone(),
            }),
            filters,
            mark_all,
            items,
            compact: false,
            new_tab: false,
            back,
            older,
            newest,
            empty,
            typed_url: String::new(),
            form_error: None,
        }
    }
}

/// Rendered into a buffer sized for the whole page up front: a river page runs to a hundred
/// kilobytes or so, which askama's own estimate (the template's literal text) would reach only
/// after a dozen reallocations, each copying what was written so far.
impl IntoResponse for RiverPage<'_> {
    fn into_response(self) -> Response {
        let mut html = String::with_capacity(self.expected_len());
        match self.render_into(&mut html) {
            Ok(()) => Html(html).into_response(),
            Err(error) => {
                let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
                response
                    .extensions_mut()
                    .insert(InternalError(format!("rendering the river page: {error}")));
                response
            }
        }
    }
}

impl RiverPage<'_> {
    /// About what the page renders to: the markup around the items and the sidebar, then
    /// each item's description and the forms and links around it. A guess only: the buffer
    /// still grows if the page is longer.
    fn expected_len(&self) -> usize {
        const PAGE: usize = 8 * 1024;
        const PER_FEED: usize = 256;
        const PER_ITEM: usize = 2 * 1024;
        let feeds: usize = self.sidebar.groups.iter().map(|g| g.feeds.len()).sum();
        let descriptions: usize = self.items.iter().map(|i| i.description.len()).sum();
        PAGE + feeds * PER_FEED + self.items.len() * PER_ITEM + descriptions
    }
}

/// Feeds grouped by category (alphabetically), the uncategorised last, each in subscription
/// order.
fn sidebar(summaries: &[middletier_api::FeedSummary], query: &View) -> SidebarView {
    let mut groups: BTreeMap<(bool, String), SidebarGroup> = BTreeMap::new();
    for summary in summaries {
        let name = summary
            .category
            .clone()
            .filter(|name| !name.trim().is_empty());
        let key = (name.is_none(), name.clone().unwrap_or_default());
        let group = groups.entry(key).or_insert_with(|| SidebarGroup {
            href: name.as_deref().map_or_else(
                || "/".to_owned(),
                |name| view_href(None, Some(name), Filter::Unread, None),
            ),
            current: name.is_some() && query.feed.is_none() && query.category == name,
            name,
            unread: 0,
            feeds: Vec::new(),
        });
        group.unread += summary.unread;
        group.feeds.push(SidebarFeed {
            title: summary.title.clone(),
            icon: icon_href(summary.icon.as_deref()),
            href: view_href(Some(&summary.url), None, Filter::Unread, None),
            unread: summary.unread,
            error: summary.error.clone(),
            current: query.feed.as_deref() == Some(summary.url.as_str()),
        });
    }
    let everything = query.feed.is_none() && query.category.is_none();
    SidebarView {
        unread: summaries.iter().map(|summary| summary.unread).sum(),
        failing: summaries.iter().filter(|s| s.error.is_some()).count(),
        all_current: everything && query.filter != Filter::Starred,
        starred_current: everything && query.filter == Filter::Starred,
        groups: groups.into_values().collect(),
    }
}

/// `/items/open?feed=…&item=…`: which item, never where to go. Any other parameter (a `to`
/// from an older page or a crafted link) is ignored: the destination is the link the feed
/// holds for that item, looked up on the server.
#[derive(Debug, Deserialize)]
pub(super) struct OpenParams {
    #[serde(default)]
    feed: String,
    #[serde(default)]
    item: String,
}

/// Opening an item: marks it read, then sends the browser on to the article.
///
/// The article's address comes from the user's own feed through the middle tier, so the edge
/// can't be used as an open redirect, not even through the sign-in round trip
/// (`/signin?next=/items/open…`). Only requests from this site's own pages
/// (`Sec-Fetch-Site: same-origin`, or `none` for a typed or bookmarked address) mark the item
/// read and redirect: a link on another site must not change reading state, so it gets a page
/// with the article's link instead.
pub(super) async fn open_item(
    State(state): State<WebState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(params): Query<OpenParams>,
) -> Response {
    let query = ItemQuery {
        feed: params.feed,
        item: params.item,
    };
    let entry = match state.upstream.item(&user.name, &query).await {
        Ok(entry) => entry,
        Err(UpstreamError::BadRequest(reason)) => {
            let message = format!("There is no such item in your feeds ({reason}).");
            return home_link(user.viewer(), StatusCode::NOT_FOUND, message);
        }
        Err(error) => {
            let message = format!(
                "The item can't be opened right now: {error}. Please try again in a moment."
            );
            let page = home_link(user.viewer(), StatusCode::SERVICE_UNAVAILABLE, message);
            return (error.retry_after_header(), page).into_response();
        }
    };
    let Some(to) = web_link(entry.item.link).filter(|to| url::Url::parse(to).is_ok()) else {
        return (
            StatusCode::BAD_REQUEST,
            "An item can only be opened at an http or https address.",
        )
            .into_response();
    };
    if !from_this_site(&headers) {
        return MessagePage {
            user: user.viewer(),
            heading: "Open the article".to_owned(),
            message: "This link came from outside the reader, so the item was not marked as read."
                .to_owned(),
            link_href: to.clone(),
            link_text: format!("Continue to {to}"),
            external: true,
        }
        .into_response();
    }
    let change = ItemStateChange {
        feed: query.feed,
        item: query.item,
        read: Some(true),
        starred: None,
    };
    // Reading matters more than the bookkeeping: a failure only costs the unread mark.
    if let Err(error) = state.upstream.set_item_state(&user.name, &change).await {
        tracing::warn!(%error, "opening an item did not mark it read");
    }
    Redirect::to(&to).into_response()
}

/// The request came from this site's own pages (`Sec-Fetch-Site: same-origin`), or from a
/// typed or bookmarked address (`none`): only such a GET may change reading state, so a link
/// on another site can't mark items read.
pub(super) fn from_this_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|site| site.to_str().ok())
        .is_some_and(|site| site == "same-origin" || site == "none")
}

/// An item that can't be opened: why, and the way back to the river.
pub(super) fn home_link(
    user: crate::accounts::Viewer,
    status: StatusCode,
    message: String,
) -> Response {
    let page = MessagePage {
        user,
        heading: "The item can't be opened".to_owned(),
        message,
        link_href: "/".to_owned(),
        link_text: "Back to your feeds".to_owned(),
        external: false,
    };
    (status, page).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct StateForm {
    #[serde(default)]
    feed: String,
    #[serde(default)]
    item: String,
    read: Option<String>,
    starred: Option<String>,
    back: Option<String>,
}

fn parse_flag(name: &str, value: Option<&str>) -> Result<Option<bool>, String> {
    match value {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(format!("{name} must be true or false, not {other:?}.")),
    }
}

/// Read/unread and star/unstar: a form post that redirects back, or (from reader.js, asking
/// for JSON) the new state.
pub(super) async fn set_item_state(
    State(state): State<WebState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<StateForm>,
) -> Response {
    let json = wants_json(&headers);
    let back = back_to(form.back.as_deref());
    let change = parse_flag("read", form.read.as_deref()).and_then(|read| {
        let starred = parse_flag("starred", form.starred.as_deref())?;
        if read.is_none() && starred.is_none() {
            return Err("Say what to change: read or starred.".to_owned());
        }
        Ok(ItemStateChange {
            feed: form.feed,
            item: form.item,
            read,
            starred,
        })
    });
    let result = match change {
        Ok(change) => state
            .upstream
            .set_item_state(&user.name, &change)
            .await
            .map_err(|error| (describe(&error), error.retry_after_header())),
        Err(message) => Err(((StatusCode::BAD_REQUEST, message), AppendHeaders(None))),
    };
    match (result, json) {
        (Ok(change), true) => Json(change).into_response(),
        (Ok(_), false) => Redirect::to(back.as_str()).into_response(),
        (Err(((status, message), retry_after)), true) => {
            (status, retry_after, Json(json!({ "error": message }))).into_response()
        }
        (Err(((status, message), retry_after)), false) => {
            let page = not_saved(user.viewer(), status, message, back);
            (retry_after, page).into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct MarkAllForm {
    feed: Option<String>,
    category: Option<String>,
    up_to: Option<String>,
    back: Option<String>,
}

/// "Mark all as read" for a feed, a category or everything, up to the newest item shown.
pub(super) async fn mark_all_read(
    State(state): State<WebState>,
    user: CurrentUser,
    Form(form): Form<MarkAllForm>,
) -> Response {
    let back = back_to(form.back.as_deref());
    let up_to = given(form.up_to);
    if let Some(raw) = &up_to
        && chrono::DateTime::parse_from_rfc3339(raw).is_err()
    {
        let message = format!("{raw:?} is not a time (RFC 3339).");
        return not_saved(user.viewer(), StatusCode::BAD_REQUEST, message, back);
    }
    let mark = MarkRead {
        feed: given(form.feed),
        category: given(form.category),
        up_to,
    };
    match state.upstream.mark_read(&user.name, &mark).await {
        Ok(_) => Redirect::to(back.as_str()).into_response(),
        Err(error) => {
            let (status, message) = describe(&error);
            let page = not_saved(user.viewer(), status, message, back);
            (error.retry_after_header(), page).into_response()
        }
    }
}

/// A failed write's status and the sentence a reader sees.
fn describe(error: &UpstreamError) -> (StatusCode, String) {
    match error {
        UpstreamError::BadRequest(message) => (StatusCode::BAD_REQUEST, message.clone()),
        other => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Your change was not saved: {other}. Please try again in a moment."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_addresses_keep_the_view_and_leave_out_the_default_filter() {
        assert_eq!(view_href(None, None, Filter::Unread, None), "/");
        assert_eq!(
            view_href(
                Some("http://a.test/f?x=1&y"),
                None,
                Filter::All,
                Some("c 1")
            ),
            "/?feed=http%3A%2F%2Fa.test%2Ff%3Fx%3D1%26y&filter=all&before=c+1"
        );
        assert_eq!(
            view_href(None, Some("Dev & Ops"), Filter::Starred, None),
            "/?category=Dev+%26+Ops&filter=starred"
        );
    }

    #[test]
    fn an_unknown_filter_is_refused_with_the_choices() {
        assert_eq!(parse_filter(Some("starred")), Ok(Filter::Starred));
        assert_eq!(parse_filter(None), Ok(Filter::Unread));
        let error = parse_filter(Some("everything")).expect_err("not a filter");
        assert!(error.contains("unread, all or starred"), "{error}");
    }
}
