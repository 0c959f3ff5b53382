//! Per-host politeness: at most `max_per_host` fetches in flight against one host, with a
//! semaphore per host that exists only while some fetch holds or awaits it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The unit of per-host politeness: the host name or address, whatever the port.
pub(super) fn host_key(url: &url::Url) -> String {
    url.host_str().unwrap_or_default().to_owned()
}

/// Per-host semaphores, created on demand and dropped as soon as nobody holds or awaits one,
/// so the map holds only hosts with fetches in flight or queued.
#[derive(Debug)]
pub(super) struct HostLimits {
    per_host: usize,
    map: Mutex<HostMap>,
}

#[derive(Debug)]
struct HostMap {
    semaphores: HashMap<String, Arc<Semaphore>>,
    /// When the map reaches this size it is swept of entries nobody uses (left behind when a
    /// waiting fetch is cancelled), then the threshold doubles: amortised O(1).
    sweep_at: usize,
}

const MIN_SWEEP_AT: usize = 64;

impl HostLimits {
    pub(super) fn new(per_host: usize) -> Self {
        Self {
            per_host,
            map: Mutex::new(HostMap {
                semaphores: HashMap::new(),
                sweep_at: MIN_SWEEP_AT,
            }),
        }
    }

    /// Waits for a turn at `host` (a [`host_key`]).
    pub(super) async fn acquire(self: &Arc<Self>, host: String) -> HostPermit {
        let semaphore = {
            let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            if map.semaphores.len() >= map.sweep_at {
                map.semaphores
                    .retain(|_, semaphore| Arc::strong_count(semaphore) > 1);
                map.sweep_at = (map.semaphores.len() * 2).max(MIN_SWEEP_AT);
            }
            map.semaphores
                .entry(host.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        let permit = semaphore.acquire_owned().await.ok();
        HostPermit {
            permit,
            host,
            limits: Arc::clone(self),
        }
    }
}

/// A fetch's turn at its host; dropping it forgets the host if nobody else is using it.
#[derive(Debug)]
pub(super) struct HostPermit {
    /// `None` only if the semaphore were closed, which we never do.
    permit: Option<OwnedSemaphorePermit>,
    host: String,
    limits: Arc<HostLimits>,
}

impl Drop for HostPermit {
    fn drop(&mut self) {
        // Release first, so the permit's own reference doesn't count as a user.
        drop(self.permit.take());
        let mut map = self
            .limits
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Only the map holds it: no fetch holds a permit or waits for one (waiters clone the
        // Arc under this lock before awaiting).
        if map
            .semaphores
            .get(&self.host)
            .is_some_and(|semaphore| Arc::strong_count(semaphore) == 1)
        {
            map.semaphores.remove(&self.host);
        }
    }
}

#[cfg(test)]
impl HostLimits {
    /// How many hosts have a semaphore now.
    fn tracked(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .semaphores
            .len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn per_host_limits_forget_hosts_nobody_is_fetching() {
        let limits = Arc::new(HostLimits::new(2));
        let first = limits.acquire("a.example".into()).await;
        let second = limits.acquire("a.example".into()).await;
        let other = limits.acquire("b.example".into()).await;
        assert_eq!(limits.tracked(), 2);

        // A third fetch of a.example waits until one of the first two is done.
        let waiting = tokio::spawn({
            let limits = Arc::clone(&limits);
            async move { limits.acquire("a.example".into()).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        let third = waiting.await.expect("acquired once a permit is free");

        drop(other);
        assert_eq!(limits.tracked(), 1, "b.example is idle");
        drop((second, third));
        assert_eq!(limits.tracked(), 0);
    }

    #[tokio::test]
    async fn entries_left_by_cancelled_waiters_are_swept_so_the_map_stays_bounded() {
        let limits = Arc::new(HostLimits::new(1));
        let mut most = 0;
        for n in 0..10 * MIN_SWEEP_AT {
            // The holder finishes while a waiter is queued, then the waiter gives up before
            // taking its permit: nobody is left to remove the entry at once.
            let host = format!("h{n}.example");
            let holder = limits.acquire(host.clone()).await;
            let mut waiter = Box::pin(limits.acquire(host));
            assert!(
                tokio::time::timeout(Duration::ZERO, &mut waiter)
                    .await
                    .is_err()
            );
            drop(holder);
            drop(waiter);
            most = most.max(limits.tracked());
        }
        assert!(most > 1, "entries were left behind");
        assert!(most <= MIN_SWEEP_AT, "but swept: at most {most}");
    }
}
