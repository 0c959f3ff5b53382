//! One conformance suite for every `Store` backend: subscriptions, the feed cache, the item
//! history, reading state and accounts.
//!
//! The SQLite backend runs on a new file per check, wrapped in the process feed cache as the
//! middle tier runs it.
//!
//! The Cassandra backend needs a running Cassandra, so its test is `#[ignore]`d by plain
//! `cargo test` (and reported as ignored); `deploy/test.sh` starts Cassandra and runs it with
//! `--include-ignored`, and then an unreachable Cassandra fails the test.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use middletier::store::{
    AccountRecord, AccountStore, AppPasswordCreated, AppPasswordRecord, FeedCache, FeedReading,
    FeedState, FeedStore, HistoryEntry, HistoryStore, MarkChange, MarkTarget, MemoryStore,
    SessionRecord, SqliteStore, Store, StoreError, StoredItem, SubscriptionStore,
};
use middletier_api::Item;
use middletier_api::domain::{FeedUrl, UserId};

use crate::support::{ScratchDir, cassandra_shared};

/// The default cap; only [`subscription_cap_conformance`] is about caps.
const MAX: usize = 500;

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

    assert!(store.subscribe(&ann, &feed(2), MAX).await.expect("add"));
    assert!(store.subscribe(&ann, &feed(1), MAX).await.expect("add"));
    assert!(
        !store.subscribe(&ann, &feed(2), MAX).await.expect("add"),
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
}

/// The cap the middle tier passes (`accounts.max_subscriptions_per_user`) holds per user, and
/// its refusal tells the user the limit and the setting.
async fn subscription_cap_conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let bob = user(&format!("{prefix}bob"));
    for n in 0..3 {
        assert!(
            store
                .subscribe(&ann, &feed(n), 3)
                .await
                .expect("within the cap")
        );
    }
    let over = store.subscribe(&ann, &feed(3), 3).await;
    let Err(error @ StoreError::TooManySubscriptions(3)) = over else {
        panic!("the 4th subscription under a cap of 3 must be refused, got {over:?}");
    };
    let message = error.to_string();
    for words in [
        "limit of 3 subscriptions per user",
        "RSS_ACCOUNTS__MAX_SUBSCRIPTIONS_PER_USER",
        "unsubscribe from a feed first",
    ] {
        assert!(message.contains(words), "{message:?} lacks {words:?}");
    }
    assert_eq!(
        store.subscriptions(&ann).await.expect("read"),
        [feed(0), feed(1), feed(2)],
        "the refused feed was not added"
    );
    assert!(
        !store
            .subscribe(&ann, &feed(1), 3)
            .await
            .expect("at the cap"),
        "subscribing again to a feed already there is not refused at the cap"
    );
    assert!(
        store
            .subscribe(&bob, &feed(3), 3)
            .await
            .expect("another user"),
        "the cap is per user"
    );
    assert!(store.unsubscribe(&ann, &feed(0)).await.expect("remove"));
    assert!(
        store
            .subscribe(&ann, &feed(3), 3)
            .await
            .expect("room again"),
        "unsubscribing makes room"
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
            id: "urn:first".into(),
            title: "First".into(),
            link: Some("https://example.com/1".into()),
            description: "<p>Hi</p>".into(),
            published: Some("2025-06-10T04:00:00+00:00".into()),
            read: false,
            starred: false,
            author: None,
            enclosures: Vec::new(),
        }],
        etag: Some("\"v1\"".into()),
        last_modified: Some("Tue, 10 Jun 2025 04:00:00 GMT".into()),
        http_status: Some(200),
        last_attempt: Some(time(0)),
        last_success: Some(time(0)),
        last_error: None,
        consecutive_errors: 0,
        gone: false,
        first_seen: [("urn:first".to_owned(), time(-60))].into(),
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
    let cached = store
        .cached_feeds(&[other.clone(), old.clone()])
        .await
        .expect("read");
    assert!(cached[0].is_none());
    let cached = cached[1].as_ref().expect("cached");
    assert_eq!(cached.state, state, "page views see what was saved");
    assert_eq!(
        cached.entry("urn:first").map(|entry| entry.seen),
        Some(time(-60).timestamp_millis()),
        "first-seen times are kept"
    );

    store.subscribe(&ann, &other, MAX).await.expect("subscribe");
    store.subscribe(&ann, &old, MAX).await.expect("subscribe");
    store.subscribe(&bob, &old, MAX).await.expect("subscribe");
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

