//! A circuit breaker with Hystrix's semantics, written as an explicit, sans-IO state machine.
//!
//! ```text
//!            errors >= threshold% of >= volume requests in the rolling window
//!   CLOSED ───────────────────────────────────────────────────────────────▶ OPEN
//!     ▲                                                                    │
//!     │ trial succeeds                               sleep window elapsed  │
//!     │                                          (next request is a trial) ▼
//!     └──────────────────────────────── HALF_OPEN ◀─────────────────────────┘
//!                                          │ trial fails: OPEN again, sleep window restarts
//! ```
//!
//! - The rolling window is `rolling_window` long, split into `buckets` buckets (Hystrix: 10 s in
//!   10 buckets); old buckets fall out as time passes (see [`super::window`]).
//! - The breaker trips only once the window holds at least `request_volume_threshold` requests
//!   (Hystrix: 20) and the error share reaches `error_threshold_percentage` (Hystrix: 50 %).
//! - While open, every request is short-circuited (answered by the fallback) until
//!   `sleep_window` (Hystrix: 5 s) has passed; then exactly one trial request goes through.
//! - Bad requests (the caller's fault) are neither successes nor failures; one that happens
//!   to be the trial just gives the trial slot back.
//! - A verdict counts only in the state its call was let through in ([`Epoch`]). Under load
//!   hundreds of calls may still be in flight when the circuit opens; Hystrix lets their late
//!   verdicts act on whatever state the breaker is in by then, so a straggler's success can
//!   close the circuit in place of the trial, and a burst of stragglers' failures can open it
//!   again right after the trial closed it. Here they count for nothing: only the trial decides
//!   a half-open circuit, and a freshly closed one starts from the calls it let through.
//!
//! # Why hand-written
//! The breaker is the part of Hystrix this recipe exists to show, so its rules are the ones
//! above, to the letter: a request-volume threshold *and* an error percentage over a bucketed
//! rolling window, a single half-open trial, bad requests that count for nothing, thresholds
//! that change at run time, and the same window and counts that `/hystrix.stream` reports.
//! General-purpose breakers choose other rules (consecutive failures, success rates with their
//! own clocks and back-off policies), so they would change when circuits open. And as a
//! sans-IO machine (it does no I/O, spawns nothing and reads no clock: the caller passes
//! `now`) every transition is a plain function call that tests drive on paused
//! `tokio::time`, the way linkerd2-proxy tests its failure accrual.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::window::Window;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BreakerSettings {
    pub request_volume_threshold: u32,
    pub error_threshold_percentage: u32,
    #[serde(with = "humantime_serde")]
    pub sleep_window: Duration,
    #[serde(with = "humantime_serde")]
    pub rolling_window: Duration,
    pub buckets: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            request_volume_threshold: 20,
            error_threshold_percentage: 50,
            sleep_window: Duration::from_secs(5),
            rolling_window: Duration::from_secs(10),
            buckets: 10,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Closed,
    Open { since: Instant },
    HalfOpen,
}

/// Counts in one bucket of the rolling window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub success: u64,
    pub failure: u64,
    pub short_circuited: u64,
}

/// Whether a request may go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// This request is the single half-open trial.
    Trial,
    ShortCircuit,
}

/// The breaker's state as one call was let through in: each change of state starts a new
/// epoch, and a verdict from an earlier one is a straggler's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epoch(u64);

#[derive(Debug)]
pub struct CircuitBreaker {
    settings: BreakerSettings,
    state: State,
    epoch: Epoch,
    trial_in_flight: bool,
    window: Window<Counts>,
}

