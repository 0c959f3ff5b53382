//! The middle tier on a real Cassandra when Cassandra is not there: at start-up it reports
//! STARTING (health and registry) and answers 503 until it can connect; mid-run it fails fast
//! with 503 and recovers by itself. The outage is made with a TCP proxy in front of the real
//! node, so the node itself keeps running for other tests.

use std::time::Duration;

use platform::testing::eventually;

use middletier::settings::StoreKind;
use middletier::testing::{FeedPublisher, TcpProxy, cassandra_settings, unique_prefix};
use middletier_api::{ErrorBody, UserFeeds};
use platform::lifecycle::Shutdown;
use reqwest::StatusCode;

use crate::support::{assert_bounded, cassandra_shared, http};

struct Running {
    base: String,
    registry: registry::Registry,
    _stop: Option<Shutdown>,
}

async fn start_on(proxy: &TcpProxy) -> Running {
    let registry_app = registry::Application::build({
        let mut settings = registry::testing::credentials().secure(registry::Settings::default());
        settings.server.port = 0;
        settings
    })
    .await
    .expect("registry");
    let registry_url =
        registry::testing::credentials().url_as("middletier", registry_app.base_url().as_str());
    let registry = registry_app.registry();
    let stop = Shutdown::new();
    tokio::spawn(registry_app.run_until_stopped(stop.clone()));

    let mut settings = middletier::Settings::default();
    settings.server.port = 0;
    settings.registry.url = registry_url.into();
    settings.registry.renewal_interval = Duration::from_millis(100);
    settings.fetch.allow_private_networks = true;
    settings.store.kind = StoreKind::Cassandra;
    settings.cassandra = cassandra_settings();
    settings.cassandra.nodes = proxy.address.to_string();
    settings.cassandra.request_timeout = Duration::from_secs(1);
    settings.cassandra.connect_timeout = Duration::from_secs(1);
    settings.cassandra.probe_interval = Duration::from_millis(200);
    let app = middletier::Application::build(settings)
        .await
        .expect("middle tier builds without Cassandra");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(stop.clone()));
    Running {
        base,
        registry,
        _stop: Some(stop),
    }
}

impl Running {
    async fn health(&self) -> (StatusCode, String) {
        let response = http()
            .get(format!("{}/health", self.base))
            .send()
            .await
            .expect("health");
        (response.status(), response.text().await.expect("body"))
    }

    fn registry_status(&self) -> Option<String> {
        let apps = self.registry.applications();
        let app = apps.application.iter().find(|a| a.name == "MIDDLETIER")?;
        app.instance.first().map(|i| i.status.as_str().to_owned())
    }

    async fn feeds(&self, user: &str) -> reqwest::Response {
        http()
            .get(format!("{}/middletier/rss/user/{user}", self.base))
            .send()
            .await
            .expect("get")
    }
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn middletier_reports_starting_and_503_until_cassandra_is_reachable() {
    let _cassandra = cassandra_shared().await;
    let proxy = TcpProxy::start(&cassandra_settings().nodes, false).await;
    let running = start_on(&proxy).await;

    let (status, body) = running.health().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("STARTING"), "{body}");
    let response = running.feeds("ann").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.json::<ErrorBody>().await.expect("json").error,
        "subscriptions are temporarily unavailable; try again shortly"
    );
    eventually(
        "the registry lists it as STARTING",
        Duration::from_secs(10),
        || async { running.registry_status().as_deref() == Some("STARTING") },
    )
    .await;

    proxy.restore();
    eventually("it connects and is UP", Duration::from_secs(60), || async {
        running.health().await.0 == StatusCode::OK
    })
    .await;
    assert_eq!(running.feeds("ann").await.status(), StatusCode::OK);
    eventually(
        "the registry lists it as UP",
        Duration::from_secs(10),
        || async { running.registry_status().as_deref() == Some("UP") },
    )
    .await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn a_cassandra_outage_mid_run_fails_fast_with_503_and_recovers_by_itself() {
    let _cassandra = cassandra_shared().await;
    let proxy = TcpProxy::start(&cassandra_settings().nodes, true).await;
    let running = start_on(&proxy).await;
    eventually("it connects", Duration::from_secs(60), || async {
        running.health().await.0 == StatusCode::OK
    })
    .await;
    let publisher = FeedPublisher::start().await;
    let user = format!("{}ann", unique_prefix());
    let feed = &publisher.url("/rss.xml");
    let subscribed = http()
        .post(format!("{}/middletier/rss/user/{user}", running.base))
        .query(&[("url", feed)])
        .send()
        .await
        .expect("post");
    assert_eq!(subscribed.status(), StatusCode::CREATED);

    proxy.cut();
    let started = std::time::Instant::now();
    let response = running.feeds(&user).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_bounded("failing fast", started.elapsed(), Duration::from_secs(3));
    eventually("health reports DOWN", Duration::from_secs(10), || async {
        let (status, body) = running.health().await;
        status == StatusCode::SERVICE_UNAVAILABLE && body.contains("Cassandra is unreachable")
    })
    .await;
    eventually(
        "the registry lists it as DOWN",
        Duration::from_secs(10),
        || async { running.registry_status().as_deref() == Some("DOWN") },
    )
    .await;

    proxy.restore();
    eventually(
        "reads work again, with the data intact",
        Duration::from_secs(60),
        || async {
            let response = running.feeds(&user).await;
            if response.status() != StatusCode::OK {
                return false;
            }
            let feeds: UserFeeds = response.json().await.expect("json");
            feeds.subscriptions.iter().any(|s| &s.url == feed)
        },
    )
    .await;
    eventually("health is UP again", Duration::from_secs(10), || async {
        running.health().await.0 == StatusCode::OK
    })
    .await;
}