/// Reading state: marks, watermarks and categories are per user, only for subscribed feeds,
/// and follow a feed that moves.
async fn reading_conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let bob = user(&format!("{prefix}bob"));
    let feed_url = |name: &str| {
        FeedUrl::parse(&format!("https://example.com/{prefix}{name}.xml")).expect("url")
    };
    let (one, two, never) = (feed_url("one"), feed_url("two"), feed_url("never"));
    store.subscribe(&ann, &one, MAX).await.expect("subscribe");
    store.subscribe(&ann, &two, MAX).await.expect("subscribe");
    store.subscribe(&bob, &one, MAX).await.expect("subscribe");

    let reading = store.reading(&ann).await.expect("read");
    assert_eq!(
        reading.subscriptions,
        [(one.clone(), None), (two.clone(), None)]
    );
    assert!(reading.feeds.is_empty(), "nothing read yet");

    // Categories.
    assert!(
        store
            .set_category(&ann, &two, Some("News"))
            .await
            .expect("set")
    );
    assert!(
        !store
            .set_category(&ann, &never, Some("News"))
            .await
            .expect("set"),
        "not subscribed: nothing to categorise"
    );
    assert_eq!(
        store.reading(&ann).await.expect("read").subscriptions,
        [(one.clone(), None), (two.clone(), Some("News".to_owned()))]
    );
    assert_eq!(
        store.reading(&bob).await.expect("read").subscriptions,
        [(one.clone(), None)],
        "another user's categories are their own"
    );
    assert_eq!(
        store.subscriptions(&ann).await.expect("read"),
        [one.clone(), two.clone()],
        "a category changes nothing else"
    );

    // Item marks: each flag on its own, only in subscribed feeds.
    let read = MarkChange {
        read: Some(true),
        starred: None,
    };
    let star = MarkChange {
        read: None,
        starred: Some(true),
    };
    store
        .mark_item(&ann, &one, "a", read, time(10))
        .await
        .expect("mark");
    store
        .mark_item(&ann, &one, "a", star, time(11))
        .await
        .expect("star");
    store
        .mark_item(&ann, &one, "b", star, time(12))
        .await
        .expect("star");
    let refused = store.mark_item(&ann, &never, "a", read, time(10)).await;
    assert!(
        matches!(refused, Err(StoreError::NotSubscribed)),
        "{refused:?}"
    );
    let reading = store.reading(&ann).await.expect("read");
    let marks = &reading.feeds[&one];
    assert_eq!(marks.marks["a"].read, Some((true, time(10))));
    assert!(marks.marks["a"].starred, "starring kept the read mark");
    assert_eq!(marks.marks["b"].read, None, "never marked read or unread");
    assert_eq!(marks.state_of("a", 0), (true, true));
    assert_eq!(marks.state_of("b", 0), (false, true));
    assert!(
        store.reading(&bob).await.expect("read").feeds.is_empty(),
        "ann's marks are not bob's"
    );

    // Watermarks: one write per feed; never move back; item marks after them win.
    let seen_before = time(15).timestamp_millis();
    let seen_after = time(25).timestamp_millis();
    store
        .mark_read_up_to(&ann, &[one.clone(), never.clone()], time(20), time(30))
        .await
        .expect("mark all");
    store
        .mark_read_up_to(&ann, std::slice::from_ref(&one), time(5), time(31))
        .await
        .expect("mark all again");
    let reading = store.reading(&ann).await.expect("read");
    let one_state = &reading.feeds[&one];
    assert_eq!(
        one_state.watermark.map(|w| w.up_to),
        Some(time(20)),
        "never moves back"
    );
    assert!(!reading.feeds.contains_key(&never), "not subscribed");
    assert!(!reading.feeds.contains_key(&two), "not asked for");
    assert_eq!(one_state.state_of("c", seen_before), (true, false));
    assert_eq!(
        one_state.state_of("c", seen_after),
        (false, false),
        "arrived after the page was shown"
    );
    store
        .mark_item(
            &ann,
            &one,
            "c",
            MarkChange {
                read: Some(false),
                starred: None,
            },
            time(40),
        )
        .await
        .expect("unread");
    let reading = store.reading(&ann).await.expect("read");
    assert_eq!(
        reading.feeds[&one].state_of("c", seen_before),
        (false, false),
        "marked unread after marking all read"
    );

    // A permanent move carries category and reading state; unsubscribing forgets them.
    let moved = feed_url("moved");
    store.move_feed(&two, &moved).await.expect("move");
    store
        .mark_item(&ann, &moved, "z", read, time(50))
        .await
        .expect("mark in moved feed");
    store
        .move_feed(&one, &feed_url("one-new"))
        .await
        .expect("move");
    let reading = store.reading(&ann).await.expect("read");
    assert_eq!(
        reading.subscriptions,
        [
            (feed_url("one-new"), None),
            (moved.clone(), Some("News".to_owned()))
        ]
    );
    let carried = &reading.feeds[&feed_url("one-new")];
    assert_eq!(carried.state_of("a", 0), (true, true));
    assert_eq!(carried.watermark.map(|w| w.up_to), Some(time(20)));
    assert!(!reading.feeds.contains_key(&one));

    store.unsubscribe(&ann, &moved).await.expect("unsubscribe");
    store.clear_reading(&ann, &moved).await.expect("clear");
    store
        .subscribe(&ann, &moved, MAX)
        .await
        .expect("subscribe again");
    let reading = store.reading(&ann).await.expect("read");
    assert_eq!(
        reading.subscriptions[1],
        (moved.clone(), None),
        "a new subscription starts uncategorised"
    );
    assert!(!reading.feeds.contains_key(&moved), "and unread");
}

