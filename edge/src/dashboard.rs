//! The edge's live resilience dashboard and its streams, served on the admin port (the public
//! port has none of them: they show the edge's internals to operators, not to readers).
//!
//! - `GET /hystrix.stream`: the Hystrix metrics stream (see [`crate::stream`]), for the real
//!   Hystrix dashboard or Turbine as well as for ours.
//! - `GET /dashboard`: per command the circuit state, request and error rates, and latency
//!   percentiles; per middle-tier instance its state in the balancer (available or ejected),
//!   requests in flight, latency average and failures. Rendered on the server, so it is
//!   readable without JavaScript; `/static/dashboard.js` (served here, no CDN) then keeps it
//!   live from `/hystrix.stream` and `/dashboard/instances.stream`.
//!
//! The dashboard is the one page that runs a script, so it alone widens the Content Security
//! Policy, to scripts and connections from this origin only.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use platform::lifecycle::Shutdown;

use crate::balancer::InstanceView;
use crate::resilience::breaker::State as Circuit;
use crate::resilience::bulkhead::Bulkhead;
use crate::resilience::command::CommandSnapshot;
use crate::resilience::stats::Event;
use crate::stream::{self, StreamSettings};
use crate::upstream::Upstream;

const DASHBOARD_JS: &str = include_str!("../assets/dashboard.js");

/// The main policy plus this origin's own script and event streams.
const DASHBOARD_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

#[derive(Clone, Debug)]
pub struct DashboardState {
    pub upstream: Arc<Upstream>,
    pub settings: StreamSettings,
    /// Ends open streams when the edge stops.
    pub shutdown: Shutdown,
    pub user: String,
    /// Open streams per endpoint, each bounded by `settings.max_connections`.
    hystrix: Arc<Bulkhead>,
    instances: Arc<Bulkhead>,
}

impl DashboardState {
    pub fn new(
        upstream: Arc<Upstream>,
        settings: StreamSettings,
        shutdown: Shutdown,
        user: String,
    ) -> Self {
        Self {
            upstream,
            settings,
            shutdown,
            user,
            hystrix: Bulkhead::new(),
            instances: Bulkhead::new(),
        }
    }
}

pub fn router(state: DashboardState) -> Router {
    Router::new()
        .route("/hystrix.stream", get(hystrix_stream))
        .route("/dashboard", get(dashboard))
        .route("/dashboard/instances.stream", get(instances_stream))
        .route("/static/dashboard.js", get(script))
        .with_state(state)
}

async fn hystrix_stream(State(state): State<DashboardState>) -> Response {
    let upstream = state.upstream.clone();
    stream::sse(
        &state.hystrix,
        &state.settings,
        &state.shutdown,
        move || {
            let now = stream::now_millis();
            let snapshots: Vec<CommandSnapshot> =
                upstream.commands().iter().map(|c| c.snapshot()).collect();
            let commands = snapshots.iter().map(|s| stream::hystrix_command(s, now));
            let pools = snapshots
                .iter()
                .map(|s| stream::hystrix_thread_pool(s, now));
            commands.chain(pools).collect()
        },
    )
}

async fn instances_stream(State(state): State<DashboardState>) -> Response {
    let upstream = state.upstream.clone();
    stream::sse(
        &state.instances,
        &state.settings,
        &state.shutdown,
        move || vec![instances_event(&upstream)],
    )
}

/// The balancer's view of the middle tiers, as one event.
fn instances_event(upstream: &Upstream) -> Value {
    json!({
        "type": "Instances",
        "currentTime": stream::now_millis(),
        "retriesRefused": upstream.retries_refused(),
        "instances": upstream.instances(),
    })
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        DASHBOARD_JS,
    )
}

async fn dashboard(State(state): State<DashboardState>) -> Response {
    let window = state.upstream.commands().first().map_or(10.0, |c| {
        c.snapshot().settings.breaker.rolling_window.as_secs_f64()
    });
    let page = DashboardPage {
        commands: state
            .upstream
            .commands()
            .iter()
            .map(|command| CommandView::new(&command.snapshot()))
            .collect(),
        instances: state.upstream.instances(),
        retries_refused: state.upstream.retries_refused(),
        window_secs: window,
    };
    let mut response = page.into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DASHBOARD_CSP),
    );
    response
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    commands: Vec<CommandView>,
    instances: Vec<InstanceView>,
    retries_refused: u64,
    window_secs: f64,
}

/// One command's row, as the script also computes it from the stream.
#[derive(Debug)]
struct CommandView {
    name: &'static str,
    /// `closed`, `open` or `half-open`.
    circuit: &'static str,
    requests: u64,
    error_percentage: u64,
    success: u64,
    failure: u64,
    timeout: u64,
    short_circuited: u64,
    rejected: u64,
    fallback_success: u64,
    from_cache: u64,
    /// Executions in flight, the limit now, and waiters in the queue.
    concurrent: u32,
    limit: u32,
    queued: u32,
    /// Milliseconds: median, 90th, 99th, 99.5th percentile, maximum.
    p50: u64,
    p90: u64,
    p99: u64,
    p995: u64,
    max: u64,
}

impl CommandView {
    fn new(snapshot: &CommandSnapshot) -> Self {
        let counts = &snapshot.counts;
        let p = &snapshot.latencies.percentiles;
        Self {
            name: snapshot.name,
            circuit: match snapshot.circuit {
                Circuit::Closed => "closed",
                Circuit::Open { .. } => "open",
                Circuit::HalfOpen => "half-open",
            },
            requests: counts.requests(),
            error_percentage: counts.error_percentage(),
            success: counts.get(Event::Success),
            failure: counts.get(Event::Failure),
            timeout: counts.get(Event::Timeout),
            short_circuited: counts.get(Event::ShortCircuited),
            rejected: counts.get(Event::SemaphoreRejected),
            fallback_success: counts.get(Event::FallbackSuccess),
            from_cache: counts.get(Event::ResponseFromCache),
            concurrent: snapshot.occupancy.in_flight,
            limit: snapshot.occupancy.limit,
            queued: snapshot.occupancy.queued,
            p50: p[2],
            p90: p[4],
            p99: p[6],
            p995: p[7],
            max: p[8],
        }
    }
}
