//! One conformance suite for every `SubscriptionStore` backend.
//!
//! The Cassandra backend needs a running Cassandra, so its test is `#[ignore]`d by plain
//! `cargo test` (and reported as ignored); `deploy/test.sh` starts Cassandra and runs it with
//! `--include-ignored`, and then an unreachable Cassandra fails the test.

use std::sync::Arc;

use middletier::domain::{FeedUrl, UserId};
use middletier::store::{MAX_SUBSCRIPTIONS_PER_USER, MemoryStore, StoreError, SubscriptionStore};

fn user(name: &str) -> UserId {
    UserId::parse(name).expect("user")
}

fn feed(n: usize) -> FeedUrl {
    FeedUrl::parse(&format!("https://example.com/{n}.xml")).expect("url")
}

/// Everything a store must do, whatever its backend. `prefix` keeps users of different runs
/// apart for stores that outlive the test.
async fn conformance(store: Arc<dyn SubscriptionStore>, prefix: &str) {
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

#[tokio::test]
async fn memory_store_conforms() {
    conformance(Arc::new(MemoryStore::new()), "").await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_store_conforms() {
    let store = middletier::testing::cassandra_store().await;
    conformance(Arc::new(store), &middletier::testing::unique_prefix()).await;
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
