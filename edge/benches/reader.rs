//! The reader's page latency with many feeds: the goal is that a user with 500 feeds and
//! 50,000 items still gets a page in under 100 ms from the edge.
//!
//! Starts a registry, a middle tier on the in-memory store and two edges on loopback, in this
//! process. The store is loaded directly (no publisher): user `big` subscribes to 500 feeds
//! of 100 items each (50,000 items, about 400 bytes of HTML apiece), user `small` to one feed
//! of 100 items. Each edge runs in single-user mode as one of them, so no sign-in is timed.
//! Then it times sequential `GET`s from one keep-alive client, as a reader clicking would:
//!
//! - `GET /health` on the edge: the baseline, the cheapest request it serves;
//! - `GET /` for `small`: the river of a one-feed user (the same page machinery, tiny data);
//! - `GET /`, `/?filter=all`, `/?feed=<one of 500>` and the second page for `big`;
//! - the reading view of an item in the middle of `big`'s `/?filter=all` page
//!   (`/items/<number>?filter=all&keep_unread=1`: the item by number and the list's page for
//!   its neighbours), to compare with the river page in the same run.
//!
//! Every item has an author; every fifth an audio enclosure (a podcast episode). Items are
//! first seen when published; `-- --same-second` makes every current item first seen in the
//! same second instead (the worst case for finding an item by its number).
//!
//! `-- --history N` gives each feed `N` older items that have left its current document and
//! are only in its history (e.g. `--history 1900` for 500 feeds x 2,000 retained items, the
//! default retention cap), loaded with `insert_history`: every page then merges and counts
//! over the whole history.
//!
//! Every answer is checked: only a `200` page without a banner (the stale fallback and error
//! pages carry one) that shows items counts as served and is timed; anything else is counted
//! apart and reported. It reports the median and p99 of each, and the page size. Run it with
//! `cargo bench -p edge --bench reader` (release build; loading takes a few seconds). Without
//! `--bench` (e.g. `cargo test --all-targets`) it runs a small smoke version.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};

use middletier::store::{
    FeedState, FeedStore, HistoryStore, MemoryStore, Store, StoredItem, SubscriptionStore,
};
use middletier_api::Item;
use middletier_api::domain::{FeedUrl, UserId};
use platform::lifecycle::Shutdown;
use registry_client::ClientSettings;

#[derive(Clone, Copy, Debug)]
struct Config {
    feeds: usize,
    items_per_feed: usize,
    /// Older items in each feed's history only.
    history: usize,
    warmup: usize,
    requests: usize,
}

impl Config {
    fn full() -> Self {
        Self {
            feeds: 500,
            items_per_feed: 100,
            history: history_arg().unwrap_or(0),
            warmup: 20,
            requests: 300,
        }
    }

    fn smoke() -> Self {
        Self {
            feeds: 20,
            items_per_feed: 20,
            history: history_arg().unwrap_or(20),
            warmup: 2,
            requests: 10,
        }
    }
}

/// `--same-second`: every current item first seen in the same second (see [`load`]).
fn same_second() -> bool {
    std::env::args().any(|arg| arg == "--same-second")
}

