//! Where a service listens (`[server]`, and `[admin]` for its operator port) and binding it:
//! every service binds through [`ServerSettings::bind`] and [`AdminSettings::bind`], so a port
//! in use fails start-up the same way everywhere, naming the address.

use serde::{Deserialize, Serialize};

/// Where a service listens (`[server]`, e.g. `RSS_SERVER__PORT`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSettings {
    /// Address to bind; `0.0.0.0` in containers.
    pub host: String,
    /// Port to bind; `0` picks a free one (tests).
    pub port: u16,
    /// Host name or address other services use to reach this one (registered in the
    /// registry). Defaults to `host`, or to `$HOSTNAME` when `host` binds every interface.
    pub advertised_host: Option<String>,
    /// On shutdown, how long a registered service keeps serving after it has left the
    /// registry, so balancers stop routing to it before its listener closes (middle tier).
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: std::time::Duration,
    /// A client must send a request's headers (and finish a TLS handshake) within this long,
    /// or its connection is closed; idle keep-alive connections close after it too.
    #[serde(with = "humantime_serde", default = "default_header_read_timeout")]
    pub header_read_timeout: std::time::Duration,
    /// Connections served at once; more wait in the listen backlog until one closes.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_header_read_timeout() -> std::time::Duration {
    crate::server::DEFAULT_HEADER_READ_TIMEOUT
}

fn default_max_connections() -> usize {
    crate::server::DEFAULT_MAX_CONNECTIONS
}

impl ServerSettings {
    pub fn localhost(port: u16) -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port,
            advertised_host: None,
            shutdown_grace: std::time::Duration::from_secs(1),
            header_read_timeout: default_header_read_timeout(),
            max_connections: default_max_connections(),
        }
    }

    /// How [`crate::server::serve_with`] accepts connections for this listener, over TLS
    /// with `tls` when given.
    pub fn listening(
        &self,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> crate::server::Listening {
        crate::server::Listening {
            tls,
            header_read_timeout: self.header_read_timeout,
            max_connections: self.max_connections.max(1),
        }
    }

    /// Binds `host:port` and reports the port actually bound (`port = 0` picks one).
    pub async fn bind(&self) -> Result<(tokio::net::TcpListener, u16), BindError> {
        let error = |source| BindError {
            address: format!("{}:{}", self.host, self.port),
            source,
        };
        let listener = tokio::net::TcpListener::bind((self.host.as_str(), self.port))
            .await
            .map_err(error)?;
        let port = listener.local_addr().map_err(error)?.port();
        Ok((listener, port))
    }

    /// The name peers should use to reach this service.
    pub fn advertised_host(&self) -> String {
        if let Some(host) = &self.advertised_host {
            return host.clone();
        }
        let binds_everything = matches!(self.host.as_str(), "0.0.0.0" | "::" | "[::]");
        if binds_everything {
            std::env::var("HOSTNAME").unwrap_or_else(|_| "127.0.0.1".to_owned())
        } else {
            self.host.clone()
        }
    }
}

/// Where a service's admin listener binds (`[admin]`, e.g. `RSS_ADMIN__PORT`): operator
/// endpoints, apart from the port users and other services call (see [`crate::admin`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdminSettings {
    /// Address to bind: loopback unless an operator network is chosen on purpose.
    pub host: String,
    /// Port to bind; unset, the service port + 1 (`0` when the service port is `0`, as in
    /// tests: a free one).
    pub port: Option<u16>,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: None,
        }
    }
}

impl AdminSettings {
    /// The port to bind for a service whose own port setting is `service_port`.
    pub fn port_for(&self, service_port: u16) -> Option<u16> {
        match (self.port, service_port) {
            (Some(port), _) => Some(port),
            (None, 0) => Some(0),
            (None, port) => port.checked_add(1),
        }
    }

    /// Binds the admin listener of a service configured with `service_port`.
    pub async fn bind(&self, service_port: u16) -> Result<tokio::net::TcpListener, BindError> {
        let Some(port) = self.port_for(service_port) else {
            return Err(BindError {
                address: format!("{}:{service_port}+1", self.host),
                source: std::io::Error::other("no port above 65535: set admin.port"),
            });
        };
        let settings = ServerSettings {
            host: self.host.clone(),
            port,
            ..ServerSettings::localhost(port)
        };
        Ok(settings.bind().await?.0)
    }
}

/// A service could not listen where its settings say (the port is taken, the address is not
/// this host's): names the address.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}: {source}")]
pub struct BindError {
    address: String,
    #[source]
    source: std::io::Error,
}

impl BindError {
    pub fn new(address: String, source: std::io::Error) -> Self {
        Self { address, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_port_follows_the_service_port_unless_set() {
        let admin = AdminSettings::default();
        assert_eq!(admin.host, "127.0.0.1");
        assert_eq!(admin.port_for(8761), Some(8762));
        assert_eq!(admin.port_for(0), Some(0));
        assert_eq!(admin.port_for(u16::MAX), None);
        let set = AdminSettings {
            port: Some(7000),
            ..AdminSettings::default()
        };
        assert_eq!(set.port_for(8761), Some(7000));
    }
}
