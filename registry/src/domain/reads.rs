//! What clients and the dashboard read: applications, instances, the instances behind a VIP,
//! and a snapshot of everything with each lease's age, all as Eureka's wire types.

use std::time::Duration;

use registry_client::model::{Application, Applications, InstanceInfo};
use tokio::time::Instant;

use super::eviction::SelfPreservation;
use super::lease::Lease;
use super::{AppName, InstanceId, Registry, RegistryError};

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

impl Registry {
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

    /// The instance as a peer takes it, with its owner (see [`super::OWNER_KEY`]).
    pub fn replica(&self, app: &str, id: &str) -> Result<InstanceInfo, RegistryError> {
        let (app, id) = (AppName::parse(app)?, InstanceId::parse(id)?);
        let state = self.lock();
        let lease = state
            .apps
            .get(&app)
            .and_then(|instances| instances.get(&id))
            .ok_or(RegistryError::UnknownInstance { app, id })?;
        Ok(lease.to_replica(self.inner.settings.renewal_interval))
    }

    /// Every registered application as a peer copies it at start-up, owners included.
    pub fn replicas(&self) -> Applications {
        let renewal = self.inner.settings.renewal_interval;
        let state = self.lock();
        let application = state
            .apps
            .iter()
            .map(|(name, instances)| Application {
                name: name.as_str().to_owned(),
                instance: instances
                    .values()
                    .map(|lease| lease.to_replica(renewal))
                    .collect(),
            })
            .collect();
        Applications::new(self.version(), application)
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use registry_client::model::Status;

    use super::*;
    use crate::domain::fixtures::*;
    use crate::settings::LeaseSettings;

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
