//! How fast the real edge starts and stops calling a middle tier, measured where it counts: at
//! the middle tier. For the registry figures in `docs/benchmarks.md` (the goal: under 1 s, p99
//! of 20 runs).
//!
//! A registry, one steady middle tier and the edge run in this process, each on its own Tokio
//! runtime (as separate processes would), with their default settings except ports and the
//! edge's single-user mode (no sign-in). A reader loads the home page at a steady pace the
//! whole time (every page is a call to a middle tier: the river is not cached while one
//! answers). Then, 20 times, a new real middle tier starts and registers, serves for a while,
//! and stops gracefully (it deregisters, keeps serving for `RSS_SERVER__SHUTDOWN_GRACE`, then
//! drains). Measured per trial:
//!
//! - up: from the start of its registration to the first API request it receives from the edge;
//! - down: from the start of its graceful shutdown to the last API request it receives.
//!
//! The requests are seen through the middle tier's own access log: the `request` span that
//! `platform::server` opens for every request it receives, attributed to an instance by the
//! name of the runtime threads it serves on. Every page the reader loads must succeed
//! without a fallback banner: the bench fails otherwise.
//!
//! Run with `cargo bench -p edge --bench propagation` (release build; about a minute).
//! Loopback only; the load is bounded by `PAGE_EVERY` and the edge's lowest concurrency limit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use middletier::store::{MemoryStore, Store};
use platform::lifecycle::Shutdown;
use tokio::sync::{Semaphore, oneshot, watch};
use tracing::span::{Attributes, Id};
use tracing::{Metadata, Subscriber, field::Field};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

const TRIALS: usize = 20;
/// One page every 4 ms: 250 pages/s, so with two middle tiers in rotation a new one's first
/// request comes at most about 8 ms after the edge could first send it one.
const PAGE_EVERY: Duration = Duration::from_millis(4);
/// How many requests a new middle tier serves before it is stopped: it is in full rotation.
const SERVED_BEFORE_STOP: usize = 25;
/// A step that takes longer than this fails the bench.
const DEADLINE: Duration = Duration::from_secs(10);
/// Thread-name prefix of the middle tiers under test; the steady one is not tracked.
const TRACKED: &str = "mt-trial-";

fn main() {
    let requests = Requests::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(requests.clone()))
        .expect("no other subscriber");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench(requests));
}

async fn bench(requests: Requests) {
    let registry = Service::spawn("registry", |shutdown, ready| async move {
        let mut settings = registry::testing::credentials().secure(registry::Settings::default());
        settings.server.port = 0;
        let app = registry::Application::build(settings).await.unwrap();
        ready.send((app.port(), Instant::now())).unwrap();
        app.run_until_stopped(shutdown).await.unwrap();
    })
    .await;
    let eureka = format!("http://127.0.0.1:{}/eureka/v2/", registry.port);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let steady = spawn_middletier("mt-steady", &eureka, store.clone()).await;
    let edge_eureka = eureka.clone();
    let edge_tls = pki().settings("edge");
    let edge = Service::spawn("edge", move |shutdown, ready| async move {
        let mut settings = edge::Settings::default();
        settings.server.port = 0;
        settings.registry.url = registry::testing::credentials()
            .url_as("edge", &edge_eureka)
            .into();
        settings.tls = edge_tls;
        // No sign-in: every page is the default user's.
        settings.accounts.single_user = true;
        let app = edge::Application::build(settings).await.unwrap();
        ready.send((app.port(), Instant::now())).unwrap();
        app.run_until_stopped(shutdown).await.unwrap();
    })
    .await;
    let page = format!("http://127.0.0.1:{}/", edge.port);
    let http = platform::http::client_builder().build().unwrap();
    platform::testing::eventually("the edge serves pages", DEADLINE, || async {
        load_page(&http, &page).await.is_ok()
    })
    .await;

    let reader = Reader::start(http, page);
    let (mut up, mut down, mut late) = (Vec::new(), Vec::new(), Vec::new());
    for trial in 0..TRIALS {
        let name = format!("{TRACKED}{trial}");
        let mut seen = requests.track(&name);
        let middletier = spawn_middletier(&name, &eureka, store.clone()).await;
        let registering = middletier.started;
        let first = tokio::time::timeout(DEADLINE, seen.wait_for(|seen| seen.count > 0))
            .await
            .expect("the edge sends the new middle tier a request")
            .unwrap()
            .first
            .unwrap();
        up.push(first.saturating_duration_since(registering));
        tokio::time::timeout(
            DEADLINE,
            seen.wait_for(|seen| seen.count >= SERVED_BEFORE_STOP),
        )
        .await
        .expect("the new middle tier is in rotation")
        .unwrap();
        // Stopping right as a request arrives would leave a whole request interval for the edge
        // to catch up before the next one, flattering the figure: spread the stops over the
        // interval between this instance's requests instead, as real shutdowns fall.
        tokio::time::sleep(PAGE_EVERY * 2 * u32::try_from(trial * 7 % TRIALS).unwrap() / 20).await;
        let stopping = Instant::now();
        let before = seen.borrow().count;
        // Returns once it has deregistered, served out its grace period and drained.
        middletier.stop().await;
        let (last, count) = {
            let seen = seen.borrow();
            (seen.last.unwrap(), seen.count)
        };
        // Zero when nothing arrived after shutdown began.
        down.push(last.saturating_duration_since(stopping));
        late.push(count - before);
    }
    let pages = reader.stop().await;

    println!(
        "propagation through the real edge ({TRIALS} trials; one page every {PAGE_EVERY:?}, \
         one steady middle tier besides the one under test)"
    );
    summary("registration -> first request from the edge", up);
    summary("graceful shutdown -> last request from the edge", down);
    println!(
        "  requests after shutdown began: {} in {} of {TRIALS} trials (at most {} in one)",
        late.iter().sum::<usize>(),
        late.iter().filter(|&&n| n > 0).count(),
        late.iter().max().unwrap()
    );
    println!(
        "  pages: {} served, {} failed or fell back, {} ticks skipped (limit reached)",
        pages.served, pages.failed, pages.skipped
    );
    assert_eq!(
        pages.failed, 0,
        "pages failed while middle tiers came and went"
    );
    edge.stop().await;
    steady.stop().await;
    registry.stop().await;
}

