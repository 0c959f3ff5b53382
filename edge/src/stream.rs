//! `/hystrix.stream`: the commands' metrics as Server-Sent Events, in the format the Hystrix
//! dashboard and Turbine read.
//!
//! Every `interval` (Hystrix: 500 ms) each command is written as a `HystrixCommand` object and
//! each command's admission as a `HystrixThreadPool` object (we isolate with semaphores, not
//! threads, so the "pool" is the command's concurrency limit: its size is the current limit,
//! its active threads are executions in flight, its queue the waiters), each as one
//! `data: {json}` event, then a `ping: ` line that keeps
//! idle proxies from closing the connection. At most `max_connections` clients stream at once
//! (Hystrix: 5); more get 503, so dashboards left open can't exhaust the edge.
//!
//! **Idle clients lose their place.** A client that stops reading (or reads nothing at all)
//! would otherwise keep its place for as long as the connection stays open, and five of them
//! would lock every dashboard out. Once the connection's buffers are full, the server can no
//! longer hand over the next event; when an event has waited `idle_timeout` for that, a
//! watchdog frees the place and the stream ends. (How soon the buffers fill depends on the
//! operating system's socket buffers: at the default interval, minutes for a client that
//! reads nothing; then `idle_timeout` more.)
//!
//! The streams are served on the edge's admin port (see [`crate::dashboard`]). The SSE plumbing
//! here ([`sse`]) also serves the dashboard's instance stream.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use platform::lifecycle::Shutdown;

