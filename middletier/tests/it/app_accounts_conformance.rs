//! What every store backend must do for sync apps' accounts: app passwords (unique hashes, a
//! cap per user, lookups by either hash, last use), revoking one ends the sessions apps signed
//! in with it and nothing else, the session cap holds per kind of session, and the user's own
//! feed titles beside their categories.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use middletier::store::{
    AppPasswordCreated, AppPasswordRecord, FeedCache, MemoryStore, SessionRecord, SqliteStore,
    Store,
};
use middletier_api::domain::{FeedUrl, UserId};

use crate::support::{ScratchDir, cassandra_shared};

fn user(name: &str) -> UserId {
    UserId::parse(name).expect("user")
}

/// SHA-256 hex of `text`: hashes as the edge sends them, different for every prefix (the
/// Cassandra tables outlive the test and are global).
pub(crate) fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Now, in whole milliseconds (what every store keeps).
fn now_millis() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("time")
}

fn password(who: &UserId, prefix: &str, n: u32, created: DateTime<Utc>) -> AppPasswordRecord {
    AppPasswordRecord {
        user: who.clone(),
        id: format!("{n:016x}"),
        name: format!("Phone {n}"),
        secret_hash: sha256_hex(&format!("{prefix}{who}secret{n}")),
        fever_hash: sha256_hex(&format!("{prefix}{who}fever{n}")),
        created,
        last_used: None,
    }
}

/// Created once per id and hash, capped per user, listed newest first, found by either hash,
/// used times recorded, revoked for good.
async fn app_password_conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let bob = user(&format!("{prefix}bob"));
    let start = now_millis();
    let first = password(&ann, prefix, 1, start);
    let second = password(&ann, prefix, 2, start + chrono::Duration::seconds(1));
    let max = 3;
    for created in [&first, &second] {
        assert_eq!(
            store
                .create_app_password(created, max)
                .await
                .expect("create"),
            AppPasswordCreated::Created
        );
    }
    assert_eq!(
        store.app_passwords(&ann).await.expect("list"),
        [second.clone(), first.clone()],
        "newest first"
    );
    assert!(store.app_passwords(&bob).await.expect("list").is_empty());

    // Taken: the same id for the same user, or either hash for anyone.
    let same_id = AppPasswordRecord {
        secret_hash: sha256_hex(&format!("{prefix}other secret")),
        fever_hash: sha256_hex(&format!("{prefix}other fever")),
        ..first.clone()
    };
    let same_secret = AppPasswordRecord {
        secret_hash: first.secret_hash.clone(),
        ..password(&bob, prefix, 9, start)
    };
    let same_fever = AppPasswordRecord {
        fever_hash: second.fever_hash.clone(),
        ..password(&bob, prefix, 10, start)
    };
    for taken in [&same_id, &same_secret, &same_fever] {
        assert_eq!(
            store.create_app_password(taken, max).await.expect("create"),
            AppPasswordCreated::Taken,
            "{taken:?}"
        );
    }
    assert!(
        store.app_passwords(&bob).await.expect("list").is_empty(),
        "a refused password leaves nothing behind"
    );
    // What a refused create claimed on its way (the secret before the Fever key was found
    // taken) is free again.
    let bobs = AppPasswordRecord {
        secret_hash: same_fever.secret_hash.clone(),
        ..password(&bob, prefix, 1, start)
    };
    assert_eq!(
        store.create_app_password(&bobs, max).await.expect("create"),
        AppPasswordCreated::Created,
        "ids are per user"
    );

    // The cap.
    let third = password(&ann, prefix, 3, start + chrono::Duration::seconds(2));
    assert_eq!(
        store
            .create_app_password(&third, max)
            .await
            .expect("create"),
        AppPasswordCreated::Created
    );
    let fourth = password(&ann, prefix, 4, start + chrono::Duration::seconds(3));
    assert_eq!(
        store
            .create_app_password(&fourth, max)
            .await
            .expect("create"),
        AppPasswordCreated::TooMany
    );
    assert_eq!(store.app_passwords(&ann).await.expect("list").len(), max);
    assert_eq!(
        store
            .app_password_by_secret(&fourth.secret_hash)
            .await
            .expect("find"),
        None,
        "the refused one is nowhere"
    );

    // Lookups, and the last use.
    assert_eq!(
        store
            .app_password_by_secret(&first.secret_hash)
            .await
            .expect("find"),
        Some(first.clone())
    );
    assert_eq!(
        store
            .app_password_by_fever(&second.fever_hash)
            .await
            .expect("find"),
        Some(second.clone())
    );
    assert_eq!(
        store
            .app_password_by_fever(&first.secret_hash)
            .await
            .expect("find"),
        None,
        "each hash in its own place"
    );
    let used = start + chrono::Duration::minutes(5);
    store
        .touch_app_password(&ann, &first.id, used)
        .await
        .expect("touch");
    let found = store
        .app_password_by_secret(&first.secret_hash)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.last_used, Some(used));

    // Revoked: gone from the list and both lookups; again is fine; touching it revives nothing.
    assert!(
        store
            .revoke_app_password(&ann, &first.id)
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_app_password(&ann, &first.id)
            .await
            .expect("revoke again")
    );
    store
        .touch_app_password(&ann, &first.id, used)
        .await
        .expect("touch a revoked one");
    assert_eq!(
        store.app_passwords(&ann).await.expect("list"),
        [third.clone(), second.clone()]
    );
    for found in [
        store.app_password_by_secret(&first.secret_hash).await,
        store.app_password_by_fever(&first.fever_hash).await,
    ] {
        assert_eq!(found.expect("find"), None);
    }
    assert!(
        !store
            .revoke_app_password(&bob, &second.id)
            .await
            .expect("revoke"),
        "nobody revokes another's password"
    );
    assert!(
        store
            .app_password_by_secret(&second.secret_hash)
            .await
            .expect("find")
            .is_some()
    );
    // A revoked password's hashes may be used again (by a new password).
    let again = AppPasswordRecord {
        id: "00000000000000bb".to_owned(),
        ..first.clone()
    };
    assert_eq!(
        store
            .create_app_password(&again, max)
            .await
            .expect("create"),
        AppPasswordCreated::Created
    );
}

