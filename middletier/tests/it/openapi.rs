//! The middle tier's OpenAPI document, and schemathesis fuzzing the running middle tier (with
//! its service token) against it: no 5xx, every status code, content type, header and JSON
//! body as documented.
//!
//! schemathesis is installed (pinned) by `deploy/install-test-deps.sh` into
//! `~/.cache/rss-recipe/schemathesis/venv`; this test fails, never skips, without it.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use middletier::testing::FeedPublisher;
use platform::config::Secret;
use platform::lifecycle::Shutdown;
use platform::testing::run_schemathesis;
use serde_json::Value;

use crate::support::{http, registry_for_middletier};

const TOKEN: &str = "openapi-test-token";

/// A registry and a middle tier with a service token, serving until `shutdown`. Feeds may be
/// fetched from `publisher` only (the SSRF guard stays on for everything else), and fetches
/// give up quickly, so fuzzed feed URLs cannot hold a request for long.
async fn start(shutdown: &Shutdown, publisher: &FeedPublisher) -> String {
    let registry_url = registry_for_middletier(shutdown).await;
    let mut settings = middletier::Settings::default();
    settings.server.port = 0;
    settings.registry.url = registry_url.into();
    settings.fetch.allowed_hosts = publisher.authority().to_owned();
    settings.fetch.connect_timeout = Duration::from_secs(1);
    settings.fetch.timeout = Duration::from_secs(2);
    settings.api.token = Some(Secret::new(TOKEN));
    let app = middletier::Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let publisher = FeedPublisher::start().await;
    let shutdown = Shutdown::new();
    let base = start(&shutdown, &publisher).await;
    // Served without the token: the document is public, the API is not.
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
        ("/middletier/rss/user/{user}", "get"),
        ("/middletier/rss/user/{user}", "post"),
        ("/middletier/rss/user/{user}", "delete"),
        ("/middletier/rss/user/{user}/opml", "get"),
        ("/middletier/rss/user/{user}/opml", "post"),
        ("/middletier/rss/user/{user}/items", "get"),
        ("/middletier/rss/user/{user}/item", "get"),
        ("/middletier/rss/user/{user}/items/state", "post"),
        ("/middletier/rss/user/{user}/items/read", "post"),
        ("/middletier/rss/user/{user}/category", "put"),
        ("/middletier/accounts", "post"),
        ("/middletier/accounts/{user}", "get"),
        ("/middletier/accounts/{user}/sessions", "delete"),
        ("/middletier/sessions", "post"),
        ("/middletier/sessions/{token_hash}", "get"),
        ("/middletier/sessions/{token_hash}", "delete"),
        ("/middletier/rss/user/{user}/title", "put"),
        ("/middletier/rss/user/{user}/categories/rename", "post"),
        ("/middletier/rss/user/{user}/categories/{name}", "delete"),
        ("/middletier/accounts/{user}/app-passwords", "get"),
        ("/middletier/accounts/{user}/app-passwords", "post"),
        ("/middletier/accounts/{user}/app-passwords/{id}", "delete"),
        ("/middletier/app-passwords/by-secret/{hash}", "get"),
        ("/middletier/app-passwords/by-fever/{hash}", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    assert!(
        document["components"]["securitySchemes"]["token"].is_object(),
        "the service token is documented"
    );
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_errors_and_no_schema_violations() {
    let publisher = FeedPublisher::start().await;
    let shutdown = Shutdown::new();
    let base = start(&shutdown, &publisher).await;
    // The user the document's examples name, subscribed to a real feed, so examples reach
    // real data.
    let feed = publisher.url("/rss.xml");
    let subscribed = http()
        .post(format!("{base}/middletier/rss/user/alice"))
        .query(&[("url", feed.as_str())])
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(subscribed.status(), reqwest::StatusCode::CREATED);

    let output = run_schemathesis(
        &format!("{base}/openapi.json"),
        &[&format!("Authorization: Bearer {TOKEN}")],
    )
    .await;
    shutdown.cancel();
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
