//! The recently-changed queue behind `GET /apps/delta` (Eureka's `recentlyChangedQueue`), and
//! the version counter every change bumps: the `versions__delta` of reads, and what watches
//! wait on.

use std::collections::BTreeMap;

use registry_client::model::{self, Application, Applications, InstanceInfo};
use tokio::time::Instant;

use super::{Registry, State};

impl Registry {
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

    /// Queues `info` for deltas and bumps the version. Called with the state locked, so a
    /// reader never sees a version newer than the state.
    pub(super) fn record_change(&self, state: &mut State, now: Instant, info: InstanceInfo) {
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use registry_client::model::{ActionType, Status};

    use super::*;
    use crate::domain::fixtures::*;
    use crate::settings::LeaseSettings;

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
