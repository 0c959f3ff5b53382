//! Upgrading a Cassandra keyspace written by the previous version (schema versions 1–5: items
//! as one JSON blob per feed, every mark of a user in one partition) to the item history: the
//! new code's versioned data migration copies every item, first-seen time, mark and star, runs
//! once, can run again without undoing newer writes, and two middle tiers may start at once.
//! And a keyspace of version 8, whose search index is clustered by item: its postings are
//! copied newest first, found and paged as before, and a second copy never revives a removed
//! item. Postings without word positions (so copied, or written by a version that did not know
//! them) still answer phrases, by the content. And a keyspace of version 11, whose phrases were
//! looked up by their words: the word pairs phrases are now looked up by are indexed for every
//! item it holds.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

use middletier::store::{
    CassandraStore, HistoryStore, MarkChange, ReadingStore, SearchOrder, SearchQuery, SearchStore,
    SearchTerms,
};
use middletier::testing::cassandra_settings;
use middletier_api::Item;
use middletier_api::domain::{FeedUrl, UserId};

use crate::support::cassandra_shared;

/// The schema files of the previous version, exactly as it applied them.
const PREVIOUS_SCHEMA: &[(i32, &str, &str)] = &[
    (
        1,
        "subscriptions",
        include_str!("../../schema/cassandra/001_subscriptions.cql"),
    ),
    (
        2,
        "feed_cache",
        include_str!("../../schema/cassandra/002_feed_cache.cql"),
    ),
    (
        3,
        "item_state",
        include_str!("../../schema/cassandra/003_item_state.cql"),
    ),
    (
        4,
        "reading",
        include_str!("../../schema/cassandra/004_reading.cql"),
    ),
    (
        5,
        "sessions_by_user",
        include_str!("../../schema/cassandra/005_sessions_by_user.cql"),
    ),
];

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + seconds, 0)
        .single()
        .expect("time")
}

fn item(id: &str) -> Item {
    Item {
        id: id.to_owned(),
        title: format!("Title {id}"),
        link: Some(format!("https://example.com/{id}")),
        description: format!("<p>Body of {id}</p>"),
        published: None,
        read: false,
        starred: false,
        author: None,
        enclosures: Vec::new(),
    }
}

