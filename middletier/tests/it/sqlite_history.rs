//! The embedded store's item history and search: a database written by an earlier schema
//! keeps every item, time, mark and star, and every feed's current document; history is kept past the current document and goes
//! only with its marks; search reads user text as words, never as FTS5 syntax or markup.

use chrono::{DateTime, Utc};
use middletier::store::{
    FeedState, FeedStore, HistoryStore, MarkChange, RELEVANCE_WINDOW, ReadingStore, SearchOrder,
    SearchQuery, SearchStore, SearchTerms, SqliteStore, StoredItem, SubscriptionStore,
};
use middletier_api::Item;
use middletier_api::domain::{FeedUrl, UserId};

use crate::support::ScratchDir;

fn time(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_750_000_000_000 + secs * 1000).expect("time")
}

fn url(name: &str) -> FeedUrl {
    FeedUrl::parse(&format!("https://example.com/{name}.xml")).expect("url")
}

fn user(name: &str) -> UserId {
    UserId::parse(name).expect("user")
}

fn item(id: &str, title: &str, description: &str) -> Item {
    Item {
        id: id.to_owned(),
        title: title.to_owned(),
        link: Some(format!("https://example.com/{id}")),
        description: description.to_owned(),
        published: None,
        read: false,
        starred: false,
        author: None,
        enclosures: Vec::new(),
    }
}

/// `items` as `url`'s current document, first seen at `seen` seconds each.
fn document(url: &FeedUrl, items: &[(Item, i64)]) -> FeedState {
    FeedState {
        items: items.iter().map(|(item, _)| item.clone()).collect(),
        first_seen: items
            .iter()
            .map(|(item, seen)| (item.id.clone(), time(*seen)))
            .collect(),
        last_success: Some(time(1000)),
        ..FeedState::new(url.clone(), time(0))
    }
}

fn query(feeds: &[&FeedUrl], words: &[&str]) -> SearchQuery {
    SearchQuery {
        feeds: feeds.iter().map(|feed| (*feed).clone()).collect(),
        terms: SearchTerms {
            words: words.iter().map(|w| (*w).to_owned()).collect(),
            ..SearchTerms::default()
        },
        order: SearchOrder::Newest,
        offset: 0,
        limit: 50,
    }
}

async fn found(store: &SqliteStore, query: &SearchQuery) -> Vec<String> {
    store
        .search(query)
        .await
        .expect("search answers")
        .into_iter()
        .map(|hit| hit.entry.id)
        .collect()
}

async fn scratch_store(name: &str) -> (ScratchDir, SqliteStore) {
    let scratch = ScratchDir::new(name);
    let store = SqliteStore::open(&scratch.join("rss.db"))
        .await
        .expect("open");
    (scratch, store)
}

