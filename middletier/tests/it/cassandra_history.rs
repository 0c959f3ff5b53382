//! The item history on the real Cassandra: what the Cassandra store must get right beyond the
//! conformance suite, because its rows are spread over bounded partitions (content by feed and
//! month, marks by user and month): saves across months, long articles past Cassandra's batch
//! limit, retention removing every subscriber's marks, and a move carrying stars.

use chrono::{DateTime, TimeZone, Utc};

use middletier::store::{
    FeedState, FeedStore, HistoryStore, MarkChange, ReadingStore, SubscriptionStore,
};
use middletier::testing::{cassandra_store, unique_prefix};
use middletier_api::Item;
use middletier_api::domain::{FeedUrl, UserId};

use crate::support::cassandra_shared;

/// Day `day` of 2026 (so consecutive ones cross month partitions).
fn day(day: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("time")
        + chrono::Duration::days(day)
}

fn item(id: &str, description: String) -> Item {
    Item {
        id: id.to_owned(),
        title: format!("Title {id}"),
        link: None,
        description,
        published: None,
        read: false,
        starred: false,
    }
}

fn state(url: &FeedUrl, items: Vec<Item>, now: DateTime<Utc>) -> FeedState {
    let mut state = FeedState::new(url.clone(), now);
    state.last_success = Some(now);
    for item in &items {
        state.first_seen.insert(item.id.clone(), now);
    }
    state.items = items;
    state
}

const STAR: MarkChange = MarkChange {
    read: None,
    starred: Some(true),
};
const READ: MarkChange = MarkChange {
    read: Some(true),
    starred: None,
};

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_history_spans_months_keeps_first_seen_and_retention_removes_every_readers_marks()
{
    let _cassandra = cassandra_shared().await;
    let store = cassandra_store().await;
    let prefix = unique_prefix();
    let url = FeedUrl::parse(&format!("https://example.com/{prefix}feed.xml")).expect("url");
    let ann = UserId::parse(&format!("{prefix}ann")).expect("user");
    let bob = UserId::parse(&format!("{prefix}bob")).expect("user");
    for user in [&ann, &bob] {
        store.subscribe(user, &url, 100).await.expect("subscribe");
    }

    // January: a and b; February: b (its first-seen kept) and c; a has left the document.
    let body = |id: &str| format!("<p>{id}</p>");
    store
        .save_feed_state(&state(
            &url,
            vec![item("a", body("a")), item("b", body("b"))],
            day(3),
        ))
        .await
        .expect("save january");
    let mut february = state(
        &url,
        vec![item("b", body("b2")), item("c", body("c"))],
        day(40),
    );
    february.first_seen.clear();
    store
        .save_feed_state(&february)
        .await
        .expect("save february");

    let mut history = store.history(&url).await.expect("history");
    history.sort_by(|x, y| x.id.cmp(&y.id));
    let seen: Vec<(&str, i64)> = history.iter().map(|e| (e.id.as_str(), e.seen)).collect();
    assert_eq!(
        seen,
        [
            ("a", day(3).timestamp_millis()),
            ("b", day(3).timestamp_millis()),
            ("c", day(40).timestamp_millis()),
        ],
        "nothing leaves by a save; a known item keeps its first-seen month"
    );
    let content = store.history_items(&url, &history).await.expect("content");
    let descriptions: Vec<Option<String>> = content
        .into_iter()
        .map(|item| item.map(|item| item.description))
        .collect();
    assert_eq!(
        descriptions,
        [Some(body("a")), Some(body("b2")), Some(body("c"))],
        "a known item's content is replaced"
    );

    for user in [&ann, &bob] {
        for id in ["a", "c"] {
            store
                .mark_item(user, &url, id, READ, day(41))
                .await
                .expect("mark");
        }
    }
    store
        .mark_item(&ann, &url, "b", STAR, day(41))
        .await
        .expect("star");
    let removed = store
        .remove_history(&url, &["a".to_owned(), "c".to_owned(), "never".to_owned()])
        .await
        .expect("retention");
    assert_eq!(removed, 2, "only what it held");
    for user in [&ann, &bob] {
        let reading = store.feed_reading(user, &url).await.expect("reading");
        assert!(
            !reading.marks.contains_key("a") && !reading.marks.contains_key("c"),
            "every subscriber's marks on removed items go with them: {reading:?}"
        );
        let page_view = store.reading(user).await.expect("reading");
        let marks = page_view
            .feeds
            .get(&url)
            .map(|f| f.marks.len())
            .unwrap_or(0);
        assert_eq!(marks, usize::from(user == &ann), "{page_view:?}");
    }
    let left: Vec<String> = store
        .history(&url)
        .await
        .expect("history")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, ["b"]);
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_a_feed_of_long_articles_past_the_batch_limit_is_saved_whole() {
    let _cassandra = cassandra_shared().await;
    let store = cassandra_store().await;
    let url =
        FeedUrl::parse(&format!("https://example.com/{}long.xml", unique_prefix())).expect("url");
    // 100 items of 64 KiB each: 6.4 MB, far past Cassandra's 50 KiB batch failure threshold,
    // and each item alone past it too.
    let items: Vec<Item> = (0..100)
        .map(|n| item(&format!("long-{n}"), "x".repeat(64 * 1024)))
        .collect();
    store
        .save_feed_state(&state(&url, items, day(1)))
        .await
        .expect("a hostile feed's long articles are stored, not refused");
    let history = store.history(&url).await.expect("history");
    assert_eq!(history.len(), 100);
    let content = store.history_items(&url, &history).await.expect("content");
    assert!(content.iter().all(|item| {
        item.as_ref()
            .is_some_and(|i| i.description.len() == 64 * 1024)
    }));
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_a_moved_feed_carries_its_history_and_stars() {
    let _cassandra = cassandra_shared().await;
    let store = cassandra_store().await;
    let prefix = unique_prefix();
    let from = FeedUrl::parse(&format!("https://example.com/{prefix}old.xml")).expect("url");
    let to = FeedUrl::parse(&format!("https://example.com/{prefix}new.xml")).expect("url");
    let ann = UserId::parse(&format!("{prefix}ann")).expect("user");
    store.subscribe(&ann, &from, 100).await.expect("subscribe");
    store
        .save_feed_state(&state(
            &from,
            vec![item("old", "<p>old</p>".to_owned())],
            day(10),
        ))
        .await
        .expect("save");
    store
        .save_feed_state(&state(
            &from,
            vec![item("new", "<p>new</p>".to_owned())],
            day(50),
        ))
        .await
        .expect("save");
    store
        .mark_item(&ann, &from, "old", STAR, day(51))
        .await
        .expect("star");

    store.move_feed(&from, &to).await.expect("move");
    assert!(store.history(&from).await.expect("history").is_empty());
    let mut moved = store.history(&to).await.expect("history");
    moved.sort_by(|x, y| x.id.cmp(&y.id));
    let ids: Vec<&str> = moved.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        ["new", "old"],
        "the whole history, not just the document"
    );
    assert_eq!(moved[1].seen, day(10).timestamp_millis());
    let content = store.history_items(&to, &moved).await.expect("content");
    assert!(content.iter().all(Option::is_some));
    let reading = store.reading(&ann).await.expect("reading");
    assert!(
        reading.feeds[&to].marks["old"].starred,
        "the star moved with its item"
    );
    assert!(!reading.feeds.contains_key(&from));
}
