//! `Discovery` and the plain client calls it rests on.

use std::sync::Arc;

use platform::lifecycle::Shutdown;
use registry_client::{ClientError, Discovery, Instance, InstanceInfo, RegistryClient, Status};
use url::Url;

use crate::helpers::{TestRegistry, eventually, instance_config, spawn_registry};

/// Registers directly with the registry (no HTTP), as a given status.
fn register(app: &TestRegistry, name: &str, port: u16, status: Status) -> InstanceInfo {
    let settings = app.client_settings();
    let mut info =
        instance_config(name, port).instance_info(platform::health::Status::Up, &settings);
    info.status = status;
    app.registry.register(info.clone()).unwrap();
    info
}

fn instance(port: u16) -> Instance {
    Instance {
        id: format!("127.0.0.1:middletier:{port}"),
        base_url: Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
    }
}

#[tokio::test]
async fn discovery_lists_only_up_instances_of_its_vip() {
    let app = spawn_registry().await;
    register(&app, "middletier", 9001, Status::Up);
    register(&app, "middletier", 9002, Status::Down);
    register(&app, "middletier", 9003, Status::Starting);
    register(&app, "middletier", 9004, Status::OutOfService);
    register(&app, "middletier", 9005, Status::Up);
    register(&app, "edge", 9006, Status::Up);

    let client = RegistryClient::new(&app.client_settings()).unwrap();
    let discovery = Discovery::new(client, "middletier");
    discovery.refresh_once().await.unwrap();
    assert_eq!(*discovery.instances(), [instance(9001), instance(9005)]);
    app.stop().await;
}

#[tokio::test]
async fn discovery_refreshes_in_the_background_and_notifies_subscribers() {
    let app = spawn_registry().await;
    let settings = app.client_settings();
    let shutdown = Shutdown::new();
    let discovery = Discovery::start(
        RegistryClient::new(&settings).unwrap(),
        "middletier",
        &settings,
        shutdown.clone(),
    );
    let mut changes = discovery.subscribe();

    register(&app, "middletier", 9001, Status::Up);
    eventually("the new instance is discovered", || async {
        *discovery.instances() == [instance(9001)]
    })
    .await;
    assert!(changes.has_changed().unwrap());
    assert_eq!(**changes.borrow_and_update(), [instance(9001)]);

    app.registry
        .cancel("middletier", "127.0.0.1:middletier:9001")
        .unwrap();
    eventually("the cancelled instance is dropped", || async {
        discovery.instances().is_empty()
    })
    .await;

    shutdown.cancel();
    app.stop().await;
}

#[tokio::test]
async fn discovery_keeps_the_last_list_when_the_registry_goes_away() {
    let app = spawn_registry().await;
    register(&app, "middletier", 9001, Status::Up);
    let client = RegistryClient::new(&app.client_settings()).unwrap();
    let discovery = Discovery::new(client, "middletier");
    discovery.refresh_once().await.unwrap();
    let before = discovery.instances();
    app.stop().await;

    let error = discovery.refresh_once().await.unwrap_err();
    assert!(matches!(error, ClientError::Unreachable { .. }), "{error}");
    assert!(Arc::ptr_eq(&before, &discovery.instances()));
    assert_eq!(*discovery.instances(), [instance(9001)]);
}

#[tokio::test]
async fn client_reads_applications_and_reports_unknown_instances() {
    let app = spawn_registry().await;
    let client = RegistryClient::new(&app.client_settings()).unwrap();
    let info = instance_config("middletier", 9001)
        .instance_info(platform::health::Status::Up, &app.client_settings());
    client.register(&info).await.unwrap();
    client.renew("MIDDLETIER", &info.instance_id).await.unwrap();

    let applications = client.applications().await.unwrap();
    assert_eq!(applications.apps_hashcode, "UP_1_");
    let listed: Vec<_> = applications
        .instances()
        .map(|i| i.instance_id.clone())
        .collect();
    assert_eq!(listed, [info.instance_id.as_str()]);
    assert_eq!(client.vip("middletier").await.unwrap().len(), 1);
    assert!(client.vip("nobody").await.unwrap().is_empty());

    client
        .cancel("middletier", &info.instance_id)
        .await
        .unwrap();
    let error = client
        .renew("MIDDLETIER", &info.instance_id)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::NotRegistered { .. }),
        "{error}"
    );
    app.stop().await;
}
