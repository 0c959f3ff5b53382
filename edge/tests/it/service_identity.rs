//! Callers prove who they are: the edge sends nothing, not even a connection's first request,
//! to an instance that has not proved with a certificate from the deployment CA that it is a
//! middle tier, whatever the registry says; and a middle tier serves only edges.
//!
//! The impostors here are registered the way an attacker with registry access would: app
//! `MIDDLETIER` under VIP `middletier`, UP, each serving HTTP(S) that logs every request and the
//! token it carried.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use platform::health::Health;
use platform::lifecycle::Shutdown;
use platform::server::{Listening, serve_with};
use platform::testing::TestPki;
use registry_client::{InstanceConfig, Registration, RegistryClient};

use crate::support::{
    Browser, System, eureka_url_as, eventually, fast_client, middletier_http, mtls_settings,
};

/// What an impostor received: one line per request, with its `Authorization` header.
type RequestLog = Arc<Mutex<Vec<String>>>;

/// An HTTP(S) server that records every request, registered under VIP `middletier` as `app`.
struct Impostor {
    /// Its base URL as the registry advertises it.
    url: String,
    log: RequestLog,
    _stop: Shutdown,
    _registration: Registration,
}

impl Impostor {
    async fn start(
        system: &System,
        app: &str,
        identity: Option<platform::tls::Identity>,
    ) -> Impostor {
        // It would gladly serve the edge (it accepts the edge's certificate).
        let tls = identity.map(|identity| identity.server_config(&["edge"]).unwrap());
        let log: RequestLog = Arc::default();
        let recorded = log.clone();
        let router = Router::new().fallback(move |headers: HeaderMap, uri: axum::http::Uri| {
            let recorded = recorded.clone();
            async move {
                let token = headers
                    .get("authorization")
                    .map(|value| value.to_str().unwrap_or("?").to_owned());
                recorded.lock().unwrap().push(format!("{uri} {token:?}"));
                "{}"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener
            .local_addr()
            .map(|address: SocketAddr| address.port())
            .unwrap();
        let stop = Shutdown::new();
        let secure = tls.is_some();
        let url = format!(
            "{}://127.0.0.1:{port}/",
            if secure { "https" } else { "http" }
        );
        tokio::spawn(serve_with(
            listener,
            router,
            stop.clone(),
            Listening {
                tls,
                ..Listening::default()
            },
        ));
        let registry = eureka_url_as(&system.registry, "middletier");
        let registration = Registration::start(
            RegistryClient::new(&fast_client(&registry)).unwrap(),
            InstanceConfig {
                app: app.to_owned(),
                vip_address: "middletier".to_owned(),
                host: "127.0.0.1".to_owned(),
                ip_addr: "127.0.0.1".to_owned(),
                port,
                secure,
                health_check_path: "/health".to_owned(),
            },
            &fast_client(&registry),
            Health::up(),
            stop.clone(),
        );
        Impostor {
            url,
            log,
            _stop: stop,
            _registration: registration,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// The instances under VIP `middletier` that the registry lists as UP.
async fn listed(system: &System) -> usize {
    let client =
        RegistryClient::new(&fast_client(&eureka_url_as(&system.registry, "edge"))).unwrap();
    client
        .vip("middletier")
        .await
        .map_or(0, |instances| instances.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_impostors_receive_no_request_while_real_middletiers_serve_the_pages() {
    let store: Arc<dyn middletier::store::Store> = Arc::new(middletier::store::MemoryStore::new());
    let system = System::start_tuned(
        vec![store.clone(), store],
        |middletier| {
            middletier.api.token = Some(platform::config::Secret::new(TOKEN));
        },
        |edge| {
            edge.middletier.token = Some(platform::config::Secret::new(TOKEN));
        },
    )
    .await;
    let other_ca = TestPki::new();
    // Registered as middle tiers on a secure port, the edge tries them, and the handshake
    // fails on its side before a request is written: a valid certificate from the deployment
    // CA but the edge's, not a middle tier's; and a "middletier" certificate from another CA.
    let mut impostors = vec![
        Impostor::start(
            &system,
            "MIDDLETIER",
            Some(mtls_settings("edge").load("edge").unwrap().unwrap()),
        )
        .await,
        Impostor::start(&system, "MIDDLETIER", Some(other_ca.identity("middletier"))).await,
    ];
    // Never even tried: plain HTTP, and a real middle-tier certificate registered by another
    // app claiming the VIP.
    let ignored = [
        Impostor::start(&system, "MIDDLETIER", None).await,
        Impostor::start(
            &system,
            "IMPOSTOR",
            Some(
                mtls_settings("middletier")
                    .load("middletier")
                    .unwrap()
                    .unwrap(),
            ),
        )
        .await,
    ];
    eventually(
        "the registry lists the real middle tiers and every impostor",
        || async { listed(&system).await == 2 + impostors.len() + ignored.len() },
    )
    .await;

    // Each failed handshake counts as a failed attempt (the next instance answers the page),
    // and three in a row eject an impostor, like a middle tier that refuses connections.
    let browser = Browser::new(&system.edge);
    let state = |instances: &[serde_json::Value], url: &str| {
        instances
            .iter()
            .find(|instance| instance["url"] == url)
            .map(|instance| instance["state"].as_str().unwrap_or_default().to_owned())
    };
    eventually("the edge ejects every impostor it tried", || async {
        browser.home().await;
        let instances = crate::support::edge_instances(&system.edge).await;
        impostors
            .iter()
            .all(|impostor| state(&instances, &impostor.url).as_deref() == Some("ejected"))
    })
    .await;
    let instances = crate::support::edge_instances(&system.edge).await;
    for impostor in &ignored {
        assert_eq!(state(&instances, &impostor.url), None, "{instances:?}");
    }

    // Real middle tiers serve every page.
    for _ in 0..30 {
        let page = browser.home().await;
        assert_eq!(page.status, reqwest::StatusCode::OK);
        assert!(
            !page.html.contains("banner-error") && !page.html.contains("banner-stale"),
            "a page failed or fell back: {}",
            page.html
        );
    }
    impostors.extend(ignored);
    for impostor in &impostors {
        let requests = impostor.requests();
        assert!(
            requests.is_empty(),
            "{} received {requests:?}",
            impostor.url
        );
    }
}

/// The service token of [`registered_impostors_receive_no_request_while_real_middletiers_serve_the_pages`].
const TOKEN: &str = "a-test-service-token-of-32-bytes-or-more";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_middletier_refuses_callers_without_an_edge_certificate() {
    let system = System::start(1).await;
    let url = format!(
        "{}/middletier/rss/user/default",
        system.middletiers[0].url()
    );

    // The edge's certificate: served.
    let answer = middletier_http().get(&url).send().await.unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::OK);

    // No client certificate (the CA trusted, so only the missing certificate can fail it).
    let pki = crate::support::test_pki();
    let anonymous = platform::http::client_builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap()])
        .tls_danger_accept_invalid_hostnames(true)
        .build()
        .unwrap();
    assert!(
        anonymous.get(&url).send().await.is_err(),
        "served without a certificate"
    );

    // A certificate from the deployment CA for another service.
    let stranger = mtls_settings("registry").load("registry").unwrap().unwrap();
    let stranger = platform::http::client_builder()
        .tls_backend_preconfigured(stranger.client_config("middletier").unwrap())
        .build()
        .unwrap();
    assert!(
        stranger.get(&url).send().await.is_err(),
        "served a registry certificate"
    );

    // Plain HTTP on the same port.
    let plain = url.replacen("https://", "http://", 1);
    assert!(
        crate::support::http().get(&plain).send().await.is_err(),
        "served plain HTTP"
    );
}