use crate::resilience::breaker::State;
use crate::resilience::bulkhead::{Bulkhead, Permit};
use crate::resilience::command::CommandSnapshot;
use crate::resilience::stats::{Event, PERCENTILE_KEYS};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamSettings {
    /// Time between two snapshots on `/hystrix.stream` and the dashboard's streams.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Streaming clients at once (each stream endpoint counts its own).
    pub max_connections: usize,
    /// How long an event may wait for a client that takes nothing before the client loses its
    /// place and the stream ends.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(500),
            max_connections: 5,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// What a stream and its watchdog share: the place the client holds, and since when the event
/// handed out last has waited for the client to take it.
#[derive(Debug)]
struct Progress {
    slot: Mutex<Option<Permit>>,
    /// `Some` from the moment an event is handed out until the next one is asked for.
    waiting_since: Mutex<Option<Instant>>,
    expired: AtomicBool,
}

impl Progress {
    fn new(slot: Permit) -> Arc<Self> {
        Arc::new(Self {
            slot: Mutex::new(Some(slot)),
            waiting_since: Mutex::new(None),
            expired: AtomicBool::new(false),
        })
    }

    fn set_waiting(&self, since: Option<Instant>) {
        *self
            .waiting_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = since;
    }

    fn waiting_since(&self) -> Option<Instant> {
        *self
            .waiting_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Frees the place; the stream ends when it is next asked for an event.
    fn expire(&self) {
        self.expired.store(true, Ordering::Release);
        drop(
            self.slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }

    fn is_expired(&self) -> bool {
        self.expired.load(Ordering::Acquire)
    }
}

/// Expires `progress` once an event has waited `idle_timeout`; returns when it has, or when the
/// stream is gone.
async fn watch_progress(progress: Weak<Progress>, idle_timeout: Duration) {
    let mut check_at = Instant::now() + idle_timeout;
    loop {
        tokio::time::sleep_until(check_at).await;
        let Some(progress) = progress.upgrade() else {
            return;
        };
        let now = Instant::now();
        check_at = match progress.waiting_since() {
            Some(since) if now.duration_since(since) >= idle_timeout => {
                tracing::info!(?idle_timeout, "a stream client took nothing; stream closed");
                progress.expire();
                return;
            }
            Some(since) => since + idle_timeout,
            None => now + idle_timeout,
        };
    }
}

/// A `text/event-stream` response that writes `snapshot()` (one event per element) every
/// `settings.interval` until the client leaves, the edge shuts down or the client has taken
/// nothing for `settings.idle_timeout`; 503 when `settings.max_connections` are already
/// streaming. Each endpoint has its own `connections` bulkhead: an open stream holds a place in
/// it until the client goes away or goes idle.
pub fn sse<F>(
    connections: &Arc<Bulkhead>,
    settings: &StreamSettings,
    shutdown: &Shutdown,
    snapshot: F,
) -> Response
where
    F: Fn() -> Vec<Value> + Send + 'static,
{
    let limit = u32::try_from(settings.max_connections).unwrap_or(u32::MAX);
    let Some(slot) = connections.try_enter(limit) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "too many concurrent streams; close another dashboard and retry\n",
        )
            .into_response();
    };
    let mut ticks = tokio::time::interval(settings.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The stream ends with the edge, or graceful shutdown would wait on it forever.
    let stopped = Box::pin(shutdown.clone().cancelled_owned());
    let progress = Progress::new(slot);
    tokio::spawn(watch_progress(
        Arc::downgrade(&progress),
        settings.idle_timeout,
    ));
    let state = (ticks, stopped, snapshot, progress);
    let body = futures::stream::unfold(
        state,
        |(mut ticks, mut stopped, snapshot, progress)| async {
            // Asked for the next event: the client took the last one.
            progress.set_waiting(None);
            if progress.is_expired() {
                return None;
            }
            tokio::select! {
                () = &mut stopped => None,
                _ = ticks.tick() => {
                    let mut chunk = String::new();
                    for event in snapshot() {
                        chunk.push_str("data: ");
                        chunk.push_str(&event.to_string());
                        chunk.push_str("\n\n");
                    }
                    chunk.push_str("ping: \n\n");
                    progress.set_waiting(Some(Instant::now()));
                    Some((Ok::<_, Infallible>(chunk), (ticks, stopped, snapshot, progress)))
                }
            }
        },
    );
    (
        [
            (header::CONTENT_TYPE, "text/event-stream;charset=UTF-8"),
            (
                header::CACHE_CONTROL,
                "no-cache, no-store, max-age=0, must-revalidate",
            ),
            // Tells nginx-like proxies not to buffer the stream.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// Milliseconds since the epoch, as Hystrix's `currentTime`.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The group every command belongs to (Hystrix's command group key).
pub const GROUP: &str = "MiddleTier";

/// A `HystrixCommand` object with every field the Hystrix dashboard reads.
pub fn hystrix_command(command: &CommandSnapshot, now: u64) -> Value {
    let counts = &command.counts;
    let count = |event| counts.get(event);
    let breaker = &command.settings.breaker;
    let latencies: serde_json::Map<String, Value> = PERCENTILE_KEYS
        .iter()
        .zip(command.latencies.percentiles)
        .map(|((key, _), value)| ((*key).to_owned(), Value::from(value)))
        .collect();
    let mut object = json!({
        "type": "HystrixCommand",
        "name": command.name,
        "group": GROUP,
        "currentTime": now,
        "isCircuitBreakerOpen": command.circuit != State::Closed,
        "errorPercentage": counts.error_percentage(),
        "errorCount": counts.errors(),
        "requestCount": counts.requests(),
        "rollingCountCollapsedRequests": 0,
        "rollingCountEmit": 0,
        "rollingCountExceptionsThrown": count(Event::ExceptionThrown),
        "rollingCountFailure": count(Event::Failure),
        "rollingCountFallbackEmit": 0,
        "rollingCountFallbackFailure": count(Event::FallbackFailure),
        "rollingCountFallbackMissing": 0,
        "rollingCountFallbackRejection": 0,
        "rollingCountFallbackSuccess": count(Event::FallbackSuccess),
        "rollingCountResponsesFromCache": count(Event::ResponseFromCache),
        "rollingCountSemaphoreRejected": count(Event::SemaphoreRejected),
        "rollingCountShortCircuited": count(Event::ShortCircuited),
        "rollingCountSuccess": count(Event::Success),
        "rollingCountThreadPoolRejected": 0,
        "rollingCountTimeout": count(Event::Timeout),
        "rollingCountBadRequests": count(Event::BadRequest),
        "currentConcurrentExecutionCount": command.occupancy.in_flight,
        // Not Hystrix's: the adaptive limit's queue (dashboards ignore unknown fields).
        "currentQueuedExecutionCount": command.occupancy.queued,
        "rollingMaxConcurrentExecutionCount": counts.max_concurrent,
        "latencyExecute_mean": command.latencies.mean,
        "latencyExecute": latencies,
        // We time the execution only; the total adds nothing measurable (an in-memory fallback).
        "latencyTotal_mean": command.latencies.mean,
        "latencyTotal": latencies,
        "reportingHosts": 1,
        "threadPool": command.name,
    });
    let properties = json!({
        "propertyValue_circuitBreakerRequestVolumeThreshold": breaker.request_volume_threshold,
        "propertyValue_circuitBreakerSleepWindowInMilliseconds": millis(breaker.sleep_window),
        "propertyValue_circuitBreakerErrorThresholdPercentage": breaker.error_threshold_percentage,
        "propertyValue_circuitBreakerForceOpen": false,
        "propertyValue_circuitBreakerForceClosed": false,
        "propertyValue_circuitBreakerEnabled": true,
        "propertyValue_executionIsolationStrategy": "SEMAPHORE",
        "propertyValue_executionIsolationThreadTimeoutInMilliseconds": millis(command.settings.timeout),
        "propertyValue_executionTimeoutInMilliseconds": millis(command.settings.timeout),
        "propertyValue_executionIsolationThreadInterruptOnTimeout": true,
        "propertyValue_executionIsolationThreadPoolKeyOverride": Value::Null,
        // The limit in force now: the setting when fixed, the limiter's estimate when adaptive.
        "propertyValue_executionIsolationSemaphoreMaxConcurrentRequests": command.occupancy.limit,
        // Fallbacks are in-memory lookups and messages: not bounded (Java's Integer.MAX_VALUE).
        "propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests": i32::MAX,
        "propertyValue_requestCacheEnabled": command.request_cache,
        "propertyValue_requestLogEnabled": false,
        "propertyValue_metricsRollingStatisticalWindowInMilliseconds": millis(breaker.rolling_window),
    });
    // Two literals: one would exceed `json!`'s macro recursion limit.
    if let (Value::Object(object), Value::Object(properties)) = (&mut object, properties) {
        object.extend(properties);
    }
    object
}

/// The `HystrixThreadPool` equivalent of a command's admission.
pub fn hystrix_thread_pool(command: &CommandSnapshot, now: u64) -> Value {
    let counts = &command.counts;
    let occupancy = command.occupancy;
    let size = occupancy.limit;
    let executed = counts.get(Event::Success)
        + counts.get(Event::Failure)
        + counts.get(Event::Timeout)
        + counts.get(Event::BadRequest);
    json!({
        "type": "HystrixThreadPool",
        "name": command.name,
        "currentTime": now,
        "currentActiveCount": occupancy.in_flight,
        "currentCompletedTaskCount": command.completed,
        "currentCorePoolSize": size,
        "currentLargestPoolSize": size,
        "currentMaximumPoolSize": size,
        "currentPoolSize": size,
        "currentQueueSize": occupancy.queued,
        "currentTaskCount": command.completed + u64::from(occupancy.in_flight + occupancy.queued),
        "rollingCountThreadsExecuted": executed,
        "rollingMaxActiveThreads": counts.max_concurrent,
        "rollingCountCommandRejections": counts.get(Event::SemaphoreRejected),
        "propertyValue_queueSizeRejectionThreshold": command.settings.concurrency.queue,
        "propertyValue_metricsRollingStatisticalWindowInMilliseconds": millis(command.settings.breaker.rolling_window),
        "reportingHosts": 1,
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resilience::command::{Command, CommandSettings};

    /// The fields the Hystrix dashboard reads, from the reference list.
    const DASHBOARD_COMMAND_FIELDS: &[&str] = &[
        "reportingHosts",
        "type",
        "name",
        "group",
        "currentTime",
        "isCircuitBreakerOpen",
        "errorPercentage",
        "errorCount",
        "requestCount",
        "rollingCountCollapsedRequests",
        "rollingCountExceptionsThrown",
        "rollingCountFailure",
        "rollingCountFallbackFailure",
        "rollingCountFallbackRejection",
        "rollingCountFallbackSuccess",
        "rollingCountResponsesFromCache",
        "rollingCountSemaphoreRejected",
        "rollingCountShortCircuited",
        "rollingCountSuccess",
        "rollingCountThreadPoolRejected",
        "rollingCountTimeout",
        "rollingCountBadRequests",
        "currentConcurrentExecutionCount",
        "latencyExecute_mean",
        "latencyExecute",
        "propertyValue_circuitBreakerRequestVolumeThreshold",
        "propertyValue_circuitBreakerSleepWindowInMilliseconds",
        "propertyValue_circuitBreakerErrorThresholdPercentage",
        "propertyValue_circuitBreakerForceOpen",
        "propertyValue_circuitBreakerForceClosed",
        "propertyValue_executionIsolationStrategy",
        "propertyValue_executionIsolationThreadTimeoutInMilliseconds",
        "propertyValue_executionIsolationThreadInterruptOnTimeout",
        "propertyValue_executionIsolationThreadPoolKeyOverride",
        "propertyValue_executionIsolationSemaphoreMaxConcurrentRequests",
        "propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests",
        "propertyValue_requestCacheEnabled",
        "propertyValue_requestLogEnabled",
        "propertyValue_metricsRollingStatisticalWindowInMilliseconds",
    ];

    const DASHBOARD_POOL_FIELDS: &[&str] = &[
        "type",
        "name",
        "currentTime",
        "currentActiveCount",
        "currentCompletedTaskCount",
        "currentCorePoolSize",
        "currentLargestPoolSize",
        "currentMaximumPoolSize",
        "currentPoolSize",
        "currentQueueSize",
        "currentTaskCount",
        "rollingCountThreadsExecuted",
        "rollingMaxActiveThreads",
        "rollingCountCommandRejections",
        "propertyValue_queueSizeRejectionThreshold",
        "propertyValue_metricsRollingStatisticalWindowInMilliseconds",
        "reportingHosts",
    ];

    #[tokio::test(start_paused = true)]
    async fn a_client_that_takes_nothing_loses_its_place_after_the_idle_timeout() {
        let idle = Duration::from_secs(30);
        let places = Bulkhead::new();
        let progress = Progress::new(places.try_enter(1).expect("a place"));
        let watchdog = tokio::spawn(watch_progress(Arc::downgrade(&progress), idle));
        // Asked for event after event: however long that goes on, the place stays.
        for _ in 0..10 {
            progress.set_waiting(Some(Instant::now()));
            tokio::time::sleep(idle / 2).await;
            progress.set_waiting(None);
        }
        assert_eq!(places.in_flight(), 1);
        assert!(!progress.is_expired());
        // An event nobody takes: the place is given back once it has waited `idle`.
        progress.set_waiting(Some(Instant::now()));
        tokio::time::sleep(idle - Duration::from_millis(1)).await;
        assert_eq!(places.in_flight(), 1);
        tokio::time::sleep(Duration::from_millis(2)).await;
        watchdog.await.expect("the watchdog ends");
        assert_eq!(places.in_flight(), 0);
        assert!(progress.is_expired());
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_ends_with_its_stream() {
        let places = Bulkhead::new();
        let progress = Progress::new(places.try_enter(1).expect("a place"));
        let watchdog = tokio::spawn(watch_progress(
            Arc::downgrade(&progress),
            Duration::from_secs(1),
        ));
        drop(progress);
        assert_eq!(places.in_flight(), 0);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(watchdog.is_finished());
    }

    #[tokio::test(start_paused = true)]
    async fn command_and_pool_objects_carry_every_field_the_dashboard_reads() {
        let command = Command::new(
            "RSSGet",
            &CommandSettings::with_timeout(Duration::from_secs(10)),
        );
        let snapshot = command.snapshot();
        let object = hystrix_command(&snapshot, 1);
        for field in DASHBOARD_COMMAND_FIELDS {
            assert!(object.get(field).is_some(), "HystrixCommand lacks {field}");
        }
        let percentiles = &object["latencyExecute"];
        for (key, _) in PERCENTILE_KEYS {
            assert!(percentiles.get(key).is_some(), "latencyExecute lacks {key}");
        }
        assert_eq!(
            object["propertyValue_executionIsolationThreadTimeoutInMilliseconds"],
            10_000
        );
        let pool = hystrix_thread_pool(&snapshot, 1);
        for field in DASHBOARD_POOL_FIELDS {
            assert!(pool.get(field).is_some(), "HystrixThreadPool lacks {field}");
        }
        assert_eq!(
            pool["currentMaximumPoolSize"], 64,
            "the adaptive limit's start"
        );
        assert_eq!(
            object["propertyValue_executionIsolationSemaphoreMaxConcurrentRequests"],
            64
        );
        assert_eq!(object["currentConcurrentExecutionCount"], 0);
        assert_eq!(object["currentQueuedExecutionCount"], 0);
        assert_eq!(pool["currentQueueSize"], 0);
        assert_eq!(pool["propertyValue_queueSizeRejectionThreshold"], 128);
    }
}
