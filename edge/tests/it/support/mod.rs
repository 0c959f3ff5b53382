//! What several test modules share. Above all the whole system in this test process: a
//! registry, middle tiers and an edge, each on its own loopback port and its own Tokio runtime,
//! so a test can stop one gracefully (it deregisters) or kill it (its runtime is torn down
//! mid-flight, as `kill -9` would).
//!
//! # Layout
//! - here: [`System`] and the services it starts, a browser-like HTTP client ([`Browser`]),
//!   polling ([`eventually`]) and wall-clock bounds ([`assert_bounded`]);
//! - [`load`]: readers under load, every answer classified (served, stale, shed or error);
//! - [`webdriver`]: a real browser, driven over WebDriver.

#![allow(clippy::unwrap_used)]

pub mod load;
pub mod webdriver;

use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use middletier::store::{MemoryStore, Store};
use platform::lifecycle::Shutdown;
use registry_client::ClientSettings;
use tokio::sync::oneshot;

/// Fast timings so tests observe registrations, renewals and refreshes in milliseconds.
pub fn fast_client(registry_url: &str) -> ClientSettings {
    ClientSettings {
        url: registry_url.into(),
        renewal_interval: Duration::from_millis(100),
        lease_duration: Duration::from_secs(1),
        fetch_interval: Duration::from_millis(100),
    }
}

/// One service running on a runtime of its own.
pub struct Service {
    pub port: u16,
    /// The admin listener's port (operator pages: `/metrics`, `/admin/config`, ...).
    pub admin_port: u16,
    /// Serves HTTPS (a middle tier with mutual TLS): [`Service::url`] says `https`.
    tls: bool,
    shutdown: Shutdown,
    kill: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Service {
    /// Runs `start` on a new runtime. `start` binds, reports its port and admin port, then
    /// serves until the token is cancelled.
    async fn spawn<F, Fut>(name: &str, start: F) -> Service
    where
        F: FnOnce(Shutdown, oneshot::Sender<(u16, u16)>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let shutdown = Shutdown::new();
        let token = shutdown.clone();
        let (port_tx, port_rx) = oneshot::channel();
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    tokio::select! {
                        () = start(token, port_tx) => {},
                        _ = kill_rx => {},
                    }
                });
                // Whatever still runs (heartbeats, refresh loops) dies here without cleanup.
                runtime.shutdown_background();
            })
            .unwrap();
        let (port, admin_port) = port_rx.await.expect("service reported its ports");
        Service {
            port,
            admin_port,
            tls: false,
            shutdown,
            kill: Some(kill_tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The admin listener, e.g. `http://127.0.0.1:PORT` (no trailing slash).
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// Graceful stop: deregisters, drains, returns when done.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        self.join().await;
    }

    /// Abrupt stop: no deregistration, no draining.
    pub async fn kill(mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        self.join().await;
    }

    async fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join().unwrap())
                .await
                .unwrap();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}

/// A registry secured with this run's credentials ([`registry::testing`]) unless `settings`
/// name principals of their own.
pub async fn spawn_registry(mut settings: registry::Settings) -> Service {
    if !settings.auth.is_configured() {
        settings = registry::testing::credentials().secure(settings);
    }
    Service::spawn("registry", move |shutdown, port| async move {
        let app = registry::Application::build(settings).await.unwrap();
        port.send((app.port(), app.admin_address().port())).unwrap();
        app.run_until_stopped(shutdown).await.unwrap();
    })
    .await
}

pub fn registry_settings(port: u16) -> registry::Settings {
    let mut settings = registry::Settings::default();
    settings.server.port = port;
    // A free admin port even when `port` is fixed (a restart): port + 1 may be another test's.
    settings.admin.port = Some(0);
    settings.lease.eviction_interval = Duration::from_millis(100);
    settings
}

pub fn eureka_url(registry: &Service) -> String {
    format!("{}/eureka/v2/", registry.url())
}

/// [`eureka_url`] carrying the credentials of the service `name` (`edge`, `middletier`), as
/// its `RSS_REGISTRY__URL` does.
pub fn eureka_url_as(registry: &Service, name: &str) -> String {
    registry::testing::credentials().url_as(name, &eureka_url(registry))
}