/// The number after `--history`, if given.
fn history_arg() -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|arg| arg == "--history")?;
    let value = args.get(at + 1).expect("--history takes a number of items");
    Some(value.parse().expect("--history takes a number of items"))
}

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
    // One principal for the edges and the middle tier: the bench measures reading, not trust.
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
    let big_feeds = load(
        &store,
        "big",
        config.feeds,
        config.items_per_feed,
        config.history,
    )
    .await;
    load(&store, "small", 1, config.items_per_feed, 0).await;
    let loaded_in = loading.elapsed();

    // Mutual TLS between edge and middle tier, as deployed.
    let pki = platform::testing::TestPki::new();
    let mut middletier_settings = middletier::Settings::default();
    middletier_settings.server.port = 0;
    middletier_settings.registry = client_settings.clone();
    middletier_settings.tls = pki.settings("middletier");
    let store: Arc<dyn Store> = store;
    let middletier = middletier::Application::build_with_store(middletier_settings, store)
        .await
        .unwrap();
    tokio::spawn(middletier.run_until_stopped(shutdown.clone()));

    let edge_tls = pki.settings("edge");
    let big = start_edge(&client_settings, &edge_tls, "big", &shutdown).await;
    let small = start_edge(&client_settings, &edge_tls, "small", &shutdown).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    for edge in [&big, &small] {
        wait_for_items(&http, edge).await;
    }

    let second_page = older_link(&http, &big).await;
    let reading = format!("{}&keep_unread=1", reading_link(&http, &big).await);
    let one_feed = format!("/?feed={}", encode(&big_feeds[big_feeds.len() / 2]));
    let feeds = config.feeds;
    let cases: Vec<(String, String, String)> = vec![
        (
            "edge `GET /health` (baseline)".into(),
            big.clone(),
            "/health".into(),
        ),
        (
            "`/` for a 1-feed user (baseline)".into(),
            small.clone(),
            "/".into(),
        ),
        (
            format!("`/` (unread), {feeds} feeds"),
            big.clone(),
            "/".into(),
        ),
        (
            format!("`/?filter=all`, {feeds} feeds"),
            big.clone(),
            "/?filter=all".into(),
        ),
        ("`/?feed=…` (one feed's view)".into(), big.clone(), one_feed),
        (
            "second page (`before=` cursor)".into(),
            big.clone(),
            second_page,
        ),
        (
            "reading view `/items/<number>?filter=all`".into(),
            big.clone(),
            reading,
        ),
    ];
    println!(
        "\nReader page latency: {} feeds x ({} current + {} older) items = {} items for `big`; {} sequential requests per row after {} warm-up\n",
        config.feeds,
        config.items_per_feed,
        config.history,
        config.feeds * (config.items_per_feed + config.history),
        config.requests,
        config.warmup
    );
    println!("(store loaded in {loaded_in:.1?})\n");
    println!("| request | median | p99 | max | page size | not served |");
    println!("|---|---|---|---|---|---|");
    for (name, base, path) in cases {
        let (mut samples, size, failed) = time(&http, &base, &path, config).await;
        if samples.is_empty() {
            println!("| {name} | | | | | {failed} (all) |");
            continue;
        }
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} KB | {failed} |",
            millis(percentile(&mut samples, 50.0)),
            millis(percentile(&mut samples, 99.0)),
            millis(percentile(&mut samples, 100.0)),
            size as f64 / 1024.0
        );
    }
    shutdown.cancel();
}

/// Subscribes `user` to `feeds` feeds of `items` items each, written straight into the store
/// as the refresher would leave them (fetched, not due again for a day), each with `history`
/// older items that only its history holds.
async fn load(
    store: &MemoryStore,
    name: &str,
    feeds: usize,
    items: usize,
    history: usize,
) -> Vec<String> {
    let user = UserId::parse(name).unwrap();
    let now = Utc::now();
    let max = middletier::service::AccountSettings::default().max_subscriptions_per_user;
    let mut urls = Vec::with_capacity(feeds);
    for feed in 0..feeds {
        let raw = format!("http://feeds.example/{name}/{feed}.xml");
        let url = FeedUrl::parse(&raw).unwrap();
        store.subscribe(&user, &url, max).await.unwrap();
        let mut state = FeedState::new(url, now);
        state.title = Some(format!("Feed {feed} of {name}"));
        state.last_success = Some(now);
        state.last_attempt = Some(now);
        state.http_status = Some(200);
        state.next_refresh = now + TimeDelta::days(1);
        // Feeds interleave in time, as a river of many feeds does.
        let item = |n: usize| {
            let minutes = i64::try_from(n * feeds + feed).unwrap();
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
                author: Some(format!("Writer {feed}")),
                enclosures: if n.is_multiple_of(5) {
                    vec![middletier_api::Enclosure {
                        url: format!("https://cdn.example/{feed}/{n}.mp3"),
                        media_type: Some("audio/mpeg".to_owned()),
                        length: Some(24_000_000),
                        duration: Some(1800),
                        image: None,
                    }]
                } else {
                    Vec::new()
                },
            }
        };
        let older: Vec<StoredItem> = (items..items + history)
            .map(|n| {
                let item = item(n);
                let seen = chrono::DateTime::parse_from_rfc3339(item.published.as_deref().unwrap())
                    .unwrap()
                    .with_timezone(&Utc);
                StoredItem { item, seen }
            })
            .collect();
        store.insert_history(&state.url, &older).await.unwrap();
        state.items = (0..items).map(item).collect();
        // Each item first seen when it was published, as a feed refreshed over time leaves
        // them: an item's number encodes its first-seen second, and the middle tier finds a
        // number among the items first seen in that second (`--same-second` puts every
        // current item in one second, as right after subscribing to all 500 at once).
        if !same_second() {
            for item in &state.items {
                let published = item.published.as_deref().unwrap();
                let seen = chrono::DateTime::parse_from_rfc3339(published).unwrap();
                state
                    .first_seen
                    .insert(item.id.clone(), seen.with_timezone(&Utc));
            }
        }
        store.save_feed_state(&state).await.unwrap();
        urls.push(raw);
    }
    urls
}

