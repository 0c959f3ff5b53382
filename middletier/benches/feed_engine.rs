//! The feed engine's committed benchmark (docs/benchmarks.md): refresh throughput against a
//! loopback publisher, parse throughput beside raw feed-rs, and the middle tier's peak memory.
//!
//! Run it with `cargo bench -p middletier --bench feed_engine`. It takes under a minute on 2
//! cores (after the build), prints a Markdown table and writes `target/bench/feed_engine.json`.
//! `FEED_ENGINE_CONCURRENCY=n` overrides the fetch concurrency. Without `--bench` (e.g.
//! `cargo test --all-targets`) it runs a small smoke version of itself and writes nothing.
//!
//! `-- --store memory|sqlite|cassandra` picks the store the refresher writes to (default
//! memory), composed as the middle tier composes it: SQLite on a fresh file in the temporary
//! directory (WAL, `synchronous = FULL`, as `SqliteStore::open` sets it) behind the
//! `FeedCache`; Cassandra on the test node (`RSS_TEST_CASSANDRA`, default `127.0.0.1:9042`)
//! in a keyspace of its own, dropped at the end, behind the `FeedCache`. Every refresh writes
//! each feed's items into its history, and every run checks that each item is there.
//!
//! The publisher's feeds are RSS 2.0, 50 items each, about 30 KB: a title, link, guid, date,
//! category and about 300 bytes of HTML description (paragraphs, a link, emphasis, a list, an
//! image) in a CDATA section, as WordPress writes them. The parse benchmark renders the same
//! kind of items as RSS, Atom (escaped HTML summaries) and JSON Feed (`content_html`).
//!
//! # How it measures
//! The machine is shared and noisy, so every figure is the **median** of several runs, and each
//! is set beside a **baseline measured in the same run** on the same machine state:
//! - *cold refresh*: [`Refresher::run_once`] over a fresh store holding every
//!   subscription (all feeds due), beside a bare `reqwest` client making the same GETs at the same
//!   concurrency and reading the bodies without parsing or storing them ("fetch only");
//! - *304 refresh*: `run_once` again on the same store with `now` past `max_interval`, against a
//!   publisher honouring `If-None-Match`, beside the same bare client's conditional GETs;
//! - *parse*: [`feed::parse_with_content_type`] (charset detection, feed-rs, ammonia, plain-text
//!   titles) beside `feed_rs::parser::parse` on the same documents of `feed::MAX_ENTRIES` items, with a breakdown
//!   of where our extra time goes;
//! - *memory*: `VmHWM` of this process around the first cold refresh.
//!
//! Beside wall time it records the CPU time each step cost this process and the publisher
//! (`/proc/<pid>/stat`): other work on the machine slows the wall clock, much less the CPU
//! spent per feed, so the table also says what the cores could do if we had them alone.
//!
//! The publisher runs in a **child process** (this binary, re-executed with
//! `FEED_ENGINE_PUBLISHER=1`) so its pre-rendered feeds stay out of our memory figures and its
//! CPU shows up as a separate process. It prints its address on stdout, serves until killed, and
//! exits by itself when our end of its stdin closes (so even an aborted run leaves nothing
//! behind).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use futures::StreamExt;

use middletier::feed;
use middletier::fetch::{FetchSettings, Fetcher};
use middletier::refresh::{Ownership, RefreshSettings, Refresher};
use middletier::store::{CassandraStore, FeedCache, FeedState, MemoryStore, SqliteStore, Store};
use middletier_api::domain::{FeedUrl, UserId};

/// Set in the child's environment: serve feeds instead of benchmarking.
const PUBLISHER_ENV: &str = "FEED_ENGINE_PUBLISHER";
/// How many feeds the child serves.
const FEEDS_ENV: &str = "FEED_ENGINE_FEEDS";
/// Overrides the fetch concurrency, for tuning without rebuilding.
const CONCURRENCY_ENV: &str = "FEED_ENGINE_CONCURRENCY";

/// Any single timed step taking longer than this is a hang, not a measurement.
const STEP_LIMIT: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
struct Config {
    feeds: usize,
    items_per_feed: usize,
    users: usize,
    /// Repetitions of each refresh measurement (the median is reported).
    runs: usize,
    /// Items in each parse benchmark document.
    parse_items: usize,
    parse_runs: usize,
    /// `max_concurrent` and `max_per_host` alike: every feed is on the one loopback host.
    concurrency: usize,
    store: StoreKind,
}

/// Where the refresher writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StoreKind {
    Memory,
    Sqlite,
    Cassandra,
}

impl StoreKind {
    /// The name after `--store` (memory when none).
    fn from_args() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let Some(at) = args.iter().position(|arg| arg == "--store") else {
            return Self::Memory;
        };
        match args.get(at + 1).map(String::as_str) {
            Some("memory") => Self::Memory,
            Some("sqlite") => Self::Sqlite,
            Some("cassandra") => Self::Cassandra,
            other => panic!("--store takes memory, sqlite or cassandra, not {other:?}"),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Sqlite => "SQLite",
            Self::Cassandra => "Cassandra",
        }
    }

    /// Cold-refresh goal, feeds/s: the memory store's is the engine's; a durable store's
    /// counts every item written to disk.
    fn cold_goal(self) -> f64 {
        match self {
            Self::Memory => 1_000.0,
            Self::Sqlite | Self::Cassandra => 300.0,
        }
    }
}

/// A fresh store of one kind, and what to clean up after it.
struct BenchStore {
    store: Arc<dyn Store>,
    /// SQLite's directory, removed on drop.
    directory: Option<std::path::PathBuf>,
    /// Cassandra's keyspace, dropped by [`BenchStore::remove`].
    keyspace: Option<middletier::store::CassandraSettings>,
}

