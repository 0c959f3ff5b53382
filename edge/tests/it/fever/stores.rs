//! Fever's numbers for items, feeds and groups, and the marks made with them, are the same
//! whichever middle tier answers: after a restart on the embedded SQLite store, and through
//! either of two middle tiers sharing Cassandra.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use middletier::store::{FeedCache, SqliteStore, Store};
use middletier::testing::{FeedPublisher, cassandra_store, unique_prefix};
use serde_json::{Value, json};

use super::{Reading, split_ids};
use crate::support::{System, edge_instances, eventually, middletier_settings, spawn_middletier};

/// What an app knows after a sync: items, feeds (by number, title and address: the time
/// of their last refresh moves on) and groups, and the unread list.
async fn snapshot(reading: &Reading) -> (Value, Vec<Value>, Value, Vec<u64>) {
    let body = reading
        .fever
        .ok("items&feeds&groups&unread_item_ids", &[("since_id", "0")])
        .await;
    let feeds = body["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|feed| json!([feed["id"], feed["title"], feed["url"]]))
        .collect();
    (
        body["items"].clone(),
        feeds,
        body["feeds_groups"].clone(),
        split_ids(&body["unread_item_ids"]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_numbers_and_marks_survive_a_middle_tier_restart() {
    let path = std::env::temp_dir().join(format!("fever-{}.db", unique_prefix()));
    let store: Arc<dyn Store> = Arc::new(FeedCache::new(SqliteStore::open(&path).await.unwrap()));
    let store = System::start_tuned(
        vec![store],
        |_| {},
        |edge| {
            edge.accounts.single_user = false;
        },
    );
    let mut reading = Reading::on(FeedPublisher::start().await, store.await).await;
    let first = reading.number("RSS first story").await;
    reading.fever.mark("item", "read", &first.to_string()).await;
    reading
        .fever
        .mark("item", "saved", &first.to_string())
        .await;
    let before = snapshot(&reading).await;

    // The middle tier stops; another starts on the same file.
    reading.system.middletiers.pop().unwrap().stop().await;
    let store: Arc<dyn Store> = Arc::new(FeedCache::new(SqliteStore::open(&path).await.unwrap()));
    let restarted = spawn_middletier(middletier_settings(&reading.system.registry), store).await;
    reading.system.middletiers.push(restarted);
    eventually("the edge reaches the new middle tier", || async {
        edge_instances(&reading.system.edge).await.len() == 1
            && reading.fever.call("", &[]).await.0 == reqwest::StatusCode::OK
    })
    .await;

    let after = snapshot(&reading).await;
    assert_eq!(after, before);
    assert!(!after.3.contains(&first));
    assert_eq!(reading.fever.ids("saved_item_ids").await, [first]);
    drop(reading);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn on_cassandra_either_middle_tier_answers_with_the_same_numbers_and_marks() {
    // Each middle tier has its own session: they share only what is in Cassandra.
    let first: Arc<dyn Store> = Arc::new(cassandra_store().await);
    let second: Arc<dyn Store> = Arc::new(cassandra_store().await);
    let system = System::start_tuned(
        vec![first, second],
        |_| {},
        |edge| {
            edge.accounts.single_user = false;
        },
    )
    .await;
    let user = format!("{}ann", unique_prefix());
    let mut reading = Reading::as_user(FeedPublisher::start().await, system, &user).await;
    let number = reading.number("Atom story").await;
    reading
        .fever
        .mark("item", "read", &number.to_string())
        .await;
    let before = snapshot(&reading).await;
    assert!(!before.3.contains(&number));

    // Only the other middle tier is left.
    reading.system.middletiers.remove(0).kill().await;
    eventually("the edge sees one middle tier", || async {
        edge_instances(&reading.system.edge).await.len() == 1
    })
    .await;
    assert_eq!(snapshot(&reading).await, before);
}
