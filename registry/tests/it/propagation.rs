//! Sub-second propagation: watches answer as soon as the registry changes, `Discovery` uses
//! them, and still works against a Eureka without them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::{Router, routing::get};
use platform::health::Health;
use platform::lifecycle::Shutdown;
use registry_client::{Discovery, Registration, RegistryClient};
use reqwest::StatusCode;
use tokio::time::Instant;

use crate::helpers::{eventually, instance_config, instance_json, spawn_registry};

#[tokio::test]
async fn a_watch_answers_when_the_registry_changes_and_not_before() {
    let app = spawn_registry().await;
    let response = app
        .http
        .get(app.url("/eureka/v2", "/vips/a"))
        .send()
        .await
        .unwrap();
    let index: u64 = response.headers()["x-registry-index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();

    // Unchanged: the watch waits out its `wait`.
    let started = Instant::now();
    let url = app.url("/eureka/v2", &format!("/vips/a?index={index}&wait=300ms"));
    let response = app.http.get(&url).send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        response.headers()["x-registry-index"].to_str().unwrap(),
        index.to_string()
    );

    // A registration wakes it at once.
    let watch = tokio::spawn({
        let (http, url) = (
            app.http.clone(),
            app.url("/eureka/v2", &format!("/vips/a?index={index}&wait=5s")),
        );
        async move {
            let started = Instant::now();
            let response = http
                .get(url)
                .header("accept", "application/json")
                .send()
                .await
                .unwrap();
            (
                started.elapsed(),
                response.json::<serde_json::Value>().await.unwrap(),
            )
        }
    });
    // Only a watch already parked in the registry tests the wake-up; a late one would answer
    // at once for its stale index.
    eventually("the watch is waiting", || async {
        app.registry.watchers() == 1
    })
    .await;
    let registered = Instant::now();
    let status = app
        .post_instance("/eureka/v2", "A", &instance_json("a", "a1", "a", "UP"))
        .await
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (elapsed, body) = watch.await.unwrap();
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(registered.elapsed() < Duration::from_secs(1));
    assert_eq!(
        body["applications"]["application"][0]["instance"][0]["instanceId"],
        "a1"
    );

    // A stale index (another node's, or from before a restart) answers at once.
    let started = Instant::now();
    let url = app.url("/eureka/v2", "/vips/a?index=1&wait=5s");
    app.http.get(url).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    app.stop().await;
}

#[tokio::test]
async fn discovery_sees_registrations_and_deregistrations_within_a_fraction_of_a_second() {
    let app = spawn_registry().await;
    let mut settings = app.client_settings();
    // Polling alone would take this long: anything faster is the watch.
    settings.fetch_interval = Duration::from_secs(30);
    let shutdown = Shutdown::new();
    let client = RegistryClient::new(&settings).unwrap();
    let discovery = Discovery::start(client.clone(), "middletier", &settings, shutdown.clone());
    // The first (plain) fetch first, so the watch is what sees the registration.
    discovery.first_answer().await;

    for round in 0..3 {
        let stop = Shutdown::new();
        let started = Instant::now();
        let registration = Registration::start(
            client.clone(),
            instance_config("middletier", 9100 + round),
            &settings,
            Health::up(),
            stop.clone(),
        );
        let mut changes = discovery.subscribe();
        tokio::time::timeout(
            Duration::from_secs(2),
            changes.wait_for(|list| list.len() == 1),
        )
        .await
        .expect("visible within 2 s")
        .unwrap();
        let visible = started.elapsed();
        let stopping = Instant::now();
        stop.cancel();
        registration.stopped().await;
        tokio::time::timeout(
            Duration::from_secs(2),
            changes.wait_for(|list| list.is_empty()),
        )
        .await
        .expect("gone within 2 s")
        .unwrap();
        let gone = stopping.elapsed();
        assert!(
            visible < Duration::from_secs(1) && gone < Duration::from_secs(1),
            "{visible:?} {gone:?}"
        );
    }
    shutdown.cancel();
    app.stop().await;
}

#[tokio::test]
async fn discovery_polls_a_eureka_that_cannot_be_watched() {
    // A plain Eureka: answers at once, no `X-Registry-Index`.
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let body = serde_json::json!({"applications": {"versions__delta": "1", "apps__hashcode": "UP_1_",
        "application": [{"name": "M", "instance": [
            instance_json("m", "m1", "middletier", "UP")["instance"].clone()]}]}});
    let router = Router::new().route(
        "/eureka/v2/vips/{vip}",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let settings = registry_client::ClientSettings {
        url: format!("http://127.0.0.1:{port}/eureka/v2/").into(),
        fetch_interval: Duration::from_millis(100),
        ..registry_client::ClientSettings::default()
    };
    let shutdown = Shutdown::new();
    let discovery = Discovery::start(
        RegistryClient::new(&settings).unwrap(),
        "middletier",
        &settings,
        shutdown.clone(),
    );
    eventually("the instance is discovered", || async {
        discovery.instances().len() == 1
    })
    .await;
    let before = requests.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let polled = requests.load(Ordering::SeqCst) - before;
    // About five polls at 100 ms, not a busy loop of immediate answers.
    assert!((2..=8).contains(&polled), "{polled} requests in 500 ms");
    shutdown.cancel();
}
