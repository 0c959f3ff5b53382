//! The edge under failure: middle tiers killed under load, all of them down, a failing one
//! that recovers (through the chaos middleware), a new one joining, and the metrics stream and
//! dashboard that show it all. Load comes from [`crate::support::load`], which tells real pages
//! from fallbacks. The few wall-clock bounds are marked by [`assert_bounded`]; how fast the
//! edge is under load is for the benches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use middletier::store::{MemoryStore, Store};
use middletier::testing::FeedPublisher;
use reqwest::StatusCode;

use crate::support::load::{Kind, Load};
use crate::support::{
    Browser, Service, System, assert_bounded, edge_instances, eventually, first_event, http,
    middletier_settings, spawn_middletier,
};

/// Middle tiers that stay registered after a kill, as a crashed one does until its lease
/// expires: only the edge's own detection can steer traffic away in time.
fn long_lease(settings: &mut middletier::Settings) {
    settings.registry.lease_duration = Duration::from_secs(60);
}

fn shared_stores(n: usize) -> Vec<Arc<dyn Store>> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    vec![store; n]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_two_middletiers_under_32_readers_causes_no_error_and_few_stale_pages() {
    const READERS: usize = 32;
    let publisher = FeedPublisher::start().await;
    let mut system = System::start_tuned(shared_stores(2), long_lease, |_| {}).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/rss.xml")).await;

    let load = Load::start(&system.edge, READERS, None);
    load.answers(100).await;
    let killed = system.middletiers.remove(0);
    let killed_port = format!(":{}/", killed.port);
    killed.kill().await;
    // Still registered, but ejected after a few failures: it no longer gets traffic.
    let is_killed = |instance: &serde_json::Value| {
        instance["url"]
            .as_str()
            .expect("a string")
            .contains(&killed_port)
    };
    eventually("the edge ejects the killed middle tier", || async {
        edge_instances(&system.edge)
            .await
            .iter()
            .any(|instance| is_killed(instance) && instance["state"] == "ejected")
    })
    .await;
    load.answers(100).await;
    let instances = edge_instances(&system.edge).await;
    let tally = load.stop().await;

    tally.assert_no_error("a middle tier killed under load");
    let stale = tally.count(Kind::Stale) + tally.count(Kind::Shed);
    assert!(
        stale * 100 <= tally.total(),
        "more than 1 % degraded pages: {}",
        tally.summary()
    );
    for answer in &tally.answers {
        if answer.kind == Kind::Served {
            assert!(answer.body.contains("RSS first story"), "{}", answer.body);
        }
    }
    let dead = instances
        .iter()
        .find(|instance| is_killed(instance))
        .expect("the killed middle tier is still registered");
    assert_eq!(dead["state"], "ejected", "{dead}");
    let failures = dead["failures"].as_u64().expect("a number");
    assert!(
        failures <= 3 + READERS as u64,
        "3 failures in a row eject it (plus at most one in flight per reader): {failures}"
    );
}

/// With every middle tier down, the breaker opens and the fallback answers without waiting on
/// them: every page is the last good one, and no call ran into its timeout. (The fallback's
/// speed is for the benches: a wall-clock bound here would fail on a busy machine.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_middletier_down_the_breaker_opens_and_the_fallback_never_waits_on_them() {
    let publisher = FeedPublisher::start().await;
    let mut system = System::start_tuned(shared_stores(2), long_lease, |_| {}).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/rss.xml")).await;
    assert!(browser.home().await.html.contains("RSS first story"));

    for middletier in system.middletiers.drain(..) {
        middletier.kill().await;
    }
    let tally = Load::run(&system.edge, 4, 50).await;

    tally.assert_no_error("every middle tier down");
    assert_eq!(
        tally.count(Kind::Stale),
        tally.total(),
        "{}",
        tally.summary()
    );
    for answer in &tally.answers {
        assert!(answer.body.contains("banner-stale"), "{}", answer.body);
        assert!(answer.body.contains("RSS first story"));
    }
    let command = get_command(&system.edge).await;
    assert_eq!(command["isCircuitBreakerOpen"], true, "{command}");
    assert!(
        command["rollingCountShortCircuited"]
            .as_u64()
            .expect("a number")
            > 0,
        "{command}"
    );
    assert_eq!(command["rollingCountTimeout"], 0, "{command}");
}

