//! The edge's Prometheus collector (`/metrics`): the commands' and the balancer's state, read
//! at each scrape from [`Upstream`], beside the HTTP metrics every service exports (see
//! `platform::metrics`).
//!
//! It sits above [`crate::upstream`] and reads what `/hystrix.stream` reads, so the
//! resilience layers below know nothing of Prometheus.

use std::sync::Arc;

use platform::metrics::prometheus_client::collector::Collector;
use platform::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use platform::metrics::prometheus_client::metrics::MetricType;
use platform::metrics::{Labels, Metrics, collect};

use crate::resilience::breaker::State;
use crate::resilience::stats::Event;
use crate::upstream::Upstream;

/// The edge's Prometheus metrics, read from its commands and balancer at each scrape (the
/// numbers `/hystrix.stream` reports, as totals rather than rolling windows):
///
/// - `rss_edge_command_events_total{command, event}`: Hystrix's events (`success`, `failure`,
///   `timeout`, `short_circuited`, `semaphore_rejected`, `fallback_success`, ...);
/// - `rss_edge_command_latency_seconds{command}`: execution latency histogram;
/// - `rss_edge_circuit_state{command, state}`: 1 for the breaker's state (`closed`, `open`,
///   `half_open`), 0 for the others;
/// - `rss_edge_bulkhead_in_flight{command}` / `rss_edge_bulkhead_capacity{command}` /
///   `rss_edge_bulkhead_queued{command}`: executions in flight, the concurrency limit now
///   (fixed, or the adaptive limiter's estimate) and calls waiting for a place;
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
                        (labels, totals.get(event))
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
            snapshots.iter().map(|snapshot| {
                let in_flight = i64::from(snapshot.occupancy.in_flight);
                (command(snapshot.name), in_flight)
            }),
        )?;
        collect::gauges(
            &mut encoder,
            "edge_bulkhead_capacity",
            "Executions allowed in flight per command now (fixed or adaptive); more wait or are rejected",
            snapshots.iter().map(|snapshot| {
                let capacity = i64::from(snapshot.occupancy.limit);
                (command(snapshot.name), capacity)
            }),
        )?;
        collect::gauges(
            &mut encoder,
            "edge_bulkhead_queued",
            "Executions waiting for a place per command",
            snapshots.iter().map(|snapshot| {
                let queued = i64::from(snapshot.occupancy.queued);
                (command(snapshot.name), queued)
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