pub fn middletier_settings(registry: &Service) -> middletier::Settings {
    let mut settings = middletier::Settings::default();
    settings.server.port = 0;
    settings.registry = fast_client(&eureka_url_as(registry, "middletier"));
    settings.fetch.allow_private_networks = true;
    // Edges watch the registry, so they stop routing to a leaving middle tier within ms.
    settings.server.shutdown_grace = Duration::from_millis(200);
    // Refresh in test time: a broken feed or a failover shows within a second.
    settings.refresh.interval = Duration::from_millis(200);
    settings.refresh.min_interval = Duration::from_millis(100);
    settings.refresh.max_interval = Duration::from_secs(2);
    settings.refresh.scan_interval = Duration::from_millis(50);
    settings.tls = mtls_settings("middletier");
    settings
}

pub async fn spawn_middletier(settings: middletier::Settings, store: Arc<dyn Store>) -> Service {
    let tls = settings.tls.cert.is_some();
    let mut service = Service::spawn("middletier", move |shutdown, port| async move {
        let app = middletier::Application::build_with_store(settings, store)
            .await
            .unwrap();
        port.send((app.port(), app.admin_address().port())).unwrap();
        app.run_until_stopped(shutdown).await.unwrap();
    })
    .await;
    service.tls = tls;
    service
}

pub fn edge_settings(registry: &Service) -> edge::Settings {
    let mut settings = edge::Settings::default();
    settings.server.port = 0;
    settings.registry = fast_client(&eureka_url_as(registry, "edge"));
    // Every read reaches the middle tier, so tests see failures and fallbacks at once.
    settings.read_cache.fresh_for = Duration::ZERO;
    // Tests poll the streams often, and a closed stream frees its slot only on its next write.
    settings.stream.max_connections = 100;
    // Tests about feeds read as one user without signing in; `System::start_with_accounts`
    // and the `accounts` tests run with accounts.
    settings.accounts.single_user = true;
    settings.tls = mtls_settings("edge");
    settings
}

pub async fn spawn_edge(settings: edge::Settings) -> Service {
    Service::spawn("edge", move |shutdown, port| async move {
        let app = edge::Application::build(settings).await.unwrap();
        port.send((app.port(), app.admin_address().port())).unwrap();
        app.run_until_stopped(shutdown).await.unwrap();
    })
    .await
}

/// The whole recipe: a registry, middle tiers and an edge.
pub struct System {
    pub registry: Service,
    pub middletiers: Vec<Service>,
    pub edge: Service,
}

impl System {
    /// `middletiers` middle tiers sharing one in-memory store.
    pub async fn start(middletiers: usize) -> System {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        System::start_on(vec![store; middletiers]).await
    }

    /// `middletiers` middle tiers sharing one in-memory store, and an edge with accounts (no
    /// single-user mode): pages need a signed-in [`Browser`] (see [`Browser::signed_up`]).
    pub async fn start_with_accounts(middletiers: usize) -> System {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        System::start_tuned(
            vec![store; middletiers],
            |_| {},
            |edge| {
                edge.accounts.single_user = false;
            },
        )
        .await
    }

    /// One middle tier per store given.
    pub async fn start_on(stores: Vec<Arc<dyn Store>>) -> System {
        System::start_tuned(stores, |_| {}, |_| {}).await
    }

    /// One middle tier per store given, with settings changed by `middletier` and `edge`.
    pub async fn start_tuned(
        stores: Vec<Arc<dyn Store>>,
        middletier: impl Fn(&mut middletier::Settings),
        edge: impl FnOnce(&mut edge::Settings),
    ) -> System {
        let middletiers = stores.len();
        let registry = spawn_registry(registry_settings(0)).await;
        let mut started = Vec::new();
        for store in stores {
            let mut settings = middletier_settings(&registry);
            middletier(&mut settings);
            started.push(spawn_middletier(settings, store).await);
        }
        eventually("the registry lists every middle tier", || async {
            registered_middletiers(&registry).await == middletiers
        })
        .await;
        // Started only now, the edge's first discovery fetch already sees every middle tier.
        let mut settings = edge_settings(&registry);
        edge(&mut settings);
        let single_user = settings.accounts.single_user;
        let edge = spawn_edge(settings).await;
        let system = System {
            registry,
            middletiers: started,
            edge,
        };
        if middletiers > 0 && single_user {
            let browser = Browser::new(&system.edge);
            eventually("the edge reaches a middle tier", || async {
                let page = browser.home().await;
                page.status == reqwest::StatusCode::OK && !page.html.contains("banner-error")
            })
            .await;
        } else if middletiers > 0 {
            // Without a session the home page is the sign-in page, which calls nobody.
            eventually("the edge discovers every middle tier", || async {
                edge_instances(&system.edge).await.len() == middletiers
            })
            .await;
        }
        system
    }
}

