//! The Google Reader API's latency at the edge for a big account: the goal is that an app
//! syncing a user with 500 feeds gets `stream/contents` with `n=1000` in under 200 ms (p95),
//! and marks 1,000 items read with one `edit-tag` in under 200 ms (p95).
//!
//! Starts a registry, a middle tier on the in-memory store and an edge on loopback, in this
//! process, with mutual TLS between edge and middle tier as deployed. The store is loaded
//! directly: user `big` subscribes to 500 feeds of 100 items each (50,000 items, about 400
//! bytes of HTML apiece). An app password is stored through the middle tier's API and the
//! app signs in with ClientLogin once (not timed). Then, from one keep-alive client, as an
//! app syncs:
//!
//! - `GET /reader/api/0/user-info`: the baseline (token check only, no middle-tier call once
//!   the token is cached);
//! - `GET /reader/api/0/stream/contents/user/-/state/com.google/reading-list?n=1000`;
//! - the same with `xt=user/-/state/com.google/read` (unread only);
//! - `GET /reader/api/0/stream/items/ids?n=10000` (references only);
//! - `POST /reader/api/0/edit-tag` with 1,000 `i=` (long form), alternately adding and
//!   removing `read`, so every call changes 1,000 items.
//!
//! Only `200` answers count as served and are timed. It reports the median, p95 and p99 of
//! each, and the answer size. Run it with `cargo bench -p edge --bench greader`; without
//! `--bench` (e.g. `cargo test --all-targets`) it runs a small smoke version.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};

use middletier::store::{FeedState, FeedStore, MemoryStore, Store, SubscriptionStore};
use middletier_api::domain::{FeedUrl, UserId};
use middletier_api::{Item, MiddletierClient, NewAppPassword};
use platform::lifecycle::Shutdown;
use registry_client::ClientSettings;

#[derive(Clone, Copy, Debug)]
struct Config {
    feeds: usize,
    items_per_feed: usize,
    /// Items per `stream/contents` page and ids per `edit-tag`.
    page: usize,
    warmup: usize,
    requests: usize,
}

impl Config {
    fn full() -> Self {
        Self {
            feeds: 500,
            items_per_feed: 100,
            page: 1000,
            warmup: 10,
            requests: 100,
        }
    }

    fn smoke() -> Self {
        Self {
            feeds: 20,
            items_per_feed: 20,
            page: 100,
            warmup: 2,
            requests: 5,
        }
    }
}

const USER: &str = "big";

fn main() {
    let config = if std::env::args().any(|arg| arg == "--bench") {
        Config::full()
    } else {
        Config::smoke()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(config));
}

