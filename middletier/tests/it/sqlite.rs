//! The embedded store's file: what a restart keeps, the permissions it is created with, and the
//! clear refusal of a path that cannot be the database.

use std::os::unix::fs::PermissionsExt;

use chrono::{DateTime, Utc};
use middletier::store::{
    AccountRecord, AccountStore, FeedState, FeedStore, MarkChange, OpenError, ReadingStore,
    SessionRecord, SqliteStore, SubscriptionStore,
};
use middletier_api::domain::{FeedUrl, UserId};

use crate::support::ScratchDir;

fn time(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_750_000_000_000 + secs * 1000).expect("time")
}

#[tokio::test]
async fn reopening_the_file_keeps_every_account_subscription_category_mark_star_and_session() {
    let scratch = ScratchDir::new("reopen");
    let path = scratch.join("rss.db");
    let ann = UserId::parse("ann").expect("user");
    let (one, two) = (
        FeedUrl::parse("https://example.com/one.xml").expect("url"),
        FeedUrl::parse("https://example.com/two.xml").expect("url"),
    );
    let account = AccountRecord {
        user: ann.clone(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created: time(0),
    };
    let session = SessionRecord {
        user: ann.clone(),
        expires: Utc::now() + chrono::Duration::hours(1),
        app_password: None,
    };
    let hash = "cd".repeat(32);
    let feed = FeedState {
        title: Some("One".to_owned()),
        ..FeedState::new(one.clone(), time(60))
    };
    {
        let store = SqliteStore::open(&path).await.expect("open");
        assert!(store.create_account(&account).await.expect("account"));
        store
            .create_session(&hash, &session, 5)
            .await
            .expect("session");
        store.subscribe(&ann, &one, 10).await.expect("subscribe");
        store.subscribe(&ann, &two, 10).await.expect("subscribe");
        store
            .set_category(&ann, &two, Some("News"))
            .await
            .expect("category");
        let change = |read, starred| MarkChange { read, starred };
        store
            .mark_item(&ann, &one, "a", change(Some(true), None), time(1))
            .await
            .expect("read");
        store
            .mark_item(&ann, &one, "b", change(None, Some(true)), time(2))
            .await
            .expect("star");
        store
            .mark_read_up_to(&ann, std::slice::from_ref(&two), time(3), time(4))
            .await
            .expect("watermark");
        store.save_feed_state(&feed).await.expect("feed");
    }

    let store = SqliteStore::open(&path).await.expect("reopen");
    assert_eq!(
        store.account(&ann).await.expect("account"),
        Some(account),
        "the account"
    );
    let kept = store
        .session(&hash, Utc::now())
        .await
        .expect("session")
        .expect("the session");
    assert_eq!(kept.user, ann);
    let reading = store.reading(&ann).await.expect("reading");
    assert_eq!(
        reading.subscriptions,
        [(one.clone(), None), (two.clone(), Some("News".to_owned()))],
        "subscriptions in order, with their category"
    );
    assert_eq!(reading.feeds[&one].state_of("a", 0), (true, false));
    assert_eq!(reading.feeds[&one].state_of("b", 0), (false, true));
    assert_eq!(
        reading.feeds[&two].watermark.map(|w| w.up_to),
        Some(time(3)),
        "mark-all-as-read"
    );
    assert_eq!(
        store.feed_states(&[one]).await.expect("feed"),
        [Some(feed)],
        "the feed cache"
    );
}

#[tokio::test]
async fn a_missing_directory_is_created_private_and_the_file_private() {
    let scratch = ScratchDir::new("permissions");
    let path = scratch.join("nested/data/rss.db");
    SqliteStore::open(&path).await.expect("open");
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&scratch.join("nested/data")), 0o700);
    assert_eq!(mode(&path), 0o600);
}

