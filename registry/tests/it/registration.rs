//! `Registration`: stays registered through registry amnesia, pushes health, leaves cleanly.

use std::time::Duration;

use platform::health::{Health, Status as HealthStatus};
use platform::lifecycle::Shutdown;
use registry::LeaseSettings;
use registry_client::{ClientSettings, Registration, RegistryClient, Status};
use reqwest::StatusCode;
use url::Url;

use crate::helpers::{
    TestRegistry, credentials, eventually, instance_config, spawn_registry, spawn_registry_on,
    unused_port, with_credentials,
};

const APP: &str = "MIDDLETIER";
const ID: &str = "127.0.0.1:middletier:9191";

fn start(settings: &ClientSettings, health: &Health, shutdown: &Shutdown) -> Registration {
    Registration::start(
        RegistryClient::new(settings).unwrap(),
        instance_config("middletier", 9191),
        settings,
        health.clone(),
        shutdown.clone(),
    )
}

async fn registered_as(app: &TestRegistry, status: Status) {
    eventually(
        &format!("the registry lists the instance as {status}"),
        || async { app.status_of(APP, ID) == Some(status) },
    )
    .await;
}

#[tokio::test]
async fn registration_registers_and_deregisters_on_shutdown() {
    let app = spawn_registry().await;
    let shutdown = Shutdown::new();
    let registration = start(&app.client_settings(), &Health::up(), &shutdown);
    registered_as(&app, Status::Up).await;

    shutdown.cancel();
    registration.stopped().await;
    assert_eq!(
        app.status_of(APP, ID),
        None,
        "still registered after stopped()"
    );
    app.stop().await;
}

#[tokio::test]
async fn registration_registers_again_after_the_registry_forgets_the_instance() {
    let app = spawn_registry().await;
    let shutdown = Shutdown::new();
    let registration = start(&app.client_settings(), &Health::up(), &shutdown);
    registered_as(&app, Status::Up).await;

    let url = app.url("/eureka/v2", &format!("/apps/{APP}/{ID}"));
    assert_eq!(
        app.http.delete(url).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(app.status_of(APP, ID), None);
    // The next renewal answers 404, and the instance registers again.
    registered_as(&app, Status::Up).await;

    shutdown.cancel();
    registration.stopped().await;
    app.stop().await;
}

#[tokio::test]
async fn registration_survives_a_registry_restart() {
    let first = spawn_registry().await;
    let port = first.port;
    let settings = first.client_settings();
    let shutdown = Shutdown::new();
    let registration = start(&settings, &Health::up(), &shutdown);
    registered_as(&first, Status::Up).await;
    first.stop().await;

    // A new, empty registry where the old one was.
    let second = spawn_registry_on(port, LeaseSettings::default()).await;
    registered_as(&second, Status::Up).await;

    shutdown.cancel();
    registration.stopped().await;
    second.stop().await;
}

#[tokio::test]
async fn registration_keeps_trying_until_a_registry_appears() {
    let port = unused_port();
    let settings = ClientSettings {
        url: with_credentials(
            &Url::parse(&format!("http://127.0.0.1:{port}/eureka/v2/")).unwrap(),
            &credentials().service,
        )
        .to_string()
        .into(),
        renewal_interval: Duration::from_millis(100),
        ..ClientSettings::default()
    };
    let shutdown = Shutdown::new();
    let registration = start(&settings, &Health::up(), &shutdown);

    let app = spawn_registry_on(port, LeaseSettings::default()).await;
    registered_as(&app, Status::Up).await;

    shutdown.cancel();
    registration.stopped().await;
    app.stop().await;
}

#[tokio::test]
async fn registration_pushes_health_changes_to_the_registry() {
    let app = spawn_registry().await;
    let health = Health::new(HealthStatus::Starting);
    let shutdown = Shutdown::new();
    let registration = start(&app.client_settings(), &health, &shutdown);
    registered_as(&app, Status::Starting).await;

    health.set(HealthStatus::Up, None);
    registered_as(&app, Status::Up).await;
    health.set(HealthStatus::Down, Some("database unreachable".to_owned()));
    registered_as(&app, Status::Down).await;
    health.set(HealthStatus::Up, None);
    registered_as(&app, Status::Up).await;

    shutdown.cancel();
    registration.stopped().await;
    app.stop().await;
}

#[tokio::test]
async fn registration_fails_over_to_the_next_registry_in_the_list() {
    let app = spawn_registry().await;
    let dead = format!("http://127.0.0.1:{}/eureka/v2/", unused_port());
    let settings = ClientSettings {
        url: format!("{dead},{}", app.base_url).into(),
        ..app.client_settings()
    };
    let shutdown = Shutdown::new();
    let registration = start(&settings, &Health::up(), &shutdown);
    registered_as(&app, Status::Up).await;

    shutdown.cancel();
    registration.stopped().await;
    assert_eq!(app.status_of(APP, ID), None);
    app.stop().await;
}
