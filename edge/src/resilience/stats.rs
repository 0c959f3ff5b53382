//! Rolling statistics per command, the numbers `/hystrix.stream`, the dashboard and the
//! Prometheus export report.
//!
//! Hystrix keeps two kinds of windows, and so do we (both [`Window`]s):
//! - event counts over the *statistical* window (10 s in 10 buckets by default), one counter per
//!   [`Event`], plus the peak number of concurrent executions (the thread-pool view);
//! - execution latencies over the *percentile* window (60 s in 6 buckets), from which the
//!   percentiles the dashboard plots are computed on demand.
//!
//! Beside them, [`Cumulative`] keeps every event and latency since start, for Prometheus.
//!
//! The breaker keeps its own health counts (see [`super::breaker`]); these are for reporting
//! only, so a change here can never change when a circuit opens.
//!
//! Time is `tokio::time::Instant`, passed in by the caller, so tests drive windows with
//! `tokio::time::pause()`.

use std::time::Duration;

use platform::metrics::prometheus_client::metrics::histogram::Histogram;
use tokio::time::Instant;

use super::window::Window;

/// What can happen to one command execution, named as Hystrix names its `rollingCount*` fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Success,
    Failure,
    Timeout,
    ShortCircuited,
    /// Admission turned the call away: limit reached and queue full, or no place in time
    /// (Hystrix: semaphore rejected). Not an error: see [`EventCounts::errors`].
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

    /// Failures and timeouts: the upstream's own. Rejections are the command's load, not the
    /// upstream's health, so they are left out, as the breaker leaves them out (Hystrix counts
    /// them); short-circuits are not executions.
    pub fn errors(&self) -> u64 {
        self.get(Event::Failure) + self.get(Event::Timeout)
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
pub struct CommandStats {
    events: Window<EventCounts>,
    latencies: Window<Samples>,
    /// Executions that finished since start (Hystrix's `currentCompletedTaskCount`).
    completed: u64,
    cumulative: Cumulative,
}

/// A command's events and latencies since start, for Prometheus: its counters never go down
/// and it computes rates and quantiles itself, so it gets totals rather than rolling windows.
#[derive(Clone, Debug)]
pub struct Cumulative {
    events: [u64; Event::ALL.len()],
    /// Shared with the registry's copy: a clone observes into the same buckets.
    pub latency: Histogram,
}

impl Cumulative {
    pub fn get(&self, event: Event) -> u64 {
        self.events[event.index()]
    }
}

impl Default for Cumulative {
    fn default() -> Self {
        Self {
            events: [0; Event::ALL.len()],
            latency: platform::metrics::latency_histogram(),
        }
    }
}

impl CommandStats {
    pub fn new(statistical_window: Duration, percentile_window: Duration, now: Instant) -> Self {
        Self {
            events: Window::new(statistical_window, 10, now),
            latencies: Window::new(percentile_window, 6, now),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> CommandStats {
        CommandStats::new(
            Duration::from_secs(10),
            Duration::from_secs(60),
            Instant::now(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn counts_roll_out_of_the_statistical_window() {
        let mut stats = stats();
        stats.record(Instant::now(), Event::Failure);
        stats.record(Instant::now(), Event::Success);
        tokio::time::advance(Duration::from_secs(5)).await;
        stats.record(Instant::now(), Event::Timeout);
        stats.record(Instant::now(), Event::ShortCircuited);
        let counts = stats.counts(Instant::now());
        assert_eq!(counts.requests(), 3, "short-circuits are not executions");
        assert_eq!(counts.error_percentage(), 66);
        tokio::time::advance(Duration::from_secs(6)).await;
        let counts = stats.counts(Instant::now());
        assert_eq!(counts.get(Event::Failure), 0, "11 s old");
        assert_eq!(counts.get(Event::Timeout), 1, "6 s old");
    }

    #[tokio::test(start_paused = true)]
    async fn percentiles_cover_the_last_minute() {
        let mut stats = stats();
        for ms in 1..=100 {
            stats.record_latency(Instant::now(), Duration::from_millis(ms));
        }
        let latencies = stats.latencies(Instant::now());
        assert_eq!(latencies.percentiles, [1, 25, 50, 75, 90, 95, 99, 100, 100]);
        assert_eq!(latencies.mean, 50);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(stats.latencies(Instant::now()), Latencies::default());
        assert_eq!(stats.completed(), 100, "the total does not roll");
    }
}
