//! Dynamic properties, end to end: an edge started from a configuration directory picks up a
//! changed file while it runs (command timeout, breaker thresholds and sleep window), refuses
//! an invalid file and keeps running on its last good configuration, and shows the effective
//! configuration at `/admin/config` without its secrets.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use middletier::store::{MemoryStore, Store};
use platform::config::{Live, Source};
use platform::lifecycle::Shutdown;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{
    eureka_url_as, eventually, first_event, http, middletier_settings, registry_settings,
    spawn_middletier, spawn_registry,
};

/// A middle-tier token an operator sets in the environment; it must never be shown.
const TOKEN: &str = "s3cr3t-t0ken-never-shown";

/// A fresh configuration directory for one test.
fn config_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edge-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Replaces the file the way editors and config management do: write aside, then rename, so
/// the service never reads half a file.
fn write_config(dir: &Path, text: &str) {
    let staged = dir.join(".edge.test.toml.new");
    std::fs::write(&staged, text).unwrap();
    std::fs::rename(&staged, dir.join("edge.test.toml")).unwrap();
}

/// An edge reading `dir` (environment `test`) and the variables a deployment would set,
/// running on this test's runtime until `shutdown`; returns its public and admin base URLs.
async fn start_edge(
    dir: &Path,
    registry_url: &str,
    shutdown: Shutdown,
) -> (String, String, Live<edge::Settings>) {
    let source = Source::new("edge", dir)
        .environment("test")
        .var("RSS_SERVER__PORT", "0")
        .var("RSS_REGISTRY__URL", registry_url)
        .var("RSS_REGISTRY__FETCH_INTERVAL", "100ms")
        .var("RSS_REGISTRY__RENEWAL_INTERVAL", "100ms")
        .var("RSS_READ_CACHE__FRESH_FOR", "0s")
        .var("RSS_ACCOUNTS__SINGLE_USER", "true")
        .var("RSS_MIDDLETIER__TOKEN", TOKEN);
    // Mutual TLS with the middle tiers, as `support::edge_settings` has it.
    let tls = crate::support::mtls_settings("edge");
    let path = |file: Option<std::path::PathBuf>| file.unwrap().display().to_string();
    let source = source
        .var("RSS_TLS__CA", &path(tls.ca))
        .var("RSS_TLS__CERT", &path(tls.cert))
        .var("RSS_TLS__KEY", &path(tls.key));
    let config = source.watch::<edge::Settings>(shutdown.clone()).unwrap();
    let app = edge::Application::build_live(config.clone()).await.unwrap();
    let public = format!("http://127.0.0.1:{}", app.port());
    let admin = app.admin_url().trim_end_matches('/').to_owned();
    tokio::spawn(app.run_until_stopped(shutdown));
    (public, admin, config)
}