/// How many middle tiers the registry lists.
pub async fn registered_middletiers(registry: &Service) -> usize {
    let client =
        registry_client::RegistryClient::new(&fast_client(&eureka_url_as(registry, "edge")))
            .unwrap();
    client
        .vip("middletier")
        .await
        .map(|list| list.len())
        .unwrap_or(0)
}

/// A browser-like client for the edge: follows the POST/redirect/GET flow, and carries a
/// session cookie once signed in.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    /// `rss_session=<token>` while signed in.
    pub cookie: Option<String>,
}

pub struct Page {
    pub status: reqwest::StatusCode,
    pub html: String,
}

impl Browser {
    pub fn new(edge: &Service) -> Browser {
        Browser {
            http: http(),
            base: edge.url(),
            cookie: None,
        }
    }

    /// Signs up `name` (password `name` repeated to 8+ characters) on `edge` and keeps the
    /// session cookie, as a browser would.
    pub async fn signed_up(edge: &Service, name: &str) -> Browser {
        let password = password_for(name);
        let response = no_redirects()
            .post(format!("{}/signup", edge.url()))
            .header("Origin", edge.url())
            .header("Sec-Fetch-Site", "same-origin")
            .form(&[("name", name), ("password", password.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            reqwest::StatusCode::SEE_OTHER,
            "sign-up of {name} failed"
        );
        let cookie = session_cookie(&response).expect("a session cookie after sign-up");
        Browser {
            cookie: Some(cookie),
            ..Browser::new(edge)
        }
    }

    /// A GET with the session cookie, if any.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.with_cookie(self.http.get(format!("{}{path}", self.base)))
    }

    /// A same-origin form POST (what the CSRF check lets through) with the session cookie.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.with_cookie(
            self.http
                .post(format!("{}{path}", self.base))
                .header("Origin", self.base.clone())
                .header("Sec-Fetch-Site", "same-origin"),
        )
    }

    fn with_cookie(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(cookie) => request.header(reqwest::header::COOKIE, cookie),
            None => request,
        }
    }

    pub async fn home(&self) -> Page {
        let response = self.get("/").send().await.unwrap();
        Page {
            status: response.status(),
            html: response.text().await.unwrap(),
        }
    }

    pub async fn submit(&self, action: &str, url: &str) -> Page {
        let response = self
            .post(action)
            .form(&[("url", url)])
            .send()
            .await
            .unwrap();
        Page {
            status: response.status(),
            html: response.text().await.unwrap(),
        }
    }

    pub async fn subscribe(&self, url: &str) -> Page {
        self.submit("/subscriptions", url).await
    }

    pub async fn unsubscribe(&self, url: &str) -> Page {
        self.submit("/subscriptions/delete", url).await
    }
}

/// Polls `condition` until it holds, failing the test after 10 s (`platform`'s `eventually`).
pub async fn eventually<F, Fut>(what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    platform::testing::eventually(what, Duration::from_secs(10), condition).await;
}

/// Service identity in tests: one deployment CA for this test process, minted on first use,
/// and a certificate per service, so every system a test starts runs with mutual TLS between
/// edge and middle tier, as deployments do.
pub fn test_pki() -> &'static platform::testing::TestPki {
    static PKI: std::sync::LazyLock<platform::testing::TestPki> =
        std::sync::LazyLock::new(platform::testing::TestPki::new);
    &PKI
}

/// The `[tls]` settings of `service` (`edge`, `middletier`, or any other name) from
/// [`test_pki`]; issued once per name, so concurrent tests read finished files.
pub fn mtls_settings(service: &str) -> platform::tls::TlsSettings {
    static ISSUED: std::sync::Mutex<Vec<(String, platform::tls::TlsSettings)>> =
        std::sync::Mutex::new(Vec::new());
    let mut issued = ISSUED.lock().unwrap();
    if let Some((_, settings)) = issued.iter().find(|(name, _)| name == service) {
        return settings.clone();
    }
    let settings = test_pki().settings(service);
    issued.push((service.to_owned(), settings.clone()));
    settings
}