/// The message an operator sees for `path`, which must be refused.
async fn refusal(path: &std::path::Path) -> String {
    match SqliteStore::open(path).await {
        Ok(_) => panic!("{} must be refused", path.display()),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn a_directory_as_the_database_path_is_refused_clearly() {
    let scratch = ScratchDir::new("directory");
    let message = refusal(&scratch.0).await;
    assert!(message.contains("is a directory"), "{message}");
    assert!(message.contains("RSS_STORE__PATH"), "{message}");
}

#[tokio::test]
async fn a_file_that_is_not_a_sqlite_database_is_refused_and_left_alone() {
    let scratch = ScratchDir::new("not-a-database");
    let path = scratch.join("notes.txt");
    let text = "not a database, but somebody's notes\n".repeat(200);
    std::fs::write(&path, &text).expect("write");
    let error = SqliteStore::open(&path).await.expect_err("refused");
    assert!(matches!(error, OpenError::NotADatabase { .. }), "{error:?}");
    assert!(
        error.to_string().contains("is not a SQLite database"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        text,
        "the file is untouched"
    );
}

#[tokio::test]
async fn a_database_from_a_newer_release_is_refused_and_left_alone() {
    let scratch = ScratchDir::new("newer");
    let path = scratch.join("rss.db");
    drop(SqliteStore::open(&path).await.expect("create"));
    let connection = rusqlite::Connection::open(&path).expect("open");
    connection
        .pragma_update(None, "user_version", 999)
        .expect("set a future version");
    drop(connection);
    let message = refusal(&path).await;
    assert!(message.contains("schema version 999"), "{message}");
    assert!(message.contains("newer release"), "{message}");
    let connection = rusqlite::Connection::open(&path).expect("open");
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("version");
    assert_eq!(version, 999, "nothing migrated backwards");
}

/// A directory that cannot be created (here: a file is in the way; permissions do not bind the
/// root user tests may run as).
#[tokio::test]
async fn a_directory_that_cannot_be_created_is_refused_clearly() {
    let scratch = ScratchDir::new("blocked");
    std::fs::write(scratch.join("data"), b"a file, not a directory").expect("write");
    let path = scratch.join("data/rss.db");
    let message = refusal(&path).await;
    assert!(message.contains("cannot create the directory"), "{message}");
    assert!(
        message.contains(&scratch.join("data").display().to_string()),
        "{message}"
    );
}

/// Many subscribes at once (a scripted client, or an OPML import racing clicks) cannot pass the
/// cap between one's check and another's insert: each check and insert is one transaction on
/// the one writer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_subscribes_never_pass_the_cap() {
    let scratch = ScratchDir::new("race");
    let store = SqliteStore::open(&scratch.join("rss.db"))
        .await
        .expect("open");
    let ann = UserId::parse("ann").expect("user");
    let cap = 5;
    let attempts = (0..40).map(|n| {
        let (store, ann) = (store.clone(), ann.clone());
        tokio::spawn(async move {
            let url = FeedUrl::parse(&format!("https://example.com/{n}.xml")).expect("url");
            store.subscribe(&ann, &url, cap).await
        })
    });
    let mut added = 0;
    for attempt in futures::future::join_all(attempts).await {
        match attempt.expect("task") {
            Ok(true) => added += 1,
            Err(middletier::store::StoreError::TooManySubscriptions(5)) => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(added, cap);
    assert_eq!(store.subscriptions(&ann).await.expect("read").len(), cap);
}

/// What an operator sees when `RSS_STORE__PATH` cannot be the database: the real binary exits
/// at once, naming the path or the setting and the reason, before it serves anything.
#[tokio::test]
async fn a_bad_store_path_stops_the_middle_tier_from_starting_with_its_reason() {
    let scratch = ScratchDir::new("bad-path");
    let not_a_database = scratch.join("notes.txt");
    std::fs::write(&not_a_database, "somebody's notes\n".repeat(100)).expect("write");
    let directory = scratch.0.display().to_string();
    let not_a_database = not_a_database.display().to_string();
    for (path, expected) in [
        ("", "store.path"),
        (directory.as_str(), "is a directory"),
        (not_a_database.as_str(), "is not a SQLite database"),
    ] {
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_middletier"))
            .env("RSS_CONFIG_DIR", scratch.join("no-config"))
            .env_remove("RSS_ENV")
            .env("RSS_SERVER__PORT", "0")
            .env("RSS_REGISTRY__URL", "http://127.0.0.1:9/eureka/v2/")
            .env("RSS_STORE__KIND", "sqlite")
            .env("RSS_STORE__PATH", path)
            // A middle tier that wrongly starts is killed when the bound below gives up.
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(std::time::Duration::from_secs(30), run)
            .await
            .unwrap_or_else(|_| panic!("started and kept running on {path:?}"))
            .expect("middletier runs");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.status.success(), "started on {path:?}");
        assert!(said.contains(expected), "{path:?}: {said}");
    }
}

#[tokio::test]
async fn a_database_from_before_app_passwords_keeps_its_sessions_and_categories_and_gains_them() {
    use middletier::store::{AppPasswordCreated, AppPasswordRecord, AppPasswordStore};

    let scratch = ScratchDir::new("migrate-006");
    let path = scratch.join("rss.db");
    let ann = UserId::parse("ann").expect("user");
    let feed = FeedUrl::parse("https://example.com/one.xml").expect("url");
    let token_hash = "ab".repeat(32);
    let expires = time(0) + chrono::Duration::days(3650);
    {
        // What the release before wrote: schema 4, a categorised subscription and a browser
        // session.
        let db = rusqlite::Connection::open(&path).expect("create");
        for schema in [
            include_str!("../../schema/sqlite/001_initial.sql"),
            include_str!("../../schema/sqlite/002_item_history.sql"),
            include_str!("../../schema/sqlite/003_search_scope.sql"),
            include_str!("../../schema/sqlite/004_current_ids.sql"),
        ] {
            db.execute_batch(schema).expect("schema");
        }
        db.pragma_update(None, "user_version", 4).expect("version");
        db.execute(
            "INSERT INTO subscriptions (user_id, feed_url, position, category) \
             VALUES ('ann', ?1, 0, 'News')",
            [feed.as_str()],
        )
        .expect("subscription");
        db.execute(
            "INSERT INTO sessions (token_hash, user_id, expires) VALUES (?1, 'ann', ?2)",
            rusqlite::params![token_hash, expires.timestamp_millis()],
        )
        .expect("session");
    }

    let store = SqliteStore::open(&path).await.expect("opens the old file");
    let session = store
        .session(&token_hash, time(0))
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
        created: time(0),
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
            .app_password_by_fever(&password.fever_hash)
            .await
            .expect("find"),
        Some(password)
    );
}
