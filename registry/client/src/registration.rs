//! Keeping one instance registered for the life of the process: Eureka's heartbeat.

use std::time::Duration;

use platform::{health::Health, lifecycle::Shutdown};
use tokio::task::JoinHandle;

use crate::client::{ClientError, ClientSettings, RegistryClient, error_chain};
use crate::instance::InstanceConfig;

/// First retry delay after a failed registration; doubles up to the renewal interval.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// However long the renewal interval, a registry that comes back is noticed within this.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Keeps one instance registered: registers (retrying with capped backoff until it succeeds
/// or shutdown), renews every `renewal_interval`, registers again when a renewal answers 404
/// (the registry restarted or evicted us) and whenever `health` changes (so DOWN or STARTING
/// shows in the registry), and deregisters on shutdown before the task ends.
#[derive(Debug)]
pub struct Registration {
    task: JoinHandle<()>,
}

impl Registration {
    pub fn start(
        client: RegistryClient,
        instance: InstanceConfig,
        settings: &ClientSettings,
        health: Health,
        shutdown: Shutdown,
    ) -> Registration {
        let heartbeat = Heartbeat {
            client,
            app: instance.app_name(),
            id: instance.instance_id(),
            instance,
            settings: settings.clone(),
            health,
            current: false,
            registered: false,
        };
        Registration {
            task: tokio::spawn(heartbeat.run(shutdown)),
        }
    }

    /// Waits for the task; once shutdown was signalled, it has deregistered when this returns.
    pub async fn stopped(self) {
        if let Err(error) = self.task.await {
            tracing::error!(%error, "registration task failed");
        }
    }
}

#[derive(Debug)]
struct Heartbeat {
    client: RegistryClient,
    instance: InstanceConfig,
    app: String,
    id: String,
    settings: ClientSettings,
    health: Health,
    /// The registry holds our current status: renewing is enough.
    current: bool,
    /// We registered at least once, so there is something to deregister at shutdown.
    registered: bool,
}

impl Heartbeat {
    async fn run(mut self, shutdown: Shutdown) {
        let mut health_changes = self.health.subscribe();
        health_changes.borrow_and_update();
        let mut retry = Backoff::new(self.settings.renewal_interval);
        loop {
            let wait = match self.beat_once().await {
                Ok(()) => {
                    retry.reset();
                    self.settings.renewal_interval
                }
                Err(error) if !self.current => {
                    let delay = retry.next_delay();
                    tracing::warn!(
                        app = %self.app, id = %self.id, error = %error_chain(&error), retry_in = ?delay,
                        "cannot register with the registry"
                    );
                    delay
                }
                Err(error) => {
                    tracing::warn!(
                        app = %self.app, id = %self.id, error = %error_chain(&error),
                        "cannot renew the registration"
                    );
                    self.settings.renewal_interval
                }
            };
            tokio::select! {
                // Shutdown first: a status change racing it must not re-register a leaving instance.
                biased;
                () = shutdown.cancelled() => break,
                Ok(()) = health_changes.changed() => {
                    let status = health_changes.borrow_and_update().status;
                    tracing::info!(app = %self.app, id = %self.id, status = status.as_str(),
                        "health changed, updating the registry");
                    self.current = false;
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
        self.deregister().await;
    }

    /// One step: register when the registry lacks our current status, otherwise renew.
    async fn beat_once(&mut self) -> Result<(), ClientError> {
        if !self.current {
            return self.register().await;
        }
        match self.client.renew(&self.app, &self.id).await {
            Err(ClientError::NotRegistered { .. }) => {
                tracing::warn!(app = %self.app, id = %self.id,
                    "the registry no longer knows this instance, registering again");
                self.current = false;
                self.register().await
            }
            result => {
                tracing::trace!(app = %self.app, id = %self.id, "lease renewed");
                result
            }
        }
    }

    async fn register(&mut self) -> Result<(), ClientError> {
        let status = self.health.status();
        let info = self.instance.instance_info(status, &self.settings);
        self.client.register(&info).await?;
        self.current = true;
        self.registered = true;
        tracing::info!(app = %self.app, id = %self.id, status = status.as_str(), "registered");
        Ok(())
    }

    async fn deregister(&self) {
        if !self.registered {
            return;
        }
        match self.client.cancel(&self.app, &self.id).await {
            Ok(()) => tracing::info!(app = %self.app, id = %self.id, "deregistered"),
            Err(ClientError::NotRegistered { .. }) => {
                tracing::debug!(app = %self.app, id = %self.id, "already gone from the registry");
            }
            Err(error) => tracing::warn!(
                app = %self.app, id = %self.id, error = %error_chain(&error),
                "cannot deregister; the registry will evict this instance when its lease expires"
            ),
        }
    }
}

/// Exponential backoff from [`FIRST_RETRY`], capped at the renewal interval (never above
/// [`MAX_RETRY`]): a registry that is down is not hammered, one that comes back is found soon.
#[derive(Debug)]
struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Backoff {
    fn new(renewal_interval: Duration) -> Backoff {
        let cap = renewal_interval.clamp(FIRST_RETRY, MAX_RETRY);
        Backoff {
            next: FIRST_RETRY,
            cap,
        }
    }

    fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.cap);
        delay
    }

    fn reset(&mut self) {
        self.next = FIRST_RETRY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_renewal_interval() {
        let mut backoff = Backoff::new(Duration::from_millis(500));
        let delays: Vec<_> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), FIRST_RETRY);
    }

    #[test]
    fn backoff_never_waits_longer_than_the_cap() {
        let mut backoff = Backoff::new(Duration::from_secs(3600));
        let last = (0..20).map(|_| backoff.next_delay()).last();
        assert_eq!(last, Some(MAX_RETRY));
    }
}
