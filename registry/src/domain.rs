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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use platform::lifecycle::Shutdown;
use registry_client::model::{
    self, ActionType, Application, Applications, InstanceInfo, Status, whole_seconds,
};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::settings::{LeaseSettings, SelfPreservationSettings};

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

/// The optional parameters of a renewal (`PUT /apps/{app}/{id}?lastDirtyTimestamp=...`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Renewal {
    /// The renewing side's `lastDirtyTimestamp`, compared with the copy held here.
    pub last_dirty_timestamp: Option<u64>,
    /// A peer's override for the instance, stored when this node has none.
    pub overridden_status: Option<Status>,
}

/// One registered instance and the terms it holds its place under.
#[derive(Debug)]
struct Lease {
    info: InstanceInfo,
    duration: Duration,
    /// Monotonic, so expiry is immune to clock jumps and tests can pause time.
    last_renewal: Instant,
    registered_at: Instant,
    // Wall-clock milliseconds, only for the wire.
    registration_ms: u64,
    last_renewal_ms: u64,
    service_up_ms: u64,
}

impl Lease {
    fn is_expired(&self, now: Instant) -> bool {
        now > self.last_renewal + self.duration
    }

    /// The instance as clients see it: the lease's terms and history filled in.
    fn to_wire(&self, expected_renewal: Duration) -> InstanceInfo {
        let mut info = self.info.clone();
        let lease = &mut info.lease_info;
        if lease.renewal_interval_in_secs == 0 {
            lease.renewal_interval_in_secs = whole_seconds(expected_renewal);
        }
        lease.duration_in_secs = whole_seconds(self.duration);
        lease.registration_timestamp = self.registration_ms;
        lease.last_renewal_timestamp = self.last_renewal_ms;
        lease.eviction_timestamp = 0;
        lease.service_up_timestamp = self.service_up_ms;
        info
    }
}

/// Eureka's status rules (`FirstMatchWinsCompositeRule`): the status an instance is listed
/// with, given what it says, any override, and the status its existing lease has.
fn effective_status(
    said: Status,
    overridden: Option<Status>,
    existing: Option<Status>,
    origin: Origin,
) -> Status {
    // `DownOrStartingRule`: an instance that is not ready says so, whatever an operator set.
    if !matches!(said, Status::Up | Status::OutOfService) {
        return said;
    }
    // `OverrideExistsRule`.
    if let Some(overridden) = overridden {
        return overridden;
    }
    // `LeaseExistsRule`: a client's re-registration does not undo an UP or OUT_OF_SERVICE
    // that a peer or an operator set; peers are trusted as they are.
    if origin == Origin::Client
        && let Some(existing @ (Status::Up | Status::OutOfService)) = existing
    {
        return existing;
    }
    said
}

/// Self-preservation as last computed: what the dashboard and `GET /status` show.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SelfPreservation {
    pub enabled: bool,
    pub threshold: f64,
    /// Registered instances plus those evicted within the window.
    pub expected: usize,
    /// Registered instances whose lease has not expired.
    pub live: usize,
    /// How many expected instances may be missing before eviction stops.
    pub allowance: usize,
    /// Eviction is being withheld right now.
    pub active: bool,
}

/// One instance as the dashboard lists it.
#[derive(Clone, Debug)]
pub struct LeaseView {
    pub info: InstanceInfo,
    /// Since the instance registered (or was copied from a peer) here.
    pub age: Duration,
    pub since_renewal: Duration,
    pub duration: Duration,
    pub expired: bool,
}

