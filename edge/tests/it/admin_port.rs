//! The edge's operator pages (the resilience dashboard, `/hystrix.stream`, `/metrics`,
//! `/admin/config`) are on its admin port, bound to loopback: the readers' port answers 404 for
//! every one. On the admin port, a stream client that takes nothing loses its place.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use middletier::store::{MemoryStore, Store};
use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;

use crate::support::{System, edge_settings, eventually, http, registry_settings, spawn_registry};

/// Every operator path any service has, so a page mounted on the wrong router shows up.
const OPERATOR_PATHS: [&str; 9] = [
    "/admin/config",
    "/metrics",
    "/dashboard",
    "/hystrix.stream",
    "/dashboard/instances.stream",
    "/static/dashboard.js",
    "/chaos",
    "/status",
    "/registry.css",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readers_port_serves_no_operator_page_and_the_admin_port_serves_them() {
    let system = System::start(1).await;
    let (public, admin) = (system.edge.url(), system.edge.admin_url());
    for path in OPERATOR_PATHS {
        let response = http().get(format!("{public}{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    for path in [
        "/admin/config",
        "/metrics",
        "/dashboard",
        "/hystrix.stream",
        "/dashboard/instances.stream",
        "/static/dashboard.js",
        "/static/style.css",
        "/health",
    ] {
        let response = http().get(format!("{admin}{path}")).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{path} on the admin port"
        );
    }
    // The dashboard links nowhere on the admin port that only the readers' port has.
    let dashboard = http()
        .get(format!("{admin}/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for link in [
        r#"href="/signin""#,
        r#"href="/signup""#,
        r#"href="/subscriptions""#,
    ] {
        assert!(!dashboard.contains(link), "{link} in {dashboard}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_port_binds_loopback_even_when_the_readers_port_binds_every_interface() {
    let registry = spawn_registry(registry_settings(0)).await;
    let mut settings = edge_settings(&registry);
    settings.server.host = "0.0.0.0".to_owned();
    let app = edge::Application::build(settings).await.unwrap();
    assert_eq!(app.admin_address().ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert!(
        app.admin_url().starts_with("http://127.0.0.1:"),
        "{}",
        app.admin_url()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_client_that_reads_nothing_loses_its_place() {
    let idle_timeout = Duration::from_secs(1);
    let system = System::start_tuned(
        vec![Arc::new(MemoryStore::new()) as Arc<dyn Store>],
        |_| {},
        |edge| {
            // One place, and events as fast as they come: the stalled client's buffers fill
            // within moments.
            edge.stream.max_connections = 1;
            edge.stream.interval = Duration::from_millis(1);
            edge.stream.idle_timeout = idle_timeout;
        },
    )
    .await;
    let url = format!("{}/hystrix.stream", system.edge.admin_url());
    let address = system
        .edge
        .admin_url()
        .trim_start_matches("http://")
        .to_owned();

    // Asks for the stream, then never reads a byte (with a small receive buffer).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(address.parse().unwrap()).await.unwrap();
    stalled
        .write_all(b"GET /hystrix.stream HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let status = || async { http().get(&url).send().await.unwrap().status() };
    eventually("the stalled client holds the only place", || async {
        status().await == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let reader = Arc::new(std::sync::Mutex::new(None));
    eventually("the stalled client loses its place", || async {
        let response = http().get(&url).send().await.unwrap();
        let free = response.status() == StatusCode::OK;
        if free {
            *reader.lock().unwrap() = Some(response);
        }
        free
    })
    .await;

    // A client that reads keeps its place well past the idle timeout.
    let mut reader = reader.lock().unwrap().take().unwrap();
    let started = Instant::now();
    while started.elapsed() < idle_timeout * 3 {
        let chunk = reader.chunk().await.unwrap();
        assert!(chunk.is_some(), "the reading client's stream ended");
    }
    assert_eq!(status().await, StatusCode::SERVICE_UNAVAILABLE);
    drop(stalled);
}
