//! Binding and serving: [`Application`] ties settings, the registry, the API and the eviction
//! loop together, so `main` and the tests start the server the same way.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

use platform::{health::Health, lifecycle::Shutdown};
use url::Url;

use crate::api::{self, AppState};
use crate::domain::Registry;
use crate::settings::Settings;

/// A registry bound to its port and ready to serve.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    registry: Registry,
    health: Health,
}

impl Application {
    /// Binds `settings.server` (port 0 picks a free port) without serving yet, so the caller
    /// learns the port before anything can call it.
    pub fn build(settings: Settings) -> std::io::Result<Application> {
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))?;
        // Tokio takes the socket over in `run_until_stopped`; it must not block.
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        Ok(Application {
            listener,
            address,
            registry: Registry::new(settings.lease),
            health: Health::up(),
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

    /// Serves until `shutdown`, then drains open requests and stops the eviction loop.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        // A child token, so stopping the loop after a serve error leaves the caller's alone.
        let stop_eviction = shutdown.child_token();
        let eviction = tokio::spawn(self.registry.clone().run_eviction(stop_eviction.clone()));
        let state = AppState {
            registry: self.registry,
            health: self.health,
        };
        let served = platform::server::serve(listener, api::router(state), shutdown).await;
        stop_eviction.cancel();
        if let Err(error) = eviction.await {
            tracing::error!(%error, "eviction loop panicked");
        }
        served
    }
}