impl BenchStore {
    async fn open(kind: StoreKind, round: usize) -> Self {
        let unique = format!(
            "{}_{}_{round}",
            std::process::id(),
            Utc::now().timestamp_millis() % 1_000_000
        );
        match kind {
            StoreKind::Memory => Self {
                store: Arc::new(MemoryStore::new()),
                directory: None,
                keyspace: None,
            },
            StoreKind::Sqlite => {
                let directory =
                    std::env::temp_dir().join(format!("middletier-feed-engine-{unique}"));
                let store = SqliteStore::open(&directory.join("rss.db"))
                    .await
                    .expect("open SQLite");
                Self {
                    store: Arc::new(FeedCache::new(store)),
                    directory: Some(directory),
                    keyspace: None,
                }
            }
            StoreKind::Cassandra => {
                let base = middletier::testing::cassandra_settings();
                // What an aborted run left behind goes first.
                drop_bench_keyspaces(&base.nodes).await;
                let settings = middletier::store::CassandraSettings {
                    keyspace: format!("{BENCH_KEYSPACE}{unique}"),
                    ..base
                };
                let store = CassandraStore::connect(&settings)
                    .await
                    .unwrap_or_else(|error| panic!("Cassandra at {}: {error}", settings.nodes));
                Self {
                    store: Arc::new(FeedCache::new(store)),
                    directory: None,
                    keyspace: Some(settings),
                }
            }
        }
    }

    /// Drops the Cassandra keyspace (SQLite's file goes on drop).
    async fn remove(mut self) {
        if let Some(settings) = self.keyspace.take() {
            drop_bench_keyspaces(&settings.nodes).await;
        }
    }
}

/// Every keyspace's name this bench makes starts with this.
const BENCH_KEYSPACE: &str = "bench_feed_engine_";

/// Drops every keyspace of this bench on the Cassandra at `nodes`.
async fn drop_bench_keyspaces(nodes: &str) {
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(nodes)
        .build()
        .await
        .unwrap_or_else(|error| panic!("Cassandra at {nodes}: {error}"));
    let names: Vec<String> = session
        .query_unpaged("SELECT keyspace_name FROM system_schema.keyspaces", ())
        .await
        .expect("list keyspaces")
        .into_rows_result()
        .expect("keyspace rows")
        .rows::<(String,)>()
        .expect("keyspace names")
        .filter_map(|row| row.ok().map(|(name,)| name))
        .filter(|name| name.starts_with(BENCH_KEYSPACE))
        .collect();
    for name in names {
        session
            .query_unpaged(format!("DROP KEYSPACE IF EXISTS {name}"), ())
            .await
            .expect("drop the bench keyspace");
    }
}

impl Drop for BenchStore {
    fn drop(&mut self) {
        if let Some(directory) = &self.directory {
            let _ = std::fs::remove_dir_all(directory);
        }
    }
}

/// The number after `--feeds`, if given.
fn feeds_arg() -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|arg| arg == "--feeds")?;
    let value = args.get(at + 1).expect("--feeds takes a number of feeds");
    Some(value.parse().expect("--feeds takes a number of feeds"))
}

impl Config {
    fn full() -> Self {
        Self {
            // `-- --feeds N` for fewer (a store too slow for 5,000 within the step limit).
            feeds: feeds_arg().unwrap_or(5_000),
            items_per_feed: 50,
            users: 10,
            runs: 5,
            // As many as a document presents (the rest are ignored before parsing them), so
            // raw feed-rs parses no more than we do.
            parse_items: feed::MAX_ENTRIES,
            parse_runs: 9,
            // Tuned: 4, 8, 16 and 64 cost the same CPU per feed within 3%; 16 was the lowest.
            concurrency: 16,
            store: StoreKind::Memory,
        }
    }

    /// Seconds, not minutes: checks that the benchmark still works (`cargo test --all-targets`).
    fn smoke() -> Self {
        Self {
            feeds: 200,
            items_per_feed: 50,
            users: 10,
            runs: 1,
            parse_items: 50,
            parse_runs: 1,
            concurrency: 16,
            store: StoreKind::Memory,
        }
    }
}

fn main() {
    if std::env::var_os(PUBLISHER_ENV).is_some() {
        publisher::main();
        return;
    }
    let full = std::env::args().any(|arg| arg == "--bench");
    let mut config = if full {
        Config::full()
    } else {
        Config::smoke()
    };
    if let Some(concurrency) = std::env::var(CONCURRENCY_ENV)
        .ok()
        .and_then(|value| value.parse().ok())
    {
        config.concurrency = concurrency;
    }
    config.store = StoreKind::from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let report = runtime.block_on(run(&config));
    println!("{}", report.markdown(&config));
    // The smoke run's figures mean nothing: they must not replace a real run's.
    if full && let Some(path) = report.write_json(&config) {
        println!("JSON: {}", path.display());
    }
}

async fn run(config: &Config) -> Report {
    let started = Instant::now();
    let memory_at_start = memory::peak_mib();
    let load_before = machine::load_average();
    let publisher = Publisher::spawn(config.feeds);
    let urls: Vec<FeedUrl> = (0..config.feeds)
        .map(|n| FeedUrl::parse(&publisher.feed_url(n)).expect("feed URL"))
        .collect();
    eprintln!(
        "publisher (pid {}) serves {} feeds at {}",
        publisher.pid, config.feeds, publisher.base
    );

    // Warms the publisher (and the CPU) before anything counts.
    fetch_only(&urls, config.concurrency, publisher.pid).await;

    let mut report = Report::default();
    for round in 0..config.runs {
        let baseline = fetch_only(&urls, config.concurrency, publisher.pid).await;
        let ours = refresh_rounds(config, &urls, publisher.pid, round).await;
        eprintln!(
            "run {}/{}: cold {:.0} feeds/s (fetch only {:.0}), 304 {:.0} feeds/s (bare {:.0})",
            round + 1,
            config.runs,
            rate(config.feeds, ours.cold.wall),
            rate(config.feeds, baseline.cold.wall),
            rate(config.feeds, ours.not_modified.wall),
            rate(config.feeds, baseline.not_modified.wall),
        );
        report.cold.push(ours.cold);
        report.not_modified.push(ours.not_modified);
        report.cold_baseline.push(baseline.cold);
        report.not_modified_baseline.push(baseline.not_modified);
        if let Some(memory) = ours.memory {
            report.memory = memory;
        }
        report.memory_each_cold_run_mib.push(ours.peak_mib);
    }
    report.memory.at_start_mib = memory_at_start;
    drop(publisher);

    let one_feed = render::rss_feed(0, config.items_per_feed);
    report.feed_bytes = one_feed.len();
    report.parse_one_feed = parse_one_feed(&one_feed, config.parse_runs.max(5) * 20);
    for format in [Format::Rss, Format::Atom, Format::Json] {
        report.parse.push(parse_bench(format, config));
    }
    report.load_before = load_before;
    report.load_after = machine::load_average();
    report.elapsed = started.elapsed();
    report
}

