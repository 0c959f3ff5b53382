//! Registry nodes replicating to each other: changes reach the peer, a restarted node copies
//! its peer at start-up, and losing a node loses no registration.

use std::time::Duration;

use platform::config::ServerSettings;
use platform::health::Health;
use platform::lifecycle::Shutdown;
use registry::Settings;
use registry_client::{ClientSettings, Registration, RegistryClient, Status};
use reqwest::StatusCode;
use url::Url;

use crate::helpers::{
    TestRegistry, credentials, eventually, http_as, instance_config, instance_json,
    spawn_registry_from, unused_port, with_credentials,
};

/// Two nodes on known ports, each the other's peer.
async fn spawn_pair() -> (TestRegistry, TestRegistry) {
    let (port_a, port_b) = (unused_port(), unused_port());
    let a = spawn_registry_from(peered(port_a, port_b)).await;
    let b = spawn_registry_from(peered(port_b, port_a)).await;
    (a, b)
}

fn peered(port: u16, peer: u16) -> Settings {
    let mut settings = Settings {
        server: ServerSettings::localhost(port),
        ..Settings::default()
    };
    let peer_url = Url::parse(&format!("http://127.0.0.1:{peer}/eureka/v2/")).unwrap();
    settings.replication.peers = with_credentials(&peer_url, &credentials().peer)
        .to_string()
        .into();
    settings.replication.sync_timeout = Duration::from_secs(2);
    settings
}

