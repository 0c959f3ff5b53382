//! The fetcher's metrics, recorded around every fetch whatever its outcome.

use std::time::Duration;

use super::{FetchError, Fetched};

/// Fetch outcomes and durations, waits for permits included (what a feed's refresh costs):
/// `rss_fetches_total{outcome}` and `rss_fetch_duration_seconds{outcome}`.
#[derive(Clone, Debug)]
pub(super) struct FetchMetrics {
    fetches: platform::metrics::prometheus_client::metrics::family::Family<
        platform::metrics::Labels,
        platform::metrics::prometheus_client::metrics::counter::Counter,
    >,
    duration: platform::metrics::HistogramFamily,
}

impl Default for FetchMetrics {
    fn default() -> Self {
        Self {
            fetches: Default::default(),
            duration: platform::metrics::histogram_family(),
        }
    }
}

impl FetchMetrics {
    pub(super) fn register(&self, metrics: &platform::metrics::Metrics) {
        metrics.register(
            "fetches",
            "Feed fetches by outcome (ok, not_modified, or the kind of failure)",
            self.fetches.clone(),
        );
        metrics.register(
            "fetch_duration_seconds",
            "Feed fetch duration by outcome, waits for a permit included",
            self.duration.clone(),
        );
    }

    pub(super) fn record(&self, result: &Result<Fetched, FetchError>, elapsed: Duration) {
        let outcome = match result {
            Ok(fetched) if fetched.not_modified() => "not_modified",
            Ok(_) => "ok",
            Err(error) => error.kind(),
        };
        let labels = vec![("outcome", outcome.to_owned())];
        self.fetches.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }
}