/// Wall time of one step, and the CPU time it cost us (every thread of this process) and the
/// publisher: on a shared machine the CPU time is the steadier figure.
#[derive(Clone, Copy, Debug, Default)]
struct Measured {
    wall: Duration,
    cpu: Duration,
    publisher_cpu: Duration,
}

async fn measure<F: std::future::Future>(
    what: &str,
    publisher: u32,
    step: F,
) -> (F::Output, Measured) {
    let (cpu, publisher_cpu) = (cpu::used(None), cpu::used(Some(publisher)));
    let started = Instant::now();
    let output = tokio::time::timeout(STEP_LIMIT, step)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {STEP_LIMIT:?}"));
    let measured = Measured {
        wall: started.elapsed(),
        cpu: cpu::used(None).saturating_sub(cpu),
        publisher_cpu: cpu::used(Some(publisher)).saturating_sub(publisher_cpu),
    };
    (output, measured)
}

/// One pass with a fresh client: every feed fetched, then fetched again conditionally.
#[derive(Debug)]
struct Baseline {
    cold: Measured,
    not_modified: Measured,
}

/// What the middle tier would do at the least: the same GETs at the same concurrency on one
/// pooled client, bodies read to the end and dropped. Then the same with `If-None-Match`.
async fn fetch_only(urls: &[FeedUrl], concurrency: usize, publisher: u32) -> Baseline {
    let client = platform::http::client_builder()
        .build()
        .expect("bare HTTP client");
    let get_all = |conditional: bool| {
        let client = &client;
        futures::stream::iter(urls.iter().enumerate())
            .map(move |(n, url)| async move {
                let mut request = client.get(url.as_str());
                if conditional {
                    request = request.header(header::IF_NONE_MATCH, publisher::etag(n));
                }
                let response = request.send().await.expect("bare GET");
                let status = response.status();
                let body = response.bytes().await.expect("bare body");
                (status, body.len())
            })
            .buffer_unordered(concurrency)
            .collect::<Vec<_>>()
    };

    let (answers, cold) = measure("fetch-only GETs", publisher, get_all(false)).await;
    assert!(
        answers
            .iter()
            .all(|(status, length)| *status == StatusCode::OK && *length > 0),
        "every bare GET gets a feed"
    );
    let (answers, not_modified) = measure("bare conditional GETs", publisher, get_all(true)).await;
    assert!(
        answers
            .iter()
            .all(|(status, _)| *status == StatusCode::NOT_MODIFIED),
        "every bare conditional GET gets 304"
    );
    Baseline { cold, not_modified }
}

#[derive(Debug)]
struct Refreshes {
    cold: Measured,
    not_modified: Measured,
    /// This process's memory around the cold refresh (only when asked for).
    memory: Option<MemoryFigures>,
    /// `VmHWM` after the cold refresh.
    peak_mib: f64,
}

/// Our engine, as deployed: a fresh store holding every subscription, then `run_once` with all
/// feeds due (cold), then again once all of them are due again (every feed answers 304).
async fn refresh_rounds(
    config: &Config,
    urls: &[FeedUrl],
    publisher: u32,
    round: usize,
) -> Refreshes {
    let record_memory = round == 0;
    let opened = BenchStore::open(config.store, round).await;
    let store = Arc::clone(&opened.store);
    subscribe_all(store.as_ref(), urls, config.users).await;
    let fetcher = Fetcher::new(FetchSettings {
        allow_private_networks: true,
        max_concurrent: config.concurrency,
        max_per_host: config.concurrency,
        ..FetchSettings::default()
    })
    .expect("fetcher");
    let settings = RefreshSettings::default();
    let max_interval = settings.max_interval;
    let refresher = Refresher::new(Arc::clone(&store), fetcher, settings, Ownership::solo());

    let reset = memory::reset_peak();
    let before = memory::peak_mib();
    let (refreshed, cold) =
        measure("cold refresh", publisher, refresher.run_once(Utc::now())).await;
    let after = memory::peak_mib();
    let retained = memory::resident_mib();
    let refreshed = refreshed.expect("cold refresh");
    if refreshed != urls.len() {
        // The refresher logs why a save failed; the bench has no log, so it asks the store.
        let probe = FeedState::new(urls[0].clone(), Utc::now());
        let probe = store.save_feed_state(&probe).await;
        drop((refresher, store));
        opened.remove().await;
        panic!(
            "{refreshed} of {} feeds refreshed; saving a feed's state in this store: {probe:?}",
            urls.len(),
        );
    }
    verify(store.as_ref(), urls, config.items_per_feed, 200).await;

    // States keep their next refresh (now + interval); past max_interval every feed is due.
    let later = Utc::now() + max_interval + Duration::from_secs(3600);
    memory::reset_peak();
    let (refreshed, not_modified) =
        measure("304 refresh", publisher, refresher.run_once(later)).await;
    assert_eq!(
        refreshed.expect("304 refresh"),
        urls.len(),
        "every feed refreshed again"
    );
    let after_not_modified = memory::peak_mib();
    verify(store.as_ref(), urls, config.items_per_feed, 304).await;
    drop((refresher, store));
    opened.remove().await;

    Refreshes {
        cold,
        not_modified,
        memory: record_memory.then_some(MemoryFigures {
            at_start_mib: 0.0,
            peak_reset: reset,
            before_cold_mib: before,
            after_cold_mib: after,
            retained_after_cold_mib: retained,
            after_not_modified_mib: after_not_modified,
        }),
        peak_mib: after,
    }
}

