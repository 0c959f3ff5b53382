//! The edge: the user-facing service of the recipe.
//!
//! It discovers middle tiers through the registry, balances and retries across them (Ribbon's
//! role), runs every call inside a command with a circuit breaker, a timeout and a fallback
//! (Hystrix's role), and serves the HTML UI.
//!
//! It knows the other services only through their contracts: `registry-client`
//! ([`registry_client`]) to register and to discover middle tiers, and `middletier-api`
//! ([`middletier_api`]) for the middle tier's wire types, typed client, ids and limits. Neither
//! server crate is a normal dependency, so the Cassandra driver and the feed parser never reach
//! the edge's build (tests and benches start real servers from them as dev-dependencies).
//!
//! # Layout
//! Lower layers import nothing from higher ones:
//! `resilience` ← `balancer` ← `upstream` ← {`export`, `stream`, `dashboard`, `web`, `accounts`,
//! `apps`}.
//!
//! - [`web`]: the HTML UI (askama templates in `templates/` at the workspace root).
//! - [`accounts`]: who is asking, below the pages that ask: [`accounts::CurrentUser`] (the only
//!   source of whose data a request uses, taken from the router's state) and
//!   [`accounts::Viewer`] (who a page is shown to); and sign-up, sign-in and sign-out.
//!   [`session`]: session tokens, cookies and the session cache.
//! - [`local_path`]: [`local_path::LocalPath`], the one parser of the return addresses (`next`,
//!   `back`) that the UI and the account pages redirect to.
//! - [`dashboard`]: the live resilience dashboard and `/hystrix.stream`; [`stream`]:
//!   Server-Sent Events in the Hystrix stream format. Both on the admin port
//!   ([`platform::admin`]), with `/metrics` and `/admin/config`; never on the readers' port.
//! - [`apps`]: the Google Reader and Fever APIs sync apps read with, authenticated by app
//!   password only.
//! - [`export`]: the commands' and the balancer's Prometheus metrics (`/metrics`).
//! - [`upstream`]: calling the middle tier: one command per operation, Ribbon's retries within
//!   the retry budget, the read cache (the feed list) and the stale-read fallbacks; the
//!   [`upstream::UpstreamError`] the pages show.
//! - [`balancer`]: round robin or power of two choices on peak EWMA, with outlier ejection.
//! - [`resilience`]: Hystrix's, Finagle's and concurrency-limits' pieces, generic over what
//!   they guard: the rolling window, the circuit breaker, the adaptive concurrency limit and
//!   its admission queue, rolling statistics, the retry budget and the command that puts them
//!   together.
//! - [`cache_budget`]: the byte budgets that bound the caches of upstream content (read cache,
//!   river fallback pages, sanitized descriptions), below everything that caches.
//! - [`settings`], the configuration.

pub mod accounts;
pub mod apps;
pub mod balancer;
pub mod cache_budget;
pub mod dashboard;
pub mod export;
pub mod local_path;
pub mod resilience;
pub mod session;
pub mod settings;
pub mod stream;
pub mod upstream;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::csrf::CsrfLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use middletier_api::MiddletierClient;
use platform::admin::Admin;
use platform::config::Live;
use platform::health::Health;
use platform::lifecycle::Shutdown;
use registry_client::{Discovery, InstanceConfig, Registration, RegistryClient, Selection};

pub use settings::Settings;
use upstream::Upstream;

