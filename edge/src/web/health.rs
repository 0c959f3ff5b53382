//! The "Feed health" page (`/subscriptions/health`): the user's feeds whose last check failed,
//! each with what went wrong in plain words, what the fetcher saw, and a "Check now" button
//! that asks the middle tier to fetch that feed at once. Healthy feeds are only counted.
//!
//! It reads the same subscription list as "Manage feeds" (through the read cache and its
//! stale fallback); "check now" is a write (`RSSAdd`), so the list is read afresh after it.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use url::form_urlencoded;

use middletier_api::limits::MAX_URL_LEN;
use middletier_api::{Checked, Filter, Subscription};

use super::items::view_href;
use super::{Banner, WebState, ago, plural, within};
use crate::accounts::{CurrentUser, Viewer};
use crate::upstream::{FeedsOutcome, UpstreamError, retry_after_header};

/// Where the page is served; the sidebar and "Manage feeds" link here.
pub(super) const PAGE: &str = "/subscriptions/health";
/// Where "Check now" posts.
pub(super) const CHECK: &str = "/subscriptions/health/check";

#[derive(Debug, Deserialize)]
pub(super) struct CheckForm {
    #[serde(default)]
    url: String,
}

/// After a check (POST/redirect/GET): which feed was checked. Only a URL of the user's own
/// list is ever reported on, so nothing typed into the address is shown back.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Notice {
    checked: Option<String>,
}

pub(super) async fn page(
    State(state): State<WebState>,
    user: CurrentUser,
    Query(notice): Query<Notice>,
) -> Response {
    let page = render(&state, &user, None, notice.checked.as_deref()).await;
    match page.shed_without_fallback {
        Some(wait) => (
            StatusCode::SERVICE_UNAVAILABLE,
            retry_after_header(Some(wait)),
            page,
        )
            .into_response(),
        None => page.into_response(),
    }
}

pub(super) async fn check_now(
    State(state): State<WebState>,
    user: CurrentUser,
    Form(form): Form<CheckForm>,
) -> Response {
    let url = form.url.trim();
    if url.is_empty() || url.len() > MAX_URL_LEN {
        let banner = Banner {
            kind: "error",
            message: format!("Choose a feed of yours to check (at most {MAX_URL_LEN} characters)."),
        };
        let page = render(&state, &user, Some(banner), None).await;
        return (StatusCode::BAD_REQUEST, page).into_response();
    }
    let (status, banner, retry_after) = match state.upstream.check_now(&user.name, url).await {
        Ok(Checked::Done(feed)) => {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("checked", &feed.url)
                .finish();
            return Redirect::to(&format!("{PAGE}?{query}")).into_response();
        }
        Ok(Checked::TooSoon { wait }) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "You checked this feed moments ago; check it again in {} s.",
                wait.as_secs().max(1)
            ),
            Some(wait),
        ),
        Err(UpstreamError::BadRequest(message)) => (StatusCode::BAD_REQUEST, message, None),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("The feed was not checked: {error}. Please try again in a moment."),
            error.retry_after(),
        ),
    };
    let banner = Banner {
        kind: "error",
        message: banner,
    };
    let page = render(&state, &user, Some(banner), None).await;
    (status, retry_after_header(retry_after), page).into_response()
}

async fn render(
    state: &WebState,
    user: &CurrentUser,
    banner: Option<Banner>,
    checked: Option<&str>,
) -> HealthPage {
    let mut shed_without_fallback = None;
    let (feeds, read_banner) = match state.upstream.feeds(&user.name).await {
        FeedsOutcome::Fresh(feeds) => (feeds.subscriptions.clone(), None),
        FeedsOutcome::Stale { feeds, age, reason } => (
            feeds.subscriptions.clone(),
            Some(Banner::stale(age, &reason)),
        ),
        FeedsOutcome::Unavailable { reason } => {
            shed_without_fallback = reason.retry_after();
            (Vec::new(), Some(Banner::unavailable(&reason)))
        }
    };
    let result = checked
        .and_then(|url| feeds.iter().find(|feed| feed.url == url))
        .map(check_result);
    let now = chrono::Utc::now();
    let failing: Vec<FailingFeed> = feeds
        .iter()
        .filter(|feed| feed.error.is_some())
        .map(|feed| FailingFeed::new(feed, now))
        .collect();
    HealthPage {
        user: user.viewer(),
        banner: read_banner.or(banner).or(result),
        healthy: feeds.len() - failing.len(),
        total: feeds.len(),
        failing,
        shed_without_fallback,
    }
}

/// What the check of one feed came to, as the page's notice.
fn check_result(feed: &Subscription) -> Banner {
    match &feed.error {
        None => Banner {
            kind: "notice",
            message: format!("Checked “{}” just now: it works.", feed.title),
        },
        Some(error) => Banner {
            kind: "error",
            message: format!(
                "Checked “{}” just now: it still fails: {error}.",
                feed.title
            ),
        },
    }
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "health.html")]
struct HealthPage {
    user: Viewer,
    banner: Option<Banner>,
    failing: Vec<FailingFeed>,
    healthy: usize,
    total: usize,
    /// The feed list was shed and there is none to fall back on: when to come back.
    shed_without_fallback: Option<std::time::Duration>,
}

