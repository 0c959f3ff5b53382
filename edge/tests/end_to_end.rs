//! The whole recipe working end to end: a user subscribes through the edge's form, reads, and
//! unsubscribes, while middle tiers come and go.

mod support;

use std::time::{Duration, Instant};

use middletier::testing::FeedPublisher;
use reqwest::StatusCode;
use support::{Browser, System, eventually, http};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_through_the_form_shows_items_from_rss_atom_and_json_feeds() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);

    let empty = browser.home().await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(
        empty.html.contains("No subscriptions yet"),
        "{}",
        empty.html
    );

    for path in ["/rss.xml", "/atom.xml", "/feed.json"] {
        let page = browser.subscribe(&publisher.url(path)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    }
    let page = browser.home().await;
    for expected in [
        "Loopback Daily",
        "RSS first story",
        "RSS second story",
        "<b>world</b>",
        "Atom Weekly",
        "Atom story",
        "JSON Journal",
        "JSON story",
        r#"href="http://publisher.test/rss/1""#,
        r#"<time datetime="2025-06-10T04:00:00+00:00">"#,
    ] {
        assert!(
            page.html.contains(expected),
            "missing {expected:?} in {}",
            page.html
        );
    }
    assert!(
        !page.html.contains("alert(1)"),
        "feed scripts must never reach the page"
    );

    let page = browser.unsubscribe(&publisher.url("/atom.xml")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.html.contains("Atom Weekly"), "{}", page.html);
    assert!(page.html.contains("Loopback Daily"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_breaks_shows_its_error_while_the_others_render() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/switch.xml")).await;
    browser.subscribe(&publisher.url("/atom.xml")).await;

    // The publisher breaks; the background refresher notices on its next check.
    publisher.set_switch(404, "not here");
    eventually("the page shows the feed's error", || async {
        browser
            .home()
            .await
            .html
            .contains("This feed could not be read: the server answered 404 Not Found")
    })
    .await;
    let page = browser.home().await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.html
            .contains("Showing the items from the last successful check"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("RSS first story"),
        "the last good items stay"
    );
    assert!(page.html.contains("Atom story"), "the other feed renders");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_that_is_not_a_feed_is_refused_with_the_reason_and_the_input_kept() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    let typed = publisher.url("/missing.xml");
    let page = browser.subscribe(&typed).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.html.contains("the server answered 404 Not Found"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(&format!(r#"value="{typed}""#)),
        "{}",
        page.html
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_url_is_refused_with_a_message_and_the_input_kept() {
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    let page = browser.subscribe("javascript:alert(1)").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.html
            .contains("only http and https feed URLs are supported, not &#x27;javascript:&#x27;")
            || page
                .html
                .contains("only http and https feed URLs are supported, not &#39;javascript:&#39;"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(r#"value="javascript:alert(1)""#),
        "the input is kept: {}",
        page.html
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_form_posts_are_refused() {
    let system = System::start(1).await;
    let response = http()
        .post(format!("{}/subscriptions", system.edge.url()))
        .header("Sec-Fetch-Site", "cross-site")
        .header("Origin", "https://evil.example")
        .form(&[("url", "https://example.com/feed.xml")])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_request_succeeds_when_one_of_two_middletiers_dies() {
    let publisher = FeedPublisher::start().await;
    let mut system = System::start(2).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/rss.xml")).await;

    // Killed, not stopped: it stays registered, so the edge must retry on the other one.
    system.middletiers.remove(0).kill().await;
    for _ in 0..10 {
        let page = browser.home().await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.html.contains("RSS first story"), "{}", page.html);
        assert!(
            !page.html.contains("banner"),
            "no fallback was needed: {}",
            page.html
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_serves_the_stale_page_fast_when_all_middletiers_are_down() {
    let publisher = FeedPublisher::start().await;
    let mut system = System::start(2).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/rss.xml")).await;
    assert!(browser.home().await.html.contains("RSS first story"));

    for middletier in system.middletiers.drain(..) {
        middletier.kill().await;
    }
    let started = Instant::now();
    let page = browser.home().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("banner-stale"), "{}", page.html);
    assert!(
        page.html.contains("Showing your feeds as they were"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("RSS first story"),
        "the stale items are shown"
    );

    // Writes can't fall back to old data: they say so and keep what the user typed.
    let typed = publisher.url("/atom.xml");
    let page = browser.subscribe(&typed).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.html.contains("Your change was not saved"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(&format!(r#"value="{typed}""#)),
        "{}",
        page.html
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_with_no_earlier_page_gets_an_error_banner_when_no_middletier_is_registered() {
    let system = System::start(0).await;
    let page = Browser::new(&system.edge).home().await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.html
            .contains("Your feeds can&#x27;t be shown right now")
            || page
                .html
                .contains("Your feeds can&#39;t be shown right now"),
        "{}",
        page.html
    );
    assert!(page.html.contains("banner-error"));
}
