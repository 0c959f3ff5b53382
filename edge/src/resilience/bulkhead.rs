//! The bulkhead: at most `limit` holders at once; the next is turned away at once rather than
//! queued (Hystrix's semaphore isolation).
//!
//! A counter rather than a `tokio::sync::Semaphore`, because the limit is a live setting read
//! at every entry: a semaphore's permits are fixed when it is built, and growing or shrinking
//! it under holders would need bookkeeping that a compare-and-swap on one counter doesn't.
//! Commands use it for executions in flight; `/hystrix.stream` uses it for open streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Default)]
pub struct Bulkhead {
    in_flight: AtomicU32,
}

impl Bulkhead {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// A place if fewer than `limit` are taken; `None` (rejected) otherwise.
    pub fn try_enter(self: &Arc<Self>, limit: u32) -> Option<Permit> {
        let before = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        Some(Permit {
            bulkhead: self.clone(),
            concurrent: before + 1,
        })
    }

    /// Places taken now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }
}

/// One place in the bulkhead, given back when dropped, however its holder ends.
#[derive(Debug)]
pub struct Permit {
    bulkhead: Arc<Bulkhead>,
    concurrent: u32,
}

impl Permit {
    /// Places taken when this one was, itself included (for peak-concurrency statistics).
    pub fn concurrent(&self) -> u32 {
        self.concurrent
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.bulkhead.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bulkhead_turns_the_next_one_away_until_a_place_is_given_back() {
        let bulkhead = Bulkhead::new();
        let first = bulkhead.try_enter(2).expect("room for two");
        let second = bulkhead.try_enter(2).expect("room for two");
        assert_eq!((first.concurrent(), second.concurrent()), (1, 2));
        assert!(bulkhead.try_enter(2).is_none());
        drop(first);
        assert_eq!(bulkhead.in_flight(), 1);
        assert!(bulkhead.try_enter(2).is_some());
    }

    #[test]
    fn the_limit_is_read_at_each_entry() {
        let bulkhead = Bulkhead::new();
        let _held = bulkhead.try_enter(1).expect("room for one");
        assert!(bulkhead.try_enter(1).is_none());
        assert!(
            bulkhead.try_enter(2).is_some(),
            "a raised limit applies at once"
        );
    }
}
