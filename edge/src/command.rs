//! A Hystrix-style command: every call to the middle tier runs inside one, so it is guarded by
//! its own circuit breaker, limited by its bulkhead (at most `max_concurrent_requests` in
//! flight; the next is rejected at once rather than queued, Hystrix's semaphore isolation),
//! bounded in time, and answered by a fallback when it can't succeed. Every outcome is counted
//! in [`crate::metrics`] for `/hystrix.stream` and the dashboard.
//!
//! Order of checks, as in Hystrix: circuit, then bulkhead, then the timed call. Rejections and
//! timeouts count against the circuit like failures; bad requests count for nothing.
//!
//! The settings are a dynamic property (Archaius with Hystrix): each execution reads the
//! current timeout, bulkhead size and breaker thresholds, so a configuration change applies to
//! the next call. The breaker's rolling window is fixed at start-up.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use platform::config::Dynamic;

use middletier_api::{CallError, Candidate};

use crate::breaker::{BreakerSettings, CircuitBreaker, Decision, State};
use crate::metrics::{CommandMetrics, Event, EventCounts, Latencies};

/// Hystrix's percentile window: 60 s in 6 buckets.
const PERCENTILE_WINDOW: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandSettings {
    /// Bounds the whole command, retries included (Hystrix's execution timeout).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The bulkhead: executions in flight at once; more are rejected and answered by the
    /// fallback (Hystrix's semaphore isolation, default 10).
    pub max_concurrent_requests: u32,
    pub breaker: BreakerSettings,
}

impl CommandSettings {
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            max_concurrent_requests: 10,
            breaker: BreakerSettings::default(),
        }
    }
}

/// Why a command produced no result; the wording is shown to users.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("the feed service is failing, so calls to it are paused for a few seconds")]
    ShortCircuited,
    #[error("the feed service is busy with too many requests")]
    Rejected,
    #[error("the feed service did not answer in time")]
    Timeout,
    #[error("the feed service is unavailable")]
    Failed(#[source] CallError),
    /// The request itself was refused (e.g. an invalid URL): the message is for the user.
    #[error("{0}")]
    BadRequest(String),
    /// The URL is a web page linking several feeds: the user picks one.
    #[error("{0}")]
    Choose(String, Vec<Candidate>),
}

impl CommandError {
    /// The caller's fault: no fallback applies, the message goes back as it is.
    pub fn is_bad_request(&self) -> bool {
        matches!(self, CommandError::BadRequest(_) | CommandError::Choose(..))
    }
}