impl HealthPage {
    /// The healthy feeds, counted: they need nothing from the user.
    fn healthy_text(&self) -> String {
        match (self.healthy, self.total) {
            (_, 0) => "You don't subscribe to any feeds yet.".to_owned(),
            (1, 1) => "All good: your feed worked at its last check.".to_owned(),
            (0, _) => String::new(),
            (healthy, total) if healthy == total => {
                format!("All good: all {total} of your feeds worked at their last check.")
            }
            (healthy, _) => format!(
                "{healthy} other {} fine.",
                plural(healthy, "feed is", "feeds are")
            ),
        }
    }
}

/// One feed whose last check failed, in words.
#[derive(Debug)]
struct FailingFeed {
    url: String,
    title: String,
    /// `/icons/<hash>`; `None`: no icon is shown.
    icon: Option<String>,
    view_href: String,
    /// What the middle tier said went wrong.
    error: String,
    /// What that usually means and what to do, when it is known.
    advice: Option<&'static str>,
    http_status: Option<u16>,
    last_success: String,
    last_attempt: String,
    failures: u32,
    next_check: String,
}

impl FailingFeed {
    fn new(feed: &Subscription, now: chrono::DateTime<chrono::Utc>) -> Self {
        let parse = |at: &Option<String>| {
            at.as_deref()
                .and_then(|raw| chrono::DateTime::parse_from_rfc3339(raw).ok())
                .map(|at| at.to_utc())
        };
        let since =
            |at: chrono::DateTime<chrono::Utc>| ago((now - at).to_std().unwrap_or_default());
        let error = feed.error.clone().unwrap_or_default();
        let status = &feed.status;
        Self {
            advice: advice(status.http_status, &error),
            url: feed.url.clone(),
            title: feed.title.clone(),
            icon: super::icons::icon_href(feed.icon.as_deref()),
            view_href: view_href(Some(&feed.url), None, Filter::All, None),
            error,
            http_status: status.http_status,
            last_success: parse(&status.last_success).map_or_else(|| "never".to_owned(), since),
            last_attempt: parse(&status.last_attempt).map_or_else(|| "not yet".to_owned(), since),
            failures: status.consecutive_failures,
            next_check: if status.gone {
                "not any more: the publisher removed this feed (410 Gone)".to_owned()
            } else {
                parse(&status.next_refresh).map_or_else(
                    || "soon".to_owned(),
                    |at| within((at - now).to_std().unwrap_or_default()),
                )
            },
        }
    }
}

/// What a failure usually means, in plain words, from the HTTP status the publisher answered
/// or, when there was none, from what the fetcher said.
fn advice(http_status: Option<u16>, error: &str) -> Option<&'static str> {
    match http_status {
        Some(404) => {
            return Some(
                "The feed is not at this address (any more). If the site moved it, subscribe \
                 to the new address and unsubscribe from this one.",
            );
        }
        Some(401 | 403) => {
            return Some(
                "The publisher refuses to let feed readers in: the feed may need a login, or \
                 the site blocks readers.",
            );
        }
        Some(410) => {
            return Some(
                "The publisher removed this feed, so it is no longer checked on its own. \
                 Check now to see whether it is back.",
            );
        }
        Some(429) => {
            return Some(
                "The publisher asked readers to slow down; it is checked again later on its own.",
            );
        }
        Some(500..=599) => {
            return Some(
                "The publisher's server is failing. This is usually temporary: the feed is \
                 checked again on its own.",
            );
        }
        _ => {}
    }
    let error = error.to_ascii_lowercase();
    if error.contains("did not answer") {
        Some(
            "The publisher's server is too slow or down right now. This is usually temporary: \
             the feed is checked again on its own.",
        )
    } else if error.contains("could not connect") || error.contains("could not resolve") {
        Some("The site can't be reached: it may be down, or its address may have changed.")
    } else if error.contains("html") {
        Some(
            "The address leads to a web page, not a feed. Subscribe to the site's feed \
             address instead (pasting the site's address finds it).",
        )
    } else if error.contains("not an rss") || error.contains("malformed") {
        Some("What the address serves is not a feed this reader can read.")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_statuses_are_explained_before_the_message_is_looked_at() {
        let not_found = advice(Some(404), "the server answered 404 Not Found");
        assert!(
            not_found.is_some_and(|words| words.contains("not at this address")),
            "{not_found:?}"
        );
        let failing = advice(Some(503), "the server answered 503");
        assert!(
            failing.is_some_and(|words| words.contains("usually temporary")),
            "{failing:?}"
        );
    }

    #[test]
    fn failures_without_a_status_are_explained_from_the_fetchers_words() {
        let slow = advice(None, "the server did not answer within 10 seconds");
        assert!(
            slow.is_some_and(|words| words.contains("too slow")),
            "{slow:?}"
        );
        let page = advice(Some(200), "this page is HTML; no feed link found");
        assert!(
            page.is_some_and(|words| words.contains("web page, not a feed")),
            "{page:?}"
        );
        assert_eq!(advice(None, "something new"), None);
    }
}