/// Sessions keep the app password they were signed in with; revoking it ends exactly those,
/// and signing out everywhere ends apps' sessions too.
async fn app_session_conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let bob = user(&format!("{prefix}bob"));
    let start = now_millis();
    let phone = password(&ann, prefix, 1, start);
    let tablet = password(&ann, prefix, 2, start);
    let bobs = password(&bob, prefix, 1, start);
    for created in [&phone, &tablet, &bobs] {
        assert_eq!(
            store
                .create_app_password(created, 20)
                .await
                .expect("create"),
            AppPasswordCreated::Created
        );
    }
    let expires = start + chrono::Duration::hours(1);
    let session = |who: &UserId, app: Option<&AppPasswordRecord>| SessionRecord {
        user: who.clone(),
        expires,
        app_password: app.map(|p| p.id.clone()),
    };
    let hash = |name: &str| sha256_hex(&format!("{prefix}token {name}"));
    let sessions = [
        ("browser", session(&ann, None)),
        ("phone", session(&ann, Some(&phone))),
        ("phone again", session(&ann, Some(&phone))),
        ("tablet", session(&ann, Some(&tablet))),
        // Bob's password has the same id as Ann's phone's.
        ("bob", session(&bob, Some(&bobs))),
    ];
    for (name, record) in &sessions {
        store
            .create_session(&hash(name), record, 50)
            .await
            .expect("create");
    }
    assert_eq!(
        store.session(&hash("phone"), start).await.expect("read"),
        Some(sessions[1].1.clone()),
        "the session names its app password"
    );

    assert!(
        store
            .revoke_app_password(&ann, &phone.id)
            .await
            .expect("revoke")
    );
    let live = async |name: &str| {
        store
            .session(&hash(name), start)
            .await
            .expect("read")
            .is_some()
    };
    assert!(!live("phone").await && !live("phone again").await);
    assert!(live("browser").await, "the browser stays signed in");
    assert!(live("tablet").await, "another app stays signed in");
    assert!(live("bob").await, "another user's password of that id too");

    assert_eq!(
        store.delete_sessions_of(&ann).await.expect("sign out"),
        2,
        "sign out everywhere ends the browser's and the tablet's"
    );
    assert!(!live("tablet").await);
    assert!(live("bob").await);
}

