//! The registry's OpenAPI document, and schemathesis fuzzing the running registry against it:
//! no 5xx, every status code, content type, header and JSON body as documented.
//!
//! schemathesis is installed (pinned) by `deploy/install-test-deps.sh` into
//! `~/.cache/rss-recipe/schemathesis/venv`; this test fails, never skips, without it.

use platform::lifecycle::Shutdown;
use platform::testing::run_schemathesis;
use serde_json::Value;

fn http() -> reqwest::Client {
    platform::http::client_builder().build().unwrap()
}

/// A registry on a loopback port, serving until `shutdown`.
async fn start_registry(shutdown: &Shutdown) -> String {
    let mut settings = registry::Settings::default();
    settings.server.port = 0;
    let app = registry::Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    base
}

#[tokio::test]
async fn the_openapi_document_describes_the_eureka_api() {
    let shutdown = Shutdown::new();
    let base = start_registry(&shutdown).await;
    let document: Value = http()
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    for (path, method) in [
        ("/eureka/v2/apps", "get"),
        ("/eureka/v2/apps/delta", "get"),
        ("/eureka/v2/apps/{app}", "post"),
        ("/eureka/v2/apps/{app}", "get"),
        ("/eureka/v2/apps/{app}/{id}", "put"),
        ("/eureka/v2/apps/{app}/{id}", "delete"),
        ("/eureka/v2/apps/{app}/{id}/status", "put"),
        ("/eureka/v2/apps/{app}/{id}/status", "delete"),
        ("/eureka/v2/apps/{app}/{id}/metadata", "put"),
        ("/eureka/v2/instances/{id}", "get"),
        ("/eureka/v2/vips/{vip}", "get"),
        ("/eureka/v2/svips/{svip}", "get"),
        ("/eureka/v2/peerreplication/batch", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    let instance = &document["components"]["schemas"]["InstanceInfo"];
    assert_eq!(
        instance["properties"]["lastDirtyTimestamp"]["type"], "string",
        "timestamps are strings on Eureka's wire"
    );
    let required = instance["required"].as_array().unwrap();
    for field in ["hostName", "ipAddr"] {
        assert!(
            required.contains(&Value::from(field)),
            "a registration without {field} is refused, so the document requires it"
        );
    }
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_errors_and_no_schema_violations() {
    let shutdown = Shutdown::new();
    let base = start_registry(&shutdown).await;
    // The instance the document's examples name, so the examples reach real data rather than
    // 404s.
    let registered = http()
        .post(format!("{base}/eureka/v2/apps/MIDDLETIER"))
        .json(&serde_json::json!({"instance": {
            "instanceId": "127.0.0.1:middletier:9191", "hostName": "127.0.0.1",
            "app": "MIDDLETIER", "ipAddr": "127.0.0.1", "vipAddress": "middletier",
            "dataCenterInfo": {"name": "MyOwn"}
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), reqwest::StatusCode::NO_CONTENT);

    let output = run_schemathesis(&format!("{base}/openapi.json"), &[]).await;
    shutdown.cancel();
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