/// A client calling middle tiers as the edge does: the edge's certificate, a middle tier's
/// required (for tests that call a middle tier's API or chaos controls directly).
pub fn middletier_http() -> reqwest::Client {
    let identity = mtls_settings("edge").load("edge").unwrap().unwrap();
    platform::http::client_builder()
        .tls_backend_preconfigured(identity.client_config("middletier").unwrap())
        .build()
        .expect("mutual TLS client")
}

/// The middle tier's typed client as the edge builds it (mutual TLS).
pub fn middletier_api(read_timeout: Duration) -> middletier_api::MiddletierClient {
    let identity = mtls_settings("edge").load("edge").unwrap().unwrap();
    middletier_api::MiddletierClient::with_tls(
        Duration::from_secs(2),
        read_timeout,
        identity.client_config("middletier").unwrap(),
    )
    .expect("middle-tier client")
}

/// The answer to a request made without following redirects, as the account and hostile-input
/// tests read it.
pub struct Answer {
    pub status: reqwest::StatusCode,
    pub location: Option<String>,
    pub set_cookie: Vec<String>,
    /// `Retry-After` in seconds, when the edge asks the client to wait.
    pub retry_after: Option<u64>,
    pub headers: reqwest::header::HeaderMap,
    pub html: String,
}

/// Sends `request` and reads the whole answer.
pub async fn answer(request: reqwest::RequestBuilder) -> Answer {
    use reqwest::header::{LOCATION, RETRY_AFTER, SET_COOKIE};
    let response = request.send().await.expect("the edge answers");
    let headers = response.headers().clone();
    let text = |name| {
        headers
            .get(name)
            .map(|value: &reqwest::header::HeaderValue| value.to_str().expect("ascii").to_owned())
    };
    Answer {
        status: response.status(),
        location: text(LOCATION),
        set_cookie: headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|value| value.to_str().expect("ascii").to_owned())
            .collect(),
        retry_after: text(RETRY_AFTER).map(|value| {
            value
                .parse()
                .unwrap_or_else(|_| panic!("Retry-After: {value}"))
        }),
        html: response.text().await.expect("a body"),
        headers,
    }
}

/// Another edge with accounts on `system`'s registry, once it has discovered `middletiers`.
pub async fn another_edge(
    system: &System,
    middletiers: usize,
    tune: impl FnOnce(&mut edge::Settings),
) -> Service {
    let mut settings = edge_settings(&system.registry);
    settings.accounts.single_user = false;
    tune(&mut settings);
    let edge = spawn_edge(settings).await;
    eventually("the new edge discovers the middle tiers", || async {
        edge_instances(&edge).await.len() == middletiers
    })
    .await;
    edge
}

/// Every reqwest client needs the TLS provider that `platform` installs.
pub fn http() -> reqwest::Client {
    platform::http::client_builder()
        .build()
        .expect("http client")
}

/// A client that shows redirects instead of following them (to see `Set-Cookie` and
/// `Location`).
pub fn no_redirects() -> reqwest::Client {
    platform::http::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// The password [`Browser::signed_up`] gives `name`.
pub fn password_for(name: &str) -> String {
    format!("{name}-password")
}

/// `rss_session=<token>` from a response's `Set-Cookie`, when it sets a session.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with("rss_session=") && pair.len() > "rss_session=".len())
        .map(str::to_owned)
}

/// The first event of a Server-Sent Events stream at `url`, parsed.
pub async fn first_event(url: &str) -> serde_json::Value {
    let mut response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = response.chunk().await.unwrap().expect("the stream goes on");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data = text
        .split("\n\n")
        .next()
        .and_then(|event| event.strip_prefix("data: "))
        .expect("a data event first");
    serde_json::from_str(data).unwrap()
}

/// The edge's view of the middle tiers (from the dashboard's stream).
pub async fn edge_instances(edge: &Service) -> Vec<serde_json::Value> {
    let event = first_event(&format!("{}/dashboard/instances.stream", edge.admin_url())).await;
    event["instances"].as_array().cloned().unwrap_or_default()
}

/// A wall-clock bound, the only kind of timing these tests assert: that something which must
/// not hang or wait on a timeout (a breaker closing once its sleep window has passed, a new
/// middle tier reached within a discovery refresh) ended in time, with room for a loaded machine. How fast things are is measured by
/// the benches (`edge/benches`, figures in `docs/benchmarks.md`), never asserted here.
#[track_caller]
pub fn assert_bounded(what: &str, elapsed: Duration, bound: Duration) {
    assert!(elapsed < bound, "{what}: took {elapsed:?}, bound {bound:?}");
}
