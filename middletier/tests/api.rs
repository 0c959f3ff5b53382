//! The middle tier's REST API over real HTTP on loopback, with a real feed publisher.

use std::sync::Arc;

use middletier::api::{ErrorBody, SubscriptionChange, UserFeeds};
use middletier::fetch::{FetchSettings, Fetcher};
use middletier::service::FeedService;
use middletier::store::MemoryStore;
use middletier::testing::FeedPublisher;
use reqwest::StatusCode;

struct TestApi {
    base: String,
    http: reqwest::Client,
}

async fn spawn_api(fetch: FetchSettings) -> TestApi {
    let service = FeedService::new(
        Arc::new(MemoryStore::new()),
        Fetcher::new(fetch).expect("fetcher"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!(
        "http://{}/middletier/rss/user",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, middletier::routes::router(service)).await });
    TestApi { base, http: http() }
}

fn local_fetching() -> FetchSettings {
    FetchSettings {
        allow_private_networks: true,
        ..FetchSettings::default()
    }
}

impl TestApi {
    async fn feeds(&self, user: &str) -> UserFeeds {
        let response = self
            .http
            .get(format!("{}/{user}", self.base))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    async fn subscribe(&self, user: &str, url: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/{user}", self.base))
            .query(&[("url", url)])
            .send()
            .await
            .expect("post")
    }

    async fn unsubscribe(&self, user: &str, url: &str) -> reqwest::Response {
        self.http
            .delete(format!("{}/{user}", self.base))
            .query(&[("url", url)])
            .send()
            .await
            .expect("delete")
    }
}

#[tokio::test]
async fn subscriptions_return_items_from_rss_atom_and_json_feeds() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api(local_fetching()).await;
    for path in ["/rss.xml", "/atom.xml", "/feed.json"] {
        let response = api.subscribe("ann", &publisher.url(path)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let change: SubscriptionChange = response.json().await.expect("json");
        assert!(change.changed);
    }

    let feeds = api.feeds("ann").await;
    assert_eq!(feeds.user, "ann");
    let titles: Vec<_> = feeds
        .subscriptions
        .iter()
        .map(|s| s.title.as_str())
        .collect();
    assert_eq!(
        titles,
        ["Loopback Daily", "Atom Weekly", "JSON Journal"],
        "in subscription order"
    );
    let rss = &feeds.subscriptions[0];
    assert_eq!(rss.error, None);
    assert_eq!(rss.items.len(), 2);
    assert_eq!(rss.items[0].title, "RSS first story");
    assert_eq!(
        rss.items[0].link.as_deref(),
        Some("http://publisher.test/rss/1")
    );
    assert_eq!(
        rss.items[0].published.as_deref(),
        Some("2025-06-10T04:00:00+00:00")
    );
    assert!(rss.items[0].description.contains("<b>world</b>"));
    assert!(
        !rss.items[0].description.contains("script"),
        "feed HTML is sanitized"
    );
    assert_eq!(feeds.subscriptions[1].items[0].title, "Atom story");
    assert_eq!(
        feeds.subscriptions[2].items[0].description,
        "<p>From JSON</p>"
    );
}

#[tokio::test]
async fn subscribing_and_unsubscribing_are_idempotent() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api(local_fetching()).await;
    let url = publisher.url("/rss.xml");
    assert_eq!(
        api.subscribe("bob", &url).await.status(),
        StatusCode::CREATED
    );
    let again = api.subscribe("bob", &url).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(
        !again
            .json::<SubscriptionChange>()
            .await
            .expect("json")
            .changed
    );
    assert_eq!(api.feeds("bob").await.subscriptions.len(), 1);

    let removed: SubscriptionChange = api
        .unsubscribe("bob", &url)
        .await
        .json()
        .await
        .expect("json");
    assert!(removed.changed);
    let again: SubscriptionChange = api
        .unsubscribe("bob", &url)
        .await
        .json()
        .await
        .expect("json");
    assert!(!again.changed);
    assert!(api.feeds("bob").await.subscriptions.is_empty());
}

#[tokio::test]
async fn broken_feeds_carry_their_own_error_and_never_hide_the_others() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api(local_fetching()).await;
    for path in [
        "/broken.xml",
        "/rss.xml",
        "/missing.xml",
        "/page.html",
        "/huge.xml",
    ] {
        api.subscribe("cy", &publisher.url(path)).await;
    }
    api.subscribe("cy", "http://127.0.0.1:9/nothing-listens-here")
        .await;
    let feeds = api.feeds("cy").await;
    let errors: Vec<_> = feeds
        .subscriptions
        .iter()
        .map(|s| s.error.clone())
        .collect();
    assert!(
        errors[0]
            .as_deref()
            .is_some_and(|e| e.contains("malformed")),
        "{errors:?}"
    );
    assert_eq!(errors[1], None);
    assert_eq!(feeds.subscriptions[1].items.len(), 2);
    assert_eq!(
        errors[2].as_deref(),
        Some("the server answered 404 Not Found")
    );
    assert_eq!(
        errors[3].as_deref(),
        Some("this is not an RSS, Atom or JSON feed")
    );
    assert_eq!(
        errors[4].as_deref(),
        Some("the feed is larger than the 10 MiB limit")
    );
    assert_eq!(
        errors[5].as_deref(),
        Some("could not connect to the server")
    );
}

#[tokio::test]
async fn redirects_are_followed() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api(local_fetching()).await;
    api.subscribe("dee", &publisher.url("/moved.xml")).await;
    let feeds = api.feeds("dee").await;
    assert_eq!(feeds.subscriptions[0].title, "Loopback Daily");
    assert_eq!(
        feeds.subscriptions[0].url,
        publisher.url("/moved.xml"),
        "the subscription keeps its URL"
    );
}

#[tokio::test]
async fn private_addresses_are_refused_by_default() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api(FetchSettings::default()).await;
    api.subscribe("eve", &publisher.url("/rss.xml")).await;
    api.subscribe(
        "eve",
        &publisher.url("/rss.xml").replace("127.0.0.1", "localhost"),
    )
    .await;
    let feeds = api.feeds("eve").await;
    assert_eq!(
        feeds.subscriptions[0].error.as_deref(),
        Some("127.0.0.1 is a private or local address, which feeds may not use")
    );
    assert_eq!(
        feeds.subscriptions[1].error.as_deref(),
        Some("localhost is a private or local address, which feeds may not use")
    );
}

#[tokio::test]
async fn bad_input_gets_400_with_a_message() {
    let api = spawn_api(local_fetching()).await;
    let cases = [
        (
            "ann",
            Some("not a url"),
            "'not a url' is not a valid URL: relative URL without a base",
        ),
        (
            "ann",
            Some("ftp://example.com/feed"),
            "only http and https feed URLs are supported, not 'ftp:'",
        ),
        ("ann", None, "feed URL is missing"),
        (
            "a%20b",
            Some("https://example.com/feed"),
            "user name must be 1 to 64 characters of letters, digits, '.', '_', '-' or '@'",
        ),
    ];
    for (user, url, message) in cases {
        let mut request = api.http.post(format!("{}/{user}", api.base));
        if let Some(url) = url {
            request = request.query(&[("url", url)]);
        }
        let response = request.send().await.expect("post");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{user} {url:?}");
        assert_eq!(
            response.json::<ErrorBody>().await.expect("json").error,
            message
        );
    }
}

/// Every reqwest client needs the TLS provider that `platform` installs.
fn http() -> reqwest::Client {
    platform::http::client_builder()
        .build()
        .expect("http client")
}
