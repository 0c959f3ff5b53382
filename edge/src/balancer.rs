//! Choosing a middle tier for each attempt: a balancing rule over the discovered instances,
//! minus the ones passive outlier detection has ejected.
//!
//! - **Rules.** `round_robin` (Ribbon's default) takes the instances in turn.
//!   `peak_ewma` is Finagle's and Linkerd's power of two choices: pick two instances at random
//!   and send to the one with the lower cost, cost being the peak-sensitive moving average of
//!   its latency times its requests in flight plus one. A slow or overloaded instance gets less
//!   traffic at once; a fast one recovers its share as the average decays (`ewma_decay`).
//! - **Outlier ejection.** Every attempt's outcome is reported back. After
//!   `consecutive_failures` gateway failures in a row (refused connection, timeout, 5xx) an
//!   instance is ejected for `base_ejection_time` times the number of times it has been
//!   ejected, capped at `max_ejection_time` (Envoy's rule; Ribbon's AvailabilityFilteringRule
//!   is the same idea with doubling). At most `max_ejection_percent` of the instances are
//!   ejected at once, and when every instance is unavailable all are tried anyway: ejection
//!   only steers traffic, it never turns a degraded service into an outage. A bad request
//!   (4xx) is an answer, so it counts as a success here.
//!
//! This works from traffic alone, so a killed instance stops receiving requests after a few
//! failures, long before the registry's lease on it expires.
//!
//! # Why hand-written
//! Ribbon's retries need an *order*, not a pick: [`Balancer::order`] lists every instance to
//! try, best first, so the retry loop in [`crate::upstream`] can try the same instance again
//! and then the next one (`max_auto_retries`, `max_auto_retries_next_server`). `tower`'s
//! balancers are services that route each request to one ready endpoint and hide the rest,
//! with nothing to say "the next instance" for a retry, no outlier ejection, and no view of
//! each endpoint's state for the dashboard. The state here is a small map under one lock,
//! read and written with `tokio::time`, so tests drive ejection and latency decay on paused
//! time.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use registry_client::{Discovery, Instance};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    #[default]
    RoundRobin,
    /// Power of two choices on peak-EWMA latency.
    PeakEwma,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutlierSettings {
    /// Gateway failures in a row that eject an instance (0 disables ejection).
    pub consecutive_failures: u32,
    #[serde(with = "humantime_serde")]
    pub base_ejection_time: Duration,
    #[serde(with = "humantime_serde")]
    pub max_ejection_time: Duration,
    /// Share of the instances that may be ejected at once.
    pub max_ejection_percent: u32,
}

impl Default for OutlierSettings {
    fn default() -> Self {
        Self {
            // Ribbon trips after 3 connect failures; Envoy after 5 5xx. A crash shows as
            // refused connections at once, so 3 is plenty.
            consecutive_failures: 3,
            base_ejection_time: Duration::from_secs(10),
            max_ejection_time: Duration::from_secs(300),
            // Envoy's 10 % would never eject one of the recipe's two middle tiers.
            max_ejection_percent: 50,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BalancerSettings {
    pub rule: Rule,
    /// How fast the latency average forgets (Finagle: 10 s).
    #[serde(with = "humantime_serde")]
    pub ewma_decay: Duration,
    /// The latency assumed for an instance before it has answered (Linkerd: 30 ms).
    #[serde(with = "humantime_serde")]
    pub default_rtt: Duration,
}

impl Default for BalancerSettings {
    fn default() -> Self {
        Self {
            rule: Rule::RoundRobin,
            ewma_decay: Duration::from_secs(10),
            default_rtt: Duration::from_millis(30),
        }
    }
}

/// How an attempt on an instance ended, as far as that instance's health goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It answered (including a 4xx: the request was wrong, not the instance).
    Answered,
    /// Refused, timed out, or failed with a 5xx.
    Failed,
}

/// One instance as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstanceView {
    pub id: String,
    pub url: String,
    /// `available` or `ejected`.
    pub state: &'static str,
    /// Seconds until it is tried again, when ejected.
    pub ejected_for_secs: Option<u64>,
    pub ejections: u32,
    pub consecutive_failures: u32,
    pub in_flight: u32,
    /// The peak-EWMA latency, in milliseconds.
    pub ewma_ms: f64,
    pub requests: u64,
    pub failures: u64,
}

#[derive(Debug)]
struct Stats {
    in_flight: u32,
    ewma: Ewma,
    consecutive_failures: u32,
    ejections: u32,
    ejected_until: Option<Instant>,
    requests: u64,
    failures: u64,
}

#[derive(Debug)]
pub struct Balancer {
    source: Source,
    settings: BalancerSettings,
    outlier: OutlierSettings,
    next: AtomicUsize,
    random: AtomicU64,
    stats: Mutex<HashMap<String, Stats>>,
}

impl Balancer {
    pub fn new(discovery: Discovery, settings: BalancerSettings, outlier: OutlierSettings) -> Self {
        Self::with_source(Source::Discovery(discovery), settings, outlier)
    }