async fn run(config: Config) {
    let shutdown = Shutdown::new();
    let mut registry_settings =
        registry::testing::credentials().secure(registry::Settings::default());
    registry_settings.server.port = 0;
    let registry = registry::Application::build(registry_settings)
        .await
        .unwrap();
    let eureka = format!("http://127.0.0.1:{}/eureka/v2/", registry.port());
    tokio::spawn(registry.run_until_stopped(shutdown.clone()));
    let client_settings = ClientSettings {
        url: registry::testing::credentials()
            .url_as("middletier", &eureka)
            .into(),
        renewal_interval: Duration::from_secs(1),
        lease_duration: Duration::from_secs(5),
        fetch_interval: Duration::from_millis(200),
    };

    let store = Arc::new(MemoryStore::new());
    let loading = Instant::now();
    load(&store, config).await;
    let loaded_in = loading.elapsed();

    let pki = platform::testing::TestPki::new();
    let mut middletier_settings = middletier::Settings::default();
    middletier_settings.server.port = 0;
    middletier_settings.registry = client_settings.clone();
    middletier_settings.tls = pki.settings("middletier");
    let store: Arc<dyn Store> = store;
    let middletier = middletier::Application::build_with_store(middletier_settings, store)
        .await
        .unwrap();
    let middletier_url = url::Url::parse(&middletier.base_url()).unwrap();
    tokio::spawn(middletier.run_until_stopped(shutdown.clone()));

    let mut settings = edge::Settings::default();
    settings.server.port = 0;
    settings.registry = client_settings;
    settings.tls = pki.settings("edge");
    settings.accounts.single_user = false;
    let edge = edge::Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", edge.port());
    tokio::spawn(edge.run_until_stopped(shutdown.clone()));

    // An app password, stored as the settings page stores one.
    let password = platform::testing::mint_secret();
    let identity = pki.identity("edge");
    let middletier_client = MiddletierClient::with_tls(
        Duration::from_secs(2),
        Duration::from_secs(10),
        identity.client_config("middletier").unwrap(),
    )
    .unwrap();
    let created = middletier_client
        .create_app_password(
            &middletier_url,
            USER,
            &NewAppPassword {
                id: platform::testing::mint_secret()[..16].to_owned(),
                name: "bench".to_owned(),
                secret_hash: edge::apps::secrets::secret_hash(&password),
                fever_hash: edge::apps::secrets::fever_hash(&password),
            },
        )
        .await
        .unwrap();
    assert!(created);

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let auth = sign_in(&http, &base, &password).await;
    let authorization = format!("GoogleLogin auth={auth}");
    let page = config.page;
    let reading_list = "user/-/state/com.google/reading-list";
    let read = "user/-/state/com.google/read";
    let ids = all_ids(&http, &base, &authorization, reading_list).await;
    assert_eq!(ids.len(), config.feeds * config.items_per_feed);
    let batch: Vec<String> = ids[..page.min(ids.len())]
        .iter()
        .map(|id| {
            let number = id.parse::<i64>().unwrap();
            format!("tag:google.com,2005:reader/item/{number:016x}")
        })
        .collect();

    println!(
        "\nGoogle Reader API at the edge: {} feeds x {} items = {} items for one user; {} sequential requests per row after {} warm-up\n",
        config.feeds,
        config.items_per_feed,
        config.feeds * config.items_per_feed,
        config.requests,
        config.warmup
    );
    println!("(store loaded in {loaded_in:.1?})\n");
    println!("| request | median | p95 | p99 | answer size | not served |");
    println!("|---|---|---|---|---|---|");
    let gets = [
        (
            "`user-info` (baseline)".to_owned(),
            "/reader/api/0/user-info".to_owned(),
        ),
        (
            format!("`stream/contents` reading list, `n={page}`"),
            format!(
                "/reader/api/0/stream/contents/{}?n={page}",
                encode(reading_list)
            ),
        ),
        (
            format!("`stream/contents` unread only, `n={page}`"),
            format!(
                "/reader/api/0/stream/contents/{}?n={page}&xt={}",
                encode(reading_list),
                encode(read)
            ),
        ),
        (
            "`stream/items/ids` reading list, `n=10000`".to_owned(),
            format!(
                "/reader/api/0/stream/items/ids?s={}&n=10000",
                encode(reading_list)
            ),
        ),
    ];
    for (name, path) in gets {
        let request = || {
            http.get(format!("{base}{path}"))
                .header("Authorization", &authorization)
        };
        let timing = time(config, |_| request()).await;
        timing.print(&name);
    }
    let bodies: Vec<String> = [true, false]
        .iter()
        .map(|add| {
            let mut body = url::form_urlencoded::Serializer::new(String::new());
            for id in &batch {
                body.append_pair("i", id);
            }
            body.append_pair(if *add { "a" } else { "r" }, read);
            body.finish()
        })
        .collect();
    let timing = time(config, |n| {
        http.post(format!("{base}/reader/api/0/edit-tag"))
            .header("Authorization", &authorization)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(bodies[n % 2].clone())
    })
    .await;
    timing.print(&format!("`edit-tag` of {} ids, read / unread", batch.len()));
    shutdown.cancel();
}

