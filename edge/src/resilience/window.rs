//! The rolling bucketed window: the lowest layer, under the breaker's health counts, the
//! reported statistics and the retry budget.
//!
//! A window of length `window` is split into `buckets` buckets. Writes go to the bucket `now`
//! falls into; as time moves on, buckets older than the window are cleared and reused, so a
//! sum over the buckets ([`Window::fold`]) always covers the last `window` (to one bucket's
//! precision) at the cost of one small array, however many events there are. Hystrix's
//! `HystrixRollingNumber` and Finagle's retry budget work the same way.
//!
//! The window does no I/O and reads no clock: the caller passes `now`
//! (`tokio::time::Instant`), so tests drive it with `tokio::time::pause()`.

use std::time::Duration;

use tokio::time::Instant;

/// A ring of fixed-length buckets of `T` (a counter, a struct of counters, latency samples).
#[derive(Debug)]
pub struct Window<T> {
    bucket_len: Duration,
    buckets: Vec<T>,
    current_start: Instant,
    current: usize,
}

impl<T: Default + Clone> Window<T> {
    /// A window `window` long in `buckets` buckets (at least one, each at least 1 ms).
    pub fn new(window: Duration, buckets: u32, now: Instant) -> Self {
        let buckets = buckets.max(1);
        Self {
            bucket_len: (window / buckets).max(Duration::from_millis(1)),
            buckets: vec![T::default(); buckets as usize],
            current_start: now,
            current: 0,
        }
    }

    /// The window's length as built: the buckets' length times their number.
    pub fn span(&self) -> Duration {
        self.bucket_len * u32::try_from(self.buckets.len()).unwrap_or(u32::MAX)
    }

    /// The bucket `now` falls into, for writing.
    pub fn current(&mut self, now: Instant) -> &mut T {
        self.advance(now);
        &mut self.buckets[self.current]
    }

    /// Folds every bucket still inside the window at `now`.
    pub fn fold<A>(&mut self, now: Instant, init: A, f: impl FnMut(A, &T) -> A) -> A {
        self.advance(now);
        self.buckets.iter().fold(init, f)
    }

    /// Empties every bucket; the window starts again at `now`.
    pub fn reset(&mut self, now: Instant) {
        self.buckets.fill(T::default());
        self.current_start = now;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(window: &mut Window<u64>) -> u64 {
        window.fold(Instant::now(), 0, |sum, count| sum + count)
    }

    #[tokio::test(start_paused = true)]
    async fn counts_leave_the_window_one_bucket_at_a_time() {
        let mut window = Window::new(Duration::from_secs(10), 10, Instant::now());
        *window.current(Instant::now()) += 1;
        tokio::time::advance(Duration::from_secs(5)).await;
        *window.current(Instant::now()) += 2;
        assert_eq!(sum(&mut window), 3);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(sum(&mut window), 2, "the first count is 10 s old");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(sum(&mut window), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_pause_clears_every_bucket() {
        let mut window = Window::new(Duration::from_secs(10), 10, Instant::now());
        for _ in 0..10 {
            *window.current(Instant::now()) += 1;
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(sum(&mut window), 9, "the oldest bucket has just rolled out");
        tokio::time::advance(Duration::from_secs(3_600)).await;
        assert_eq!(sum(&mut window), 0);
        *window.current(Instant::now()) += 1;
        assert_eq!(sum(&mut window), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn reset_forgets_everything_and_restarts_at_now() {
        let mut window = Window::new(Duration::from_secs(10), 10, Instant::now());
        *window.current(Instant::now()) += 5;
        window.reset(Instant::now());
        assert_eq!(sum(&mut window), 0);
        assert_eq!(window.span(), Duration::from_secs(10));
    }
}
