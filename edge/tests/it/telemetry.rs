//! Operating the whole system: one user request carries one id through the edge and the middle
//! tier's logs; every service's `/metrics` parses and moves with traffic; the edge's readiness
//! follows discovery.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use middletier::store::Store;
use middletier::testing::{FeedPublisher, TcpProxy};
use platform::telemetry::{LogFormat, LogSettings};
use platform::testing::{LogCapture, scrape_metrics};

use crate::support::{
    Browser, System, eventually, fast_client, http, registry_settings, spawn_edge, spawn_registry,
};

/// Every service in this test process logs JSON here (the subscriber is process-wide).
fn logs() -> &'static LogCapture {
    static LOGS: OnceLock<LogCapture> = OnceLock::new();
    LOGS.get_or_init(|| {
        let capture = LogCapture::default();
        let settings = LogSettings {
            format: LogFormat::Json,
            level: "info,access=debug".to_owned(),
        };
        let guard =
            platform::telemetry::init_with_writer("tests", &settings, capture.writer()).unwrap();
        // `RUST_LOG` would win at start-up; the access lines are needed whatever it says.
        platform::telemetry::set_log_filter("info,access=debug").unwrap();
        // The writer must outlive every test in the process.
        std::mem::forget(guard);
        capture
    })
}

/// The services (`span.service`) that logged a line within the request `id`.
fn services_logging(id: &str) -> Vec<String> {
    let mut services: Vec<String> = logs()
        .text()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|line| {
            let spans = line["spans"].as_array()?;
            let request = spans.iter().find(|span| span["request_id"] == id)?;
            request["service"].as_str().map(str::to_owned)
        })
        .collect();
    services.sort();
    services.dedup();
    services
}

#[tokio::test]
async fn one_user_request_has_one_id_in_the_response_and_both_services_logs() {
    logs();
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/rss.xml")).await;

    let response = browser
        .get("/")
        .header("X-Request-Id", "page-view-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "page-view-7f3a");
    eventually("both services log the page view's id", || async {
        services_logging("page-view-7f3a") == ["edge", "middletier"]
    })
    .await;

    // Without one, the edge makes one up and it travels the same way.
    let response = browser.get("/").send().await.unwrap();
    let made = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(made.len(), 32);
    eventually("both services log the new id", || async {
        services_logging(&made) == ["edge", "middletier"]
    })
    .await;

    // A hostile id is not trusted: neither echoed nor logged.
    let response = browser
        .get("/")
        .header("X-Request-Id", "x\"}, \"forged\": \"1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"].len(), 32);
    assert!(!logs().text().contains("forged"));
}

#[tokio::test]
async fn every_services_metrics_parse_and_move_with_a_page_view() {
    logs();
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/rss.xml")).await;

    let home = [("method", "GET"), ("route", "/"), ("status", "200")];
    let rss_get = [("command", "RSSGet")];
    let before = scrape_metrics(&http(), &system.edge.admin_url()).await;
    assert_eq!(browser.home().await.status, 200);
    let after = scrape_metrics(&http(), &system.edge.admin_url()).await;

    assert_eq!(
        after.sum("rss_http_requests_total", &home),
        before.sum("rss_http_requests_total", &home) + 1.0
    );
    let successes = [("command", "RSSGet"), ("event", "success")];
    assert_eq!(
        after.sum("rss_edge_command_events_total", &successes),
        before.sum("rss_edge_command_events_total", &successes) + 1.0
    );
    assert!(after.sum("rss_edge_command_latency_seconds_count", &rss_get) >= 1.0);
    assert_eq!(
        after.sum(
            "rss_edge_circuit_state",
            &[("command", "RSSGet"), ("state", "closed")]
        ),
        1.0
    );
    assert_eq!(
        after.sum(
            "rss_edge_circuit_state",
            &[("command", "RSSGet"), ("state", "open")]
        ),
        0.0
    );
    // The adaptive limit's start: one page at a time is far under it, so it has not moved.
    assert_eq!(after.sum("rss_edge_bulkhead_capacity", &rss_get), 64.0);
    assert_eq!(after.sum("rss_edge_bulkhead_in_flight", &rss_get), 0.0);
    assert_eq!(after.sum("rss_edge_bulkhead_queued", &rss_get), 0.0);
    assert_eq!(
        after.sum("rss_edge_middletier_instances", &[("state", "available")]),
        1.0
    );
    assert!(after.has("rss_edge_retries_refused_total", &[]));

    let middletier = scrape_metrics(&http(), &system.middletiers[0].admin_url()).await;
    // The page reads through one of the user's routes; which one is the UI's business.
    let reads: f64 = middletier
        .samples
        .iter()
        .filter(|sample| {
            sample.name == "rss_http_requests_total"
                && sample.labels["method"] == "GET"
                && sample.labels["status"] == "200"
                && sample.labels["route"].starts_with("/middletier/rss/user/{user}")
        })
        .map(|sample| sample.value)
        .sum();
    assert!(reads >= 1.0);
    assert!(middletier.sum("rss_fetches_total", &[("outcome", "ok")]) >= 1.0);

    let registry = scrape_metrics(&http(), &system.registry.admin_url()).await;
    for app in ["MIDDLETIER", "EDGE"] {
        assert_eq!(
            registry.sum("rss_registry_instances", &[("app", app), ("status", "UP")]),
            1.0,
            "{app}"
        );
    }
    // Services renew every 100 ms here: the counter keeps moving.
    let renewals = registry.sum("rss_registry_renewals_total", &[]);
    eventually("the registry counts renewals", || async {
        scrape_metrics(&http(), &system.registry.admin_url())
            .await
            .sum("rss_registry_renewals_total", &[])
            > renewals
    })
    .await;
}

