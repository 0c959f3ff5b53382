//! Rolling statistics per command, the numbers `/hystrix.stream` and the dashboard report.
//!
//! Hystrix keeps two kinds of windows, and so do we:
//! - event counts over the *statistical* window (10 s in 10 buckets by default), one counter per
//!   [`Event`], plus the peak number of concurrent executions (the thread-pool view);
//! - execution latencies over the *percentile* window (60 s in 6 buckets), from which the
//!   percentiles the dashboard plots are computed on demand.
//!
//! The breaker keeps its own health counts (see [`crate::breaker`]); these are for reporting
//! only, so a change here can never change when a circuit opens.
//!
//! Time is `tokio::time::Instant`, so tests drive windows with `tokio::time::pause()`.

use std::sync::Arc;
use std::time::Duration;

use platform::metrics::prometheus_client::collector::Collector;
use platform::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use platform::metrics::prometheus_client::metrics::MetricType;
use platform::metrics::prometheus_client::metrics::histogram::Histogram;
use platform::metrics::{Labels, Metrics, collect};
use tokio::time::Instant;

use crate::breaker::State;
use crate::upstream::Upstream;

/// What can happen to one command execution, named as Hystrix names its `rollingCount*` fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Success,
    Failure,
    Timeout,
    ShortCircuited,
    /// The bulkhead was full (Hystrix: semaphore rejected).
    SemaphoreRejected,
    /// The caller's fault (4xx): neither a success nor a failure.
    BadRequest,
    FallbackSuccess,
    /// No fallback could answer (a write, or a read with nothing cached).
    FallbackFailure,
    /// Served from the edge's read cache without executing.
    ResponseFromCache,
    /// The caller got an error instead of a value (bad requests and failed fallbacks).
    ExceptionThrown,
}

impl Event {
    pub const ALL: [Event; 10] = [
        Event::Success,
        Event::Failure,
        Event::Timeout,
        Event::ShortCircuited,
        Event::SemaphoreRejected,
        Event::BadRequest,
        Event::FallbackSuccess,
        Event::FallbackFailure,
        Event::ResponseFromCache,
        Event::ExceptionThrown,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The event's name as a metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Event::Success => "success",
            Event::Failure => "failure",
            Event::Timeout => "timeout",
            Event::ShortCircuited => "short_circuited",
            Event::SemaphoreRejected => "semaphore_rejected",
            Event::BadRequest => "bad_request",
            Event::FallbackSuccess => "fallback_success",
            Event::FallbackFailure => "fallback_failure",
            Event::ResponseFromCache => "response_from_cache",
            Event::ExceptionThrown => "exception_thrown",
        }
    }
}

/// Totals over the statistical window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    counts: [u64; Event::ALL.len()],
    /// Highest number of executions in flight at once during the window.
    pub max_concurrent: u32,
}

impl EventCounts {
    pub fn get(&self, event: Event) -> u64 {
        self.counts[event.index()]
    }

    /// Hystrix's health counts: executions that reached a verdict (bad requests excluded).
    pub fn requests(&self) -> u64 {
        self.get(Event::Success) + self.errors()
    }

    /// Failures, timeouts and rejections (short-circuits are not executions, so not counted).
    pub fn errors(&self) -> u64 {
        self.get(Event::Failure) + self.get(Event::Timeout) + self.get(Event::SemaphoreRejected)
    }

    /// Whole percent, as the dashboard shows it.
    pub fn error_percentage(&self) -> u64 {
        (self.errors() * 100)
            .checked_div(self.requests())
            .unwrap_or(0)
    }
}

/// Latency percentiles over the percentile window, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Latencies {
    pub mean: u64,
    /// For `[0, 25, 50, 75, 90, 95, 99, 99.5, 100]`.
    pub percentiles: [u64; 9],
}