    /// A balancer over a fixed list of instances, for unit tests of its callers.
    #[cfg(test)]
    pub(crate) fn fixed(
        instances: Vec<Instance>,
        settings: BalancerSettings,
        outlier: OutlierSettings,
    ) -> Self {
        Self::with_source(
            Source::Fixed(std::sync::Arc::new(instances)),
            settings,
            outlier,
        )
    }

    fn with_source(source: Source, settings: BalancerSettings, outlier: OutlierSettings) -> Self {
        Self {
            source,
            outlier,
            random: AtomicU64::new(RandomState::new().hash_one(0u8) | 1),
            settings,
            next: AtomicUsize::new(0),
            stats: Mutex::new(HashMap::new()),
        }
    }

    /// The instances to try, best first: the rule's choice, then the others. Ejected
    /// instances are left out unless nothing else is available.
    pub fn order(&self) -> Vec<Instance> {
        let instances = self.source.instances();
        if instances.is_empty() {
            return Vec::new();
        }
        let now = Instant::now();
        let mut stats = self.lock();
        stats.retain(|id, _| instances.iter().any(|instance| &instance.id == id));
        let available: Vec<&Instance> = instances
            .iter()
            .filter(|instance| {
                stats
                    .get(&instance.id)
                    .is_none_or(|stats| !stats.is_ejected(now))
            })
            .collect();
        let candidates = if available.is_empty() {
            instances.iter().collect()
        } else {
            available
        };
        let start = self.next.fetch_add(1, Ordering::Relaxed) % candidates.len();
        let mut order: Vec<Instance> = candidates
            .iter()
            .cycle()
            .skip(start)
            .take(candidates.len())
            .map(|instance| (*instance).clone())
            .collect();
        if self.settings.rule == Rule::PeakEwma && order.len() > 1 {
            // Two distinct random picks; the cheaper one goes first.
            let a = self.random_below(order.len());
            let b = (a + 1 + self.random_below(order.len() - 1)) % order.len();
            let cost = |instance: &Instance| {
                stats
                    .get(&instance.id)
                    .map_or(self.settings.default_rtt.as_secs_f64(), |s| {
                        s.ewma.value * f64::from(s.in_flight + 1)
                    })
            };
            let best = if cost(&order[a]) <= cost(&order[b]) {
                a
            } else {
                b
            };
            order.swap(0, best);
        }
        order
    }

    /// Marks the start of an attempt on `instance`; report how it ended on the guard.
    pub fn start(&self, instance: &Instance) -> Attempt<'_> {
        let mut stats = self.lock();
        let entry = self.entry(&mut stats, &instance.id);
        entry.in_flight += 1;
        entry.requests += 1;
        Attempt {
            balancer: self,
            id: instance.id.clone(),
            started: Instant::now(),
            done: false,
        }
    }

    /// Every discovered instance with its health, for the dashboard.
    pub fn instances(&self) -> Vec<InstanceView> {
        let now = Instant::now();
        let stats = self.lock();
        self.source
            .instances()
            .iter()
            .map(|instance| {
                let found = stats.get(&instance.id);
                let ejected_for = found
                    .and_then(|s| s.ejected_until)
                    .filter(|until| *until > now)
                    .map(|until| until - now);
                InstanceView {
                    id: instance.id.clone(),
                    url: instance.base_url.to_string(),
                    state: if ejected_for.is_some() {
                        "ejected"
                    } else {
                        "available"
                    },
                    ejected_for_secs: ejected_for.map(|d| d.as_secs() + 1),
                    ejections: found.map_or(0, |s| s.ejections),
                    consecutive_failures: found.map_or(0, |s| s.consecutive_failures),
                    in_flight: found.map_or(0, |s| s.in_flight),
                    ewma_ms: found.map_or(0.0, |s| (s.ewma.value * 10_000.0).round() / 10.0),
                    requests: found.map_or(0, |s| s.requests),
                    failures: found.map_or(0, |s| s.failures),
                }
            })
            .collect()
    }