#[tokio::test]
async fn an_open_circuit_shows_in_the_edges_metrics() {
    logs();
    let mut system = System::start_tuned(
        vec![std::sync::Arc::new(middletier::store::MemoryStore::new()) as Arc<dyn Store>],
        |_| {},
        |edge| {
            edge.commands.get.breaker.request_volume_threshold = 2;
            edge.commands.get.breaker.sleep_window = Duration::from_secs(60);
        },
    )
    .await;
    system.middletiers.pop().unwrap().kill().await;
    let browser = Browser::new(&system.edge);
    eventually("RSSGet's circuit is reported open", || async {
        browser.home().await;
        let metrics = scrape_metrics(&http(), &system.edge.admin_url()).await;
        metrics.sum(
            "rss_edge_circuit_state",
            &[("command", "RSSGet"), ("state", "open")],
        ) == 1.0
    })
    .await;
    let metrics = scrape_metrics(&http(), &system.edge.admin_url()).await;
    let failures = [("command", "RSSGet"), ("event", "failure")];
    assert!(metrics.sum("rss_edge_command_events_total", &failures) >= 1.0);
    let short = [("command", "RSSGet"), ("event", "short_circuited")];
    browser.home().await;
    let later = scrape_metrics(&http(), &system.edge.admin_url()).await;
    assert!(
        later.sum("rss_edge_command_events_total", &short)
            > metrics.sum("rss_edge_command_events_total", &short)
    );
}

#[tokio::test]
async fn the_edge_is_ready_once_the_registry_has_answered() {
    logs();
    // The registry runs from the start (on port 0, like every server here) behind a proxy
    // that refuses every connection until the test lets them through: until then, to the
    // edge, it is a registry that has never answered.
    let registry = spawn_registry(registry_settings(0)).await;
    let proxy = TcpProxy::start(&format!("127.0.0.1:{}", registry.port), false).await;
    let mut settings = edge::Settings::default();
    settings.server.port = 0;
    settings.registry = fast_client(
        &registry::testing::credentials()
            .url_as("edge", &format!("http://{}/eureka/v2/", proxy.address)),
    );
    settings.accounts.single_user = true;
    let edge = spawn_edge(settings).await;
    let client = http();
    let readyz = client
        .get(format!("{}/readyz", edge.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503);
    let body: serde_json::Value = readyz.json().await.unwrap();
    assert_eq!(body["checks"]["discovery"]["status"], "STARTING", "{body}");
    let healthz = client
        .get(format!("{}/healthz", edge.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);

    // The registry becomes reachable where the edge looks for it; no middle tier is needed.
    proxy.restore();
    eventually("the edge is ready", || async {
        client
            .get(format!("{}/readyz", edge.url()))
            .send()
            .await
            .is_ok_and(|response| response.status() == 200)
    })
    .await;
}
