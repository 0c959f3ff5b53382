//! A local, regularly refreshed view of the instances behind one VIP (Ribbon's server list).

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

use platform::lifecycle::Shutdown;
use tokio::sync::watch;
use url::Url;

use super::{ClientError, ClientSettings, RegistryClient, error_chain};
use crate::model::{InstanceInfo, Status};

/// A discovered, routable instance.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Instance {
    pub id: String,
    /// `http://host:port/`.
    pub base_url: Url,
}

impl Instance {
    /// Where to call `info`: its plain port when enabled, else its secure port; `None` when it
    /// advertises neither.
    fn from_info(info: &InstanceInfo) -> Option<Instance> {
        // Eureka clients address instances by host name unless told to prefer the IP.
        let host = if info.host_name.is_empty() {
            &info.ip_addr
        } else {
            &info.host_name
        };
        let host = if host.parse::<Ipv6Addr>().is_ok() {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let address = if info.port.enabled {
            format!("http://{host}:{}/", info.port.port)
        } else if info.secure_port.enabled {
            format!("https://{host}:{}/", info.secure_port.port)
        } else {
            return None;
        };
        let base_url = Url::parse(&address).ok()?;
        Some(Instance {
            id: info.instance_id.clone(),
            base_url,
        })
    }
}

/// Discovery cache for one VIP, refreshed in the background every `fetch_interval`. Holds
/// only UP instances, and keeps the last known list while the registry is unreachable: a
/// registry outage must not take the callers down with it.
#[derive(Clone, Debug)]
pub struct Discovery {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    client: RegistryClient,
    vip: String,
    instances: watch::Sender<Arc<Vec<Instance>>>,
}

impl Discovery {
    /// Starts refreshing at once and then every `fetch_interval` until `shutdown`. The list
    /// is empty until the first fetch answers.
    pub fn start(
        client: RegistryClient,
        vip: &str,
        settings: &ClientSettings,
        shutdown: Shutdown,
    ) -> Discovery {
        let discovery = Discovery::new(client, vip);
        tokio::spawn(discovery.clone().run(settings.fetch_interval, shutdown));
        discovery
    }

    /// A cache that refreshes only when [`Discovery::refresh_once`] is called.
    pub fn new(client: RegistryClient, vip: &str) -> Discovery {
        Discovery {
            shared: Arc::new(Shared {
                client,
                vip: vip.to_owned(),
                instances: watch::Sender::new(Arc::new(Vec::new())),
            }),
        }
    }

    pub fn vip(&self) -> &str {
        &self.shared.vip
    }

    /// The current snapshot, sorted by instance id.
    pub fn instances(&self) -> Arc<Vec<Instance>> {
        self.shared.instances.borrow().clone()
    }

    /// Wakes whenever the set of instances changes (not on every refresh).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Vec<Instance>>> {
        self.shared.instances.subscribe()
    }

    /// Fetches the VIP once. On error the previous list stays in place.
    pub async fn refresh_once(&self) -> Result<(), ClientError> {
        let found = self.shared.client.vip(&self.shared.vip).await?;
        let mut up: Vec<Instance> = found
            .iter()
            .filter(|info| info.status == Status::Up)
            .filter_map(Instance::from_info)
            .collect();
        // A stable order, so an unchanged registry is not reported as a change.
        up.sort_by(|a, b| (&a.id, a.base_url.as_str()).cmp(&(&b.id, b.base_url.as_str())));
        up.dedup();
        let vip = &self.shared.vip;
        self.shared.instances.send_if_modified(|current| {
            if **current == up {
                return false;
            }
            tracing::info!(vip, instances = up.len(), "discovered instances changed");
            *current = Arc::new(up);
            true
        });
        Ok(())
    }

    async fn run(self, interval: Duration, shutdown: Shutdown) {
        let vip = self.shared.vip.clone();
        let mut failing = false;
        loop {
            match self.refresh_once().await {
                Ok(()) if failing => {
                    tracing::info!(vip, "registry reachable again");
                    failing = false;
                }
                Ok(()) => {}
                // Warn once per outage; a refresh every couple of seconds would flood the log.
                Err(error) if !failing => {
                    tracing::warn!(vip, error = %error_chain(&error),
                        "cannot refresh instances, keeping the last known list");
                    failing = true;
                }
                Err(error) => tracing::debug!(vip, error = %error_chain(&error), "refresh failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(interval) => {}
            }
        }
        tracing::debug!(vip, "discovery stopped");
    }
}
