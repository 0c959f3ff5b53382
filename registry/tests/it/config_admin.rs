//! `/admin/config` on the registry's admin port: the effective settings, as the operator
//! endpoint of every service shows them.

use platform::config::{Live, Source};
use platform::lifecycle::Shutdown;
use serde_json::Value;

#[tokio::test]
async fn admin_config_shows_the_settings_the_registry_runs_with() {
    let dir = std::env::temp_dir().join(format!("registry-config-admin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("registry.prod.toml"),
        "[lease]\neviction_interval = \"7s\"\n",
    )
    .unwrap();
    let shutdown = Shutdown::new();
    let config: Live<registry::Settings> = Source::new("registry", &dir)
        .environment("prod")
        .var("RSS_SERVER__PORT", "0")
        .var("RSS_SERVER__HOST", "127.0.0.1")
        .watch(shutdown.clone())
        .unwrap();
    let app = registry::Application::build_live(config).await.unwrap();
    let base = app.admin_url().trim_end_matches('/').to_owned();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));

    let http = platform::http::client_builder().build().unwrap();
    let response = http
        .get(format!("{base}/admin/config"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["service"], "registry");
    assert_eq!(report["environment"], "prod");
    assert_eq!(report["settings"]["lease"]["eviction_interval"], "7s");
    assert_eq!(
        report["settings"]["lease"]["duration"], "1m 30s",
        "a default"
    );
    assert_eq!(report["dynamic"], serde_json::json!(["log.level"]));
    shutdown.cancel();
}
