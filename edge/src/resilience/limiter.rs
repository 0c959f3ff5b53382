//! A command's concurrency limit: how many executions may be in flight at once. Either fixed
//! (Hystrix's semaphore) or adaptive, found from the upstream's latency in the spirit of
//! Netflix's concurrency-limits `Gradient2` limiter.
//!
//! # The adaptive limit
//! Two exponential averages of the executions' latency are kept: a *long* one (over about 600
//! samples: what the upstream answers in when it is not queueing) and a *short* one (over the
//! last few: what it answers in now). Their ratio is the gradient:
//!
//! ```text
//! gradient  = clamp(tolerance × long / short, 0.5, 1.0)
//! target    = limit × gradient + headroom
//! limit     = limit × (1 − smoothing) + target × smoothing,   within [min_limit, max_limit]
//! ```
//!
//! While the short average stays within `tolerance` (1.5×) of the long one the gradient is 1
//! and the limit grows by a little (`headroom`) with each sample; once latency rises past that
//! (the upstream is queueing), the limit shrinks in proportion, at most halving per sample
//! before smoothing. Latency alone never takes it below about twice the headroom (8), where
//! the halving and the headroom balance; drops (below) and `min_limit` go further. Samples taken while fewer than half the limit are in flight say nothing
//! about the limit (the caller, not the upstream, was the bottleneck), so they move the
//! averages but not the limit, and the limit can't drift upwards on a quiet service. When the
//! short average falls far below the long one (the upstream got faster), the long one is pulled
//! down so the limit is not held back by a slow past.
//!
//! A timeout or a failure carries no latency worth averaging but is a "drop" (concurrency-
//! limits' word): the limit backs off by 10 %, as its AIMD limiter does, unless the command
//! was app-limited.
//!
//! Sans-IO like the breaker: latencies are passed in, nothing here reads a clock, waits or
//! spawns. [`super::admission`] holds the executions in flight and the queue in front.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimiterKind {
    /// The limit follows the upstream's latency between `min_limit` and `max_limit`.
    #[default]
    Adaptive,
    /// `limit` is a static bulkhead, as in Hystrix.
    Fixed,
}

/// `[commands.<cmd>.concurrency]`: a live setting, read at each execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConcurrencySettings {
    pub limiter: LimiterKind,
    /// Fixed: the limit. Adaptive: where it starts.
    pub limit: u32,
    /// Adaptive only: the bounds it moves between.
    pub min_limit: u32,
    pub max_limit: u32,
    /// Executions waiting for a place at most; one more is rejected at once.
    pub queue: u32,
    /// How long one waits for a place at most before it is rejected.
    #[serde(with = "humantime_serde")]
    pub queue_timeout: Duration,
}

impl Default for ConcurrencySettings {
    fn default() -> Self {
        Self {
            limiter: LimiterKind::Adaptive,
            limit: 64,
            min_limit: 8,
            max_limit: 512,
            queue: 128,
            queue_timeout: Duration::from_secs(1),
        }
    }
}

/// Long-term average's reach in samples (concurrency-limits' default long window).
const LONG_WINDOW: f64 = 600.0;
/// Short-term average's reach: a few samples rather than concurrency-limits' one, so one slow
/// answer among fast ones doesn't shrink the limit by itself.
const SHORT_WINDOW: f64 = 10.0;
/// How much slower than usual the upstream may answer before the limit shrinks.
const TOLERANCE: f64 = 1.5;
/// Weight of each new target in the limit.
const SMOOTHING: f64 = 0.2;
/// Places added to the limit per sample while latency holds (concurrency-limits' queue size).
const HEADROOM: f64 = 4.0;
/// A drop's multiplicative back-off.
const BACKOFF: f64 = 0.9;

/// What one finished execution says about the limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sample {
    /// Answered, after this long.
    Answered(Duration),
    /// Timed out or failed: no latency, but a sign of overload.
    Dropped,
}

/// The limit's state: its current value and the two latency averages.
#[derive(Debug, Clone)]
pub struct Limiter {
    /// Adaptive estimate; a fixed limiter reads `settings.limit` instead.
    estimate: f64,
    long: Average,
    short: Average,
}

impl Limiter {
    pub fn new(settings: &ConcurrencySettings) -> Self {
        Self {
            estimate: f64::from(settings.limit),
            long: Average::new(LONG_WINDOW),
            short: Average::new(SHORT_WINDOW),
        }
    }

    /// The limit now, under `settings` (which may have changed since the last sample).
    pub fn limit(&self, settings: &ConcurrencySettings) -> u32 {
        match settings.limiter {
            LimiterKind::Fixed => settings.limit,
            LimiterKind::Adaptive => clamp(self.estimate, settings) as u32,
        }
    }

    /// One execution ended with `sample`, `in_flight` executions (itself included) having
    /// been in flight when it did.
    pub fn on_sample(&mut self, settings: &ConcurrencySettings, sample: Sample, in_flight: u32) {
        let limit = clamp(self.estimate, settings);
        self.estimate = limit;
        let app_limited = f64::from(in_flight) < limit / 2.0;
        match sample {
            Sample::Answered(latency) => {
                let rtt = latency.as_secs_f64().max(1e-6);
                let short = self.short.add(rtt);
                let long = self.long.add(rtt);
                if long / short > 2.0 {
                    self.long.scale(0.95);
                }
                if app_limited {
                    return;
                }
                let gradient = (TOLERANCE * self.long.value() / short).clamp(0.5, 1.0);
                let target = limit * gradient + HEADROOM;
                self.estimate = clamp(limit * (1.0 - SMOOTHING) + target * SMOOTHING, settings);
            }
            Sample::Dropped if !app_limited => {
                self.estimate = clamp(limit * BACKOFF, settings);
            }
            Sample::Dropped => {}
        }
    }
}

