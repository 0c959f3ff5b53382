//! An instance's place in the registry, held under a lease: registering (with Eureka's
//! `lastDirtyTimestamp` ordering and status rules), renewing, cancelling, and the metadata
//! it carries.

use std::collections::BTreeMap;
use std::time::Duration;

use registry_client::model::{self, ActionType, InstanceInfo, Status, whole_seconds};
use tokio::time::Instant;

use super::overrides::effective_status;
use super::{AppName, InstanceId, Origin, Registry, RegistryError};

/// The metadata key naming the principal whose credentials registered an instance. It travels
/// only between the API and the registry (set from the caller's credentials, never taken from
/// a client) and between peers ([`Registry::replica`]); the registry keeps it with the lease,
/// out of the instance clients read, and compares it on every later change, so one service
/// cannot renew, replace or cancel another's instances.
pub const OWNER_KEY: &str = "registry.principal";

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
pub(super) struct Lease {
    pub(super) info: InstanceInfo,
    /// The principal that registered the instance (`None` while the registry is open).
    pub(super) owner: Option<String>,
    pub(super) duration: Duration,
    /// Monotonic, so expiry is immune to clock jumps and tests can pause time.
    pub(super) last_renewal: Instant,
    pub(super) registered_at: Instant,
    // Wall-clock milliseconds, only for the wire.
    pub(super) registration_ms: u64,
    pub(super) last_renewal_ms: u64,
    pub(super) service_up_ms: u64,
}

impl Lease {
    pub(super) fn is_expired(&self, now: Instant) -> bool {
        now > self.last_renewal + self.duration
    }

    /// The instance as clients see it: the lease's terms and history filled in.
    pub(super) fn to_wire(&self, expected_renewal: Duration) -> InstanceInfo {
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

    /// The instance as peers take it: with its owner under [`OWNER_KEY`].
    pub(super) fn to_replica(&self, expected_renewal: Duration) -> InstanceInfo {
        let mut info = self.to_wire(expected_renewal);
        if let Some(owner) = &self.owner {
            info.metadata.insert(OWNER_KEY.to_owned(), owner.clone());
        }
        info
    }
}

impl Registry {
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
        let owner = info.metadata.remove(OWNER_KEY);
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
        self.check_timestamp(info.last_dirty_timestamp, now_ms)?;
        self.check_record(&info)?;
        // A lease may be shorter than the default but never outlive the configured maximum:
        // an instance asking for years would never be evicted.
        let duration = match info.lease_info.duration_in_secs {
            0 => self.inner.settings.duration,
            seconds => Duration::from_secs(seconds.into()),
        }
        .min(self.inner.settings.max_duration);

        let mut state = self.lock();
        let instances = state.apps.get(&app);
        let previous = instances.and_then(|instances| instances.get(&id));
        if previous.is_none()
            && instances.map_or(0, BTreeMap::len) >= self.inner.limits.max_instances_per_app
        {
            return Err(RegistryError::TooLarge(format!(
                "{app} already has {} instances, the most one application may have",
                self.inner.limits.max_instances_per_app
            )));
        }
        if origin == Origin::Client
            && let (Some(previous), Some(owner)) = (previous, &owner)
            && previous.owner.as_ref().is_some_and(|held| held != owner)
        {
            return Err(RegistryError::NotOwner { app, id });
        }
        let owner = owner.or_else(|| previous.and_then(|lease| lease.owner.clone()));
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
            owner,
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

    /// Refuses a change to `app`/`id` by the principal `owner` when another registered the
    /// instance. An unknown instance passes: the change itself answers that it is unknown.
    pub fn check_owner(&self, app: &str, id: &str, owner: &str) -> Result<(), RegistryError> {
        let (app, id) = (AppName::parse(app)?, InstanceId::parse(id)?);
        let state = self.lock();
        let held = state
            .apps
            .get(&app)
            .and_then(|instances| instances.get(&id))
            .and_then(|lease| lease.owner.as_ref());
        match held {
            Some(held) if held != owner => Err(RegistryError::NotOwner { app, id }),
            _ => Ok(()),
        }
    }

    /// A `lastDirtyTimestamp` more than `max_clock_skew` ahead of this node's clock is refused:
    /// Eureka keeps the copy with the highest one, so `u64::MAX` would hold the record for good.
    pub(super) fn check_timestamp(&self, timestamp: u64, now_ms: u64) -> Result<(), RegistryError> {
        let skew =
            u64::try_from(self.inner.settings.max_clock_skew.as_millis()).unwrap_or(u64::MAX);
        if timestamp > now_ms.saturating_add(skew) {
            return Err(RegistryError::FutureTimestamp(timestamp));
        }
        Ok(())
    }

    /// Metadata within [`crate::settings::RecordLimits`].
    fn check_record(&self, info: &InstanceInfo) -> Result<(), RegistryError> {
        let limits = &self.inner.limits;
        let metadata = info
            .metadata
            .iter()
            .chain(info.data_center_info.metadata.iter().flatten());
        let (entries, bytes) = metadata.fold((0, 0), |(entries, bytes), (key, value)| {
            (entries + 1, bytes + key.len() + value.len())
        });
        if entries > limits.max_metadata_entries || bytes > limits.max_metadata_bytes {
            return Err(RegistryError::TooLarge(format!(
                "metadata of {entries} entries and {bytes} bytes; at most {} entries and {} bytes",
                limits.max_metadata_entries, limits.max_metadata_bytes
            )));
        }
        Ok(())
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
                    newer: Box::new(lease.to_replica(renewal_interval)),
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
        let mut info = lease.info.clone();
        // Who registered the instance is the registry's record, not metadata.
        info.metadata
            .extend(entries.into_iter().filter(|(key, _)| key != OWNER_KEY));
        self.check_record(&info)?;
        let Some(lease) = state.lease_mut(&app, &id) else {
            return Err(RegistryError::UnknownInstance { app, id });
        };
        lease.info.metadata = info.metadata;
        let now_ms = model::now_millis();
        lease.info.last_dirty_timestamp = now_ms.max(lease.info.last_dirty_timestamp + 1);
        lease.info.last_updated_timestamp = now_ms;
        lease.info.action_type = ActionType::Modified;
        let wire = lease.to_wire(renewal);
        self.record_change(&mut state, now, wire);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use registry_client::model::Status;

    use super::*;
    use crate::domain::fixtures::*;
    use crate::settings::LeaseSettings;

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
}
