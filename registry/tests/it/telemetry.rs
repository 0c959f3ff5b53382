//! The registry's operability: `/metrics` follows the lease table, and readiness follows the
//! initial copy from its peers.

use std::time::Duration;

use platform::testing::scrape_metrics;
use registry::Settings;

use crate::helpers::{self, eventually, instance_json, spawn_registry, spawn_registry_from};

#[tokio::test]
async fn metrics_count_instances_by_status_and_every_renewal() {
    let registry = spawn_registry().await;
    let body = instance_json("MIDDLETIER", "mt-1", "middletier", "UP");
    let answer = registry
        .post_instance("/eureka/v2", "MIDDLETIER", &body)
        .await;
    assert_eq!(answer.status(), 204);

    let before = scrape_metrics(&registry.http, &registry.admin).await;
    let up = [("app", "MIDDLETIER"), ("status", "UP")];
    assert_eq!(before.sum("rss_registry_instances", &up), 1.0);
    assert_eq!(before.types["rss_registry_renewals_total"], "counter");
    let renewals = before.sum("rss_registry_renewals_total", &[]);

    for _ in 0..3 {
        let renewed = registry
            .http
            .put(registry.url("/eureka/v2", "/apps/MIDDLETIER/mt-1"))
            .send()
            .await
            .unwrap();
        assert_eq!(renewed.status(), 200);
    }
    let taken_out = registry
        .http
        .put(registry.url(
            "/eureka/v2",
            "/apps/MIDDLETIER/mt-1/status?value=OUT_OF_SERVICE",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(taken_out.status(), 200);

    let after = scrape_metrics(&registry.http, &registry.admin).await;
    assert_eq!(
        after.sum("rss_registry_renewals_total", &[]),
        renewals + 3.0
    );
    assert_eq!(after.sum("rss_registry_instances", &up), 0.0);
    assert_eq!(
        after.sum(
            "rss_registry_instances",
            &[("app", "MIDDLETIER"), ("status", "OUT_OF_SERVICE")]
        ),
        1.0
    );
    // Requests are counted by route template, under both mount points' own templates.
    let renew_route = [
        ("method", "PUT"),
        ("route", "/eureka/v2/apps/{app}/{id}"),
        ("status", "200"),
    ];
    assert_eq!(after.sum("rss_http_requests_total", &renew_route), 3.0);
    assert_eq!(
        after.sum("rss_http_request_duration_seconds_count", &renew_route),
        3.0
    );
    assert!(after.has("rss_registry_self_preservation_active", &[]));
    registry.stop().await;
}

#[tokio::test]
async fn a_node_is_ready_only_after_copying_its_peers() {
    let mut settings = Settings::default();
    settings.server.port = 0;
    // A peer that never answers: the node waits `sync_timeout`, then serves alone.
    settings.replication.peers =
        format!("http://127.0.0.1:{}/eureka/v2/", helpers::unused_port()).into();
    settings.replication.sync_timeout = Duration::from_secs(2);
    let registry = spawn_registry_from(settings).await;

    let (status, body) = registry.get_json("", "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["peers"]["status"], "STARTING");
    // Alive all along: restarting it would only start the copy again.
    let (status, _) = registry.get_json("", "/healthz").await;
    assert_eq!(status, 200);

    eventually("the node is ready once the sync gave up", || async {
        registry.get_json("", "/readyz").await.0 == 200
    })
    .await;
    let (status, body) = registry.get_json("", "/health").await;
    assert_eq!(
        (status.as_u16(), body),
        (200, serde_json::json!({"status": "UP"}))
    );
    registry.stop().await;
}

#[tokio::test]
async fn a_single_node_is_ready_at_once() {
    let registry = spawn_registry().await;
    let (status, body) = registry.get_json("", "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["peers"]["status"], "UP");
    registry.stop().await;
}
