//! A retry budget, so retries can't multiply the load on an upstream that is already failing.
//!
//! Ribbon retries every failed call up to its attempt limit; during an outage that turns `n`
//! requests into `n × attempts`. Finagle and Linkerd bound retries instead by a budget over a
//! sliding window of `ttl` (10 s): retries may add at most `percent` (20 %) of the requests
//! seen in the window, plus a floor of `min_per_second` (10/s) so a quiet service still gets
//! its occasional retry. When the budget is spent, a failed attempt is final and the command's
//! fallback answers.
//!
//! The window is the shared [`Window`] (the breaker's and the statistics' too), in 10 buckets.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use platform::config::Dynamic;

use super::window::Window;

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
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    window: Window<Spent>,
    /// Retries refused since start, for the dashboard and Prometheus.
    exhausted: u64,
}

/// Requests and retries in one bucket of the window.
#[derive(Clone, Copy, Debug, Default)]
struct Spent {
    requests: u64,
    retries: u64,
}

impl RetryBudget {
    pub fn new(settings: RetryBudgetSettings) -> Self {
        Self::dynamic(Dynamic::fixed(settings))
    }

    /// A budget whose share and floor follow the live configuration.
    pub fn dynamic(settings: Dynamic<RetryBudgetSettings>) -> Self {
        let ttl = settings.get().ttl;
        Self {
            state: Mutex::new(State {
                window: Window::new(ttl, BUCKETS, Instant::now()),
                exhausted: 0,
            }),
            settings,
        }
    }

    /// A new request (not a retry) arrived.
    pub fn deposit(&self) {
        self.lock().window.current(Instant::now()).requests += 1;
    }

    /// Asks to retry once; `true` spends from the budget.
    pub fn try_withdraw(&self) -> bool {
        let now = Instant::now();
        let mut state = self.lock();
        let spent = state
            .window
            .fold(now, Spent::default(), |sum, bucket| Spent {
                requests: sum.requests + bucket.requests,
                retries: sum.retries + bucket.retries,
            });
        let settings = self.settings.get();
        // The window's length as built (`ttl` is not dynamic).
        let floor = u64::from(settings.min_per_second) * state.window.span().as_secs().max(1);
        let allowed = floor + spent.requests * u64::from(settings.percent) / 100;
        if spent.retries < allowed {
            state.window.current(now).retries += 1;
            true
        } else {
            state.exhausted += 1;
            false
        }
    }

    /// Retries refused because the budget was spent, since start.
    pub fn exhausted(&self) -> u64 {
        self.lock().exhausted
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Counters only; a poisoned lock holds consistent enough values.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
