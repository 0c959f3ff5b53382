//! Health and lifecycle of a real middle tier: SIGTERM lets the request in flight finish and
//! exits 0 promptly; a store that is not connected keeps the instance alive but not ready, and
//! so not UP in the registry.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use platform::lifecycle::Shutdown;
use platform::testing::{eventually, parse_prometheus};

use crate::support::{assert_bounded, http};

/// A registry on loopback for this test.
pub(crate) async fn registry() -> (String, registry::Registry, Shutdown) {
    let mut settings = registry::testing::credentials().secure(registry::Settings::default());
    settings.server.port = 0;
    let app = registry::Application::build(settings).await.unwrap();
    let (url, handle) = (
        registry::testing::credentials().url_as("middletier", app.base_url().as_str()),
        app.registry(),
    );
    let shutdown = Shutdown::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    (url, handle, shutdown)
}

/// The `middletier` binary with JSON logs on stdout, each line sent to the returned channel.
pub(crate) fn spawn_binary(
    registry_url: &str,
    extra: &[(&str, &str)],
) -> (Child, mpsc::Receiver<serde_json::Value>) {
    // An empty configuration directory: only the variables below apply.
    let config_dir = std::env::temp_dir().join(format!("rss-health-{}", std::process::id()));
    std::fs::create_dir_all(&config_dir).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_middletier"));
    command
        .env_clear()
        .env("RSS_CONFIG_DIR", &config_dir)
        .env("RSS_SERVER__PORT", "0")
        .env("RSS_REGISTRY__URL", registry_url)
        .env("RSS_REGISTRY__RENEWAL_INTERVAL", "200ms")
        .env("RSS_SERVER__SHUTDOWN_GRACE", "200ms")
        .env("RSS_LOG__FORMAT", "json")
        .env("RSS_LOG__LEVEL", "info,access=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, value) in extra {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let parsed: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {line}"));
            if lines.send(parsed).is_err() {
                break;
            }
        }
    });
    (child, receiver)
}

/// Receives lines until one satisfies `wanted`, keeping every line seen in `seen`.
pub(crate) fn wait_for_line(
    lines: &mpsc::Receiver<serde_json::Value>,
    seen: &mut Vec<serde_json::Value>,
    what: &str,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    if let Some(line) = seen.iter().find(|line| wanted(line)) {
        return line.clone();
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no log line {what} within 20 s; saw {seen:#?}"));
        seen.push(line.clone());
        if wanted(&line) {
            return line;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_zero_promptly() {
    let (registry_url, registry, _registry_stop) = registry().await;
    // Every API call takes 1.5 s, so one is surely in flight when the signal comes.
    let (mut child, lines) = spawn_binary(
        &registry_url,
        &[
            ("RSS_CHAOS__ENABLED", "true"),
            ("RSS_CHAOS__LATENCY", "1500ms"),
        ],
    );
    let mut seen = Vec::new();
    let listening = tokio::task::block_in_place(|| {
        wait_for_line(&lines, &mut seen, "saying where it listens", |line| {
            line["fields"]["message"] == "middle tier listening"
        })
    });
    let base = listening["fields"]["url"].as_str().unwrap().to_owned();
    let admin = listening["fields"]["admin"].as_str().unwrap().to_owned();
    let client = http();
    eventually(
        "the middle tier is registered and ready",
        Duration::from_secs(20),
        || async {
            let ready = client
                .get(format!("{base}readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            ready && registry.len() == 1
        },
    )
    .await;

    let in_flight = tokio::spawn({
        let (client, base) = (client.clone(), base.clone());
        async move {
            client
                .get(format!("{base}middletier/rss/user/alice"))
                .header("X-Request-Id", "in-flight-at-sigterm")
                .send()
                .await
        }
    });
    eventually(
        "the slow request is in flight",
        Duration::from_secs(10),
        || async {
            let Ok(response) = client.get(format!("{admin}metrics")).send().await else {
                return false;
            };
            let metrics = parse_prometheus(&response.text().await.unwrap()).unwrap();
            // The scrape counts itself.
            metrics.sum("rss_http_requests_in_flight", &[]) >= 2.0
        },
    )
    .await;

    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());

    let response = in_flight
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "in-flight-at-sigterm");
    let mut exit = None;
    eventually("the process exits", Duration::from_secs(10), || {
        exit = exit.or_else(|| child.try_wait().unwrap());
        std::future::ready(exit.is_some())
    })
    .await;
    let exit = exit.unwrap();
    assert!(exit.success(), "exit status {exit}");
    // The figure docs/operations.md quotes (`--nocapture` shows it).
    eprintln!("exited {:?} after SIGTERM", signalled.elapsed());
    // 1.5 s of request plus the grace and a drain; far below the 60 s request timeout.
    assert_bounded("stopping", signalled.elapsed(), Duration::from_secs(5));
    // It left the registry first, and its log was flushed to the last line.
    assert_eq!(registry.len(), 0);
    tokio::task::block_in_place(|| {
        wait_for_line(&lines, &mut seen, "for the finished request", |line| {
            line["target"] == "access" && line["span"]["request_id"] == "in-flight-at-sigterm"
        });
        wait_for_line(&lines, &mut seen, "about the signal", |line| {
            line["fields"]["message"] == "shutdown signal received"
        });
    });
}

#[tokio::test]
async fn a_middletier_without_its_store_is_alive_but_neither_ready_nor_up() {
    let (registry_url, registry, _registry_stop) = registry().await;
    // Nothing listens there: the store keeps trying to connect.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut settings = middletier::Settings::default();
    settings.server.port = 0;
    settings.registry.url = registry_url.into();
    settings.registry.renewal_interval = Duration::from_millis(100);
    settings.store.kind = middletier::settings::StoreKind::Cassandra;
    settings.cassandra.nodes = nowhere.to_string();
    let app = middletier::Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = Shutdown::new();
    let served = tokio::spawn(app.run_until_stopped(stop.clone()));
    let client = http();

    eventually(
        "the instance is registered",
        Duration::from_secs(10),
        || async { registry.len() == 1 },
    )
    .await;
    let registered = registry.applications();
    let instance = &registered.application[0].instance[0];
    assert_eq!(instance.status, registry_client::Status::Starting);

    let readyz = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), 503);
    let body: serde_json::Value = readyz.json().await.unwrap();
    assert_eq!(body["checks"]["store"]["status"], "STARTING", "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("Cassandra"),
        "{body}"
    );
    let healthz = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), 200);
    let health = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 503);

    stop.cancel();
    served.await.unwrap().unwrap();
}
