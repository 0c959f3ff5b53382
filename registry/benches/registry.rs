//! Registry figures for docs/benchmarks.md, measured on loopback only, bounded in time and count:
//!
//! 1. propagation: from `Registration::start` until a `Discovery` of the VIP lists the
//!    instance, and from graceful shutdown until it no longer does (20 trials each), with
//!    watches (ours) and, as the baseline in the same run, polling at the recipe's 2 s; then
//!    across two replicating nodes (register on one, discover on the other);
//! 2. renewals per second one node sustains over HTTP (32 keep-alive connections, 5 s), next
//!    to the cheapest request it serves (`GET /health`) as the baseline, and the in-process
//!    ceiling without HTTP;
//! 3. resident memory per 10,000 registered instances, without and with Eureka's 3-minute
//!    delta queue.
//!
//! Run with `cargo bench -p registry` (release build). The Discovery stands in for the edge:
//! the edge routes to exactly what its `Discovery` lists.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use platform::config::Secret;
use platform::config::ServerSettings;
use platform::health::Health;
use platform::lifecycle::Shutdown;
use registry::{Application, AuthSettings, LeaseSettings, Registry, Settings};
use registry_client::{
    ClientSettings, Discovery, InstanceConfig, InstanceInfo, Registration, RegistryClient,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TRIALS: usize = 20;
const LOAD_CONNECTIONS: usize = 32;
const LOAD_DURATION: Duration = Duration::from_secs(5);
const INSTANCES: usize = 10_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        propagation().await;
        renewals().await;
    });
    memory();
}

struct Node {
    base_url: String,
    port: u16,
    registry: Registry,
    shutdown: Shutdown,
}

/// The secret of this run's `bench` principal (a service) and `peer` principal, minted per
/// run like every test credential.
fn secret() -> &'static str {
    static SECRET: OnceLock<String> = OnceLock::new();
    SECRET.get_or_init(platform::testing::mint_secret)
}

/// `http://bench:<secret>@...`: a registry URL as a service is given it.
fn as_bench(url: &str) -> String {
    url.replacen("http://", &format!("http://bench:{}@", secret()), 1)
}

async fn start_node(settings: Settings) -> Node {
    let application = Application::build(settings).await.unwrap();
    let (port, base_url, registry) = (
        application.port(),
        as_bench(application.base_url().as_str()),
        application.registry(),
    );
    let shutdown = Shutdown::new();
    tokio::spawn(application.run_until_stopped(shutdown.clone()));
    Node {
        base_url,
        port,
        registry,
        shutdown,
    }
}

fn settings_on(port: u16) -> Settings {
    Settings {
        server: ServerSettings::localhost(port),
        auth: AuthSettings {
            services: Secret::new(format!("bench:{}", secret())),
            peers: Secret::new(format!("peer:{}", secret())),
            ..AuthSettings::default()
        },
        ..Settings::default()
    }
}

fn client_settings(url: &str) -> ClientSettings {
    ClientSettings {
        url: url.into(),
        renewal_interval: Duration::from_secs(1),
        lease_duration: Duration::from_secs(3),
        fetch_interval: Duration::from_secs(2),
    }
}

fn instance(port: u16) -> InstanceConfig {
    InstanceConfig {
        app: "middletier".to_owned(),
        vip_address: "middletier".to_owned(),
        host: "127.0.0.1".to_owned(),
        ip_addr: "127.0.0.1".to_owned(),
        port,
        secure: false,
        health_check_path: "/health".to_owned(),
    }
}

/// `TRIALS` rounds of register → visible → stop → gone, timed. With `spread`, registrations
/// and shutdowns fall at different points of the polling cycle (0 to 1.9 s after the poll
/// that saw the last change), as real ones do; without it a polling client would always wait
/// a whole interval.
async fn trials(
    register_on: &str,
    discovery: &Discovery,
    spread: bool,
) -> (Vec<Duration>, Vec<Duration>) {
    let settings = client_settings(register_on);
    let client = RegistryClient::new(&settings).unwrap();
    let mut changes = discovery.subscribe();
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for trial in 0..TRIALS {
        if spread {
            let offset = u64::try_from(trial * 7 % TRIALS).unwrap() * 100;
            tokio::time::sleep(Duration::from_millis(offset)).await;
        }
        let stop = Shutdown::new();
        let started = Instant::now();
        let registration = Registration::start(
            client.clone(),
            instance(20_000 + u16::try_from(trial).unwrap()),
            &settings,
            Health::up(),
            stop.clone(),
        );
        tokio::time::timeout(
            Duration::from_secs(10),
            changes.wait_for(|list| list.len() == 1),
        )
        .await
        .expect("visible")
        .unwrap();
        up.push(started.elapsed());
        if spread {
            let offset = u64::try_from(trial * 11 % TRIALS).unwrap() * 100;
            tokio::time::sleep(Duration::from_millis(offset)).await;
        }
        let stopping = Instant::now();
        stop.cancel();
        registration.stopped().await;
        tokio::time::timeout(
            Duration::from_secs(10),
            changes.wait_for(|list| list.is_empty()),
        )
        .await
        .expect("gone")
        .unwrap();
        down.push(stopping.elapsed());
    }
    (up, down)
}