/// Feed HTML may show publishers' images, and items' podcast and video files play from the
/// publishers' servers (`media-src`); nothing else leaves this origin, no inline script or
/// style runs (only the reader's own `/static/reader.js`, which posts back here with fetch),
/// and nobody may frame the page. (The dashboard also opens event streams: see [`dashboard`].)
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     connect-src 'self'; img-src https: http: data:; media-src https: http:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Longer than any command timeout, so commands answer (with their fallback) first.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Bind(#[from] platform::config::BindError),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("invalid registry settings: {0}")]
    Registry(#[from] registry_client::ClientError),
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    #[error(transparent)]
    Tls(#[from] platform::tls::TlsError),
}

#[derive(Debug)]
pub struct Application {
    listener: tokio::net::TcpListener,
    port: u16,
    /// The operator port: dashboard, `/hystrix.stream`, `/metrics`, `/admin/config`.
    admin: Admin,
    settings: Settings,
    /// The edge's certificate, when `[tls]` is set: middle tiers are then called over mutual
    /// TLS only.
    identity: Option<platform::tls::Identity>,
    /// The live configuration: dynamic properties and `/admin/config` follow it.
    config: Live<Settings>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_live(Live::fixed(settings)).await
    }

    /// Builds from a watched configuration (what `main` passes): commands and retries use
    /// its current values at every call.
    pub async fn build_live(config: Live<Settings>) -> Result<Self, StartupError> {
        let settings = Settings::clone(&config.get());
        settings.check(std::env::var("RSS_ENV").ok().as_deref())?;
        let identity = settings.tls.load("edge")?;
        let (listener, port) = settings.server.bind().await?;
        let admin = Admin::bind(&settings.admin, settings.server.port).await?;
        Ok(Self {
            listener,
            port,
            admin,
            identity,
            settings,
            config,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn base_url(&self) -> String {
        format!(
            "http://{}:{}/",
            self.settings.server.advertised_host(),
            self.port
        )
    }

    /// Where the admin listener is bound (loopback unless `admin.host` says otherwise).
    pub fn admin_address(&self) -> std::net::SocketAddr {
        self.admin.address()
    }

    /// Where operators reach the dashboard, e.g. `http://127.0.0.1:9091/dashboard`.
    pub fn admin_url(&self) -> String {
        self.admin.url()
    }

    /// Starts discovery and registration, serves readers and the admin listener until
    /// `shutdown`, then deregisters.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), StartupError> {
        let settings = &self.settings;
        let registry = RegistryClient::new(&settings.registry)?;
        // Only middle tiers: their app under their VIP and, with TLS, their secure port (the
        // certificate then proves the rest, at every connection).
        let discovery = Discovery::start_selecting(
            registry.clone(),
            &settings.middletier.vip,
            Selection {
                app: Some(settings.middletier.app.clone()),
                secure: self.identity.is_some(),
            },
            &settings.registry,
            shutdown.clone(),
        );
        let (connect_timeout, read_timeout) = (
            settings.middletier.connect_timeout,
            settings.middletier.read_timeout,
        );
        let client = match &self.identity {
            Some(identity) => MiddletierClient::with_tls(
                connect_timeout,
                read_timeout,
                identity.client_config("middletier")?,
            )?,
            None => MiddletierClient::new(connect_timeout, read_timeout)?,
        }
        .with_token(settings.middletier.token.clone())
        .with_max_answer_bytes(settings.middletier.max_answer_bytes);
        let health = Health::up();
        // Ready once the registry has answered: the edge then routes to what exists (and with
        // no middle tier at all it still serves its stale pages, so that is not a reason to
        // take it out of rotation).
        let discovered = health.check("discovery", platform::health::Status::Starting);
        discovered.set(
            platform::health::Status::Starting,
            Some("waiting for the registry's list of middle tiers".to_owned()),
        );
        tokio::spawn({
            let (discovery, shutdown) = (discovery.clone(), shutdown.clone());
            async move {
                tokio::select! {
                    () = discovery.first_answer() => discovered.set(platform::health::Status::Up, None),
                    () = shutdown.cancelled() => {}
                }
            }
        });
        let upstream = Arc::new(Upstream::new(
            client,
            discovery,
            Settings::live_upstream(&self.config),
        ));
        let metrics = platform::metrics::Metrics::new("edge");
        export::Exporter::register(upstream.clone(), &metrics);
        let registration = Registration::start(
            registry,
            InstanceConfig {
                app: "EDGE".to_owned(),
                vip_address: "edge".to_owned(),
                host: settings.server.advertised_host(),
                ip_addr: settings.server.advertised_host(),
                port: self.port,
                secure: false,
                health_check_path: "/health".to_owned(),
            },
            &settings.registry,
            health.clone(),
            shutdown.clone(),
        );
        let dashboard = dashboard::DashboardState::new(
            upstream.clone(),
            settings.stream.clone(),
            shutdown.clone(),
            settings.ui.default_user.clone(),
        );
        let accounts = accounts::Accounts::new(
            upstream.clone(),
            settings.accounts.clone(),
            settings.ui.default_user.clone(),
        );
        if settings.accounts.single_user {
            tracing::warn!(
                user = %settings.ui.default_user,
                "single-user mode: every visitor acts as this user without signing in"
            );
        }
        let web = web::WebState::new(upstream, accounts, settings.ui.max_sanitized_bytes);
        let router =
            platform::server::with_standard_layers(router(web, &health), REQUEST_TIMEOUT, &metrics);
        let admin = platform::admin::router(
            operator_routes(dashboard),
            self.config.clone(),
            &metrics,
            &health,
        );
        let admin = tokio::spawn(self.admin.serve(admin, shutdown.clone()));
        let served = platform::server::serve_with(
            self.listener,
            router,
            shutdown,
            settings.server.listening(None),
        )
        .await;
        registration.stopped().await;
        let admin = admin
            .await
            .unwrap_or_else(|join_error| Err(std::io::Error::other(join_error)));
        served.and(admin).map_err(StartupError::Serve)
    }
}

/// How `main` runs the edge (see [`platform::service`]).
impl platform::service::Service for Application {
    const NAME: &'static str = "edge";
    const LISTENING: &'static str = "edge listening: open this URL in a browser";

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

/// The edge's public routes (readers' pages and health) with their browser-facing protections.
pub fn router(web: web::WebState, health: &Health) -> Router {
    let accounts = web.accounts.clone();
    let apps = apps::router(apps::AppsState {
        upstream: web.upstream.clone(),
        accounts: accounts.clone(),
    });
    web::router(web)
        .merge(accounts::router(accounts.clone()))
        // Rejects cross-site form posts (Sec-Fetch-Site / Origin checks; no tokens needed).
        .layer(CsrfLayer::new())
        // HTTPS only from the first visit on, whenever the session cookie is `Secure`.
        .layer(axum::middleware::from_fn_with_state(
            accounts,
            accounts::strict_transport_security,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // Pages show one user's reading list: no shared cache may keep them. (Assets say
        // `public` themselves.)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        ))
        // Apps authenticate by token, never by cookie: outside the browser protections.
        .merge(apps)
        .merge(health.router())
}

/// The operator pages, for [`platform::admin::router`]: the resilience dashboard, its streams
/// and `/hystrix.stream` (the dashboard sets its own Content Security Policy), with the
/// stylesheet the dashboard's page uses.
pub fn operator_routes(dashboard: dashboard::DashboardState) -> Router {
    dashboard::router(dashboard).merge(web::stylesheet()).layer(
        SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    )
}
