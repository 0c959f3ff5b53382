//! The `registry` binary as operators run it: it starts the way every service does
//! (`platform::service::run`), says where it listens, stops cleanly on SIGTERM, and refuses to
//! start, with exit code 1 and a message naming the cause, on a bad setting or a taken port.
//! Each test owns a process, so each starts the real binary.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// An empty configuration directory, so only the variables a test sets apply.
fn empty_config_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("registry-binary-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary with no settings but `vars` and a free port (and so a free admin port).
pub(crate) fn registry(test: &str, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_registry"));
    command
        .env_clear()
        .env("RSS_CONFIG_DIR", empty_config_dir(test))
        .env("RSS_SERVER__PORT", "0")
        .envs(vars.iter().copied())
        .kill_on_drop(true);
    command
}

/// Runs the binary to its end and returns its exit code and everything it printed.
async fn run_to_exit(test: &str, vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = tokio::time::timeout(Duration::from_secs(20), registry(test, vars).output())
        .await
        .expect("the registry exits within 20 s")
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), printed)
}

#[tokio::test]
async fn the_binary_says_where_it_listens_serves_and_exits_zero_on_sigterm() {
    let mut child = registry("sigterm", &[("RSS_LOG__FORMAT", "json")])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut messages = Vec::new();
    let listening = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let line: Value = serde_json::from_str(&line)
                .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {line}"));
            messages.push(line["fields"]["message"].clone());
            if line["fields"]["message"] == "registry listening" {
                return line;
            }
        }
        panic!("the registry exited without saying where it listens: {messages:?}")
    })
    .await
    .expect("the registry says where it listens within 20 s");
    let url = listening["fields"]["url"].as_str().unwrap().to_owned();
    assert!(url.ends_with("/eureka/v2/"), "{url}");

    let http = platform::http::client_builder().build().unwrap();
    let apps = http
        .get(format!("{url}apps"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(apps.status(), 200);

    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the registry exits within 10 s of SIGTERM")
        .unwrap();
    assert!(exit.success(), "exit status {exit}");
    // Its log was flushed to the last line.
    let mut rest = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        rest.push(line);
    }
    assert!(
        rest.iter()
            .any(|line| line.contains("shutdown signal received")),
        "{rest:#?}"
    );
}

#[tokio::test]
async fn a_bad_setting_stops_the_binary_with_exit_code_1_naming_the_key() {
    let (code, printed) = run_to_exit("bad-setting", &[("RSS_LEASE__DURATION", "soon")]).await;
    assert_eq!(code, Some(1), "{printed}");
    assert!(
        printed.contains("`lease.duration`") && printed.contains("RSS_LEASE__DURATION"),
        "{printed}"
    );
}

#[tokio::test]
async fn a_taken_port_stops_the_binary_with_exit_code_1_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, printed) = run_to_exit(
        "taken-port",
        &[
            ("RSS_SERVER__HOST", "127.0.0.1"),
            ("RSS_SERVER__PORT", &port),
        ],
    )
    .await;
    assert_eq!(code, Some(1), "{printed}");
    assert!(
        printed.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{printed}"
    );
}

#[tokio::test]
async fn in_prod_the_binary_refuses_to_start_without_credentials() {
    let (code, printed) = run_to_exit("prod-open", &[("RSS_ENV", "prod")]).await;
    assert_eq!(code, Some(1), "{printed}");
    assert!(
        printed.contains("no registry credentials are configured")
            && printed.contains("RSS_AUTH__SERVICES"),
        "{printed}"
    );
}

#[tokio::test]
async fn registry_secrets_appear_neither_in_logs_nor_in_admin_config() {
    let credentials = crate::helpers::credentials();
    let (service, peer) = (&credentials.service, &credentials.peer);
    let services = format!("{}:{}", service.0, service.1);
    let peers = format!("{}:{}", peer.0, peer.1);
    // A peer that never answers: every attempt to reach it is logged with its URL.
    let peer_url = format!(
        "http://{}:{}@127.0.0.1:{}/eureka/v2/",
        peer.0,
        peer.1,
        crate::helpers::unused_port()
    );
    let mut child = registry(
        "secrets",
        &[
            ("RSS_ENV", "prod"),
            ("RSS_SERVER__HOST", "127.0.0.1"),
            ("RSS_LOG__LEVEL", "debug"),
            ("RSS_AUTH__SERVICES", &services),
            ("RSS_AUTH__PEERS", &peers),
            ("RSS_REPLICATION__PEERS", &peer_url),
            ("RSS_REPLICATION__SYNC_TIMEOUT", "300ms"),
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let mut url = None;
    let mut admin = None;
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("registry listening") {
                let start = line.find("http://").unwrap();
                url = Some(line[start..].split_whitespace().next().unwrap().to_owned());
                let start = line.find("admin=").unwrap() + "admin=".len();
                admin = Some(
                    line[start..]
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .trim_matches('"')
                        .trim_end_matches('/')
                        .to_owned(),
                );
            }
            let done = line.contains("no peer answered");
            printed.push(line);
            if done && url.is_some() {
                break;
            }
        }
    })
    .await
    .expect("the node gives up on its peer within 20 s");
    let url = url.unwrap();
    let base = url.trim_end_matches("/eureka/v2/").trim_end_matches('"');

    // A registration, so the node tries to replicate it (and logs the failure).
    let http = crate::helpers::http_as(service);
    let body = crate::helpers::instance_json("MIDDLETIER", "m1", "middletier", "UP");
    let response = http
        .post(format!("{base}/eureka/v2/apps/MIDDLETIER"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.contains("cannot replicate to peer");
            printed.push(line);
            if done {
                break;
            }
        }
    })
    .await
    .expect("the failed replication is logged within 20 s");

    let config = http
        .get(format!("{}/admin/config", admin.unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(config.contains("127.0.0.1"), "the peer is shown: {config}");
    child.kill().await.unwrap();
    let printed = printed.join("\n");
    for secret in [&service.1, &peer.1] {
        assert!(
            !printed.contains(secret.as_str()),
            "a secret was logged:\n{printed}"
        );
        assert!(
            !config.contains(secret.as_str()),
            "a secret is shown: {config}"
        );
    }
    assert!(printed.contains("cannot replicate to peer"), "{printed}");
}
