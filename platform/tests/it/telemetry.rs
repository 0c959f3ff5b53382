//! Logging through `platform::telemetry`: JSON lines carry the request's id, and the filter
//! changes at run time.
//!
//! The subscriber is global to the process, so this is one test, and the only one in this
//! binary that installs it. The other tests run beside it and their lines land in its capture
//! too (and follow its filter changes); it reads only the lines of its own request ids and
//! messages, so they change nothing it checks.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use platform::metrics::Metrics;
use platform::telemetry::{LogFormat, LogSettings, init_with_writer, log_filter, set_log_filter};
use platform::testing::{LogCapture, eventually};

#[tokio::test]
async fn json_lines_carry_the_request_id_and_levels_change_at_run_time() {
    let capture = LogCapture::default();
    let settings = LogSettings {
        format: LogFormat::Json,
        level: "info".to_owned(),
    };
    let _guard = init_with_writer("test", &settings, capture.writer()).unwrap();
    assert_eq!(
        log_filter().as_deref(),
        Some("info"),
        "this test installs the process's subscriber: no other test of this binary may"
    );

    let routes = Router::new().route(
        "/work",
        get(|| async {
            tracing::info!("working on it");
            tracing::debug!("detail");
            "ok"
        }),
    );
    let router = platform::server::with_standard_layers(
        routes,
        Duration::from_secs(5),
        &Metrics::new("test"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/work", listener.local_addr().unwrap());
    tokio::spawn(platform::server::serve(
        listener,
        router,
        platform::lifecycle::Shutdown::new(),
    ));
    let client = platform::http::client_builder().build().unwrap();
    let call = |id: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .get(url)
                .header("X-Request-Id", id)
                .send()
                .await
                .unwrap()
        }
    };
    call("first-call").await;

    let lines_with = |id: &str| -> Vec<serde_json::Value> {
        capture
            .text()
            .lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).expect("one JSON object per line")
            })
            .filter(|line| line["span"]["request_id"] == id)
            .collect()
    };
    eventually(
        "the handler's line is written",
        Duration::from_secs(5),
        || async { !lines_with("first-call").is_empty() },
    )
    .await;
    let line = &lines_with("first-call")[0];
    assert_eq!(line["fields"]["message"], "working on it");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["span"]["service"], "test");
    assert_eq!(line["span"]["route"], "/work");
    assert!(
        lines_with("first-call")
            .iter()
            .all(|line| line["level"] != "DEBUG")
    );

    // Debug now, access lines included, without a restart.
    set_log_filter("debug").unwrap();
    assert_eq!(log_filter().as_deref(), Some("debug"));
    call("second-call").await;
    eventually("debug lines appear", Duration::from_secs(5), || async {
        let lines = lines_with("second-call");
        lines
            .iter()
            .any(|line| line["fields"]["message"] == "detail")
            && lines
                .iter()
                .any(|line| line["target"] == "access" && line["fields"]["status"] == 200)
    })
    .await;
    assert!(
        capture.text().contains("log level changed"),
        "the change itself is logged"
    );

    // Invalid directives change nothing.
    let error = set_log_filter("debug,edge=loud").unwrap_err();
    assert!(error.to_string().contains("log.level"), "{error}");
    assert_eq!(log_filter().as_deref(), Some("debug"));

    set_log_filter("warn").unwrap();
    call("third-call").await;
    call("fourth-call").await;
    // Lines are written in order by one thread: once a later line is there, earlier are too.
    tracing::warn!("marker");
    eventually("the marker is written", Duration::from_secs(5), || async {
        capture.text().contains("marker")
    })
    .await;
    assert!(lines_with("third-call").is_empty());
}
