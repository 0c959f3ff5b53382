//! The sync apps' benchmark: what the middle tier adds to a Google Reader or Fever app's
//! requests for a user with 500 feeds of 100 items each (50,000 items), on SQLite (the
//! default store) and the memory store.
//!
//! Run it with `cargo bench -p middletier --bench apps` (both stores; `-- --store sqlite` or
//! `-- --store memory` for one). Without `--bench` (e.g. `cargo test --all-targets`) it runs a
//! small smoke version of itself.
//!
//! Each feed's current document holds its 20 newest items; the 80 older ones are only in its
//! history, so a page of a thousand items reads most of its content from the store, as an
//! app's first sync does. The user has read 50 feeds entirely (a watermark each) and some
//! items one by one. Items carry about 600 bytes of HTML.
//!
//! Every figure is the median, p95 and max of many runs, over HTTP on loopback with JSON
//! both ways through [`MiddletierClient`] (what the edge waits for):
//! - `app/items`, newest first, unread only, 1,000 items with content (Google Reader's
//!   `stream/contents?n=1000&xt=…/read`);
//! - the same as references only, up to 10,000 (`stream/items/ids`, Fever's id lists);
//! - `POST app/items`, 1,000 items by number (`stream/items/contents`, Fever's `with_ids`);
//! - `app/items/state`, 1,000 numbers marked read, then unread (`edit-tag` with 1,000 ids), each
//!   call changing all 1,000;
//! - `app/counts` (`unread-count`, Fever's `feeds`).
//!
//! Every answer is checked apart from the timing; a wrong answer fails the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use middletier::fetch::FetchSettings;
use middletier::store::{
    FeedCache, FeedState, MarkChange, MemoryStore, SqliteStore, Store, StoredItem,
};
use middletier_api::domain::{FeedUrl, UserId};
use middletier_api::{
    AppItemsQuery, AppOrder, Item, ItemNumbers, MiddletierClient, NumbersStateChange,
};

struct Config {
    feeds: usize,
    /// Items in each feed's current document.
    current: usize,
    /// Older items in each feed's history only.
    older: usize,
    runs: usize,
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let config = if full {
        Config {
            feeds: 500,
            current: 20,
            older: 80,
            runs: 100,
        }
    } else {
        Config {
            feeds: 20,
            current: 5,
            older: 10,
            runs: 3,
        }
    };
    let args: Vec<String> = std::env::args().collect();
    let only = args
        .iter()
        .position(|arg| arg == "--store")
        .and_then(|at| args.get(at + 1))
        .cloned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        println!(
            "Sync apps: {} feeds x ({} current + {} older) items = {} items, {} runs per figure\n",
            config.feeds,
            config.current,
            config.older,
            config.feeds * (config.current + config.older),
            config.runs
        );
        println!("| store | what | median | p95 | max |\n|---|---|---|---|---|");
        for name in ["sqlite", "memory"] {
            if only.as_deref().is_some_and(|only| only != name) {
                continue;
            }
            let scratch = std::env::temp_dir().join(format!(
                "middletier-apps-bench-{}-{name}",
                std::process::id()
            ));
            let store: Arc<dyn Store> = match name {
                "sqlite" => Arc::new(FeedCache::new(
                    SqliteStore::open(&scratch.join("rss.db"))
                        .await
                        .expect("open SQLite"),
                )),
                _ => Arc::new(MemoryStore::new()),
            };
            run(name, store, &config).await;
            let _ = std::fs::remove_dir_all(&scratch);
        }
    });
}

fn feed_url(n: usize) -> FeedUrl {
    FeedUrl::parse(&format!("https://feeds{}.example/apps/{n}.xml", n % 17)).expect("url")
}

/// Item `i` of feed `n` (higher `i`: older), first seen when published.
fn item(n: usize, i: usize, now: DateTime<Utc>) -> StoredItem {
    // Feeds interleave in time, as real ones do.
    let minutes = i64::try_from(i * 37 + n * 13).expect("minutes");
    let published = now - chrono::Duration::minutes(minutes);
    let item = Item {
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
    };
    StoredItem {
        item,
        seen: published,
    }
}