async fn start_edge(
    registry: &ClientSettings,
    tls: &platform::tls::TlsSettings,
    user: &str,
    shutdown: &Shutdown,
) -> String {
    let mut settings = edge::Settings::default();
    settings.server.port = 0;
    settings.registry = registry.clone();
    settings.tls = tls.clone();
    settings.accounts.single_user = true;
    settings.ui.default_user = user.to_owned();
    let edge = edge::Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", edge.port());
    tokio::spawn(edge.run_until_stopped(shutdown.clone()));
    base
}

/// Until the edge has discovered the middle tier and renders the user's items.
async fn wait_for_items(http: &reqwest::Client, edge: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = http.get(format!("{edge}/")).send().await
            && response.status().is_success()
            && response
                .text()
                .await
                .is_ok_and(|html| html.contains("data-item"))
        {
            return;
        }
        assert!(Instant::now() < deadline, "{edge} never showed items");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The "Older items" link of the first page.
async fn older_link(http: &reqwest::Client, edge: &str) -> String {
    let html = http
        .get(format!("{edge}/?filter=all"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = html
        .find(r#"rel="next""#)
        .and_then(|end| html[..end].rfind(r#"href=""#))
        .expect("the first page links to older items")
        + r#"href=""#.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].replace("&amp;", "&")
}

/// The reading view of the middle item of the first `/?filter=all` page, as its link there.
async fn reading_link(http: &reqwest::Client, edge: &str) -> String {
    let html = http
        .get(format!("{edge}/?filter=all"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let links: Vec<&str> = html
        .split(r#"href=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| href.starts_with("/items/") && !href.starts_with("/items/open"))
        .collect();
    assert!(
        !links.is_empty(),
        "the river links its items' reading views"
    );
    links[links.len() / 2]
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// The served answers' latencies, the last one's size, and how many answers were not the page
/// asked for (an error, or a page with a banner: stale, or an error page).
async fn time(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    config: Config,
) -> (Vec<Duration>, usize, usize) {
    let url = format!("{base}{path}");
    let page = path != "/health";
    let mut size = 0;
    let mut failed = 0;
    for _ in 0..config.warmup {
        http.get(&url).send().await.unwrap().bytes().await.unwrap();
    }
    let mut samples = Vec::with_capacity(config.requests);
    for _ in 0..config.requests {
        let started = Instant::now();
        let Ok(response) = http.get(&url).send().await else {
            failed += 1;
            continue;
        };
        let ok = response.status().is_success();
        let Ok(body) = response.bytes().await else {
            failed += 1;
            continue;
        };
        let took = started.elapsed();
        if !ok || (page && !served(&body)) {
            failed += 1;
            continue;
        }
        samples.push(took);
        size = body.len();
    }
    (samples, size, failed)
}

/// A page as asked for: items shown, and no banner (what the stale fallback and error pages
/// carry).
fn served(body: &[u8]) -> bool {
    let html = String::from_utf8_lossy(body);
    html.contains("data-item") && !html.contains(r#"class="banner banner-"#)
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