/// Subscribes `big` to the feeds, written straight into the store as the refresher would
/// leave them (fetched, not due again for a day).
async fn load(store: &MemoryStore, config: Config) {
    let user = UserId::parse(USER).unwrap();
    let now = Utc::now();
    let max = middletier::service::AccountSettings::default().max_subscriptions_per_user;
    for feed in 0..config.feeds {
        let url = FeedUrl::parse(&format!("http://feeds.example/{USER}/{feed}.xml")).unwrap();
        store.subscribe(&user, &url, max).await.unwrap();
        let mut state = FeedState::new(url, now);
        state.title = Some(format!("Feed {feed}"));
        state.last_success = Some(now);
        state.last_attempt = Some(now);
        state.http_status = Some(200);
        state.next_refresh = now + TimeDelta::days(1);
        state.items = (0..config.items_per_feed)
            .map(|n| {
                let minutes = i64::try_from(n * config.feeds + feed).unwrap();
                Item {
                    id: format!("urn:item:{feed}:{n}"),
                    title: format!("Story {n} from feed {feed}: a headline of ordinary length"),
                    link: Some(format!("https://feeds.example/{feed}/story/{n}")),
                    description: format!(
                        "<p>Paragraph one of story {n}, with <a href=\"https://example.com/{n}\">a link</a> \
                         and <em>some emphasis</em>, as blogs write them.</p><ul><li>one point</li>\
                         <li>another point</li></ul><p>A second paragraph closes the summary of \
                         this item, long enough to look like a real feed's description text.</p>"
                    ),
                    published: Some((now - TimeDelta::minutes(minutes)).to_rfc3339()),
                    read: false,
                    starred: false,
                    author: None,
                    enclosures: Vec::new(),
                }
            })
            .collect();
        store.save_feed_state(&state).await.unwrap();
    }
}

/// ClientLogin once the edge has discovered the middle tier: the `Auth=` token.
async fn sign_in(http: &reqwest::Client, base: &str, password: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = http
            .post(format!("{base}/accounts/ClientLogin"))
            .form(&[("Email", USER), ("Passwd", password)])
            .send()
            .await;
        if let Ok(response) = response
            && response.status().is_success()
        {
            let body = response.text().await.unwrap();
            return body
                .lines()
                .find_map(|line| line.strip_prefix("Auth="))
                .unwrap()
                .to_owned();
        }
        assert!(Instant::now() < deadline, "ClientLogin never succeeded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every item id (decimal) of a stream.
async fn all_ids(
    http: &reqwest::Client,
    base: &str,
    authorization: &str,
    stream: &str,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut continuation = String::new();
    loop {
        let url = format!(
            "{base}/reader/api/0/stream/items/ids?s={}&n=10000{continuation}",
            encode(stream)
        );
        let page: serde_json::Value = http
            .get(url)
            .header("Authorization", authorization)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.extend(
            page["itemRefs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        match page["continuation"].as_str() {
            Some(next) => continuation = format!("&c={}", encode(next)),
            None => return ids,
        }
    }
}

struct Timing {
    samples: Vec<Duration>,
    size: usize,
    failed: usize,
}

impl Timing {
    fn print(mut self, name: &str) {
        if self.samples.is_empty() {
            println!("| {name} | | | | | {} (all) |", self.failed);
            return;
        }
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} KB | {} |",
            millis(percentile(&mut self.samples, 50.0)),
            millis(percentile(&mut self.samples, 95.0)),
            millis(percentile(&mut self.samples, 99.0)),
            self.size as f64 / 1024.0,
            self.failed
        );
    }
}

/// Times `config.requests` sequential requests after `config.warmup`; `request(n)` builds
/// the n-th.
async fn time(config: Config, request: impl Fn(usize) -> reqwest::RequestBuilder) -> Timing {
    for n in 0..config.warmup {
        request(n).send().await.unwrap().bytes().await.unwrap();
    }
    let mut timing = Timing {
        samples: Vec::with_capacity(config.requests),
        size: 0,
        failed: 0,
    };
    for n in config.warmup..config.warmup + config.requests {
        let started = Instant::now();
        let Ok(response) = request(n).send().await else {
            timing.failed += 1;
            continue;
        };
        let ok = response.status().is_success();
        let Ok(body) = response.bytes().await else {
            timing.failed += 1;
            continue;
        };
        let took = started.elapsed();
        if !ok {
            timing.failed += 1;
            continue;
        }
        timing.samples.push(took);
        timing.size = body.len();
    }
    timing
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile.
fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}