impl CircuitBreaker {
    pub fn new(settings: BreakerSettings, now: Instant) -> Self {
        let window = Window::new(settings.rolling_window, settings.buckets, now);
        Self {
            settings,
            state: State::Closed,
            epoch: Epoch(0),
            trial_in_flight: false,
            window,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The current epoch: taken with [`Self::decide`]'s answer, handed back with the verdict.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    fn enter(&mut self, state: State) {
        self.state = state;
        self.epoch = Epoch(self.epoch.0 + 1);
    }

    /// Takes the live thresholds and sleep window (dynamic properties); applies from the next
    /// decision. The rolling window's length and buckets stay as built.
    pub fn reconfigure(&mut self, settings: &BreakerSettings) {
        if self.settings != *settings {
            self.settings = BreakerSettings {
                rolling_window: self.settings.rolling_window,
                buckets: self.settings.buckets,
                ..settings.clone()
            };
        }
    }

    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Closed)
    }

    /// Asks to run a request now.
    pub fn decide(&mut self, now: Instant) -> Decision {
        match self.state {
            State::Closed => Decision::Allow,
            State::Open { since } if now.duration_since(since) >= self.settings.sleep_window => {
                self.enter(State::HalfOpen);
                self.trial_in_flight = true;
                Decision::Trial
            }
            State::HalfOpen if !self.trial_in_flight => {
                self.trial_in_flight = true;
                Decision::Trial
            }
            State::Open { .. } | State::HalfOpen => {
                self.window.current(now).short_circuited += 1;
                Decision::ShortCircuit
            }
        }
    }

    /// A success of a call let through in `epoch`.
    pub fn on_success(&mut self, now: Instant, epoch: Epoch) {
        if epoch != self.epoch {
            return;
        }
        if self.state == State::HalfOpen {
            // The trial worked: close and forget the errors that opened the circuit.
            self.enter(State::Closed);
            self.trial_in_flight = false;
            self.window.reset(now);
        }
        self.window.current(now).success += 1;
    }

    /// A failure or timeout of a call let through in `epoch`.
    pub fn on_failure(&mut self, now: Instant, epoch: Epoch) {
        if epoch != self.epoch {
            return;
        }
        self.window.current(now).failure += 1;
        match self.state {
            State::HalfOpen => {
                self.enter(State::Open { since: now });
                self.trial_in_flight = false;
            }
            State::Closed => {
                let totals = self.totals(now);
                let requests = totals.success + totals.failure;
                if requests >= u64::from(self.settings.request_volume_threshold)
                    && totals.failure * 100
                        >= u64::from(self.settings.error_threshold_percentage) * requests
                {
                    self.enter(State::Open { since: now });
                }
            }
            State::Open { .. } => {}
        }
    }

    /// A bad request, a rejection or a call whose caller went away, let through in `epoch`:
    /// no verdict on the upstream's health.
    pub fn on_ignored(&mut self, epoch: Epoch) {
        if epoch == self.epoch && self.state == State::HalfOpen {
            self.trial_in_flight = false;
        }
    }

    /// Sums over the rolling window (for the UI and metrics).
    pub fn totals(&mut self, now: Instant) -> Counts {
        self.window.fold(now, Counts::default(), |sum, c| Counts {
            success: sum.success + c.success,
            failure: sum.failure + c.failure,
            short_circuited: sum.short_circuited + c.short_circuited,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerSettings::default(), Instant::now())
    }

    fn fail(breaker: &mut CircuitBreaker, n: u32) {
        for _ in 0..n {
            assert_ne!(breaker.decide(Instant::now()), Decision::ShortCircuit);
            let epoch = breaker.epoch();
            breaker.on_failure(Instant::now(), epoch);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stays_closed_below_the_request_volume_threshold() {
        let mut breaker = breaker();
        fail(&mut breaker, 19);
        assert_eq!(
            breaker.state(),
            State::Closed,
            "19 failures are below the volume of 20"
        );
        fail(&mut breaker, 1);
        assert!(matches!(breaker.state(), State::Open { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn stays_closed_below_the_error_percentage() {
        let mut breaker = breaker();
        for _ in 0..11 {
            let epoch = breaker.epoch();
            breaker.on_success(Instant::now(), epoch);
        }
        fail(&mut breaker, 10);
        assert_eq!(breaker.state(), State::Closed, "10 of 21 is under 50 %");
        fail(&mut breaker, 1);
        assert!(
            matches!(breaker.state(), State::Open { .. }),
            "11 of 22 is 50 %"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn old_failures_roll_out_of_the_window() {
        let mut breaker = breaker();
        fail(&mut breaker, 15);
        tokio::time::advance(Duration::from_secs(11)).await;
        fail(&mut breaker, 15);
        assert_eq!(
            breaker.state(),
            State::Closed,
            "only 15 failures are inside the last 10 s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn open_circuit_short_circuits_until_the_sleep_window_then_allows_one_trial() {
        let mut breaker = breaker();
        fail(&mut breaker, 20);
        assert_eq!(breaker.decide(Instant::now()), Decision::ShortCircuit);
        tokio::time::advance(Duration::from_millis(4_999)).await;
        assert_eq!(breaker.decide(Instant::now()), Decision::ShortCircuit);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(breaker.decide(Instant::now()), Decision::Trial);
        assert_eq!(
            breaker.decide(Instant::now()),
            Decision::ShortCircuit,
            "one trial at a time"
        );
        assert_eq!(breaker.totals(Instant::now()).short_circuited, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn successful_trial_closes_and_resets_the_window() {
        let mut breaker = breaker();
        fail(&mut breaker, 20);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(breaker.decide(Instant::now()), Decision::Trial);
        let trial = breaker.epoch();
        breaker.on_success(Instant::now(), trial);
        assert_eq!(breaker.state(), State::Closed);
        fail(&mut breaker, 1);
        assert_eq!(
            breaker.state(),
            State::Closed,
            "earlier failures were forgotten"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failed_trial_reopens_for_a_new_sleep_window() {
        let mut breaker = breaker();
        fail(&mut breaker, 20);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(breaker.decide(Instant::now()), Decision::Trial);
        let trial = breaker.epoch();
        breaker.on_failure(Instant::now(), trial);
        assert!(matches!(breaker.state(), State::Open { .. }));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(breaker.decide(Instant::now()), Decision::ShortCircuit);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(breaker.decide(Instant::now()), Decision::Trial);
    }

    #[tokio::test(start_paused = true)]
    async fn a_bad_request_as_trial_gives_the_trial_back() {
        let mut breaker = breaker();
        fail(&mut breaker, 20);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(breaker.decide(Instant::now()), Decision::Trial);
        let trial = breaker.epoch();
        breaker.on_ignored(trial);
        assert_eq!(breaker.state(), State::HalfOpen);
        assert_eq!(breaker.decide(Instant::now()), Decision::Trial);
    }

    #[tokio::test(start_paused = true)]
    async fn a_straggler_from_before_the_circuit_opened_neither_closes_it_nor_takes_the_trial() {
        let mut breaker = breaker();
        assert_eq!(breaker.decide(Instant::now()), Decision::Allow);
        let straggler = breaker.epoch();
        fail(&mut breaker, 20);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(breaker.decide(Instant::now()), Decision::Trial);
        breaker.on_success(Instant::now(), straggler);
        assert_eq!(breaker.state(), State::HalfOpen, "only the trial decides");
        breaker.on_ignored(straggler);
        assert_eq!(
            breaker.decide(Instant::now()),
            Decision::ShortCircuit,
            "the trial is still in flight"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stragglers_failing_after_the_trial_closed_the_circuit_do_not_reopen_it() {
        let mut breaker = breaker();
        let stragglers: Vec<Epoch> = (0..40)
            .map(|_| {
                breaker.decide(Instant::now());
                breaker.epoch()
            })
            .collect();
        fail(&mut breaker, 20);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(breaker.decide(Instant::now()), Decision::Trial);
        let trial = breaker.epoch();
        breaker.on_success(Instant::now(), trial);
        for epoch in stragglers {
            breaker.on_failure(Instant::now(), epoch);
        }
        assert_eq!(breaker.state(), State::Closed);
        assert_eq!(breaker.totals(Instant::now()).failure, 0);
    }
}
