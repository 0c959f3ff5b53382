//! What the tests of this binary start from: a registry served on a loopback port (port 0),
//! the registration bodies real clients send, and waiting for a condition.

use std::future::Future;
use std::time::Duration;

use platform::config::ServerSettings;
use platform::lifecycle::Shutdown;
use registry::{Application, LeaseSettings, Registry, Settings, StartupError};
use registry_client::{ClientSettings, InstanceConfig};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use url::Url;

/// Both mount points of the Eureka API; server tests run against each.
pub const PREFIXES: [&str; 2] = ["/eureka/v2", "/eureka"];

/// A registry served on loopback for one test.
pub struct TestRegistry {
    pub port: u16,
    pub base_url: Url,
    pub registry: Registry,
    pub http: reqwest::Client,
    shutdown: Shutdown,
    task: JoinHandle<Result<(), StartupError>>,
}

pub async fn spawn_registry() -> TestRegistry {
    spawn_registry_on(0, LeaseSettings::default()).await
}

pub async fn spawn_registry_with(lease: LeaseSettings) -> TestRegistry {
    spawn_registry_on(0, lease).await
}

/// On a given port, to restart a registry where its clients expect it.
pub async fn spawn_registry_on(port: u16, lease: LeaseSettings) -> TestRegistry {
    let settings = Settings {
        server: ServerSettings::localhost(port),
        lease,
        ..Settings::default()
    };
    spawn_registry_from(settings).await
}

/// From complete settings (peers, self-preservation).
pub async fn spawn_registry_from(settings: Settings) -> TestRegistry {
    let application = Application::build(settings).await.expect("registry binds");
    let shutdown = Shutdown::new();
    let (port, base_url, registry) = (
        application.port(),
        application.base_url(),
        application.registry(),
    );
    let task = tokio::spawn(application.run_until_stopped(shutdown.clone()));
    TestRegistry {
        port,
        base_url,
        registry,
        http: platform::http::client_builder().build().unwrap(),
        shutdown,
        task,
    }
}

impl TestRegistry {
    /// `http://127.0.0.1:PORT{prefix}{path}`.
    pub fn url(&self, prefix: &str, path: &str) -> String {
        format!("http://127.0.0.1:{}{prefix}{path}", self.port)
    }

    /// Client settings pointing here, with intervals short enough for tests.
    pub fn client_settings(&self) -> ClientSettings {
        ClientSettings {
            url: self.base_url.to_string(),
            renewal_interval: Duration::from_millis(100),
            lease_duration: Duration::from_secs(90),
            fetch_interval: Duration::from_millis(50),
        }
    }

    pub async fn post_instance(&self, prefix: &str, app: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(prefix, &format!("/apps/{app}")))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, prefix: &str, path: &str) -> (reqwest::StatusCode, Value) {
        let response = self
            .http
            .get(self.url(prefix, path))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// The status of one instance as the registry reports it, if registered.
    pub fn status_of(&self, app: &str, id: &str) -> Option<registry_client::Status> {
        self.registry.instance(app, id).ok().map(|info| info.status)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// A registration body as the Java client sends it.
pub fn instance_json(app: &str, id: &str, vip: &str, status: &str) -> Value {
    json!({
        "instance": {
            "instanceId": id,
            "hostName": "localhost",
            "app": app,
            "ipAddr": "127.0.0.1",
            "status": status,
            "overriddenStatus": "UNKNOWN",
            "port": {"$": 9191, "@enabled": "true"},
            "securePort": {"$": 443, "@enabled": "false"},
            "countryId": 1,
            "dataCenterInfo": {
                "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
                "name": "MyOwn"
            },
            "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": 90},
            "metadata": {"@class": "java.util.Collections$EmptyMap"},
            "homePageUrl": "http://localhost:9191/",
            "statusPageUrl": "http://localhost:9191/health",
            "healthCheckUrl": "http://localhost:9191/health",
            "vipAddress": vip,
            "secureVipAddress": vip,
            "isCoordinatingDiscoveryServer": "false",
            "lastUpdatedTimestamp": "1700000000000",
            "lastDirtyTimestamp": "1700000000000",
            "actionType": "ADDED"
        }
    })
}

/// What a service would say about itself; `port` tells instances apart.
pub fn instance_config(app: &str, port: u16) -> InstanceConfig {
    InstanceConfig {
        app: app.to_owned(),
        vip_address: app.to_owned(),
        host: "127.0.0.1".to_owned(),
        ip_addr: "127.0.0.1".to_owned(),
        port,
        secure: false,
        health_check_path: "/health".to_owned(),
    }
}

/// A port nothing listens on: bound, then released.
pub fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Polls `condition` until it holds, failing the test after 10 s (`platform`'s `eventually`).
pub async fn eventually<F, Fut>(what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    platform::testing::eventually(what, Duration::from_secs(10), condition).await;
}