/// Marking many items at once (what sync apps do) is marking each as `mark_item` would: each
/// flag on its own, after a watermark it wins, in feeds the user does not subscribe to it
/// changes nothing, and other users' marks are untouched.
async fn bulk_marking_conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let bob = user(&format!("{prefix}bob"));
    let feed_url = |name: &str| {
        FeedUrl::parse(&format!("https://example.com/{prefix}{name}.xml")).expect("url")
    };
    let (one, two, never) = (
        feed_url("bulk-one"),
        feed_url("bulk-two"),
        feed_url("bulk-never"),
    );
    for url in [&one, &two] {
        store.subscribe(&ann, url, MAX).await.expect("subscribe");
    }
    store.subscribe(&bob, &one, MAX).await.expect("subscribe");
    // Items first seen across two months, so Cassandra writes two month partitions.
    let target = |feed: &FeedUrl, n: usize| MarkTarget {
        feed: feed.clone(),
        item: format!("i{n}"),
        seen: time(i64::try_from(n).expect("n") * 86_400),
    };
    let mut targets: Vec<MarkTarget> = (0..150).map(|n| target(&one, n)).collect();
    targets.extend((0..30).map(|n| target(&two, n)));
    targets.push(target(&never, 1));
    let read = MarkChange {
        read: Some(true),
        starred: None,
    };
    store
        .mark_items(&ann, &targets, read, time(10))
        .await
        .expect("bulk read");
    let star = MarkChange {
        read: None,
        starred: Some(true),
    };
    let starred: Vec<MarkTarget> = targets.iter().step_by(3).cloned().collect();
    store
        .mark_items(&ann, &starred, star, time(11))
        .await
        .expect("bulk star");
    let reading = store.reading(&ann).await.expect("read");
    let (in_one, in_two) = (&reading.feeds[&one], &reading.feeds[&two]);
    assert_eq!(in_one.marks.len(), 150, "every item of the first feed");
    assert_eq!(in_two.marks.len(), 30, "and of the second");
    assert!(
        !reading.feeds.contains_key(&never),
        "not subscribed: skipped"
    );
    assert_eq!(in_one.marks["i0"].read, Some((true, time(10))));
    assert!(in_one.marks["i0"].starred, "starring kept the read mark");
    assert_eq!(in_one.state_of("i1", 0), (true, false));
    assert_eq!(in_one.state_of("i3", 0), (true, true));
    assert!(
        store.reading(&bob).await.expect("read").feeds.is_empty(),
        "ann's marks are not bob's"
    );

    // After a watermark, a bulk unread wins, as an item's own mark does.
    store
        .mark_read_up_to(&ann, std::slice::from_ref(&one), time(20), time(30))
        .await
        .expect("mark all");
    let unread = MarkChange {
        read: Some(false),
        starred: Some(false),
    };
    store
        .mark_items(&ann, &targets[..2], unread, time(40))
        .await
        .expect("bulk unread");
    let reading = store.reading(&ann).await.expect("read");
    let in_one = &reading.feeds[&one];
    assert_eq!(
        in_one.state_of("i0", 0),
        (false, false),
        "unread and unstarred"
    );
    assert_eq!(in_one.state_of("i2", 0), (true, false), "others untouched");
    assert_eq!(in_one.state_of("i3", 0), (true, true));
    store
        .mark_items(&ann, &[], read, time(50))
        .await
        .expect("nothing to mark is no error");
}

/// An item as a feed gives it, published at `time(secs)`, with an author and a podcast file
/// (so every store is seen to keep them).
fn item(id: &str, title: &str, secs: i64) -> Item {
    Item {
        id: id.to_owned(),
        title: title.to_owned(),
        link: Some(format!("https://example.com/{id}")),
        description: format!("<p>{title}</p>"),
        published: Some(time(secs).to_rfc3339()),
        read: false,
        starred: false,
        author: Some(format!("Writer of {id}")),
        enclosures: vec![middletier_api::Enclosure {
            url: format!("https://cdn.example.com/{id}.mp3"),
            media_type: Some("audio/mpeg".to_owned()),
            length: Some(1_000_000),
            duration: Some(60),
            image: Some("https://cdn.example.com/cover.jpg".to_owned()),
        }],
    }
}

/// A successful fetch at `time(at)` whose document holds `items`, each first seen at the time
/// given (the refresher keeps first-seen times of the current document).
fn fetched(url: &FeedUrl, at: i64, items: &[(Item, i64)]) -> FeedState {
    FeedState {
        title: Some("History".into()),
        items: items.iter().map(|(item, _)| item.clone()).collect(),
        last_attempt: Some(time(at)),
        last_success: Some(time(at)),
        first_seen: items
            .iter()
            .map(|(item, seen)| (item.id.clone(), time(*seen)))
            .collect(),
        ..FeedState::new(url.clone(), time(at + 1800))
    }
}

/// `url`'s history as `(id, seen)` pairs, sorted by id.
async fn held(store: &Arc<dyn Store>, url: &FeedUrl) -> Vec<(String, i64)> {
    let mut held: Vec<(String, i64)> = store
        .history(url)
        .await
        .expect("history")
        .into_iter()
        .map(|entry| (entry.id, entry.seen))
        .collect();
    held.sort();
    held
}

