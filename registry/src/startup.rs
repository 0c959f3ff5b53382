//! Binding and serving: [`Application`] ties settings, the registry, the API, the eviction
//! loop and replication together, so `main` and the tests start the server the same way.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use platform::config::Live;
use platform::{health::Health, lifecycle::Shutdown};
use url::Url;

use crate::domain::Registry;
use crate::replication::{self, Peers};
use crate::routes;
use crate::settings::Settings;
use crate::state::AppState;

/// A registry bound to its port and ready to serve.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    registry: Registry,
    health: Health,
    peers: Peers,
    settings: Settings,
    /// The live configuration, for `/admin/config` (only the log level is dynamic here).
    config: Live<Settings>,
}

impl Application {
    /// Binds `settings.server` (port 0 picks a free port) without serving yet, so the caller
    /// learns the port before anything can call it. Fails on an invalid peer URL too.
    pub fn build(settings: Settings) -> std::io::Result<Application> {
        Self::build_live(Live::fixed(settings))
    }

    /// [`Application::build`] from a watched configuration (what `main` passes).
    pub fn build_live(config: Live<Settings>) -> std::io::Result<Application> {
        let settings = Settings::clone(&config.get());
        let peers = Peers::new(&settings.replication).map_err(|error| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, error.to_string())
        })?;
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))?;
        // Tokio takes the socket over in `run_until_stopped`; it must not block.
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        Ok(Application {
            listener,
            address,
            registry: Registry::with_self_preservation(settings.lease, settings.self_preservation),
            health: Health::up(),
            peers,
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

    /// The in-memory registry this application serves (tests inspect and change it directly).
    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }

    /// Serves until `shutdown`, then drains open requests and stops the background loops:
    /// eviction, replication to peers, and the initial sync from them (client reads answer 503
    /// until it is over).
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
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
        };
        let routes = routes::router(state).merge(platform::admin::router(self.config));
        let served = platform::server::serve(listener, routes, shutdown).await;
        stop.cancel();
        for (name, task) in [
            ("eviction", eviction),
            ("replication", replication),
            ("sync", sync),
        ] {
            if let Err(error) = task.await {
                tracing::error!(%error, "{name} loop panicked");
            }
        }
        served
    }
}