#[tokio::test]
async fn a_database_of_the_first_schema_keeps_every_item_first_seen_time_mark_and_star() {
    let scratch = ScratchDir::new("migrate-002");
    let path = scratch.join("rss.db");
    let feed = url("one");
    let items = [
        item("a", "Café opening", "<p>Fresh <b>coffee</b> &amp; cake</p>"),
        item("b\"quoted'", "Second", "plain text"),
        Item {
            published: Some("2025-06-15T10:00:00+02:00".to_owned()),
            ..item("c", "Dated", "<a href=\"https://example.com/x\">link</a>")
        },
    ];
    {
        // What the previous release wrote: its schema, version 1, a feed row with its items
        // as JSON and their first-seen times, a subscription with a read and a starred item.
        let db = rusqlite::Connection::open(&path).expect("create");
        db.execute_batch(include_str!("../../schema/sqlite/001_initial.sql"))
            .expect("schema 001");
        db.pragma_update(None, "user_version", 1).expect("version");
        let first_seen = serde_json::json!({"a": time(1).timestamp_millis(),
            "b\"quoted'": time(2).timestamp_millis(), "c": time(3).timestamp_millis()});
        db.execute(
            "INSERT INTO feeds (url, title, items, consecutive_errors, gone, next_refresh, \
             first_seen, last_success) VALUES (?1, 'One', ?2, 0, 0, 0, ?3, ?4)",
            rusqlite::params![
                feed.as_str(),
                serde_json::to_string(&items).expect("items"),
                first_seen.to_string(),
                time(5).timestamp_millis(),
            ],
        )
        .expect("feed");
        db.execute_batch(&format!(
            "INSERT INTO subscriptions (user_id, feed_url, position) VALUES ('ann', '{0}', 1);
             INSERT INTO item_marks (user_id, feed_url, item_id, read, read_at, starred)
                 VALUES ('ann', '{0}', 'a', 1, {1}, 0), ('ann', '{0}', 'c', NULL, NULL, 1);",
            feed.as_str(),
            time(9).timestamp_millis()
        ))
        .expect("reading state");
    }

    let store = SqliteStore::open(&path)
        .await
        .expect("the new code opens it");

    let mut history = store.history(&feed).await.expect("history");
    history.sort_by(|x, y| x.id.cmp(&y.id));
    let seen: Vec<(&str, i64)> = history.iter().map(|e| (e.id.as_str(), e.seen)).collect();
    assert_eq!(
        seen,
        [
            ("a", time(1).timestamp_millis()),
            ("b\"quoted'", time(2).timestamp_millis()),
            ("c", time(3).timestamp_millis()),
        ],
        "every item with its first-seen time"
    );
    let dated = history.iter().find(|e| e.id == "c").expect("c");
    assert_eq!(
        dated.time,
        DateTime::parse_from_rfc3339("2025-06-15T10:00:00+02:00")
            .expect("date")
            .timestamp_millis(),
        "a dated item sorts by its publication time"
    );
    let content = store.history_items(&feed, &history).await.expect("content");
    let mut expected: Vec<Item> = items.to_vec();
    expected.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(
        content,
        expected.into_iter().map(Some).collect::<Vec<_>>(),
        "every item's content, nothing lost"
    );
    let reading = store
        .feed_reading(&user("ann"), &feed)
        .await
        .expect("reading");
    assert_eq!(reading.marks["a"].read.map(|(read, _)| read), Some(true));
    assert!(reading.marks["c"].starred, "the star is kept");
    assert_eq!(
        found(&store, &query(&[&feed], &["cafe", "coffee"])).await,
        ["a"],
        "migrated items are searchable, diacritics and markup aside"
    );
    assert!(
        found(&store, &query(&[&feed], &["href"])).await.is_empty(),
        "markup is not indexed"
    );
    let state = store
        .feed_states(std::slice::from_ref(&feed))
        .await
        .expect("state");
    assert_eq!(
        state[0].as_ref().map(|state| &state.items[..]),
        Some(&items[..]),
        "the current document, in its order"
    );
    drop(store);
    assert_index_matches_rows(&path);
}

