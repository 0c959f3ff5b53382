//! The standard stack every service serves through: request ids, per-route metrics, health,
//! and the admin listener beside the public one. Real servers on loopback ports, called with a
//! real HTTP client.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use platform::admin::Admin;
use platform::config::{AdminSettings, Live};
use platform::health::{Health, Status};
use platform::metrics::Metrics;
use platform::server::{REQUEST_ID_HEADER, current_request_id, with_standard_layers};
use platform::testing::{parse_prometheus, scrape_metrics};

struct App {
    base: String,
    /// The admin listener's base URL (`/metrics`, `/admin/config`).
    admin: String,
    health: Health,
    _shutdown: platform::lifecycle::Shutdown,
}

/// A service's settings, as `/admin/config` reports them.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct TestSettings {
    name: String,
    token: Option<platform::config::Secret>,
}

impl platform::config::Configuration for TestSettings {
    const DYNAMIC: &'static [&'static str] = &[];
}

/// `/users/{id}` answers with the request id its task sees; `/slow` takes 300 ms.
async fn start() -> App {
    let health = Health::up();
    let metrics = Metrics::new("test");
    let routes = Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move {
                let seen = current_request_id().map(|id| id.to_string());
                format!("{id} {}", seen.unwrap_or_default())
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        )
        .merge(health.router());
    let router = with_standard_layers(routes, Duration::from_secs(5), &metrics);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = platform::lifecycle::Shutdown::new();
    tokio::spawn(platform::server::serve(listener, router, shutdown.clone()));
    let admin = Admin::bind(&AdminSettings::default(), 0).await.unwrap();
    let admin_base = admin.url().trim_end_matches('/').to_owned();
    let settings = TestSettings {
        name: "test".to_owned(),
        token: Some(platform::config::Secret::new("s3cret-token")),
    };
    let admin_router = platform::admin::router(
        Router::new().route("/operator", get(|| async { "operator page" })),
        Live::fixed(settings),
        &metrics,
        &health,
    );
    tokio::spawn(admin.serve(admin_router, shutdown.clone()));
    App {
        base,
        admin: admin_base,
        health,
        _shutdown: shutdown,
    }
}

fn http() -> reqwest::Client {
    platform::http::client_builder().build().unwrap()
}

#[tokio::test]
async fn a_well_formed_incoming_request_id_is_kept_and_returned() {
    let app = start().await;
    let response = http()
        .get(format!("{}/users/7", app.base))
        .header("X-Request-Id", "client-42.a:b_c")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[&REQUEST_ID_HEADER], "client-42.a:b_c");
    // The handler's task sees the same id (what the middle-tier client forwards).
    assert_eq!(response.text().await.unwrap(), "7 client-42.a:b_c");
}

