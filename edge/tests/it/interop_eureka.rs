//! Our edge routes to nothing but what the registry says, whoever registered it: here a middle
//! tier written in Python that registers itself with the real py-eureka-client. The service answers the middle tier's read API with a feed that names it,
//! and logs every request it gets, so the test sees both what the user sees and where the
//! edge sent its calls.
//!
//! py-eureka-client is installed by `deploy/install-test-deps.sh` (run by `deploy/test.sh`)
//! under `${RSS_CACHE_DIR:-~/.cache/rss-recipe}/interop`; without it this test fails, never
//! skips, and says how to install it. The service is
//! `registry/tests/it/interop/py_middletier.py`, next to the registry's own interop clients.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use middletier::store::MemoryStore;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::support::{
    Browser, Page, edge_settings, eventually, http, middletier_settings, spawn_edge,
    spawn_middletier, spawn_registry,
};

const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// What the Python service puts in its feed's title (with its port).
const MARKER: &str = "Served by py-eureka-client";

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

fn python() -> PathBuf {
    let python = interop_dir().join("venv/bin/python");
    assert!(
        python.exists(),
        "py-eureka-client is not installed at {}: run deploy/test.sh (or deploy/install-test-deps.sh) first",
        python.display()
    );
    python
}

/// The Python middle tier, driven over stdin/stdout (see the script's docstring).
struct PyMiddletier {
    child: Child,
    stdin: ChildStdin,
    /// Every line but the request log, in order.
    lines: mpsc::UnboundedReceiver<String>,
    /// API requests it has received (`/health` is not routed traffic).
    requests: Arc<AtomicUsize>,
}