/// Spreads the feeds over `users` users (each within the default per-user limit).
async fn subscribe_all(store: &dyn Store, urls: &[FeedUrl], users: usize) {
    let per_user = urls.len().div_ceil(users);
    let max = middletier::service::AccountSettings::default().max_subscriptions_per_user;
    assert!(per_user <= max);
    for (n, url) in urls.iter().enumerate() {
        let user = UserId::parse(&format!("reader{}", n / per_user)).expect("user");
        store.subscribe(&user, url, max).await.expect("subscribe");
    }
}

/// Every feed was stored with all its items, each in its history, and the expected status
/// (outside the timings).
async fn verify(store: &dyn Store, urls: &[FeedUrl], items: usize, status: u16) {
    let states = store.feed_states(urls).await.expect("feed states");
    for (url, state) in urls.iter().zip(states) {
        let state = state.unwrap_or_else(|| panic!("{url} was not stored"));
        assert_eq!(state.last_error, None, "{url}");
        assert_eq!(state.http_status, Some(status), "{url}");
        assert_eq!(state.items.len(), items, "{url}");
        let history = store.history(url).await.expect("history");
        assert_eq!(history.len(), items, "{url}: every item in the history");
    }
}

/// Serial cost of parsing one publisher feed with our layer: the CPU budget of a cold refresh.
fn parse_one_feed(body: &[u8], times: usize) -> Duration {
    let base = url::Url::parse("http://127.0.0.1/feed/0.xml").expect("base");
    median((0..times).map(|_| {
        let started = Instant::now();
        let parsed = feed::parse_with_content_type(body, Some("application/rss+xml"), &base)
            .expect("publisher feed parses");
        let elapsed = started.elapsed();
        std::hint::black_box(parsed);
        elapsed
    }))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Rss,
    Atom,
    Json,
}

impl Format {
    fn label(self) -> &'static str {
        match self {
            Format::Rss => "RSS 2.0",
            Format::Atom => "Atom",
            Format::Json => "JSON Feed",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml",
            Format::Json => "application/feed+json",
        }
    }

    fn render(self, items: usize) -> Vec<u8> {
        match self {
            Format::Rss => render::rss_feed(0, items),
            Format::Atom => render::atom_feed(items),
            Format::Json => render::json_feed(items),
        }
    }
}

#[derive(Debug)]
struct ParseResult {
    format: Format,
    bytes: usize,
    ours: Duration,
    raw: Duration,
    /// Our layer's parts, each timed alone on the same document.
    feed_rs_with_base: Duration,
    /// `feed::sanitize_html` over every description feed-rs returned.
    sanitize: Duration,
}

/// Ours and raw feed-rs on the same bytes, alternating so drift hits both alike.
fn parse_bench(format: Format, config: &Config) -> ParseResult {
    let document = format.render(config.parse_items);
    let base = url::Url::parse("https://news.example.org/feed").expect("base");
    let time = |f: &mut dyn FnMut()| {
        let started = Instant::now();
        f();
        started.elapsed()
    };
    // The strings our layer sanitizes, as feed-rs hands them over.
    let parser = || {
        feed_rs::parser::Builder::new()
            .base_uri(Some(base.as_str()))
            .build()
    };
    let parsed = parser().parse(document.as_slice()).expect("parses");
    let descriptions: Vec<&str> = parsed
        .entries
        .iter()
        .filter_map(|entry| {
            entry
                .summary
                .as_ref()
                .map(|text| text.content.as_str())
                .or_else(|| entry.content.as_ref()?.body.as_deref())
        })
        .collect();

    // Round 0 is not counted: caches, allocator and CPU frequency settle. Ours and raw
    // alternate, so drift hits both alike.
    let mut rounds = Vec::new();
    for round in 0..=config.parse_runs {
        let ours = time(&mut || {
            let parsed =
                feed::parse_with_content_type(&document, Some(format.content_type()), &base)
                    .expect("ours parses");
            assert_eq!(parsed.items.len(), config.parse_items);
            std::hint::black_box(parsed);
        });
        let raw = time(&mut || {
            let parsed = feed_rs::parser::parse(document.as_slice()).expect("feed-rs parses");
            std::hint::black_box(parsed);
        });
        if round > 0 {
            rounds.push([ours, raw, Duration::ZERO, Duration::ZERO]);
        }
    }
    // Our layer's two big parts, in rounds of their own: feed-rs as we call it (with a base
    // URI), and ammonia over the descriptions it returned.
    for round in rounds.iter_mut() {
        round[2] = time(&mut || {
            std::hint::black_box(parser().parse(document.as_slice()).expect("parses"));
        });
        round[3] = time(&mut || {
            for html in &descriptions {
                std::hint::black_box(feed::sanitize_html(html, &base));
            }
        });
    }
    let column = |k: usize| median(rounds.iter().map(|round| round[k]));
    ParseResult {
        format,
        bytes: document.len(),
        ours: column(0),
        raw: column(1),
        feed_rs_with_base: column(2),
        sanitize: column(3),
    }
}