#[tokio::test]
async fn a_database_of_the_second_schema_loads_every_current_document_in_order_from_its_history() {
    let scratch = ScratchDir::new("migrate-004");
    let path = scratch.join("rss.db");
    let feed = url("two");
    let broken = url("broken");
    // Document order is not id order nor time order: the load must keep it.
    let items = [
        item("c", "Third letter", "<p>gamma</p>"),
        item("a", "First letter", "alpha"),
        item("b\"quoted'", "Second letter", "beta"),
    ];
    {
        // What the previous release wrote: schema 2, the current document as JSON in the feed
        // row beside its first-seen times, and every item as a history row with its kept
        // first-seen time (here earlier than the row's map says: the history's wins).
        let db = rusqlite::Connection::open(&path).expect("create");
        db.execute_batch(include_str!("../../schema/sqlite/001_initial.sql"))
            .expect("schema 001");
        db.execute_batch(include_str!("../../schema/sqlite/002_item_history.sql"))
            .expect("schema 002");
        db.pragma_update(None, "user_version", 2).expect("version");
        let first_seen: serde_json::Map<String, serde_json::Value> = items
            .iter()
            .map(|item| (item.id.clone(), time(100).timestamp_millis().into()))
            .collect();
        let row = "INSERT INTO feeds (url, title, items, consecutive_errors, gone, \
                   next_refresh, first_seen, last_success, etag) \
                   VALUES (?1, 'Two', ?2, 0, 0, 0, ?3, ?4, 'v1')";
        db.execute(
            row,
            rusqlite::params![
                feed.as_str(),
                serde_json::to_string(&items).expect("items"),
                serde_json::Value::Object(first_seen).to_string(),
                time(5).timestamp_millis(),
            ],
        )
        .expect("feed");
        db.execute(
            row,
            rusqlite::params![
                broken.as_str(),
                "{not json",
                "{}",
                time(5).timestamp_millis()
            ],
        )
        .expect("a row whose document no longer decodes");
        for (n, item) in (1_i64..).zip(&items) {
            let at = time(n).timestamp_millis();
            db.execute(
                "INSERT INTO items (river_key, feed_url, item_id, seen, time, title, link, \
                 description, published, text) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, NULL, ?7)",
                rusqlite::params![
                    at << 20,
                    feed.as_str(),
                    item.id,
                    at,
                    item.title,
                    item.link,
                    item.description,
                ],
            )
            .expect("history row");
        }
    }

    let store = SqliteStore::open(&path)
        .await
        .expect("the new code opens it");

    let states = store
        .feed_states(&[feed.clone(), broken.clone()])
        .await
        .expect("states");
    let state = states[0].as_ref().expect("the feed's state");
    assert_eq!(state.items, items, "the whole document, in its order");
    assert_eq!(state.etag.as_deref(), Some("v1"), "the fetch state is kept");
    for (n, item) in (1..).zip(&items) {
        assert_eq!(
            state.first_seen.get(&item.id),
            Some(&time(n)),
            "{}: the history's first-seen time",
            item.id
        );
    }
    let broken_state = states[1].as_ref().expect("the broken row still loads");
    assert!(
        broken_state.items.is_empty(),
        "an undecodable document lists nothing"
    );

    // Saving the loaded state again changes nothing, and a new document replaces the list.
    store.save_feed_state(state).await.expect("save as loaded");
    let mut next = state.clone();
    next.items.remove(0);
    next.first_seen.remove("c");
    next.items.push(item("d", "Fourth letter", "delta"));
    next.first_seen.insert("d".to_owned(), time(200));
    store
        .save_feed_state(&next)
        .await
        .expect("save a new document");
    let reloaded = store
        .feed_states(std::slice::from_ref(&feed))
        .await
        .expect("states");
    let reloaded = reloaded[0].as_ref().expect("state");
    assert_eq!(reloaded.items, next.items);
    assert_eq!(reloaded.first_seen, next.first_seen);
    assert_eq!(
        store.history(&feed).await.expect("history").len(),
        4,
        "the item that left the document stays in the history"
    );
}

/// Fails unless the full-text index holds exactly the entries of the rows (FTS5's own check:
/// a row indexed twice, or not at all, or an entry left after its row changed).
fn assert_index_matches_rows(path: &std::path::Path) {
    rusqlite::Connection::open(path)
        .expect("open")
        .execute(
            "INSERT INTO items_search (items_search, rank) VALUES ('integrity-check', 1)",
            [],
        )
        .expect("the index matches the rows");
}

#[tokio::test]
async fn every_saved_imported_and_edited_item_is_indexed_exactly_once() {
    let (scratch, store) = scratch_store("index-once").await;
    let feed = url("once");
    store
        .save_feed_state(&document(
            &feed,
            &[
                (item("a", "Alpha", "first words"), 1),
                (item("b", "Beta", "more words"), 2),
            ],
        ))
        .await
        .expect("save");
    // An id twice in one document (the second copy edited), an edited item, a new one and
    // the unchanged one, then an import beside them.
    store
        .save_feed_state(&document(
            &feed,
            &[
                (item("c", "Gamma", "twice"), 3),
                (item("c", "Gamma", "twice, edited"), 3),
                (item("a", "Alpha", "first words, edited"), 1),
                (item("b", "Beta", "more words"), 2),
            ],
        ))
        .await
        .expect("save again");
    store
        .insert_history(
            &feed,
            &[StoredItem {
                item: item("d", "Delta", "imported"),
                seen: time(4),
            }],
        )
        .await
        .expect("import");
    drop(store);
    assert_index_matches_rows(&scratch.join("rss.db"));

    let store = SqliteStore::open(&scratch.join("rss.db"))
        .await
        .expect("open");
    assert_eq!(
        found(&store, &query(&[&feed], &["edited"])).await,
        ["c", "a"]
    );
    assert_eq!(found(&store, &query(&[&feed], &["imported"])).await, ["d"]);
    assert_eq!(found(&store, &query(&[&feed], &["beta"])).await, ["b"]);
}

