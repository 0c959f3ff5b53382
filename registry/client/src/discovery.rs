//! A local, regularly refreshed view of the instances behind one VIP (Ribbon's server list).

use std::net::Ipv6Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use platform::lifecycle::Shutdown;
use tokio::sync::watch;
use url::Url;

use crate::client::{ClientError, ClientSettings, RegistryClient, VipAnswer, error_chain};
use crate::model::{InstanceInfo, Status};

/// First retry after a failed refresh; doubles up to the fetch interval.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// A discovered, routable instance.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Instance {
    pub id: String,
    /// `http://host:port/`, or `https://` for its secure port.
    pub base_url: Url,
}

/// Which of the instances registered under a VIP a caller uses. Anyone who can register may
/// claim any VIP, so a caller that knows whom it expects says so.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only instances of this app (e.g. `MIDDLETIER`, compared case-insensitively); `None`:
    /// every app registering the VIP.
    pub app: Option<String>,
    /// Only instances whose secure port is enabled, called at `https://` (a caller using
    /// mutual TLS has nothing to say to a plain-HTTP instance).
    pub secure: bool,
}

impl Selection {
    fn admits(&self, info: &InstanceInfo) -> bool {
        self.app
            .as_ref()
            .is_none_or(|app| info.app.eq_ignore_ascii_case(app))
    }
}

