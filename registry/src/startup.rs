//! Binding and serving: [`Application`] ties settings, the registry, the API, the eviction
//! loop and replication together, so `main` and the tests start the server the same way.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use platform::admin::Admin;
use platform::config::Live;
use platform::telemetry::LogSettings;
use platform::{health::Health, lifecycle::Shutdown};
use tokio::net::TcpListener;
use url::Url;

use crate::auth::Access;
use crate::domain::Registry;
use crate::replication::{self, Peers};
use crate::routes;
use crate::settings::Settings;
use crate::state::AppState;

/// Why the registry could not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Bind(#[from] platform::config::BindError),
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    #[error("invalid registry credentials: {0}")]
    Auth(#[from] platform::config::InvalidSetting),
    #[error("invalid replication peers: {0}")]
    Peers(#[from] registry_client::ClientError),
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
}

/// A registry bound to its port and ready to serve.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    /// The operator port: dashboard, `/status`, `/metrics`, `/admin/config`.
    admin: Admin,
    registry: Registry,
    health: Health,
    peers: Peers,
    access: Arc<Access>,
    settings: Settings,
    /// The live configuration, for `/admin/config` (only the log level is dynamic here).
    config: Live<Settings>,
}

impl Application {
    /// Binds `settings.server` (port 0 picks a free port) without serving yet, so the caller
    /// learns the port before anything can call it. Fails on an invalid peer URL or
    /// credentials too, and in `prod` (`RSS_ENV`) when no credentials are configured.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        Self::build_live(Live::fixed(settings)).await
    }

    /// [`Application::build`] from a watched configuration (what `main` passes).
    pub async fn build_live(config: Live<Settings>) -> Result<Application, StartupError> {
        let settings = Settings::clone(&config.get());
        settings.check(std::env::var("RSS_ENV").ok().as_deref())?;
        let access = Arc::new(Access::new(&settings.auth)?);
        if access.is_open() {
            tracing::warn!(
                "no registry credentials configured: anyone who reaches this port can register, \
                 override and replicate (development only)"
            );
        }
        let peers = Peers::new(&settings.replication)?;
        let (listener, _) = settings.server.bind().await?;
        // The address actually bound: its IP names this node on the dashboard.
        let address = listener.local_addr().map_err(StartupError::Serve)?;
        let admin = Admin::bind(&settings.admin, settings.server.port).await?;
        Ok(Application {
            listener,
            address,
            admin,
            registry: Registry::with_limits(
                settings.lease,
                settings.self_preservation,
                settings.limits,
            ),
            health: Health::up(),
            peers,
            access,
            settings,
            config,
        })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Where clients reach the Eureka API, e.g. `http://127.0.0.1:8761/eureka/v2/`.
    pub fn base_url(&self) -> Url {
        // A wildcard bind is reachable on loopback; a client cannot connect to 0.0.0.0.
        let ip = match self.address.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let address = SocketAddr::new(ip, self.port());
        Url::parse(&format!("http://{address}/eureka/v2/"))
            .unwrap_or_else(|error| unreachable!("a socket address makes a valid URL: {error}"))
    }

    /// Where the admin listener is bound (loopback unless `admin.host` says otherwise).
    pub fn admin_address(&self) -> SocketAddr {
        self.admin.address()
    }

    /// Where operators reach the dashboard, e.g. `http://127.0.0.1:8762/`.
    pub fn admin_url(&self) -> String {
        self.admin.url()
    }

    /// The in-memory registry this application serves (tests inspect and change it directly).
    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }

    /// Serves the API and the admin listener until `shutdown`, then drains open requests and
    /// stops the background loops:
    /// eviction, replication to peers, and the initial sync from them (client reads answer 503
    /// until it is over).
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), StartupError> {
        // A child token, so stopping the loops after a serve error leaves the caller's alone.
        let stop = shutdown.child_token();
        let ready = Arc::new(AtomicBool::new(self.peers.is_empty()));
        // Readiness follows the initial sync: until it is over, client reads answer 503.
        let synced = self.health.check("peers", platform::health::Status::Up);
        if !self.peers.is_empty() {
            synced.set(
                platform::health::Status::Starting,
                Some("copying the registry from a peer".to_owned()),
            );
        }
        let eviction = tokio::spawn(self.registry.clone().run_eviction(stop.clone()));
        let replication = tokio::spawn(self.peers.clone().run(
            self.registry.clone(),
            self.settings.replication.clone(),
            stop.clone(),
        ));
        let sync = tokio::spawn({
            let (registry, peers, ready, stop, synced) = (
                self.registry.clone(),
                self.peers.clone(),
                ready.clone(),
                stop.clone(),
                synced.clone(),
            );
            let timeout = self.settings.replication.sync_timeout;
            async move {
                if replication::initial_sync(&registry, &peers, timeout, &stop)
                    .await
                    .is_none()
                    && !stop.is_cancelled()
                {
                    tracing::warn!(?timeout, "no peer answered; serving alone");
                }
                ready.store(true, Ordering::Release);
                synced.set(platform::health::Status::Up, None);
            }
        });
        let node = Url::parse(&format!("http://{}/eureka/v2/", self.address))
            .map_or_else(|_| self.address.to_string(), String::from);
        let state = AppState {
            metrics: crate::metrics::metrics(&self.registry),
            registry: self.registry,
            health: self.health,
            peers: self.peers,
            queue_capacity: self.settings.replication.queue_capacity,
            ready,
            shutdown: stop.clone(),
            node,
            access: self.access,
            max_body_bytes: self.settings.limits.max_body_bytes,
        };
        let admin = platform::admin::router(
            routes::operator_routes(state.clone()),
            self.config,
            &state.metrics,
            &state.health,
        );
        let admin = tokio::spawn(self.admin.serve(admin, shutdown.clone()));
        let listening = self.settings.server.listening(None);
        let served =
            platform::server::serve_with(self.listener, routes::router(state), shutdown, listening)
                .await;
        stop.cancel();
        let admin_served = match admin.await {
            Ok(result) => result,
            Err(join_error) => Err(std::io::Error::other(join_error)),
        };
        for (name, task) in [
            ("eviction", eviction),
            ("replication", replication),
            ("sync", sync),
        ] {
            if let Err(error) = task.await {
                tracing::error!(%error, "{name} loop panicked");
            }
        }
        served.and(admin_served).map_err(StartupError::Serve)
    }
}

/// How `main` runs the registry (see [`platform::service`]).
impl platform::service::Service for Application {
    const NAME: &'static str = "registry";
    const LISTENING: &'static str = "registry listening";

    type Settings = Settings;
    type Error = StartupError;

    fn log(settings: &Settings) -> &LogSettings {
        &settings.log
    }

    async fn build(config: Live<Settings>) -> Result<Self, StartupError> {
        Self::build_live(config).await
    }

    fn base_url(&self) -> String {
        Application::base_url(self).to_string()
    }

    fn admin_url(&self) -> String {
        Application::admin_url(self)
    }

    async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), StartupError> {
        Application::run_until_stopped(self, shutdown).await
    }
}