#[tokio::test]
async fn saving_an_unchanged_document_again_rewrites_no_item_row_nor_index_entry() {
    let (scratch, store) = scratch_store("unchanged").await;
    let feed = url("same");
    let state = document(
        &feed,
        &[
            (item("a", "Alpha", "first words"), 1),
            (item("b", "Beta", "more words"), 2),
        ],
    );
    store.save_feed_state(&state).await.expect("save");
    // Counts every write to an item row from here on (what a 304 refresh saves again).
    rusqlite::Connection::open(scratch.join("rss.db"))
        .expect("open")
        .execute_batch(
            "CREATE TABLE rewrites (n INTEGER);
             CREATE TRIGGER count_updates AFTER UPDATE ON items
                 BEGIN INSERT INTO rewrites VALUES (1); END;
             CREATE TRIGGER count_inserts AFTER INSERT ON items
                 BEGIN INSERT INTO rewrites VALUES (1); END;",
        )
        .expect("counting triggers");

    store.save_feed_state(&state).await.expect("save again");

    let rewrites: i64 = rusqlite::Connection::open(scratch.join("rss.db"))
        .expect("open")
        .query_row("SELECT count(*) FROM rewrites", [], |row| row.get(0))
        .expect("count");
    assert_eq!(rewrites, 0, "unchanged items are left as they are");
    assert_eq!(
        found(&store, &query(&[&feed], &["words"])).await,
        ["b", "a"]
    );
}

#[tokio::test]
async fn history_keeps_items_that_left_the_document_with_their_first_seen_time() {
    let (_scratch, store) = scratch_store("history-keeps").await;
    let feed = url("keeps");
    store
        .save_feed_state(&document(&feed, &[(item("a", "Old", "first"), 1)]))
        .await
        .expect("save");
    store
        .save_feed_state(&document(
            &feed,
            &[
                (item("a", "Old, edited", "second"), 50),
                (item("b", "New", "x"), 60),
            ],
        ))
        .await
        .expect("save again");
    store
        .save_feed_state(&document(&feed, &[(item("b", "New", "x"), 60)]))
        .await
        .expect("a left the document");

    let mut history = store.history(&feed).await.expect("history");
    history.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(history.len(), 2, "nothing is removed by a save");
    assert_eq!(
        history[0].seen,
        time(1).timestamp_millis(),
        "first-seen is kept"
    );
    let content = store
        .history_items(&feed, &history[..1])
        .await
        .expect("content");
    assert_eq!(
        content[0].as_ref().map(|item| item.title.as_str()),
        Some("Old, edited")
    );
    assert_eq!(
        found(&store, &query(&[&feed], &["second"])).await,
        ["a"],
        "the index follows the content"
    );
    assert!(found(&store, &query(&[&feed], &["first"])).await.is_empty());
}

#[tokio::test]
async fn removing_history_removes_every_users_marks_on_those_items() {
    let (_scratch, store) = scratch_store("history-remove").await;
    let feed = url("remove");
    let (ann, bob) = (user("ann"), user("bob"));
    store
        .save_feed_state(&document(
            &feed,
            &[(item("a", "A", "x"), 1), (item("b", "B", "y"), 2)],
        ))
        .await
        .expect("save");
    let star = MarkChange {
        read: Some(true),
        starred: Some(true),
    };
    for who in [&ann, &bob] {
        store.subscribe(who, &feed, 10).await.expect("subscribe");
        for id in ["a", "b"] {
            store
                .mark_item(who, &feed, id, star, time(3))
                .await
                .expect("mark");
        }
    }

    let removed = store
        .remove_history(&feed, &["a".to_owned(), "missing".to_owned()])
        .await
        .expect("remove");

    assert_eq!(removed, 1, "only what it held counts");
    let ids: Vec<String> = store
        .history(&feed)
        .await
        .expect("history")
        .into_iter()
        .map(|entry| entry.id)
        .collect();
    assert_eq!(ids, ["b"]);
    for who in [&ann, &bob] {
        let reading = store.feed_reading(who, &feed).await.expect("reading");
        assert!(!reading.marks.contains_key("a"), "{who:?}'s mark went too");
        assert!(reading.marks["b"].starred);
    }
    assert!(found(&store, &query(&[&feed], &["a"])).await.is_empty());
    let gone = store
        .history_items(&feed, &store.history(&feed).await.expect("h"))
        .await
        .expect("content");
    assert_eq!(gone.len(), 1);
}