impl Instance {
    /// Where to call `info`: its plain port when enabled, else its secure port (only the
    /// secure port when `secure`); `None` when it advertises neither.
    fn from_info(info: &InstanceInfo, secure: bool) -> Option<Instance> {
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
        let address = if info.port.enabled && !secure {
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

/// Discovery cache for one VIP, refreshed in the background. Holds only UP instances, and
/// keeps the last known list while the registry is unreachable: a registry outage must not
/// take the callers down with it.
///
/// Against our registry it long-polls: each read waits in the registry until
/// something changes, so a registration or a deregistration reaches the list within a round
/// trip. Against a plain Eureka, or after an error, it polls every `fetch_interval`.
#[derive(Clone, Debug)]
pub struct Discovery {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    client: RegistryClient,
    vip: String,
    selection: Selection,
    instances: watch::Sender<Arc<Vec<Instance>>>,
    /// The registry version the list reflects, when the registry reports one: what the next
    /// watch waits to change. Cleared on errors, so the next read after a failover is plain.
    index: Mutex<Option<u64>>,
    /// Whether the registry has answered at least once (readiness of the caller).
    answered: watch::Sender<bool>,
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
        tokio::spawn(
            discovery
                .clone()
                .run(settings.fetch_interval, true, shutdown),
        );
        discovery
    }

    /// [`Discovery::start`] keeping only the instances `selection` admits.
    pub fn start_selecting(
        client: RegistryClient,
        vip: &str,
        selection: Selection,
        settings: &ClientSettings,
        shutdown: Shutdown,
    ) -> Discovery {
        let discovery = Discovery::new_selecting(client, vip, selection);
        tokio::spawn(
            discovery
                .clone()
                .run(settings.fetch_interval, true, shutdown),
        );
        discovery
    }

    /// A cache that refreshes only when [`Discovery::refresh_once`] is called.
    pub fn new(client: RegistryClient, vip: &str) -> Discovery {
        Discovery::new_selecting(client, vip, Selection::default())
    }

    /// [`Discovery::new`] keeping only the instances `selection` admits.
    pub fn new_selecting(client: RegistryClient, vip: &str, selection: Selection) -> Discovery {
        Discovery {
            shared: Arc::new(Shared {
                client,
                vip: vip.to_owned(),
                selection,
                instances: watch::Sender::new(Arc::new(Vec::new())),
                index: Mutex::new(None),
                answered: watch::Sender::new(false),
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
        self.fetch(None).await
    }

    /// Waits for the registry to change from the version last seen, then applies the answer
    /// (a plain fetch when no version is known). Returns whether the registry supports watches.
    pub async fn watch_once(&self) -> Result<bool, ClientError> {
        let since = *self.index();
        self.fetch(since).await?;
        Ok(self.index().is_some())
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.shared
            .index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn fetch(&self, since: Option<u64>) -> Result<(), ClientError> {
        let answer = self.shared.client.vip_watch(&self.shared.vip, since).await;
        let VipAnswer { instances, index } = match answer {
            Ok(answer) => answer,
            Err(error) => {
                *self.index() = None;
                return Err(error);
            }
        };
        *self.index() = index;
        self.apply(&instances);
        self.shared
            .answered
            .send_if_modified(|answered| !std::mem::replace(answered, true));
        Ok(())
    }

    /// Resolves once the registry has answered at least once, so the list reflects it (even
    /// if it is empty).
    pub async fn first_answer(&self) {
        let mut answered = self.shared.answered.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = answered.wait_for(|answered| *answered).await;
    }

    fn apply(&self, found: &[InstanceInfo]) {
        let mut up: Vec<Instance> = found
            .iter()
            .filter(|info| info.status == Status::Up && self.shared.selection.admits(info))
            .filter_map(|info| Instance::from_info(info, self.shared.selection.secure))
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
    }

    /// Refreshes until `shutdown`: watching when `watch` and the registry supports it, else
    /// every `interval`.
    pub async fn run(self, interval: Duration, watch: bool, shutdown: Shutdown) {
        let vip = self.shared.vip.clone();
        let mut failing = false;
        // After an error the next try comes sooner than `interval`: a registry answering 503
        // while it copies its peers, or one being restarted, is back within moments.
        let mut retry = FIRST_RETRY;
        loop {
            let step = tokio::select! {
                // A watch may be waiting in the registry; shutdown must not wait for it.
                () = shutdown.cancelled() => break,
                step = async {
                    if watch {
                        self.watch_once().await
                    } else {
                        self.refresh_once().await.map(|()| false)
                    }
                } => step,
            };
            let wait = match step {
                Ok(watching) => {
                    if failing {
                        tracing::info!(vip, "registry reachable again");
                        failing = false;
                    }
                    retry = FIRST_RETRY;
                    // A watch waits in the registry, so the next one goes out at once.
                    if watching {
                        continue;
                    }
                    interval
                }
                Err(error) => {
                    // Warn once per outage; a refresh every couple of seconds would flood the log.
                    if failing {
                        tracing::debug!(vip, error = %error_chain(&error), "refresh failed");
                    } else {
                        tracing::warn!(vip, error = %error_chain(&error),
                            "cannot refresh instances, keeping the last known list");
                        failing = true;
                    }
                    let wait = retry.min(interval);
                    retry = (retry * 2).min(interval);
                    wait
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        tracing::debug!(vip, "discovery stopped");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::InstanceConfig;

    fn info(app: &str, port: u16, secure: bool) -> InstanceInfo {
        InstanceConfig {
            app: app.to_owned(),
            vip_address: "middletier".to_owned(),
            host: "127.0.0.1".to_owned(),
            ip_addr: "127.0.0.1".to_owned(),
            port,
            secure,
            health_check_path: "/health".to_owned(),
        }
        .instance_info(platform::health::Status::Up, &ClientSettings::default())
    }

    #[tokio::test]
    async fn a_selection_keeps_only_its_app_on_secure_ports() {
        let client = RegistryClient::new(&ClientSettings::default()).unwrap();
        let selection = Selection {
            app: Some("MIDDLETIER".to_owned()),
            secure: true,
        };
        let discovery = Discovery::new_selecting(client, "middletier", selection);
        discovery.apply(&[
            info("middletier", 1, true),
            // Another app claiming the VIP, and a middle tier without TLS.
            info("impostor", 2, true),
            info("middletier", 3, false),
        ]);
        let urls: Vec<String> = discovery
            .instances()
            .iter()
            .map(|instance| instance.base_url.to_string())
            .collect();
        assert_eq!(urls, ["https://127.0.0.1:1/"]);
    }

    #[tokio::test]
    async fn without_a_selection_every_app_under_the_vip_is_used() {
        let client = RegistryClient::new(&ClientSettings::default()).unwrap();
        let discovery = Discovery::new(client, "middletier");
        discovery.apply(&[info("middletier", 1, false), info("other", 2, true)]);
        assert_eq!(discovery.instances().len(), 2);
    }
}