fn summary(label: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let at = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((samples.len() as f64 - 1.0) * q).ceil() as usize;
        samples[index]
    };
    let median = at(0.5);
    println!(
        "  {label:<44} median {:>8.1} ms   p99 {:>8.1} ms   max {:>8.1} ms",
        ms(median),
        ms(at(0.99)),
        ms(at(1.0))
    );
    median
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

async fn propagation() {
    println!("propagation ({TRIALS} trials each; Discovery stands in for the edge)");
    let node = start_node(settings_on(0)).await;

    let watching = Discovery::new(
        RegistryClient::new(&client_settings(&node.base_url)).unwrap(),
        "middletier",
    );
    let stop_watch = Shutdown::new();
    tokio::spawn(
        watching
            .clone()
            .run(Duration::from_secs(2), true, stop_watch.clone()),
    );
    watching.first_answer().await;
    let (up, down) = trials(&node.base_url, &watching, false).await;
    let watch_up = summary("watch: registration -> listed", up);
    let watch_down = summary("watch: graceful shutdown -> unlisted", down);
    stop_watch.cancel();

    let polling = Discovery::new(
        RegistryClient::new(&client_settings(&node.base_url)).unwrap(),
        "middletier",
    );
    let stop_poll = Shutdown::new();
    tokio::spawn(
        polling
            .clone()
            .run(Duration::from_secs(2), false, stop_poll.clone()),
    );
    polling.first_answer().await;
    let (up, down) = trials(&node.base_url, &polling, true).await;
    let poll_up = summary("baseline, 2 s polling: registration -> listed", up);
    let poll_down = summary("baseline, 2 s polling: shutdown -> unlisted", down);
    stop_poll.cancel();
    println!(
        "  watch is {:.0}x faster to list, {:.0}x faster to unlist (medians)",
        poll_up.as_secs_f64() / watch_up.as_secs_f64(),
        poll_down.as_secs_f64() / watch_down.as_secs_f64()
    );
    node.shutdown.cancel();

    // Two replicating nodes: register on one, discover through the other.
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = settings_on(port_a);
    a.replication.peers = format!("http://peer:{}@127.0.0.1:{port_b}/eureka/v2/", secret()).into();
    let mut b = settings_on(port_b);
    b.replication.peers = format!("http://peer:{}@127.0.0.1:{port_a}/eureka/v2/", secret()).into();
    let (a, b) = (start_node(a).await, start_node(b).await);
    let across = Discovery::new(
        RegistryClient::new(&client_settings(&b.base_url)).unwrap(),
        "middletier",
    );
    let stop_across = Shutdown::new();
    tokio::spawn(
        across
            .clone()
            .run(Duration::from_secs(2), true, stop_across.clone()),
    );
    across.first_answer().await;
    let (up, down) = trials(&a.base_url, &across, false).await;
    summary("replicated: registered on A -> listed via B", up);
    summary("replicated: shutdown on A -> unlisted via B", down);
    stop_across.cancel();
    a.shutdown.cancel();
    b.shutdown.cancel();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn registration(n: usize) -> InstanceInfo {
    let port = u16::try_from(10_000 + n % 50_000).unwrap();
    let mut settings = client_settings("http://127.0.0.1:1/");
    settings.lease_duration = Duration::from_secs(600);
    let mut info = instance(port).instance_info(platform::health::Status::Up, &settings);
    info.instance_id = format!("host-{n}:middletier:{port}");
    info.host_name = format!("host-{n}");
    info
}

/// Requests per second `LOAD_CONNECTIONS` keep-alive connections get for `request(i)` over
/// `LOAD_DURATION`: a minimal HTTP/1.1 client, so the load generator costs little of the two
/// cores the server shares with it.
async fn load(port: u16, request: Arc<dyn Fn(usize) -> String + Send + Sync>) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + LOAD_DURATION;
    let tasks: Vec<_> = (0..LOAD_CONNECTIONS)
        .map(|connection| {
            let (done, failed, request) = (done.clone(), failed.clone(), request.clone());
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut buffer = Vec::with_capacity(4096);
                let mut i = connection;
                while Instant::now() < deadline {
                    stream.write_all(request(i).as_bytes()).await.unwrap();
                    if read_response(&mut stream, &mut buffer).await {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    i += LOAD_CONNECTIONS;
                }
            })
        })
        .collect();
    let started = Instant::now();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(failed.load(Ordering::Relaxed), 0, "failed requests");
    #[allow(clippy::cast_precision_loss)]
    let rate = done.load(Ordering::Relaxed) as f64 / elapsed;
    rate
}

