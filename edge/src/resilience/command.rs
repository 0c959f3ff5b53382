//! A Hystrix-style command: a call guarded by its own circuit breaker, admitted under its
//! concurrency limit (fixed, as Hystrix's semaphore, or adaptive: see [`super::limiter`]) with
//! a short queue in front ([`super::admission`]), bounded in time, with every outcome counted
//! in its [`CommandStats`] for `/hystrix.stream` and the dashboard. The caller answers with its
//! fallback when the command yields no result, and reports that here
//! ([`Command::record_fallback`]) so the counts say so.
//!
//! Order of checks, as in Hystrix: circuit, then admission, then the timed call. The timeout
//! covers the wait in the queue too, so a queued call never outlives its command.
//!
//! **A rejection is not a failure.** Unlike Hystrix, a call turned away by admission (limit
//! reached and queue full, or no place in time) gives the breaker no verdict: it is counted
//! (`SemaphoreRejected`) and the caller's fallback answers at once, but a saturated command is
//! busy, not broken, and a breaker that opened on its own rejections would turn a burst into
//! seconds of fallbacks for everyone. Failures and timeouts count against the circuit; bad
//! requests count for nothing.
//!
//! A command knows nothing of what it calls: it runs any future whose error says whose fault
//! it was ([`Classify`]), and hands that error back inside a [`CommandError`]. What the
//! outcome means to a user is the caller's to say.
//!
//! The settings are a dynamic property (Archaius with Hystrix): each execution reads the
//! current timeout, concurrency settings and breaker thresholds, so a configuration change
//! applies to the next call. The breaker's rolling window is fixed at start-up.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use platform::config::Dynamic;

use super::admission::{Admission, Occupancy};
use super::breaker::{BreakerSettings, CircuitBreaker, Decision, Epoch, State};
use super::limiter::{ConcurrencySettings, Sample};
use super::stats::{CommandStats, Cumulative, Event, EventCounts, Latencies};

/// Hystrix's percentile window: 60 s in 6 buckets.
const PERCENTILE_WINDOW: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandSettings {
    /// Bounds the whole command, queueing and retries included (Hystrix's execution timeout).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Executions in flight at once, and the queue in front of them.
    #[serde(default)]
    pub concurrency: ConcurrencySettings,
    pub breaker: BreakerSettings,
}

impl CommandSettings {
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            concurrency: ConcurrencySettings::default(),
            breaker: BreakerSettings::default(),
        }
    }
}

/// Whose fault a failed call was, which decides how a command counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The upstream failed or could not be reached: counts against the circuit, and the
    /// caller's fallback answers.
    Upstream,
    /// The request itself was wrong (Hystrix's `HystrixBadRequestException`): no verdict on the
    /// upstream's health and no fallback; the error goes back to the caller, counted as thrown.
    BadRequest,
    /// Like a bad request, but an answer the caller acts on rather than an error it shows (an
    /// HTTP 300's list of choices): not counted as thrown.
    Alternatives,
}

/// What a command needs to know about a call's error.
pub trait Classify {
    fn fault(&self) -> Fault;
}

/// Why a command produced no result.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E> {
    /// The circuit is open: the call was not made.
    #[error("the circuit is open")]
    ShortCircuited,
    /// Admission turned it away (limit reached and queue full, or no place in time): the call
    /// was not made.
    #[error("too many calls in flight")]
    Rejected,
    #[error("no answer in time")]
    Timeout,
    /// The upstream's fault ([`Fault::Upstream`]).
    #[error("the call failed: {0}")]
    Failed(#[source] E),
    /// The caller's ([`Fault::BadRequest`] or [`Fault::Alternatives`]).
    #[error("{0}")]
    BadRequest(E),
}

/// A command's state at one moment, for `/hystrix.stream` and the dashboard.
#[derive(Clone, Debug)]
pub struct CommandSnapshot {
    pub name: &'static str,
    pub circuit: State,
    pub counts: EventCounts,
    pub latencies: Latencies,
    /// The concurrency limit now, executions in flight and waiting.
    pub occupancy: Occupancy,
    pub completed: u64,
    pub settings: CommandSettings,
    /// Whether the caller may answer from a cache (Hystrix's `requestCacheEnabled`).
    pub request_cache: bool,
}

#[derive(Debug)]
pub struct Command {
    name: &'static str,
    settings: Dynamic<CommandSettings>,
    breaker: Mutex<CircuitBreaker>,
    /// Executions in flight and waiting; the limit and queue settings are read at each
    /// admission, like the other settings.
    admission: Arc<Admission>,
    stats: Mutex<CommandStats>,
    request_cache: bool,
}

