//! Dynamic properties on the middle tier: a changed refresh schedule applies while it runs,
//! and `/admin/config` shows the effective configuration without the service token.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use middletier::testing::FeedPublisher;
use platform::config::Source;
use platform::lifecycle::Shutdown;
use platform::testing::eventually;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::registry_for_middletier;

const TOKEN: &str = "mt-token-that-must-never-show";

fn config_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("middletier-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Write aside, then rename, as config management does.
fn write_config(dir: &Path, text: &str) {
    let staged = dir.join(".staged");
    std::fs::write(&staged, text).unwrap();
    std::fs::rename(&staged, dir.join("middletier.test.toml")).unwrap();
}

/// A registry and a middle tier reading `dir`, on this test's runtime until `shutdown`;
/// returns the middle tier's public and admin base URLs.
async fn start(dir: &Path, shutdown: &Shutdown) -> (String, String) {
    let registry_url = registry_for_middletier(shutdown).await;

    let config = Source::new("middletier", dir)
        .environment("test")
        .var("RSS_SERVER__PORT", "0")
        .var("RSS_REGISTRY__URL", &registry_url)
        .var("RSS_FETCH__ALLOW_PRIVATE_NETWORKS", "true")
        .var("RSS_API__TOKEN", TOKEN)
        .watch::<middletier::Settings>(shutdown.clone())
        .unwrap();
    let app = middletier::Application::build_live(config).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let admin = app.admin_url().trim_end_matches('/').to_owned();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    (base, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shorter_scan_interval_applies_at_once_without_a_restart() {
    let publisher = FeedPublisher::start().await;
    let dir = config_dir("scan");
    // Feeds are due 100 ms after a fetch, but the refresher looks only once an hour.
    write_config(
        &dir,
        "[refresh]\ninterval = \"100ms\"\nmin_interval = \"100ms\"\nmax_interval = \"1s\"\n\
         scan_interval = \"1h\"\n",
    );
    let shutdown = Shutdown::new();
    let (base, _) = start(&dir, &shutdown).await;
    let http = platform::http::client_builder().build().unwrap();
    let feed = publisher.url("/rss.xml");
    let response = http
        .post(format!("{base}/middletier/rss/user/alice"))
        .query(&[("url", feed.as_str())])
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        publisher.requests("/rss.xml"),
        1,
        "fetched once on subscribing"
    );

    write_config(
        &dir,
        "[refresh]\ninterval = \"100ms\"\nmin_interval = \"100ms\"\nmax_interval = \"1s\"\n\
         scan_interval = \"50ms\"\n",
    );
    eventually(
        "the refresher wakes up under the new scan interval and refetches the feed",
        Duration::from_secs(10),
        || async { publisher.requests("/rss.xml") >= 3 },
    )
    .await;
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_config_never_shows_the_service_token() {
    let dir = config_dir("admin");
    write_config(&dir, "[refresh]\nscan_interval = \"7s\"\n");
    let shutdown = Shutdown::new();
    let (_, admin) = start(&dir, &shutdown).await;
    // An operator endpoint, on the admin port, outside the token-protected API.
    let response = platform::http::client_builder()
        .build()
        .unwrap()
        .get(format!("{admin}/admin/config"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(!text.contains(TOKEN), "the token leaked: {text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["service"], "middletier");
    assert_eq!(report["settings"]["refresh"]["scan_interval"], "7s");
    assert_eq!(report["settings"]["store"]["kind"], "memory");
    shutdown.cancel();
}