/// The chaos walkthrough in `docs/operations.md` as a test: a middle tier starts failing, the breaker opens
/// and the stale page is served without calling it; the middle tier recovers and the breaker
/// closes within one sleep window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_on_injected_errors_and_closes_within_a_sleep_window_of_recovery() {
    let sleep_window = Duration::from_secs(1);
    let publisher = FeedPublisher::start().await;
    let system = System::start_tuned(
        shared_stores(1),
        |middletier| middletier.chaos.enabled = true,
        |edge| {
            let breaker = &mut edge.commands.get.breaker;
            breaker.request_volume_threshold = 5;
            breaker.sleep_window = sleep_window;
        },
    )
    .await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/rss.xml")).await;
    assert!(browser.home().await.html.contains("RSS first story"));

    let chaos = format!("{}/chaos", system.middletiers[0].admin_url());
    let response = http()
        .put(&chaos)
        .json(&serde_json::json!({ "error_rate": 1.0 }))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);

    eventually("the breaker opens", || async {
        browser.home().await;
        get_command(&system.edge).await["isCircuitBreakerOpen"] == true
    })
    .await;
    let page = browser.home().await;
    assert!(page.html.contains("banner-stale"), "{}", page.html);
    assert!(
        page.html.contains("calls to it are paused"),
        "{}",
        page.html
    );
    assert!(page.html.contains("RSS first story"));

    let response = crate::support::middletier_http()
        .delete(&chaos)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let recovered = Instant::now();
    eventually("the page is fresh again", || async {
        !browser.home().await.html.contains("banner")
    })
    .await;
    // One sleep window, plus room for the polling: a breaker that waited out its rolling
    // window (10 s) or needed a second trial would break the bound.
    assert_bounded(
        "the breaker closing after recovery",
        recovered.elapsed(),
        sleep_window + Duration::from_millis(300),
    );
    assert_eq!(
        get_command(&system.edge).await["isCircuitBreakerOpen"],
        false
    );
}

/// The `RSSGet` command from the edge's Hystrix stream (on its admin port).
async fn get_command(edge: &Service) -> serde_json::Value {
    first_event(&format!("{}/hystrix.stream", edge.admin_url())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_middletier_gets_traffic_within_a_second() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let system = System::start_tuned(
        vec![store.clone()],
        |_| {},
        |edge| {
            // The edge's own default, not the tests' fast refresh.
            edge.registry.fetch_interval = edge::Settings::default().registry.fetch_interval;
        },
    )
    .await;
    let browser = Browser::new(&system.edge);

    let newcomer = spawn_middletier(middletier_settings(&system.registry), store).await;
    let started = Instant::now();
    let address = format!(":{}/", newcomer.port);
    eventually("the new middle tier serves a request", || async {
        browser.home().await;
        edge_instances(&system.edge).await.iter().any(|instance| {
            instance["url"]
                .as_str()
                .expect("a string")
                .contains(&address)
                && instance["requests"].as_u64().expect("a number") > 0
        })
    })
    .await;
    // The edge's default discovery refresh (500 ms) and a page: within a second.
    assert_bounded(
        "the new middle tier's first request",
        started.elapsed(),
        Duration::from_secs(1),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hystrix_stream_speaks_the_dashboard_format_to_at_most_five_clients() {
    let system = System::start_tuned(
        shared_stores(1),
        |_| {},
        |edge| {
            edge.stream = edge::stream::StreamSettings::default();
        },
    )
    .await;
    let url = format!("{}/hystrix.stream", system.edge.admin_url());
    let mut streams = Vec::new();
    for _ in 0..5 {
        let response = http().get(&url).send().await.expect("an answer");
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("a text header");
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        streams.push(response);
    }
    let sixth = http().get(&url).send().await.expect("an answer");
    assert_eq!(sixth.status(), StatusCode::SERVICE_UNAVAILABLE);

    let mut text = String::new();
    while !text.contains("ping: ") {
        let chunk = streams[0]
            .chunk()
            .await
            .expect("a chunk")
            .expect("more events");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let events: Vec<serde_json::Value> = text
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).expect("JSON"))
        .collect();
    for name in ["RSSGet", "RSSAdd", "RSSDel", "RSSImport"] {
        for kind in ["HystrixCommand", "HystrixThreadPool"] {
            assert!(
                events
                    .iter()
                    .any(|e| e["type"] == kind && e["name"] == name),
                "no {kind} {name} in {text}"
            );
        }
    }

    // A client leaving frees its slot.
    drop(streams.pop());
    eventually("a slot is free again", || async {
        http().get(&url).send().await.expect("an answer").status() == StatusCode::OK
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_the_reader_run_only_their_own_scripts() {
    let system = System::start(1).await;
    let base = system.edge.url();
    let admin = system.edge.admin_url();
    let csp = |response: &reqwest::Response| {
        response.headers()["content-security-policy"]
            .to_str()
            .expect("a text header")
            .to_owned()
    };

    let dashboard = http()
        .get(format!("{admin}/dashboard"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(dashboard.status(), StatusCode::OK);
    let policy = csp(&dashboard);
    assert!(policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"));
    let html = dashboard.text().await.expect("a body");
    for expected in [
        "RSSGet",
        "circuit-closed",
        "instance-available",
        r#"src="/static/dashboard.js""#,
    ] {
        assert!(html.contains(expected), "missing {expected} in {html}");
    }
    assert!(!html.contains("<script>"), "no inline script");

    // The reader runs its own script too (reader.js), never an inline one.
    let home = http()
        .get(format!("{base}/"))
        .send()
        .await
        .expect("an answer");
    let policy = csp(&home);
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let html = home.text().await.expect("a body");
    assert!(html.contains(r#"src="/static/reader.js""#), "{html}");
    assert!(!html.contains("<script>"), "no inline script");

    let script = http()
        .get(format!("{admin}/static/dashboard.js"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .expect("a text header")
            .starts_with("text/javascript")
    );
}
