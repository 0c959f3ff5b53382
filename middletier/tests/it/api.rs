//! The middle tier's REST API over real HTTP on loopback, with a real feed publisher.

use std::sync::Arc;

use middletier::fetch::FetchSettings;
use middletier::service::FeedService;
use middletier::store::MemoryStore;
use middletier::testing::FeedPublisher;
use middletier_api::{ErrorBody, SubscriptionChange, UserFeeds};
use reqwest::StatusCode;

use crate::support::http;

struct TestApi {
    base: String,
    http: reqwest::Client,
    service: FeedService,
}

async fn spawn_api(fetch: FetchSettings) -> TestApi {
    let service = middletier::testing::feed_service(Arc::new(MemoryStore::new()), fetch);
    let root = middletier::testing::serve_api(service.clone()).await;
    let base = format!("{root}middletier/rss/user");
    TestApi {
        base,
        http: http(),
        service,
    }
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
async fn urls_that_are_not_feeds_are_refused_with_the_reason() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api(local_fetching()).await;
    let cases = [
        ("/missing.xml", "the server answered 404 Not Found"),
        (
            "/gone.xml",
            "the publisher says this feed is gone (410 Gone)",
        ),
        ("/huge.xml", "the feed is larger than the 10 MiB limit"),
    ];
    for (path, reason) in cases {
        let response = api.subscribe("cy", &publisher.url(path)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            response.json::<ErrorBody>().await.expect("json").error,
            reason,
            "{path}"
        );
    }
    let broken = api.subscribe("cy", &publisher.url("/broken.xml")).await;
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    let reason = broken.json::<ErrorBody>().await.expect("json").error;
    assert!(reason.starts_with("the feed is malformed"), "{reason}");
    assert!(
        api.feeds("cy").await.subscriptions.is_empty(),
        "nothing was subscribed"
    );
}

#[tokio::test]
async fn a_web_page_with_several_feeds_asks_which_one() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api(local_fetching()).await;
    let response = api
        .subscribe("gus", &publisher.url("/html-with-links.html"))
        .await;
    assert_eq!(response.status(), StatusCode::MULTIPLE_CHOICES);
    let body: ErrorBody = response.json().await.expect("json");
    let urls: Vec<_> = body.candidates.iter().map(|c| c.url.clone()).collect();
    assert_eq!(
        urls,
        [publisher.url("/rss.xml"), publisher.url("/atom.xml")]
    );
    assert!(
        api.feeds("gus").await.subscriptions.is_empty(),
        "nothing subscribed until chosen"
    );
}

#[tokio::test]
async fn a_feed_that_is_down_for_now_is_subscribed_and_shows_why() {
    let api = spawn_api(local_fetching()).await;
    let response = api
        .subscribe("dan", "http://127.0.0.1:9/nothing-listens-here")
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "a transient failure is worth retrying later"
    );
    let feeds = api.feeds("dan").await;
    assert_eq!(
        feeds.subscriptions[0].error.as_deref(),
        Some("could not connect to the server")
    );
    assert!(feeds.subscriptions[0].status.next_refresh.is_some());
}

#[tokio::test]
async fn a_feed_that_breaks_later_keeps_its_last_items_beside_the_error_and_others_render() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api(local_fetching()).await;
    api.subscribe("eva", &publisher.url("/switch.xml")).await;
    api.subscribe("eva", &publisher.url("/atom.xml")).await;

    publisher.set_switch(500, "oops");
    let later = chrono::Utc::now() + chrono::Duration::days(2);
    assert_eq!(
        api.service
            .refresher()
            .run_once(later)
            .await
            .expect("refresh"),
        2
    );

    let feeds = api.feeds("eva").await;
    let broken = &feeds.subscriptions[0];
    assert_eq!(
        broken.error.as_deref(),
        Some("the server answered 500 Internal Server Error")
    );
    assert_eq!(broken.status.http_status, Some(500));
    assert_eq!(broken.items.len(), 2, "the last good items are still shown");
    assert!(broken.status.last_success.is_some());
    assert_eq!(feeds.subscriptions[1].error, None);
    assert_eq!(feeds.subscriptions[1].items[0].title, "Atom story");
}

