//! One conformance suite for every `SubscriptionStore` backend.

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
