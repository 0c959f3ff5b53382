//! What the tests of this binary start from: a registry served on a loopback port (port 0)
//! with credentials minted for the run, the registration bodies real clients send, and
//! waiting for a condition.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use platform::config::{Secret, ServerSettings};
use platform::lifecycle::Shutdown;
use registry::{
    Application, AuthSettings, LeaseSettings, ReadAccess, Registry, Settings, StartupError,
};
use registry_client::{ClientSettings, InstanceConfig};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use url::Url;

/// Both mount points of the Eureka API; server tests run against each.
pub const PREFIXES: [&str; 2] = ["/eureka/v2", "/eureka"];

/// The principals every test registry knows, each with a secret minted for this run (so no
/// secret is ever committed). Registries of one run share them, as a cluster's nodes do.
#[derive(Debug)]
pub struct Credentials {
    /// `(name, secret)`
    pub admin: (String, String),
    pub service: (String, String),
    pub other_service: (String, String),
    pub operator: (String, String),
    pub peer: (String, String),
}

pub fn credentials() -> &'static Credentials {
    static CREDENTIALS: OnceLock<Credentials> = OnceLock::new();
    CREDENTIALS.get_or_init(|| {
        let mint = |name: &str| (name.to_owned(), platform::testing::mint_secret());
        Credentials {
            admin: mint("admin"),
            service: mint("middletier"),
            other_service: mint("another"),
            operator: mint("ops"),
            peer: mint("peer"),
        }
    })
}

impl Credentials {
    /// `[auth]` with these principals; `admin` holds every role (what tests of the registry's
    /// other rules call as), reads need credentials.
    pub fn auth_settings(&self) -> AuthSettings {
        let entry = |(name, secret): &(String, String)| format!("{name}:{secret}");
        AuthSettings {
            reads: ReadAccess::Authenticated,
            services: Secret::new(format!(
                "{},{},{}",
                entry(&self.admin),
                entry(&self.service),
                entry(&self.other_service)
            )),
            operators: Secret::new(format!("{},{}", entry(&self.admin), entry(&self.operator))),
            peers: Secret::new(format!("{},{}", entry(&self.admin), entry(&self.peer))),
        }
    }
}

/// `url` with `(name, secret)` as its user info, as every Eureka client is configured.
pub fn with_credentials(url: &Url, (name, secret): &(String, String)) -> Url {
    let mut url = url.clone();
    url.set_username(name).unwrap();
    url.set_password(Some(secret)).unwrap();
    url
}

/// An HTTP client that sends `(name, secret)` with every request.
pub fn http_as((name, secret): &(String, String)) -> reqwest::Client {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{secret}"));
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Basic {token}")).unwrap();
    value.set_sensitive(true);
    let headers = reqwest::header::HeaderMap::from_iter([(reqwest::header::AUTHORIZATION, value)]);
    platform::http::client_builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A registry served on loopback for one test.
pub struct TestRegistry {
    pub port: u16,
    /// With the `admin` credentials as user info.
    pub base_url: Url,
    /// The admin listener: `http://127.0.0.1:PORT`, no trailing slash.
    pub admin: String,
    pub registry: Registry,
    /// Calls as `admin`, who holds every role.
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

/// From complete settings (peers, self-preservation); with [`credentials`] unless the
/// settings name principals of their own.
pub async fn spawn_registry_from(mut settings: Settings) -> TestRegistry {
    // A free admin port unless the test chose one: beside a public port the test fixed (a
    // restart), port + 1 may be some other test's.
    settings.admin.port.get_or_insert(0);
    if !settings.auth.is_configured() {
        settings.auth = credentials().auth_settings();
    }
    let application = Application::build(settings).await.expect("registry binds");
    let shutdown = Shutdown::new();
    let (port, base_url, registry) = (
        application.port(),
        with_credentials(&application.base_url(), &credentials().admin),
        application.registry(),
    );
    let admin = application.admin_url().trim_end_matches('/').to_owned();
    let task = tokio::spawn(application.run_until_stopped(shutdown.clone()));
    TestRegistry {
        port,
        base_url,
        admin,
        registry,
        http: http_as(&credentials().admin),
        shutdown,
        task,
    }
}

impl TestRegistry {
    /// `http://127.0.0.1:PORT{prefix}{path}`.
    pub fn url(&self, prefix: &str, path: &str) -> String {
        format!("http://127.0.0.1:{}{prefix}{path}", self.port)
    }

    /// `{admin}{path}`: an operator page on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("{}{path}", self.admin)
    }

    /// The API's base URL carrying `principal`'s credentials.
    pub fn url_as(&self, principal: &(String, String)) -> Url {
        with_credentials(&self.base_url, principal)
    }

    /// Client settings pointing here as the `middletier` service, with intervals short enough
    /// for tests.
    pub fn client_settings(&self) -> ClientSettings {
        ClientSettings {
            url: self.url_as(&credentials().service).to_string().into(),
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

    /// The answer to a GET asking for JSON; `null` for an empty body (Eureka's bare 404).
    pub async fn get_json(&self, prefix: &str, path: &str) -> (reqwest::StatusCode, Value) {
        let response = self
            .http
            .get(self.url(prefix, path))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.bytes().await.unwrap();
        if body.is_empty() {
            return (status, Value::Null);
        }
        (status, serde_json::from_slice(&body).unwrap())
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
