//! Prometheus metrics (the role Servo played): one registry per service, served at `/metrics`.
//!
//! Each service builds one [`Metrics`] and hands it to [`crate::server::with_standard_layers`],
//! which records every request (see [`HttpMetrics`]), and to [`crate::admin::router`], which
//! serves the registry on the admin port in the Prometheus text format (version 0.0.4). Components own their metric objects (they work unregistered, so
//! unit tests need no registry) and the service registers them once at start-up; numbers a
//! component already keeps (the edge's command statistics, the registry's lease table) are
//! exported by a [`Collector`] read at scrape time instead of being counted twice.
//!
//! Every name starts with `rss_`. Labels only ever hold bounded values: route templates (never
//! raw paths), method names, status codes, and fixed enumerations, so a scanner trying random
//! URLs cannot grow the registry.
//!
//! The registry is per service, not global, so tests that run several services in one process
//! see each service's own numbers on its own `/metrics`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

pub use prometheus_client;

/// Latency buckets in seconds, 1 ms to 30 s: the range between a cached page and a timeout.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A latency histogram with [`LATENCY_BUCKETS`].
pub fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Labels as `(name, value)` pairs; values must come from a bounded set.
pub type Labels = Vec<(&'static str, String)>;

/// A family of latency histograms keyed by labels.
pub type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// A family of latency histograms with [`LATENCY_BUCKETS`].
pub fn histogram_family() -> HistogramFamily {
    Family::new_with_constructor(latency_histogram)
}

/// One service's registry. Cheap to clone; every clone shares it.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    service: String,
    registry: Mutex<Registry>,
    http: HttpMetrics,
}

impl Metrics {
    /// A registry for `service` (`registry`, `middletier`, `edge`) with the HTTP metrics in it.
    pub fn new(service: &str) -> Self {
        let mut registry = Registry::with_prefix("rss");
        let http = HttpMetrics::default();
        http.register(&mut registry);
        Self {
            inner: Arc::new(Inner {
                service: service.to_owned(),
                registry: Mutex::new(registry),
                http,
            }),
        }
    }

    pub fn service(&self) -> &str {
        &self.inner.service
    }

    pub fn http(&self) -> &HttpMetrics {
        &self.inner.http
    }

    /// Registers `metric` as `rss_<name>` (counters get `_total` appended when encoded).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.with_registry(|registry| registry.register(name, help, metric));
    }

    /// Registers a collector, asked for its numbers at every scrape.
    pub fn register_collector(&self, collector: impl Collector) {
        self.with_registry(|registry| registry.register_collector(Box::new(collector)));
    }

    /// The registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        self.with_registry(|registry| {
            // Writing to a String cannot fail; a collector that fails leaves what it wrote.
            if let Err(error) = prometheus_text::encode(&mut text, registry) {
                tracing::error!(%error, "cannot encode the metrics");
            }
        });
        text
    }

    /// `GET /metrics`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/metrics", get(scrape))
            .with_state(self.clone())
    }

    fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        // Registration and encoding leave the registry consistent at every step.
        f(&mut self
            .inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
    }
}

async fn scrape(State(metrics): State<Metrics>) -> Response {
    let body = metrics.encode();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(prometheus_text::CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

/// What [`crate::server::with_standard_layers`] records for every request.
///
/// - `rss_http_requests_total{method, route, status}`
/// - `rss_http_request_duration_seconds{method, route, status}` (until the response head)
/// - `rss_http_requests_in_flight`
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<Labels, Counter>,
    duration: HistogramFamily,
    in_flight: Gauge,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            duration: histogram_family(),
            in_flight: Gauge::default(),
        }
    }
}

impl HttpMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            self.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by method, route template and status",
            self.duration.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being handled now",
            self.in_flight.clone(),
        );
    }

    /// Counts a request as in flight until the returned guard drops.
    pub fn start(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Records a finished request. `route` is the matched route template, or `unmatched`.
    pub fn record(&self, method: &Method, route: &str, status: StatusCode, elapsed: Duration) {
        let labels = vec![
            ("method", method_label(method).to_owned()),
            ("route", route.to_owned()),
            ("status", status.as_u16().to_string()),
        ];
        self.requests.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }
}

/// Decrements the in-flight gauge when the request is over, however it ends.
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Standard methods by name; anything else (clients may invent methods) as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Latency and outcome of one kind of operation (store calls, fetches):
/// `<name>_duration_seconds{op, outcome}` and `<name>_errors_total{op}`.
#[derive(Clone, Debug)]
pub struct OperationMetrics {
    duration: HistogramFamily,
    errors: Family<Labels, Counter>,
}

