//! The river's benchmark: how long a page of the river of news takes for a user with
//! 500 feeds of 100 items each (50,000 items), on the memory store and, when asked, on Cassandra.
//!
//! Run it with `cargo bench -p middletier --bench river` (add `-- --cassandra` with
//! `deploy/cassandra/run.sh start` running to include Cassandra). Without `--bench` (e.g.
//! `cargo test --all-targets`) it runs a small smoke version of itself.
//!
//! The user has read 50 feeds entirely (a "mark all as read" watermark each), 2,250 items
//! one by one, and starred 100. Items carry about 600 bytes of HTML, as real feeds do.
//!
//! `-- --history N` gives each feed `N` older items that have left its current document and
//! are only in its history (e.g. `--history 1900` for 500 feeds x 2,000 retained items, the
//! default retention cap): the merge and unread counts run over the whole history, and pages
//! of older items read their content from it. The memory store then holds about 600 bytes of
//! content per item (some 600 MB for 1,000,000 items).
//!
//! Every figure is the **median** (and p90) of many runs:
//! - *service*: [`FeedService::river`](middletier::service::FeedService::river) in process:
//!   the store reads, the k-way merge over 500 feeds and the unread counts of all 500 (what the
//!   middle tier adds to a request);
//! - *HTTP*: the same page through [`MiddletierClient::river`] on loopback, JSON both ways
//!   (what the edge waits for).
//!
//! On Cassandra the first page after start-up reads and decodes every feed partition ("cold");
//! later pages within [`FEED_CACHE_FRESH_FOR`] use the process cache ("warm"); after that, one
//! small read per feed revalidates it ("revalidate").

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use middletier::fetch::FetchSettings;
use middletier::store::{
    FEED_CACHE_FRESH_FOR, FeedState, MarkChange, MemoryStore, Store, StoredItem,
};
use middletier_api::MiddletierClient;
use middletier_api::domain::{FeedUrl, UserId};
use middletier_api::{Filter, Item, RiverQuery};

struct Config {
    feeds: usize,
    /// Items in each feed's current document.
    items: usize,
    /// Older items in each feed's history only.
    history: usize,
    runs: usize,
}

/// The number after `--history`, if given.
fn history_arg() -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|arg| arg == "--history")?;
    let value = args.get(at + 1).expect("--history takes a number of items");
    Some(value.parse().expect("--history takes a number of items"))
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let cassandra = std::env::args().any(|arg| arg == "--cassandra");
    let config = if full {
        Config {
            feeds: 500,
            items: 100,
            history: history_arg().unwrap_or(0),
            runs: 200,
        }
    } else {
        Config {
            feeds: 20,
            items: 10,
            history: history_arg().unwrap_or(20),
            runs: 5,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        println!(
            "River of news: {} feeds x ({} current + {} older) items = {} items, {} runs per \
             figure\n",
            config.feeds,
            config.items,
            config.history,
            config.feeds * (config.items + config.history),
            config.runs
        );
        println!("| store | what | median | p90 |\n|---|---|---|---|");
        let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
        run("memory", memory, &config, false).await;
        if cassandra {
            let store: Arc<dyn Store> = Arc::new(middletier::testing::cassandra_store().await);
            run("cassandra", store, &config, true).await;
        }
    });
}

fn user() -> UserId {
    UserId::parse("bench-reader").expect("user")
}

fn feed_url(prefix: &str, n: usize) -> FeedUrl {
    FeedUrl::parse(&format!("https://feeds{}.example/{prefix}/{n}.xml", n % 17)).expect("url")
}

/// Item `i` of feed `n` (higher `i`: older).
fn item(n: usize, i: usize, now: DateTime<Utc>) -> Item {
    // Feeds interleave in time, as real ones do.
    let published = now - chrono::Duration::minutes((i * 37 + n * 13) as i64);
    Item {
        id: format!("https://blog{n}.example/posts/{i}"),
        title: format!("Post {i} of feed {n}: something worth reading"),
        link: Some(format!("https://blog{n}.example/posts/{i}")),
        description: format!(
            "<p>Paragraph one of post {i}, with <a href=\"https://blog{n}.example/\">a \
             link</a> and <em>emphasis</em>.</p>{}",
            "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod \
             tempor incididunt ut labore et dolore magna aliqua.</p>"
                .repeat(4)
        ),
        published: Some(published.to_rfc3339()),
        read: false,
        starred: false,
        author: None,
        enclosures: Vec::new(),
    }
}

/// Feed `n`'s items `items.start..items.end` as its history held them, first seen when
/// published.
fn older_items(n: usize, items: std::ops::Range<usize>, now: DateTime<Utc>) -> Vec<StoredItem> {
    items
        .map(|i| {
            let item = item(n, i, now);
            let seen = item
                .published
                .as_deref()
                .and_then(|p| DateTime::parse_from_rfc3339(p).ok())
                .map_or(now, |p| p.with_timezone(&Utc));
            StoredItem { item, seen }
        })
        .collect()
}

fn feed_state(url: FeedUrl, n: usize, items: usize, now: DateTime<Utc>) -> FeedState {
    let items: Vec<Item> = (0..items).map(|i| item(n, i, now)).collect();
    let first_seen = items
        .iter()
        .map(|item| (item.id.clone(), now - chrono::Duration::minutes(1)))
        .collect();
    FeedState {
        title: Some(format!("Feed number {n}")),
        items,
        last_attempt: Some(now),
        last_success: Some(now),
        http_status: Some(200),
        first_seen,
        ..FeedState::new(url, now + chrono::Duration::minutes(30))
    }
}

