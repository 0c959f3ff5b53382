//! Interop with real Eureka clients: py-eureka-client (reads XML) and eureka-js-client (reads
//! JSON, insists on exactly 204 and 200) register, renew, discover our middle tier and leave,
//! against our registry on a loopback port, with their credentials in the registry URL as
//! every Eureka client takes them; the Java clients, Netflix's own and Spring Cloud's, do the
//! same and more (see [`java`]).
//!
//! The clients are installed by `deploy/install-test-deps.sh` (run by `deploy/test.sh`) under
//! `${RSS_CACHE_DIR:-~/.cache/rss-recipe}/interop`. When they are missing these tests fail,
//! never skip, and say how to install them.

#![allow(clippy::expect_used)]

mod java;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::{Router, routing::get};
use platform::health::Health;
use platform::lifecycle::Shutdown;
use registry_client::{Registration, RegistryClient, Status};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::helpers::{
    TestRegistry, credentials, eventually, instance_config, spawn_registry, unused_port,
};

const STEP_TIMEOUT: Duration = Duration::from_secs(30);

fn interop_dir() -> PathBuf {
    let root = std::env::var_os("RSS_CACHE_DIR").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/rss-recipe")
        },
        PathBuf::from,
    );
    root.join("interop")
}

fn require(path: &Path, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what} is not installed at {}: run deploy/test.sh (or deploy/install-test-deps.sh) first",
        path.display()
    );
    path.to_owned()
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/interop")
        .join(name)
}

/// Our middle tier as far as discovery goes: registered through our client, answering
/// `/hello`, counting the calls it gets.
struct MiddleTier {
    port: u16,
    calls: Arc<AtomicUsize>,
    shutdown: Shutdown,
    registration: Registration,
}

async fn start_middletier(registry: &TestRegistry) -> MiddleTier {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let router = Router::new()
        .route(
            "/hello",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { "hello from middletier" }
            }),
        )
        .route("/health", get(|| async { "UP" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    let settings = registry.client_settings();
    let registration = Registration::start(
        RegistryClient::new(&settings).unwrap(),
        instance_config("middletier", port),
        &settings,
        Health::up(),
        shutdown.clone(),
    );
    let id = format!("127.0.0.1:middletier:{port}");
    eventually("the middle tier registers", || async {
        registry.status_of("MIDDLETIER", &id) == Some(Status::Up)
    })
    .await;
    MiddleTier {
        port,
        calls,
        shutdown,
        registration,
    }
}

/// A client process, read line by line.
struct Client {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Client {
    fn spawn(mut command: Command) -> Client {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the client starts");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Client { child, lines }
    }

    async fn expect_line(&mut self, starting: &str) -> String {
        let line = tokio::time::timeout(STEP_TIMEOUT, self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {starting:?}"))
            .unwrap()
            .unwrap_or_else(|| panic!("the client exited before {starting:?}"));
        assert!(
            line.starts_with(starting),
            "expected {starting:?}, got {line:?}"
        );
        line
    }

    async fn stop(mut self) {
        let mut stdin = self.child.stdin.take().unwrap();
        stdin.write_all(b"stop\n").await.unwrap();
        stdin.flush().await.unwrap();
        self.expect_line("stopped").await;
        let status = tokio::time::timeout(STEP_TIMEOUT, self.child.wait())
            .await
            .expect("the client exits")
            .unwrap();
        assert!(status.success(), "{status}");
    }
}

async fn renewed_after(registry: &TestRegistry, app: &str, id: &str) {
    let first = registry
        .registry
        .instance(app, id)
        .unwrap()
        .lease_info
        .last_renewal_timestamp;
    eventually(&format!("{id} renews its lease"), || async {
        registry
            .registry
            .instance(app, id)
            .is_ok_and(|info| info.lease_info.last_renewal_timestamp > first)
    })
    .await;
}

#[tokio::test]
async fn py_eureka_client_registers_renews_discovers_our_middletier_and_leaves() {
    let python = require(&interop_dir().join("venv/bin/python"), "py-eureka-client");
    let registry = spawn_registry().await;
    let middletier = start_middletier(&registry).await;
    let port = unused_port();

    let mut command = Command::new(python);
    // The Python client's default path, the Spring Cloud one.
    let (name, secret) = &credentials().other_service;
    let server = format!("http://{name}:{secret}@127.0.0.1:{}/eureka/", registry.port);
    command
        .arg(script("py_client.py"))
        .arg(server)
        .arg(port.to_string());
    let mut client = Client::spawn(command);

    client.expect_line("started").await;
    let id = format!("127.0.0.1:pyservice:{port}");
    let info = registry.registry.instance("PYSERVICE", &id).unwrap();
    assert_eq!(info.status, Status::Up);
    assert_eq!(info.lease_info.renewal_interval_in_secs, 1);
    let answer = client.expect_line("middletier answered:").await;
    assert!(answer.ends_with("hello from middletier"), "{answer}");
    assert_eq!(middletier.calls.load(Ordering::SeqCst), 1);
    renewed_after(&registry, "PYSERVICE", &id).await;

    client.stop().await;
    assert!(registry.status_of("PYSERVICE", &id).is_none());
    middletier.shutdown.cancel();
    middletier.registration.stopped().await;
    registry.stop().await;
}

#[tokio::test]
async fn eureka_js_client_registers_fetches_and_deregisters() {
    let modules = require(&interop_dir().join("node/node_modules"), "eureka-js-client");
    require(&modules.join("eureka-js-client"), "eureka-js-client");
    let registry = spawn_registry().await;
    let middletier = start_middletier(&registry).await;
    let port = unused_port();

    let mut command = Command::new("node");
    command
        .env("NODE_PATH", &modules)
        .arg(script("js_client.js"))
        .arg(registry.url_as(&credentials().other_service).to_string())
        .arg(port.to_string());
    let mut client = Client::spawn(command);

    client.expect_line("started").await;
    let id = format!("127.0.0.1:jsservice:{port}");
    assert_eq!(registry.status_of("JSSERVICE", &id), Some(Status::Up));
    let found = client.expect_line("middletier instances:").await;
    assert_eq!(
        found,
        format!("middletier instances: 1 ports {}", middletier.port)
    );
    renewed_after(&registry, "JSSERVICE", &id).await;

    client.stop().await;
    assert!(registry.status_of("JSSERVICE", &id).is_none());
    middletier.shutdown.cancel();
    middletier.registration.stopped().await;
    registry.stop().await;
}
