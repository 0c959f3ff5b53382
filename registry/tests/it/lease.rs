//! Lease expiry over HTTP, with short real durations (the paused-time version of the same
//! rule is a unit test of the domain).

use std::time::Duration;

use platform::{health::Health, lifecycle::Shutdown};
use registry::LeaseSettings;
use registry_client::{ClientSettings, Registration, RegistryClient};
use reqwest::StatusCode;

use crate::helpers::{eventually, instance_config, instance_json, spawn_registry_with};

#[tokio::test]
async fn instance_that_stops_renewing_is_evicted_while_a_renewing_one_stays() {
    let app = spawn_registry_with(LeaseSettings {
        duration: Duration::from_millis(300),
        eviction_interval: Duration::from_millis(50),
        ..LeaseSettings::default()
    })
    .await;

    // Registered once and never renewed; asks for no duration, so the server's 300 ms applies.
    let mut silent = instance_json("silent", "s1", "silent", "UP");
    silent["instance"]["leaseInfo"] = serde_json::json!({});
    let response = app.post_instance("/eureka/v2", "SILENT", &silent).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // Renews every 100 ms under a 1 s lease.
    let settings = ClientSettings {
        lease_duration: Duration::from_secs(1),
        ..app.client_settings()
    };
    let shutdown = Shutdown::new();
    let registration = Registration::start(
        RegistryClient::new(&settings).unwrap(),
        instance_config("alive", 8001),
        &settings,
        Health::up(),
        shutdown.clone(),
    );

    eventually("the silent instance is evicted", || async {
        app.get_json("/eureka/v2", "/apps/SILENT").await.0 == StatusCode::NOT_FOUND
    })
    .await;
    // A renewing instance must survive; proving that takes watching it for longer than its
    // 1 s lease, so this is the one place that waits on the clock rather than a condition.
    eventually("the renewing instance is registered", || async {
        app.status_of("ALIVE", "127.0.0.1:alive:8001").is_some()
    })
    .await;
    let renewals_outlast_lease = tokio::time::Instant::now() + Duration::from_millis(1500);
    while tokio::time::Instant::now() < renewals_outlast_lease {
        assert!(
            app.status_of("ALIVE", "127.0.0.1:alive:8001").is_some(),
            "evicted while renewing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    shutdown.cancel();
    registration.stopped().await;
    app.stop().await;
}
