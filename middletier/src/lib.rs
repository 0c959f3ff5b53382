//! The middle tier: fetches and parses feeds and keeps users' subscriptions.
//!
//! It serves the recipe's REST API (`/middletier/rss/user/{user}`), registers itself with the
//! registry as app `MIDDLETIER` / vip `middletier`, and reports its health at `/health`. Its
//! operator endpoints (`/metrics`, `/admin/config`, `/chaos`) are on the admin port
//! ([`platform::admin`]), never on the API's.
//! Its contract is the `middletier-api` crate ([`middletier_api`]): the wire types it serves,
//! the typed client edges call it with ([`middletier_api::MiddletierClient`]), `UserId` and
//! `FeedUrl`, and the limits it enforces. Callers depend on that crate, never on this one.
//!
//! # Layout
//! - [`service`]: the behaviour (read feeds, subscribe, unsubscribe, reading state, accounts),
//!   online.
//! - [`river`]: the river of news: pages merged from every feed, unread counts.
//! - [`app_items`]: sync apps' selections of items, in river-time or item-number order.
//! - [`refresh`]: nearline refresh: scheduling, sharing feeds among middle tiers, the cache.
//! - [`retention`]: the background job bounding each feed's item history (starred items stay).
//! - [`fetch`]: HTTP fetching with timeouts, size cap and SSRF guard.
//! - [`feed`]: parsing with feed-rs and making content safe.
//! - [`icons`]: finding each feed's icon at refresh (the feed's image, the site's links,
//!   `/favicon.ico`), checked and stored once by hash.
//! - [`discover`]: finding the feeds a web page links to; [`opml`]: OPML import and export.
//! - [`store`]: the store traits, their implementations (memory, SQLite, Cassandra) and the layers
//!   composed around them (metrics, the process feed cache); [`transfer`]: moving every
//!   reader's data between stores through one file (`middletier export` / `import`).
//! - [`search`]: the query language readers type and the highlighted snippets of each hit.
//! - [`routes`]: the HTTP transport; [`openapi`]: its OpenAPI document at `/openapi.json`.
//! - [`chaos`]: fault injection for demos and tests (off unless enabled in config).
//! - [`settings`], the configuration.
//! - `testing` (feature `test-support`): a loopback feed publisher for tests.

pub mod app_items;
pub mod chaos;
pub mod discover;
pub mod feed;
pub mod fetch;
pub mod icons;
pub mod openapi;
pub mod opml;
pub mod refresh;
pub mod retention;
pub mod river;
pub mod routes;
pub mod search;
pub mod service;
pub mod settings;
pub mod store;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod transfer;

use std::sync::Arc;
use std::time::Duration;

use platform::admin::Admin;
use platform::config::Live;
use platform::health::Health;
use platform::lifecycle::Shutdown;
use registry_client::{Discovery, InstanceConfig, Registration, RegistryClient};

pub use settings::Settings;
use settings::StoreKind;
use store::{CassandraStore, FeedCache, MemoryStore, Metered, SqliteStore, Store};

