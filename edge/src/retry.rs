//! A retry budget, so retries can't multiply the load on a middle tier that is already failing.
//!
//! Ribbon retries every failed call up to its attempt limit; during an outage that turns `n`
//! requests into `n × attempts`. Finagle and Linkerd bound retries instead by a budget over a
//! sliding window of `ttl` (10 s): retries may add at most `percent` (20 %) of the requests
//! seen in the window, plus a floor of `min_per_second` (10/s) so a quiet service still gets
//! its occasional retry. When the budget is spent, a failed attempt is final and the command's
//! fallback answers.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use platform::config::Dynamic;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryBudgetSettings {
    /// Retries allowed as a share of requests, in percent.
    pub percent: u32,
    /// Retries allowed per second regardless of traffic.
    pub min_per_second: u32,
    /// How long a request or retry counts against the budget.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
}

impl Default for RetryBudgetSettings {
    fn default() -> Self {
        Self {
            percent: 20,
            min_per_second: 10,
            ttl: Duration::from_secs(10),
        }
    }
}

const BUCKETS: u32 = 10;

#[derive(Debug)]
pub struct RetryBudget {
    /// Live: `percent` and `min_per_second` apply at the next retry; `ttl` shapes the window
    /// and is fixed at start-up.
    settings: Dynamic<RetryBudgetSettings>,
    window: Mutex<Window>,
}

/// Requests and retries per bucket, oldest overwritten.
#[derive(Debug)]
struct Window {
    bucket_len: Duration,
    buckets: [(u64, u64); BUCKETS as usize],
    current: usize,
    current_start: Instant,
    /// Retries refused since start, for the dashboard.
    exhausted: u64,
}

impl RetryBudget {
    pub fn new(settings: RetryBudgetSettings) -> Self {
        Self::dynamic(Dynamic::fixed(settings))
    }

    /// A budget whose share and floor follow the live configuration.
    pub fn dynamic(settings: Dynamic<RetryBudgetSettings>) -> Self {
        let ttl = settings.get().ttl;
        Self {
            window: Mutex::new(Window {
                bucket_len: (ttl / BUCKETS).max(Duration::from_millis(1)),
                buckets: [(0, 0); BUCKETS as usize],
                current: 0,
                current_start: Instant::now(),
                exhausted: 0,
            }),
            settings,
        }
    }

    /// A new request (not a retry) arrived.
    pub fn deposit(&self) {
        let mut window = self.lock();
        window.advance(Instant::now()).0 += 1;
    }

    /// Asks to retry once; `true` spends from the budget.
    pub fn try_withdraw(&self) -> bool {
        let mut window = self.lock();
        window.advance(Instant::now());
        let (requests, retries) = window
            .buckets
            .iter()
            .fold((0, 0), |(a, b), (r, t)| (a + r, b + t));
        let settings = self.settings.get();
        // The window's length as built (`ttl` is not dynamic).
        let span = window.bucket_len * BUCKETS;
        let floor = u64::from(settings.min_per_second) * span.as_secs().max(1);
        let allowed = floor + requests * u64::from(settings.percent) / 100;
        if retries < allowed {
            let current = window.current;
            window.buckets[current].1 += 1;
            true
        } else {
            window.exhausted += 1;
            false
        }
    }

    /// Retries refused because the budget was spent, since start.
    pub fn exhausted(&self) -> u64 {
        self.lock().exhausted
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Window {
    fn advance(&mut self, now: Instant) -> &mut (u64, u64) {
        let elapsed = now.saturating_duration_since(self.current_start);
        let steps = (elapsed.as_nanos() / self.bucket_len.as_nanos()) as usize;
        for _ in 0..steps.min(self.buckets.len()) {
            self.current = (self.current + 1) % self.buckets.len();
            self.buckets[self.current] = (0, 0);
        }
        self.current_start += self.bucket_len * u32::try_from(steps).unwrap_or(u32::MAX);
        &mut self.buckets[self.current]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> RetryBudget {
        RetryBudget::new(RetryBudgetSettings {
            percent: 20,
            min_per_second: 1,
            ttl: Duration::from_secs(10),
        })
    }

    fn withdrawals(budget: &RetryBudget) -> usize {
        std::iter::from_fn(|| budget.try_withdraw().then_some(()))
            .take(10_000)
            .count()
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_capped_at_a_share_of_requests_plus_a_floor() {
        let budget = budget();
        for _ in 0..100 {
            budget.deposit();
        }
        assert_eq!(
            withdrawals(&budget),
            10 + 20,
            "floor 1/s × 10 s, plus 20 % of 100"
        );
        assert!(budget.exhausted() > 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_refills_as_the_window_moves() {
        let budget = budget();
        assert_eq!(withdrawals(&budget), 10);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(withdrawals(&budget), 0, "the retries still count for 10 s");
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(withdrawals(&budget), 10);
    }
}