#[tokio::test]
async fn changes_made_on_one_node_reach_its_peer() {
    let (a, b) = spawn_pair().await;
    let body = instance_json("middletier", "m1", "middletier", "UP");
    assert_eq!(
        a.post_instance("/eureka/v2", "MIDDLETIER", &body)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    eventually("the registration reaches b", || async {
        b.status_of("MIDDLETIER", "m1") == Some(Status::Up)
    })
    .await;

    // An override made on b reaches a; renewals on a extend b's lease.
    let url = b.url(
        "/eureka/v2",
        "/apps/MIDDLETIER/m1/status?value=OUT_OF_SERVICE",
    );
    assert_eq!(
        b.http.put(url).send().await.unwrap().status(),
        StatusCode::OK
    );
    eventually("the override reaches a", || async {
        a.status_of("MIDDLETIER", "m1") == Some(Status::OutOfService)
    })
    .await;
    let before = b
        .registry
        .instance("MIDDLETIER", "m1")
        .unwrap()
        .lease_info
        .last_renewal_timestamp;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let renew = a.url("/eureka/v2", "/apps/MIDDLETIER/m1");
    assert_eq!(
        a.http.put(renew).send().await.unwrap().status(),
        StatusCode::OK
    );
    eventually("the renewal reaches b", || async {
        b.registry
            .instance("MIDDLETIER", "m1")
            .unwrap()
            .lease_info
            .last_renewal_timestamp
            > before
    })
    .await;

    // A cancel on a removes it from both, and b does not send it back.
    let cancel = a.url("/eureka/v2", "/apps/MIDDLETIER/m1");
    assert_eq!(
        a.http.delete(cancel).send().await.unwrap().status(),
        StatusCode::OK
    );
    eventually("the cancel reaches b", || async {
        b.status_of("MIDDLETIER", "m1").is_none()
    })
    .await;
    assert!(a.status_of("MIDDLETIER", "m1").is_none());
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn an_instance_belongs_to_its_owner_on_every_node_even_after_a_restart() {
    let (a, b) = spawn_pair().await;
    let owner = &credentials().service;
    let body = instance_json("middletier", "m1", "middletier", "UP");
    let registered = http_as(owner)
        .post(a.url("/eureka/v2", "/apps/MIDDLETIER"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::NO_CONTENT);
    eventually("the registration reaches b", || async {
        b.status_of("MIDDLETIER", "m1").is_some()
    })
    .await;

    // Failing over to b hands the instance to nobody else.
    let impostor = http_as(&credentials().other_service);
    let on_b = b.url("/eureka/v2", "/apps/MIDDLETIER/m1");
    assert_eq!(
        impostor.delete(&on_b).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // Nor does restarting a node: it copies the owners with the instances.
    let (port_a, port_b) = (a.port, b.port);
    a.stop().await;
    let a = spawn_registry_from(peered(port_a, port_b)).await;
    eventually("the restarted node has copied b", || async {
        a.status_of("MIDDLETIER", "m1").is_some()
    })
    .await;
    let on_a = a.url("/eureka/v2", "/apps/MIDDLETIER/m1");
    assert_eq!(
        impostor.put(&on_a).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        http_as(owner).put(&on_a).send().await.unwrap().status(),
        StatusCode::OK
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_restarted_node_copies_its_peer_before_answering_reads() {
    let (a, b) = spawn_pair().await;
    a.post_instance("/eureka/v2", "A", &instance_json("a", "a1", "a", "UP"))
        .await;
    eventually("b has it", || async { b.status_of("A", "a1").is_some() }).await;

    let port_a = a.port;
    let port_b = b.port;
    a.stop().await;
    let a = spawn_registry_from(peered(port_a, port_b)).await;
    eventually("the restarted node has copied b", || async {
        a.status_of("A", "a1") == Some(Status::Up)
    })
    .await;
    let (status, apps) = a.get_json("/eureka/v2", "/apps").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(apps["applications"]["application"][0]["name"], "A");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn reads_answer_503_while_no_peer_has_answered_the_initial_sync() {
    let mut settings = peered(0, unused_port());
    settings.replication.sync_timeout = Duration::from_secs(30);
    let lonely = spawn_registry_from(settings).await;
    let (status, _) = lonely.get_json("/eureka/v2", "/apps").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // Writes are taken meanwhile, and peers may read (their own start-up sync).
    let body = instance_json("a", "a1", "a", "UP");
    assert_eq!(
        lonely
            .post_instance("/eureka/v2", "A", &body)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let peer_read = lonely
        .http
        .get(lonely.url("/eureka/v2", "/apps"))
        .header("x-netflix-discovery-replication", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(peer_read.status(), StatusCode::OK);
    // An ordinary client saying it is a peer still waits like every client.
    let claimed = http_as(&credentials().service)
        .get(lonely.url("/eureka/v2", "/apps"))
        .header("x-netflix-discovery-replication", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(claimed.status(), StatusCode::SERVICE_UNAVAILABLE);
    lonely.stop().await;
}

#[tokio::test]
async fn losing_a_registry_node_loses_no_registration() {
    let (a, b) = spawn_pair().await;
    // The instance knows both nodes and registers with the first.
    let settings = ClientSettings {
        url: format!("{},{}", a.base_url, b.base_url).into(),
        ..a.client_settings()
    };
    let shutdown = Shutdown::new();
    let registration = Registration::start(
        RegistryClient::new(&settings).unwrap(),
        instance_config("middletier", 9001),
        &settings,
        Health::up(),
        shutdown.clone(),
    );
    eventually("registered on both", || async {
        a.status_of("MIDDLETIER", "127.0.0.1:middletier:9001")
            .is_some()
            && b.status_of("MIDDLETIER", "127.0.0.1:middletier:9001")
                .is_some()
    })
    .await;

    a.stop().await;
    // b keeps the registration and the instance's renewals fail over to it.
    let now = registry_client::model::now_millis();
    eventually("renewals reach the surviving node", || async {
        b.registry
            .instance("MIDDLETIER", "127.0.0.1:middletier:9001")
            .is_ok_and(|info| info.lease_info.last_renewal_timestamp > now)
    })
    .await;

    shutdown.cancel();
    registration.stopped().await;
    assert!(
        b.status_of("MIDDLETIER", "127.0.0.1:middletier:9001")
            .is_none()
    );
    b.stop().await;
}
