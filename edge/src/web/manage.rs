//! The "Manage feeds" page (`/subscriptions`): subscribe, each feed's status, category and
//! unsubscribe button, OPML export and import. It reads the user's whole subscription list
//! (`GET /middletier/rss/user/{user}`, through the read cache and its stale fallback).

use std::collections::BTreeSet;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{Multipart, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use middletier_api::limits::{MAX_CATEGORY_LEN, MAX_OPML_BYTES};
use middletier_api::{Candidate, CategoryChange, FeedKind, Filter, Subscription, UserFeeds};

use super::items::view_href;
use super::{Banner, WebState, ago, plural, within};
use crate::accounts::{CurrentUser, Viewer};
use crate::upstream::{FeedsOutcome, UpstreamError, retry_after_header};

#[derive(Debug, Deserialize)]
pub(super) struct FeedForm {
    #[serde(default)]
    url: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct CategoryForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    category: String,
}

/// What the page says after a POST/redirect/GET (`?imported=3&already=1`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Notice {
    imported: Option<usize>,
    already: Option<usize>,
}

pub(super) async fn page(
    State(state): State<WebState>,
    user: CurrentUser,
    Query(notice): Query<Notice>,
) -> Response {
    let notice = notice.imported.map(|imported| {
        let already = notice.already.unwrap_or(0);
        let mut message = format!(
            "Imported {imported} new {}.",
            plural(imported, "feed", "feeds")
        );
        if already > 0 {
            message.push_str(&format!(
                " {already} {} already there.",
                plural(already, "was", "were")
            ));
        }
        if imported > 0 {
            message.push_str(" New feeds appear as they are fetched, within a few seconds.");
        }
        message
    });
    let input = PageInput {
        banner: notice.map(|message| Banner {
            kind: "notice",
            message,
        }),
        ..PageInput::default()
    };
    let page = render(&state, &user, input).await;
    match page.shed_without_fallback {
        // As the river: 503, saying when to come back (docs/resilience.md, "Overload").
        Some(wait) => (
            StatusCode::SERVICE_UNAVAILABLE,
            retry_after_header(Some(wait)),
            page,
        )
            .into_response(),
        None => page.into_response(),
    }
}

pub(super) async fn subscribe(
    State(state): State<WebState>,
    user: CurrentUser,
    Form(form): Form<FeedForm>,
) -> Response {
    let typed = form.url.trim();
    match state.upstream.subscribe(&user.name, typed).await {
        // The new feed's own view: its items are there at once (subscribing fetches it).
        Ok(change) => {
            Redirect::to(&view_href(Some(&change.url), None, Filter::Unread, None)).into_response()
        }
        Err(UpstreamError::Choose(_, candidates)) => ChoosePage {
            user: user.viewer(),
            site: typed.to_owned(),
            candidates: candidates.into_iter().map(CandidateView::from).collect(),
        }
        .into_response(),
        Err(error) => write_failed(&state, &user, error, form.url).await,
    }
}

pub(super) async fn unsubscribe(
    State(state): State<WebState>,
    user: CurrentUser,
    Form(form): Form<FeedForm>,
) -> Response {
    match state.upstream.unsubscribe(&user.name, &form.url).await {
        Ok(_) => Redirect::to("/subscriptions").into_response(),
        Err(error) => write_failed(&state, &user, error, String::new()).await,
    }
}

pub(super) async fn set_category(
    State(state): State<WebState>,
    user: CurrentUser,
    Form(form): Form<CategoryForm>,
) -> Response {
    let category = form.category.trim();
    if category.chars().count() > MAX_CATEGORY_LEN {
        let input = PageInput::error(format!(
            "A category name is at most {MAX_CATEGORY_LEN} characters."
        ));
        return (StatusCode::BAD_REQUEST, render(&state, &user, input).await).into_response();
    }
    let change = CategoryChange {
        url: form.url,
        category: (!category.is_empty()).then(|| category.to_owned()),
    };
    match state.upstream.set_category(&user.name, &change).await {
        Ok(()) => Redirect::to("/subscriptions").into_response(),
        Err(error) => {
            let status = status_of(&error);
            let input = PageInput::error(match error {
                UpstreamError::BadRequest(message) => message,
                other => {
                    format!("The category was not saved: {other}. Please try again in a moment.")
                }
            });
            (status, render(&state, &user, input).await).into_response()
        }
    }
}

