//! Test support shared by this crate's and the edge's tests (feature `test-support`): a real
//! feed publisher on loopback serving good feeds, broken ones and hostile ones; the middle
//! tier's API on loopback ([`feed_service`], [`serve_api`]); the test Cassandra.
//!
//! # Publisher routes
//! Feeds:
//! - `/rss.xml`, `/atom.xml`, `/feed.json`: [`RSS`], [`ATOM`], [`JSON_FEED`].
//! - `/plain.xml`, `/octet.xml`: [`RSS`] served as `text/plain` / `application/octet-stream`.
//! - `/latin1.xml`: ISO-8859-1 RSS, charset in the header only (title [`LATIN1_TITLE`]).
//! - `/cp1252.xml`: windows-1252 RSS, charset in the XML declaration only ([`CP1252_TITLE`]).
//! - `/utf16.xml`: UTF-16LE RSS with a byte-order mark ([`UTF16_TITLE`]).
//! - `/bomb.xml`: RSS with a DTD declaring an entity bomb and an external entity.
//! - `/switch.xml`: whatever [`FeedPublisher::set_switch`] last set (initially 200 and [`RSS`]),
//!   so a test can break a feed after subscribing to it.
//!
//! Not feeds, or broken: `/page.html` (HTML without feed links), `/html-with-links.html` (HTML
//! whose `<link rel="alternate">`s point at `/rss.xml` and `/atom.xml`, for discovery),
//! `/broken.xml` (truncated RSS), `/missing.xml` (404), `/gone.xml` (410), `/huge.xml` (11 MiB),
//! `/limited.xml` (429, `Retry-After: 120`), `/unavailable.xml` (503, `Retry-After` an HTTP
//! date [`RETRY_AFTER_SECONDS`] from now).
//!
//! Caching: `/etag.xml` ([`RSS`] with `ETag` [`ETAG`] and `Last-Modified` [`LAST_MODIFIED`];
//! 304 when `If-None-Match` matches, or when there is none and `If-Modified-Since` is not
//! older), `/cached.xml` (`Cache-Control: public, max-age=600, s-maxage=60`), `/expires.xml`
//! (`Expires` one hour after `Date`).
//!
//! Redirects: `/moved.xml` (308 to `/rss.xml`), `/perm1.xml` (301 to `/rss.xml`), `/perm2.xml`
//! (301 to `/perm1.xml`), `/temp-after-perm.xml` (301 to `/temp.xml`, which is a 302 to
//! `/rss.xml`), `/redirect/{n}` (a chain of `n` 302s ending at [`RSS`]), `/redirect-to?url=U`
//! (302 to any `U`, for SSRF tests).
//!
//! Hostile: `/xss.xml` ([`XSS_RSS`]: script in every form a sanitizer must stop), `/slow.xml` (starts a feed, then drips a byte every 100 ms forever), `/endless.xml`
//! (streams 64 KiB chunks forever, no `Content-Length`), `/held.xml` ([`RSS`] after
//! [`HELD_FOR`], counting requests in flight for [`FeedPublisher::peak_in_flight`]).
//!
//! Amplifying: `/amplify/{any path}?items=N` (default 5): RSS whose `N` items (newest first,
//! one a day) each have a 2 KB title and a description of 10,000 `<img src=.>` (110 KB), which
//! a sanitizer that makes links absolute against a long feed URL turns into megabytes.
//!
//! Every request is counted by path: [`FeedPublisher::requests`].
//!
//! [`Site`] (`site`) is a website whose every answer the test chooses: a feed with its home
//! page and icons, or hostile answers where an icon should be.

mod site;

pub use site::{Answer, PNG_16, Site};

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use platform::lifecycle::Shutdown;

pub const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
  <title>Loopback Daily</title><link>http://publisher.test/</link><description>News</description>
  <item><title>RSS first story</title><link>http://publisher.test/rss/1</link>
    <description>&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;/p&gt;</description>
    <pubDate>Tue, 10 Jun 2025 04:00:00 GMT</pubDate></item>
  <item><title>RSS second story</title><link>http://publisher.test/rss/2</link>
    <description>Plain words</description></item>