fn clamp(estimate: f64, settings: &ConcurrencySettings) -> f64 {
    let min = f64::from(settings.min_limit.max(1));
    let max = f64::from(settings.max_limit).max(min);
    estimate.clamp(min, max)
}

/// An exponential moving average that is a plain mean over its first samples, so the first
/// latency seen doesn't weigh as much as the next hundreds together.
#[derive(Debug, Clone)]
struct Average {
    window: f64,
    count: f64,
    value: f64,
}

impl Average {
    fn new(window: f64) -> Self {
        Self {
            window,
            count: 0.0,
            value: 0.0,
        }
    }

    fn add(&mut self, sample: f64) -> f64 {
        self.count = (self.count + 1.0).min(self.window);
        self.value += (sample - self.value) / self.count;
        self.value
    }

    fn value(&self) -> f64 {
        self.value
    }

    fn scale(&mut self, factor: f64) {
        self.value *= factor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ConcurrencySettings {
        ConcurrencySettings {
            limit: 20,
            min_limit: 4,
            max_limit: 100,
            ..ConcurrencySettings::default()
        }
    }

    fn ms(n: u64) -> Sample {
        Sample::Answered(Duration::from_millis(n))
    }

    /// Feeds `n` samples taken with the whole limit in flight.
    fn busy(limiter: &mut Limiter, settings: &ConcurrencySettings, sample: Sample, n: usize) {
        for _ in 0..n {
            let in_flight = limiter.limit(settings);
            limiter.on_sample(settings, sample, in_flight);
        }
    }

    #[test]
    fn the_limit_grows_while_latency_holds_up_to_the_maximum() {
        let settings = settings();
        let mut limiter = Limiter::new(&settings);
        busy(&mut limiter, &settings, ms(10), 20);
        let grown = limiter.limit(&settings);
        assert!(grown > 20, "{grown}");
        busy(&mut limiter, &settings, ms(10), 1_000);
        assert_eq!(limiter.limit(&settings), 100);
    }

    #[test]
    fn the_limit_shrinks_when_latency_rises_until_the_headroom_holds_it() {
        let settings = settings();
        let mut limiter = Limiter::new(&settings);
        busy(&mut limiter, &settings, ms(10), 300);
        let before = limiter.limit(&settings);
        // Queueing upstream: each answer takes five times as long.
        busy(&mut limiter, &settings, ms(50), 20);
        let after = limiter.limit(&settings);
        assert!(after < before / 2, "{before} -> {after}");
        busy(&mut limiter, &settings, ms(500), 200);
        let low = limiter.limit(&settings);
        assert!(
            low <= 12,
            "near 2 × headroom, where halving and headroom balance: {low}"
        );
    }

    #[test]
    fn latency_within_the_tolerance_does_not_shrink_the_limit() {
        let settings = settings();
        let mut limiter = Limiter::new(&settings);
        busy(&mut limiter, &settings, ms(10), 300);
        let before = limiter.limit(&settings);
        busy(&mut limiter, &settings, ms(14), 20);
        assert!(limiter.limit(&settings) >= before);
    }

    #[test]
    fn samples_taken_far_under_the_limit_leave_it_alone() {
        let settings = settings();
        let mut limiter = Limiter::new(&settings);
        for _ in 0..500 {
            limiter.on_sample(&settings, ms(10), 2);
            limiter.on_sample(&settings, Sample::Dropped, 2);
        }
        assert_eq!(limiter.limit(&settings), 20, "app-limited: no verdict");
    }

    #[test]
    fn drops_back_the_limit_off() {
        let settings = settings();
        let mut limiter = Limiter::new(&settings);
        busy(&mut limiter, &settings, Sample::Dropped, 1);
        assert_eq!(limiter.limit(&settings), 18);
        busy(&mut limiter, &settings, Sample::Dropped, 100);
        assert_eq!(limiter.limit(&settings), 4);
    }

    #[test]
    fn a_faster_upstream_lets_the_limit_grow_again() {
        let settings = settings();
        let mut limiter = Limiter::new(&settings);
        busy(&mut limiter, &settings, ms(100), 600);
        busy(&mut limiter, &settings, ms(400), 100);
        let shrunk = limiter.limit(&settings);
        busy(&mut limiter, &settings, ms(10), 200);
        assert!(limiter.limit(&settings) > shrunk);
    }

    #[test]
    fn a_fixed_limit_is_the_setting_whatever_the_samples() {
        let mut settings = settings();
        settings.limiter = LimiterKind::Fixed;
        settings.limit = 7;
        let mut limiter = Limiter::new(&settings);
        busy(&mut limiter, &settings, ms(500), 100);
        assert_eq!(limiter.limit(&settings), 7);
    }

    #[test]
    fn changed_bounds_apply_at_once() {
        let mut settings = settings();
        let limiter = Limiter::new(&settings);
        settings.max_limit = 10;
        assert_eq!(limiter.limit(&settings), 10);
        settings.max_limit = 100;
        settings.min_limit = 50;
        assert_eq!(limiter.limit(&settings), 50);
    }
}