/// Saving a feed writes its current items into its history: items that leave the document
/// stay, first-seen times are kept, content is refreshed; page views index the whole history.
async fn history_conformance(store: Arc<dyn Store>, prefix: &str) {
    let url = FeedUrl::parse(&format!("https://example.com/{prefix}history.xml")).expect("url");
    let ann = user(&format!("{prefix}ann"));
    store.subscribe(&ann, &url, MAX).await.expect("subscribe");
    assert!(store.history(&url).await.expect("history").is_empty());

    let (a, b) = (item("a", "A", 0), item("b", "B", 10));
    store
        .save_feed_state(&fetched(&url, 20, &[(a.clone(), 0), (b.clone(), 10)]))
        .await
        .expect("save");
    let b2 = item("b", "B, corrected", 10);
    let c = item("c", "C", 30);
    // The refresher's next save: a left the document, b changed, c is new; the document's
    // first-seen time for b is later than the history's (a restarted refresher), and is not
    // taken.
    store
        .save_feed_state(&fetched(&url, 40, &[(b2.clone(), 35), (c.clone(), 30)]))
        .await
        .expect("save");
    assert_eq!(
        held(&store, &url).await,
        [
            ("a".to_owned(), time(0).timestamp_millis()),
            ("b".to_owned(), time(10).timestamp_millis()),
            ("c".to_owned(), time(30).timestamp_millis()),
        ],
        "items that left the document stay, with their first-seen time"
    );

    let history = store.history(&url).await.expect("history");
    let entry = |id: &str| {
        history
            .iter()
            .find(|entry| entry.id == id)
            .cloned()
            .expect("held")
    };
    let unknown = HistoryEntry {
        id: "never".to_owned(),
        time: 0,
        seen: 0,
    };
    let contents = store
        .history_items(&url, &[entry("c"), unknown, entry("a"), entry("b")])
        .await
        .expect("contents");
    assert_eq!(
        contents,
        [Some(c.clone()), None, Some(a.clone()), Some(b2.clone())],
        "in the order asked, None for an unknown id, the refreshed content of b"
    );
    assert_eq!(
        entry("b"),
        HistoryEntry::of(&b2, time(10)),
        "entries order by the current content"
    );

    let cached = store
        .cached_feeds(std::slice::from_ref(&url))
        .await
        .expect("read");
    let cached = cached[0].as_ref().expect("cached");
    let ids: Vec<&str> = cached.history.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        ["c", "b", "a"],
        "page views index the whole history, newest first"
    );
    assert!(
        cached.current_item("a").is_none(),
        "content held for the document only"
    );
    assert_eq!(cached.current_item("c"), Some(&c));

    let imported = [
        StoredItem {
            item: item("a", "A, imported", 0),
            seen: time(-100),
        },
        StoredItem {
            item: item("old", "Old", -200),
            seen: time(-200),
        },
    ];
    assert_eq!(
        store.insert_history(&url, &imported).await.expect("insert"),
        1,
        "only the item not held is added"
    );
    assert_eq!(
        store
            .history_items(&url, &[entry("a")])
            .await
            .expect("content"),
        [Some(a)],
        "a held item is left as it was"
    );
    let old = store
        .history(&url)
        .await
        .expect("history")
        .into_iter()
        .find(|e| e.id == "old")
        .expect("imported");
    assert_eq!(old, HistoryEntry::of(&imported[1].item, time(-200)));
    let cached = store
        .cached_feeds(std::slice::from_ref(&url))
        .await
        .expect("read");
    assert!(
        cached[0].as_ref().expect("cached").entry("old").is_some(),
        "page views see imported items"
    );
}

/// Removing items from a history removes every user's marks on them (and nothing else), and
/// answers subscribers and one user's reading in one feed.
async fn history_removal_conformance(store: Arc<dyn Store>, prefix: &str) {
    let url = FeedUrl::parse(&format!("https://example.com/{prefix}retained.xml")).expect("url");
    let other = FeedUrl::parse(&format!("https://example.com/{prefix}other.xml")).expect("url");
    let (ann, bob, cid) = (
        user(&format!("{prefix}ann")),
        user(&format!("{prefix}bob")),
        user(&format!("{prefix}cid")),
    );
    let items: Vec<(Item, i64)> = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(n, id)| (item(id, id, n as i64), n as i64))
        .collect();
    for feed in [&url, &other] {
        store
            .save_feed_state(&fetched(feed, 10, &items))
            .await
            .expect("save");
        // Retention removes what has left the document (the document would bring it back).
        store
            .save_feed_state(&fetched(feed, 20, &items[2..]))
            .await
            .expect("save");
    }
    let starred = MarkChange {
        read: Some(true),
        starred: Some(true),
    };
    for reader in [&bob, &ann] {
        for feed in [&url, &other] {
            store.subscribe(reader, feed, MAX).await.expect("subscribe");
            for id in ["a", "b", "c"] {
                store
                    .mark_item(reader, feed, id, starred, time(20))
                    .await
                    .expect("mark");
            }
        }
    }
    assert_eq!(store.subscribers(&url).await.expect("subscribers").len(), 2);
    let mut subscribers = store.subscribers(&url).await.expect("subscribers");
    subscribers.sort();
    assert_eq!(subscribers, [ann.clone(), bob.clone()]);
    assert!(
        store
            .feed_reading(&cid, &url)
            .await
            .expect("reading")
            .marks
            .is_empty(),
        "no reading state: the default"
    );

    let removed = store
        .remove_history(&url, &["a".to_owned(), "b".to_owned(), "never".to_owned()])
        .await
        .expect("remove");
    assert_eq!(removed, 2, "counts what it held");
    assert_eq!(
        held(&store, &url).await,
        [("c".to_owned(), time(2).timestamp_millis())]
    );
    let marked = |reading: FeedReading| {
        let mut ids: Vec<String> = reading.marks.into_keys().collect();
        ids.sort();
        ids
    };
    for reader in [&ann, &bob] {
        assert_eq!(
            marked(store.feed_reading(reader, &url).await.expect("reading")),
            ["c"],
            "every user's marks on removed items go"
        );
        assert_eq!(
            marked(store.feed_reading(reader, &other).await.expect("reading")),
            ["a", "b", "c"],
            "other feeds untouched"
        );
        let reading = store.reading(reader).await.expect("reading");
        assert_eq!(reading.feeds[&url].marks.len(), 1, "page views agree");
    }
    let cached = store
        .cached_feeds(std::slice::from_ref(&url))
        .await
        .expect("read");
    let cached = cached[0].as_ref().expect("cached");
    assert!(
        cached.entry("a").is_none() && cached.entry("c").is_some(),
        "page views stop listing removed items"
    );
}