impl PyMiddletier {
    fn spawn(eureka_url: &str) -> PyMiddletier {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../registry/tests/it/interop/py_middletier.py");
        // Mutual TLS, as every middle tier in these tests: its certificate names `middletier`,
        // and it requires the edge's.
        let tls = crate::support::mtls_settings("middletier");
        let mut child = Command::new(python())
            .arg(script)
            .arg(eureka_url)
            .arg("--tls")
            .args([tls.ca.unwrap(), tls.cert.unwrap(), tls.key.unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the Python middle tier starts");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let requests = Arc::new(AtomicUsize::new(0));
        let (sender, lines) = mpsc::unbounded_channel();
        let counter = requests.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                match line.strip_prefix("request ") {
                    Some(path) if path.starts_with("/middletier/") => {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    Some(_) => {}
                    None => {
                        if sender.send(line).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        PyMiddletier {
            child,
            stdin,
            lines,
            requests,
        }
    }

    async fn expect_line(&mut self, starting: &str) -> String {
        let line = tokio::time::timeout(STEP_TIMEOUT, self.lines.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {starting:?}"))
            .unwrap_or_else(|| panic!("the Python middle tier exited before {starting:?}"));
        assert!(
            line.starts_with(starting),
            "expected {starting:?}, got {line:?}"
        );
        line
    }

    /// Sends `command` and returns its answer, which must start with `answer`.
    async fn command(&mut self, command: &str, answer: &str) -> String {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
        self.expect_line(answer).await
    }

    /// API requests received so far. The service prints each before answering it, and a
    /// `ping` is answered after every line printed before it, so every request the edge has
    /// had an answer to is counted.
    async fn requests(&mut self) -> usize {
        self.command("ping", "pong").await;
        self.requests.load(Ordering::SeqCst)
    }

    async fn exit(mut self) {
        self.command("exit", "bye").await;
        let status = tokio::time::timeout(STEP_TIMEOUT, self.child.wait())
            .await
            .expect("the Python middle tier exits")
            .unwrap();
        assert!(status.success(), "{status}");
    }
}

/// The instance as our registry holds it (Eureka JSON), or `None` when it is not registered.
async fn registered(registry: &crate::support::Service, id: &str) -> Option<serde_json::Value> {
    let response = http()
        .get(format!("{}/eureka/v2/apps/MIDDLETIER/{id}", registry.url()))
        .basic_auth(
            "edge",
            Some(registry::testing::credentials().secret("edge")),
        )
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    Some(body["instance"].clone())
}

fn fell_back(page: &Page) -> bool {
    page.status == reqwest::StatusCode::OK
        && (page.html.contains("banner-error") || page.html.contains("banner-stale"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_routes_to_a_py_eureka_client_middletier_only_while_the_registry_lists_it() {
    let registry = spawn_registry(crate::support::registry_settings(0)).await;
    let mut settings = edge_settings(&registry);
    // No sign-in: this test is about routing, and every page is the default user's.
    settings.accounts.single_user = true;
    let edge = spawn_edge(settings).await;
    let browser = Browser::new(&edge);
    // py-eureka-client's default path, the Spring Cloud one, with the middle tier's
    // credentials in the URL as every Eureka client takes them.
    let eureka = format!("{}/eureka/", registry.url());
    let mut python =
        PyMiddletier::spawn(&registry::testing::credentials().url_as("middletier", &eureka));
    let port = python.expect_line("listening ").await["listening ".len()..]
        .parse::<u16>()
        .unwrap();
    let marker = format!("{MARKER} on port {port}");

    // Serving but not registered: the edge cannot know it, so there is no middle tier at all.
    for _ in 0..2 {
        let page = browser.home().await;
        assert!(
            fell_back(&page) && page.html.contains("banner-error"),
            "expected the no-middle-tier page, got {}: {}",
            page.status,
            page.html
        );
    }
    assert_eq!(python.requests().await, 0, "called before it registered");

    // It registers itself as a middle tier and finds itself through the registry (XML).
    let id = python.command("register", "registered ").await["registered ".len()..].to_owned();
    assert_eq!(id, format!("127.0.0.1:middletier:{port}"));
    let discovered = python.expect_line("discovered ").await;
    assert_eq!(discovered, format!("discovered {id}"));
    let instance = registered(&registry, &id).await.expect("registered");
    assert_eq!(instance["status"], "UP");
    assert_eq!(instance["vipAddress"], "middletier");

    // The edge routes to it: the user sees its feed.
    eventually("the page shows the Python middle tier's feed", || async {
        let page = browser.home().await;
        page.status == reqwest::StatusCode::OK
            && !page.html.contains("class=\"banner")
            && page.html.contains(&marker)
    })
    .await;
    assert!(python.requests().await > 0);

    // It renews through the client; the registry keeps the registration and moves the lease on.
    let lease = |instance: &serde_json::Value| {
        (
            instance["leaseInfo"]["registrationTimestamp"].as_u64(),
            instance["leaseInfo"]["lastRenewalTimestamp"].as_u64(),
        )
    };
    let (registered_at, renewed_at) = lease(&instance);
    python.command("renew", "renewed").await;
    let (registered_again, renewed_again) =
        lease(&registered(&registry, &id).await.expect("still registered"));
    assert_eq!(
        registered_again, registered_at,
        "renewed, not registered anew"
    );
    assert!(
        renewed_again > renewed_at,
        "{renewed_again:?} > {renewed_at:?}"
    );

    // It deregisters (DOWN, then cancelled) but keeps serving: the edge must not call it again.
    python.command("stop", "stopped").await;
    assert!(registered(&registry, &id).await.is_none(), "cancelled");
    eventually(
        "the edge stops routing to the Python middle tier",
        || async { fell_back(&browser.home().await) },
    )
    .await;
    let calls = python.requests().await;
    for _ in 0..4 {
        let page = browser.home().await;
        assert!(
            fell_back(&page),
            "expected a fallback page with no middle tier registered, got {}: {}",
            page.status,
            page.html
        );
    }
    assert_eq!(
        python.requests().await,
        calls,
        "the edge called a middle tier the registry no longer lists"
    );

    // A middle tier the registry lists now is where pages come from again.
    let rust = spawn_middletier(middletier_settings(&registry), Arc::new(MemoryStore::new())).await;
    eventually("the edge routes to the new middle tier", || async {
        let page = browser.home().await;
        page.status == reqwest::StatusCode::OK
            && !page.html.contains("class=\"banner")
            && !page.html.contains(MARKER)
    })
    .await;
    assert_eq!(python.requests().await, calls, "still never called");

    python.exit().await;
    rust.stop().await;
    edge.stop().await;
    registry.stop().await;
}
