//! Search: `GET /search?q=…` over the whole history of the reader's feeds, through the middle
//! tier's `GET /middletier/rss/user/{user}/search` in its own command (`RSSSearch`).
//!
//! Matched words arrive as plain-text segments and the template wraps the matched ones in
//! `<mark>`, escaping every segment, so highlighting never puts a feed's text into the page as
//! markup. A failed search says so ("search is unavailable right now"): there is no stale
//! answer, since old results would pretend to be this query's. The filters (all, unread,
//! starred; newest or relevance) and the scope (a feed or a category) stay in every link, the
//! next page's included.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{AppendHeaders, IntoResponse, Response};
use serde::Deserialize;

use middletier_api::limits::MAX_QUERY_CHARS;
use middletier_api::{Filter, SearchOrder, SearchQuery, SearchResult, SearchResults, Segment};

use super::{Banner, Published, WebState, encode, web_link};
use crate::accounts::{CurrentUser, Viewer};
use crate::upstream::UpstreamError;

/// Results on one page: each carries an excerpt, so fewer than the river's items.
const PAGE_SIZE: usize = 20;

#[derive(Debug, Default, Deserialize)]
pub(super) struct SearchParams {
    q: Option<String>,
    feed: Option<String>,
    category: Option<String>,
    filter: Option<String>,
    order: Option<String>,
    cursor: Option<String>,
}

/// What the page was asked, parsed: every link on it is built from this.
#[derive(Debug, Default)]
struct View {
    q: String,
    feed: Option<String>,
    category: Option<String>,
    filter: Option<Filter>,
    order: SearchOrder,
}

impl View {
    fn parse(params: SearchParams) -> Result<(Self, Option<String>), String> {
        let given = |value: Option<String>| value.filter(|value| !value.trim().is_empty());
        let filter = match params.filter.as_deref() {
            None | Some("" | "all") => None,
            Some("unread") => Some(Filter::Unread),
            Some("starred") => Some(Filter::Starred),
            Some(other) => {
                return Err(format!(
                    "There is no filter {other:?}: use all, unread or starred."
                ));
            }
        };
        let order = match params.order.as_deref() {
            None | Some("" | "newest") => SearchOrder::Newest,
            Some("relevance") => SearchOrder::Relevance,
            Some(other) => {
                return Err(format!(
                    "There is no order {other:?}: use newest or relevance."
                ));
            }
        };
        let q = params.q.unwrap_or_default().trim().to_owned();
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(format!(
                "A search can be at most {MAX_QUERY_CHARS} characters long."
            ));
        }
        let view = Self {
            q,
            feed: given(params.feed),
            category: given(params.category),
            filter,
            order,
        };
        Ok((view, given(params.cursor)))
    }

    /// This view's address with `filter` and `order` as given, and the page after `cursor`.
    fn href(&self, filter: Option<Filter>, order: SearchOrder, cursor: Option<&str>) -> String {
        let mut href = format!("/search?q={}", encode(&self.q));
        if let Some(feed) = &self.feed {
            href.push_str(&format!("&feed={}", encode(feed)));
        }
        if let Some(category) = &self.category {
            href.push_str(&format!("&category={}", encode(category)));
        }
        match filter {
            None | Some(Filter::All) => {}
            Some(Filter::Unread) => href.push_str("&filter=unread"),
            Some(Filter::Starred) => href.push_str("&filter=starred"),
        }
        if order == SearchOrder::Relevance {
            href.push_str("&order=relevance");
        }
        if let Some(cursor) = cursor {
            href.push_str(&format!("&cursor={}", encode(cursor)));
        }
        href
    }
}

pub(super) async fn search(
    State(state): State<WebState>,
    user: CurrentUser,
    Query(params): Query<SearchParams>,
) -> Response {
    let viewer = user.viewer();
    let (view, cursor) = match View::parse(params) {
        Ok(parsed) => parsed,
        Err(message) => {
            let page = SearchPage::new(viewer, View::default(), None, Some(error_banner(message)));
            return (StatusCode::BAD_REQUEST, page).into_response();
        }
    };
    if view.q.is_empty() {
        return SearchPage::new(viewer, view, None, None).into_response();
    }
    let query = SearchQuery {
        q: view.q.clone(),
        feed: view.feed.clone(),
        category: view.category.clone(),
        filter: view.filter,
        order: view.order,
        cursor,
        limit: Some(PAGE_SIZE),
    };
    match state.upstream.search(&user.name, &query).await {
        Ok(results) => SearchPage::new(viewer, view, Some(results), None).into_response(),
        // The query was refused (too many words, nothing to find, a feed not subscribed to,
        // a cursor not made by the middle tier): the reason is the reader's to read.
        Err(UpstreamError::BadRequest(message)) => {
            let page = SearchPage::new(viewer, view, None, Some(error_banner(message)));
            (StatusCode::BAD_REQUEST, page).into_response()
        }
        Err(reason) => {
            let retry_after: AppendHeaders<_> = reason.retry_after_header();
            let message =
                format!("Search is unavailable right now: {reason}. Please try again in a moment.");
            let page = SearchPage::new(viewer, view, None, Some(error_banner(message)));
            (StatusCode::SERVICE_UNAVAILABLE, retry_after, page).into_response()
        }
    }
}