pub(super) async fn export_opml(State(state): State<WebState>, user: CurrentUser) -> Response {
    match state.upstream.export_opml(&user.name).await {
        Ok(document) => {
            let disposition = format!("attachment; filename=\"subscriptions-{}.opml\"", user.name);
            (
                [
                    (
                        header::CONTENT_TYPE,
                        "text/x-opml; charset=utf-8".to_owned(),
                    ),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                document,
            )
                .into_response()
        }
        Err(error) => {
            let message = format!("The export failed: {error}. Please try again in a moment.");
            let input = PageInput {
                import_error: Some(message),
                ..PageInput::default()
            };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                error.retry_after_header(),
                render(&state, &user, input).await,
            )
                .into_response()
        }
    }
}

pub(super) async fn import_opml(
    State(state): State<WebState>,
    user: CurrentUser,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let file = match read_upload(multipart).await {
        Ok(file) => file,
        Err(message) => {
            let input = PageInput {
                import_error: Some(message),
                ..PageInput::default()
            };
            return (StatusCode::BAD_REQUEST, render(&state, &user, input).await).into_response();
        }
    };
    match state.upstream.import_opml(&user.name, file).await {
        Ok(result) => Redirect::to(&format!(
            "/subscriptions?imported={}&already={}",
            result.imported, result.already
        ))
        .into_response(),
        Err(error) => {
            let retry_after = error.retry_after_header();
            let (status, message) = match error {
                UpstreamError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
                other => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "The import did not finish: {other}. Importing the same file again is safe."
                    ),
                ),
            };
            let input = PageInput {
                import_error: Some(message),
                ..PageInput::default()
            };
            (status, retry_after, render(&state, &user, input).await).into_response()
        }
    }
}

/// The uploaded file of the `opml` field, or what is wrong with the upload.
async fn read_upload(multipart: Result<Multipart, MultipartRejection>) -> Result<Vec<u8>, String> {
    let mut multipart = multipart.map_err(|_| "Choose an OPML file to import.".to_owned())?;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| describe_upload_error(&e))?
    {
        if field.name() == Some("opml") {
            let bytes = field.bytes().await.map_err(|e| describe_upload_error(&e))?;
            if bytes.is_empty() {
                return Err("Choose an OPML file to import.".to_owned());
            }
            return Ok(bytes.to_vec());
        }
    }
    Err("Choose an OPML file to import.".to_owned())
}

fn describe_upload_error(error: &MultipartError) -> String {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        format!(
            "The file is larger than the {} MiB limit for OPML files.",
            MAX_OPML_BYTES / (1024 * 1024)
        )
    } else {
        "The upload could not be read; please try again.".to_owned()
    }
}