async fn admin_config(admin: &str) -> Value {
    let response = http()
        .get(format!("{admin}/admin/config"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The reader's home page of an edge in single-user mode.
struct Home(String);

struct Page {
    status: StatusCode,
    html: String,
}

impl Home {
    async fn home(&self) -> Page {
        let response = http().get(format!("{}/", self.0)).send().await.unwrap();
        Page {
            status: response.status(),
            html: response.text().await.unwrap(),
        }
    }
}

/// RSSGet's state from `/hystrix.stream` on the edge's admin port (its first event).
async fn get_command(admin: &str) -> Value {
    first_event(&format!("{admin}/hystrix.stream")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_changes_timeouts_and_breaker_thresholds_without_a_restart() {
    let registry = spawn_registry(registry_settings(0)).await;
    let mut settings = middletier_settings(&registry);
    settings.chaos.enabled = true;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let middletier = spawn_middletier(settings, store).await;
    // Every middle-tier answer now takes 300 ms.
    let chaos = format!("{}/chaos", middletier.admin_url());
    let response = http()
        .put(&chaos)
        .json(&serde_json::json!({ "latency": "300ms" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let dir = config_dir("change");
    write_config(&dir, "[commands.get]\ntimeout = \"5s\"\n");
    let shutdown = Shutdown::new();
    let (edge, admin, _config) =
        start_edge(&dir, &eureka_url_as(&registry, "edge"), shutdown.clone()).await;
    let browser = Home(edge.clone());
    eventually("the edge serves feeds within the 5 s timeout", || async {
        let page = browser.home().await;
        page.status == StatusCode::OK && !page.html.contains("banner-")
    })
    .await;

    // Shorter than the middle tier's 300 ms, and a breaker that trips on two failures and
    // stays open for a minute: both apply to the next requests, with no restart.
    write_config(
        &dir,
        "[commands.get]\ntimeout = \"50ms\"\n\
         [commands.get.breaker]\nrequest_volume_threshold = 2\nsleep_window = \"1m\"\n",
    );
    eventually("the 50 ms timeout applies", || async {
        admin_config(&admin).await["settings"]["commands"]["get"]["timeout"] == "50ms"
    })
    .await;
    eventually("the breaker opens after two timeouts", || async {
        let page = browser.home().await;
        assert_eq!(page.status, StatusCode::OK, "the fallback answers");
        get_command(&admin).await["isCircuitBreakerOpen"] == true
    })
    .await;
    let page = browser.home().await;
    assert!(
        page.html.contains("calls to it are paused"),
        "an open breaker answers without calling: {}",
        page.html
    );

    // Back to a timeout the middle tier meets, and a sleep window of 100 ms: the breaker
    // lets its trial through at once and closes.
    write_config(
        &dir,
        "[commands.get]\ntimeout = \"5s\"\n\
         [commands.get.breaker]\nrequest_volume_threshold = 2\nsleep_window = \"100ms\"\n",
    );
    eventually("the breaker closes under the new sleep window", || async {
        let page = browser.home().await;
        page.status == StatusCode::OK
            && !page.html.contains("banner-")
            && get_command(&admin).await["isCircuitBreakerOpen"] == false
    })
    .await;
    let reloads = &admin_config(&admin).await["reloads"];
    assert_eq!(reloads["applied"], 2, "{reloads}");
    assert_eq!(reloads["rejected"], 0, "{reloads}");
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_change_is_refused_and_the_last_good_configuration_stays() {
    let registry = spawn_registry(registry_settings(0)).await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let _middletier = spawn_middletier(middletier_settings(&registry), store).await;
    let dir = config_dir("invalid");
    write_config(&dir, "[commands.get]\ntimeout = \"4s\"\n");
    let shutdown = Shutdown::new();
    let (edge, admin, config) =
        start_edge(&dir, &eureka_url_as(&registry, "edge"), shutdown.clone()).await;

    write_config(
        &dir,
        "[commands.get]\ntimeout = \"soon\"\n[commands.get.concurrency]\nlimit = 3\n",
    );
    eventually("the invalid file is refused", || async {
        admin_config(&admin).await["reloads"]["rejected"] == 1
    })
    .await;
    let report = admin_config(&admin).await;
    let error = report["reloads"]["last_error"].as_str().unwrap();
    assert!(
        error.contains("commands.get.timeout") && error.contains("RSS_COMMANDS__GET__TIMEOUT"),
        "the refusal names the key: {error}"
    );
    assert_eq!(report["settings"]["commands"]["get"]["timeout"], "4s");
    assert_eq!(
        report["settings"]["commands"]["get"]["concurrency"]["limit"], 64,
        "nothing of an invalid file applies, not even its valid keys"
    );
    // The registry URL shows who the edge calls the registry as, never the secret.
    let registry_url = report["settings"]["registry"]["url"].as_str().unwrap();
    assert_eq!(
        registry_url,
        format!(
            "http://edge:[redacted]@127.0.0.1:{}/eureka/v2/",
            registry.port
        )
    );
    assert!(
        !report
            .to_string()
            .contains(registry::testing::credentials().secret("edge"))
    );
    assert_eq!(config.get().commands.get.timeout, Duration::from_secs(4));
    let page = Home(edge.clone()).home().await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.html.contains("banner-"), "{}", page.html);

    // A later valid file applies as usual.
    write_config(&dir, "[commands.get]\ntimeout = \"3s\"\n");
    eventually("the next valid file applies", || async {
        config.get().commands.get.timeout == Duration::from_secs(3)
    })
    .await;
    // One refusal, one change: nothing else was counted.
    let reloads = &admin_config(&admin).await["reloads"];
    assert_eq!(reloads["rejected"], 1, "{reloads}");
    assert_eq!(reloads["applied"], 1, "{reloads}");
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_config_shows_the_effective_configuration_without_secrets() {
    let registry = spawn_registry(registry_settings(0)).await;
    let dir = config_dir("admin");
    write_config(
        &dir,
        "[server]\nport = 1\n[commands.add]\ntimeout = \"7s\"\n",
    );
    let shutdown = Shutdown::new();
    let (_edge, admin, _config) =
        start_edge(&dir, &eureka_url_as(&registry, "edge"), shutdown.clone()).await;
    let response = http()
        .get(format!("{admin}/admin/config"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[reqwest::header::CACHE_CONTROL],
        "no-store"
    );
    let text = response.text().await.unwrap();
    assert!(!text.contains(TOKEN), "a secret leaked: {text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["service"], "edge");
    assert_eq!(report["environment"], "test");
    assert_eq!(report["watched"], true);
    let settings = &report["settings"];
    // Every layer is visible: the file's timeout, the variable's port over the file's.
    assert_eq!(settings["commands"]["add"]["timeout"], "7s");
    assert_eq!(settings["commands"]["get"]["timeout"], "10s", "a default");
    assert_eq!(settings["server"]["port"], 0);
    assert!(
        report["dynamic"]
            .as_array()
            .unwrap()
            .contains(&Value::from("commands.*.timeout"))
    );
    shutdown.cancel();
}
