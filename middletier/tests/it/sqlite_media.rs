//! The embedded store's item authors and enclosures: a database from before they existed
//! (schema 6) opens with every item as it was, and items saved afterwards keep theirs
//! through a restart.

use chrono::{DateTime, Utc};
use middletier::store::{FeedState, FeedStore, HistoryStore, SqliteStore};
use middletier_api::domain::FeedUrl;
use middletier_api::{Enclosure, Item};

use crate::support::ScratchDir;

fn time(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_750_000_000_000 + secs * 1000).expect("time")
}

fn episode(id: &str) -> Item {
    Item {
        id: id.to_owned(),
        title: format!("Episode {id}"),
        link: Some(format!("https://pod.example/{id}")),
        description: "<p>Show notes</p>".to_owned(),
        published: None,
        read: false,
        starred: false,
        author: Some("Ada & Bob".to_owned()),
        enclosures: vec![Enclosure {
            url: format!("https://cdn.pod.example/{id}.mp3"),
            media_type: Some("audio/mpeg".to_owned()),
            length: Some(12_345_678),
            duration: Some(3723),
            image: Some("https://cdn.pod.example/cover.jpg".to_owned()),
        }],
    }
}

#[tokio::test]
async fn a_database_from_before_item_media_keeps_its_items_and_then_stores_authors_and_enclosures()
{
    let scratch = ScratchDir::new("migrate-007");
    let path = scratch.join("rss.db");
    let feed = FeedUrl::parse("https://pod.example/feed.xml").expect("url");
    {
        // What the release before wrote: schema 6, a feed whose current document is one item
        // of its history.
        let db = rusqlite::Connection::open(&path).expect("create");
        for schema in [
            include_str!("../../schema/sqlite/001_initial.sql"),
            include_str!("../../schema/sqlite/002_item_history.sql"),
            include_str!("../../schema/sqlite/003_search_scope.sql"),
            include_str!("../../schema/sqlite/004_current_ids.sql"),
            include_str!("../../schema/sqlite/005_app_passwords.sql"),
            include_str!("../../schema/sqlite/006_subscription_titles.sql"),
        ] {
            db.execute_batch(schema).expect("schema");
        }
        db.pragma_update(None, "user_version", 6).expect("version");
        db.execute(
            "INSERT INTO feeds (url, title, consecutive_errors, gone, next_refresh, \
             last_success, item_ids) VALUES (?1, 'Pod', 0, 0, 0, ?2, '[\"old\"]')",
            rusqlite::params![feed.as_str(), time(5).timestamp_millis()],
        )
        .expect("feed");
        let at = time(1).timestamp_millis();
        db.execute(
            "INSERT INTO items (river_key, feed_url, item_id, seen, time, title, link, \
             description, published, text) VALUES (?1, ?2, 'old', ?3, ?3, 'Old episode', \
             'https://pod.example/old', '<p>Old <b>notes</b></p>', NULL, 'Old notes')",
            rusqlite::params![at << 20, feed.as_str(), at],
        )
        .expect("history row");
    }

    let store = SqliteStore::open(&path)
        .await
        .expect("the new code opens it");
    let states = store
        .feed_states(std::slice::from_ref(&feed))
        .await
        .expect("states");
    let state = states[0].clone().expect("the feed's state");
    let old = Item {
        id: "old".to_owned(),
        title: "Old episode".to_owned(),
        link: Some("https://pod.example/old".to_owned()),
        description: "<p>Old <b>notes</b></p>".to_owned(),
        published: None,
        read: false,
        starred: false,
        author: None,
        enclosures: Vec::new(),
    };
    assert_eq!(
        state.items,
        std::slice::from_ref(&old),
        "the item as it was, with no media"
    );

    // A refresh brings the old item with an author now and a new episode with its file.
    let mut next = FeedState {
        items: vec![
            episode("new"),
            Item {
                author: Some("Ada".to_owned()),
                ..old.clone()
            },
        ],
        ..state.clone()
    };
    next.first_seen.insert("new".to_owned(), time(10));
    store.save_feed_state(&next).await.expect("save");
    drop(store);

    let store = SqliteStore::open(&path).await.expect("reopens");
    let states = store
        .feed_states(std::slice::from_ref(&feed))
        .await
        .expect("states");
    let reloaded = states[0].as_ref().expect("state");
    assert_eq!(
        reloaded.items, next.items,
        "authors and enclosures are kept"
    );
    let history = store.history(&feed).await.expect("history");
    let items = store.history_items(&feed, &history).await.expect("items");
    assert!(
        items
            .iter()
            .flatten()
            .any(|item| item.enclosures == episode("new").enclosures),
        "the history serves the enclosures too"
    );
}
