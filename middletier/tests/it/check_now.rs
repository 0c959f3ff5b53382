//! "Check now" over the contract (`POST /middletier/rss/user/{user}/refresh` through the typed
//! client): a subscribed feed fetched at once with the result stored, once per interval per
//! user and feed, only for the user's own feeds, hostile bodies refused.

use std::sync::Arc;
use std::time::Duration;

use middletier::fetch::FetchSettings;
use middletier::store::MemoryStore;
use middletier::testing::{FeedPublisher, RSS};
use middletier_api::limits::MAX_URL_LEN;
use middletier_api::{CallError, Checked, MiddletierClient};
use reqwest::StatusCode;

use crate::support::http;

async fn api() -> (url::Url, MiddletierClient) {
    let fetch = FetchSettings {
        allow_private_networks: true,
        ..FetchSettings::default()
    };
    let service = middletier::testing::feed_service(Arc::new(MemoryStore::new()), fetch);
    let root = middletier::testing::serve_api(service).await;
    let client =
        MiddletierClient::new(Duration::from_secs(5), Duration::from_secs(20)).expect("client");
    (root, client)
}

fn rejected_with(result: Result<Checked, CallError>, expected: StatusCode) -> String {
    match result {
        Err(CallError::Rejected { status, message }) if status == expected => message,
        other => panic!("expected {expected}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_fetches_the_feed_now_stores_the_result_and_the_next_must_wait() {
    let publisher = FeedPublisher::start().await;
    let (root, client) = api().await;
    let url = publisher.url("/switch.xml");
    client
        .subscribe(&root, "ann", &url)
        .await
        .expect("subscribed");
    publisher.set_switch(500, "");

    let Ok(Checked::Done(feed)) = client.check_now(&root, "ann", &url).await else {
        panic!("the check ran");
    };
    assert!(
        feed.error.as_deref().is_some_and(|e| e.contains("500")),
        "{feed:?}"
    );
    assert_eq!(feed.status.http_status, Some(500));
    assert_eq!(feed.status.consecutive_failures, 1);
    assert!(feed.items.is_empty(), "the answer carries no items");
    // Stored: the feed list says the same, with the items of the last success kept.
    let listed = client.feeds(&root, "ann").await.expect("feeds");
    let listed = &listed.subscriptions[0];
    assert_eq!(listed.error, feed.error);
    assert_eq!(listed.status.consecutive_failures, 1);
    assert!(!listed.items.is_empty());

    // At once again: refused with the wait, and the publisher is not asked.
    let fetched = publisher.requests("/switch.xml");
    match client.check_now(&root, "ann", &url).await {
        Ok(Checked::TooSoon { wait }) => {
            assert!(
                wait > Duration::ZERO && wait <= Duration::from_secs(30),
                "{wait:?}"
            );
        }
        other => panic!("expected too soon, got {other:?}"),
    }
    let raw = http()
        .post(format!("{root}middletier/rss/user/ann/refresh"))
        .json(&serde_json::json!({ "url": url }))
        .send()
        .await
        .expect("post");
    assert_eq!(raw.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(raw.headers().contains_key("retry-after"));
    assert_eq!(publisher.requests("/switch.xml"), fetched);

    // Someone else subscribing to the same feed has a limit of their own.
    publisher.set_switch(200, RSS);
    client
        .subscribe(&root, "bob", &url)
        .await
        .expect("subscribed");
    let Ok(Checked::Done(feed)) = client.check_now(&root, "bob", &url).await else {
        panic!("bob's check ran");
    };
    assert_eq!(feed.error, None);
    assert_eq!(feed.status.consecutive_failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_users_own_feeds_are_checked_and_hostile_bodies_are_refused() {
    let publisher = FeedPublisher::start().await;
    let (root, client) = api().await;
    let url = publisher.url("/rss.xml");
    client
        .subscribe(&root, "ann", &url)
        .await
        .expect("subscribed");
    let fetched = publisher.requests("/rss.xml");

    let message = rejected_with(
        client.check_now(&root, "eve", &url).await,
        StatusCode::NOT_FOUND,
    );
    assert!(message.contains("not subscribed"), "{message}");
    assert_eq!(
        publisher.requests("/rss.xml"),
        fetched,
        "never fetched for eve"
    );

    let huge = format!("{url}?{}", "a".repeat(MAX_URL_LEN));
    rejected_with(
        client.check_now(&root, "ann", &huge).await,
        StatusCode::BAD_REQUEST,
    );
    rejected_with(
        client.check_now(&root, "ann", "file:///etc/passwd").await,
        StatusCode::BAD_REQUEST,
    );
    rejected_with(
        client.check_now(&root, "not a user!", &url).await,
        StatusCode::BAD_REQUEST,
    );
    let endpoint = format!("{root}middletier/rss/user/ann/refresh");
    let not_json = http()
        .post(&endpoint)
        .body("{url:")
        .send()
        .await
        .expect("post");
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let oversized = http()
        .post(&endpoint)
        .header("content-type", "application/json")
        .body(format!("{{\"url\":\"{}\"}}", "a".repeat(1024 * 1024)))
        .send()
        .await
        .expect("post");
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(publisher.requests("/rss.xml"), fetched);
}
