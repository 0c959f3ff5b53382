//! Peer replication between registry nodes, as Eureka's `PeerEurekaNodes` do it.
//!
//! Every change a client makes on this node (register, renew, cancel, status override and its
//! removal, metadata) is queued for each peer and sent in batches to the peer's
//! `POST /peerreplication/batch` with `x-netflix-discovery-replication: true`, so the peer
//! applies it without replicating it again. Evictions are not replicated: each node evicts on
//! its own. Each node therefore holds every registration, and losing one loses none.
//!
//! A peer's answers repair drift the way Eureka's do: a renewal the peer does not know (404) is
//! followed by the full registration; a renewal the peer holds a newer copy of (409) makes this
//! node take the peer's copy. At start-up a node copies the registry from the first peer that
//! answers ([`initial_sync`]) before serving reads.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use platform::lifecycle::Shutdown;
use registry_client::model::{
    ApplicationsDocument, InstanceInfo, ReplicationAction, ReplicationItem, ReplicationList,
    ReplicationResult, ReplicationResults, Status,
};
use registry_client::{ClientError, RegistryUrl, error_chain};
use reqwest::header;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::domain::{Origin, Registry, RegistryError, Renewal};
use crate::settings::ReplicationSettings;

pub use crate::auth::REPLICATION_HEADER;

/// A failed batch is retried after this, doubling up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);
const PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// The peers of this node and their outgoing queues. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Peers {
    nodes: Arc<[Arc<PeerNode>]>,
}

/// One peer: its queue and what the dashboard shows about it.
#[derive(Debug)]
pub struct PeerNode {
    /// With this node's peer credentials, which never print.
    url: RegistryUrl,
    queue: Mutex<PeerState>,
    wake: Notify,
}

#[derive(Debug, Default)]
struct PeerState {
    pending: VecDeque<ReplicationItem>,
    sent: u64,
    dropped: u64,
    last_error: Option<String>,
    last_success: Option<Instant>,
}

/// A peer as the dashboard and `GET /status` report it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PeerStatus {
    pub url: String,
    pub queued: usize,
    pub sent: u64,
    pub dropped: u64,
    pub last_error: Option<String>,
    /// Milliseconds since the last batch the peer accepted; `None` before the first.
    pub last_success_ms_ago: Option<u128>,
}

impl Peers {
    /// The peers named in `settings.peers` (comma-separated Eureka base URLs).
    pub fn new(settings: &ReplicationSettings) -> Result<Peers, ClientError> {
        let urls = if settings.peers.expose().trim().is_empty() {
            Vec::new()
        } else {
            registry_client::parse_registry_urls(settings.peers.expose())?
        };
        let nodes = urls
            .into_iter()
            .map(|url| {
                Arc::new(PeerNode {
                    url,
                    queue: Mutex::new(PeerState::default()),
                    wake: Notify::new(),
                })
            })
            .collect();
        Ok(Peers { nodes })
    }

