//! The registry's operator pages live on its admin port, bound to loopback: the public port,
//! the one Eureka clients (and anyone who can reach them) call, answers 404 for every one.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::spawn_registry;
use crate::lifecycle::registry;

/// Every operator path any service has, so a page moved to the wrong router anywhere shows up.
const OPERATOR_PATHS: [&str; 8] = [
    "/admin/config",
    "/metrics",
    "/dashboard",
    "/hystrix.stream",
    "/dashboard/instances.stream",
    "/chaos",
    "/status",
    "/registry.css",
];

/// The registry's own operator pages, each expected on its admin port.
const REGISTRY_OPERATOR_PATHS: [&str; 6] = [
    "/admin/config",
    "/metrics",
    "/dashboard",
    "/",
    "/status",
    "/registry.css",
];

async fn status(http: &reqwest::Client, url: String) -> StatusCode {
    http.get(&url)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap_or_else(|error| panic!("GET {url}: {error}"))
        .status()
}

async fn assert_public_has_no_operator_page(http: &reqwest::Client, public: &str) {
    for path in OPERATOR_PATHS {
        let answer = status(http, format!("{public}{path}")).await;
        assert_eq!(answer, StatusCode::NOT_FOUND, "{path} on the public port");
    }
    // A browser at `/` gets the service's description, not the dashboard.
    let index = http
        .get(format!("{public}/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!index.contains("<html"), "{index}");
}

#[tokio::test]
async fn the_public_port_serves_no_operator_page_and_the_admin_port_serves_them_all() {
    let app = spawn_registry().await;
    assert_public_has_no_operator_page(&app.http, &app.url("", "")).await;
    for path in REGISTRY_OPERATOR_PATHS {
        let answer = status(&app.http, app.admin_url(path)).await;
        assert_eq!(answer, StatusCode::OK, "{path} on the admin port");
    }
    // Probes keep working on the public port.
    assert_eq!(
        status(&app.http, app.url("", "/readyz")).await,
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn the_admin_port_binds_loopback_and_follows_the_settings() {
    let mut settings = registry::Settings {
        server: platform::config::ServerSettings::localhost(0),
        ..registry::Settings::default()
    };
    let app = registry::Application::build(settings.clone())
        .await
        .unwrap();
    assert_eq!(app.admin_address().ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_ne!(app.admin_address().port(), app.port());
    drop(app);

    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let chosen = free.local_addr().unwrap().port();
    drop(free);
    settings.admin.port = Some(chosen);
    let app = registry::Application::build(settings).await.unwrap();
    assert_eq!(app.admin_address().port(), chosen);
}

#[tokio::test]
async fn the_binary_says_where_its_admin_port_is_and_keeps_operator_pages_off_the_public_one() {
    let mut child = registry("admin-port", &[("RSS_LOG__FORMAT", "json")])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let line: Value = serde_json::from_str(&line).unwrap();
            if line["fields"]["message"] == "registry listening" {
                return line;
            }
        }
        panic!("the registry exited without saying where it listens")
    })
    .await
    .expect("the registry says where it listens within 20 s");
    let public = listening["fields"]["url"].as_str().unwrap();
    let public = public.trim_end_matches("/eureka/v2/").to_owned();
    let admin = listening["fields"]["admin"].as_str().unwrap();
    let admin = admin.trim_end_matches('/').to_owned();
    assert!(admin.starts_with("http://127.0.0.1:"), "{admin}");

    let http = platform::http::client_builder().build().unwrap();
    assert_public_has_no_operator_page(&http, &public).await;
    for path in REGISTRY_OPERATOR_PATHS {
        assert_eq!(
            status(&http, format!("{admin}{path}")).await,
            StatusCode::OK,
            "{path}"
        );
    }
    child.kill().await.unwrap();
}
