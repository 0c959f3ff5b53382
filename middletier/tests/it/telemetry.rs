//! The middle tier's `/metrics` (on its admin port): requests by route, feed fetches by outcome, store calls by
//! operation, all moving as a user subscribes.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use middletier::store::MemoryStore;
use middletier::testing::FeedPublisher;
use platform::lifecycle::Shutdown;
use platform::testing::scrape_metrics;

use crate::support::registry_for_middletier;

#[tokio::test]
async fn subscribing_moves_the_request_fetch_and_store_metrics() {
    let publisher = FeedPublisher::start().await;
    let stop = Shutdown::new();
    let mut settings = middletier::Settings::default();
    settings.server.port = 0;
    settings.registry.url = registry_for_middletier(&stop).await.into();
    settings.fetch.allow_private_networks = true;
    // Only the subscriptions below fetch; the refresher stays out of the counts.
    settings.refresh.scan_interval = Duration::from_secs(3600);
    let app = middletier::Application::build_with_store(settings, Arc::new(MemoryStore::new()))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let admin = app.admin_url();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    let client = platform::http::client_builder().build().unwrap();

    let before = scrape_metrics(&client, &admin).await;
    assert_eq!(before.sum("rss_fetches_total", &[]), 0.0);
    for (feed, expected) in [("/rss.xml", 201), ("/missing.xml", 400)] {
        let response = client
            .post(format!("{base}/middletier/rss/user/alice"))
            .query(&[("url", publisher.url(feed))])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{feed}");
    }
    client
        .get(format!("{base}/middletier/rss/user/alice"))
        .send()
        .await
        .unwrap();

    let after = scrape_metrics(&client, &admin).await;
    let subscribed = [
        ("method", "POST"),
        ("route", "/middletier/rss/user/{user}"),
        ("status", "201"),
    ];
    assert_eq!(after.sum("rss_http_requests_total", &subscribed), 1.0);
    assert_eq!(
        after.sum(
            "rss_http_requests_total",
            &[("route", "/middletier/rss/user/{user}"), ("status", "400")]
        ),
        1.0
    );
    assert_eq!(after.sum("rss_fetches_total", &[("outcome", "ok")]), 1.0);
    assert_eq!(
        after.sum("rss_fetches_total", &[("outcome", "http_error")]),
        1.0
    );
    assert_eq!(
        after.sum("rss_fetch_duration_seconds_count", &[("outcome", "ok")]),
        1.0
    );
    assert!(after.sum("rss_fetch_duration_seconds_sum", &[]) > 0.0);
    // Store calls by operation; this store never fails.
    assert!(
        after.sum(
            "rss_store_duration_seconds_count",
            &[("op", "subscribe"), ("outcome", "ok")]
        ) >= 1.0
    );
    assert!(
        after.sum(
            "rss_store_duration_seconds_count",
            &[("op", "subscriptions"), ("outcome", "ok")]
        ) + after.sum(
            "rss_store_duration_seconds_count",
            &[("op", "reading"), ("outcome", "ok")]
        ) >= 1.0
    );
    assert_eq!(after.sum("rss_store_errors_total", &[]), 0.0);
    assert_eq!(after.types["rss_store_duration_seconds"], "histogram");
    stop.cancel();
}