#[tokio::test]
async fn a_permanent_redirect_subscribes_to_the_new_url_and_a_temporary_one_keeps_the_old() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api(local_fetching()).await;
    let moved: SubscriptionChange = api
        .subscribe("fay", &publisher.url("/perm2.xml"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        moved.url,
        publisher.url("/rss.xml"),
        "two 301s: the feed lives at the end"
    );
    let temporary: SubscriptionChange = api
        .subscribe("fay", &publisher.url("/redirect/2"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(temporary.url, publisher.url("/redirect/2"));
    let feeds = api.feeds("fay").await;
    assert!(
        feeds
            .subscriptions
            .iter()
            .all(|s| s.title == "Loopback Daily" && s.error.is_none())
    );
}

#[tokio::test]
async fn private_addresses_are_refused_by_default() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api(FetchSettings::default()).await;
    for (url, host) in [
        (publisher.url("/rss.xml"), "127.0.0.1"),
        (
            publisher.url("/rss.xml").replace("127.0.0.1", "localhost"),
            "localhost",
        ),
    ] {
        let response = api.subscribe("eve", &url).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.json::<ErrorBody>().await.expect("json").error,
            format!("{host} is a private or local address, which feeds may not use")
        );
    }
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

/// The bytes of an item's strings, as the per-feed budget counts them.
fn item_bytes(item: &middletier_api::Item) -> usize {
    middletier::refresh::item_bytes(item)
}

#[tokio::test]
async fn relative_links_under_a_long_feed_url_cannot_amplify_what_the_api_answers() {
    use middletier_api::limits::{MAX_DESCRIPTION_BYTES, MAX_TITLE_BYTES};
    let publisher = FeedPublisher::start().await;
    let api = spawn_api(local_fetching()).await;
    // 110 KB of `<img src=.>` per item under a 2,000-character URL: each image's link made
    // absolute is 2 KB, 20 MB per description before the caps.
    let url = publisher.url(&format!("/amplify/{}/feed.xml", "a".repeat(2000)));
    let started = std::time::Instant::now();
    assert_eq!(
        api.subscribe("amp", &url).await.status(),
        StatusCode::CREATED
    );
    let response = api
        .http
        .get(format!("{}/amp", api.base))
        .send()
        .await
        .expect("get");
    let body = response.bytes().await.expect("body");
    crate::support::assert_bounded(
        "subscribing to an amplifying feed",
        started.elapsed(),
        std::time::Duration::from_secs(60),
    );
    let feeds: UserFeeds = serde_json::from_slice(&body).expect("json");
    let items = &feeds.subscriptions[0].items;
    assert_eq!(items.len(), 5, "every item is kept, cut to size");
    for item in items {
        assert!(
            item.description.len() <= MAX_DESCRIPTION_BYTES,
            "description of {} bytes",
            item.description.len()
        );
        assert!(
            item.description.contains("<img src=\"http://"),
            "links kept"
        );
        assert!(
            item.title.len() <= MAX_TITLE_BYTES,
            "title of {} bytes",
            item.title.len()
        );
        assert!(item.title.ends_with('…'), "a cut title says so");
    }
    // JSON escapes each `"` of the markup: at most twice the bytes.
    assert!(
        body.len() <= 2 * 5 * (MAX_DESCRIPTION_BYTES + MAX_TITLE_BYTES) + 4096,
        "the whole answer is {} bytes",
        body.len()
    );
}

#[tokio::test]
async fn a_feed_over_its_byte_budget_keeps_only_its_newest_items() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api(local_fetching()).await;
    let metrics = platform::metrics::Metrics::new("middletier");
    api.service.refresher().register_metrics(&metrics);
    // 80 items of a full description each: about 5 MiB, over the 2 MiB default budget.
    let url = publisher.url("/amplify/budget.xml?items=80");
    assert_eq!(
        api.subscribe("budget", &url).await.status(),
        StatusCode::CREATED
    );
    let feeds = api.feeds("budget").await;
    let items = &feeds.subscriptions[0].items;
    let budget = middletier::refresh::RefreshSettings::default().max_feed_bytes;
    let stored: usize = items.iter().map(item_bytes).sum();
    assert!(stored <= budget, "{stored} bytes kept, budget {budget}");
    assert!(
        items.len() < 80 && items.len() > 20,
        "{} items kept",
        items.len()
    );
    let ids: Vec<&str> = items.iter().map(|item| item.id.as_str()).collect();
    let newest: Vec<String> = (0..items.len()).map(|n| format!("amplify-{n}")).collect();
    assert_eq!(ids, newest, "the oldest were dropped");
    assert!(
        metrics.encode().contains(&format!(
            "rss_feed_items_dropped_total {}",
            80 - items.len()
        )),
        "{}",
        metrics.encode()
    );
}