async fn cql(session: &Session, statement: &str) {
    session
        .query_unpaged(statement, ())
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// A keyspace of its own holding only the previous version's schema.
async fn previous_version_keyspace(keyspace: &str) -> Session {
    let session = SessionBuilder::new()
        .known_node(cassandra_settings().nodes)
        .build()
        .await
        .expect("connect");
    cql(
        &session,
        &format!(
            "CREATE KEYSPACE {keyspace} WITH replication = \
             {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        ),
    )
    .await;
    session.use_keyspace(keyspace, false).await.expect("use");
    cql(
        &session,
        "CREATE TABLE schema_version (version int PRIMARY KEY, name text, applied_at timestamp)",
    )
    .await;
    for (version, name, file) in PREVIOUS_SCHEMA {
        let without_comments: String = file
            .lines()
            .map(|line| line.split("--").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        for statement in without_comments.split(';').filter(|s| !s.trim().is_empty()) {
            cql(&session, statement).await;
        }
        session
            .query_unpaged(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, Utc::now()),
            )
            .await
            .expect("record version");
    }
    session.await_schema_agreement().await.expect("agreement");
    session
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn upgrading_a_previous_version_keyspace_keeps_every_item_first_seen_mark_and_star() {
    let _cassandra = cassandra_shared().await;
    let keyspace = format!(
        "rss_upgrade_{}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let old = previous_version_keyspace(&keyspace).await;
    let feed = FeedUrl::parse("https://example.com/feed.xml").expect("url");
    let ann = UserId::parse("ann").expect("user");

    // What the previous version wrote: a blob of the current items with their first-seen
    // times (one missing: it then fell back to the last success), and per-user marks, one on an
    // item that had already left the blob.
    let items = vec![item("a"), item("b"), item("c")];
    let first_seen: HashMap<&str, DateTime<Utc>> = HashMap::from([("a", at(10)), ("b", at(20))]);
    old.query_unpaged(
        "INSERT INTO feeds_by_url (url, title, items, last_success, last_attempt, first_seen) \
         VALUES (?, ?, ?, ?, ?, ?)",
        (
            feed.as_str(),
            "Feed",
            serde_json::to_string(&items).expect("json"),
            at(30),
            at(30),
            &first_seen,
        ),
    )
    .await
    .expect("blob");
    old.query_unpaged(
        "INSERT INTO subscriptions_by_user (user_id, url, added_at) VALUES (?, ?, ?)",
        (ann.as_str(), feed.as_str(), at(1)),
    )
    .await
    .expect("subscription");
    old.query_unpaged(
        "INSERT INTO subscribers_by_feed (url, user_id) VALUES (?, ?)",
        (feed.as_str(), ann.as_str()),
    )
    .await
    .expect("subscriber");
    let marks = [
        ("a", Some(true), None, at(40)),
        ("b", None, Some(true), at(41)),
        ("gone", Some(true), Some(true), at(42)),
    ];
    for (id, read, starred, updated_at) in marks {
        old.query_unpaged(
            "INSERT INTO item_state_by_user (user_id, feed_url, item_id, read, starred, \
             updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (ann.as_str(), feed.as_str(), id, read, starred, updated_at),
        )
        .await
        .expect("mark");
    }
    old.query_unpaged(
        "INSERT INTO read_watermarks_by_user (user_id, feed_url, up_to, set_at) \
         VALUES (?, ?, ?, ?)",
        (ann.as_str(), feed.as_str(), at(5), at(6)),
    )
    .await
    .expect("watermark");

    // Two middle tiers of the new version start at once on it.
    let mut settings = cassandra_settings();
    settings.keyspace = keyspace.clone();
    let (store, _other) = futures::future::try_join(
        CassandraStore::connect(&settings),
        CassandraStore::connect(&settings),
    )
    .await
    .expect("both open the old keyspace");

    let check = |store: CassandraStore| {
        let feed = feed.clone();
        let ann = ann.clone();
        let items = items.clone();
        async move {
            let mut history = store.history(&feed).await.expect("history");
            history.sort_by(|x, y| x.id.cmp(&y.id));
            let seen: Vec<(String, i64)> = history.iter().map(|e| (e.id.clone(), e.seen)).collect();
            assert_eq!(
                seen,
                [
                    ("a".to_owned(), at(10).timestamp_millis()),
                    ("b".to_owned(), at(20).timestamp_millis()),
                    ("c".to_owned(), at(30).timestamp_millis()),
                ],
                "every blob item, with its first-seen time (the last success when unknown)"
            );
            let content = store.history_items(&feed, &history).await.expect("items");
            assert_eq!(content, items.into_iter().map(Some).collect::<Vec<_>>());

            let reading = store.feed_reading(&ann, &feed).await.expect("feed reading");
            let everything = store.reading(&ann).await.expect("reading");
            assert_eq!(
                everything.feeds.get(&feed).map(|f| (**f).clone()),
                Some(reading.clone()),
                "the page view's read finds what the per-feed read finds"
            );
            let watermark = reading.watermark.expect("watermark kept");
            assert_eq!((watermark.up_to, watermark.set_at), (at(5), at(6)));
            reading
        }
    };
    let reading = check(store.clone()).await;
    let found = store
        .search(&SearchQuery {
            feeds: vec![feed.clone()],
            terms: SearchTerms {
                words: vec!["body".to_owned()],
                ..SearchTerms::default()
            },
            order: SearchOrder::Newest,
            offset: 0,
            limit: 10,
        })
        .await
        .expect("search");
    assert_eq!(found.len(), 3, "migrated items are searchable: {found:?}");
    assert_eq!(reading.marks.len(), 3, "{reading:?}");
    assert_eq!(reading.marks["a"].read, Some((true, at(40))));
    assert!(!reading.marks["a"].starred);
    assert!(reading.marks["b"].starred, "a star survives the move");
    assert!(
        reading.marks["gone"].starred,
        "a star on an item gone from the blob is kept too"
    );

    // A newer write, then the migration run again (as if interrupted before it was recorded):
    // nothing it copies undoes the newer write.
    store
        .mark_item(
            &ann,
            &feed,
            "a",
            MarkChange {
                read: Some(false),
                starred: None,
            },
            at(50),
        )
        .await
        .expect("unread a");
    store
        .remove_history(&feed, &["c".to_owned()])
        .await
        .expect("retention removes c");
    old.query_unpaged("DELETE FROM schema_version WHERE version = 7", ())
        .await
        .expect("forget version 7");
    let again = CassandraStore::connect(&settings)
        .await
        .expect("reopens and migrates again");
    let reading = again.feed_reading(&ann, &feed).await.expect("reading");
    assert_eq!(
        reading.marks["a"].read,
        Some((false, at(50))),
        "the newer mark wins over the copied one"
    );
    let history = again.history(&feed).await.expect("history");
    assert!(
        history.iter().all(|e| e.id != "c"),
        "an item removed since stays removed"
    );
    assert_eq!(history.len(), 2);

    cql(&old, &format!("DROP KEYSPACE {keyspace}")).await;
}

/// The schema files of the version before newest-first postings (1–8; 7 was a data step).
const VERSION_8_SCHEMA: &[(i32, &str, &str)] = &[
    (
        6,
        "item_history",
        include_str!("../../schema/cassandra/006_item_history.cql"),
    ),
    (7, "history_from_blobs", ""),
    (
        8,
        "history_changed",
        include_str!("../../schema/cassandra/008_history_changed.cql"),
    ),
];

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn upgrading_a_version_8_keyspace_copies_its_search_index_newest_first() {
    let _cassandra = cassandra_shared().await;
    let keyspace = format!(
        "rss_upgrade8_{}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let old = previous_version_keyspace(&keyspace).await;
    for (version, name, file) in VERSION_8_SCHEMA {
        let without_comments: String = file
            .lines()
            .map(|line| line.split("--").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        for statement in without_comments.split(';').filter(|s| !s.trim().is_empty()) {
            cql(&old, statement).await;
        }
        old.query_unpaged(
            "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
            (version, name, Utc::now()),
        )
        .await
        .expect("record version");
    }
    old.await_schema_agreement().await.expect("agreement");
    // What version 8 wrote for three items: content, index and the search index by item id.
    let feed = FeedUrl::parse("https://example.com/feed.xml").expect("url");
    for (n, id) in ["a", "b", "c"].into_iter().enumerate() {
        let seen = at(100 * n as i64);
        let item = item(id);
        old.query_unpaged(
            "INSERT INTO items_by_feed_month (feed_url, month, item_id, seen, time, item) \
             VALUES (?, ?, ?, ?, ?, ?)",
            (
                feed.as_str(),
                seen.format("%Y%m")
                    .to_string()
                    .parse::<i32>()
                    .expect("month"),
                id,
                seen,
                seen,
                serde_json::to_string(&item).expect("json"),
            ),
        )
        .await
        .expect("content");
        old.query_unpaged(
            "INSERT INTO item_index_by_feed (feed_url, item_id, seen, time) VALUES (?, ?, ?, ?)",
            (feed.as_str(), id, seen, seen),
        )
        .await
        .expect("index");
        for term in ["title", "body", "of", id] {
            old.query_unpaged(
                "INSERT INTO item_terms_by_feed (feed_url, term, item_id, seen, time, count) \
                 VALUES (?, ?, ?, ?, ?, ?)",
                (feed.as_str(), term, id, seen, seen, 1),
            )
            .await
            .expect("term");
        }
    }

    let mut settings = cassandra_settings();
    settings.keyspace = keyspace.clone();
    let store = CassandraStore::connect(&settings)
        .await
        .expect("opens the version 8 keyspace");
    let search = |store: CassandraStore, word: &'static str, offset: usize| async move {
        let found = store
            .search(&SearchQuery {
                feeds: vec![FeedUrl::parse("https://example.com/feed.xml").expect("url")],
                terms: SearchTerms {
                    words: vec![word.to_owned()],
                    ..SearchTerms::default()
                },
                order: SearchOrder::Newest,
                offset,
                limit: 2,
            })
            .await
            .expect("search");
        found
            .into_iter()
            .map(|hit| hit.entry.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(search(store.clone(), "body", 0).await, ["c", "b"]);
    assert_eq!(search(store.clone(), "body", 2).await, ["a"], "paged");
    assert_eq!(search(store.clone(), "b", 0).await, ["b"]);
    // The copied postings have no positions or pairs: the pairs a phrase is looked up by are
    // indexed from the content (version 12).
    let phrase = |store: CassandraStore, words: &'static [&'static str]| async move {
        let found = store
            .search(&SearchQuery {
                feeds: vec![FeedUrl::parse("https://example.com/feed.xml").expect("url")],
                terms: SearchTerms {
                    phrases: vec![words.iter().map(|w| (*w).to_owned()).collect()],
                    ..SearchTerms::default()
                },
                order: SearchOrder::Newest,
                offset: 0,
                limit: 10,
            })
            .await
            .expect("search");
        found
            .into_iter()
            .map(|hit| hit.entry.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(phrase(store.clone(), &["body", "of", "b"]).await, ["b"]);
    assert!(phrase(store.clone(), &["of", "body"]).await.is_empty());

    // Retention after the upgrade, then the copy run again (as if interrupted before it was
    // recorded): the removed item's postings stay removed.
    store
        .remove_history(&feed, &["c".to_owned()])
        .await
        .expect("retention removes c");
    old.query_unpaged("DELETE FROM schema_version WHERE version = 10", ())
        .await
        .expect("forget version 10");
    let again = CassandraStore::connect(&settings)
        .await
        .expect("reopens and copies again");
    assert_eq!(search(again.clone(), "body", 0).await, ["b", "a"]);
    assert!(search(again, "c", 0).await.is_empty());

    cql(&old, &format!("DROP KEYSPACE {keyspace}")).await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn positions_a_previous_version_left_behind_when_it_rewrote_a_posting_are_not_trusted() {
    use middletier::store::StoredItem;
    let _cassandra = cassandra_shared().await;
    let keyspace = format!(
        "rss_positions_{}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let mut settings = cassandra_settings();
    settings.keyspace = keyspace.clone();
    let store = CassandraStore::connect(&settings).await.expect("connect");
    let feed = FeedUrl::parse("https://example.com/feed.xml").expect("url");
    let mut apart = item("apart");
    // Text words from 3: "quick brown" at 3, "brown fox" at 6, so no "quick brown fox".
    apart.description = "<p>quick brown x brown fox</p>".to_owned();
    store
        .insert_history(
            &feed,
            &[StoredItem {
                item: apart,
                seen: at(0),
            }],
        )
        .await
        .expect("insert");
    let session = SessionBuilder::new()
        .known_node(cassandra_settings().nodes)
        .build()
        .await
        .expect("connect");
    session.use_keyspace(&keyspace, false).await.expect("use");
    // Positions that once made "quick brown fox" a phrase of the item, then a rewrite of the
    // count alone, as a writer that does not know positions (a middle tier of the version
    // before them) writes a posting.
    let written = Utc::now().timestamp_micros();
    for (term, position) in [("brown fox", 4)] {
        session
            .query_unpaged(
                "UPDATE item_postings_by_feed USING TIMESTAMP ? SET positions = ? \
                 WHERE feed_url = ? AND term = ? AND time = ? AND item_id = ?",
                (written, vec![position], feed.as_str(), term, at(0), "apart"),
            )
            .await
            .expect("old positions");
        session
            .query_unpaged(
                "UPDATE item_postings_by_feed USING TIMESTAMP ? SET count = 1 \
                 WHERE feed_url = ? AND term = ? AND time = ? AND item_id = ?",
                (written + 1, feed.as_str(), term, at(0), "apart"),
            )
            .await
            .expect("count rewritten");
    }
    let found = store
        .search(&SearchQuery {
            feeds: vec![feed.clone()],
            terms: SearchTerms {
                phrases: vec![vec![
                    "quick".to_owned(),
                    "brown".to_owned(),
                    "fox".to_owned(),
                ]],
                ..SearchTerms::default()
            },
            order: SearchOrder::Newest,
            offset: 0,
            limit: 10,
        })
        .await
        .expect("search");
    assert!(found.is_empty(), "the content decides: {found:?}");
    cql(&session, &format!("DROP KEYSPACE {keyspace}")).await;
}

/// The schema files from the newest-first postings to word positions (9–11; 10 was a data
/// step), the last version before phrases were indexed by word pairs.
const VERSION_11_SCHEMA: &[(i32, &str, &str)] = &[
    (
        9,
        "item_postings",
        include_str!("../../schema/cassandra/009_item_postings.cql"),
    ),
    (10, "postings_from_terms", ""),
    (
        11,
        "posting_positions",
        include_str!("../../schema/cassandra/011_posting_positions.cql"),
    ),
];

/// Applies `steps` (CQL files, or data steps with nothing to apply) and records each.
async fn apply(session: &Session, steps: &[(i32, &str, &str)]) {
    for (version, name, file) in steps {
        let without_comments: String = file
            .lines()
            .map(|line| line.split("--").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        for statement in without_comments.split(';').filter(|s| !s.trim().is_empty()) {
            cql(session, statement).await;
        }
        session
            .query_unpaged(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, Utc::now()),
            )
            .await
            .expect("record version");
    }
    session.await_schema_agreement().await.expect("agreement");
}

/// What version 11 wrote for one item: its content, its index entry, and a posting with
/// positions for each of its words (title words from 0, text words after a gap of one), but
/// no pairs.
async fn version_11_item(session: &Session, feed: &FeedUrl, item: &Item, seen: DateTime<Utc>) {
    let month: i32 = seen.format("%Y%m").to_string().parse().expect("month");
    session
        .query_unpaged(
            "INSERT INTO items_by_feed_month (feed_url, month, item_id, seen, time, item) \
             VALUES (?, ?, ?, ?, ?, ?)",
            (
                feed.as_str(),
                month,
                &item.id,
                seen,
                seen,
                serde_json::to_string(item).expect("json"),
            ),
        )
        .await
        .expect("content");
    session
        .query_unpaged(
            "INSERT INTO item_index_by_feed (feed_url, item_id, seen, time) VALUES (?, ?, ?, ?)",
            (feed.as_str(), &item.id, seen, seen),
        )
        .await
        .expect("index");
    let cut = |text: &str| -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty() && *w != "p")
            .map(str::to_lowercase)
            .collect()
    };
    let title = cut(&item.title);
    let text = cut(&item.description);
    let mut positions: HashMap<String, Vec<i32>> = HashMap::new();
    let placed = title.iter().enumerate().chain(
        text.iter()
            .enumerate()
            .map(|(at, word)| (at + title.len() + 1, word)),
    );
    for (at, word) in placed {
        positions
            .entry(word.clone())
            .or_default()
            .push(i32::try_from(at).expect("small"));
    }
    for (term, at) in positions {
        session
            .query_unpaged(
                "INSERT INTO item_postings_by_feed \
                 (feed_url, term, time, item_id, seen, count, positions) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    feed.as_str(),
                    term,
                    seen,
                    &item.id,
                    seen,
                    i32::try_from(at.len()).expect("small"),
                    at,
                ),
            )
            .await
            .expect("posting");
    }
}

/// The ids `store` finds in `feed` for `phrases` (and `words`), newest first.
async fn found(
    store: &CassandraStore,
    feed: &FeedUrl,
    words: &[&str],
    phrases: &[&[&str]],
) -> Vec<String> {
    let owned = |list: &[&str]| list.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
    store
        .search(&SearchQuery {
            feeds: vec![feed.clone()],
            terms: SearchTerms {
                words: owned(words),
                phrases: phrases.iter().map(|p| owned(p)).collect(),
                ..SearchTerms::default()
            },
            order: SearchOrder::Newest,
            offset: 0,
            limit: 1_000,
        })
        .await
        .expect("search")
        .into_iter()
        .map(|hit| hit.entry.id)
        .collect()
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn upgrading_a_version_11_keyspace_indexes_the_word_pairs_phrases_are_found_by() {
    use middletier::store::StoredItem;
    let _cassandra = cassandra_shared().await;
    let keyspace = format!(
        "rss_upgrade11_{}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let old = previous_version_keyspace(&keyspace).await;
    apply(&old, VERSION_8_SCHEMA).await;
    apply(&old, VERSION_11_SCHEMA).await;
    let feed = FeedUrl::parse("https://example.com/feed.xml").expect("url");
    let mut fox = item("fox");
    fox.title = "Quick brown fox".to_owned();
    fox.description = "<p>jumps over the lazy dog</p>".to_owned();
    let mut dog = item("dog");
    dog.title = "The brown dog".to_owned();
    dog.description = "<p>the fox jumps over</p>".to_owned();
    version_11_item(&old, &feed, &fox, at(0)).await;
    version_11_item(&old, &feed, &dog, at(10)).await;
    // More items than the migration groups at once, all holding one phrase.
    let many: Vec<Item> = (0..510)
        .map(|n| {
            let mut many = item(&format!("many{n:03}"));
            many.description = format!("<p>one shared phrase {n}</p>");
            many
        })
        .collect();
    for (n, item) in many.iter().enumerate() {
        version_11_item(&old, &feed, item, at(20 + n as i64)).await;
    }

    let mut settings = cassandra_settings();
    settings.keyspace = keyspace.clone();
    let store = CassandraStore::connect(&settings)
        .await
        .expect("opens the version 11 keyspace");
    assert_eq!(
        found(&store, &feed, &[], &[&["brown", "fox"]]).await,
        ["fox"]
    );
    assert_eq!(
        found(&store, &feed, &[], &[&["brown", "dog"]]).await,
        ["dog"]
    );
    assert_eq!(
        found(&store, &feed, &[], &[&["jumps", "over", "the"]]).await,
        ["fox"]
    );
    assert_eq!(
        found(&store, &feed, &[], &[&["fox", "jumps", "over"]]).await,
        ["dog"]
    );
    assert!(
        found(&store, &feed, &[], &[&["fox", "jumps"], &["lazy", "dog"]])
            .await
            .is_empty(),
        "no item holds both phrases"
    );
    assert!(
        found(&store, &feed, &[], &[&["fox", "jumps", "the"]])
            .await
            .is_empty()
    );
    assert_eq!(
        found(&store, &feed, &["quick"], &[&["lazy", "dog"]]).await,
        ["fox"]
    );
    assert_eq!(
        found(&store, &feed, &[], &[&["one", "shared", "phrase"]])
            .await
            .len(),
        many.len(),
        "every item stored before has its pairs"
    );

    // Written after the upgrade: its pairs are written with it.
    let mut after = item("after");
    after.description = "<p>a lazy dog sleeps</p>".to_owned();
    store
        .insert_history(
            &feed,
            &[StoredItem {
                item: after,
                seen: at(1_000),
            }],
        )
        .await
        .expect("insert");
    assert_eq!(
        found(&store, &feed, &[], &[&["lazy", "dog"]]).await,
        ["after", "fox"]
    );

    // Retention after the upgrade, then the migration run again (as if interrupted before it
    // was recorded): the removed item's pairs stay removed.
    store
        .remove_history(&feed, &["fox".to_owned()])
        .await
        .expect("retention removes fox");
    old.query_unpaged("DELETE FROM schema_version WHERE version = 12", ())
        .await
        .expect("forget version 12");
    let again = CassandraStore::connect(&settings)
        .await
        .expect("reopens and indexes again");
    assert_eq!(
        found(&again, &feed, &[], &[&["lazy", "dog"]]).await,
        ["after"]
    );
    assert!(
        found(&again, &feed, &[], &[&["brown", "fox"]])
            .await
            .is_empty()
    );

    cql(&old, &format!("DROP KEYSPACE {keyspace}")).await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn a_keyspace_from_before_app_passwords_keeps_its_sessions_and_categories_and_gains_them() {
    use middletier::store::{
        AccountStore, AppPasswordCreated, AppPasswordRecord, AppPasswordStore,
    };

    let _cassandra = cassandra_shared().await;
    let keyspace = format!(
        "rss_upgrade11_{}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let old = previous_version_keyspace(&keyspace).await;
    for (version, name, file) in VERSION_8_SCHEMA.iter().chain(VERSION_11_SCHEMA) {
        let without_comments: String = file
            .lines()
            .map(|line| line.split("--").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        for statement in without_comments.split(';').filter(|s| !s.trim().is_empty()) {
            cql(&old, statement).await;
        }
        old.query_unpaged(
            "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
            (version, name, Utc::now()),
        )
        .await
        .expect("record version");
    }
    old.await_schema_agreement().await.expect("agreement");
    // What version 11 wrote: a categorised subscription and a browser session.
    let ann = UserId::parse("ann").expect("user");
    let feed = FeedUrl::parse("https://example.com/feed.xml").expect("url");
    old.query_unpaged(
        "INSERT INTO subscriptions_by_user (user_id, url, added_at, category) VALUES (?, ?, ?, ?)",
        ("ann", feed.as_str(), at(0), "News"),
    )
    .await
    .expect("subscription");
    old.query_unpaged(
        "INSERT INTO subscribers_by_feed (url, user_id) VALUES (?, ?)",
        (feed.as_str(), "ann"),
    )
    .await
    .expect("subscriber");
    let token_hash = "ab".repeat(32);
    let expires = Utc::now() + chrono::Duration::hours(1);
    let expires = DateTime::from_timestamp_millis(expires.timestamp_millis()).expect("time");
    old.query_unpaged(
        "INSERT INTO sessions (token_hash, user_id, expires) VALUES (?, ?, ?) USING TTL 3600",
        (token_hash.as_str(), "ann", expires),
    )
    .await
    .expect("session");

    let mut settings = cassandra_settings();
    settings.keyspace = keyspace.clone();
    let store = CassandraStore::connect(&settings)
        .await
        .expect("opens the version 11 keyspace");
    let session = store
        .session(&token_hash, Utc::now())
        .await
        .expect("read")
        .expect("the session lives on");
    assert_eq!(session.user, ann);
    assert_eq!(session.app_password, None, "a browser's");
    let reading = store.reading(&ann).await.expect("read");
    assert_eq!(
        reading.subscriptions,
        [(feed.clone(), Some("News".to_owned()))]
    );
    assert!(reading.titles.is_empty(), "no title of the user's own yet");

    // And what the new schema adds works on it.
    assert!(
        store
            .set_title(&ann, &feed, Some("Mine"))
            .await
            .expect("title")
    );
    assert_eq!(
        store.reading(&ann).await.expect("read").titles.get(&feed),
        Some(&"Mine".to_owned())
    );
    let password = AppPasswordRecord {
        user: ann.clone(),
        id: "0123456789abcdef".to_owned(),
        name: "Phone".to_owned(),
        secret_hash: "cd".repeat(32),
        fever_hash: "ef".repeat(32),
        created: at(0),
        last_used: None,
    };
    assert_eq!(
        store
            .create_app_password(&password, 20)
            .await
            .expect("create"),
        AppPasswordCreated::Created
    );
    assert_eq!(
        store
            .app_password_by_secret(&password.secret_hash)
            .await
            .expect("find"),
        Some(password)
    );
    cql(&old, &format!("DROP KEYSPACE {keyspace}")).await;
}