/// A permanent move carries the history and the marks on it, so stars survive a move.
async fn history_move_conformance(store: Arc<dyn Store>, prefix: &str) {
    let from = FeedUrl::parse(&format!("https://example.com/{prefix}from.xml")).expect("url");
    let to = FeedUrl::parse(&format!("https://example.com/{prefix}to.xml")).expect("url");
    let ann = user(&format!("{prefix}ann"));
    store.subscribe(&ann, &from, MAX).await.expect("subscribe");
    let old = item("old", "Old", 0);
    store
        .save_feed_state(&fetched(&from, 10, &[(old.clone(), 0)]))
        .await
        .expect("save");
    // The document moves on: the starred item is only in the history now.
    store
        .save_feed_state(&fetched(&from, 20, &[(item("new", "New", 15), 15)]))
        .await
        .expect("save");
    let star = MarkChange {
        read: None,
        starred: Some(true),
    };
    store
        .mark_item(&ann, &from, "old", star, time(30))
        .await
        .expect("star");

    store.move_feed(&from, &to).await.expect("move");
    assert_eq!(
        held(&store, &to).await,
        [
            ("new".to_owned(), time(15).timestamp_millis()),
            ("old".to_owned(), time(0).timestamp_millis()),
        ],
        "the history moved"
    );
    let entries = store.history(&to).await.expect("history");
    let old_entry = entries.iter().find(|e| e.id == "old").expect("old");
    assert_eq!(
        store
            .history_items(&to, std::slice::from_ref(old_entry))
            .await
            .expect("content"),
        [Some(old)],
        "with its content"
    );
    let reading = store.feed_reading(&ann, &to).await.expect("reading");
    assert_eq!(
        reading.state_of("old", old_entry.seen),
        (false, true),
        "the star moved with it"
    );
}

/// A SHA-256-shaped hex string, different for each prefix (stores that outlive the test).
fn token_hash(prefix: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    prefix.hash(&mut hasher);
    format!("{:064x}", hasher.finish())
}

/// Accounts are created once; sessions expire and are then gone.
async fn account_conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let record = AccountRecord {
        user: ann.clone(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created: time(0),
    };
    assert_eq!(store.account(&ann).await.expect("read"), None);
    assert!(store.create_account(&record).await.expect("create"));
    let impostor = AccountRecord {
        password_hash: "$argon2id$other".to_owned(),
        ..record.clone()
    };
    assert!(
        !store.create_account(&impostor).await.expect("create"),
        "the name is taken"
    );
    assert_eq!(
        store.account(&ann).await.expect("read"),
        Some(record.clone()),
        "the first account is kept"
    );

    let now = Utc::now();
    let expires =
        DateTime::from_timestamp_millis((now + chrono::Duration::hours(1)).timestamp_millis())
            .expect("time");
    let hash = token_hash(prefix);
    let session = SessionRecord {
        user: ann.clone(),
        expires,
        app_password: None,
    };
    store
        .create_session(&hash, &session, 50)
        .await
        .expect("create");
    assert_eq!(
        store.session(&hash, now).await.expect("read"),
        Some(session.clone())
    );
    assert_eq!(
        store
            .session(&hash, expires + chrono::Duration::seconds(1))
            .await
            .expect("read"),
        None,
        "expired"
    );
    assert_eq!(
        store.session(&hash, now).await.expect("read"),
        None,
        "an expired session is deleted when found"
    );
    store
        .create_session(&hash, &session, 50)
        .await
        .expect("create");
    store.delete_session(&hash).await.expect("delete");
    assert_eq!(store.session(&hash, now).await.expect("read"), None);
    store
        .delete_session(&hash)
        .await
        .expect("deleting an unknown session is fine");
}

/// A user keeps at most the cap of sessions, the oldest ended first; signing out everywhere
/// ends every one of theirs and nobody else's.
async fn session_cap_conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let bob = user(&format!("{prefix}bob"));
    let now = Utc::now();
    let session = |who: &UserId, minutes: i64| SessionRecord {
        user: who.clone(),
        expires: DateTime::from_timestamp_millis(
            (now + chrono::Duration::minutes(60 + minutes)).timestamp_millis(),
        )
        .expect("time"),
        app_password: None,
    };
    let hash = |who: &str, n: i64| token_hash(&format!("{prefix}{who}{n}"));
    let max = 3;
    for n in 0..5 {
        store
            .create_session(&hash("ann", n), &session(&ann, n), max)
            .await
            .expect("create");
    }
    store
        .create_session(&hash("bob", 0), &session(&bob, 0), max)
        .await
        .expect("create");
    let mut live = Vec::new();
    for n in 0..5 {
        live.push(
            store
                .session(&hash("ann", n), now)
                .await
                .expect("read")
                .is_some(),
        );
    }
    assert_eq!(
        live,
        [false, false, true, true, true],
        "the oldest two were ended"
    );

    assert_eq!(store.delete_sessions_of(&ann).await.expect("delete"), max);
    for n in 0..5 {
        assert_eq!(
            store.session(&hash("ann", n), now).await.expect("read"),
            None
        );
    }
    assert!(
        store
            .session(&hash("bob", 0), now)
            .await
            .expect("read")
            .is_some(),
        "another user's session stays"
    );
    assert_eq!(store.delete_sessions_of(&ann).await.expect("delete"), 0);
}