/// Reads one response; true when it was a 200.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    buffer.clear();
    let mut chunk = [0_u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |value| value.trim().parse().unwrap());
            while buffer.len() < end + 4 + length {
                let read = stream.read(&mut chunk).await.unwrap();
                assert!(read > 0, "connection closed");
                buffer.extend_from_slice(&chunk[..read]);
            }
            return head.starts_with("http/1.1 200");
        }
        let read = stream.read(&mut chunk).await.unwrap();
        assert!(read > 0, "connection closed");
        buffer.extend_from_slice(&chunk[..read]);
    }
}

async fn renewals() {
    const REGISTERED: usize = 1_000;
    println!(
        "renewals ({LOAD_CONNECTIONS} connections, {LOAD_DURATION:?}, {REGISTERED} instances)"
    );
    let node = start_node(settings_on(0)).await;
    let ids: Arc<Vec<String>> = Arc::new(
        (0..REGISTERED)
            .map(|n| {
                let info = registration(n);
                let id = info.instance_id.clone();
                node.registry.register(info).unwrap();
                id
            })
            .collect(),
    );
    let health = load(
        node.port,
        Arc::new(|_| "GET /health HTTP/1.1\r\nhost: bench\r\n\r\n".to_owned()),
    )
    .await;
    println!("  baseline GET /health: {health:>10.0} requests/s");
    let renew_ids = ids.clone();
    // Renewals carry the service's credentials, as every client's do.
    let authorization = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("bench:{}", secret()))
    };
    let renewals = load(
        node.port,
        Arc::new(move |i| {
            format!(
                "PUT /eureka/v2/apps/MIDDLETIER/{}?status=UP HTTP/1.1\r\nhost: bench\r\nauthorization: Basic {authorization}\r\ncontent-length: 0\r\n\r\n",
                renew_ids[i % renew_ids.len()]
            )
        }),
    )
    .await;
    println!(
        "  PUT renew:             {renewals:>10.0} renewals/s ({:.0} % of the baseline)",
        renewals / health * 100.0
    );
    node.shutdown.cancel();

    let registry = Registry::new(LeaseSettings::default());
    for n in 0..REGISTERED {
        registry.register(registration(n)).unwrap();
    }
    let started = Instant::now();
    let mut count = 0_u64;
    while started.elapsed() < Duration::from_secs(1) {
        for id in ids.iter() {
            registry.renew("MIDDLETIER", id).unwrap();
        }
        count += REGISTERED as u64;
    }
    #[allow(clippy::cast_precision_loss)]
    let ceiling = count as f64 / started.elapsed().as_secs_f64();
    println!("  in-process ceiling:    {ceiling:>10.0} renewals/s (no HTTP)");
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn memory() {
    println!("memory ({INSTANCES} instances, resident set growth)");
    let infos: Vec<InstanceInfo> = (0..INSTANCES).map(registration).collect();
    let before = resident_bytes();
    let without_delta = Registry::new(LeaseSettings {
        delta_retention: Duration::ZERO,
        ..LeaseSettings::default()
    });
    for info in infos.iter().cloned() {
        without_delta.register(info).unwrap();
    }
    let lean = resident_bytes();
    let with_delta = Registry::new(LeaseSettings::default());
    for info in infos.iter().cloned() {
        with_delta.register(info).unwrap();
    }
    let full = resident_bytes();
    let mib = |bytes: u64| {
        #[allow(clippy::cast_precision_loss)]
        let mib = bytes as f64 / (1024.0 * 1024.0);
        mib
    };
    println!(
        "  registry alone:            {:>6.1} MiB ({} bytes per instance)",
        mib(lean - before),
        (lean - before) / INSTANCES as u64
    );
    println!(
        "  with the 3-min delta queue: {:>6.1} MiB ({} bytes per instance)",
        mib(full - lean),
        (full - lean) / INSTANCES as u64
    );
    let json = serde_json::to_vec(&registry_client::model::ApplicationsDocument {
        applications: with_delta.applications(),
    })
    .unwrap();
    println!(
        "  GET /apps as JSON:         {:>6.1} MiB ({} bytes per instance)",
        mib(json.len() as u64),
        json.len() / INSTANCES
    );
}