fn error_banner(message: String) -> Banner {
    Banner {
        kind: "error",
        message,
    }
}

#[derive(Debug, Template, askama_web::WebTemplate)]
#[template(path = "search.html")]
struct SearchPage {
    user: Viewer,
    banner: Option<Banner>,
    /// What the reader typed, shown back in the search box.
    q: String,
    /// Where the search was narrowed to, in words ("in Loopback Daily"); `None`: every feed.
    scope: Option<String>,
    filters: Vec<Choice>,
    orders: Vec<Choice>,
    /// `None` before anything was searched (or when the search failed).
    results: Option<Vec<ResultView>>,
    next: Option<String>,
}

/// One of the page's filter or order links.
#[derive(Debug)]
struct Choice {
    label: &'static str,
    href: String,
    current: bool,
}

#[derive(Debug)]
struct ResultView {
    title: Vec<Segment>,
    excerpt: Vec<Segment>,
    /// Through `/items/open`, which marks the item read; `None` when it has no link.
    open_href: Option<String>,
    feed_title: String,
    /// The feed's own view in the river.
    feed_href: String,
    published: Option<Published>,
    read: bool,
    starred: bool,
}

impl ResultView {
    fn new(result: SearchResult) -> Self {
        let SearchResult {
            item: entry,
            title,
            excerpt,
        } = result;
        let feed = encode(&entry.feed_url);
        let open_href = web_link(entry.item.link.clone())
            .map(|_| format!("/items/open?feed={feed}&item={}", encode(&entry.item.id)));
        Self {
            title,
            excerpt,
            open_href,
            feed_href: format!("/?feed={feed}"),
            feed_title: entry.feed_title,
            published: entry.item.published.and_then(Published::parse),
            read: entry.item.read,
            starred: entry.item.starred,
        }
    }
}

impl SearchPage {
    fn new(
        user: Viewer,
        view: View,
        results: Option<SearchResults>,
        banner: Option<Banner>,
    ) -> Self {
        let filters = [
            ("All", None),
            ("Unread", Some(Filter::Unread)),
            ("Starred", Some(Filter::Starred)),
        ]
        .into_iter()
        .map(|(label, filter)| Choice {
            label,
            href: view.href(filter, view.order, None),
            current: view.filter == filter,
        })
        .collect();
        let orders = [
            ("Newest first", SearchOrder::Newest),
            ("Best match first", SearchOrder::Relevance),
        ]
        .into_iter()
        .map(|(label, order)| Choice {
            label,
            href: view.href(view.filter, order, None),
            current: view.order == order,
        })
        .collect();
        let next = results
            .as_ref()
            .and_then(|results| results.next.as_deref())
            .map(|cursor| view.href(view.filter, view.order, Some(cursor)));
        let scope = match (&view.feed, &view.category) {
            (Some(feed), _) => Some(format!("in the feed {feed}")),
            (None, Some(category)) => Some(format!("in the category {category}")),
            (None, None) => None,
        };
        Self {
            user,
            banner,
            scope,
            filters,
            orders,
            results: results
                .map(|results| results.results.into_iter().map(ResultView::new).collect()),
            next,
            q: view.q,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> SearchParams {
        let mut params = SearchParams::default();
        for (name, value) in pairs {
            let value = Some((*value).to_owned());
            match *name {
                "q" => params.q = value,
                "category" => params.category = value,
                "filter" => params.filter = value,
                "order" => params.order = value,
                other => panic!("no parameter {other}"),
            }
        }
        params
    }

    #[test]
    fn links_keep_the_query_scope_filter_and_order() {
        let (view, _) = View::parse(params(&[
            ("q", "rust \"async closures\""),
            ("category", "Tech & co"),
            ("filter", "starred"),
            ("order", "relevance"),
        ]))
        .expect("a view");
        assert_eq!(
            view.href(view.filter, view.order, Some("s20")),
            "/search?q=rust+%22async+closures%22&category=Tech+%26+co&filter=starred\
             &order=relevance&cursor=s20"
        );
    }

    #[test]
    fn unknown_filters_orders_and_over_long_queries_are_refused() {
        for bad in [
            params(&[("q", "x"), ("filter", "read")]),
            params(&[("q", "x"), ("order", "random")]),
            params(&[("q", &"x".repeat(MAX_QUERY_CHARS + 1))]),
        ] {
            assert!(View::parse(bad).is_err());
        }
    }
}