/// A password change replaces the hash of an existing account only (it never creates one),
/// and ending browser sessions leaves apps' sessions and other users' sessions alone.
async fn password_change_conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let bob = user(&format!("{prefix}bob"));
    let nobody = user(&format!("{prefix}nobody"));
    let old = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$b2xk";
    let new = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$bmV3";
    for who in [&ann, &bob] {
        let record = AccountRecord {
            user: who.clone(),
            password_hash: old.to_owned(),
            created: time(0),
        };
        assert!(store.create_account(&record).await.expect("create"));
    }
    assert!(store.set_password_hash(&ann, new).await.expect("change"));
    let changed = store.account(&ann).await.expect("read").expect("account");
    assert_eq!(changed.password_hash, new);
    assert_eq!(changed.created, time(0), "only the hash changes");
    let untouched = store.account(&bob).await.expect("read").expect("account");
    assert_eq!(
        untouched.password_hash, old,
        "another account keeps its hash"
    );
    assert!(
        !store.set_password_hash(&nobody, new).await.expect("change"),
        "no account, nothing changed"
    );
    assert_eq!(
        store.account(&nobody).await.expect("read"),
        None,
        "a change never creates an account"
    );

    let now = Utc::now();
    let expires =
        DateTime::from_timestamp_millis((now + chrono::Duration::hours(1)).timestamp_millis())
            .expect("time");
    let session = |who: &UserId, app_password: Option<&str>| SessionRecord {
        user: who.clone(),
        expires,
        app_password: app_password.map(str::to_owned),
    };
    let hash = |name: &str| token_hash(&format!("{prefix}password-change-{name}"));
    let sessions = [
        ("ann-laptop", session(&ann, None)),
        ("ann-phone", session(&ann, None)),
        ("ann-app", session(&ann, Some("0123456789abcdef"))),
        ("bob-laptop", session(&bob, None)),
    ];
    for (name, record) in &sessions {
        store
            .create_session(&hash(name), record, 50)
            .await
            .expect("create");
    }
    assert_eq!(
        store.delete_browser_sessions_of(&ann).await.expect("end"),
        2
    );
    let live = |name: &'static str| {
        let store = store.clone();
        let hash = hash(name);
        async move { store.session(&hash, now).await.expect("read").is_some() }
    };
    assert!(!live("ann-laptop").await, "a browser session is ended");
    assert!(!live("ann-phone").await, "every browser session is ended");
    assert!(live("ann-app").await, "an app's session stays");
    assert!(live("bob-laptop").await, "another user's session stays");
    assert_eq!(
        store.delete_browser_sessions_of(&ann).await.expect("end"),
        0
    );
}

