//! The middle tier's operator endpoints (`/admin/config`, `/metrics`, `/chaos`) are on its
//! admin port, bound to loopback: the API's port, the one edges (and anyone who can reach a
//! middle tier) call, answers 404 for every one, chaos armed or not.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use middletier::store::MemoryStore;
use platform::lifecycle::Shutdown;
use reqwest::StatusCode;

use crate::support::{http, registry_for_middletier};

/// Every operator path any service has, so a page mounted on the wrong router shows up.
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

#[tokio::test]
async fn the_api_port_serves_no_operator_page_and_the_admin_port_serves_them() {
    let stop = Shutdown::new();
    let mut settings = middletier::Settings::default();
    settings.server.port = 0;
    settings.registry.url = registry_for_middletier(&stop).await.into();
    settings.chaos.enabled = true;
    let app = middletier::Application::build_with_store(settings, Arc::new(MemoryStore::new()))
        .await
        .unwrap();
    assert_eq!(app.admin_address().ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    let public = format!("http://127.0.0.1:{}", app.port());
    let admin = app.admin_url().trim_end_matches('/').to_owned();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    let client = http();

    for path in OPERATOR_PATHS {
        for method in [reqwest::Method::GET, reqwest::Method::PUT] {
            let response = client
                .request(method.clone(), format!("{public}{path}"))
                .header("content-type", "application/json")
                .body(r#"{"out_of_service":true}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        }
    }
    for path in ["/admin/config", "/metrics", "/chaos", "/health"] {
        let response = client.get(format!("{admin}{path}")).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{path} on the admin port"
        );
    }
    // Chaos is driven from the admin port, and reaches the API's health as before.
    let armed = client
        .put(format!("{admin}/chaos"))
        .header("content-type", "application/json")
        .body(r#"{"out_of_service":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(armed.status(), StatusCode::OK);
    let health = client.get(format!("{public}/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    stop.cancel();
}