    fn finish(&self, id: &str, started: Instant, outcome: Outcome) {
        let now = Instant::now();
        let rtt = now.duration_since(started);
        let instances = self.source.instances().len();
        let outlier = &self.outlier;
        let mut stats = self.lock();
        let ejected_now = stats.values().filter(|s| s.is_ejected(now)).count();
        let entry = self.entry(&mut stats, id);
        entry.in_flight = entry.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Answered => {
                entry.ewma.observe(now, rtt, self.settings.ewma_decay);
                entry.consecutive_failures = 0;
                // Healthy for a while after its last ejection: forgive the history.
                if entry.ejected_until.is_some_and(|until| {
                    now.saturating_duration_since(until) >= outlier.base_ejection_time
                }) {
                    entry.ejections = 0;
                    entry.ejected_until = None;
                }
            }
            Outcome::Failed => {
                // A refusal is fast but no good: failures count as at least a second, so the
                // EWMA rule steers away from an instance that fails quickly.
                entry.ewma.observe(
                    now,
                    rtt.max(Duration::from_secs(1)),
                    self.settings.ewma_decay,
                );
                entry.failures += 1;
                entry.consecutive_failures += 1;
                let allowed = instances * outlier.max_ejection_percent as usize / 100;
                if outlier.consecutive_failures > 0
                    && entry.consecutive_failures >= outlier.consecutive_failures
                    && !entry.is_ejected(now)
                    && ejected_now < allowed
                {
                    entry.ejections += 1;
                    let time = (outlier.base_ejection_time * entry.ejections)
                        .min(outlier.max_ejection_time);
                    entry.ejected_until = Some(now + time);
                    entry.consecutive_failures = 0;
                    tracing::warn!(
                        instance = id,
                        ejection = entry.ejections,
                        ?time,
                        "ejecting a failing middle tier"
                    );
                }
            }
        }
    }

    fn entry<'a>(&self, stats: &'a mut HashMap<String, Stats>, id: &str) -> &'a mut Stats {
        stats.entry(id.to_owned()).or_insert_with(|| Stats {
            in_flight: 0,
            ewma: Ewma::new(self.settings.default_rtt),
            consecutive_failures: 0,
            ejections: 0,
            ejected_until: None,
            requests: 0,
            failures: 0,
        })
    }

    /// xorshift64: uniform enough for picking two instances, and lock-free.
    fn random_below(&self, n: usize) -> usize {
        let mut x = self.random.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random.store(x, Ordering::Relaxed);
        (x % n as u64) as usize
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stats>> {
        // Counters only; a poisoned lock holds consistent enough values.
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where the instance list comes from: discovery, or a fixed list in unit tests.
#[derive(Debug)]
enum Source {
    Discovery(Discovery),
    #[cfg(test)]
    Fixed(std::sync::Arc<Vec<Instance>>),
}

impl Source {
    fn instances(&self) -> std::sync::Arc<Vec<Instance>> {
        match self {
            Source::Discovery(discovery) => discovery.instances(),
            #[cfg(test)]
            Source::Fixed(instances) => instances.clone(),
        }
    }
}

impl Stats {
    fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.is_some_and(|until| until > now)
    }
}

/// An attempt in flight. Dropped without [`Attempt::finish`] (the caller gave up), it counts
/// as neither outcome.
#[derive(Debug)]
pub struct Attempt<'a> {
    balancer: &'a Balancer,
    id: String,
    started: Instant,
    done: bool,
}

impl Attempt<'_> {
    pub fn finish(mut self, outcome: Outcome) {
        self.done = true;
        self.balancer.finish(&self.id, self.started, outcome);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut stats = self.balancer.lock();
            if let Some(stats) = stats.get_mut(&self.id) {
                stats.in_flight = stats.in_flight.saturating_sub(1);
            }
        }
    }
}

/// Peak-sensitive exponentially weighted moving average of latency, in seconds: a slower
/// sample replaces the average at once, faster ones pull it down gradually.
#[derive(Debug)]
struct Ewma {
    value: f64,
    at: Instant,
}

impl Ewma {
    fn new(initial: Duration) -> Self {
        Self {
            value: initial.as_secs_f64(),
            at: Instant::now(),
        }
    }