impl Command {
    pub fn new(name: &'static str, settings: &CommandSettings) -> Self {
        Self::dynamic(name, Dynamic::fixed(settings.clone()))
    }

    /// A command whose settings follow the live configuration.
    pub fn dynamic(name: &'static str, settings: Dynamic<CommandSettings>) -> Self {
        let now = Instant::now();
        let initial = settings.get();
        Self {
            name,
            settings,
            breaker: Mutex::new(CircuitBreaker::new(initial.breaker.clone(), now)),
            admission: Admission::new(&initial.concurrency),
            stats: Mutex::new(CommandStats::new(
                initial.breaker.rolling_window,
                PERCENTILE_WINDOW,
                now,
            )),
            request_cache: false,
        }
    }

    /// Declares that the caller answers from a cache at times (reported, not enforced).
    pub fn with_request_cache(mut self, enabled: bool) -> Self {
        self.request_cache = enabled;
        self
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn is_circuit_open(&self) -> bool {
        self.with_breaker(|breaker| breaker.is_open())
    }

    /// The caller answered from its fallback (`served`) or had nothing to answer with.
    pub fn record_fallback(&self, served: bool) {
        if served {
            self.record(Event::FallbackSuccess);
        } else {
            self.record(Event::FallbackFailure);
            self.record(Event::ExceptionThrown);
        }
    }

    /// The caller answered from its cache without executing.
    pub fn record_cache_hit(&self) {
        self.record(Event::ResponseFromCache);
    }

    pub fn snapshot(&self) -> CommandSnapshot {
        let now = Instant::now();
        let circuit = self.with_breaker(|breaker| breaker.state());
        let (counts, latencies, completed) =
            self.with_stats(|stats| (stats.counts(now), stats.latencies(now), stats.completed()));
        CommandSnapshot {
            name: self.name,
            circuit,
            counts,
            latencies,
            occupancy: self.admission.occupancy(),
            completed,
            settings: self.settings.get(),
            request_cache: self.request_cache,
        }
    }

    /// Every event and latency since start, for Prometheus.
    pub fn cumulative(&self) -> Cumulative {
        self.with_stats(|stats| stats.cumulative())
    }

    /// Runs `call` unless the circuit is open or admission turns it away, within the timeout
    /// (the wait for admission included), and records the outcome.
    pub async fn execute<T, E>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, CommandError<E>>
    where
        E: Classify + std::fmt::Display,
    {
        let settings = self.settings.get();
        let (decision, epoch) = self.with_breaker(|breaker| {
            breaker.reconfigure(&settings.breaker);
            (breaker.decide(Instant::now()), breaker.epoch())
        });
        if decision == Decision::ShortCircuit {
            self.record(Event::ShortCircuited);
            return Err(CommandError::ShortCircuited);
        }
        // If the caller goes away mid-call the outcome is unknown: count it as neither, so a
        // half-open trial slot is never lost.
        let mut pending = Pending {
            command: self,
            epoch,
            settled: false,
        };
        let deadline = Instant::now() + settings.timeout;
        let admitted =
            tokio::time::timeout_at(deadline, self.admission.enter(&settings.concurrency)).await;
        let Ok(Ok(permit)) = admitted else {
            // Busy, not broken: no verdict for the breaker (see the module docs).
            pending.settle(Event::SemaphoreRejected, |breaker, _, epoch| {
                breaker.on_ignored(epoch)
            });
            return Err(CommandError::Rejected);
        };
        self.with_stats(|stats| stats.record_concurrency(Instant::now(), permit.concurrent()));
        let started = Instant::now();
        let outcome = tokio::time::timeout_at(deadline, call).await;
        let latency = started.elapsed();
        self.with_stats(|stats| stats.record_latency(Instant::now(), latency));
        let error = match outcome {
            Ok(Ok(value)) => {
                permit.finish(Sample::Answered(latency));
                pending.settle(Event::Success, CircuitBreaker::on_success);
                return Ok(value);
            }
            Ok(Err(error)) => error,
            Err(_elapsed) => {
                permit.finish(Sample::Dropped);
                tracing::warn!(command = self.name, timeout = ?settings.timeout, "command timed out");
                pending.settle(Event::Timeout, CircuitBreaker::on_failure);
                return Err(CommandError::Timeout);
            }
        };
        match error.fault() {
            Fault::Upstream => {
                permit.finish(Sample::Dropped);
                tracing::warn!(command = self.name, %error, "command failed");
                pending.settle(Event::Failure, CircuitBreaker::on_failure);
                Err(CommandError::Failed(error))
            }
            // The upstream answered, refusing the request: its latency is a fair sample.
            Fault::BadRequest => {
                permit.finish(Sample::Answered(latency));
                pending.settle(Event::BadRequest, |breaker, _, epoch| {
                    breaker.on_ignored(epoch)
                });
                self.record(Event::ExceptionThrown);
                Err(CommandError::BadRequest(error))
            }
            Fault::Alternatives => {
                permit.finish(Sample::Answered(latency));
                pending.settle(Event::BadRequest, |breaker, _, epoch| {
                    breaker.on_ignored(epoch)
                });
                Err(CommandError::BadRequest(error))
            }
        }
    }

    fn record(&self, event: Event) {
        self.with_stats(|stats| stats.record(Instant::now(), event));
    }

    fn with_breaker<R>(&self, f: impl FnOnce(&mut CircuitBreaker) -> R) -> R {
        // Breaker updates are single assignments; a poisoned lock holds a consistent value.
        f(&mut self.breaker.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn with_stats<R>(&self, f: impl FnOnce(&mut CommandStats) -> R) -> R {
        f(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// An execution between the breaker's decision and its verdict, which counts only in the
/// breaker's `epoch` it was let through in.
struct Pending<'a> {
    command: &'a Command,
    epoch: Epoch,
    settled: bool,
}

impl Pending<'_> {
    fn settle(&mut self, event: Event, record: impl FnOnce(&mut CircuitBreaker, Instant, Epoch)) {
        self.settled = true;
        self.command.record(event);
        self.command
            .with_breaker(|breaker| record(breaker, Instant::now(), self.epoch));
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.command
                .with_breaker(|breaker| breaker.on_ignored(self.epoch));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resilience::limiter::LimiterKind;

    /// A call's error as the tests need it: whose fault, and a message.
    #[derive(Debug, thiserror::Error)]
    #[error("{message}")]
    struct TestError {
        fault: Fault,
        message: &'static str,
    }

    impl Classify for TestError {
        fn fault(&self) -> Fault {
            self.fault
        }
    }

    fn error(fault: Fault, message: &'static str) -> TestError {
        TestError { fault, message }
    }

    fn command() -> Command {
        Command::new(
            "test",
            &CommandSettings::with_timeout(Duration::from_millis(100)),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn slow_calls_time_out_and_count_as_failures() {
        let command = command();
        let slow = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, TestError>(())
        };
        assert!(matches!(
            command.execute(slow).await,
            Err(CommandError::Timeout)
        ));
        assert_eq!(command.snapshot().counts.errors(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_open_the_circuit_and_then_calls_are_not_made() {
        let command = command();
        for _ in 0..20 {
            let failed = error(Fault::Upstream, "boom");
            let _ = command.execute(async { Err::<(), _>(failed) }).await;
        }
        assert!(command.is_circuit_open());
        let mut called = false;
        let result = command
            .execute(async {
                called = true;
                Ok::<_, TestError>(())
            })
            .await;
        assert!(matches!(result, Err(CommandError::ShortCircuited)));
        assert!(!called, "an open circuit must not reach the upstream");
    }

    #[tokio::test(start_paused = true)]
    async fn bad_requests_never_open_the_circuit() {
        let command = command();
        for _ in 0..50 {
            let rejected = error(Fault::BadRequest, "bad url");
            let result = command.execute(async { Err::<(), _>(rejected) }).await;
            assert!(
                matches!(result, Err(CommandError::BadRequest(error)) if error.message == "bad url")
            );
        }
        assert!(!command.is_circuit_open());
        let counts = command.snapshot().counts;
        assert_eq!(counts.get(Event::BadRequest), 50);
        assert_eq!(counts.get(Event::ExceptionThrown), 50);
        assert_eq!(counts.requests(), 0, "no verdict on the upstream's health");
    }

    #[tokio::test(start_paused = true)]
    async fn alternatives_count_as_bad_requests_but_are_not_thrown() {
        let command = command();
        let choose = error(Fault::Alternatives, "pick one");
        let result = command.execute(async { Err::<(), _>(choose) }).await;
        assert!(matches!(result, Err(CommandError::BadRequest(_))));
        let counts = command.snapshot().counts;
        assert_eq!(counts.get(Event::BadRequest), 1);
        assert_eq!(counts.get(Event::ExceptionThrown), 0);
    }

    /// A command limited to `limit` in flight, without a queue.
    fn limited(limit: u32) -> Command {
        let mut settings = CommandSettings::with_timeout(Duration::from_secs(10));
        settings.concurrency = ConcurrencySettings {
            limiter: LimiterKind::Fixed,
            limit,
            queue: 0,
            ..ConcurrencySettings::default()
        };
        settings.breaker.request_volume_threshold = 5;
        Command::new("test", &settings)
    }

    /// A call that holds its place until `release` says so.
    fn held(
        released: &tokio::sync::watch::Receiver<bool>,
    ) -> impl Future<Output = Result<(), TestError>> + use<> {
        let mut released = released.clone();
        async move {
            let _ = released.wait_for(|done| *done).await;
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_limit_rejects_without_calling() {
        let command = limited(2);
        let (release, released) = tokio::sync::watch::channel(false);
        let first = command.execute(held(&released));
        let second = command.execute(held(&released));
        let third = async {
            tokio::task::yield_now().await;
            let result = command.execute(async { Ok::<_, TestError>(()) }).await;
            assert!(matches!(result, Err(CommandError::Rejected)), "{result:?}");
            assert_eq!(command.snapshot().occupancy.in_flight, 2);
            release.send(true).ok();
        };
        let (first, second, ()) = tokio::join!(first, second, third);
        assert!(first.is_ok() && second.is_ok());
        let snapshot = command.snapshot();
        assert_eq!(snapshot.counts.get(Event::SemaphoreRejected), 1);
        assert_eq!(snapshot.counts.get(Event::Success), 2);
        assert_eq!(snapshot.counts.max_concurrent, 2);
        assert_eq!(snapshot.occupancy.in_flight, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn rejections_never_open_the_circuit_nor_count_as_errors() {
        let command = limited(1);
        let (release, released) = tokio::sync::watch::channel(false);
        let holder = command.execute(held(&released));
        let turned_away = async {
            tokio::task::yield_now().await;
            for _ in 0..50 {
                let result = command.execute(async { Ok::<_, TestError>(()) }).await;
                assert!(matches!(result, Err(CommandError::Rejected)), "{result:?}");
            }
            release.send(true).ok();
        };
        let (held, ()) = tokio::join!(holder, turned_away);
        assert!(held.is_ok());
        assert!(!command.is_circuit_open(), "busy is not broken");
        let counts = command.snapshot().counts;
        assert_eq!(counts.get(Event::SemaphoreRejected), 50, "still counted");
        assert_eq!(
            counts.error_percentage(),
            0,
            "the breaker's view: not errors"
        );
        assert_eq!(counts.requests(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_queued_call_waits_for_a_place_within_the_commands_timeout() {
        let mut settings = CommandSettings::with_timeout(Duration::from_secs(1));
        settings.concurrency = ConcurrencySettings {
            limiter: LimiterKind::Fixed,
            limit: 1,
            queue: 1,
            queue_timeout: Duration::from_secs(60),
            ..ConcurrencySettings::default()
        };
        let command = Command::new("test", &settings);
        let _held = command
            .admission
            .enter(&settings.concurrency)
            .await
            .expect("the one place");
        let waited = Instant::now();
        let result = command.execute(async { Ok::<_, TestError>(()) }).await;
        assert!(matches!(result, Err(CommandError::Rejected)), "{result:?}");
        assert_eq!(
            waited.elapsed(),
            Duration::from_secs(1),
            "the command's timeout"
        );
        assert_eq!(command.snapshot().occupancy.queued, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn outcomes_are_counted_for_the_stream() {
        let command = command();
        let _ = command.execute(async { Ok::<_, TestError>(()) }).await;
        let failed = error(Fault::Upstream, "boom");
        let _ = command.execute(async { Err::<(), _>(failed) }).await;
        command.record_fallback(true);
        command.record_cache_hit();
        let counts = command.snapshot().counts;
        assert_eq!(counts.get(Event::Success), 1);
        assert_eq!(counts.get(Event::Failure), 1);
        assert_eq!(counts.get(Event::FallbackSuccess), 1);
        assert_eq!(counts.get(Event::ResponseFromCache), 1);
        assert_eq!(counts.error_percentage(), 50);
        let cumulative = command.cumulative();
        assert_eq!(cumulative.get(Event::Success), 1);
        assert_eq!(cumulative.get(Event::FallbackSuccess), 1);
    }
}
