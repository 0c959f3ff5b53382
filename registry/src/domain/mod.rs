//! The registry itself: instances held under leases, in memory, with Eureka's rules.
//!
//! Transport-free so tests drive it directly (with paused time for leases) and the HTTP layer
//! stays a thin translation. Like Eureka, state lives only in memory: a restarted registry
//! copies a peer's at start-up (see [`crate::replication`]) or is empty until clients notice
//! (their renewals answer 404) and register again.
//!
//! What it implements of Eureka's `AbstractInstanceRegistry`:
//! - leases: renewal, expiry and eviction, each instance with the duration it asked for;
//! - status overrides (`PUT .../status`), kept apart from the instance's own status and applied
//!   with Eureka's rules (DOWN or STARTING from the instance wins, then an override, then an
//!   existing UP or OUT_OF_SERVICE, then what the instance says);
//! - `lastDirtyTimestamp` ordering: a registration older than the copy held is ignored, a
//!   renewal newer than it answers 404 (re-register) and, from a peer, an older one 409;
//! - the recently-changed queue behind `GET /apps/delta`;
//! - self-preservation, measured on live leases rather than renewals per minute (see
//!   [`crate::settings::SelfPreservationSettings`]).
//!
//! Every change bumps one version counter, which is the `versions__delta` of reads and what
//! watches wait on; there is no response cache, so a change is visible to the next read.
//!
//! # Layout
//! - this module: the [`Registry`] handle and the state it guards, the errors, and the names
//!   it is keyed by ([`AppName`], [`InstanceId`]);
//! - `lease`: registering, renewing and cancelling, and the lease each instance holds;
//! - `overrides`: operators' status overrides and Eureka's status rules;
//! - `deltas`: the recently-changed queue and the version counter;
//! - `eviction`: expired leases, and self-preservation holding them;
//! - `reads`: what clients and the dashboard read.

mod deltas;
mod eviction;
mod lease;
mod overrides;
mod reads;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use registry_client::model::{self, InstanceInfo, Status};
use tokio::sync::watch;
use tokio::time::Instant;

pub use eviction::SelfPreservation;
pub use lease::{OWNER_KEY, Renewal};
pub use reads::{LeaseView, Snapshot};

use crate::settings::{LeaseSettings, RecordLimits, SelfPreservationSettings};
use lease::Lease;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("application {body:?} in the body does not match {path:?} in the path")]
    AppMismatch { body: String, path: String },
    #[error("application {0} is not registered")]
    UnknownApplication(AppName),
    #[error("instance {id} of {app} is not registered")]
    UnknownInstance { app: AppName, id: InstanceId },
    /// The instance was registered under another principal's credentials.
    #[error("instance {id} of {app} was registered by another service")]
    NotOwner { app: AppName, id: InstanceId },
    /// A `lastDirtyTimestamp` too far ahead of this node's clock: it would make the record
    /// win over every later update for good.
    #[error("lastDirtyTimestamp {0} is too far in the future")]
    FutureTimestamp(u64),
    /// A registration beyond [`RecordLimits`].
    #[error("{0}")]
    TooLarge(String),
    /// A peer replicated a renewal older than the copy held here: the peer should take ours.
    #[error("instance {id} of {app} is newer here than in the replicated renewal")]
    Conflict {
        app: AppName,
        id: InstanceId,
        newer: Box<InstanceInfo>,
    },
}

/// Who asked for a change: an instance (or a tool) directly, or another registry node
/// replicating one. Eureka applies a few rules differently, and never replicates a replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Client,
    Peer,
}

/// An application name, upper-cased as Eureka stores it so lookups ignore case.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppName(String);

