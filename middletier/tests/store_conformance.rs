//! One conformance suite for every `Store` backend: subscriptions and the feed cache.
//!
//! The Cassandra backend needs a running Cassandra, so its test is `#[ignore]`d by plain
//! `cargo test` (and reported as ignored); `deploy/test.sh` starts Cassandra and runs it with
//! `--include-ignored`, and then an unreachable Cassandra fails the test.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use middletier::api::Item;
use middletier::domain::{FeedUrl, UserId};
use middletier::store::{
    FeedState, MAX_SUBSCRIPTIONS_PER_USER, MemoryStore, Store, StoreError, SubscriptionStore,
};

fn user(name: &str) -> UserId {
    UserId::parse(name).expect("user")
}

fn feed(n: usize) -> FeedUrl {
    FeedUrl::parse(&format!("https://example.com/{n}.xml")).expect("url")
}

/// Everything a store must do, whatever its backend. `prefix` keeps users of different runs
/// apart for stores that outlive the test.
async fn conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let bob = user(&format!("{prefix}bob"));

    assert!(
        store.subscriptions(&ann).await.expect("read").is_empty(),
        "unknown users have none"
    );

    assert!(store.subscribe(&ann, &feed(2)).await.expect("add"));
    assert!(store.subscribe(&ann, &feed(1)).await.expect("add"));
    assert!(
        !store.subscribe(&ann, &feed(2)).await.expect("add"),
        "a second subscribe changes nothing"
    );
    assert_eq!(
        store.subscriptions(&ann).await.expect("read"),
        [feed(2), feed(1)],
        "kept in order added"
    );
    assert!(
        store.subscriptions(&bob).await.expect("read").is_empty(),
        "users are independent"
    );

    assert!(store.unsubscribe(&ann, &feed(2)).await.expect("remove"));
    assert!(
        !store.unsubscribe(&ann, &feed(2)).await.expect("remove"),
        "already gone"
    );
    assert!(
        !store.unsubscribe(&bob, &feed(1)).await.expect("remove"),
        "never subscribed"
    );
    assert_eq!(store.subscriptions(&ann).await.expect("read"), [feed(1)]);

    for n in 0..MAX_SUBSCRIPTIONS_PER_USER {
        store
            .subscribe(&bob, &feed(n))
            .await
            .expect("within the limit");
    }
    let over = store
        .subscribe(&bob, &feed(MAX_SUBSCRIPTIONS_PER_USER))
        .await;
    assert!(
        matches!(over, Err(StoreError::TooManySubscriptions(_))),
        "{over:?}"
    );
}

/// Millisecond precision: what Cassandra's `timestamp` keeps.
fn time(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_750_000_000_000 + secs * 1000 + 123).expect("time")
}

/// The feed cache: states round-trip, the schedule lists exactly the subscribed feeds, and a
/// permanent move carries every subscriber over.
async fn feed_cache_conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let bob = user(&format!("{prefix}bob"));
    let feed_url = |name: &str| {
        FeedUrl::parse(&format!("https://example.com/{prefix}{name}.xml")).expect("url")
    };
    let (old, new, other) = (feed_url("old"), feed_url("new"), feed_url("other"));

    assert_eq!(
        store
            .feed_states(std::slice::from_ref(&old))
            .await
            .expect("read"),
        [None],
        "never fetched"
    );
    let state = FeedState {
        title: Some("Old & new".into()),
        items: vec![Item {
            title: "First".into(),
            link: Some("https://example.com/1".into()),
            description: "<p>Hi</p>".into(),
            published: Some("2025-06-10T04:00:00+00:00".into()),
        }],
        etag: Some("\"v1\"".into()),
        last_modified: Some("Tue, 10 Jun 2025 04:00:00 GMT".into()),
        http_status: Some(200),
        last_attempt: Some(time(0)),
        last_success: Some(time(0)),
        last_error: None,
        consecutive_errors: 0,
        gone: false,
        ..FeedState::new(old.clone(), time(1800))
    };
    store.save_feed_state(&state).await.expect("save");
    assert_eq!(
        store
            .feed_states(&[other.clone(), old.clone()])
            .await
            .expect("read"),
        [None, Some(state.clone())]
    );

    store.subscribe(&ann, &other).await.expect("subscribe");
    store.subscribe(&ann, &old).await.expect("subscribe");
    store.subscribe(&bob, &old).await.expect("subscribe");
    let mine = |scheduled: Vec<middletier::store::Scheduled>| {
        let mut mine: Vec<_> = scheduled
            .into_iter()
            .filter(|s| s.url.as_str().contains(prefix))
            .map(|s| (s.url.to_string(), s.next_refresh, s.gone))
            .collect();
        mine.sort();
        mine
    };
    assert_eq!(
        mine(store.scheduled_feeds().await.expect("schedule")),
        [
            (old.to_string(), Some(time(1800)), false),
            (other.to_string(), None, false)
        ],
        "every subscribed feed, due at once when never fetched"
    );

    store.move_feed(&old, &new).await.expect("move");
    assert_eq!(
        store.subscriptions(&ann).await.expect("read"),
        [other.clone(), new.clone()],
        "same place in the list"
    );
    assert_eq!(
        store.subscriptions(&bob).await.expect("read"),
        std::slice::from_ref(&new)
    );
    assert_eq!(
        store
            .feed_states(std::slice::from_ref(&old))
            .await
            .expect("read"),
        [None],
        "the old URL's cache is gone"
    );

    store.unsubscribe(&ann, &other).await.expect("unsubscribe");
    assert_eq!(
        mine(store.scheduled_feeds().await.expect("schedule")),
        [(new.to_string(), None, false)],
        "a feed nobody reads is not refreshed"
    );
}

#[tokio::test]
async fn memory_store_conforms() {
    conformance(Arc::new(MemoryStore::new()), "").await;
    feed_cache_conformance(Arc::new(MemoryStore::new()), "").await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_store_conforms() {
    let store = Arc::new(middletier::testing::cassandra_store().await);
    conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    feed_cache_conformance(store, &middletier::testing::unique_prefix()).await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_schema_setup_is_idempotent() {
    // A second connection (another middle tier starting) finds the schema applied and the
    // data intact.
    let first = middletier::testing::cassandra_store().await;
    let user =
        UserId::parse(&format!("{}ann", middletier::testing::unique_prefix())).expect("user");
    first.subscribe(&user, &feed(7)).await.expect("subscribe");
    let second = middletier::testing::cassandra_store().await;
    assert_eq!(second.subscriptions(&user).await.expect("read"), [feed(7)]);
}