#[tokio::test]
async fn a_moved_feed_keeps_its_history_and_stars() {
    let (_scratch, store) = scratch_store("history-move").await;
    let (from, to) = (url("from"), url("to"));
    let ann = user("ann");
    store
        .save_feed_state(&document(&from, &[(item("a", "Starred", "keep me"), 1)]))
        .await
        .expect("save");
    store.subscribe(&ann, &from, 10).await.expect("subscribe");
    let star = MarkChange {
        read: None,
        starred: Some(true),
    };
    store
        .mark_item(&ann, &from, "a", star, time(2))
        .await
        .expect("star");

    store.move_feed(&from, &to).await.expect("move");

    assert!(store.history(&from).await.expect("old").is_empty());
    let history = store.history(&to).await.expect("new");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].seen, time(1).timestamp_millis());
    assert!(
        store.feed_reading(&ann, &to).await.expect("reading").marks["a"].starred,
        "the star followed"
    );
    assert_eq!(found(&store, &query(&[&to], &["keep"])).await, ["a"]);
}

#[tokio::test]
async fn import_adds_only_items_the_history_does_not_hold() {
    let (_scratch, store) = scratch_store("history-insert").await;
    let feed = url("insert");
    store
        .save_feed_state(&document(&feed, &[(item("a", "Current", "now"), 5)]))
        .await
        .expect("save");
    let stored = |id, title, seen| StoredItem {
        item: item(id, title, "imported"),
        seen: time(seen),
    };

    let added = store
        .insert_history(
            &feed,
            &[stored("a", "Imported", 1), stored("old", "Old", 2)],
        )
        .await
        .expect("insert");

    assert_eq!(added, 1);
    let mut history = store.history(&feed).await.expect("history");
    history.sort_by(|x, y| x.id.cmp(&y.id));
    let content = store.history_items(&feed, &history).await.expect("content");
    assert_eq!(
        content[0].as_ref().expect("a").title,
        "Current",
        "held: untouched"
    );
    assert_eq!(
        history[1].seen,
        time(2).timestamp_millis(),
        "first-seen as given"
    );
    assert_eq!(content[1].as_ref().expect("old").title, "Old");
}

#[tokio::test]
async fn search_is_scoped_to_the_feeds_given_and_pages_newest_first() {
    let (_scratch, store) = scratch_store("search-scope").await;
    let (mine, theirs) = (url("mine"), url("theirs"));
    let items: Vec<(Item, i64)> = (0..5)
        .map(|n| (item(&format!("m{n}"), "Rust news", "body"), n))
        .collect();
    store
        .save_feed_state(&document(&mine, &items))
        .await
        .expect("save");
    store
        .save_feed_state(&document(&theirs, &[(item("t", "Rust news", "body"), 9)]))
        .await
        .expect("save");

    let mut first = query(&[&mine], &["rust"]);
    first.limit = 2;
    let second = SearchQuery {
        offset: 2,
        ..first.clone()
    };
    assert_eq!(found(&store, &first).await, ["m4", "m3"]);
    assert_eq!(found(&store, &second).await, ["m2", "m1"]);
    assert!(
        found(&store, &query(&[], &["rust"])).await.is_empty(),
        "no feeds, no hits"
    );
}