    fn observe(&mut self, now: Instant, rtt: Duration, decay: Duration) {
        let rtt = rtt.as_secs_f64();
        if rtt > self.value {
            self.value = rtt;
        } else {
            let w = weight(now.saturating_duration_since(self.at), decay);
            self.value = self.value * w + rtt * (1.0 - w);
        }
        self.at = now;
    }
}

fn weight(elapsed: Duration, decay: Duration) -> f64 {
    (-elapsed.as_secs_f64() / decay.as_secs_f64().max(f64::EPSILON)).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balancer(n: usize, rule: Rule) -> Balancer {
        let instances = (0..n)
            .map(|i| Instance {
                id: format!("mt-{i}"),
                base_url: url::Url::parse(&format!("http://127.0.0.1:{}/", 9000 + i)).expect("url"),
            })
            .collect();
        let settings = BalancerSettings {
            rule,
            ..BalancerSettings::default()
        };
        Balancer::fixed(instances, settings, OutlierSettings::default())
    }

    fn fail(balancer: &Balancer, id: &str, times: u32) {
        let instance = balancer
            .order()
            .into_iter()
            .chain(balancer.source.instances().iter().cloned())
            .find(|instance| instance.id == id)
            .expect("known instance");
        for _ in 0..times {
            balancer.start(&instance).finish(Outcome::Failed);
        }
    }

    fn firsts(balancer: &Balancer, n: usize) -> Vec<String> {
        (0..n).map(|_| balancer.order()[0].id.clone()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn round_robin_takes_turns_and_lists_the_others_for_retries() {
        let balancer = balancer(3, Rule::RoundRobin);
        assert_eq!(firsts(&balancer, 4), ["mt-0", "mt-1", "mt-2", "mt-0"]);
        let order: Vec<String> = balancer.order().into_iter().map(|i| i.id).collect();
        assert_eq!(order, ["mt-1", "mt-2", "mt-0"]);
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_eject_with_growing_back_off() {
        let balancer = balancer(2, Rule::RoundRobin);
        fail(&balancer, "mt-0", 2);
        assert!(
            firsts(&balancer, 4).contains(&"mt-0".to_owned()),
            "2 failures are not enough"
        );
        fail(&balancer, "mt-0", 1);
        assert_eq!(firsts(&balancer, 4), ["mt-1"; 4], "ejected after 3");
        assert_eq!(balancer.order().len(), 1, "not even tried as a retry");
        let view = &balancer.instances()[0];
        assert_eq!((view.state, view.ejections), ("ejected", 1));

        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(
            balancer.order().len(),
            2,
            "back after the base ejection time"
        );
        fail(&balancer, "mt-0", 3);
        tokio::time::advance(Duration::from_secs(19)).await;
        assert_eq!(
            balancer.order().len(),
            1,
            "the second ejection lasts twice as long"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(balancer.order().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_the_maximum_share_is_ejected() {
        let balancer = balancer(2, Rule::RoundRobin);
        fail(&balancer, "mt-0", 3);
        fail(&balancer, "mt-1", 3);
        assert_eq!(
            balancer.order().len(),
            1,
            "50 % of two: the second one stays in rotation"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_instance_is_never_ejected() {
        let balancer = balancer(1, Rule::RoundRobin);
        fail(&balancer, "mt-0", 10);
        assert_eq!(balancer.order().len(), 1);
        assert_eq!(balancer.instances()[0].state, "available");
    }

    #[tokio::test(start_paused = true)]
    async fn peak_ewma_prefers_the_faster_instance() {
        let balancer = balancer(2, Rule::PeakEwma);
        let instances = balancer.source.instances();
        // mt-0 answers in 200 ms, mt-1 in 5 ms.
        for (instance, rtt) in instances.iter().zip([200, 5]) {
            let attempt = balancer.start(instance);
            tokio::time::advance(Duration::from_millis(rtt)).await;
            attempt.finish(Outcome::Answered);
        }
        let picks = firsts(&balancer, 100);
        assert!(
            picks.iter().all(|id| id == "mt-1"),
            "with two instances both are always compared: {picks:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn peak_ewma_weighs_requests_in_flight() {
        let balancer = balancer(2, Rule::PeakEwma);
        let instances = balancer.source.instances();
        let _busy: Vec<Attempt<'_>> = (0..3).map(|_| balancer.start(&instances[1])).collect();
        assert_eq!(firsts(&balancer, 10), ["mt-0"; 10]);
    }
}
