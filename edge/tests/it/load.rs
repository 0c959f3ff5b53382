//! The edge under load, in process: many readers against healthy middle tiers get the real
//! page, never the fallback; beyond what the edge admits it sheds deliberately (the last good
//! page, or 503 with `Retry-After`) without opening its breaker, and recovers once the load
//! drops. Debug builds on a shared machine: the tests count answers by kind and read the
//! edge's metrics; none asserts a speed (that is `deploy/load/`'s and the benches' job).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use middletier::testing::FeedPublisher;
use platform::testing::scrape_metrics;

use crate::support::load::Load;
use crate::support::{Browser, System, another_edge, eventually, http};

const RSS_GET: [(&str, &str); 1] = [("command", "RSSGet")];

/// A system with one middle tier and a subscribed feed, so every page is the real river.
async fn subscribed(system: &System, publisher: &FeedPublisher) {
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/rss.xml")).await;
    assert!(browser.home().await.html.contains("RSS first story"));
}

/// Under Hystrix's static bulkhead of 10, 32 readers were rejected, the rejections opened the
/// breaker and nearly every page became the stale fallback while the middle tier idled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_then_128_readers_against_one_healthy_middletier_get_only_real_pages() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    subscribed(&system, &publisher).await;

    for (readers, pages) in [(32, 8), (128, 3)] {
        let tally = Load::run(&system.edge, readers, pages).await;
        tally.assert_all_served(&format!("{readers} readers"));
        assert_eq!(tally.total(), readers * pages);
    }
    let metrics = scrape_metrics(&http(), &system.edge.admin_url()).await;
    let short_circuited = [("command", "RSSGet"), ("event", "short_circuited")];
    assert_eq!(
        metrics.sum("rss_edge_command_events_total", &short_circuited),
        0.0
    );
}

/// 512 readers against an edge whose `RSSGet` admits 8 in flight and 32 waiting (fixed), and
/// a healthy middle tier that takes 100 ms per call (the chaos middleware's latency): a limit
/// lower than the adaptive defaults and a middle tier slower than on loopback, so that
/// shedding is certain even when a debug build on a shared two-core machine, busy rendering,
/// can't put hundreds of calls in flight at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_its_limit_the_edge_sheds_without_opening_the_breaker_and_then_recovers() {
    const QUEUE: u32 = 32;
    let publisher = FeedPublisher::start().await;
    let system = System::start_tuned(
        vec![Arc::new(middletier::store::MemoryStore::new())],
        |middletier| {
            middletier.chaos.enabled = true;
            middletier.chaos.latency = std::time::Duration::from_millis(100);
        },
        |edge| {
            let concurrency = &mut edge.commands.get.concurrency;
            concurrency.limiter = edge::resilience::limiter::LimiterKind::Fixed;
            concurrency.limit = 8;
            concurrency.queue = QUEUE;
        },
    )
    .await;
    subscribed(&system, &publisher).await;

    // The queue's length, read from the metrics for as long as the load runs.
    let admin = system.edge.admin_url();
    let done = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn({
        let done = done.clone();
        async move {
            let client = http();
            let mut longest = 0.0_f64;
            while !done.load(Ordering::Relaxed) {
                let metrics = scrape_metrics(&client, &admin).await;
                longest = longest.max(metrics.sum("rss_edge_bulkhead_queued", &RSS_GET));
            }
            longest
        }
    });
    let tally = Load::run(&system.edge, 512, 2).await;
    done.store(true, Ordering::Relaxed);
    let longest_queue = watcher.await.expect("the watcher");

    tally.assert_no_error("512 readers");
    let metrics = scrape_metrics(&http(), &system.edge.admin_url()).await;
    let event = |name| {
        metrics.sum(
            "rss_edge_command_events_total",
            &[("command", "RSSGet"), ("event", name)],
        )
    };
    assert!(
        event("semaphore_rejected") > 0.0,
        "nothing was shed: {}",
        tally.summary()
    );
    assert_eq!(event("short_circuited"), 0.0, "the breaker never opened");
    assert_eq!(
        metrics.sum(
            "rss_edge_circuit_state",
            &[("command", "RSSGet"), ("state", "closed")]
        ),
        1.0
    );
    assert!(
        longest_queue <= f64::from(QUEUE),
        "the queue held {longest_queue}"
    );

    let browser = Browser::new(&system.edge);
    eventually("a reader gets the real page again", || async {
        let page = browser.home().await;
        page.status == reqwest::StatusCode::OK && !page.html.contains("banner banner-")
    })
    .await;
    Load::run(&system.edge, 32, 5)
        .await
        .assert_all_served("32 readers after the overload");
}

