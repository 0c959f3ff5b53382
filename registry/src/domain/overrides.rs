//! Status overrides: an operator's status (OUT_OF_SERVICE to take an instance out of traffic
//! without stopping it) kept apart from the instance's own, and Eureka's rules for which one an
//! instance is listed with.

use registry_client::model::{self, ActionType, Status};
use tokio::time::Instant;

use super::{AppName, InstanceId, Origin, Registry, RegistryError};

/// Eureka's status rules (`FirstMatchWinsCompositeRule`): the status an instance is listed
/// with, given what it says, any override, and the status its existing lease has.
pub(super) fn effective_status(
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

impl Registry {
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
        if let Some(dirty) = last_dirty_timestamp {
            self.check_timestamp(dirty, model::now_millis())?;
        }
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::fixtures::*;
    use crate::settings::LeaseSettings;

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
}