/// Everything the dashboard shows, read under one lock.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub apps: Vec<(String, Vec<LeaseView>)>,
    pub self_preservation: SelfPreservation,
    pub version: u64,
    pub renewals: u64,
    pub evicted_recently: usize,
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
        Registry {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                // Wall-clock milliseconds: a restarted registry never repeats a version a
                // client saw before the restart, so a watch from then cannot miss a change.
                version: watch::Sender::new(model::now_millis()),
                settings,
                preservation,
            }),
        }
    }

    /// Registers `info` or replaces its previous registration (a status change re-registers).
    pub fn register(&self, info: InstanceInfo) -> Result<InstanceId, RegistryError> {
        self.register_from(info, Origin::Client)
    }

    pub fn register_from(
        &self,
        mut info: InstanceInfo,
        origin: Origin,
    ) -> Result<InstanceId, RegistryError> {
        if info.host_name.trim().is_empty() {
            return Err(RegistryError::Missing("hostName"));
        }
        // Older clients identify instances by host name only; Eureka falls back the same way.
        if info.instance_id.trim().is_empty() {
            info.instance_id = info.host_name.clone();
        }
        let id = InstanceId::parse(&info.instance_id)?;
        if info.ip_addr.trim().is_empty() {
            return Err(RegistryError::Missing("ipAddr"));
        }
        let app = AppName::parse(&info.app)?;
        if info.data_center_info.name.trim().is_empty() {
            return Err(RegistryError::Missing("dataCenterInfo.name"));
        }

        let now = Instant::now();
        let now_ms = model::now_millis();
        info.app = app.as_str().to_owned();
        info.instance_id = id.as_str().to_owned();
        if info.last_dirty_timestamp == 0 {
            info.last_dirty_timestamp = now_ms;
        }
        let duration = match info.lease_info.duration_in_secs {
            0 => self.inner.settings.duration,
            seconds => Duration::from_secs(seconds.into()),
        };

        let mut state = self.lock();
        let previous = state
            .apps
            .get(&app)
            .and_then(|instances| instances.get(&id));
        // An older copy than the one held (a slow replica, a client retrying) changes nothing
        // but the lease, as in Eureka.
        if let Some(previous) = previous
            && previous.info.last_dirty_timestamp > info.last_dirty_timestamp
        {
            tracing::debug!(%app, %id, "registration older than the copy held; keeping it");
            info = previous.info.clone();
        }
        if info.overridden_status != Status::Unknown {
            state
                .overrides
                .entry(id.clone())
                .or_insert(info.overridden_status);
        }
        let overridden = state.overrides.get(&id).copied();
        info.overridden_status = overridden.unwrap_or(Status::Unknown);
        let previous = state
            .apps
            .get(&app)
            .and_then(|instances| instances.get(&id));
        info.status = effective_status(
            info.status,
            overridden,
            previous.map(|lease| lease.info.status),
            origin,
        );
        info.action_type = ActionType::Added;
        info.last_updated_timestamp = now_ms;
        // A re-registration keeps the history Eureka keeps: when it first registered and came up.
        let registration_ms = previous.map_or(now_ms, |lease| lease.registration_ms);
        let registered_at = previous.map_or(now, |lease| lease.registered_at);
        let service_up_ms = match previous.map(|lease| lease.service_up_ms) {
            Some(up) if up > 0 => up,
            _ if info.status == Status::Up => now_ms,
            _ => 0,
        };
        let status = info.status;
        state.evicted.retain(|(_, evicted)| *evicted != id);
        let lease = Lease {
            info,
            duration,
            last_renewal: now,
            registered_at,
            registration_ms,
            last_renewal_ms: now_ms,
            service_up_ms,
        };
        let wire = lease.to_wire(self.inner.settings.renewal_interval);
        state
            .apps
            .entry(app.clone())
            .or_default()
            .insert(id.clone(), lease);
        self.record_change(&mut state, now, wire);
        drop(state);
        tracing::info!(%app, %id, %status, ?origin, "instance registered");
        Ok(id)
    }

    /// Extends the lease of a registered instance (no `lastDirtyTimestamp` check).
    pub fn renew(&self, app: &str, id: &str) -> Result<(), RegistryError> {
        self.renew_from(app, id, Renewal::default(), Origin::Client)
    }

    /// Eureka's `renewLease`: 404 when the instance is unknown here, its status is UNKNOWN
    /// (an override was just removed: the instance must re-register with its own status), or
    /// the caller's copy is newer than ours (re-registering brings it here); 409 when a peer's
    /// copy is older than ours, with ours for the peer to take.
    pub fn renew_from(
        &self,
        app: &str,
        id: &str,
        renewal: Renewal,
        origin: Origin,
    ) -> Result<(), RegistryError> {
        let (app, id) = (AppName::parse(app)?, InstanceId::parse(id)?);
        let renewal_interval = self.inner.settings.renewal_interval;
        let mut state = self.lock();
        let overridden = state.overrides.get(&id).copied();
        let Some(lease) = state.lease_mut(&app, &id) else {
            return Err(RegistryError::UnknownInstance { app, id });
        };
        let status = effective_status(
            lease.info.status,
            overridden,
            Some(lease.info.status),
            origin,
        );
        if status == Status::Unknown {
            return Err(RegistryError::UnknownInstance { app, id });
        }
        lease.info.status = status;
        lease.last_renewal = Instant::now();
        lease.last_renewal_ms = model::now_millis();
        let held = lease.info.last_dirty_timestamp;
        let outcome = match renewal.last_dirty_timestamp {
            Some(theirs) if theirs > held => Err(RegistryError::UnknownInstance {
                app: app.clone(),
                id: id.clone(),
            }),
            Some(theirs) if theirs < held && origin == Origin::Peer => {
                Err(RegistryError::Conflict {
                    app: app.clone(),
                    id: id.clone(),
                    newer: Box::new(lease.to_wire(renewal_interval)),
                })
            }
            _ => Ok(()),
        };
        state.renewals += 1;
        if let (Err(RegistryError::UnknownInstance { .. }), Origin::Peer, Some(peer_override)) =
            (&outcome, origin, renewal.overridden_status)
            && peer_override != Status::Unknown
        {
            state.overrides.entry(id).or_insert(peer_override);
        }
        outcome
    }

    /// Removes a registration (the instance is shutting down).
    pub fn cancel(&self, app: &str, id: &str) -> Result<(), RegistryError> {
        let (app, id) = (AppName::parse(app)?, InstanceId::parse(id)?);
        let now = Instant::now();
        let mut state = self.lock();
        let Some(lease) = state
            .apps
            .get_mut(&app)
            .and_then(|instances| instances.remove(&id))
        else {
            return Err(RegistryError::UnknownInstance { app, id });
        };
        state.apps.retain(|_, instances| !instances.is_empty());
        state.overrides.remove(&id);
        let mut wire = lease.to_wire(self.inner.settings.renewal_interval);
        wire.action_type = ActionType::Deleted;
        wire.last_updated_timestamp = model::now_millis();
        self.record_change(&mut state, now, wire);
        Ok(())
    }

    /// `PUT .../status?value=`: an operator's override (OUT_OF_SERVICE to take an instance out
    /// of traffic without stopping it), kept until removed or the instance cancels.
    pub fn override_status(
        &self,
        app: &str,
        id: &str,
        status: Status,
        last_dirty_timestamp: Option<u64>,
    ) -> Result<(), RegistryError> {
        self.change_status(app, id, Some(status), status, last_dirty_timestamp)
    }

    /// `DELETE .../status?value=`: drops the override and lists the instance as `status`
    /// (Eureka's default UNKNOWN makes its next renewal answer 404, so it re-registers with
    /// the status it reports itself).
    pub fn remove_status_override(
        &self,
        app: &str,
        id: &str,
        status: Status,
        last_dirty_timestamp: Option<u64>,
    ) -> Result<(), RegistryError> {
        self.change_status(app, id, None, status, last_dirty_timestamp)
    }

    fn change_status(
        &self,
        app: &str,
        id: &str,
        overridden: Option<Status>,
        status: Status,
        last_dirty_timestamp: Option<u64>,
    ) -> Result<(), RegistryError> {
        let (app, id) = (AppName::parse(app)?, InstanceId::parse(id)?);
        let now = Instant::now();
        let renewal = self.inner.settings.renewal_interval;
        let mut state = self.lock();
        let Some(lease) = state.lease_mut(&app, &id) else {
            return Err(RegistryError::UnknownInstance { app, id });
        };
        lease.info.overridden_status = overridden.unwrap_or(Status::Unknown);
        lease.info.status = status;
        if let Some(dirty) = last_dirty_timestamp {
            lease.info.last_dirty_timestamp = lease.info.last_dirty_timestamp.max(dirty);
        }
        lease.info.action_type = ActionType::Modified;
        lease.info.last_updated_timestamp = model::now_millis();
        if status == Status::Up && lease.service_up_ms == 0 {
            lease.service_up_ms = lease.info.last_updated_timestamp;
        }
        let wire = lease.to_wire(renewal);
        match overridden {
            Some(overridden) => state.overrides.insert(id.clone(), overridden),
            None => state.overrides.remove(&id),
        };
        self.record_change(&mut state, now, wire);
        drop(state);
        tracing::info!(%app, %id, %status, ?overridden, "status changed");
        Ok(())
    }

    /// `PUT .../metadata?key=value`: merges into the instance's metadata.
    pub fn update_metadata(
        &self,
        app: &str,
        id: &str,
        entries: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), RegistryError> {
        let (app, id) = (AppName::parse(app)?, InstanceId::parse(id)?);
        let now = Instant::now();
        let renewal = self.inner.settings.renewal_interval;
        let mut state = self.lock();
        let Some(lease) = state.lease_mut(&app, &id) else {
            return Err(RegistryError::UnknownInstance { app, id });
        };
        lease.info.metadata.extend(entries);
        let now_ms = model::now_millis();
        lease.info.last_dirty_timestamp = now_ms.max(lease.info.last_dirty_timestamp + 1);
        lease.info.last_updated_timestamp = now_ms;
        lease.info.action_type = ActionType::Modified;
        let wire = lease.to_wire(renewal);
        self.record_change(&mut state, now, wire);
        Ok(())
    }

    /// Every registered application.
    pub fn applications(&self) -> Applications {
        self.select(|_| true)
    }

    /// What changed within the delta retention, with the whole registry's hash code.
    pub fn delta(&self) -> Applications {
        let now = Instant::now();
        let mut state = self.lock();
        self.prune_recent(&mut state, now);
        let mut grouped: BTreeMap<&str, Vec<InstanceInfo>> = BTreeMap::new();
        for (_, info) in &state.recent {
            grouped.entry(&info.app).or_default().push(info.clone());
        }
        let application = grouped
            .into_iter()
            .map(|(name, instance)| Application {
                name: name.to_owned(),
                instance,
            })
            .collect();
        let hashcode = model::apps_hashcode(
            state
                .apps
                .values()
                .flat_map(|leases| leases.values())
                .map(|lease| &lease.info),
        );
        Applications::delta(self.version(), hashcode, application)
    }

    pub fn application(&self, name: &str) -> Result<Application, RegistryError> {
        let name = AppName::parse(name)?;
        let state = self.lock();
        let instances = state
            .apps
            .get(&name)
            .ok_or_else(|| RegistryError::UnknownApplication(name.clone()))?;
        Ok(self.wire_application(&name, instances.values()))
    }

    pub fn instance(&self, app: &str, id: &str) -> Result<InstanceInfo, RegistryError> {
        let (app, id) = (AppName::parse(app)?, InstanceId::parse(id)?);
        let state = self.lock();
        let lease = state
            .apps
            .get(&app)
            .and_then(|instances| instances.get(&id))
            .ok_or(RegistryError::UnknownInstance { app, id })?;
        Ok(lease.to_wire(self.inner.settings.renewal_interval))
    }

    /// `GET /instances/{id}`: the instance with this id in whichever application holds it.
    pub fn instance_by_id(&self, id: &str) -> Option<InstanceInfo> {
        let id = InstanceId::parse(id).ok()?;
        let state = self.lock();
        state
            .apps
            .values()
            .find_map(|instances| instances.get(&id))
            .map(|lease| lease.to_wire(self.inner.settings.renewal_interval))
    }

    /// The instances serving `vip`, grouped by application as `GET /apps` groups them.
    pub fn vip(&self, vip: &str) -> Applications {
        self.select(|info| info.serves_vip(vip))
    }

    /// The instances serving the secure VIP `svip`.
    pub fn svip(&self, svip: &str) -> Applications {
        let svip = svip.trim();
        self.select(|info| {
            info.secure_vip_address
                .split(',')
                .any(|entry| entry.trim().eq_ignore_ascii_case(svip))
        })
    }

    /// One eviction pass: drops every lease not renewed within its duration, unless so many
    /// expected instances are missing that self-preservation holds them (see
    /// [`SelfPreservationSettings`]).
    pub fn evict_expired(&self, now: Instant) -> Vec<InstanceId> {
        let mut state = self.lock();
        let preservation = self.inner.preservation;
        while let Some((at, _)) = state.evicted.front()
            && *at + preservation.window <= now
        {
            state.evicted.pop_front();
        }
        let expired: Vec<(AppName, InstanceId)> = state
            .apps
            .iter()
            .flat_map(|(app, instances)| {
                instances
                    .iter()
                    .filter(|(_, lease)| lease.is_expired(now))
                    .map(|(id, _)| (app.clone(), id.clone()))
            })
            .collect();
        let measure = self.measure(&state, expired.len());
        let withhold = !expired.is_empty() && measure.expected - measure.live > measure.allowance;
        if withhold != state.self_preservation_active {
            state.self_preservation_active = withhold;
            if withhold {
                tracing::warn!(
                    expired = expired.len(),
                    live = measure.live,
                    expected = measure.expected,
                    threshold = preservation.threshold,
                    "self-preservation: too many leases lapsed at once, eviction suspended"
                );
            } else {
                tracing::info!("self-preservation over, eviction resumed");
            }
        }
        if withhold || expired.is_empty() {
            return Vec::new();
        }
        let renewal = self.inner.settings.renewal_interval;
        let mut evicted = Vec::with_capacity(expired.len());
        for (app, id) in expired {
            let Some(lease) = state
                .apps
                .get_mut(&app)
                .and_then(|instances| instances.remove(&id))
            else {
                continue;
            };
            tracing::info!(%app, %id, lease = ?lease.duration, "lease expired, evicting");
            state.overrides.remove(&id);
            state.evicted.push_back((now, id.clone()));
            let mut wire = lease.to_wire(renewal);
            wire.action_type = ActionType::Deleted;
            wire.last_updated_timestamp = model::now_millis();
            self.record_change(&mut state, now, wire);
            evicted.push(id);
        }
        state.apps.retain(|_, instances| !instances.is_empty());
        evicted
    }

    /// Evicts expired leases every `eviction_interval` until `shutdown`.
    pub async fn run_eviction(self, shutdown: Shutdown) {
        let mut ticks = tokio::time::interval(self.inner.settings.eviction_interval);
        // After a stall one pass catches up; a burst of passes would find nothing more.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                now = ticks.tick() => { self.evict_expired(now); }
            }
        }
        tracing::debug!("eviction loop stopped");
    }

    /// Self-preservation's figures now (the active flag as of the last eviction pass).
    pub fn self_preservation(&self) -> SelfPreservation {
        let state = self.lock();
        let now = Instant::now();
        let expired = state
            .apps
            .values()
            .flat_map(BTreeMap::values)
            .filter(|lease| lease.is_expired(now))
            .count();
        self.measure(&state, expired)
    }

    fn measure(&self, state: &State, expired: usize) -> SelfPreservation {
        let preservation = self.inner.preservation;
        let registered = state.registered();
        let expected = registered + state.evicted.len();
        let missing_share = (1.0 - preservation.threshold).clamp(0.0, 1.0);
        // Truncation intended: the allowance is a whole number of instances.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let allowance = ((expected as f64 * missing_share).floor() as usize).max(1);
        SelfPreservation {
            enabled: preservation.enabled,
            threshold: preservation.threshold,
            expected,
            live: registered - expired,
            allowance: if preservation.enabled {
                allowance
            } else {
                usize::MAX
            },
            active: state.self_preservation_active,
        }
    }

    /// Everything the dashboard shows.
    pub fn snapshot(&self) -> Snapshot {
        let self_preservation = self.self_preservation();
        let now = Instant::now();
        let renewal = self.inner.settings.renewal_interval;
        let state = self.lock();
        let apps = state
            .apps
            .iter()
            .map(|(name, instances)| {
                let views = instances
                    .values()
                    .map(|lease| LeaseView {
                        info: lease.to_wire(renewal),
                        age: now.saturating_duration_since(lease.registered_at),
                        since_renewal: now.saturating_duration_since(lease.last_renewal),
                        duration: lease.duration,
                        expired: lease.is_expired(now),
                    })
                    .collect();
                (name.as_str().to_owned(), views)
            })
            .collect();
        Snapshot {
            apps,
            self_preservation,
            version: self.version(),
            renewals: state.renewals,
            evicted_recently: state.evicted.len(),
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

    fn select(&self, keep: impl Fn(&InstanceInfo) -> bool) -> Applications {
        let state = self.lock();
        let application = state
            .apps
            .iter()
            .map(|(name, instances)| {
                self.wire_application(name, instances.values().filter(|lease| keep(&lease.info)))
            })
            .filter(|app| !app.instance.is_empty())
            .collect();
        Applications::new(self.version(), application)
    }

    fn wire_application<'a>(
        &self,
        name: &AppName,
        leases: impl Iterator<Item = &'a Lease>,
    ) -> Application {
        let renewal = self.inner.settings.renewal_interval;
        Application {
            name: name.as_str().to_owned(),
            instance: leases.map(|lease| lease.to_wire(renewal)).collect(),
        }
    }

    /// Queues `info` for deltas and bumps the version. Called with the state locked, so a
    /// reader never sees a version newer than the state.
    fn record_change(&self, state: &mut State, now: Instant, info: InstanceInfo) {
        self.prune_recent(state, now);
        state.recent.push_back((now, info));
        self.inner.version.send_modify(|version| *version += 1);
    }

    fn prune_recent(&self, state: &mut State, now: Instant) {
        let retention = self.inner.settings.delta_retention;
        while let Some((at, _)) = state.recent.front()
            && *at + retention < now
        {
            state.recent.pop_front();
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn settings(duration: Duration) -> LeaseSettings {
        LeaseSettings {
            duration,
            ..LeaseSettings::default()
        }
    }

    fn without_self_preservation(lease: LeaseSettings) -> Registry {
        Registry::with_self_preservation(
            lease,
            SelfPreservationSettings {
                enabled: false,
                ..SelfPreservationSettings::default()
            },
        )
    }

    fn instance(app: &str, id: &str, status: Status) -> InstanceInfo {
        serde_json::from_value(json!({
            "instanceId": id, "hostName": "localhost", "app": app, "ipAddr": "127.0.0.1",
            "status": status.as_str(), "vipAddress": app.to_lowercase(),
            "dataCenterInfo": {"name": "MyOwn"}
        }))
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn lease_expires_when_instance_stops_renewing() {
        let registry = without_self_preservation(settings(Duration::from_secs(90)));
        registry.register(instance("a", "a1", Status::Up)).unwrap();
        registry.register(instance("a", "a2", Status::Up)).unwrap();

        tokio::time::advance(Duration::from_secs(60)).await;
        registry.renew("a", "a2").unwrap();
        assert!(registry.evict_expired(Instant::now()).is_empty());

        tokio::time::advance(Duration::from_secs(31)).await;
        let evicted = registry.evict_expired(Instant::now());
        assert_eq!(evicted, vec![InstanceId::parse("a1").unwrap()]);
        let ids: Vec<_> = registry
            .applications()
            .instances()
            .map(|info| info.instance_id.clone())
            .collect();
        assert_eq!(ids, ["a2"]);

        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(registry.evict_expired(Instant::now()).len(), 1);
        assert!(registry.applications().application.is_empty());
        assert!(matches!(
            registry.renew("a", "a2"),
            Err(RegistryError::UnknownInstance { .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn lease_duration_sent_by_the_instance_overrides_the_default() {
        let registry = Registry::new(settings(Duration::from_secs(90)));
        let mut short = instance("a", "short", Status::Up);
        short.lease_info.duration_in_secs = 5;
        registry.register(short).unwrap();
        registry
            .register(instance("a", "default", Status::Up))
            .unwrap();

        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(
            registry.evict_expired(Instant::now()),
            [InstanceId::parse("short").unwrap()]
        );
        let remaining = registry.instance("a", "default").unwrap();
        assert_eq!(remaining.lease_info.duration_in_secs, 90);
    }

    #[tokio::test(start_paused = true)]
    async fn eviction_loop_evicts_until_shutdown() {
        let lease = LeaseSettings {
            duration: Duration::from_secs(10),
            eviction_interval: Duration::from_secs(5),
            ..LeaseSettings::default()
        };
        let registry = Registry::new(lease);
        registry.register(instance("a", "a1", Status::Up)).unwrap();
        let shutdown = Shutdown::new();
        let task = tokio::spawn(registry.clone().run_eviction(shutdown.clone()));

        // Paused time auto-advances while every task waits, so this crosses several ticks.
        tokio::time::sleep(Duration::from_secs(16)).await;
        assert!(registry.applications().application.is_empty());
        shutdown.cancel();
        task.await.unwrap();
    }

    #[test]
    fn registration_normalises_names_and_falls_back_to_host_name() {
        let registry = Registry::new(LeaseSettings::default());
        let mut info = instance("middletier", "", Status::Up);
        info.instance_id.clear();
        let id = registry.register(info).unwrap();
        assert_eq!(id.as_str(), "localhost");
        let app = registry.application("MiddleTier").unwrap();
        assert_eq!(app.name, "MIDDLETIER");
        assert_eq!(app.instance[0].app, "MIDDLETIER");
    }

    #[test]
    fn registration_rejects_missing_required_fields() {
        let registry = Registry::new(LeaseSettings::default());
        type Breakage = fn(&mut InstanceInfo);
        let cases: [(&str, Breakage); 4] = [
            ("hostName", |info| info.host_name.clear()),
            ("ipAddr", |info| info.ip_addr.clear()),
            ("app", |info| info.app.clear()),
            ("dataCenterInfo.name", |info| {
                info.data_center_info.name.clear()
            }),
        ];
        for (field, break_it) in cases {
            let mut info = instance("a", "a1", Status::Up);
            break_it(&mut info);
            let error = registry.register(info).unwrap_err();
            assert!(
                matches!(error, RegistryError::Missing(missing) if missing == field),
                "{error}"
            );
        }
    }

    #[test]
    fn every_change_bumps_the_version_and_renewals_do_not() {
        let registry = Registry::new(LeaseSettings::default());
        let start = registry.version();
        registry.register(instance("a", "a1", Status::Up)).unwrap();
        assert_eq!(registry.version(), start + 1);
        registry.renew("a", "a1").unwrap();
        assert_eq!(registry.version(), start + 1);
        registry.cancel("a", "a1").unwrap();
        assert_eq!(registry.version(), start + 2);
        registry.register(instance("a", "a1", Status::Up)).unwrap();
        registry
            .override_status("a", "a1", Status::OutOfService, None)
            .unwrap();
        registry
            .update_metadata("a", "a1", [("k".to_owned(), "v".to_owned())])
            .unwrap();
        assert_eq!(registry.version(), start + 5);
        registry.cancel("a", "a1").unwrap();
        let start = start + 4;
        assert_eq!(
            registry.applications().versions_delta,
            (start + 2).to_string()
        );
    }

    #[test]
    fn vip_selects_matching_instances_across_applications() {
        let registry = Registry::new(LeaseSettings::default());
        registry.register(instance("a", "a1", Status::Up)).unwrap();
        let mut shared = instance("b", "b1", Status::Down);
        shared.vip_address = "b,A".to_owned();
        registry.register(shared).unwrap();
        registry.register(instance("c", "c1", Status::Up)).unwrap();

        let selected = registry.vip("a");
        let names: Vec<_> = selected
            .application
            .iter()
            .map(|app| app.name.as_str())
            .collect();
        assert_eq!(names, ["A", "B"]);
        assert_eq!(selected.apps_hashcode, "DOWN_1_UP_1_");
    }

    fn ids(evicted: &[InstanceId]) -> Vec<&str> {
        evicted.iter().map(InstanceId::as_str).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn self_preservation_holds_leases_when_many_lapse_at_once() {
        let registry = Registry::new(settings(Duration::from_secs(3)));
        for n in 0..20 {
            registry
                .register(instance("a", &format!("a{n:02}"), Status::Up))
                .unwrap();
        }
        // Two crash: 2 of 20 missing is within the 15 % allowance (3), so they go.
        tokio::time::advance(Duration::from_secs(2)).await;
        for n in 2..20 {
            registry.renew("a", &format!("a{n:02}")).unwrap();
        }
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(ids(&registry.evict_expired(Instant::now())), ["a00", "a01"]);
        assert!(!registry.self_preservation().active);

        // Then a partition: nobody renews. 18 lapse; with the 2 evicted 20 are missing of 20.
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(registry.evict_expired(Instant::now()).is_empty());
        let state = registry.self_preservation();
        assert!(state.active, "{state:?}");
        assert_eq!((state.expected, state.live, state.allowance), (20, 0, 3));
        assert_eq!(registry.applications().instances().count(), 18);

        // The partition heals: renewals resume on the held leases and preservation ends.
        for n in 2..20 {
            registry.renew("a", &format!("a{n:02}")).unwrap();
        }
        assert!(registry.evict_expired(Instant::now()).is_empty());
        assert!(!registry.self_preservation().active);
    }

    #[tokio::test(start_paused = true)]
    async fn self_preservation_still_lets_a_small_registry_drop_one_crashed_instance() {
        let registry = Registry::new(settings(Duration::from_secs(2)));
        registry.register(instance("a", "a1", Status::Up)).unwrap();
        registry.register(instance("b", "b1", Status::Up)).unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        registry.renew("b", "b1").unwrap();
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(ids(&registry.evict_expired(Instant::now())), ["a1"]);

        // Back after a restart: no longer missing, so the next crash may go too.
        registry.register(instance("a", "a1", Status::Up)).unwrap();
        tokio::time::advance(Duration::from_millis(2500)).await;
        registry.renew("a", "a1").unwrap();
        assert_eq!(ids(&registry.evict_expired(Instant::now())), ["b1"]);
    }

    #[test]
    fn status_override_wins_over_the_instance_until_removed() {
        let registry = Registry::new(LeaseSettings::default());
        registry.register(instance("a", "a1", Status::Up)).unwrap();
        registry
            .override_status("a", "a1", Status::OutOfService, None)
            .unwrap();
        // The instance re-registers UP (a restart): the override still holds.
        registry.register(instance("a", "a1", Status::Up)).unwrap();
        let info = registry.instance("a", "a1").unwrap();
        assert_eq!(
            (info.status, info.overridden_status),
            (Status::OutOfService, Status::OutOfService)
        );
        registry.renew("a", "a1").unwrap();
        // A DOWN instance is DOWN whatever the override.
        registry
            .register(instance("a", "a1", Status::Down))
            .unwrap();
        assert_eq!(registry.instance("a", "a1").unwrap().status, Status::Down);

        // Removing it lists the instance UNKNOWN: its next renewal answers 404, it registers
        // again with its own status.
        registry
            .remove_status_override("a", "a1", Status::Unknown, None)
            .unwrap();
        assert!(matches!(
            registry.renew("a", "a1"),
            Err(RegistryError::UnknownInstance { .. })
        ));
        registry.register(instance("a", "a1", Status::Up)).unwrap();
        let info = registry.instance("a", "a1").unwrap();
        assert_eq!(
            (info.status, info.overridden_status),
            (Status::Up, Status::Unknown)
        );
    }

    #[test]
    fn last_dirty_timestamp_orders_registrations_and_renewals() {
        let registry = Registry::new(LeaseSettings::default());
        let mut newer = instance("a", "a1", Status::Up);
        newer.last_dirty_timestamp = 2_000;
        registry.register(newer).unwrap();
        // An older registration (a late replica) does not undo the newer one.
        let mut older = instance("a", "a1", Status::Down);
        older.last_dirty_timestamp = 1_000;
        registry.register_from(older, Origin::Peer).unwrap();
        assert_eq!(registry.instance("a", "a1").unwrap().status, Status::Up);

        let renewal = |dirty| Renewal {
            last_dirty_timestamp: Some(dirty),
            overridden_status: None,
        };
        registry
            .renew_from("a", "a1", renewal(2_000), Origin::Client)
            .unwrap();
        // The client knows something newer: it must register again.
        assert!(matches!(
            registry.renew_from("a", "a1", renewal(3_000), Origin::Client),
            Err(RegistryError::UnknownInstance { .. })
        ));
        // An older client copy is fine; an older peer copy is a conflict carrying ours.
        registry
            .renew_from("a", "a1", renewal(1_000), Origin::Client)
            .unwrap();
        match registry.renew_from("a", "a1", renewal(1_000), Origin::Peer) {
            Err(RegistryError::Conflict { newer, .. }) => {
                assert_eq!(newer.last_dirty_timestamp, 2_000);
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn delta_lists_recent_changes_with_the_whole_registrys_hash_code() {
        let registry = Registry::new(LeaseSettings::default());
        registry.register(instance("a", "a1", Status::Up)).unwrap();
        registry.register(instance("a", "a2", Status::Up)).unwrap();
        registry
            .register(instance("b", "b1", Status::Down))
            .unwrap();
        registry.cancel("a", "a1").unwrap();
        let delta = registry.delta();
        assert_eq!(delta.apps_hashcode, "DOWN_1_UP_1_");
        let actions: Vec<_> = delta
            .instances()
            .map(|info| (info.instance_id.as_str(), info.action_type))
            .collect();
        assert_eq!(
            actions,
            [
                ("a1", ActionType::Added),
                ("a2", ActionType::Added),
                ("a1", ActionType::Deleted),
                ("b1", ActionType::Added)
            ]
        );
        assert_eq!(delta.versions_delta, registry.version().to_string());
    }
}
