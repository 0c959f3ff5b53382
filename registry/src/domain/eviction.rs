//! Eviction of leases not renewed in time, and self-preservation: when so many expected
//! instances are missing at once that the registry is more likely cut off than they are all
//! dead, eviction stops (see
//! [`SelfPreservationSettings`](crate::settings::SelfPreservationSettings)).

use std::collections::BTreeMap;

use platform::lifecycle::Shutdown;
use registry_client::model::{self, ActionType};
use tokio::time::Instant;

use super::{AppName, InstanceId, Registry, State};

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

impl Registry {
    /// One eviction pass: drops every lease not renewed within its duration, unless so many
    /// expected instances are missing that self-preservation holds them (see
    /// [`SelfPreservationSettings`](crate::settings::SelfPreservationSettings)).
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use registry_client::model::Status;

    use super::*;
    use crate::domain::fixtures::*;
    use crate::settings::LeaseSettings;

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
}