fn status_of(error: &UpstreamError) -> StatusCode {
    match error {
        UpstreamError::BadRequest(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The write's fallback: the page again, with the reason and the user's input kept.
async fn write_failed(
    state: &WebState,
    user: &CurrentUser,
    error: UpstreamError,
    typed_url: String,
) -> Response {
    let status = status_of(&error);
    let message = match &error {
        UpstreamError::BadRequest(message) => message.clone(),
        other => format!("Your change was not saved: {other}. Please try again in a moment."),
    };
    let input = PageInput {
        typed_url,
        form_error: Some(message),
        ..PageInput::default()
    };
    let retry_after = error.retry_after_header();
    (status, retry_after, render(state, user, input).await).into_response()
}

#[derive(Debug, Default)]
struct PageInput {
    typed_url: String,
    form_error: Option<String>,
    import_error: Option<String>,
    /// A notice or an error about the last change; a failure to read the feeds outranks it.
    banner: Option<Banner>,
}

impl PageInput {
    fn error(message: String) -> Self {
        Self {
            banner: Some(Banner {
                kind: "error",
                message,
            }),
            ..Self::default()
        }
    }
}

async fn render(state: &WebState, user: &CurrentUser, input: PageInput) -> ManagePage {
    // Formatted on every view: "updated 2 minutes ago" must keep moving while a stale answer is
    // served. This page is visited to manage feeds, not read on every click like the river.
    let mut shed_without_fallback = None;
    let (feeds, banner) = match state.upstream.feeds(&user.name).await {
        FeedsOutcome::Fresh(feeds) => (feed_views(&feeds), None),
        FeedsOutcome::Stale { feeds, age, reason } => {
            (feed_views(&feeds), Some(Banner::stale(age, &reason)))
        }
        FeedsOutcome::Unavailable { reason } => {
            shed_without_fallback = reason.retry_after();
            (Vec::new(), Some(Banner::unavailable(&reason)))
        }
    };
    let categories: BTreeSet<String> = feeds
        .iter()
        .filter(|feed| !feed.category.is_empty())
        .map(|feed| feed.category.clone())
        .collect();
    ManagePage {
        user: user.viewer(),
        banner: banner.or(input.banner),
        typed_url: input.typed_url,
        form_error: input.form_error,
        import_error: input.import_error,
        categories: categories.into_iter().collect(),
        failing: feeds.iter().filter(|feed| feed.error.is_some()).count(),
        feeds,
        shed_without_fallback,
    }
}

fn feed_views(feeds: &UserFeeds) -> Vec<FeedView> {
    feeds.subscriptions.iter().map(FeedView::from).collect()
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "subscriptions.html")]
struct ManagePage {
    user: Viewer,
    banner: Option<Banner>,
    typed_url: String,
    form_error: Option<String>,
    import_error: Option<String>,
    /// Every category in use, offered as suggestions.
    categories: Vec<String>,
    /// Feeds whose last check failed, for the link to the feed health page.
    failing: usize,
    feeds: Vec<FeedView>,
    /// The feed list was shed and there is none to fall back on: when to come back.
    shed_without_fallback: Option<std::time::Duration>,
}

/// A pasted web page announced several feeds: the user picks one.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "choose.html")]
struct ChoosePage {
    user: Viewer,
    site: String,
    candidates: Vec<CandidateView>,
}

#[derive(Debug)]
struct CandidateView {
    url: String,
    title: String,
    kind: &'static str,
}

impl From<Candidate> for CandidateView {
    fn from(candidate: Candidate) -> Self {
        Self {
            title: candidate
                .title
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| candidate.url.clone()),
            kind: match candidate.kind {
                FeedKind::Rss => "RSS",
                FeedKind::Atom => "Atom",
                FeedKind::JsonFeed => "JSON Feed",
            },
            url: candidate.url,
        }
    }
}

/// One subscription on the page: no items, only how many and how fresh.
#[derive(Debug)]
struct FeedView {
    url: String,
    title: String,
    /// `/icons/<hash>`; `None`: no icon is shown.
    icon: Option<String>,
    /// The feed's own river.
    view_href: String,
    category: String,
    error: Option<String>,
    /// How fresh the items are and when the feed is checked next, in words.
    freshness: String,
    items: usize,
    unread: usize,
}

impl From<&Subscription> for FeedView {
    fn from(feed: &Subscription) -> Self {
        let now = chrono::Utc::now();
        let parse = |at: &Option<String>| {
            at.as_deref()
                .and_then(|raw| chrono::DateTime::parse_from_rfc3339(raw).ok())
        };
        let mut freshness = match parse(&feed.status.last_success) {
            Some(at) => format!(
                "Updated {}",
                ago((now - at.to_utc()).to_std().unwrap_or_default())
            ),
            None => "Not fetched successfully yet".to_owned(),
        };
        if feed.status.gone {
            freshness.push_str(
                " · the publisher removed this feed (410 Gone), so it is no longer checked",
            );
        } else if let Some(next) = parse(&feed.status.next_refresh) {
            let wait = (next.to_utc() - now).to_std().unwrap_or_default();
            freshness.push_str(&format!(" · next check {}", within(wait)));
        }
        let error = feed
            .error
            .clone()
            .map(|error| match feed.status.http_status {
                Some(code) if !error.contains(&code.to_string()) => {
                    format!("{error} (HTTP {code})")
                }
                _ => error,
            });
        Self {
            view_href: view_href(Some(&feed.url), None, Filter::All, None),
            url: feed.url.clone(),
            title: feed.title.clone(),
            icon: super::icons::icon_href(feed.icon.as_deref()),
            category: feed.category.clone().unwrap_or_default(),
            error,
            freshness,
            items: feed.items.len(),
            unread: feed.unread,
        }
    }
}
