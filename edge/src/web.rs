//! The HTML UI: one page listing the user's feeds, a form to subscribe (a feed URL, or a web
//! page whose feeds are discovered, with a page to choose when it has several), a button per
//! feed to unsubscribe, and OPML export and import. Works without JavaScript; forms POST and redirect (POST/redirect/GET), and a
//! failed write re-renders the page with the message and what the user typed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use middletier::api::{Item, Subscription, UserFeeds};
use middletier::discover::{Candidate, FeedKind};
use middletier::opml::MAX_OPML_BYTES;

use crate::command::CommandError;
use crate::upstream::{FeedsOutcome, Upstream};

const STYLE_CSS: &str = include_str!("../assets/style.css");

#[derive(Clone, Debug)]
pub struct WebState {
    pub upstream: Arc<Upstream>,
    /// Until accounts exist every visitor reads as this user, as in the recipe.
    pub user: String,
    pub views: Arc<ViewCache>,
}

impl WebState {
    pub fn new(upstream: Arc<Upstream>, user: String) -> Self {
        Self {
            upstream,
            user,
            views: Arc::default(),
        }
    }
}

/// The page's feeds, sanitized and formatted, for the last answer the upstream gave.
///
/// Sanitizing 200 item descriptions costs far more than rendering them; while the read cache
/// hands out the same answer, the page reuses the same views.
#[derive(Debug, Default)]
pub struct ViewCache {
    last: Mutex<Option<(Arc<UserFeeds>, Views)>>,
}

type Views = Arc<Vec<FeedView>>;

impl ViewCache {
    fn views(&self, feeds: &Arc<UserFeeds>) -> Views {
        let lock = || self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((source, views)) = lock().as_ref()
            && Arc::ptr_eq(source, feeds)
        {
            return views.clone();
        }
        let views: Views = Arc::new(
            feeds
                .subscriptions
                .iter()
                .cloned()
                .map(FeedView::from)
                .collect(),
        );
        *lock() = Some((feeds.clone(), views.clone()));
        views
    }
}

pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/subscriptions", post(subscribe))
        .route("/subscriptions/delete", post(unsubscribe))
        .route("/subscriptions.opml", get(export_opml))
        .route(
            "/subscriptions/import",
            // The OPML cap plus room for the multipart envelope.
            post(import_opml).layer(DefaultBodyLimit::max(MAX_OPML_BYTES + 64 * 1024)),
        )
        .route("/static/style.css", get(style))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct FeedForm {
    #[serde(default)]
    url: String,
}

/// What the page says after a POST/redirect/GET (`/?imported=3&already=1`).
#[derive(Debug, Default, Deserialize)]
struct Notice {
    imported: Option<usize>,
    already: Option<usize>,
}

async fn index(State(state): State<WebState>, Query(notice): Query<Notice>) -> Response {
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
    page(
        &state,
        PageInput {
            notice,
            ..PageInput::default()
        },
    )
    .await
    .into_response()
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

async fn subscribe(State(state): State<WebState>, Form(form): Form<FeedForm>) -> Response {
    match state.upstream.subscribe(&state.user, form.url.trim()).await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(CommandError::Choose(_, candidates)) => ChoosePage {
            user: state.user.clone(),
            site: form.url.trim().to_owned(),
            candidates: candidates.into_iter().map(CandidateView::from).collect(),
        }
        .into_response(),
        Err(error) => write_failed(&state, error, form.url).await,
    }
}

async fn export_opml(State(state): State<WebState>) -> Response {
    match state.upstream.export_opml(&state.user).await {
        Ok(document) => {
            let disposition = format!("attachment; filename=\"subscriptions-{}.opml\"", state.user);
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
            (StatusCode::SERVICE_UNAVAILABLE, page(&state, input).await).into_response()
        }
    }
}