fn median(samples: impl IntoIterator<Item = Duration>) -> Duration {
    let mut sorted: Vec<Duration> = samples.into_iter().collect();
    sorted.sort();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

fn rate(count: usize, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

fn mib_per_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / took.as_secs_f64()
}

fn ms(took: Duration) -> f64 {
    took.as_secs_f64() * 1000.0
}

#[derive(Debug, Default)]
struct MemoryFigures {
    at_start_mib: f64,
    /// Whether `VmHWM` could be reset before the cold refresh (else it is the process's peak).
    peak_reset: bool,
    before_cold_mib: f64,
    after_cold_mib: f64,
    /// `VmRSS` right after: mostly the feed cache the store now holds.
    retained_after_cold_mib: f64,
    /// `VmHWM` after the 304 refresh that follows (reset before it).
    after_not_modified_mib: f64,
}

#[derive(Debug, Default)]
struct Report {
    cold: Vec<Measured>,
    cold_baseline: Vec<Measured>,
    not_modified: Vec<Measured>,
    not_modified_baseline: Vec<Measured>,
    memory: MemoryFigures,
    memory_each_cold_run_mib: Vec<f64>,
    feed_bytes: usize,
    parse_one_feed: Duration,
    parse: Vec<ParseResult>,
    load_before: String,
    load_after: String,
    elapsed: Duration,
}

/// Medians of one kind of step over the runs.
#[derive(Debug)]
struct Summary {
    feeds_per_s: f64,
    /// CPU per feed, ours and the publisher's.
    cpu_us: f64,
    publisher_cpu_us: f64,
}

impl Summary {
    fn of(samples: &[Measured], feeds: usize) -> Self {
        let per_feed = |d: Duration| d.as_secs_f64() * 1e6 / feeds as f64;
        Self {
            feeds_per_s: rate(feeds, median(samples.iter().map(|m| m.wall))),
            cpu_us: per_feed(median(samples.iter().map(|m| m.cpu))),
            publisher_cpu_us: per_feed(median(samples.iter().map(|m| m.publisher_cpu))),
        }
    }

    /// Feeds/s this machine's cores could sustain if we and the publisher had them to
    /// ourselves.
    fn idle_machine_bound(&self) -> Option<f64> {
        let cpu_us = self.cpu_us + self.publisher_cpu_us;
        (cpu_us > 0.0).then(|| machine::cores() as f64 * 1e6 / cpu_us)
    }

    fn json(&self, samples: &[Measured]) -> serde_json::Value {
        serde_json::json!({
            "feeds_per_s": self.feeds_per_s,
            "cpu_us_per_feed": self.cpu_us,
            "publisher_cpu_us_per_feed": self.publisher_cpu_us,
            "runs_s": samples.iter().map(|m| m.wall.as_secs_f64()).collect::<Vec<_>>(),
        })
    }
}

impl ParseResult {
    fn overhead_percent(&self) -> f64 {
        100.0 * (self.ours.as_secs_f64() / self.raw.as_secs_f64() - 1.0)
    }
}

impl Report {
    fn markdown(&self, config: &Config) -> String {
        let feeds = config.feeds;
        let cold = Summary::of(&self.cold, feeds);
        let cold_base = Summary::of(&self.cold_baseline, feeds);
        let not_modified = Summary::of(&self.not_modified, feeds);
        let not_modified_base = Summary::of(&self.not_modified_baseline, feeds);
        let met = |ok: bool| if ok { "yes" } else { "**no**" };
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        let goal = config.store.cold_goal();
        line("## Feed engine benchmark".into());
        line(String::new());
        line(format!(
            "{feeds} distinct feeds of {} items (~{:.0} KB each) from a loopback publisher in a \
             child process, subscribed by {} users, stored in the {} store; medians of {} runs \
             (parse: {} runs); {}.",
            config.items_per_feed,
            self.feed_bytes as f64 / 1000.0,
            config.users,
            config.store.label(),
            config.runs,
            config.parse_runs,
            machine::describe(),
        ));
        line(format!(
            "Fetch settings: `max_concurrent = {c}`, `max_per_host = {c}` (raised from the \
             default 2: every feed is on the one loopback host), `allow_private_networks = true`. \
             Baselines use one bare `reqwest` client at the same concurrency.",
            c = config.concurrency
        ));
        line(String::new());
        line(
            "| Measurement | Ours (median) | Baseline, same run (median) | Ours / baseline \
             | Goal | Met |"
                .into(),
        );
        line("|---|---:|---:|---:|---|---|".into());
        line(format!(
            "| Cold refresh ({feeds} feeds, `Refresher::run_once`) | {:.0} feeds/s | \
             {:.0} feeds/s (fetch only) | {:.0}% | ≥ {goal:.0} feeds/s | {} |",
            cold.feeds_per_s,
            cold_base.feeds_per_s,
            100.0 * cold.feeds_per_s / cold_base.feeds_per_s,
            met(cold.feeds_per_s >= goal)
        ));
        line(format!(
            "| Refresh, all 304 ({feeds} feeds) | {:.0} feeds/s | {:.0} feeds/s (bare \
             conditional GETs) | {:.0}% | ≥ 3,000 feeds/s | {} |",
            not_modified.feeds_per_s,
            not_modified_base.feeds_per_s,
            100.0 * not_modified.feeds_per_s / not_modified_base.feeds_per_s,
            met(not_modified.feeds_per_s >= 3000.0)
        ));
        for parse in &self.parse {
            line(format!(
                "| Parse {} ({} items, {:.2} MiB) | {:.1} MiB/s | {:.1} MiB/s (raw feed-rs) | \
                 overhead {:+.0}% | overhead < 20% | {} |",
                parse.format.label(),
                config.parse_items,
                parse.bytes as f64 / (1024.0 * 1024.0),
                mib_per_s(parse.bytes, parse.ours),
                mib_per_s(parse.bytes, parse.raw),
                parse.overhead_percent(),
                met(parse.overhead_percent() < 20.0)
            ));
        }
        let memory = &self.memory;
        line(format!(
            "| Peak memory (`VmHWM`), cold refresh | {:.0} MiB before → {:.0} MiB after | \
             {:.0} MiB at process start | +{:.0} MiB | reported | — |",
            memory.before_cold_mib,
            memory.after_cold_mib,
            memory.at_start_mib,
            memory.after_cold_mib - memory.before_cold_mib,
        ));
        line(String::new());
        line("CPU time per feed (medians; ours is every thread of this process):".into());
        line(String::new());
        line(
            "| Step | Ours | Publisher | Cores we had (our CPU / wall time) | Feeds/s the cores \
             could do if idle |"
                .into(),
        );
        line("|---|---:|---:|---:|---:|".into());
        for (step, summary) in [
            ("Cold refresh", &cold),
            ("Fetch only", &cold_base),
            ("Refresh, all 304", &not_modified),
            ("Bare conditional GETs", &not_modified_base),
        ] {
            line(format!(
                "| {step} | {:.0} µs | {:.0} µs | {:.2} | {} |",
                summary.cpu_us,
                summary.publisher_cpu_us,
                summary.cpu_us * summary.feeds_per_s / 1e6,
                summary
                    .idle_machine_bound()
                    .map_or_else(|| "—".to_owned(), |bound| format!("{bound:.0}"))
            ));
        }
        line(String::new());
        line("Where the time goes:".into());
        line(format!(
            "- One {:.0} KB publisher feed through our parse layer takes {:.2} ms serially: \
             {:.0}% of the CPU a cold refresh spends per feed.",
            self.feed_bytes as f64 / 1000.0,
            ms(self.parse_one_feed),
            100.0 * ms(self.parse_one_feed) * 1000.0 / cold.cpu_us,
        ));
        for parse in &self.parse {
            let rest = ms(parse.ours) - ms(parse.feed_rs_with_base) - ms(parse.sanitize);
            line(format!(
                "- {}: ours {:.1} ms = feed-rs (with base URI) {:.1} ms + ammonia on \
                 descriptions {:.1} ms ({:.0}%) + links, titles, dates, charset and the rest \
                 {:.1} ms; raw feed-rs {:.1} ms.",
                parse.format.label(),
                ms(parse.ours),
                ms(parse.feed_rs_with_base),
                ms(parse.sanitize),
                100.0 * ms(parse.sanitize) / ms(parse.ours),
                rest,
                ms(parse.raw),
            ));
        }
        line(String::new());
        let per_run = |samples: &[Measured]| {
            samples
                .iter()
                .map(|m| format!("{:.0}", rate(feeds, m.wall)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        line(format!(
            "Every run, feeds/s — cold: {}; fetch only: {}; 304: {}; bare 304: {}.",
            per_run(&self.cold),
            per_run(&self.cold_baseline),
            per_run(&self.not_modified),
            per_run(&self.not_modified_baseline),
        ));
        line(format!(
            "Memory: `VmHWM` {} before the first cold refresh; `VmRSS` right after it {:.0} MiB \
             (the feed cache the store holds); `VmHWM` during the 304 refresh that follows \
             {:.0} MiB; `VmHWM` after each cold run (fresh store each, after the previous \
             run's freed heap): {} MiB.",
            if memory.peak_reset {
                "reset (`/proc/self/clear_refs`)"
            } else {
                "could not be reset: it is the process's peak so far"
            },
            memory.retained_after_cold_mib,
            memory.after_not_modified_mib,
            self.memory_each_cold_run_mib
                .iter()
                .map(|mib| format!("{mib:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
        line(format!(
            "Load average before: {}; after: {}; wall time {:.0} s.",
            self.load_before,
            self.load_after,
            self.elapsed.as_secs_f64()
        ));
        out
    }

    /// `target/bench/feed_engine.json` (`feed_engine-<store>.json` for a store other than
    /// memory), next to this binary's `target/<profile>/deps`.
    fn write_json(&self, config: &Config) -> Option<std::path::PathBuf> {
        let exe = std::env::current_exe().ok()?;
        let directory = exe.parent()?.parent()?.parent()?.join("bench");
        std::fs::create_dir_all(&directory).ok()?;
        let path = directory.join(match config.store {
            StoreKind::Memory => "feed_engine.json".to_owned(),
            other => format!("feed_engine-{}.json", other.label().to_lowercase()),
        });
        let feeds = config.feeds;
        let summary = |samples: &[Measured]| Summary::of(samples, feeds).json(samples);
        let json = serde_json::json!({
            "machine": machine::describe(),
            "config": {
                "feeds": feeds,
                "items_per_feed": config.items_per_feed,
                "feed_bytes": self.feed_bytes,
                "users": config.users,
                "runs": config.runs,
                "max_concurrent": config.concurrency,
                "max_per_host": config.concurrency,
                "store": config.store.label(),
            },
            "cold_refresh": summary(&self.cold),
            "cold_baseline_fetch_only": summary(&self.cold_baseline),
            "not_modified_refresh": summary(&self.not_modified),
            "not_modified_baseline": summary(&self.not_modified_baseline),
            "parse": self.parse.iter().map(|parse| serde_json::json!({
                "format": parse.format.label(),
                "items": config.parse_items,
                "bytes": parse.bytes,
                "ours_mib_per_s": mib_per_s(parse.bytes, parse.ours),
                "feed_rs_mib_per_s": mib_per_s(parse.bytes, parse.raw),
                "overhead_percent": parse.overhead_percent(),
                "ours_ms": ms(parse.ours),
                "feed_rs_with_base_ms": ms(parse.feed_rs_with_base),
                "sanitize_descriptions_ms": ms(parse.sanitize),
            })).collect::<Vec<_>>(),
            "parse_one_feed_ms": ms(self.parse_one_feed),
            "memory_mib": {
                "at_start": self.memory.at_start_mib,
                "peak_reset_before_cold": self.memory.peak_reset,
                "vm_hwm_before_cold": self.memory.before_cold_mib,
                "vm_hwm_after_cold": self.memory.after_cold_mib,
                "vm_rss_after_cold": self.memory.retained_after_cold_mib,
                "vm_hwm_during_304_refresh": self.memory.after_not_modified_mib,
                "vm_hwm_each_cold_run": self.memory_each_cold_run_mib,
            },
            "load_average": { "before": self.load_before, "after": self.load_after },
        });
        let text = serde_json::to_string_pretty(&json).ok()?;
        std::fs::write(&path, text).ok()?;
        Some(path)
    }
}

/// The publisher child process, killed (and reaped) when dropped, panics included.
#[derive(Debug)]
struct Publisher {
    child: Child,
    pid: u32,
    base: String,
}

impl Publisher {
    fn spawn(feeds: usize) -> Self {
        let exe = std::env::current_exe().expect("path of this benchmark");
        let mut child = Command::new(exe)
            .env(PUBLISHER_ENV, "1")
            .env(FEEDS_ENV, feeds.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the publisher");
        let stdout = child.stdout.take().expect("publisher stdout");
        // From here on the guard owns the child: a panic below still kills it.
        let mut publisher = Self {
            pid: child.id(),
            child,
            base: String::new(),
        };
        let mut first_line = String::new();
        BufReader::new(stdout)
            .read_line(&mut first_line)
            .expect("publisher address");
        publisher.base = first_line.trim().to_owned();
        assert!(
            publisher.base.starts_with("http://127.0.0.1:"),
            "publisher said {first_line:?}"
        );
        publisher
    }

    fn feed_url(&self, n: usize) -> String {
        format!("{}/feed/{n}.xml", self.base)
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child process: serves `FEED_ENGINE_FEEDS` pre-rendered feeds on loopback.
mod publisher {
    use super::*;

    #[derive(Debug)]
    struct Feeds {
        bodies: Vec<Bytes>,
        etags: Vec<HeaderValue>,
    }

    /// Feed `n`'s strong validator.
    pub fn etag(n: usize) -> String {
        format!("\"{n}-v1\"")
    }

    pub fn main() {
        let count: usize = std::env::var(FEEDS_ENV)
            .ok()
            .and_then(|value| value.parse().ok())
            .expect("FEED_ENGINE_FEEDS");
        // Rendered once, up front, so serving is a lookup and a clone of `Bytes`.
        let feeds = Arc::new(Feeds {
            bodies: (0..count)
                .map(|n| Bytes::from(render::rss_feed(n, 50)))
                .collect(),
            etags: (0..count)
                .map(|n| HeaderValue::from_str(&etag(n)).expect("etag"))
                .collect(),
        });
        // The parent closing our stdin (it exited, even by abort) ends us.
        std::thread::spawn(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            std::process::exit(0);
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("publisher runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind publisher");
            let address = listener.local_addr().expect("publisher address");
            let mut stdout = std::io::stdout();
            writeln!(stdout, "http://{address}").expect("tell the parent");
            stdout.flush().expect("tell the parent");
            let app = Router::new()
                .route("/feed/{name}", get(feed))
                .with_state(feeds);
            axum::serve(listener, app).await.expect("publisher serves");
        });
    }

    async fn feed(
        State(feeds): State<Arc<Feeds>>,
        Path(name): Path<String>,
        headers: HeaderMap,
    ) -> Response {
        let Some(n) = name
            .strip_suffix(".xml")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n < feeds.bodies.len())
        else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let etag = feeds.etags[n].clone();
        if headers.get(header::IF_NONE_MATCH) == Some(&etag) {
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
        }
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/rss+xml; charset=utf-8"),
                ),
                (header::ETAG, etag),
            ],
            feeds.bodies[n].clone(),
        )
            .into_response()
    }
}

/// Deterministic feed documents: the same bytes on every run and machine.
mod render {
    use super::*;

    const WORDS: &[&str] = &[
        "market",
        "engineers",
        "release",
        "streaming",
        "latency",
        "quarterly",
        "open",
        "source",
        "cluster",
        "resilience",
        "caching",
        "regional",
        "failover",
        "library",
        "update",
        "community",
        "service",
        "availability",
        "report",
        "design",
        "migration",
        "platform",
        "customers",
        "metrics",
        "review",
        "approach",
        "network",
        "traffic",
        "studio",
        "catalog",
    ];

    /// HTML per item description (before XML escaping): with the rest of each item, a 50-item
    /// feed comes to about 30 KB.
    const DESCRIPTION_BYTES: usize = 280;

    /// SplitMix64: a tiny deterministic generator, so documents differ without randomness.
    fn mix(seed: u64) -> u64 {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn sentence(seed: u64, words: usize) -> String {
        let mut text: Vec<&str> = (0..words as u64)
            .map(|k| WORDS[(mix(seed ^ (k << 32)) % WORDS.len() as u64) as usize])
            .collect();
        let first = text[0];
        let capitalised = first[..1].to_uppercase() + &first[1..];
        text[0] = &capitalised;
        text.join(" ")
    }

    fn title(feed: usize, item: usize) -> String {
        let seed = mix(((feed as u64) << 20) | item as u64);
        format!(
            "{} & {} (part {item})",
            sentence(seed, 5),
            sentence(seed.wrapping_add(1), 2)
        )
    }

    /// [`DESCRIPTION_BYTES`] of the HTML blogs put in descriptions: paragraphs, a link, emphasis,
    /// a list and an image.
    fn description(feed: usize, item: usize) -> String {
        let seed = mix(((feed as u64) << 20) | item as u64 | (1 << 40));
        let mut html = format!(
            "<p>{}, <a href=\"https://news.example.org/{feed}/{item}/source\">{}</a> {}.</p>\
             <p><strong>{}</strong> {} <em>{}</em>.</p><ul><li>{}</li><li>{}</li></ul>\
             <p><img src=\"https://cdn.example.org/{feed}-{item}.jpg\" alt=\"{}\"> {}",
            sentence(seed, 3),
            sentence(seed.wrapping_add(1), 2),
            sentence(seed.wrapping_add(2), 2),
            sentence(seed.wrapping_add(3), 1),
            sentence(seed.wrapping_add(4), 3),
            sentence(seed.wrapping_add(5), 1),
            sentence(seed.wrapping_add(6), 2),
            sentence(seed.wrapping_add(7), 2),
            sentence(seed.wrapping_add(8), 1),
            sentence(seed.wrapping_add(9), 1),
        );
        let mut extra = 10;
        while html.len() < DESCRIPTION_BYTES {
            html.push(' ');
            html.push_str(WORDS[(mix(seed.wrapping_add(extra)) % WORDS.len() as u64) as usize]);
            extra += 1;
        }
        html.push_str(".</p>");
        html
    }

    fn published(item: usize) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 - item as i64 * 3_600, 0).expect("date")
    }

    fn escape(text: &str) -> String {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }

    /// Feed `feed` as RSS 2.0, its HTML descriptions in CDATA sections (as WordPress writes them).
    pub fn rss_feed(feed: usize, items: usize) -> Vec<u8> {
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\n\
             <title>Feed {feed}: {}</title><link>https://news.example.org/{feed}/</link>\n\
             <description>{}</description><language>en-us</language>\n",
            escape(&sentence(mix(feed as u64), 3)),
            escape(&sentence(mix(feed as u64 + 1), 12)),
        );
        for item in 0..items {
            xml.push_str(&format!(
                "<item><title>{}</title><link>https://news.example.org/{feed}/{item}</link>\
                 <guid isPermaLink=\"false\">feed-{feed}-item-{item}</guid>\
                 <pubDate>{}</pubDate><category>{}</category>\n<description><![CDATA[{}]]></description></item>\n",
                escape(&title(feed, item)),
                published(item).to_rfc2822(),
                WORDS[item % WORDS.len()],
                description(feed, item),
            ));
        }
        xml.push_str("</channel></rss>\n");
        xml.into_bytes()
    }

    /// An Atom feed with HTML summaries.
    pub fn atom_feed(items: usize) -> Vec<u8> {
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
             <feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Atom bench</title>\
             <id>urn:bench:atom</id><updated>{}</updated>\
             <link rel=\"alternate\" href=\"https://news.example.org/\"/>\n",
            published(0).to_rfc3339(),
        );
        for item in 0..items {
            xml.push_str(&format!(
                "<entry><title>{}</title><id>urn:bench:atom:{item}</id>\
                 <link rel=\"alternate\" href=\"https://news.example.org/atom/{item}\"/>\
                 <updated>{}</updated><author><name>Writer {}</name></author>\n\
                 <summary type=\"html\">{}</summary></entry>\n",
                escape(&title(1, item)),
                published(item).to_rfc3339(),
                item % 7,
                escape(&description(1, item)),
            ));
        }
        xml.push_str("</feed>\n");
        xml.into_bytes()
    }

    /// A JSON Feed 1.1 with `content_html`.
    pub fn json_feed(items: usize) -> Vec<u8> {
        let items: Vec<serde_json::Value> = (0..items)
            .map(|item| {
                serde_json::json!({
                    "id": format!("json-{item}"),
                    "url": format!("https://news.example.org/json/{item}"),
                    "title": title(2, item),
                    "content_html": description(2, item),
                    "date_published": published(item).to_rfc3339(),
                    "tags": [WORDS[item % WORDS.len()]],
                })
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "version": "https://jsonfeed.org/version/1.1",
            "title": "JSON bench",
            "home_page_url": "https://news.example.org/",
            "feed_url": "https://news.example.org/feed.json",
            "items": items,
        }))
        .expect("JSON feed")
    }
}

/// This process's memory, from `/proc/self/status` (Linux).
mod memory {
    fn status_kib(field: &str) -> Option<f64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|line| line.starts_with(field))?;
        line[field.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// `VmHWM`: the peak resident set size, in MiB (0 where unavailable).
    pub fn peak_mib() -> f64 {
        status_kib("VmHWM:").unwrap_or_default() / 1024.0
    }

    pub fn resident_mib() -> f64 {
        status_kib("VmRSS:").unwrap_or_default() / 1024.0
    }

    /// Resets `VmHWM` to the current resident size, so the next peak is the next step's own.
    pub fn reset_peak() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }
}

mod machine {
    pub fn cores() -> usize {
        std::thread::available_parallelism().map_or(1, usize::from)
    }

    pub fn load_average() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .map(|text| {
                text.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|_| "unknown".to_owned())
    }

    pub fn describe() -> String {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split(':').nth(1))
                    .map(|name| name.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        format!(
            "{} cores ({cpu}), {} {}, release profile",
            cores(),
            std::env::consts::OS,
            std::env::consts::ARCH
        )
    }
}

/// CPU time from `/proc/<pid>/stat` (Linux), all threads, user and system.
mod cpu {
    use std::time::Duration;

    /// Clock ticks per second of `/proc` times (`USER_HZ`), 100 on Linux.
    const TICKS_PER_SECOND: u64 = 100;

    /// CPU time used so far by this process (`None`) or by `pid` (zero where unavailable).
    pub fn used(pid: Option<u32>) -> Duration {
        let path = match pid {
            Some(pid) => format!("/proc/{pid}/stat"),
            None => "/proc/self/stat".to_owned(),
        };
        let ticks = std::fs::read_to_string(path).ok().and_then(|stat| {
            // Fields after the command name (which may hold spaces) in parentheses: utime and
            // stime are the 12th and 13th.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let user: u64 = fields.get(11)?.parse().ok()?;
            let system: u64 = fields.get(12)?.parse().ok()?;
            Some(user + system)
        });
        Duration::from_millis(ticks.unwrap_or_default() * 1000 / TICKS_PER_SECOND)
    }
}