</channel></rss>"#;

pub const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom Weekly</title><id>urn:uuid:1</id><updated>2025-06-01T12:00:00Z</updated>
  <entry><title>Atom story</title><id>urn:uuid:2</id><link href="http://publisher.test/atom/1"/>
    <updated>2025-06-01T12:00:00Z</updated><summary>An Atom summary</summary></entry>
</feed>"#;

pub const JSON_FEED: &str = r#"{"version":"https://jsonfeed.org/version/1.1","title":"JSON Journal",
  "items":[{"id":"1","url":"http://publisher.test/json/1","title":"JSON story",
  "content_html":"<p>From JSON</p>","date_published":"2025-05-01T08:00:00Z"}]}"#;

/// A web page advertising its feeds, as blogs do.
pub const HTML_WITH_LINKS: &str = r#"<!DOCTYPE html>
<html><head><title>Loopback Blog</title>
  <link rel="alternate" type="application/rss+xml" title="Loopback Daily (RSS)" href="/rss.xml">
  <link rel="alternate" type="application/atom+xml" title="Atom Weekly" href="/atom.xml">
  <link rel="stylesheet" href="/style.css">
</head><body><h1>Loopback Blog</h1></body></html>"#;

/// `/etag.xml`'s validators.
pub const ETAG: &str = "\"v1\"";
pub const LAST_MODIFIED: &str = "Tue, 10 Jun 2025 04:00:00 GMT";
/// `/limited.xml`'s `Retry-After` in seconds, and `/unavailable.xml`'s as a date from now.
pub const RETRY_AFTER_SECONDS: u64 = 120;
/// How long `/held.xml` keeps each request open.
pub const HELD_FOR: Duration = Duration::from_millis(150);

pub const LATIN1_TITLE: &str = "Caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e";
pub const CP1252_TITLE: &str = "\u{201c}Smart\u{201d} quotes cost \u{20ac}5";
pub const UTF16_TITLE: &str = "\u{395}\u{3bb}\u{3bb}\u{3b7}\u{3bd}\u{3b9}\u{3ba}\u{3ac} \u{2713}";

/// `/xss.xml`: a feed whose titles, links and descriptions carry script in every form a
/// sanitizer has to stop. Each payload, if it ran, would set `window.__xss` or change
/// `document.title`, so a browser test can tell that none did. Item titles start with
/// "XSS" so a test can find them.
pub const XSS_RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
  <title>XSS &lt;img src=x onerror="window.__xss='feed title'"&gt; Gazette</title>
  <link>http://publisher.test/</link><description>Hostile</description>
  <item><title>XSS script &lt;script&gt;document.title='pwned'&lt;/script&gt;</title>
    <link>javascript:window.__xss='item link'</link><guid>xss-1</guid>
    <pubDate>Tue, 10 Jun 2025 05:00:00 GMT</pubDate>
    <description><![CDATA[<p>Script tags</p><script>window.__xss='script'</script>
      <SCRIPT SRC="data:text/javascript,window.__xss='script src'"></SCRIPT>
      <img src="x" onerror="window.__xss='onerror'" alt="broken">
      <body onload="window.__xss='body onload'"><div onmouseover="window.__xss='mouseover'">hover</div>
      <details open ontoggle="window.__xss='ontoggle'"><summary>details</summary></details>]]></description></item>
  <item><title>XSS links</title><link>http://publisher.test/xss/2</link><guid>xss-2</guid>
    <pubDate>Tue, 10 Jun 2025 04:30:00 GMT</pubDate>
    <description><![CDATA[<a id="js-link" href="javascript:window.__xss='javascript link'">js link</a>
      <a href="JaVaScRiPt:window.__xss='mixed case'">mixed</a>
      <a href="&#106;avascript:window.__xss='entity'">entity</a>
      <a href="data:text/html,<script>window.__xss='data link'</script>">data link</a>
      <img src="data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' onload='window.__xss=1'/>">
      <form action="javascript:window.__xss='form'"><button>go</button></form>
      <meta http-equiv="refresh" content="0;url=javascript:window.__xss='refresh'">
      <base href="javascript:window.__xss='base'//">]]></description></item>
  <item><title>XSS svg and frames</title><link>http://publisher.test/xss/3</link><guid>xss-3</guid>
    <pubDate>Tue, 10 Jun 2025 04:00:00 GMT</pubDate>
    <description><![CDATA[<svg onload="window.__xss='svg onload'"><script>window.__xss='svg script'</script>
      <a xlink:href="javascript:window.__xss='svg link'"><text>svg</text></a></svg>
      <math><mi xlink:href="javascript:window.__xss='mathml'">m</mi></math>
      <iframe src="javascript:parent.__xss='iframe'"></iframe>
      <iframe srcdoc="<script>parent.__xss='srcdoc'</script>"></iframe>
      <object data="javascript:window.__xss='object'"></object><embed src="javascript:window.__xss='embed'">
      <div style="background:url(javascript:window.__xss='style url');width:expression(window.__xss='expression')">styled</div>
      <style>body{background:url("javascript:window.__xss='style tag'")}</style>
      <link rel="stylesheet" href="javascript:window.__xss='link tag'">
      <p>Safe text survives</p>]]></description></item>