#[tokio::test]
async fn relevance_ranks_a_title_match_above_a_text_match_and_excluded_words_exclude() {
    let (_scratch, store) = scratch_store("search-rank").await;
    let feed = url("rank");
    store
        .save_feed_state(&document(
            &feed,
            &[
                (item("title", "Borrow checker", "about rust"), 1),
                (item("text", "Newer", "the borrow checker, again"), 2),
                (item("other", "Borrow", "go generics"), 3),
            ],
        ))
        .await
        .expect("save");
    let mut relevance = query(&[&feed], &["borrow", "checker"]);
    relevance.order = SearchOrder::Relevance;
    assert_eq!(found(&store, &relevance).await, ["title", "text"]);

    let mut phrase = query(&[&feed], &[]);
    phrase.terms.phrases = vec![vec!["borrow".to_owned(), "checker".to_owned()]];
    phrase.terms.excluded = vec!["rust".to_owned()];
    assert_eq!(found(&store, &phrase).await, ["text"]);

    let mut only_excluded = query(&[&feed], &[]);
    only_excluded.terms.excluded = vec!["rust".to_owned()];
    assert!(
        found(&store, &only_excluded).await.is_empty(),
        "nothing required: nothing found, not an error"
    );
}

/// Relevance ranks the newest [`RELEVANCE_WINDOW`] matches in the searched feeds: newer
/// matches in other feeds do not use up the window, and a match past it is not ranked.
#[tokio::test]
async fn relevance_ranks_the_newest_window_of_matches_in_the_searched_feeds_only() {
    let (_scratch, store) = scratch_store("search-window").await;
    let (mine, theirs) = (url("mine"), url("theirs"));
    let stored = |id: String, title: &str, secs: i64| StoredItem {
        item: item(&id, title, "plain words"),
        seen: time(secs),
    };
    // The oldest of the window's matches is the best one.
    let mut history = vec![stored("best".to_owned(), "Word word word", 0)];
    history.extend((1..RELEVANCE_WINDOW).map(|n| {
        stored(
            format!("m{n}"),
            "One word",
            i64::try_from(n).expect("small"),
        )
    }));
    for batch in history.chunks(500) {
        store.insert_history(&mine, batch).await.expect("load");
    }
    let newer: Vec<StoredItem> = (0..100)
        .map(|n| stored(format!("t{n}"), "Word", 100_000 + n))
        .collect();
    store.insert_history(&theirs, &newer).await.expect("load");

    let mut relevance = query(&[&mine], &["word"]);
    relevance.order = SearchOrder::Relevance;
    relevance.limit = 1;
    assert_eq!(
        found(&store, &relevance).await,
        ["best"],
        "another feed's newer matches are not counted in the window"
    );

    store
        .insert_history(&mine, &[stored("newest".to_owned(), "One word", 200_000)])
        .await
        .expect("one more");
    let ranked = found(&store, &relevance).await;
    assert_ne!(ranked, ["best"], "the oldest match left the window");
    let mut newest = query(&[&mine], &["word"]);
    newest.offset = RELEVANCE_WINDOW;
    assert_eq!(
        found(&store, &newest).await,
        ["best"],
        "newest first still finds it"
    );
}

#[tokio::test]
async fn fts5_syntax_in_search_words_is_searched_literally_never_an_error_or_injection() {
    let (_scratch, store) = scratch_store("search-hostile").await;
    let feed = url("hostile");
    store
        .save_feed_state(&document(
            &feed,
            &[
                (item("near", "near and or not", "title text"), 1),
                (item("secret", "Secret", "hidden"), 2),
            ],
        ))
        .await
        .expect("save");
    let hostile = [
        "\"",
        "\"\"",
        "*",
        "a*",
        "NEAR",
        "NEAR(near and, 1)",
        "AND",
        "OR",
        "NOT",
        "-",
        "-near",
        ":",
        "title:secret",
        "text:hidden",
        "^near",
        "(",
        ")",
        "(near",
        "near) OR (secret",
        "\" OR \"secret",
        "{title text}:secret",
        "+",
        "'",
        "\\",
        "\0",
    ];
    for word in hostile {
        let hits = store
            .search(&query(&[&feed], &[word]))
            .await
            .unwrap_or_else(|error| panic!("{word:?} is searched, not an error: {error}"));
        assert!(
            !hits.iter().any(|hit| hit.entry.id == "secret"),
            "{word:?} must not reach the other item through query syntax"
        );
    }
    assert_eq!(
        found(&store, &query(&[&feed], &["NEAR", "AND", "NOT"])).await,
        ["near"],
        "operators are words like any other"
    );
    let mut phrase = query(&[&feed], &[]);
    phrase.terms.phrases = vec![vec!["\"and".to_owned(), "or\"".to_owned()]];
    assert_eq!(found(&store, &phrase).await, ["near"]);
}
