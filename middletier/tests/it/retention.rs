//! Item history and retention through the real refresher, a loopback publisher and the REST
//! API: items that leave a feed's document stay readable from the history, retention bounds
//! it to the policy and keeps what readers starred, and the river pages through exactly what
//! is kept.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use middletier::fetch::FetchSettings;
use middletier::refresh::Ownership;
use middletier::retention::{Removed, Retention, RetentionSettings};
use middletier::service::FeedService;
use middletier::store::{FeedCache, FeedStore, HistoryStore, MemoryStore, SqliteStore, Store};
use middletier::testing::FeedPublisher;
use middletier_api::domain::FeedUrl;

use crate::support::{ScratchDir, cassandra_shared};
use middletier_api::{Filter, ItemQuery, ItemStateChange, MiddletierClient, RiverQuery};

struct Reader {
    store: Arc<dyn Store>,
    /// The reader's name: unique per run on a store that outlives the test (Cassandra).
    user: String,
    service: FeedService,
    root: url::Url,
    client: MiddletierClient,
    publisher: FeedPublisher,
    feed: String,
}

impl Reader {
    /// Ann subscribed to the publisher's switchable feed, which serves `first` at once.
    async fn start(first: &str) -> Self {
        Self::start_on(Arc::new(MemoryStore::new()), "ann", first).await
    }

    /// `user` subscribed on `store` to the publisher's switchable feed serving `first`.
    async fn start_on(store: Arc<dyn Store>, user: &str, first: &str) -> Self {
        let publisher = FeedPublisher::start().await;
        publisher.set_switch(200, first);
        let service = middletier::testing::feed_service(
            store.clone(),
            FetchSettings {
                allow_private_networks: true,
                ..FetchSettings::default()
            },
        );
        let root = middletier::testing::serve_api(service.clone()).await;
        let client =
            MiddletierClient::new(Duration::from_secs(2), Duration::from_secs(30)).expect("client");
        let feed = publisher.url("/switch.xml");
        client
            .subscribe(&root, user, &feed)
            .await
            .expect("subscribe");
        Self {
            store,
            user: user.to_owned(),
            service,
            root,
            client,
            publisher,
            feed,
        }
    }

    fn url(&self) -> FeedUrl {
        FeedUrl::parse(&self.feed).expect("url")
    }

    /// The publisher serves `body`; the refresher fetches and saves it.
    async fn publish(&self, body: &str) {
        self.publisher.set_switch(200, body);
        let state = self
            .store
            .feed_states(&[self.url()])
            .await
            .expect("read")
            .remove(0)
            .expect("fetched");
        self.service
            .refresher()
            .refresh_and_save(state)
            .await
            .expect("refresh");
    }

    async fn star(&self, item: &str) {
        let change = ItemStateChange {
            feed: self.feed.clone(),
            item: item.to_owned(),
            read: None,
            starred: Some(true),
        };
        self.client
            .set_item_state(&self.root, &self.user, &change)
            .await
            .expect("star");
    }
}

/// When item `n` was published: one a minute, all in the past.
fn published(n: usize) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::days(7) + chrono::Duration::minutes(n as i64)
}