    pub fn none() -> Peers {
        Peers {
            nodes: Arc::new([]),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn urls(&self) -> Vec<RegistryUrl> {
        self.nodes.iter().map(|node| node.url.clone()).collect()
    }

    /// Queues `item` for every peer; a full queue drops its oldest item.
    pub fn replicate(&self, item: &ReplicationItem, capacity: usize) {
        for node in self.nodes.iter() {
            let mut state = node.lock();
            if state.pending.len() >= capacity.max(1) {
                state.pending.pop_front();
                state.dropped += 1;
            }
            state.pending.push_back(item.clone());
            drop(state);
            node.wake.notify_one();
        }
    }

    pub fn status(&self) -> Vec<PeerStatus> {
        let now = Instant::now();
        self.nodes
            .iter()
            .map(|node| {
                let state = node.lock();
                PeerStatus {
                    url: node.url.to_string(),
                    queued: state.pending.len(),
                    sent: state.sent,
                    dropped: state.dropped,
                    last_error: state.last_error.clone(),
                    last_success_ms_ago: state
                        .last_success
                        .map(|at| now.saturating_duration_since(at).as_millis()),
                }
            })
            .collect()
    }

    /// Runs one sender per peer until `shutdown`.
    pub async fn run(self, registry: Registry, settings: ReplicationSettings, shutdown: Shutdown) {
        let http = match platform::http::client_builder()
            .timeout(PEER_TIMEOUT)
            .build()
        {
            Ok(http) => http,
            Err(error) => {
                tracing::error!(%error, "cannot build the replication client; not replicating");
                return;
            }
        };
        let senders: Vec<_> = self
            .nodes
            .iter()
            .map(|node| {
                let sender = Sender {
                    node: node.clone(),
                    peers: self.clone(),
                    http: http.clone(),
                    registry: registry.clone(),
                    settings: settings.clone(),
                };
                tokio::spawn(sender.run(shutdown.clone()))
            })
            .collect();
        for sender in senders {
            if let Err(error) = sender.await {
                tracing::error!(%error, "replication sender panicked");
            }
        }
    }
}

impl PeerNode {
    fn lock(&self) -> MutexGuard<'_, PeerState> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Sends one peer its queue, batch by batch.
#[derive(Debug)]
struct Sender {
    node: Arc<PeerNode>,
    peers: Peers,
    http: reqwest::Client,
    registry: Registry,
    settings: ReplicationSettings,
}

impl Sender {
    async fn run(self, shutdown: Shutdown) {
        let mut retry = FIRST_RETRY;
        loop {
            if self.node.lock().pending.is_empty() {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = self.node.wake.notified() => {}
                }
                // Let the changes made in the same instant share the batch.
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(self.settings.batch_window) => {}
                }
            }
            match self.send_once().await {
                Ok(()) => retry = FIRST_RETRY,
                Err(error) => {
                    let message = error_chain(&*error);
                    let first = self
                        .node
                        .lock()
                        .last_error
                        .replace(message.clone())
                        .is_none();
                    if first {
                        tracing::warn!(peer = %self.node.url, error = %message,
                            "cannot replicate to peer; retrying");
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(retry) => {}
                    }
                    retry = (retry * 2).min(MAX_RETRY);
                }
            }
        }
        tracing::debug!(peer = %self.node.url, "replication stopped");
    }

    /// Sends up to `batch_size` queued items; on failure they go back to the front.
    async fn send_once(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let batch: Vec<ReplicationItem> = {
            let mut state = self.node.lock();
            let take = state.pending.len().min(self.settings.batch_size.max(1));
            state.pending.drain(..take).collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        let url = self.node.url.url().join("peerreplication/batch")?;
        let body = ReplicationList {
            replication_list: batch,
        };
        let outcome = async {
            let response = self
                .node
                .url
                .authorize(self.http.post(url))
                .header(REPLICATION_HEADER, "true")
                .header(header::ACCEPT, "application/json")
                .json(&body)
                .send()
                .await?
                .error_for_status()?;
            response.json::<ReplicationResults>().await
        }
        .await;
        let results = match outcome {
            Ok(results) => results,
            Err(error) => {
                let mut state = self.node.lock();
                for item in body.replication_list.into_iter().rev() {
                    state.pending.push_front(item);
                }
                return Err(error.into());
            }
        };
        {
            let mut state = self.node.lock();
            state.sent += body.replication_list.len() as u64;
            state.last_success = Some(Instant::now());
            if state.last_error.take().is_some() {
                tracing::info!(peer = %self.node.url, "replicating to peer again");
            }
        }
        for (item, result) in body.replication_list.iter().zip(results.response_list) {
            self.handle_result(item, result);
        }
        Ok(())
    }

    /// Eureka's `handleFailure` for heartbeats: repair what the peer's answer shows is out of
    /// step; other failures (a cancel for an instance the peer never had) need nothing.
    fn handle_result(&self, item: &ReplicationItem, result: ReplicationResult) {
        if item.action != ReplicationAction::Heartbeat {
            return;
        }
        match result.status_code {
            404 => {
                if let Ok(info) = self.registry.replica(&item.app_name, &item.id) {
                    tracing::debug!(peer = %self.node.url, id = %item.id,
                        "peer lacks the instance; replicating its registration");
                    self.peers
                        .replicate(&register_item(info), self.settings.queue_capacity);
                }
            }
            409 => {
                if let Some(newer) = result.response_entity {
                    tracing::debug!(peer = %self.node.url, id = %item.id,
                        "peer holds a newer copy; taking it");
                    if let Err(error) = self.registry.register_from(newer, Origin::Peer) {
                        tracing::warn!(%error, "cannot take the peer's copy");
                    }
                }
            }
            _ => {}
        }
    }
}

/// The replication of a registration: the instance as held here, with its owner
/// ([`Registry::replica`]).
pub fn register_item(info: InstanceInfo) -> ReplicationItem {
    ReplicationItem {
        app_name: info.app.clone(),
        id: info.instance_id.clone(),
        last_dirty_timestamp: Some(info.last_dirty_timestamp),
        overridden_status: Some(info.overridden_status),
        status: Some(info.status),
        instance_info: Some(info),
        action: ReplicationAction::Register,
    }
}

/// The replication of a renewal, carrying what the peer compares with its copy.
pub fn heartbeat_item(info: &InstanceInfo) -> ReplicationItem {
    ReplicationItem {
        app_name: info.app.clone(),
        id: info.instance_id.clone(),
        last_dirty_timestamp: Some(info.last_dirty_timestamp),
        overridden_status: Some(info.overridden_status),
        status: Some(info.status),
        instance_info: None,
        action: ReplicationAction::Heartbeat,
    }
}

/// Any other replicated change, by action.
pub fn item(
    action: ReplicationAction,
    app: &str,
    id: &str,
    status: Option<Status>,
    last_dirty_timestamp: Option<u64>,
) -> ReplicationItem {
    ReplicationItem {
        app_name: app.to_owned(),
        id: id.to_owned(),
        last_dirty_timestamp,
        overridden_status: None,
        status,
        instance_info: None,
        action,
    }
}

/// Applies a batch a peer sent, answering each item as the direct call would have.
pub fn apply_batch(registry: &Registry, batch: ReplicationList) -> ReplicationResults {
    let response_list = batch
        .replication_list
        .into_iter()
        .map(|item| apply(registry, item))
        .collect();
    ReplicationResults { response_list }
}

fn apply(registry: &Registry, item: ReplicationItem) -> ReplicationResult {
    let (app, id) = (item.app_name.as_str(), item.id.as_str());
    let outcome = match item.action {
        ReplicationAction::Register => match item.instance_info {
            Some(info) => registry.register_from(info, Origin::Peer).map(|_| 204),
            None => Err(RegistryError::Missing("instanceInfo")),
        },
        ReplicationAction::Heartbeat => {
            let renewal = Renewal {
                last_dirty_timestamp: item.last_dirty_timestamp,
                overridden_status: item.overridden_status,
            };
            registry
                .renew_from(app, id, renewal, Origin::Peer)
                .map(|()| 200)
        }
        ReplicationAction::Cancel => registry.cancel(app, id).map(|()| 200),
        ReplicationAction::StatusUpdate => registry
            .override_status(
                app,
                id,
                item.status.unwrap_or(Status::Unknown),
                item.last_dirty_timestamp,
            )
            .map(|()| 200),
        ReplicationAction::DeleteStatusOverride => registry
            .remove_status_override(
                app,
                id,
                item.status.unwrap_or(Status::Unknown),
                item.last_dirty_timestamp,
            )
            .map(|()| 200),
    };
    match outcome {
        Ok(status_code) => ReplicationResult {
            status_code,
            response_entity: None,
        },
        Err(RegistryError::Conflict { newer, .. }) => ReplicationResult {
            status_code: 409,
            response_entity: Some(*newer),
        },
        Err(RegistryError::UnknownInstance { .. } | RegistryError::UnknownApplication(_)) => {
            ReplicationResult {
                status_code: 404,
                response_entity: None,
            }
        }
        Err(error) => {
            tracing::debug!(%error, "replicated change rejected");
            ReplicationResult {
                status_code: 400,
                response_entity: None,
            }
        }
    }
}

/// Copies the registry from the first peer that answers, retrying until `timeout`. Returns how
/// many instances were copied, or `None` when no peer answered in time.
pub async fn initial_sync(
    registry: &Registry,
    peers: &Peers,
    timeout: Duration,
    shutdown: &Shutdown,
) -> Option<usize> {
    if peers.is_empty() {
        return Some(0);
    }
    let deadline = Instant::now() + timeout;
    let mut retry = FIRST_RETRY;
    loop {
        for url in peers.urls() {
            match fetch_all(&url).await {
                Ok(document) => {
                    let mut copied = 0;
                    for info in document.applications.instances() {
                        match registry.register_from(info.clone(), Origin::Peer) {
                            Ok(_) => copied += 1,
                            Err(error) => tracing::warn!(%error, "cannot copy instance"),
                        }
                    }
                    tracing::info!(peer = %url, copied, "registry copied from peer");
                    return Some(copied);
                }
                Err(error) => tracing::debug!(peer = %url, error = %error_chain(&error),
                    "peer not ready for the initial sync"),
            }
        }
        if Instant::now() + retry > deadline {
            return None;
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(Duration::from_secs(1));
    }
}

/// `GET /apps` from one peer with this node's peer credentials, marked as replication so a
/// peer that is itself starting answers.
async fn fetch_all(peer: &RegistryUrl) -> Result<ApplicationsDocument, ClientError> {
    let url = peer
        .url()
        .join("apps")
        .map_err(|error| ClientError::InvalidUrl {
            url: peer.to_string(),
            reason: error.to_string(),
        })?;
    let unreachable = |source| ClientError::Unreachable {
        url: url.clone(),
        source,
    };
    let http = platform::http::client_builder()
        .timeout(PEER_TIMEOUT)
        .build()
        .map_err(ClientError::Build)?;
    let response = peer
        .authorize(http.get(url.clone()))
        .header(REPLICATION_HEADER, "true")
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(ClientError::Status {
            url,
            status: response.status(),
        });
    }
    let body = response.bytes().await.map_err(unreachable)?;
    serde_json::from_slice(&body).map_err(|source| ClientError::Decode { url, source })
}