/// The percentiles the Hystrix dashboard asks for, in its key spelling.
pub const PERCENTILE_KEYS: [(&str, f64); 9] = [
    ("0", 0.0),
    ("25", 25.0),
    ("50", 50.0),
    ("75", 75.0),
    ("90", 90.0),
    ("95", 95.0),
    ("99", 99.0),
    ("99.5", 99.5),
    ("100", 100.0),
];

/// Samples kept per percentile bucket; older ones are overwritten (Hystrix keeps 100).
const SAMPLES_PER_BUCKET: usize = 1_000;

#[derive(Debug)]
pub struct CommandMetrics {
    events: Ring<EventCounts>,
    latencies: Ring<Samples>,
    /// Executions that finished since start (Hystrix's `currentCompletedTaskCount`).
    completed: u64,
    /// Every event and latency since start, for Prometheus: its counters never go down and it
    /// computes rates and quantiles itself, so it gets totals rather than the rolling windows.
    cumulative: Cumulative,
}

/// A command's events and latencies since start (see [`Exporter`]).
#[derive(Clone, Debug)]
pub struct Cumulative {
    pub events: [u64; Event::ALL.len()],
    /// Shared with the registry's copy: a clone observes into the same buckets.
    pub latency: Histogram,
}

impl Default for Cumulative {
    fn default() -> Self {
        Self {
            events: [0; Event::ALL.len()],
            latency: platform::metrics::latency_histogram(),
        }
    }
}

impl CommandMetrics {
    pub fn new(statistical_window: Duration, percentile_window: Duration, now: Instant) -> Self {
        Self {
            events: Ring::new(statistical_window, 10, now),
            latencies: Ring::new(percentile_window, 6, now),
            completed: 0,
            cumulative: Cumulative::default(),
        }
    }

    pub fn record(&mut self, now: Instant, event: Event) {
        self.events.current(now).counts[event.index()] += 1;
        self.cumulative.events[event.index()] += 1;
    }

    pub fn cumulative(&self) -> Cumulative {
        self.cumulative.clone()
    }

    /// An execution finished after `latency` (whatever its outcome).
    pub fn record_latency(&mut self, now: Instant, latency: Duration) {
        self.completed += 1;
        self.cumulative.latency.observe(latency.as_secs_f64());
        self.latencies.current(now).push(latency);
    }

    /// `concurrent` executions are in flight now.
    pub fn record_concurrency(&mut self, now: Instant, concurrent: u32) {
        let bucket = self.events.current(now);
        bucket.max_concurrent = bucket.max_concurrent.max(concurrent);
    }

    pub fn completed(&self) -> u64 {
        self.completed
    }

    pub fn counts(&mut self, now: Instant) -> EventCounts {
        self.events
            .fold(now, EventCounts::default(), |mut sum, bucket| {
                for (total, count) in sum.counts.iter_mut().zip(bucket.counts) {
                    *total += count;
                }
                sum.max_concurrent = sum.max_concurrent.max(bucket.max_concurrent);
                sum
            })
    }

    pub fn latencies(&mut self, now: Instant) -> Latencies {
        let mut all: Vec<u32> = self.latencies.fold(now, Vec::new(), |mut all, bucket| {
            all.extend_from_slice(&bucket.micros);
            all
        });
        if all.is_empty() {
            return Latencies::default();
        }
        all.sort_unstable();
        let mean_micros = all.iter().map(|&m| u64::from(m)).sum::<u64>() / all.len() as u64;
        let mut percentiles = [0; 9];
        for (slot, (_, p)) in percentiles.iter_mut().zip(PERCENTILE_KEYS) {
            *slot = millis(percentile(&all, p));
        }
        Latencies {
            mean: mean_micros / 1_000,
            percentiles,
        }
    }
}

fn millis(micros: u32) -> u64 {
    u64::from(micros) / 1_000
}

/// Nearest-rank percentile of sorted, non-empty samples.
fn percentile(sorted: &[u32], p: f64) -> u32 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Clone, Debug, Default)]
struct Samples {
    /// Microseconds, capped at `u32::MAX` (71 minutes; commands time out long before).
    micros: Vec<u32>,
    /// Next slot to overwrite once full.
    next: usize,
}