async fn load(store: &Arc<dyn Store>, user: &UserId, config: &Config, now: DateTime<Utc>) {
    let max = middletier::service::AccountSettings::default().max_subscriptions_per_user;
    for n in 0..config.feeds {
        let url = feed_url(n);
        store.subscribe(user, &url, max).await.expect("subscribe");
        let items: Vec<StoredItem> = (0..config.current + config.older)
            .map(|i| item(n, i, now))
            .collect();
        store.insert_history(&url, &items).await.expect("history");
        let current = &items[..config.current];
        let state = FeedState {
            title: Some(format!("Feed number {n}")),
            items: current.iter().map(|stored| stored.item.clone()).collect(),
            first_seen: current
                .iter()
                .map(|stored| (stored.item.id.clone(), stored.seen))
                .collect(),
            last_attempt: Some(now),
            last_success: Some(now),
            http_status: Some(200),
            ..FeedState::new(url.clone(), now + chrono::Duration::minutes(30))
        };
        store.save_feed_state(&state).await.expect("save");
    }
    // Reading state: 10 % of feeds all read, every 20th item of the rest read one by one.
    let all_read: Vec<FeedUrl> = (0..config.feeds).step_by(10).map(feed_url).collect();
    store
        .mark_read_up_to(user, &all_read, now, now)
        .await
        .expect("mark all");
    for n in (0..config.feeds).filter(|n| n % 10 != 0) {
        for i in (0..config.current).step_by(20) {
            let change = MarkChange {
                read: Some(true),
                starred: Some(n % 4 == 0),
            };
            let id = format!("https://blog{n}.example/posts/{i}");
            store
                .mark_item(user, &feed_url(n), &id, change, now)
                .await
                .expect("mark");
        }
    }
}

async fn run(name: &str, store: Arc<dyn Store>, config: &Config) {
    let user = UserId::parse("bench-reader").expect("user");
    let now = Utc::now();
    let setup = Instant::now();
    load(&store, &user, config, now).await;
    eprintln!("{name}: set up in {:.1?}", setup.elapsed());

    let service = middletier::testing::feed_service(store.clone(), FetchSettings::default());
    let root = middletier::testing::serve_api(service).await;
    let client =
        MiddletierClient::new(Duration::from_secs(2), Duration::from_secs(30)).expect("client");
    let user = user.as_str();
    // Unread: every feed without a watermark, less the items read one by one.
    let expected_unread = (config.feeds - config.feeds.div_ceil(10))
        * (config.current + config.older - config.current.div_ceil(20));

    let unread = AppItemsQuery {
        unread: true,
        order: AppOrder::Newest,
        limit: Some(1_000),
        ..AppItemsQuery::default()
    };
    let mut numbers = Vec::new();
    let samples = timed(config.runs, async || {
        let items = client.app_items(&root, user, &unread).await.expect("items");
        assert_eq!(items.items.len(), expected_unread.min(1_000));
        assert!(
            items
                .items
                .iter()
                .all(|item| !item.read && item.content.is_some())
        );
        numbers = items.items.iter().map(|item| item.number).collect();
    })
    .await;
    report(
        name,
        "app/items, newest, unread, 1,000 with content",
        &samples,
    );

    let refs = AppItemsQuery {
        refs_only: true,
        limit: Some(10_000),
        ..unread.clone()
    };
    let samples = timed(config.runs, async || {
        let items = client.app_items(&root, user, &refs).await.expect("refs");
        assert_eq!(items.items.len(), expected_unread.min(10_000));
        assert!(items.items.iter().all(|item| item.content.is_none()));
    })
    .await;
    report(name, "app/items, unread references, up to 10,000", &samples);

    let by_number = ItemNumbers {
        numbers: numbers.clone(),
    };
    let samples = timed(config.runs, async || {
        let items = client
            .app_items_by_number(&root, user, &by_number)
            .await
            .expect("by number");
        assert_eq!(items.items.len(), numbers.len());
    })
    .await;
    report(name, "POST app/items, 1,000 by number", &samples);

    let mut read = true;
    let samples = timed(config.runs, async || {
        let change = NumbersStateChange {
            numbers: numbers.clone(),
            read: Some(read),
            starred: None,
        };
        let changed = client
            .set_numbers_state(&root, user, &change)
            .await
            .expect("state");
        assert_eq!((changed.changed, changed.unknown), (numbers.len(), 0));
        read = !read;
    })
    .await;
    report(name, "app/items/state, 1,000 numbers read/unread", &samples);

    let samples = timed(config.runs, async || {
        let counts = client.app_counts(&root, user).await.expect("counts");
        assert_eq!(counts.feeds.len(), config.feeds);
    })
    .await;
    report(name, "app/counts", &samples);
}

/// A warm-up call, then `runs` timed ones.
async fn timed(runs: usize, mut call: impl AsyncFnMut()) -> Vec<Duration> {
    call().await;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        call().await;
        samples.push(started.elapsed());
    }
    samples
}

fn report(store: &str, what: &str, samples: &[Duration]) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let at = |q: f64| {
        let last = sorted.len() - 1;
        // Rounded to the nearest rank; `last` is small, so the float holds it exactly.
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let index = (last as f64 * q).round() as usize;
        sorted[index]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {store} | {what} | {:.1} ms | {:.1} ms | {:.1} ms |",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(at(1.0))
    );
}