async fn run(name: &str, store: Arc<dyn Store>, config: &Config, cassandra: bool) {
    let prefix = format!(
        "r{}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default() % 1_000_000_000
    );
    let user = if cassandra {
        UserId::parse(&format!("{prefix}-reader")).expect("user")
    } else {
        user()
    };
    let now = Utc::now();
    let urls: Vec<FeedUrl> = (0..config.feeds).map(|n| feed_url(&prefix, n)).collect();
    // As many feeds as the default cap allows a user (500).
    let max = middletier::service::AccountSettings::default().max_subscriptions_per_user;
    let setup = Instant::now();
    for (n, url) in urls.iter().enumerate() {
        store.subscribe(&user, url, max).await.expect("subscribe");
        let older = config.items..config.items + config.history;
        store
            .insert_history(url, &older_items(n, older, now))
            .await
            .expect("history");
        store
            .save_feed_state(&feed_state(url.clone(), n, config.items, now))
            .await
            .expect("save");
    }
    // Reading state: 10 % of feeds all read, 5 % of the rest read one by one, some starred.
    let all_read: Vec<FeedUrl> = urls.iter().step_by(10).cloned().collect();
    store
        .mark_read_up_to(&user, &all_read, now, now)
        .await
        .expect("mark all");
    for (n, url) in urls.iter().enumerate().filter(|(n, _)| n % 10 != 0) {
        for i in (0..config.items).step_by(20) {
            let change = MarkChange {
                read: Some(true),
                starred: Some(i == 0 && n % 4 == 0),
            };
            let id = format!("https://blog{n}.example/posts/{i}");
            store
                .mark_item(&user, url, &id, change, now)
                .await
                .expect("mark");
        }
    }
    eprintln!("{name}: set up in {:.1?}", setup.elapsed());

    let service = middletier::testing::feed_service(store.clone(), FetchSettings::default());
    let root = middletier::testing::serve_api(service.clone()).await;
    let client =
        MiddletierClient::new(Duration::from_secs(2), Duration::from_secs(30)).expect("client");

    if cassandra {
        // A fresh store: nothing decoded yet.
        let cold_store: Arc<dyn Store> = Arc::new(middletier::testing::cassandra_store().await);
        let cold_service = middletier::testing::feed_service(cold_store, FetchSettings::default());
        let started = Instant::now();
        cold_service
            .river(&user, &RiverQuery::default())
            .await
            .expect("river");
        report(
            name,
            "service, first page, cold cache",
            &[started.elapsed()],
        );
        let mut revalidations = Vec::new();
        for _ in 0..3 {
            tokio::time::sleep(FEED_CACHE_FRESH_FOR + Duration::from_millis(100)).await;
            let started = Instant::now();
            cold_service
                .river(&user, &RiverQuery::default())
                .await
                .expect("river");
            revalidations.push(started.elapsed());
        }
        report(
            name,
            "service, first page, revalidating every feed",
            &revalidations,
        );
    }

    let queries = [
        ("first page, unread", RiverQuery::default()),
        (
            "first page, all",
            RiverQuery {
                filter: Filter::All,
                ..RiverQuery::default()
            },
        ),
        (
            "starred",
            RiverQuery {
                filter: Filter::Starred,
                ..RiverQuery::default()
            },
        ),
        (
            "one feed",
            RiverQuery {
                feed: Some(urls[1].to_string()),
                ..RiverQuery::default()
            },
        ),
    ];
    let mut first = None;
    for (what, query) in &queries {
        let mut samples = Vec::with_capacity(config.runs);
        for _ in 0..config.runs {
            let started = Instant::now();
            let river = service.river(&user, query).await.expect("river");
            samples.push(started.elapsed());
            first.get_or_insert(river);
        }
        report(name, &format!("service, {what}"), &samples);
    }
    let first = first.expect("a page");
    assert_eq!(first.feeds.len(), config.feeds);
    assert_eq!(first.items.len(), 50.min(first.unread));
    // A deep page: the cursor positions each feed by binary search.
    let mut deep = RiverQuery {
        before: first.next.clone(),
        ..RiverQuery::default()
    };
    for _ in 0..10 {
        let page = service.river(&user, &deep).await.expect("river");
        if page.next.is_none() {
            break;
        }
        deep.before = page.next;
    }
    let mut samples = Vec::with_capacity(config.runs);
    for _ in 0..config.runs {
        let started = Instant::now();
        service.river(&user, &deep).await.expect("river");
        samples.push(started.elapsed());
    }
    report(name, "service, 12th page", &samples);

    let mut samples = Vec::with_capacity(config.runs);
    for _ in 0..config.runs {
        let started = Instant::now();
        let river = client
            .river(&root, user.as_str(), &RiverQuery::default())
            .await
            .expect("river over HTTP");
        samples.push(started.elapsed());
        assert_eq!(river.feeds.len(), config.feeds);
    }
    report(name, "HTTP + JSON, first page, unread", &samples);
}

fn report(store: &str, what: &str, samples: &[Duration]) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    println!(
        "| {store} | {what} | {:.2} ms | {:.2} ms |",
        at(0.5).as_secs_f64() * 1000.0,
        at(0.9).as_secs_f64() * 1000.0
    );
}