impl Samples {
    fn push(&mut self, latency: Duration) {
        let micros = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        if self.micros.len() < SAMPLES_PER_BUCKET {
            self.micros.push(micros);
        } else {
            self.micros[self.next] = micros;
            self.next = (self.next + 1) % SAMPLES_PER_BUCKET;
        }
    }
}

/// A ring of fixed-length buckets; the current bucket is the one `now` falls into, and buckets
/// older than the window are cleared as time moves on. The breaker's window is one too.
#[derive(Debug)]
pub(crate) struct Ring<T> {
    bucket_len: Duration,
    buckets: Vec<T>,
    current_start: Instant,
    current: usize,
}

impl<T: Default + Clone> Ring<T> {
    pub(crate) fn new(window: Duration, buckets: u32, now: Instant) -> Self {
        Self {
            bucket_len: (window / buckets).max(Duration::from_millis(1)),
            buckets: vec![T::default(); buckets as usize],
            current_start: now,
            current: 0,
        }
    }

    fn advance(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.current_start);
        let steps = (elapsed.as_nanos() / self.bucket_len.as_nanos()) as usize;
        if steps == 0 {
            return;
        }
        for _ in 0..steps.min(self.buckets.len()) {
            self.current = (self.current + 1) % self.buckets.len();
            self.buckets[self.current] = T::default();
        }
        self.current_start += self.bucket_len * u32::try_from(steps).unwrap_or(u32::MAX);
    }

    pub(crate) fn current(&mut self, now: Instant) -> &mut T {
        self.advance(now);
        &mut self.buckets[self.current]
    }

    pub(crate) fn fold<A>(&mut self, now: Instant, init: A, f: impl FnMut(A, &T) -> A) -> A {
        self.advance(now);
        self.buckets.iter().fold(init, f)
    }

    /// Empties every bucket; the window starts again at `now`.
    pub(crate) fn reset(&mut self, now: Instant) {
        self.buckets.fill(T::default());
        self.current_start = now;
    }
}

/// The edge's Prometheus metrics, read from its commands and balancer at each scrape (the
/// numbers `/hystrix.stream` reports, as totals rather than rolling windows):
///
/// - `rss_edge_command_events_total{command, event}`: Hystrix's events (`success`, `failure`,
///   `timeout`, `short_circuited`, `semaphore_rejected`, `fallback_success`, ...);
/// - `rss_edge_command_latency_seconds{command}`: execution latency histogram;
/// - `rss_edge_circuit_state{command, state}`: 1 for the breaker's state (`closed`, `open`,
///   `half_open`), 0 for the others;
/// - `rss_edge_bulkhead_in_flight{command}` / `rss_edge_bulkhead_capacity{command}`;
/// - `rss_edge_middletier_instances{state}`: discovered middle tiers, `available` or `ejected`;
/// - `rss_edge_retries_refused_total`: retries the retry budget refused.
#[derive(Debug)]
pub struct Exporter(Arc<Upstream>);

impl Exporter {
    pub fn register(upstream: Arc<Upstream>, metrics: &Metrics) {
        metrics.register_collector(Exporter(upstream));
    }
}

const CIRCUIT_STATES: [&str; 3] = ["closed", "open", "half_open"];

impl Collector for Exporter {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let commands = self.0.commands();
        let snapshots: Vec<_> = commands.iter().map(|command| command.snapshot()).collect();
        let cumulative: Vec<_> = commands
            .iter()
            .map(|command| command.cumulative())
            .collect();
        let command = |name: &str| -> Labels { vec![("command", name.to_owned())] };