impl AppName {
    pub fn parse(name: &str) -> Result<AppName, RegistryError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(RegistryError::Missing("app"));
        }
        Ok(AppName(name.to_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An instance id, unique within its application. Case-sensitive, as in Eureka.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId(String);

impl InstanceId {
    pub fn parse(id: &str) -> Result<InstanceId, RegistryError> {
        let id = id.trim();
        if id.is_empty() {
            return Err(RegistryError::Missing("instanceId"));
        }
        Ok(InstanceId(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Default)]
struct State {
    apps: BTreeMap<AppName, BTreeMap<InstanceId, Lease>>,
    /// Eureka's `overriddenInstanceStatusMap`: survives re-registration, dropped on cancel.
    overrides: HashMap<InstanceId, Status>,
    /// Eureka's `recentlyChangedQueue`, oldest first: what `GET /apps/delta` answers.
    recent: VecDeque<(Instant, InstanceInfo)>,
    /// Evictions within the self-preservation window, oldest first; an instance that comes
    /// back is removed, since it is no longer missing.
    evicted: VecDeque<(Instant, InstanceId)>,
    self_preservation_active: bool,
    renewals: u64,
}

impl State {
    fn lease_mut(&mut self, app: &AppName, id: &InstanceId) -> Option<&mut Lease> {
        self.apps
            .get_mut(app)
            .and_then(|instances| instances.get_mut(id))
    }

    fn registered(&self) -> usize {
        self.apps.values().map(BTreeMap::len).sum()
    }
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// Bumped on every change: the `versions__delta` of fetches, and what watches wait on.
    version: watch::Sender<u64>,
    settings: LeaseSettings,
    preservation: SelfPreservationSettings,
    limits: RecordLimits,
}

/// Handle to the in-memory registry; clones share it.
#[derive(Clone, Debug)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Registry {
    /// A registry with Eureka's self-preservation defaults.
    pub fn new(settings: LeaseSettings) -> Registry {
        Registry::with_self_preservation(settings, SelfPreservationSettings::default())
    }

    pub fn with_self_preservation(
        settings: LeaseSettings,
        preservation: SelfPreservationSettings,
    ) -> Registry {
        Registry::with_limits(settings, preservation, RecordLimits::default())
    }

    /// A registry holding each registration to `limits`.
    pub fn with_limits(
        settings: LeaseSettings,
        preservation: SelfPreservationSettings,
        limits: RecordLimits,
    ) -> Registry {
        Registry {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                // Wall-clock milliseconds: a restarted registry never repeats a version a
                // client saw before the restart, so a watch from then cannot miss a change.
                version: watch::Sender::new(model::now_millis()),
                settings,
                preservation,
                limits,
            }),
        }
    }

    /// How many instances are registered.
    pub fn len(&self) -> usize {
        self.lock().registered()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Renewals accepted since start-up.
    pub fn renewals(&self) -> u64 {
        self.lock().renewals
    }

    /// The current version: changes whenever an instance is added, changed or removed.
    pub fn version(&self) -> u64 {
        *self.inner.version.borrow()
    }

    /// Wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.version.subscribe()
    }

    /// How many subscribers are waiting for a change (reads held by `?index=`), so a test can
    /// tell a watch is parked before it changes the registry.
    pub fn watchers(&self) -> usize {
        self.inner.version.receiver_count()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves maps that are still consistent (every change is
        // a single insert or remove), so carry on rather than poison every later request.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What the unit tests of every part of the registry build it from.
#[cfg(test)]
mod fixtures {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use registry_client::model::{InstanceInfo, Status};
    use serde_json::json;

    use super::Registry;
    use crate::settings::{LeaseSettings, SelfPreservationSettings};

    pub(super) fn settings(duration: Duration) -> LeaseSettings {
        LeaseSettings {
            duration,
            ..LeaseSettings::default()
        }
    }

    pub(super) fn without_self_preservation(lease: LeaseSettings) -> Registry {
        Registry::with_self_preservation(
            lease,
            SelfPreservationSettings {
                enabled: false,
                ..SelfPreservationSettings::default()
            },
        )
    }

    pub(super) fn instance(app: &str, id: &str, status: Status) -> InstanceInfo {
        serde_json::from_value(json!({
            "instanceId": id, "hostName": "localhost", "app": app, "ipAddr": "127.0.0.1",
            "status": status.as_str(), "vipAddress": app.to_lowercase(),
            "dataCenterInfo": {"name": "MyOwn"}
        }))
        .unwrap()
    }
}