#[tokio::test]
async fn a_missing_or_malformed_request_id_is_replaced_by_a_new_one() {
    let app = start().await;
    for incoming in [
        None,
        Some("has spaces"),
        Some("x".repeat(65).as_str()),
        Some("<script>"),
    ] {
        let mut request = http().get(format!("{}/users/1", app.base));
        if let Some(id) = incoming {
            request = request.header("X-Request-Id", id);
        }
        let response = request.send().await.unwrap();
        let id = response.headers()[&REQUEST_ID_HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 32, "{incoming:?} gave {id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(response.text().await.unwrap(), format!("1 {id}"));
    }
}

#[tokio::test]
async fn requests_are_counted_per_route_template_never_per_raw_path() {
    let app = start().await;
    let client = http();
    for path in [
        "/users/1",
        "/users/2",
        "/users/3",
        "/no/such/page",
        "/another/unknown",
    ] {
        client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
    }
    let response = client
        .get(format!("{}/metrics", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let metrics = parse_prometheus(&text).unwrap_or_else(|error| panic!("{error}\n{text}"));
    let ok = [
        ("method", "GET"),
        ("route", "/users/{id}"),
        ("status", "200"),
    ];
    assert_eq!(metrics.sum("rss_http_requests_total", &ok), 3.0, "{text}");
    assert_eq!(
        metrics.sum("rss_http_request_duration_seconds_count", &ok),
        3.0
    );
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(metrics.sum("rss_http_requests_total", &unmatched), 2.0);
    assert!(
        !text.contains("/users/1"),
        "a raw path became a label:\n{text}"
    );
    assert!(!text.contains("/no/such/page"));
    assert_eq!(
        metrics.types["rss_http_request_duration_seconds"],
        "histogram"
    );
    assert_eq!(metrics.types["rss_http_requests_total"], "counter");
}

#[tokio::test]
async fn requests_in_flight_are_gauged_until_they_finish() {
    let app = start().await;
    let slow = tokio::spawn(http().get(format!("{}/slow", app.base)).send());
    let in_flight = || async {
        scrape_metrics(&http(), &app.admin)
            .await
            .sum("rss_http_requests_in_flight", &[])
    };
    // The scrape itself is in flight too (the admin listener counts into the same registry).
    platform::testing::eventually(
        "the slow request is in flight",
        Duration::from_secs(5),
        || async { in_flight().await >= 2.0 },
    )
    .await;
    assert_eq!(slow.await.unwrap().unwrap().text().await.unwrap(), "done");
    assert_eq!(in_flight().await, 1.0);
}

#[tokio::test]
async fn liveness_holds_while_readiness_follows_every_check() {
    let app = start().await;
    let client = http();
    let get = |path: &'static str| {
        let client = client.clone();
        let url = format!("{}{path}", app.base);
        async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    assert_eq!(get("/readyz").await.0, 200);
    let store = app.health.check("store", Status::Up);
    store.set(Status::Down, Some("Cassandra is unreachable".to_owned()));

    let (status, body) = get("/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "DOWN");
    assert_eq!(body["reason"], "Cassandra is unreachable");
    assert_eq!(body["checks"]["store"]["status"], "DOWN");
    assert_eq!(body["checks"]["service"]["status"], "UP");
    // Eureka's health check URL keeps its shape.
    let (status, body) = get("/health").await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        serde_json::json!({"status": "DOWN", "reason": "Cassandra is unreachable"})
    );
    // Alive: restarting the process would not bring the database back.
    assert_eq!(
        get("/healthz").await,
        (200, serde_json::json!({"status": "UP"}))
    );

    store.set(Status::Up, None);
    assert_eq!(get("/readyz").await.0, 200);
    assert_eq!(
        get("/health").await,
        (200, serde_json::json!({"status": "UP"}))
    );
}

#[test]
fn the_parser_rejects_what_prometheus_would() {
    for bad in [
        "no_type 1\n",
        "# TYPE x counter\nx{a=\"1} 2\n",
        "# TYPE x counter\nx{a=\"1\"} two\n",
        "# TYPE x gauge\n# TYPE x gauge\nx 1\n",
        "# TYPE 1x gauge\n",
        "# TYPE h histogram\nh_count 1\nh_bucket{le=\"+Inf\"} 2\n",
    ] {
        assert!(parse_prometheus(bad).is_err(), "accepted {bad:?}");
    }
    let good = "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"q\\\"\\\\\",b=\"\"} 2\n";
    let parsed = parse_prometheus(good).unwrap();
    assert_eq!(parsed.sum("x_total", &[("a", "q\"\\")]), 2.0);
}

#[tokio::test]
async fn operator_endpoints_are_on_the_admin_listener_only() {
    let app = start().await;
    let client = http();
    for path in ["/metrics", "/admin/config", "/operator"] {
        let public = client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(public.status(), 404, "{path} on the public port");
        let admin = client
            .get(format!("{}{path}", app.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(admin.status(), 200, "{path} on the admin port");
        // The same stack as the public port: every answer carries a request id.
        assert!(admin.headers().contains_key(&REQUEST_ID_HEADER), "{path}");
    }
    let config: serde_json::Value = client
        .get(format!("{}/admin/config", app.admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown = config.to_string();
    assert!(shown.contains("\"name\":\"test\""), "{shown}");
    assert!(!shown.contains("s3cret-token"), "{shown}");
    // Health answers on both: probes use the public port, operators the admin one.
    for base in [&app.base, &app.admin] {
        let health = client.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(health.status(), 200, "{base}");
    }
    let metrics = scrape_metrics(&client, &app.admin).await;
    let admin_route = [("route", "/admin/config"), ("status", "200")];
    assert_eq!(metrics.sum("rss_http_requests_total", &admin_route), 2.0);
}

#[tokio::test]
async fn the_admin_listener_binds_loopback_by_default() {
    let admin = Admin::bind(&AdminSettings::default(), 0).await.unwrap();
    assert!(admin.address().ip().is_loopback(), "{}", admin.address());
    assert_ne!(admin.address().port(), 0);
    assert_eq!(
        admin.url(),
        format!("http://127.0.0.1:{}/", admin.address().port())
    );
}