        collect::counters(
            &mut encoder,
            "edge_command_events",
            "Command events since start, by command and Hystrix event",
            snapshots
                .iter()
                .zip(&cumulative)
                .flat_map(|(snapshot, totals)| {
                    Event::ALL.into_iter().map(move |event| {
                        let labels: Labels = vec![
                            ("command", snapshot.name.to_owned()),
                            ("event", event.label().to_owned()),
                        ];
                        (labels, totals.events[event.index()])
                    })
                }),
        )?;
        let mut latency = encoder.encode_descriptor(
            "edge_command_latency_seconds",
            "Command execution latency, retries included",
            None,
            MetricType::Histogram,
        )?;
        for (snapshot, totals) in snapshots.iter().zip(&cumulative) {
            let labels = command(snapshot.name);
            totals.latency.encode(latency.encode_family(&labels)?)?;
        }
        collect::gauges(
            &mut encoder,
            "edge_circuit_state",
            "1 for the state each command's circuit breaker is in",
            snapshots.iter().flat_map(|snapshot| {
                let current = match snapshot.circuit {
                    State::Closed => "closed",
                    State::Open { .. } => "open",
                    State::HalfOpen => "half_open",
                };
                CIRCUIT_STATES.into_iter().map(move |state| {
                    let labels: Labels = vec![
                        ("command", snapshot.name.to_owned()),
                        ("state", state.to_owned()),
                    ];
                    (labels, i64::from(state == current))
                })
            }),
        )?;
        collect::gauges(
            &mut encoder,
            "edge_bulkhead_in_flight",
            "Executions in flight per command",
            snapshots
                .iter()
                .map(|snapshot| (command(snapshot.name), i64::from(snapshot.concurrent))),
        )?;
        collect::gauges(
            &mut encoder,
            "edge_bulkhead_capacity",
            "Executions allowed in flight per command; more are rejected",
            snapshots.iter().map(|snapshot| {
                let capacity = i64::from(snapshot.settings.max_concurrent_requests);
                (command(snapshot.name), capacity)
            }),
        )?;
        let instances = self.0.instances();
        collect::gauges(
            &mut encoder,
            "edge_middletier_instances",
            "Discovered middle tiers, available or ejected as outliers",
            ["available", "ejected"].into_iter().map(|state| {
                let count = instances.iter().filter(|view| view.state == state).count();
                let labels: Labels = vec![("state", state.to_owned())];
                (labels, i64::try_from(count).unwrap_or(i64::MAX))
            }),
        )?;
        collect::counters(
            &mut encoder,
            "edge_retries_refused",
            "Retries refused by the retry budget since start",
            [(Labels::new(), self.0.retries_refused())],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> CommandMetrics {
        CommandMetrics::new(
            Duration::from_secs(10),
            Duration::from_secs(60),
            Instant::now(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn counts_roll_out_of_the_statistical_window() {
        let mut metrics = metrics();
        metrics.record(Instant::now(), Event::Failure);
        metrics.record(Instant::now(), Event::Success);
        tokio::time::advance(Duration::from_secs(5)).await;
        metrics.record(Instant::now(), Event::Timeout);
        metrics.record(Instant::now(), Event::ShortCircuited);
        let counts = metrics.counts(Instant::now());
        assert_eq!(counts.requests(), 3, "short-circuits are not executions");
        assert_eq!(counts.error_percentage(), 66);
        tokio::time::advance(Duration::from_secs(6)).await;
        let counts = metrics.counts(Instant::now());
        assert_eq!(counts.get(Event::Failure), 0, "11 s old");
        assert_eq!(counts.get(Event::Timeout), 1, "6 s old");
    }

    #[tokio::test(start_paused = true)]
    async fn percentiles_cover_the_last_minute() {
        let mut metrics = metrics();
        for ms in 1..=100 {
            metrics.record_latency(Instant::now(), Duration::from_millis(ms));
        }
        let latencies = metrics.latencies(Instant::now());
        assert_eq!(latencies.percentiles, [1, 25, 50, 75, 90, 95, 99, 100, 100]);
        assert_eq!(latencies.mean, 50);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(metrics.latencies(Instant::now()), Latencies::default());
        assert_eq!(metrics.completed(), 100, "the total does not roll");
    }
}