/// An RSS document of items `items` (newest first), each with its own description.
fn document(items: impl DoubleEndedIterator<Item = usize>) -> String {
    let items: String = items
        .rev()
        .map(|n| {
            format!(
                "<item><title>Item {n}</title><guid>item-{n}</guid>\
                 <description>Text of item {n}</description><pubDate>{}</pubDate></item>",
                published(n).to_rfc2822()
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Busy</title>\
         <link>http://publisher.test/</link><description>d</description>{items}</channel></rss>"
    )
}

#[tokio::test]
async fn a_star_outlives_three_thousand_newer_items_and_the_river_pages_through_all_that_is_kept() {
    star_outlives_newer_items(Arc::new(MemoryStore::new()), "ann").await;
}

#[tokio::test]
async fn on_sqlite_a_star_outlives_three_thousand_newer_items() {
    let scratch = ScratchDir::new("retention");
    let store = SqliteStore::open(&scratch.join("rss.db"))
        .await
        .expect("open");
    star_outlives_newer_items(Arc::new(FeedCache::new(store)), "ann").await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn on_cassandra_a_star_outlives_three_thousand_newer_items() {
    let _cassandra = cassandra_shared().await;
    let store = Arc::new(middletier::testing::cassandra_store().await);
    let user = format!("{}ann", middletier::testing::unique_prefix());
    star_outlives_newer_items(store, &user).await;
}

/// Star an item, publish 3,000 newer ones (through the real refresher), run retention with the
/// default policy: the star is there with its content, and the river pages through exactly what
/// retention kept.
async fn star_outlives_newer_items(store: Arc<dyn Store>, user: &str) {
    // The first document: items 0..100; the reader stars item 50.
    let reader = Reader::start_on(store, user, &document(0..100)).await;
    reader.star("item-50").await;
    // Thirty refreshes publish 3,000 newer items, 100 at a time (the document's size).
    for batch in 1..=30 {
        reader
            .publish(&document(batch * 100..(batch + 1) * 100))
            .await;
    }
    let store = reader.store.clone();
    assert_eq!(
        store.history(&reader.url()).await.expect("history").len(),
        3_100
    );

    let policy = RetentionSettings::default();
    let retention = Retention::new(store.clone(), policy.clone(), Ownership::solo());
    // This feed alone: a store shared with other tests (Cassandra) holds other feeds too.
    let removed = retention
        .retain_feed(&reader.url(), &policy, Utc::now())
        .await
        .expect("retention");
    assert_eq!(
        removed,
        Removed {
            over_cap: 3_100 - 2_000 - 1,
            unread_expired: 0,
            read_expired: 0,
        },
        "everything past the newest 2,000 but the star"
    );
    let kept: HashSet<String> = (1_100..3_100)
        .map(|n| format!("item-{n}"))
        .chain(std::iter::once("item-50".to_owned()))
        .collect();

    // The star, with its content, in the starred view and through the item view.
    let starred = reader
        .client
        .river(
            &reader.root,
            &reader.user,
            &RiverQuery {
                filter: Filter::Starred,
                ..RiverQuery::default()
            },
        )
        .await
        .expect("starred");
    assert_eq!(starred.items.len(), 1);
    assert_eq!(starred.items[0].item.id, "item-50");
    assert_eq!(starred.items[0].item.description, "Text of item 50");
    assert!(starred.items[0].item.starred);
    let item = reader
        .client
        .item(
            &reader.root,
            &reader.user,
            &ItemQuery {
                feed: reader.feed.clone(),
                item: "item-50".to_owned(),
            },
        )
        .await
        .expect("item view");
    assert_eq!(item.item.title, "Item 50");
    assert_eq!(item.item.description, "Text of item 50");

    // The river, page after page: every kept item once, newest first, nothing else.
    let mut seen = Vec::new();
    let mut query = RiverQuery {
        filter: Filter::All,
        limit: Some(200),
        ..RiverQuery::default()
    };
    loop {
        let page = reader
            .client
            .river(&reader.root, &reader.user, &query)
            .await
            .expect("page");
        for shown in &page.items {
            let n: usize = shown.item.id["item-".len()..].parse().expect("id");
            assert_eq!(shown.item.description, format!("Text of item {n}"));
            seen.push(n);
        }
        match page.next {
            Some(next) => query.before = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), kept.len(), "no duplicate, no gap");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first");
    let seen: HashSet<String> = seen.iter().map(|n| format!("item-{n}")).collect();
    assert_eq!(seen, kept);
    let river = reader
        .client
        .river(&reader.root, &reader.user, &RiverQuery::default())
        .await
        .expect("river");
    assert_eq!(river.unread, 2_001, "unread counts cover the history");

    // What retention removed is gone for the item view too.
    let removed = reader
        .client
        .item(
            &reader.root,
            &reader.user,
            &ItemQuery {
                feed: reader.feed.clone(),
                item: "item-51".to_owned(),
            },
        )
        .await;
    assert!(removed.is_err(), "{removed:?}");
}

#[tokio::test]
async fn an_item_that_left_the_document_is_read_from_the_history() {
    let reader = Reader::start(&document(0..3)).await;
    // The document moves on: items 0..3 leave it.
    reader.publish(&document(3..6)).await;
    let cached = reader
        .store
        .cached_feeds(&[reader.url()])
        .await
        .expect("read")
        .remove(0)
        .expect("fetched");
    assert!(
        cached.current_item("item-1").is_none(),
        "not in the current document"
    );
    assert!(cached.entry("item-1").is_some(), "but in the history");

    let river = reader
        .client
        .river(
            &reader.root,
            "ann",
            &RiverQuery {
                filter: Filter::All,
                ..RiverQuery::default()
            },
        )
        .await
        .expect("river");
    let shown: Vec<(&str, &str)> = river
        .items
        .iter()
        .map(|i| (i.item.id.as_str(), i.item.description.as_str()))
        .collect();
    assert_eq!(
        shown,
        (0..6)
            .rev()
            .map(|n| (format!("item-{n}"), format!("Text of item {n}")))
            .collect::<Vec<_>>()
            .iter()
            .map(|(id, text)| (id.as_str(), text.as_str()))
            .collect::<Vec<_>>()
    );
    let item = reader
        .client
        .item(
            &reader.root,
            "ann",
            &ItemQuery {
                feed: reader.feed.clone(),
                item: "item-1".to_owned(),
            },
        )
        .await
        .expect("item view");
    assert_eq!(item.item.description, "Text of item 1");
}

#[tokio::test]
async fn a_nonsense_retention_policy_stops_the_middle_tier_from_starting_naming_the_setting() {
    let config_dir = std::env::temp_dir().join(format!(
        "middletier-retention-no-config-{}",
        std::process::id()
    ));
    for (key, value, expected) in [
        ("RSS_RETENTION__READ_DAYS", "0", "retention.read_days"),
        ("RSS_RETENTION__UNREAD_DAYS", "7", "retention.unread_days"),
        (
            "RSS_RETENTION__MAX_ITEMS_PER_FEED",
            "0",
            "retention.max_items_per_feed",
        ),
        (
            "RSS_RETENTION__MAX_ITEMS_PER_FEED",
            "lots",
            "max_items_per_feed",
        ),
        ("RSS_RETENTION__READ_DAYS", "-5", "read_days"),
        ("RSS_RETENTION__INTERVAL", "0s", "retention.interval"),
        ("RSS_RETENTION__INTERVAL", "often", "interval"),
    ] {
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_middletier"))
            .env("RSS_CONFIG_DIR", &config_dir)
            .env_remove("RSS_ENV")
            .env("RSS_SERVER__PORT", "0")
            .env("RSS_REGISTRY__URL", "http://127.0.0.1:9/eureka/v2/")
            .env(key, value)
            // A middle tier that wrongly starts is killed when the bound below gives up.
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .unwrap_or_else(|_| panic!("started and kept running with {key}={value}"))
            .expect("middletier runs");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.status.success(), "started with {key}={value}");
        assert!(said.contains(expected), "{key}={value}: {said}");
    }
}

#[tokio::test]
async fn the_running_middle_tier_applies_retention_and_counts_it_by_reason() {
    let stop = platform::lifecycle::Shutdown::new();
    let store = Arc::new(MemoryStore::new());
    // A feed whose history holds two items, neither in its document any more.
    let url = FeedUrl::parse("https://feeds.example/busy.xml").expect("url");
    let ann = middletier_api::domain::UserId::parse("ann").expect("user");
    middletier::store::SubscriptionStore::subscribe(store.as_ref(), &ann, &url, 10)
        .await
        .expect("subscribe");
    let at = Utc::now();
    let mut state = middletier::store::FeedState::new(url.clone(), at);
    state.last_success = Some(at);
    state.items = (0..2)
        .map(|n| middletier_api::Item {
            id: format!("item-{n}"),
            title: format!("Item {n}"),
            link: None,
            description: String::new(),
            published: Some(published(n).to_rfc3339()),
            read: false,
            starred: false,
            author: None,
            enclosures: Vec::new(),
        })
        .collect();
    store.save_feed_state(&state).await.expect("save");
    state.items.clear();
    // Not due for an hour: the refresher leaves the feed alone.
    state.next_refresh = at + chrono::Duration::hours(1);
    store.save_feed_state(&state).await.expect("save");

    let mut settings = middletier::Settings::default();
    settings.server.port = 0;
    settings.registry.url = crate::support::registry_for_middletier(&stop).await.into();
    settings.retention.max_items_per_feed = 1;
    settings.retention.interval = Duration::from_millis(50);
    let app = middletier::Application::build_with_store(settings, store.clone())
        .await
        .expect("build");
    let admin = app.admin_url();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    let client = platform::http::client_builder().build().expect("http");
    platform::testing::eventually(
        "a retention pass removes the item over the cap",
        Duration::from_secs(10),
        || async {
            let metrics = platform::testing::scrape_metrics(&client, &admin).await;
            metrics.sum("rss_retention_removed_total", &[("reason", "over_cap")]) == 1.0
                && metrics.sum("rss_retention_pass_duration_seconds_count", &[]) >= 1.0
        },
    )
    .await;
    let held = store.history(&url).await.expect("history");
    assert_eq!(
        held.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["item-1"],
        "the newest is kept"
    );
    stop.cancel();
}
