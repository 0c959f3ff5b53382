//! The edge: the user-facing service of the recipe.
//!
//! It discovers middle tiers through the registry, balances and retries across them (Ribbon's
//! role), runs every call inside a command with a circuit breaker, a timeout and a fallback
//! (Hystrix's role), and serves the HTML UI.
//!
//! # Layout
//! - [`web`]: the HTML UI (askama templates in `templates/` at the workspace root).
//! - [`dashboard`]: the live resilience dashboard and `/hystrix.stream`.
//! - [`upstream`]: calling the middle tier: balancing, retries, one command per operation,
//!   the read cache and the stale-read fallback.
//! - [`balancer`]: round robin or power of two choices on peak EWMA, with outlier ejection.
//! - [`retry`]: the retry budget.
//! - [`command`]: a Hystrix-style command (breaker + bulkhead + timeout + outcome accounting).
//! - [`breaker`]: the circuit breaker state machine.
//! - [`metrics`]: rolling counts and latency percentiles per command.
//! - [`stream`]: Server-Sent Events in the Hystrix stream format.
//! - [`settings`], the configuration.

pub mod accounts;
pub mod balancer;
pub mod breaker;
pub mod command;
pub mod dashboard;
pub mod metrics;
pub mod retry;
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

use middletier::client::MiddletierClient;
use platform::health::Health;
use platform::lifecycle::Shutdown;
use registry::client::{Discovery, InstanceConfig, Registration, RegistryClient};

pub use settings::Settings;
use upstream::Upstream;

/// Feed HTML may show publishers' images; nothing else leaves this origin, no script or inline
/// style runs, and nobody may frame the page. (The dashboard alone allows this origin's own
/// script and event streams: see [`dashboard`].)
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src https: http: data:; \
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
    Registry(#[from] registry::client::ClientError),
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
}

#[derive(Debug)]
pub struct Application {
    listener: tokio::net::TcpListener,
    port: u16,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let (listener, port) = settings.server.bind().await?;
        Ok(Self {
            listener,
            port,
            settings,
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

    /// Starts discovery and registration, serves until `shutdown`, then deregisters.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), StartupError> {
        let settings = &self.settings;
        let registry = RegistryClient::new(&settings.registry)?;
        let discovery = Discovery::start(
            registry.clone(),
            &settings.middletier.vip,
            &settings.registry,
            shutdown.clone(),
        );
        let client = MiddletierClient::new(
            settings.middletier.connect_timeout,
            settings.middletier.read_timeout,
        )?;
        let upstream = Arc::new(Upstream::new(client, discovery, settings.upstream()));
        let health = Health::up();
        let registration = Registration::start(
            registry,
            InstanceConfig {
                app: "EDGE".to_owned(),
                vip_address: "edge".to_owned(),
                host: settings.server.advertised_host(),
                ip_addr: settings.server.advertised_host(),
                port: self.port,
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
        let state = web::WebState::new(upstream, settings.ui.default_user.clone());
        let router = platform::server::with_standard_layers(
            router(state, dashboard, &health),
            REQUEST_TIMEOUT,
        );
        let served = platform::server::serve(self.listener, router, shutdown).await;
        registration.stopped().await;
        served.map_err(StartupError::Serve)
    }
}

/// The edge's routes with its browser-facing protections.
pub fn router(
    state: web::WebState,
    dashboard: dashboard::DashboardState,
    health: &Health,
) -> Router {
    web::router(state)
        .merge(dashboard::router(dashboard))
        // Rejects cross-site form posts (Sec-Fetch-Site / Origin checks; no tokens needed).
        .layer(CsrfLayer::new())
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
        .merge(health.router())
}