/// A command's state at one moment, for `/hystrix.stream` and the dashboard.
#[derive(Clone, Debug)]
pub struct CommandSnapshot {
    pub name: &'static str,
    pub circuit: State,
    pub counts: EventCounts,
    pub latencies: Latencies,
    pub concurrent: u32,
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
    /// Executions in flight: the bulkhead. A counter rather than a semaphore, so its limit is
    /// read live like the other settings.
    in_flight: AtomicU32,
    metrics: Mutex<CommandMetrics>,
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
            in_flight: AtomicU32::new(0),
            metrics: Mutex::new(CommandMetrics::new(
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
        let (counts, latencies, completed) = self.with_metrics(|metrics| {
            (
                metrics.counts(now),
                metrics.latencies(now),
                metrics.completed(),
            )
        });
        CommandSnapshot {
            name: self.name,
            circuit,
            counts,
            latencies,
            concurrent: self.concurrent(),
            completed,
            settings: self.settings.get(),
            request_cache: self.request_cache,
        }
    }

    fn concurrent(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Runs `call` unless the circuit is open or the bulkhead full, within the timeout, and
    /// records the outcome.
    pub async fn execute<T>(
        &self,
        call: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, CommandError> {
        let settings = self.settings.get();
        let decision = self.with_breaker(|breaker| {
            breaker.reconfigure(&settings.breaker);
            breaker.decide(Instant::now())
        });
        if decision == Decision::ShortCircuit {
            self.record(Event::ShortCircuited);
            return Err(CommandError::ShortCircuited);
        }
        // If the caller goes away mid-call the outcome is unknown: count it as neither, so a
        // half-open trial slot is never lost.
        let mut pending = Pending {
            command: self,
            settled: false,
        };
        let Some(_permit) = self.enter_bulkhead(settings.max_concurrent_requests) else {
            // A full bulkhead is a symptom of a slow upstream, so it counts against the
            // circuit, as in Hystrix.
            pending.settle(Event::SemaphoreRejected, CircuitBreaker::on_failure);
            return Err(CommandError::Rejected);
        };
        let started = Instant::now();
        let outcome = tokio::time::timeout(settings.timeout, call).await;
        self.with_metrics(|metrics| metrics.record_latency(Instant::now(), started.elapsed()));
        match outcome {
            Ok(Ok(value)) => {
                pending.settle(Event::Success, CircuitBreaker::on_success);
                Ok(value)
            }
            Ok(Err(CallError::Choose {
                message,
                candidates,
            })) => {
                pending.settle(Event::BadRequest, |breaker, _| breaker.on_ignored());
                Err(CommandError::Choose(message, candidates))
            }
            Ok(Err(error)) if error.is_bad_request() => {
                pending.settle(Event::BadRequest, |breaker, _| breaker.on_ignored());
                self.record(Event::ExceptionThrown);
                Err(CommandError::BadRequest(error.to_string()))
            }
            Ok(Err(error)) => {
                tracing::warn!(command = self.name, %error, "command failed");
                pending.settle(Event::Failure, CircuitBreaker::on_failure);
                Err(CommandError::Failed(error))
            }
            Err(_elapsed) => {
                tracing::warn!(command = self.name, timeout = ?settings.timeout, "command timed out");
                pending.settle(Event::Timeout, CircuitBreaker::on_failure);
                Err(CommandError::Timeout)
            }
        }
    }

    fn enter_bulkhead(&self, limit: u32) -> Option<BulkheadPermit<'_>> {
        let entered = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        let concurrent = entered + 1;
        self.with_metrics(|metrics| metrics.record_concurrency(Instant::now(), concurrent));
        Some(BulkheadPermit(&self.in_flight))
    }

    fn record(&self, event: Event) {
        self.with_metrics(|metrics| metrics.record(Instant::now(), event));
    }

    fn with_breaker<R>(&self, f: impl FnOnce(&mut CircuitBreaker) -> R) -> R {
        // Breaker updates are single assignments; a poisoned lock holds a consistent value.
        f(&mut self.breaker.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn with_metrics<R>(&self, f: impl FnOnce(&mut CommandMetrics) -> R) -> R {
        f(&mut self.metrics.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// One place in the bulkhead, given back when the execution ends however it ends.
struct BulkheadPermit<'a>(&'a AtomicU32);

impl Drop for BulkheadPermit<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Command {
    /// Every event and latency since start, for Prometheus (see [`crate::metrics::Exporter`]).
    pub fn cumulative(&self) -> crate::metrics::Cumulative {
        self.with_metrics(|metrics| metrics.cumulative())
    }
}

struct Pending<'a> {
    command: &'a Command,
    settled: bool,
}

impl Pending<'_> {
    fn settle(&mut self, event: Event, record: impl FnOnce(&mut CircuitBreaker, Instant)) {
        self.settled = true;
        self.command.record(event);
        self.command
            .with_breaker(|breaker| record(breaker, Instant::now()));
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.command.with_breaker(CircuitBreaker::on_ignored);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn command() -> Command {
        Command::new(
            "test",
            &CommandSettings::with_timeout(Duration::from_millis(100)),
        )
    }

    fn server_error() -> CallError {
        CallError::Server {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "boom".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slow_calls_time_out_and_count_as_failures() {
        let command = command();
        let slow = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, CallError>(())
        };
        assert!(matches!(
            command.execute(slow).await,
            Err(CommandError::Timeout)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn failures_open_the_circuit_and_then_calls_are_not_made() {
        let command = command();
        for _ in 0..20 {
            let _ = command
                .execute(async { Err::<(), _>(server_error()) })
                .await;
        }
        assert!(command.is_circuit_open());
        let mut called = false;
        let result = command
            .execute(async {
                called = true;
                Ok::<_, CallError>(())
            })
            .await;
        assert!(matches!(result, Err(CommandError::ShortCircuited)));
        assert!(!called, "an open circuit must not reach the middle tier");
    }

    #[tokio::test(start_paused = true)]
    async fn bad_requests_never_open_the_circuit() {
        let command = command();
        for _ in 0..50 {
            let rejected = CallError::Rejected {
                status: StatusCode::BAD_REQUEST,
                message: "bad url".into(),
            };
            let result = command.execute(async { Err::<(), _>(rejected) }).await;
            assert!(
                matches!(result, Err(CommandError::BadRequest(message)) if message == "bad url")
            );
        }
        assert!(!command.is_circuit_open());
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bulkhead_rejects_without_calling() {
        let mut settings = CommandSettings::with_timeout(Duration::from_secs(10));
        settings.max_concurrent_requests = 2;
        let command = Command::new("test", &settings);
        let (release, released) = tokio::sync::watch::channel(false);
        let slow = || {
            let mut released = released.clone();
            async move {
                let _ = released.wait_for(|done| *done).await;
                Ok::<_, CallError>(())
            }
        };
        let first = command.execute(slow());
        let second = command.execute(slow());
        let third = async {
            tokio::task::yield_now().await;
            let result = command.execute(async { Ok::<_, CallError>(()) }).await;
            assert!(matches!(result, Err(CommandError::Rejected)), "{result:?}");
            assert_eq!(command.snapshot().concurrent, 2);
            release.send(true).ok();
        };
        let (first, second, ()) = tokio::join!(first, second, third);
        assert!(first.is_ok() && second.is_ok());
        let snapshot = command.snapshot();
        assert_eq!(snapshot.counts.get(Event::SemaphoreRejected), 1);
        assert_eq!(snapshot.counts.get(Event::Success), 2);
        assert_eq!(snapshot.counts.max_concurrent, 2);
        assert_eq!(snapshot.concurrent, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn outcomes_are_counted_for_the_stream() {
        let command = command();
        let _ = command.execute(async { Ok::<_, CallError>(()) }).await;
        let _ = command
            .execute(async { Err::<(), _>(server_error()) })
            .await;
        command.record_fallback(true);
        command.record_cache_hit();
        let counts = command.snapshot().counts;
        assert_eq!(counts.get(Event::Success), 1);
        assert_eq!(counts.get(Event::Failure), 1);
        assert_eq!(counts.get(Event::FallbackSuccess), 1);
        assert_eq!(counts.get(Event::ResponseFromCache), 1);
        assert_eq!(counts.error_percentage(), 50);
    }
}