</channel></rss>"#;

/// A publisher on `127.0.0.1:<random port>`, stopped when dropped.
#[derive(Debug)]
pub struct FeedPublisher {
    base: String,
    state: Arc<PublisherState>,
    shutdown: Shutdown,
}

#[derive(Debug)]
struct PublisherState {
    requests: Mutex<HashMap<String, usize>>,
    switch: Mutex<(StatusCode, String)>,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

impl FeedPublisher {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind publisher");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let state = Arc::new(PublisherState {
            requests: Mutex::new(HashMap::new()),
            switch: Mutex::new((StatusCode::OK, RSS.to_owned())),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
        });
        let shutdown = Shutdown::new();
        let app = Router::new()
            .route(
                "/rss.xml",
                get(|| async { xml("application/rss+xml", RSS) }),
            )
            .route(
                "/atom.xml",
                get(|| async { xml("application/atom+xml", ATOM) }),
            )
            .route(
                "/feed.json",
                get(|| async { xml("application/feed+json", JSON_FEED) }),
            )
            .route(
                "/xss.xml",
                get(|| async { xml("application/rss+xml", XSS_RSS) }),
            )
            .route("/plain.xml", get(|| async { xml("text/plain", RSS) }))
            .route(
                "/octet.xml",
                get(|| async { xml("application/octet-stream", RSS) }),
            )
            .route("/latin1.xml", get(latin1))
            .route("/cp1252.xml", get(cp1252))
            .route("/utf16.xml", get(utf16))
            .route(
                "/bomb.xml",
                get(|| async { xml("application/rss+xml", ENTITY_BOMB) }),
            )
            .route("/switch.xml", get(switch))
            .route(
                "/page.html",
                get(|| async { xml("text/html", "<html><body>Not a feed</body></html>") }),
            )
            .route(
                "/html-with-links.html",
                get(|| async { xml("text/html; charset=utf-8", HTML_WITH_LINKS) }),
            )
            .route(
                "/broken.xml",
                get(|| async {
                    xml(
                        "application/rss+xml",
                        "<rss version=\"2.0\"><channel><item>",
                    )
                }),
            )
            .route("/missing.xml", get(|| async { StatusCode::NOT_FOUND }))
            .route("/gone.xml", get(|| async { StatusCode::GONE }))
            .route(
                "/limited.xml",
                get(|| async {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string())],
                    )
                }),
            )
            .route("/unavailable.xml", get(unavailable))
            .route("/etag.xml", get(etag))
            .route(
                "/cached.xml",
                get(|| async {
                    (
                        [(header::CACHE_CONTROL, "public, max-age=600, s-maxage=60")],
                        xml("application/rss+xml", RSS),
                    )
                }),
            )
            .route("/expires.xml", get(expires))
            .route(
                "/moved.xml",
                get(|| async { Redirect::permanent("/rss.xml") }),
            )
            .route(
                "/perm1.xml",
                get(|| async { redirect(StatusCode::MOVED_PERMANENTLY, "/rss.xml") }),
            )
            .route(
                "/perm2.xml",
                get(|| async { redirect(StatusCode::MOVED_PERMANENTLY, "/perm1.xml") }),
            )
            .route(
                "/temp-after-perm.xml",
                get(|| async { redirect(StatusCode::MOVED_PERMANENTLY, "/temp.xml") }),
            )
            .route(
                "/temp.xml",
                get(|| async { redirect(StatusCode::FOUND, "/rss.xml") }),
            )
            .route("/redirect/{hops}", get(redirect_chain))
            .route("/redirect-to", get(redirect_to))
            .route("/slow.xml", get(slow))
            .route("/endless.xml", get(endless))
            .route("/held.xml", get(held))
            .route("/amplify/{*path}", get(amplify))
            .route(
                "/huge.xml",
                get(|| async { xml("application/rss+xml", huge()) }),
            )
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&state),
                count_request,
            ))
            .with_state(Arc::clone(&state));
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .expect("publisher serves");
        });
        Self {
            base,
            state,
            shutdown,
        }
    }

    /// The absolute URL of `path` (e.g. `/rss.xml`) on this publisher.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `host:port` of this publisher (for `allowed_hosts`).
    pub fn authority(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// How many requests for `path` (without the query) this publisher has received.
    pub fn requests(&self, path: &str) -> usize {
        lock(&self.state.requests).get(path).copied().unwrap_or(0)
    }

    /// What `/switch.xml` answers from now on (`application/rss+xml`).
    pub fn set_switch(&self, status: u16, body: &str) {
        let status = StatusCode::from_u16(status).expect("a valid HTTP status");
        *lock(&self.state.switch) = (status, body.to_owned());
    }

    /// The most requests `/held.xml` has had open at once.
    pub fn peak_in_flight(&self) -> usize {
        self.state.peak_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for FeedPublisher {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn count_request(
    State(state): State<Arc<PublisherState>>,
    request: Request,
    next: Next,
) -> Response {
    *lock(&state.requests)
        .entry(request.uri().path().to_owned())
        .or_default() += 1;
    next.run(request).await
}

fn xml(content_type: &'static str, body: impl Into<String>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type)], body.into())
}

fn bytes(content_type: &'static str, body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn redirect(status: StatusCode, location: &str) -> Response {
    (status, [(header::LOCATION, location.to_owned())]).into_response()
}

/// An RSS document titled `title` (channel and one item), `declaration` in front.
fn rss_titled(declaration: &str, title: &str) -> String {
    format!(
        "{declaration}<rss version=\"2.0\"><channel><title>{title}</title>\
         <item><title>{title}</title></item></channel></rss>"
    )
}

async fn latin1() -> Response {
    let document = rss_titled("<?xml version=\"1.0\"?>", LATIN1_TITLE);
    let (encoded, _, _) = encoding_rs::WINDOWS_1252.encode(&document);
    bytes(
        "application/rss+xml; charset=ISO-8859-1",
        encoded.into_owned(),
    )
}

async fn cp1252() -> Response {
    let document = rss_titled(
        "<?xml version=\"1.0\" encoding=\"windows-1252\"?>",
        CP1252_TITLE,
    );
    let (encoded, _, _) = encoding_rs::WINDOWS_1252.encode(&document);
    bytes("application/xml", encoded.into_owned())
}

async fn utf16() -> Response {
    let document = rss_titled("<?xml version=\"1.0\" encoding=\"UTF-16\"?>", UTF16_TITLE);
    let mut encoded = vec![0xff, 0xfe];
    encoded.extend(document.encode_utf16().flat_map(u16::to_le_bytes));
    bytes("application/rss+xml", encoded)
}

async fn switch(State(state): State<Arc<PublisherState>>) -> Response {
    let (status, body) = lock(&state.switch).clone();
    (
        status,
        [(header::CONTENT_TYPE, "application/rss+xml")],
        body,
    )
        .into_response()
}

async fn etag(headers: HeaderMap) -> Response {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let unchanged = match text(header::IF_NONE_MATCH) {
        Some(tags) => tags
            .split(',')
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == ETAG || tag == "*"),
        None => text(header::IF_MODIFIED_SINCE)
            .and_then(|since| chrono::DateTime::parse_from_rfc2822(since).ok())
            .zip(chrono::DateTime::parse_from_rfc2822(LAST_MODIFIED).ok())
            .is_some_and(|(since, modified)| since >= modified),
    };
    let validators = [(header::ETAG, ETAG), (header::LAST_MODIFIED, LAST_MODIFIED)];
    if unchanged {
        (StatusCode::NOT_MODIFIED, validators).into_response()
    } else {
        (validators, xml("application/rss+xml", RSS)).into_response()
    }
}

fn http_date(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

async fn expires() -> Response {
    let now = chrono::Utc::now();
    (
        [
            (header::DATE, http_date(now)),
            (
                header::EXPIRES,
                http_date(now + chrono::TimeDelta::hours(1)),
            ),
        ],
        xml("application/rss+xml", RSS),
    )
        .into_response()
}

async fn unavailable() -> Response {
    let seconds = i64::try_from(RETRY_AFTER_SECONDS).unwrap_or(i64::MAX);
    let at = chrono::Utc::now() + chrono::TimeDelta::seconds(seconds);
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, http_date(at))],
    )
        .into_response()
}

