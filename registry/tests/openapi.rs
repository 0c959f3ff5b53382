//! The registry's OpenAPI document, and schemathesis fuzzing the running registry against it:
//! no 5xx, every status code, content type, header and JSON body as documented.
//!
//! schemathesis is installed (pinned) by `deploy/install-test-deps.sh` into
//! `~/.cache/rss-recipe/schemathesis/venv`; this test fails, never skips, without it.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use platform::lifecycle::Shutdown;
use serde_json::Value;

/// Where `deploy/install-test-deps.sh` puts schemathesis.
fn schemathesis() -> PathBuf {
    let cache = std::env::var_os("RSS_CACHE_DIR").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/rss-recipe"),
        PathBuf::from,
    );
    let path = cache.join("schemathesis/venv/bin/schemathesis");
    assert!(
        path.is_file(),
        "schemathesis is not installed at {}: run deploy/install-test-deps.sh",
        path.display()
    );
    path
}

fn http() -> reqwest::Client {
    platform::http::client_builder().build().unwrap()
}

/// A registry on a loopback port, serving until `shutdown`.
async fn start_registry(shutdown: &Shutdown) -> String {
    let mut settings = registry::Settings::default();
    settings.server.port = 0;
    let app = registry::Application::build(settings).unwrap();
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
    let schemathesis = schemathesis();
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

    let output = run_schemathesis(&schemathesis, &format!("{base}/openapi.json")).await;
    shutdown.cancel();
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs schemathesis against `schema` with a bounded number of examples, in a scratch
/// directory (it keeps no database or reports in the work tree).
async fn run_schemathesis(schemathesis: &PathBuf, schema: &str) -> std::process::Output {
    let scratch =
        std::env::temp_dir().join(format!("registry-schemathesis-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let run = tokio::process::Command::new(schemathesis)
        .current_dir(&scratch)
        .args([
            "run",
            schema,
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "40",
            "--request-timeout",
            "10",
            "--generation-database",
            "none",
            "--no-color",
        ])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("schemathesis finishes within 5 minutes")
        .expect("schemathesis runs");
    let _ = std::fs::remove_dir_all(scratch);
    output
}