/// The deployment CA of this run: edge and middle tiers talk mutual TLS, as deployed.
fn pki() -> &'static platform::testing::TestPki {
    static PKI: std::sync::LazyLock<platform::testing::TestPki> =
        std::sync::LazyLock::new(platform::testing::TestPki::new);
    &PKI
}

/// The middle tiers' `[tls]`, issued once (middle tiers start while others load the files).
fn middletier_tls() -> platform::tls::TlsSettings {
    static TLS: std::sync::LazyLock<platform::tls::TlsSettings> =
        std::sync::LazyLock::new(|| pki().settings("middletier"));
    TLS.clone()
}

/// A real middle tier with its default settings (1 s shutdown grace, 30 s renewals), sharing
/// `store`, on runtime threads named `name`. Its start time is taken just before it registers.
async fn spawn_middletier(name: &str, eureka: &str, store: Arc<dyn Store>) -> Service {
    let mut settings = middletier::Settings::default();
    settings.server.port = 0;
    settings.registry.url = registry::testing::credentials()
        .url_as("middletier", eureka)
        .into();
    settings.tls = middletier_tls();
    Service::spawn(name, move |shutdown, ready| async move {
        let app = middletier::Application::build_with_store(settings, store)
            .await
            .unwrap();
        // `run_until_stopped` starts the registration first thing.
        ready.send((app.port(), Instant::now())).unwrap();
        app.run_until_stopped(shutdown).await.unwrap();
    })
    .await
}

/// One service on a runtime of its own, its threads named after it.
struct Service {
    port: u16,
    /// Just before it started serving (and, for a middle tier, registering).
    started: Instant,
    shutdown: Shutdown,
    thread: JoinHandle<()>,
}

impl Service {
    async fn spawn<F, Fut>(name: &str, start: F) -> Service
    where
        F: FnOnce(Shutdown, oneshot::Sender<(u16, Instant)>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let shutdown = Shutdown::new();
        let token = shutdown.clone();
        let (ready_tx, ready_rx) = oneshot::channel();
        let thread_name = name.to_owned();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name(thread_name)
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(start(token, ready_tx));
            })
            .unwrap();
        let (port, started) = ready_rx.await.expect("the service started");
        Service {
            port,
            started,
            shutdown,
            thread,
        }
    }

    /// Graceful stop; returns when the service has finished.
    async fn stop(self) {
        self.shutdown.cancel();
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
    }
}

/// What one middle tier has received.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    count: usize,
    first: Option<Instant>,
    last: Option<Instant>,
}