/// The session cap holds per kind: an app signing in again and again ends its own oldest
/// sessions, never the browsers' nor another app password's.
async fn app_session_cap_conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let start = now_millis();
    let phone = password(&ann, prefix, 1, start);
    let tablet = password(&ann, prefix, 2, start);
    for created in [&phone, &tablet] {
        assert_eq!(
            store
                .create_app_password(created, 20)
                .await
                .expect("create"),
            AppPasswordCreated::Created
        );
    }
    let max = 2;
    let hash = |name: String| sha256_hex(&format!("{prefix}token {name}"));
    let sign_in = async |name: String, app: Option<&AppPasswordRecord>, minutes: i64| {
        let session = SessionRecord {
            user: ann.clone(),
            expires: start + chrono::Duration::minutes(60 + minutes),
            app_password: app.map(|p| p.id.clone()),
        };
        store
            .create_session(&hash(name), &session, max)
            .await
            .expect("create");
    };
    sign_in("browser".to_owned(), None, 0).await;
    sign_in("tablet".to_owned(), Some(&tablet), 1).await;
    for n in 0..5 {
        sign_in(format!("phone {n}"), Some(&phone), 10 + n).await;
    }
    let live = async |name: String| {
        store
            .session(&hash(name), start)
            .await
            .expect("read")
            .is_some()
    };
    let mut phones = Vec::new();
    for n in 0..5 {
        phones.push(live(format!("phone {n}")).await);
    }
    assert_eq!(
        phones,
        [false, false, false, true, true],
        "the phone's oldest ended"
    );
    assert!(
        live("browser".to_owned()).await,
        "the browser stays signed in"
    );
    assert!(live("tablet".to_owned()).await, "so does the tablet");
}

/// The user's own title sits beside the category: set, changed, cleared; per user; only on a
/// subscription; gone with it.
async fn title_conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let bob = user(&format!("{prefix}bob"));
    let feed = FeedUrl::parse(&format!(
        "https://example.com/{}titles.xml",
        prefix.replace(|c: char| !c.is_ascii_alphanumeric(), "")
    ))
    .expect("url");
    assert!(
        !store
            .set_title(&ann, &feed, Some("Mine"))
            .await
            .expect("set"),
        "not subscribed"
    );
    for who in [&ann, &bob] {
        assert!(store.subscribe(who, &feed, 500).await.expect("subscribe"));
    }
    assert!(
        store
            .set_title(&ann, &feed, Some("Mine"))
            .await
            .expect("set")
    );
    assert!(
        store
            .set_category(&ann, &feed, Some("News"))
            .await
            .expect("category")
    );
    let reading = store.reading(&ann).await.expect("read");
    assert_eq!(reading.titles.get(&feed).map(String::as_str), Some("Mine"));
    assert_eq!(reading.feed_title(&feed, None), "Mine");
    assert_eq!(
        reading.subscriptions,
        [(feed.clone(), Some("News".to_owned()))],
        "the category is kept beside it"
    );
    assert!(
        store.reading(&bob).await.expect("read").titles.is_empty(),
        "titles are per user"
    );

    assert!(
        store
            .set_title(&ann, &feed, Some("Renamed"))
            .await
            .expect("set")
    );
    assert_eq!(
        store.reading(&ann).await.expect("read").titles.get(&feed),
        Some(&"Renamed".to_owned())
    );
    assert!(store.set_title(&ann, &feed, None).await.expect("clear"));
    assert!(store.reading(&ann).await.expect("read").titles.is_empty());

    assert!(
        store
            .set_title(&ann, &feed, Some("Mine"))
            .await
            .expect("set")
    );
    assert!(store.unsubscribe(&ann, &feed).await.expect("unsubscribe"));
    store.clear_reading(&ann, &feed).await.expect("clear");
    assert!(store.subscribe(&ann, &feed, 500).await.expect("subscribe"));
    assert!(
        store.reading(&ann).await.expect("read").titles.is_empty(),
        "subscribing again starts with the feed's own title"
    );
}

#[tokio::test]
async fn memory_store_keeps_app_passwords_app_sessions_and_titles() {
    app_password_conformance(Arc::new(MemoryStore::new()), "").await;
    app_session_conformance(Arc::new(MemoryStore::new()), "").await;
    app_session_cap_conformance(Arc::new(MemoryStore::new()), "").await;
    title_conformance(Arc::new(MemoryStore::new()), "").await;
}

#[tokio::test]
async fn sqlite_store_keeps_app_passwords_app_sessions_and_titles() {
    let scratch = ScratchDir::new("app-accounts");
    let fresh = async |name: &str| -> Arc<dyn Store> {
        let store = SqliteStore::open(&scratch.join(&format!("{name}.db")))
            .await
            .expect("open");
        let store: Arc<dyn Store> = Arc::new(FeedCache::new(store));
        store
    };
    app_password_conformance(fresh("passwords").await, "").await;
    app_session_conformance(fresh("sessions").await, "").await;
    app_session_cap_conformance(fresh("cap").await, "").await;
    title_conformance(fresh("titles").await, "").await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_store_keeps_app_passwords_app_sessions_and_titles() {
    let _cassandra = cassandra_shared().await;
    let store = Arc::new(middletier::testing::cassandra_store().await);
    app_password_conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    app_session_conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    app_session_cap_conformance(store.clone(), &middletier::testing::unique_prefix()).await;
    title_conformance(store, &middletier::testing::unique_prefix()).await;
}