/// Deleting an account removes everything that is the user's and nothing of anyone else's:
/// sessions (apps' too), app passwords, subscriptions with their categories and titles, marks,
/// stars and watermarks; the feed itself stays for its other readers. A new account of the
/// same name starts empty.
async fn account_deletion_conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let bob = user(&format!("{prefix}bob"));
    let url = feed(1);
    let now = Utc::now();
    let expires =
        DateTime::from_timestamp_millis((now + chrono::Duration::hours(1)).timestamp_millis())
            .expect("time");
    let hash = |name: &str| token_hash(&format!("{prefix}deletion-{name}"));
    for who in [&ann, &bob] {
        let record = AccountRecord {
            user: who.clone(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
            created: time(0),
        };
        assert!(store.create_account(&record).await.expect("create"));
        assert!(store.subscribe(who, &url, MAX).await.expect("subscribe"));
        assert!(
            store
                .set_category(who, &url, Some("Tech"))
                .await
                .expect("category")
        );
        assert!(
            store
                .set_title(who, &url, Some("Mine"))
                .await
                .expect("title")
        );
        store
            .mark_item(
                who,
                &url,
                "item-1",
                MarkChange {
                    read: Some(true),
                    starred: Some(true),
                },
                now,
            )
            .await
            .expect("mark");
        store
            .mark_read_up_to(who, std::slice::from_ref(&url), now, now)
            .await
            .expect("watermark");
        let password = AppPasswordRecord {
            user: who.clone(),
            id: "0123456789abcdef".to_owned(),
            name: "Phone".to_owned(),
            secret_hash: hash(&format!("{who}-secret")),
            fever_hash: hash(&format!("{who}-fever")),
            created: time(0),
            last_used: None,
        };
        assert_eq!(
            store
                .create_app_password(&password, 10)
                .await
                .expect("app password"),
            AppPasswordCreated::Created
        );
        for (kind, app_password) in [("browser", None), ("app", Some("0123456789abcdef"))] {
            let session = SessionRecord {
                user: who.clone(),
                expires,
                app_password: app_password.map(str::to_owned),
            };
            store
                .create_session(&hash(&format!("{who}-{kind}")), &session, 50)
                .await
                .expect("session");
        }
    }
    store
        .save_feed_state(&FeedState::new(url.clone(), now))
        .await
        .expect("feed");

    assert!(store.delete_account(&ann).await.expect("delete"));

    assert_eq!(store.account(&ann).await.expect("read"), None);
    assert!(store.subscriptions(&ann).await.expect("read").is_empty());
    let reading = store.reading(&ann).await.expect("read");
    assert!(reading.subscriptions.is_empty(), "{reading:?}");
    assert!(
        reading.feeds.is_empty(),
        "no marks or watermarks: {reading:?}"
    );
    assert!(reading.titles.is_empty(), "{reading:?}");
    assert!(store.app_passwords(&ann).await.expect("read").is_empty());
    assert_eq!(
        store
            .app_password_by_secret(&hash(&format!("{ann}-secret")))
            .await
            .expect("read"),
        None,
        "the app password no longer signs in"
    );
    for kind in ["browser", "app"] {
        assert_eq!(
            store
                .session(&hash(&format!("{ann}-{kind}")), now)
                .await
                .expect("read"),
            None,
            "{kind} session"
        );
    }
    assert!(
        store
            .feed_states(std::slice::from_ref(&url))
            .await
            .expect("read")[0]
            .is_some(),
        "the feed stays for its other readers"
    );

    // Bob keeps everything.
    assert!(store.account(&bob).await.expect("read").is_some());
    assert_eq!(store.subscriptions(&bob).await.expect("read").len(), 1);
    let bobs = store.reading(&bob).await.expect("read");
    assert_eq!(bobs.subscriptions, [(url.clone(), Some("Tech".to_owned()))]);
    assert_eq!(bobs.titles.get(&url).map(String::as_str), Some("Mine"));
    let marks = bobs.feeds.get(&url).expect("bob's reading state");
    assert!(marks.watermark.is_some());
    assert!(marks.marks.get("item-1").is_some_and(|mark| mark.starred));
    assert_eq!(store.app_passwords(&bob).await.expect("read").len(), 1);
    for kind in ["browser", "app"] {
        assert!(
            store
                .session(&hash(&format!("{bob}-{kind}")), now)
                .await
                .expect("read")
                .is_some(),
            "bob's {kind} session"
        );
    }

    // The name is free again, and whoever takes it finds none of the old reading state.
    let again = AccountRecord {
        user: ann.clone(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$bmV3".to_owned(),
        created: time(1),
    };
    assert!(store.create_account(&again).await.expect("create"));
    assert!(store.subscribe(&ann, &url, MAX).await.expect("subscribe"));
    let fresh = store.reading(&ann).await.expect("read");
    assert!(fresh.feeds.is_empty(), "no old marks: {fresh:?}");
    assert_eq!(fresh.subscriptions, [(url.clone(), None)]);

    assert!(
        !store
            .delete_account(&user(&format!("{prefix}nobody")))
            .await
            .expect("delete"),
        "no such account"
    );
}

/// Listing users finds account holders and users who only subscribe (single-user mode's
/// user), each once; a shared store may hold others, so only this test's names are compared.
async fn user_listing_conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let bob = user(&format!("{prefix}bob"));
    let record = AccountRecord {
        user: ann.clone(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created: time(0),
    };
    assert!(store.create_account(&record).await.expect("create"));
    assert!(store.subscribe(&ann, &feed(1), MAX).await.expect("add"));
    assert!(store.subscribe(&bob, &feed(1), MAX).await.expect("add"));
    let listed: Vec<UserId> = store
        .users()
        .await
        .expect("list")
        .into_iter()
        .filter(|u| u.as_str().starts_with(prefix))
        .collect();
    assert_eq!(listed, [ann, bob], "sorted, each once");
}

#[tokio::test]
async fn memory_store_conforms() {
    conformance(Arc::new(MemoryStore::new()), "").await;
    subscription_cap_conformance(Arc::new(MemoryStore::new()), "").await;
    feed_cache_conformance(Arc::new(MemoryStore::new()), "").await;
    reading_conformance(Arc::new(MemoryStore::new()), "").await;
    bulk_marking_conformance(Arc::new(MemoryStore::new()), "").await;
    history_conformance(Arc::new(MemoryStore::new()), "").await;
    history_removal_conformance(Arc::new(MemoryStore::new()), "").await;
    history_move_conformance(Arc::new(MemoryStore::new()), "").await;
    account_conformance(Arc::new(MemoryStore::new()), "").await;
    session_cap_conformance(Arc::new(MemoryStore::new()), "").await;
    password_change_conformance(Arc::new(MemoryStore::new()), "").await;
    account_deletion_conformance(Arc::new(MemoryStore::new()), "").await;
    user_listing_conformance(Arc::new(MemoryStore::new()), "").await;
}

#[tokio::test]
async fn sqlite_store_conforms() {
    let scratch = ScratchDir::new("conformance");
    let fresh = async |name: &str| -> Arc<dyn Store> {
        let path = scratch.join(&format!("{name}.db"));
        let store = SqliteStore::open(&path).await.expect("open");
        let store: Arc<dyn Store> = Arc::new(FeedCache::new(store));
        store
    };
    conformance(fresh("subscriptions").await, "").await;
    subscription_cap_conformance(fresh("cap").await, "").await;
    feed_cache_conformance(fresh("feeds").await, "").await;
    reading_conformance(fresh("reading").await, "").await;
    bulk_marking_conformance(fresh("bulk").await, "").await;
    history_conformance(fresh("history").await, "").await;
    history_removal_conformance(fresh("removal").await, "").await;
    history_move_conformance(fresh("move").await, "").await;
    account_conformance(fresh("accounts").await, "").await;
    session_cap_conformance(fresh("sessions").await, "").await;
    password_change_conformance(fresh("passwords").await, "").await;
    account_deletion_conformance(fresh("deletion").await, "").await;
    user_listing_conformance(fresh("users").await, "").await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_store_conforms() {
    let _cassandra = cassandra_shared().await;
    let store = Arc::new(middletier::testing::cassandra_store().await);
    conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    subscription_cap_conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    feed_cache_conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    reading_conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    bulk_marking_conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    history_conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    history_removal_conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    history_move_conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    account_conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    session_cap_conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    password_change_conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    account_deletion_conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    user_listing_conformance(store, &middletier::testing::unique_prefix()).await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_sessions_expire_by_themselves() {
    let _cassandra = cassandra_shared().await;
    // The TTL removes the row even if nobody looks the session up again.
    let store = middletier::testing::cassandra_store().await;
    let hash = token_hash(&middletier::testing::unique_prefix());
    let session = SessionRecord {
        user: user(&format!("{}ann", middletier::testing::unique_prefix())),
        expires: Utc::now() + chrono::Duration::seconds(1),
        app_password: None,
    };
    store
        .create_session(&hash, &session, 50)
        .await
        .expect("create");
    platform::testing::eventually(
        "the session expired",
        std::time::Duration::from_secs(10),
        || async {
            // Asked as of long ago, so only the row's absence can answer None.
            let past = Utc::now() - chrono::Duration::days(1);
            store.session(&hash, past).await.expect("read").is_none()
        },
    )
    .await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_schema_setup_is_idempotent() {
    let _cassandra = cassandra_shared().await;
    // A second connection (another middle tier starting) finds the schema applied and the
    // data intact.
    let first = middletier::testing::cassandra_store().await;
    let user =
        UserId::parse(&format!("{}ann", middletier::testing::unique_prefix())).expect("user");
    first
        .subscribe(&user, &feed(7), MAX)
        .await
        .expect("subscribe");
    let second = middletier::testing::cassandra_store().await;
    assert_eq!(second.subscriptions(&user).await.expect("read"), [feed(7)]);
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_feed_cache_shows_another_middle_tiers_refresh_within_seconds() {
    let _cassandra = cassandra_shared().await;
    // Each middle tier keeps decoded feeds for a few seconds; a refresh saved by another one
    // must show within that time (and one's own save at once).
    let here = middletier::testing::cassandra_store().await;
    let there = middletier::testing::cassandra_store().await;
    let url = FeedUrl::parse(&format!(
        "https://example.com/{}cache.xml",
        middletier::testing::unique_prefix()
    ))
    .expect("url");
    let mut state = FeedState::new(url.clone(), time(0));
    state.title = Some("Before".into());
    state.last_attempt = Some(time(0));
    here.save_feed_state(&state).await.expect("save");
    let title = |feeds: Vec<Option<Arc<middletier::store::CachedFeed>>>| {
        feeds[0].as_ref().and_then(|f| f.state.title.clone())
    };
    let read = |store: &middletier::store::FeedCache<middletier::store::CassandraStore>| {
        let store = store.clone();
        let url = url.clone();
        async move { title(store.cached_feeds(&[url]).await.expect("read")) }
    };
    assert_eq!(
        read(&there).await.as_deref(),
        Some("Before"),
        "warms the cache"
    );

    state.title = Some("After".into());
    state.last_attempt = Some(time(60));
    here.save_feed_state(&state).await.expect("save");
    assert_eq!(
        read(&here).await.as_deref(),
        Some("After"),
        "own saves at once"
    );
    let deadline = middletier::store::FEED_CACHE_FRESH_FOR + std::time::Duration::from_secs(3);
    platform::testing::eventually(
        "the other middle tier sees the refresh",
        deadline,
        || async { read(&there).await.as_deref() == Some("After") },
    )
    .await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_items_retention_removes_leave_every_middle_tiers_pages_within_seconds() {
    let _cassandra = cassandra_shared().await;
    // Retention removes items without refreshing the feed (a gone feed is never refreshed
    // again): another middle tier's decoded copy must still drop them within seconds, or its
    // unread counts would include them forever.
    let here = middletier::testing::cassandra_store().await;
    let there = middletier::testing::cassandra_store().await;
    let prefix = middletier::testing::unique_prefix();
    let url = FeedUrl::parse(&format!("https://example.com/{prefix}kept.xml")).expect("url");
    let mut state = FeedState::new(url.clone(), time(0));
    state.items = vec![item("new", "New", 30), item("old", "Old", 0)];
    state.last_attempt = Some(time(0));
    here.save_feed_state(&state).await.expect("save");
    let held = |store: &middletier::store::FeedCache<middletier::store::CassandraStore>| {
        let store = store.clone();
        let url = url.clone();
        async move {
            let feeds = store.cached_feeds(&[url]).await.expect("read");
            let mut ids: Vec<String> = feeds[0]
                .as_ref()
                .map(|f| f.history.iter().map(|e| e.id.clone()).collect())
                .unwrap_or_default();
            ids.sort();
            ids
        }
    };
    assert_eq!(held(&there).await, ["new", "old"], "warms the cache");

    // The feed's document moved on (only "new" is current), then retention removes "old".
    state.items = vec![item("new", "New", 30)];
    here.save_feed_state(&state).await.expect("save");
    assert_eq!(
        here.remove_history(&url, &["old".to_owned()])
            .await
            .expect("remove"),
        1
    );
    let deadline = middletier::store::FEED_CACHE_FRESH_FOR + std::time::Duration::from_secs(3);
    platform::testing::eventually(
        "the other middle tier stops listing the removed item",
        deadline,
        || async { held(&there).await == ["new"] },
    )
    .await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_an_item_another_middle_tier_just_fetched_can_be_marked_at_once() {
    let _cassandra = cassandra_shared().await;
    let here = middletier::testing::cassandra_store().await;
    let there = middletier::testing::cassandra_store().await;
    let prefix = middletier::testing::unique_prefix();
    let ann = user(&format!("{prefix}ann"));
    let url = FeedUrl::parse(&format!("https://example.com/{prefix}fresh.xml")).expect("url");
    there.subscribe(&ann, &url, MAX).await.expect("subscribe");
    let mut state = FeedState::new(url.clone(), time(0));
    state.items = vec![item("old", "Old", 0)];
    state.last_attempt = Some(time(0));
    here.save_feed_state(&state).await.expect("save");
    there
        .cached_feeds(std::slice::from_ref(&url))
        .await
        .expect("warm the other middle tier's cache");

    // Refreshed through this middle tier: the other one's cache does not have the item yet.
    state.items = vec![item("new", "New", 30), item("old", "Old", 0)];
    state.last_attempt = Some(time(60));
    here.save_feed_state(&state).await.expect("save");
    let service = middletier::testing::feed_service(
        Arc::new(there),
        middletier::fetch::FetchSettings::default(),
    );
    let change = middletier_api::ItemStateChange {
        feed: url.to_string(),
        item: "new".to_owned(),
        read: Some(true),
        starred: None,
    };
    service
        .set_item_state(&ann, &change)
        .await
        .expect("an item the feed holds can be marked, cached or not");
}
