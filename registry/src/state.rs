//! What the HTTP handlers share: the registry, its peers and the node's readiness, in one
//! [`AppState`] that the API, the dashboard and the router composing them all take. It sits
//! below all three, so none of them imports another for it.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use platform::health::Health;
use platform::lifecycle::Shutdown;
use registry_client::model::ReplicationItem;

use crate::auth::Access;
use crate::domain::{Origin, Registry};
use crate::replication::Peers;

/// What the handlers share. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub registry: Registry,
    pub health: Health,
    pub peers: Peers,
    /// Replicated changes queued per peer at most.
    pub queue_capacity: usize,
    /// False until the initial sync from peers is over: client reads answer 503 meanwhile, so
    /// clients read another node rather than a half-copied registry.
    pub ready: Arc<AtomicBool>,
    /// Ends waiting watches at shutdown.
    pub shutdown: Shutdown,
    /// This node's Eureka URL, for the dashboard.
    pub node: String,
    /// Served at `/metrics`.
    pub metrics: platform::metrics::Metrics,
    /// Who may call, and as what (see [`crate::auth`]).
    pub access: Arc<Access>,
    /// Largest request body accepted (`limits.max_body_bytes`).
    pub max_body_bytes: usize,
}

impl AppState {
    /// A single node, ready at once, open to every caller.
    pub fn new(registry: Registry, health: Health) -> AppState {
        AppState {
            metrics: crate::metrics::metrics(&registry),
            registry,
            health,
            peers: Peers::none(),
            queue_capacity: 10_000,
            ready: Arc::new(AtomicBool::new(true)),
            shutdown: Shutdown::new(),
            node: String::new(),
            access: Arc::new(Access::open()),
            max_body_bytes: crate::settings::RecordLimits::default().max_body_bytes,
        }
    }

    /// Queues the change `item` describes for every peer, when a client (not a peer) made it;
    /// `item` is only built then.
    pub(crate) fn replicate(&self, origin: Origin, item: impl FnOnce() -> Option<ReplicationItem>) {
        if origin == Origin::Client
            && !self.peers.is_empty()
            && let Some(item) = item()
        {
            self.peers.replicate(&item, self.queue_capacity);
        }
    }
}
