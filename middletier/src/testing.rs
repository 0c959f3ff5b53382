//! Test support shared by this crate's and the edge's tests (feature `test-support`): a real
//! feed publisher on loopback serving RSS, Atom and JSON feeds and some broken ones.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};
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

/// A publisher on `127.0.0.1:<random port>`, stopped when dropped.
#[derive(Debug)]
pub struct FeedPublisher {
    base: String,
    shutdown: Shutdown,
}

impl FeedPublisher {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind publisher");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
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
                "/page.html",
                get(|| async { xml("text/html", "<html><body>Not a feed</body></html>") }),
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
            .route(
                "/moved.xml",
                get(|| async { Redirect::permanent("/rss.xml") }),
            )
            .route(
                "/huge.xml",
                get(|| async { xml("application/rss+xml", huge()) }),
            );
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .expect("publisher serves");
        });
        Self { base, shutdown }
    }

    /// The absolute URL of `path` (e.g. `/rss.xml`) on this publisher.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for FeedPublisher {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn xml(content_type: &'static str, body: impl Into<String>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type)], body.into())
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

/// Connects to the test Cassandra, failing loudly (never skipping) when it is not there.
pub async fn cassandra_store() -> crate::store::CassandraStore {
    let settings = cassandra_settings();
    match crate::store::CassandraStore::connect(&settings).await {
        Ok(store) => store,
        Err(error) => panic!(
            "Cassandra tests were asked for but Cassandra at {} is not reachable ({error}); \
             start it with `deploy/cassandra/run.sh start` or run `deploy/test.sh`",
            settings.nodes
        ),
    }
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
