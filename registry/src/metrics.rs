//! The registry's Prometheus metrics, read from the lease table at each scrape (so nothing is
//! counted twice and a scrape always agrees with the dashboard):
//!
//! - `rss_registry_instances{app, status}`: registered instances by application and status;
//! - `rss_registry_renewals_total`: lease renewals accepted since start-up;
//! - `rss_registry_self_preservation_active`: 1 while eviction is suspended.
//!
//! Plus the HTTP metrics every service has (see `platform::metrics`).

use std::collections::BTreeMap;

use platform::metrics::prometheus_client::collector::Collector;
use platform::metrics::prometheus_client::encoding::DescriptorEncoder;
use platform::metrics::{Labels, Metrics, collect};

use crate::domain::Registry;

/// A registry for this service with the lease-table collector in it.
pub fn metrics(registry: &Registry) -> Metrics {
    let metrics = Metrics::new("registry");
    metrics.register_collector(LeaseTable(registry.clone()));
    metrics
}

#[derive(Debug)]
struct LeaseTable(Registry);

impl Collector for LeaseTable {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self.0.snapshot();
        let mut instances: BTreeMap<(String, &'static str), i64> = BTreeMap::new();
        for (app, leases) in &snapshot.apps {
            for lease in leases {
                let status = lease.info.status.as_str();
                *instances.entry((app.clone(), status)).or_default() += 1;
            }
        }
        collect::gauges(
            &mut encoder,
            "registry_instances",
            "Registered instances by application and status",
            instances.into_iter().map(|((app, status), count)| {
                let labels: Labels = vec![("app", app), ("status", status.to_owned())];
                (labels, count)
            }),
        )?;
        collect::counters(
            &mut encoder,
            "registry_renewals",
            "Lease renewals accepted since start-up",
            [(Labels::new(), snapshot.renewals)],
        )?;
        collect::gauges(
            &mut encoder,
            "registry_self_preservation_active",
            "1 while self-preservation suspends eviction",
            [(Labels::new(), i64::from(snapshot.self_preservation.active))],
        )
    }
}