async fn redirect_chain(Path(hops): Path<u32>) -> Response {
    match hops.checked_sub(1) {
        Some(left) => redirect(StatusCode::FOUND, &format!("/redirect/{left}")),
        None => xml("application/rss+xml", RSS).into_response(),
    }
}

async fn redirect_to(Query(query): Query<HashMap<String, String>>) -> Response {
    match query.get("url") {
        Some(url) => redirect(StatusCode::FOUND, url),
        None => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// A feed that starts, then never finishes: one byte every 100 ms.
async fn slow() -> Response {
    let start = futures::stream::once(async {
        Ok::<_, Infallible>(Bytes::from_static(
            b"<rss version=\"2.0\"><channel><title>Slow</title>",
        ))
    });
    let drip = futures::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok(Bytes::from_static(b" ")), ()))
    });
    stream_response(futures::StreamExt::chain(start, drip))
}

/// A body that never ends, as fast as the client reads it.
async fn endless() -> Response {
    let chunk = Bytes::from(vec![b' '; 64 * 1024]);
    let start = futures::stream::once(async {
        Ok::<_, Infallible>(Bytes::from_static(b"<rss version=\"2.0\"><channel>"))
    });
    let rest = futures::stream::repeat_with(move || Ok(chunk.clone()));
    stream_response(futures::StreamExt::chain(start, rest))
}