/// A tracing layer that timestamps the API requests arriving at tracked middle tiers.
#[derive(Clone, Default)]
struct Requests {
    by_thread: Arc<Mutex<HashMap<String, watch::Sender<Seen>>>>,
}

impl Requests {
    fn track(&self, thread: &str) -> watch::Receiver<Seen> {
        let (sender, receiver) = watch::channel(Seen::default());
        self.by_thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(thread.to_owned(), sender);
        receiver
    }
}

impl<S: Subscriber> Layer<S> for Requests {
    /// Only request spans: nothing else in the process pays for this layer.
    fn register_callsite(
        &self,
        metadata: &'static Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if metadata.is_span() && metadata.name() == "request" {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.is_span() && metadata.name() == "request"
    }

    fn on_new_span(&self, attributes: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let now = Instant::now();
        let thread = std::thread::current();

        let Some(name) = thread.name().filter(|name| name.starts_with(TRACKED)) else {
            return;
        };
        let mut route = RouteField(String::new());
        attributes.record(&mut route);
        // The API only: health checks and metrics scrapes are not routed traffic.
        if !route.0.starts_with("/middletier/") {
            return;
        }
        let by_thread = self
            .by_thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(seen) = by_thread.get(name) {
            seen.send_modify(|seen| {
                seen.count += 1;
                seen.first.get_or_insert(now);
                seen.last = Some(now);
            });
        }
    }
}

/// The request's route (`platform::server` records the route template, e.g.
/// `/middletier/rss/user/{user}`).
struct RouteField(String);

impl tracing::field::Visit for RouteField {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "route" {
            self.0 = format!("{value:?}");
        }
    }
}

/// Loads the home page at a steady pace until stopped.
struct Reader {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Pages>,
}

#[derive(Debug, Default)]
struct Pages {
    served: usize,
    failed: usize,
    skipped: usize,
}

impl Reader {
    fn start(http: reqwest::Client, page: String) -> Reader {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let task = tokio::spawn(async move {
            let served = Arc::new(AtomicUsize::new(0));
            let failed = Arc::new(AtomicUsize::new(0));
            let mut skipped = 0;
            // Never more pages in flight than the edge admits at its lowest concurrency limit:
            // when the shared machine stalls, a tick is skipped (and counted) rather than
            // queued, so the edge sheds nothing and every page tells whether routing worked.
            let max_in_flight = edge::upstream::CommandsSettings::default()
                .get
                .concurrency
                .min_limit;
            let in_flight = Arc::new(Semaphore::new(usize::try_from(max_in_flight).unwrap()));
            let started = Instant::now();
            let mut ticks = tokio::time::interval(PAGE_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            while !stopping.load(Ordering::Relaxed) {
                ticks.tick().await;
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    skipped += 1;
                    continue;
                };
                let (http, page) = (http.clone(), page.clone());
                let (served, failed) = (served.clone(), failed.clone());
                tokio::spawn(async move {
                    match load_page(&http, &page).await {
                        Ok(()) => served.fetch_add(1, Ordering::Relaxed),
                        Err(problem) => {
                            println!("  page failed at {:?}: {problem}", started.elapsed());
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    drop(permit);
                });
            }
            // Every page sent is answered before the counts are read.
            let _all = in_flight.acquire_many(max_in_flight).await.unwrap();
            Pages {
                served: served.load(Ordering::Relaxed),
                failed: failed.load(Ordering::Relaxed),
                skipped,
            }
        });
        Reader { stop, task }
    }

    async fn stop(self) -> Pages {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

/// A page as a user sees it: 200 and no banner (a fallback or an error says it was not live).
async fn load_page(http: &reqwest::Client, page: &str) -> Result<(), String> {
    let response = http.get(page).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let html = response.text().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("status {status}"));
    }
    if let Some(start) = html.find("class=\"banner") {
        let banner = &html[start..];
        let banner = &banner[..banner.find("</div>").unwrap_or(banner.len())];
        return Err(format!("the page shows a banner: {banner}"));
    }
    Ok(())
}

/// Prints median, p99 (nearest rank: of 20 samples, the largest) and max.
fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let rank = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = (q * samples.len() as f64).ceil() as usize;
        samples[rank.clamp(1, samples.len()) - 1]
    };
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    println!(
        "  {label:<48} median {:>7.1} ms   p99 {:>7.1} ms   max {:>7.1} ms",
        ms(rank(0.5)),
        ms(rank(0.99)),
        ms(rank(1.0))
    );
}
