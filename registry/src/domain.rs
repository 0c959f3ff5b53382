//! The registry itself: instances held under leases, in memory.
//!
//! Transport-free so tests drive it directly (with paused time for leases) and the HTTP layer
//! stays a thin translation. Like Eureka, state lives only in memory: a restarted registry is
//! empty until clients notice (their renewals answer 404) and register again.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use platform::lifecycle::Shutdown;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::model::{self, ActionType, Application, Applications, InstanceInfo, Status};
use crate::settings::LeaseSettings;

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

/// One registered instance and the terms it holds its place under.
#[derive(Debug)]
struct Lease {
    info: InstanceInfo,
    duration: Duration,
    /// Monotonic, so expiry is immune to clock jumps and tests can pause time.
    last_renewal: Instant,
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

/// Seconds on the wire, rounded up so a sub-second setting never reads as "no lease".
pub(crate) fn whole_seconds(duration: Duration) -> u32 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    u32::try_from(seconds).unwrap_or(u32::MAX)
}

#[derive(Debug, Default)]
struct State {
    apps: BTreeMap<AppName, BTreeMap<InstanceId, Lease>>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// Bumped on every change: the `versions__delta` of fetches, and what long polls wait on.
    version: watch::Sender<u64>,
    settings: LeaseSettings,
}

/// Handle to the in-memory registry; clones share it.
#[derive(Clone, Debug)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Registry {
    pub fn new(settings: LeaseSettings) -> Registry {
        Registry {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                version: watch::Sender::new(1),
                settings,
            }),
        }
    }

    /// Registers `instance` or replaces its previous registration (a status change re-registers).
    pub fn register(&self, mut info: InstanceInfo) -> Result<InstanceId, RegistryError> {
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

        let now_ms = model::now_millis();
        info.app = app.as_str().to_owned();
        info.instance_id = id.as_str().to_owned();
        info.action_type = ActionType::Added;
        info.last_updated_timestamp = now_ms;
        if info.last_dirty_timestamp == 0 {
            info.last_dirty_timestamp = now_ms;
        }
        let duration = match info.lease_info.duration_in_secs {
            0 => self.inner.settings.duration,
            seconds => Duration::from_secs(seconds.into()),
        };

        let mut state = self.lock();
        let instances = state.apps.entry(app.clone()).or_default();
        // A re-registration keeps the history Eureka keeps: when it first registered and came up.
        let previous = instances.get(&id);
        let registration_ms = previous.map_or(now_ms, |lease| lease.registration_ms);
        let service_up_ms = match previous.map(|lease| lease.service_up_ms) {
            Some(up) if up > 0 => up,
            _ if info.status == Status::Up => now_ms,
            _ => 0,
        };
        let status = info.status;
        instances.insert(
            id.clone(),
            Lease {
                info,
                duration,
                last_renewal: Instant::now(),
                registration_ms,
                last_renewal_ms: now_ms,
                service_up_ms,
            },
        );
        self.bump_version();
        drop(state);
        tracing::info!(%app, %id, %status, "instance registered");
        Ok(id)
    }

    /// Extends the lease of a registered instance.
    pub fn renew(&self, app: &str, id: &str) -> Result<(), RegistryError> {
        let (app, id) = (AppName::parse(app)?, InstanceId::parse(id)?);
        let mut state = self.lock();
        let lease = state
            .apps
            .get_mut(&app)
            .and_then(|instances| instances.get_mut(&id))
            .ok_or(RegistryError::UnknownInstance { app, id })?;
        lease.last_renewal = Instant::now();
        lease.last_renewal_ms = model::now_millis();
        Ok(())
    }

    /// Removes a registration (the instance is shutting down).
    pub fn cancel(&self, app: &str, id: &str) -> Result<(), RegistryError> {
        let (app, id) = (AppName::parse(app)?, InstanceId::parse(id)?);
        let mut state = self.lock();
        let instances = state.apps.get_mut(&app);
        if instances
            .and_then(|instances| instances.remove(&id))
            .is_none()
        {
            return Err(RegistryError::UnknownInstance { app, id });
        }
        state.apps.retain(|_, instances| !instances.is_empty());
        self.bump_version();
        Ok(())
    }

    /// Every registered application.
    pub fn applications(&self) -> Applications {
        self.select(|_| true)
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

    /// The instances serving `vip`, grouped by application as `GET /apps` groups them.
    pub fn vip(&self, vip: &str) -> Applications {
        self.select(|info| info.serves_vip(vip))
    }

    /// One eviction pass: drops every lease not renewed within its duration.
    pub fn evict_expired(&self, now: Instant) -> Vec<InstanceId> {
        let mut evicted = Vec::new();
        let mut state = self.lock();
        for (app, instances) in &mut state.apps {
            instances.retain(|id, lease| {
                let expired = lease.is_expired(now);
                if expired {
                    tracing::info!(%app, %id, lease = ?lease.duration, "lease expired, evicting");
                    evicted.push(id.clone());
                }
                !expired
            });
        }
        if !evicted.is_empty() {
            state.apps.retain(|_, instances| !instances.is_empty());
            self.bump_version();
        }
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

    /// The current version: changes whenever an instance is added, replaced or removed.
    pub fn version(&self) -> u64 {
        *self.inner.version.borrow()
    }

    /// Wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.version.subscribe()
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

    /// Called with the state locked, so a reader never sees a version newer than the state.
    fn bump_version(&self) {
        self.inner.version.send_modify(|version| *version += 1);
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
        let registry = Registry::new(settings(Duration::from_secs(90)));
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
}