fn stream_response(
    stream: impl futures::Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
) -> Response {
    (
        [(header::CONTENT_TYPE, "application/rss+xml")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn held(State(state): State<Arc<PublisherState>>) -> Response {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.peak_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(HELD_FOR).await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    xml("application/rss+xml", RSS).into_response()
}

/// `/bomb.xml`: billion laughs plus an external entity; a parser that expands either is unsafe.
pub const ENTITY_BOMB: &str = r#"<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<rss version="2.0"><channel><title>Bomb &lol9;</title>
<item><title>Secret &xxe;</title><description>&lol9;&xxe;</description></item>
</channel></rss>"#;

async fn amplify(Query(query): Query<HashMap<String, String>>) -> Response {
    let items: usize = query.get("items").and_then(|n| n.parse().ok()).unwrap_or(5);
    let description = "<img src=.>".repeat(10_000);
    let title = "Amplified ".repeat(200);
    let start = chrono::DateTime::from_timestamp(1_750_000_000, 0).expect("time");
    let mut rss = String::from("<rss version=\"2.0\"><channel><title>Amplify</title>");
    for n in 0..items {
        let published = start - chrono::Duration::days(i64::try_from(n).unwrap_or(0));
        rss.push_str(&format!(
            "<item><title>{n} {title}</title><guid>amplify-{n}</guid><pubDate>{}</pubDate>\
             <description><![CDATA[{description}]]></description></item>",
            published.to_rfc2822()
        ));
    }
    rss.push_str("</channel></rss>");
    bytes("application/rss+xml", rss.into_bytes())
}

/// Larger than the 10 MiB default cap.
fn huge() -> String {
    let item = "<item><title>padding</title><description>".to_owned()
        + &"x".repeat(1024)
        + "</description></item>";
    format!(
        "<rss version=\"2.0\"><channel><title>Huge</title>{}</channel></rss>",
        item.repeat(11 * 1024)
    )
}

/// Where the Cassandra tests find their database: `RSS_TEST_CASSANDRA` (default
/// `127.0.0.1:9042`, what `deploy/cassandra/run.sh start` provides), keyspace `rss_test`.
pub fn cassandra_settings() -> crate::store::CassandraSettings {
    crate::store::CassandraSettings {
        nodes: std::env::var("RSS_TEST_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".to_owned()),
        keyspace: "rss_test".to_owned(),
        ..crate::store::CassandraSettings::default()
    }
}

/// Connects to the test Cassandra, failing loudly (never skipping) when it is not there. The
/// store is what a middle tier on Cassandra runs: with its process feed cache in front.
pub async fn cassandra_store() -> crate::store::FeedCache<crate::store::CassandraStore> {
    let settings = cassandra_settings();
    match crate::store::CassandraStore::connect(&settings).await {
        Ok(store) => crate::store::FeedCache::new(store),
        Err(error) => panic!(
            "Cassandra tests were asked for but Cassandra at {} is not reachable ({error}); \
             start it with `deploy/cassandra/run.sh start` or run `deploy/test.sh`",
            settings.nodes
        ),
    }
}

/// A [`FeedService`](crate::service::FeedService) over `store` that fetches with `fetch` and
/// owns every feed (a single replica): what the API tests and the river benchmark run.
pub fn feed_service(
    store: Arc<dyn crate::store::Store>,
    fetch: crate::fetch::FetchSettings,
) -> crate::service::FeedService {
    let fetcher = crate::fetch::Fetcher::new(fetch).expect("fetcher");
    let refresher = crate::refresh::Refresher::new(
        store.clone(),
        fetcher,
        crate::refresh::RefreshSettings::default(),
        crate::refresh::Ownership::solo(),
    );
    crate::service::FeedService::new(store, refresher)
}

/// Serves the middle tier's REST API for `service` on `127.0.0.1:<random port>` for the rest
/// of the runtime; returns its root URL (`http://127.0.0.1:<port>/`).
pub async fn serve_api(service: crate::service::FeedService) -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let root =
        url::Url::parse(&format!("http://{}/", listener.local_addr().expect("addr"))).expect("url");
    let router = crate::routes::router(service);
    tokio::spawn(async move { axum::serve(listener, router).await });
    root
}

/// A user-name prefix no earlier run used, so tests sharing a persistent database never see
/// each other's rows.
pub fn unique_prefix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "t{nanos}-{}-{}-",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A TCP proxy on loopback in front of a real server, which a test can cut (every open
/// connection is dropped and new ones are closed at once, as when the database host dies) and
/// restore, without restarting the server behind it.
#[derive(Debug)]
pub struct TcpProxy {
    pub address: std::net::SocketAddr,
    up: tokio::sync::watch::Sender<bool>,
    shutdown: Shutdown,
}

impl TcpProxy {
    pub async fn start(target: &str, up: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let address = listener.local_addr().expect("proxy addr");
        let (state, _) = tokio::sync::watch::channel(up);
        let shutdown = Shutdown::new();
        let (accepting, stop, target) = (state.clone(), shutdown.clone(), target.to_owned());
        tokio::spawn(async move {
            loop {
                let (mut inbound, _) = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted { Ok(c) => c, Err(_) => continue },
                };
                if !*accepting.borrow() {
                    continue; // dropped: the client sees the connection closed at once
                }
                let mut down = accepting.subscribe();
                let target = target.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|up| !*up) => {}
                        () = stop.cancelled() => {}
                    }
                });
            }
        });
        Self {
            address,
            up: state,
            shutdown,
        }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