/// A shed call with no last good answer to give is told when to come back: 503 with
/// `Retry-After` (1 s), for a river page never read before, the feed list, a write and the
/// JSON answer `reader.js` asks for. Each command here
/// admits one call and queues none, and the middle tier hangs, so one call in flight is enough
/// to shed the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shed_call_without_a_fallback_answers_503_with_retry_after() {
    let system = System::start_tuned(
        vec![Arc::new(middletier::store::MemoryStore::new())],
        |middletier| middletier.chaos.enabled = true,
        |edge| {
            let commands = &mut edge.commands;
            for command in [&mut commands.get, &mut commands.add, &mut commands.mark] {
                command.concurrency.limiter = edge::resilience::limiter::LimiterKind::Fixed;
                command.concurrency.limit = 1;
                command.concurrency.queue = 0;
            }
        },
    )
    .await;
    let chaos = format!("{}/chaos", system.middletiers[0].admin_url());
    let response = http()
        .put(&chaos)
        .json(&serde_json::json!({ "hang": true }))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let browser = Arc::new(Browser::new(&system.edge));
    let in_flight = |command: &'static str| {
        let admin = system.edge.admin_url();
        async move {
            let metrics = scrape_metrics(&http(), &admin).await;
            metrics.sum("rss_edge_bulkhead_in_flight", &[("command", command)]) >= 1.0
        }
    };

    let hung_read = tokio::spawn({
        let browser = browser.clone();
        async move { browser.get("/?filter=starred").send().await }
    });
    eventually("a read holds RSSGet's one place", || in_flight("RSSGet")).await;
    let shed = browser.get("/?filter=all").send().await.expect("an answer");
    assert_eq!(shed.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()["retry-after"], "1");
    let html = shed.text().await.expect("a body");
    assert!(html.contains("busy"), "{html}");

    // The feed list, as the river: nothing to fall back on.
    let shed = browser
        .get("/subscriptions")
        .send()
        .await
        .expect("an answer");
    assert_eq!(shed.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()["retry-after"], "1");

    let hung_write = tokio::spawn({
        let browser = browser.clone();
        async move { browser.subscribe("http://feeds.example/a.xml").await }
    });
    eventually("a write holds RSSAdd's one place", || in_flight("RSSAdd")).await;
    let shed = browser
        .post("/subscriptions")
        .form(&[("url", "http://feeds.example/b.xml")])
        .send()
        .await
        .expect("an answer");
    assert_eq!(shed.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()["retry-after"], "1");
    let html = shed.text().await.expect("a body");
    assert!(
        html.contains("http://feeds.example/b.xml"),
        "the input is kept: {html}"
    );

    let mark = [
        ("feed", "http://feeds.example/a.xml"),
        ("item", "1"),
        ("read", "true"),
    ];
    let hung_mark = tokio::spawn({
        let browser = browser.clone();
        async move { browser.post("/items/state").form(&mark).send().await }
    });
    eventually("a mark holds RSSMark's one place", || in_flight("RSSMark")).await;
    let shed = browser
        .post("/items/state")
        .header("Accept", "application/json")
        .form(&mark)
        .send()
        .await
        .expect("an answer");
    assert_eq!(shed.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()["retry-after"], "1");
    let answer: serde_json::Value = shed.json().await.expect("JSON");
    let error = answer["error"].as_str().expect("an error message");
    assert!(error.contains("busy"), "{answer}");

    hung_read.abort();
    hung_write.abort();
    hung_mark.abort();
}

/// A signed-in reader whose session can't be checked because `RSSSession` is shed, on an edge
/// that has not seen the session before (so it has no cached one to fall back on), is told
/// when to come back too, rather than sent to sign in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shed_session_check_answers_503_with_retry_after() {
    let system = System::start_tuned(
        vec![Arc::new(middletier::store::MemoryStore::new())],
        |middletier| middletier.chaos.enabled = true,
        |edge| edge.accounts.single_user = false,
    )
    .await;
    let signed_up = Browser::signed_up(&system.edge, "shedsession").await;
    let other = another_edge(&system, 1, |edge| {
        let concurrency = &mut edge.commands.session.concurrency;
        concurrency.limiter = edge::resilience::limiter::LimiterKind::Fixed;
        concurrency.limit = 1;
        concurrency.queue = 0;
    })
    .await;
    let browser = Arc::new(Browser {
        base: other.url(),
        ..signed_up
    });
    let response = http()
        .put(format!("{}/chaos", system.middletiers[0].admin_url()))
        .json(&serde_json::json!({ "hang": true }))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), reqwest::StatusCode::OK);

    let hung = tokio::spawn({
        let browser = browser.clone();
        async move { browser.get("/").send().await }
    });
    let admin = other.admin_url();
    eventually("a session check holds RSSSession's one place", || async {
        let metrics = scrape_metrics(&http(), &admin).await;
        metrics.sum("rss_edge_bulkhead_in_flight", &[("command", "RSSSession")]) >= 1.0
    })
    .await;
    let shed = browser.get("/").send().await.expect("an answer");
    assert_eq!(shed.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()["retry-after"], "1");
    let html = shed.text().await.expect("a body");
    assert!(html.contains("busy"), "{html}");
    hung.abort();
}