impl Default for OperationMetrics {
    fn default() -> Self {
        Self {
            duration: histogram_family(),
            errors: Family::default(),
        }
    }
}

impl OperationMetrics {
    /// Registers `rss_<name>_duration_seconds` and `rss_<name>_errors_total`.
    pub fn register(&self, metrics: &Metrics, name: &str, what: &str) {
        metrics.register(
            &format!("{name}_duration_seconds"),
            &format!("Duration of {what}, by operation and outcome (ok or error)"),
            self.duration.clone(),
        );
        metrics.register(
            &format!("{name}_errors"),
            &format!("Failed {what}, by operation"),
            self.errors.clone(),
        );
    }

    /// Runs `operation`, recording its duration and whether it failed.
    pub async fn observe<T, E>(
        &self,
        op: &'static str,
        operation: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = std::time::Instant::now();
        let result = operation.await;
        self.record(op, result.is_ok(), started.elapsed());
        result
    }

    pub fn record(&self, op: &'static str, ok: bool, elapsed: Duration) {
        let outcome = if ok { "ok" } else { "error" };
        self.duration
            .get_or_create(&vec![
                ("op", op.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .observe(elapsed.as_secs_f64());
        if !ok {
            self.errors
                .get_or_create(&vec![("op", op.to_owned())])
                .inc();
        }
    }
}

/// Encodes const gauges and counters from a collector, one family per call.
pub mod collect {
    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    use prometheus_client::metrics::MetricType;
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;

    use super::Labels;

    /// A gauge family: one sample per `(labels, value)`.
    pub fn gauges(
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, i64)>,
    ) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (labels, value) in samples {
            ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }

    /// A counter family (`_total` is appended to `name`): one sample per `(labels, value)`.
    pub fn counters(
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, u64)>,
    ) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, value) in samples {
            ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use prometheus_client::encoding::DescriptorEncoder;

    use super::*;

    #[derive(Debug)]
    struct Fixed;

    impl Collector for Fixed {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            collect::gauges(
                &mut encoder,
                "things",
                "Things",
                [(vec![("kind", "a".to_owned())], 3)],
            )?;
            collect::counters(
                &mut encoder,
                "events",
                "Events",
                [(vec![("kind", "b".to_owned())], 7)],
            )
        }
    }

    #[test]
    fn requests_are_counted_by_route_template_and_status() {
        let metrics = Metrics::new("test");
        metrics.http().record(
            &Method::GET,
            "/users/{id}",
            StatusCode::OK,
            Duration::from_millis(3),
        );
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"rss_http_requests_total{method="GET",route="/users/{id}",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"rss_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/users/{id}",status="200"} 1"#)
                || text.contains(r#"rss_http_request_duration_seconds_bucket{method="GET",route="/users/{id}",status="200",le="0.005"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn invented_methods_share_one_label() {
        let metrics = Metrics::new("test");
        let method = Method::from_bytes(b"BREW").unwrap();
        metrics
            .http()
            .record(&method, "unmatched", StatusCode::NOT_FOUND, Duration::ZERO);
        assert!(metrics.encode().contains(r#"method="other""#));
    }

    #[test]
    fn collectors_are_prefixed_and_typed() {
        let metrics = Metrics::new("test");
        metrics.register_collector(Fixed);
        let text = metrics.encode();
        assert!(text.contains("# TYPE rss_things gauge"), "{text}");
        assert!(text.contains(r#"rss_things{kind="a"} 3"#), "{text}");
        assert!(text.contains("# TYPE rss_events_total counter"), "{text}");
        assert!(text.contains(r#"rss_events_total{kind="b"} 7"#), "{text}");
    }

    #[tokio::test]
    async fn operations_record_outcomes_and_errors() {
        let metrics = Metrics::new("test");
        let store = OperationMetrics::default();
        store.register(&metrics, "store", "store calls");
        let _ = store.observe("read", async { Ok::<_, ()>(1) }).await;
        let _ = store.observe("read", async { Err::<(), _>(()) }).await;
        let text = metrics.encode();
        assert!(
            text.contains(r#"rss_store_duration_seconds_count{op="read",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"rss_store_errors_total{op="read"} 1"#),
            "{text}"
        );
    }
}
