//! The Java clients: Netflix's own `eureka-client` (Jersey 3 transport) and Spring Cloud
//! Netflix's client in a Spring Boot app (RestTemplate transport), built from `java/` by
//! `deploy/install-test-deps.sh`. Each test runs one JVM through a service's whole life:
//! register with credentials in the URL, renew, fetch the registry in full and then by deltas,
//! discover our middle tier, register again when a renewal answers 404 (after an operator's
//! cancel and after a registry restart), and cancel on the way out. Registering again is where
//! the two differ: Spring Cloud's transport ignores a 404's body, Netflix's Jersey transport
//! parses it as an instance, so only a bare 404 (as Eureka's) lets it register again.
//!
//! Both programs print the same lines: `started`, `found <url> full=<n> delta=<m>` for each new
//! instance under the VIP `middletier` (with the full and delta fetches made so far), and
//! `stopped` after `stop` on stdin.

use std::path::PathBuf;

use registry::LeaseSettings;
use registry_client::Status;
use reqwest::StatusCode;
use tokio::process::Command;

use super::{Client, interop_dir, renewed_after, require, start_middletier};
use crate::helpers::{TestRegistry, eventually, spawn_registry, spawn_registry_on, unused_port};

/// The Java programs of `java/`, one Maven module each.
#[derive(Clone, Copy)]
enum JavaClient {
    /// `NetflixClient`: Netflix's `eureka-client` configured in code, as Netflix's docs show.
    Netflix,
    /// `SpringClient`: a Spring Boot app, configured by properties as Spring services are.
    Spring,
}

impl JavaClient {
    fn module(self) -> &'static str {
        match self {
            JavaClient::Netflix => "netflix-client",
            JavaClient::Spring => "spring-client",
        }
    }

    /// The app name it registers as; the registry upper-cases it.
    fn app(self) -> &'static str {
        match self {
            JavaClient::Netflix => "netflixservice",
            JavaClient::Spring => "springservice",
        }
    }

    /// The registry URL as each client's users write it: Netflix's clients use `/eureka/v2/`,
    /// Spring Cloud's `/eureka/`; both with credentials.
    fn registry_url(self, registry: &TestRegistry) -> String {
        let prefix = match self {
            JavaClient::Netflix => "/eureka/v2/",
            JavaClient::Spring => "/eureka/",
        };
        // A service's credentials as user info: every Eureka client sends them as HTTP Basic.
        let url = format!("http://127.0.0.1:{}{prefix}", registry.port);
        crate::helpers::with_credentials(
            &url.parse().expect("a URL"),
            &crate::helpers::credentials().service,
        )
        .to_string()
    }

    /// The module's jar and its dependencies, as the install script leaves them.
    fn classpath(self) -> PathBuf {
        let module = self.module();
        let lib = interop_dir().join("java").join(module).join("target/lib");
        require(
            &lib.join(format!("{module}-1.jar")),
            "the Java Eureka clients",
        );
        lib.join("*")
    }

    fn spawn(self, registry: &TestRegistry, port: u16) -> Client {
        let url = self.registry_url(registry);
        let mut command = Command::new("java");
        // A short-lived client: start fast rather than run fast.
        command
            .args([
                "-XX:TieredStopAtLevel=1",
                "-Xshare:auto",
                "-XX:+UseSerialGC",
            ])
            .arg("-cp")
            .arg(self.classpath());
        match self {
            JavaClient::Netflix => {
                command
                    .arg("rss.interop.NetflixClient")
                    .arg(url)
                    .arg(self.app())
                    .arg(port.to_string());
            }
            JavaClient::Spring => {
                command.arg("rss.interop.SpringClient").args([
                    format!("--spring.application.name={}", self.app()),
                    format!("--eureka.client.service-url.defaultZone={url}"),
                    format!("--eureka.instance.non-secure-port={port}"),
                ]);
            }
        }
        Client::spawn(command)
    }
}

/// The fetch counts a `found` line reports.
fn fetches(line: &str) -> (u32, u32) {
    let count = |key: &str| {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line:?}"))
    };
    (count("full="), count("delta="))
}

async fn registered(registry: &TestRegistry, app: &str, id: &str, what: &str) {
    eventually(what, || async {
        registry.status_of(app, id) == Some(Status::Up)
    })
    .await;
}

async fn lives_a_whole_service_life(java: JavaClient) {
    let registry = spawn_registry().await;
    let middletier = start_middletier(&registry).await;
    let port = unused_port();
    let app = java.app().to_uppercase();
    let id = format!("127.0.0.1:{}:{port}", java.app());

    let mut client = java.spawn(&registry, port);
    client.expect_line("started").await;
    registered(&registry, &app, &id, "the Java client registers").await;
    let info = registry.registry.instance(&app, &id).unwrap();
    assert_eq!(info.lease_info.renewal_interval_in_secs, 1);
    let found = client.expect_line("found ").await;
    assert!(
        found.starts_with(&format!("found http://127.0.0.1:{} ", middletier.port)),
        "{found}"
    );
    renewed_after(&registry, &app, &id).await;

    // A middle tier that starts later reaches the client by a delta: one full fetch at start,
    // and no second one, which the client would make if the delta's hash code did not match.
    let second = start_middletier(&registry).await;
    let found = client.expect_line("found ").await;
    assert!(
        found.starts_with(&format!("found http://127.0.0.1:{} ", second.port)),
        "{found}"
    );
    let (full, delta) = fetches(&found);
    assert_eq!(full, 1, "{found}");
    assert!(delta >= 1, "{found}");

    // An operator cancels the instance: its next renewal answers 404, and it registers again.
    let cancel = registry
        .http
        .delete(registry.url("/eureka/v2", &format!("/apps/{app}/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), StatusCode::OK);
    registered(
        &registry,
        &app,
        &id,
        "the Java client registers after a cancel",
    )
    .await;

    // A new, empty registry where the old one was: the same again.
    let registry_port = registry.port;
    registry.stop().await;
    let registry = spawn_registry_on(registry_port, LeaseSettings::default()).await;
    registered(
        &registry,
        &app,
        &id,
        "the Java client registers after a restart",
    )
    .await;
    renewed_after(&registry, &app, &id).await;

    client.stop().await;
    assert_eq!(
        registry.status_of(&app, &id),
        None,
        "cancelled on the way out"
    );
    for middletier in [middletier, second] {
        middletier.shutdown.cancel();
        middletier.registration.stopped().await;
    }
    registry.stop().await;
}

#[tokio::test]
async fn netflix_eureka_client_registers_renews_reads_deltas_and_registers_again_after_a_404() {
    lives_a_whole_service_life(JavaClient::Netflix).await;
}

#[tokio::test]
async fn spring_cloud_eureka_client_registers_renews_reads_deltas_and_registers_again_after_a_404()
{
    lives_a_whole_service_life(JavaClient::Spring).await;
}