/// Longest a request may take. Reads only touch the store; subscribing fetches the feed once
/// (bounded by `fetch.timeout`) and maybe a few discovery candidates.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Whose client certificates the API accepts when TLS is on: edges, and the middle tier's own
/// operator tools (a health check run in a middle tier's container with its certificate).
pub const ACCEPTED_CALLERS: &[&str] = &["edge", "middletier"];

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Bind(#[from] platform::config::BindError),
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("invalid registry settings: {0}")]
    Registry(#[from] registry_client::ClientError),
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    #[error(transparent)]
    Tls(#[from] platform::tls::TlsError),
    /// The embedded store's file cannot be used; the message names the path and what to do.
    #[error(transparent)]
    Store(#[from] store::OpenError),
}

/// A bound, ready-to-run middle tier (built, then run, so tests learn the port first).
#[derive(Debug)]
pub struct Application {
    listener: tokio::net::TcpListener,
    port: u16,
    /// The operator port: `/metrics`, `/admin/config`, `/chaos`.
    admin: Admin,
    settings: Settings,
    /// Serving HTTPS to [`ACCEPTED_CALLERS`] only, when `[tls]` is set.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// The configured store, its every call timed (`rss_store_*`) by this one wrapper.
    store: Arc<Metered<dyn Store>>,
    fetcher: fetch::Fetcher,
    health: Health,
    /// Stops the store's background work (connecting, probing) when the server stops.
    background: Shutdown,
    /// The live configuration: refresh scheduling and `/admin/config` follow it.
    config: Live<Settings>,
}

impl Application {
    /// Builds the store named by `settings.store.kind`.
    ///
    /// With Cassandra this returns at once: the store connects in the background and health
    /// stays `STARTING` (so the registry and balancers keep traffic away) until it is ready.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        settings.check(std::env::var("RSS_ENV").ok().as_deref())?;
        let health = Health::up();
        let background = Shutdown::new();
        let store: Arc<dyn Store> = match settings.store.kind {
            StoreKind::Memory => Arc::new(MemoryStore::new()),
            // Opened (and migrated) before serving: a bad path stops start-up with its reason.
            StoreKind::Sqlite => Arc::new(FeedCache::new(
                SqliteStore::open(&settings.store.path).await?,
            )),
            // Decoded feeds kept in this process for page views (see `store::FeedCache`).
            StoreKind::Cassandra => Arc::new(FeedCache::new(CassandraStore::start(
                settings.cassandra.clone(),
                health.clone(),
                background.clone(),
            ))),
        };
        let mut app = Self::build_with_store(settings, store).await?;
        app.health = health;
        app.background = background;
        Ok(app)
    }

    /// [`Application::build`] from a watched configuration (what `main` passes): the dynamic
    /// properties (refresh scheduling) follow it while the service runs.
    pub async fn build_live(config: Live<Settings>) -> Result<Self, StartupError> {
        let mut app = Self::build(Settings::clone(&config.get())).await?;
        app.config = config;
        Ok(app)
    }

    /// Builds around a given store (tests share one store between several middle tiers).
    pub async fn build_with_store(
        settings: Settings,
        store: Arc<dyn Store>,
    ) -> Result<Self, StartupError> {
        let tls = match settings.tls.load("middletier")? {
            Some(identity) => Some(identity.server_config(ACCEPTED_CALLERS)?),
            None => None,
        };
        let (listener, port) = settings.server.bind().await?;
        let admin = Admin::bind(&settings.admin, settings.server.port).await?;
        let fetcher = fetch::Fetcher::new(settings.fetch.clone())?;
        Ok(Self {
            listener,
            port,
            admin,
            tls,
            store: Arc::new(Metered::new(store)),
            fetcher,
            health: Health::up(),
            background: Shutdown::new(),
            config: Live::fixed(settings.clone()),
            settings,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL peers use to reach this instance, as registered.
    pub fn base_url(&self) -> String {
        format!(
            "{}://{}:{}/",
            if self.tls.is_some() { "https" } else { "http" },
            self.settings.server.advertised_host(),
            self.port
        )
    }

    /// Where the admin listener is bound (loopback unless `admin.host` says otherwise).
    pub fn admin_address(&self) -> std::net::SocketAddr {
        self.admin.address()
    }

    /// Where operators reach `/metrics`, `/admin/config` and `/chaos`.
    pub fn admin_url(&self) -> String {
        self.admin.url()
    }

    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// Registers with the registry, refreshes its share of the feeds in the background, serves
    /// until `shutdown`, then deregisters and drains.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), StartupError> {
        let client = RegistryClient::new(&self.settings.registry)?;
        let instance = InstanceConfig {
            app: self.settings.instance.app.clone(),
            vip_address: self.settings.instance.vip.clone(),
            host: self.settings.server.advertised_host(),
            ip_addr: self.settings.server.advertised_host(),
            port: self.port,
            secure: self.tls.is_some(),
            health_check_path: "/health".to_owned(),
        };
        // The live middle tiers, to share refreshing with (rendezvous hashing).
        let peers = Discovery::start(
            client.clone(),
            &self.settings.instance.vip,
            &self.settings.registry,
            self.background.clone(),
        );
        let ownership = refresh::Ownership::shared(instance.instance_id(), peers);
        // Retention works on the same feeds this instance refreshes.
        let retention = retention::Retention::new(
            self.store.clone(),
            self.settings.retention.clone(),
            ownership.clone(),
        )
        .with_live_settings(self.config.map(|settings| settings.retention.clone()));
        let metrics = platform::metrics::Metrics::new("middletier");
        self.fetcher.register_metrics(&metrics);
        self.store.register_metrics(&metrics);
        let store: Arc<dyn Store> = self.store;
        let refresher = refresh::Refresher::new(
            store.clone(),
            self.fetcher,
            self.settings.refresh.clone(),
            ownership,
        )
        .with_live_settings(self.config.map(|settings| settings.refresh.clone()));
        refresher.register_metrics(&metrics);
        retention.register_metrics(&metrics);
        tokio::spawn(refresher.clone().run(self.background.clone()));
        tokio::spawn(retention.run(self.background.clone()));
        let registration = Registration::start(
            client,
            instance,
            &self.settings.registry,
            self.health.clone(),
            shutdown.clone(),
        );
        let service = service::FeedService::new(store, refresher)
            .with_accounts(self.settings.accounts.clone());
        let chaos = chaos::Chaos::new(self.settings.chaos.clone(), self.health.clone());
        let router = platform::server::with_standard_layers(
            chaos
                .wrap(routes::require_token(
                    routes::router(service),
                    self.settings.api.token.clone(),
                    self.settings.api.next_token.clone(),
                ))
                .merge(self.health.router())
                .merge(openapi::router()),
            REQUEST_TIMEOUT,
            &metrics,
        );
        let admin =
            platform::admin::router(chaos.routes(), self.config.clone(), &metrics, &self.health);
        // Shutdown order: leave the registry, keep serving for `shutdown_grace` while edges see
        // the change and stop routing here, then stop accepting and drain in-flight requests.
        let stop_serving = Shutdown::new();
        let served = tokio::spawn(platform::server::serve_with(
            self.listener,
            router,
            stop_serving.clone(),
            self.settings.server.listening(self.tls),
        ));
        let admin = tokio::spawn(self.admin.serve(admin, stop_serving.clone()));
        shutdown.cancelled().await;
        registration.stopped().await;
        tokio::time::sleep(self.settings.server.shutdown_grace).await;
        stop_serving.cancel();
        self.background.cancel();
        let joined = |result: Result<std::io::Result<()>, tokio::task::JoinError>| {
            result.unwrap_or_else(|join_error| Err(std::io::Error::other(join_error)))
        };
        let served = joined(served.await);
        let admin = joined(admin.await);
        served.and(admin).map_err(StartupError::Serve)
    }
}

/// How `main` runs the middle tier (see [`platform::service`]).
impl platform::service::Service for Application {
    const NAME: &'static str = "middletier";
    const LISTENING: &'static str = "middle tier listening";

    type Settings = Settings;
    type Error = StartupError;

    fn log(settings: &Settings) -> &platform::telemetry::LogSettings {
        &settings.log
    }

    async fn build(config: Live<Settings>) -> Result<Self, StartupError> {
        Self::build_live(config).await
    }

    fn base_url(&self) -> String {
        Application::base_url(self)
    }

    fn admin_url(&self) -> String {
        Application::admin_url(self)
    }

    async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), StartupError> {
        Application::run_until_stopped(self, shutdown).await
    }
}