async fn import_opml(
    State(state): State<WebState>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let file = match read_upload(multipart).await {
        Ok(file) => file,
        Err(message) => {
            let input = PageInput {
                import_error: Some(message),
                ..PageInput::default()
            };
            return (StatusCode::BAD_REQUEST, page(&state, input).await).into_response();
        }
    };
    match state.upstream.import_opml(&state.user, file).await {
        Ok(result) => Redirect::to(&format!(
            "/?imported={}&already={}",
            result.imported, result.already
        ))
        .into_response(),
        Err(error) => {
            let (status, message) = match error {
                CommandError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
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
            (status, page(&state, input).await).into_response()
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

async fn unsubscribe(State(state): State<WebState>, Form(form): Form<FeedForm>) -> Response {
    match state.upstream.unsubscribe(&state.user, &form.url).await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(error) => write_failed(&state, error, String::new()).await,
    }
}

/// The write's fallback: the page again, with the reason and the user's input kept.
async fn write_failed(state: &WebState, error: CommandError, typed_url: String) -> Response {
    let status = match error {
        CommandError::BadRequest(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let message = match &error {
        CommandError::BadRequest(message) => message.clone(),
        other => format!("Your change was not saved: {other}. Please try again in a moment."),
    };
    let input = PageInput {
        typed_url,
        form_error: Some(message),
        ..PageInput::default()
    };
    (status, page(state, input).await).into_response()
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

#[derive(Debug, Default)]
struct PageInput {
    typed_url: String,
    form_error: Option<String>,
    import_error: Option<String>,
    notice: Option<String>,
}

async fn page(state: &WebState, input: PageInput) -> IndexPage {
    let (feeds, banner) = match state.upstream.feeds(&state.user).await {
        FeedsOutcome::Fresh(feeds) => (state.views.views(&feeds), None),
        FeedsOutcome::Stale { feeds, age, reason } => (
            state.views.views(&feeds),
            Some(Banner {
                kind: "stale",
                message: format!("Showing your feeds as they were {}: {reason}.", ago(age)),
            }),
        ),
        FeedsOutcome::Unavailable { reason } => (
            Arc::default(),
            Some(Banner {
                kind: "error",
                message: format!(
                    "Your feeds can't be shown right now: {reason}. Please try again in a moment."
                ),
            }),
        ),
    };
    // A failure banner outranks a notice; without one the notice (if any) shows.
    let banner = banner.or(input.notice.map(|message| Banner {
        kind: "notice",
        message,
    }));
    IndexPage {
        user: state.user.clone(),
        banner,
        typed_url: input.typed_url,
        form_error: input.form_error,
        import_error: input.import_error,
        feeds,
    }
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "index.html")]
struct IndexPage {
    user: String,
    banner: Option<Banner>,
    typed_url: String,
    form_error: Option<String>,
    import_error: Option<String>,
    feeds: Arc<Vec<FeedView>>,
}

/// A pasted web page announced several feeds: the user picks one.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "choose.html")]
struct ChoosePage {
    user: String,
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

#[derive(Debug)]
struct Banner {
    /// `stale`, `error` or `notice`: picks the style and the ARIA role.
    kind: &'static str,
    message: String,
}

#[derive(Debug)]
pub struct FeedView {
    url: String,
    title: String,
    error: Option<String>,
    /// How fresh the items are and when the feed is checked next, in words.
    freshness: String,
    items: Vec<ItemView>,
}

impl From<Subscription> for FeedView {
    fn from(feed: Subscription) -> Self {
        let base = url::Url::parse(&feed.url).ok();
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
        let error = feed.error.map(|error| match feed.status.http_status {
            Some(code) if !error.contains(&code.to_string()) => format!("{error} (HTTP {code})"),
            _ => error,
        });
        Self {
            items: feed
                .items
                .into_iter()
                .map(|item| ItemView::new(item, base.as_ref()))
                .collect(),
            url: feed.url,
            title: feed.title,
            error,
            freshness,
        }
    }
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
struct ItemView {
    title: String,
    link: Option<String>,
    /// Sanitized here again: the edge does not rely on upstream HTML being safe.
    description: String,
    published: Option<Published>,
}

#[derive(Debug)]
struct Published {
    machine: String,
    human: String,
}

impl ItemView {
    fn new(item: Item, base: Option<&url::Url>) -> Self {
        let mut sanitizer = ammonia::Builder::default();
        sanitizer.link_rel(Some("noopener noreferrer nofollow"));
        if let Some(base) = base {
            sanitizer.url_relative(ammonia::UrlRelative::RewriteWithBase(base.clone()));
        }
        let link = item
            .link
            .filter(|link| link.starts_with("https://") || link.starts_with("http://"));
        let published = item.published.and_then(|raw| {
            let at = chrono::DateTime::parse_from_rfc3339(&raw).ok()?;
            Some(Published {
                human: at
                    .with_timezone(&chrono::Utc)
                    .format("%e %b %Y, %H:%M UTC")
                    .to_string(),
                machine: raw,
            })
        });
        Self {
            title: item.title,
            link,
            description: sanitizer.clean(&item.description).to_string(),
            published,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_sanitized_again_at_the_edge() {
        let item = Item {
            title: "t".into(),
            link: Some("javascript:alert(1)".into()),
            description: "<img src=x onerror=alert(1)><script>alert(2)</script>ok".into(),
            published: Some("2025-06-10T04:00:00+00:00".into()),
        };
        let view = ItemView::new(item, None);
        assert_eq!(view.link, None);
        assert!(!view.description.contains("onerror"));
        assert!(!view.description.contains("script"));
        assert_eq!(
            view.published.map(|p| p.human).as_deref(),
            Some("10 Jun 2025, 04:00 UTC")
        );
    }
}
