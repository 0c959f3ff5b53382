//! Two middle tiers on one real Cassandra behind the edge: they share all state, and killing
//! one while the edge is serving fails no page.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use middletier::store::Store;
use middletier::testing::{FeedPublisher, cassandra_store};
use reqwest::StatusCode;

use crate::support::{Browser, System, eventually};

async fn two_middletiers_on_cassandra() -> System {
    // Each middle tier has its own session: they share only what is in Cassandra.
    let first: Arc<dyn Store> = Arc::new(cassandra_store().await);
    let second: Arc<dyn Store> = Arc::new(cassandra_store().await);
    System::start_on(vec![first, second]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn a_subscription_made_through_one_middletier_is_served_by_the_other() {
    let publisher = FeedPublisher::start().await;
    let system = two_middletiers_on_cassandra().await;
    // The edge reads as the default user; keep runs apart on a persistent database.
    let feed = format!(
        "{}?run={}",
        publisher.url("/rss.xml"),
        middletier::testing::unique_prefix()
    );
    Browser::new(&system.edge).subscribe(&feed).await;

    let client = crate::support::middletier_api(std::time::Duration::from_secs(10));
    for middletier in &system.middletiers {
        let base = url::Url::parse(&format!("{}/", middletier.url())).expect("url");
        let feeds = client.feeds(&base, "default").await.expect("feeds");
        assert!(
            feeds
                .subscriptions
                .iter()
                .any(|s| s.url == feed && s.title == "Loopback Daily"),
            "middle tier on port {} serves it: {feeds:?}",
            middletier.port
        );
    }
    Browser::new(&system.edge).unsubscribe(&feed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn killing_one_of_two_middletiers_while_the_edge_serves_fails_no_page() {
    let publisher = FeedPublisher::start().await;
    let mut system = two_middletiers_on_cassandra().await;
    let feed = format!(
        "{}?run={}",
        publisher.url("/rss.xml"),
        middletier::testing::unique_prefix()
    );
    let browser = Arc::new(Browser::new(&system.edge));
    browser.subscribe(&feed).await;

    // Readers keep loading the page before, during and after one middle tier is killed.
    let served = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (browser, served, stop) = (browser.clone(), served.clone(), stop.clone());
            tokio::spawn(async move {
                let mut pages = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let page = browser.home().await;
                    served.fetch_add(1, Ordering::Relaxed);
                    pages.push((
                        page.status,
                        page.html.contains("RSS first story"),
                        page.html.contains("banner"),
                    ));
                }
                pages
            })
        })
        .collect();
    eventually("pages are being served", || async {
        served.load(Ordering::Relaxed) >= 20
    })
    .await;
    system.middletiers.remove(0).kill().await;
    let at_kill = served.load(Ordering::Relaxed);
    eventually("pages keep being served", || async {
        served.load(Ordering::Relaxed) >= at_kill + 40
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        for (status, has_items, has_banner) in reader.await.expect("reader") {
            assert_eq!(status, StatusCode::OK);
            assert!(has_items && !has_banner, "every page is fresh and complete");
        }
    }
    browser.unsubscribe(&feed).await;
}
