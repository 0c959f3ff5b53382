//! Reading preferences: kept per user on every store (single-user mode's user too, who has no
//! account), gone with the account, and over real HTTP through the typed client the edge
//! uses: the defaults until set, a stored value seen by any later request, another user
//! untouched, and unknown names, fields and out-of-range sizes refused with 400.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use middletier::store::{AccountRecord, FeedCache, MemoryStore, SqliteStore, Store};
use middletier::testing::{feed_service, serve_api};
use middletier_api::domain::UserId;
use middletier_api::{CallError, ListStyle, MiddletierClient, Preferences, Theme};
use reqwest::StatusCode;

use crate::crash::{Backend, MiddletierProcess, free_port};
use crate::support::{ScratchDir, cassandra_shared, http};

fn user(name: &str) -> UserId {
    UserId::parse(name).expect("user")
}

fn client() -> MiddletierClient {
    MiddletierClient::new(Duration::from_secs(2), Duration::from_secs(10)).expect("client")
}

/// What every store must do with preferences. `prefix` keeps runs apart on a shared store.
async fn preferences_conformance(store: Arc<dyn Store>, prefix: &str) {
    let ann = user(&format!("{prefix}ann"));
    let bob = user(&format!("{prefix}bob"));
    let solo = user(&format!("{prefix}solo"));
    assert_eq!(store.preferences(&ann).await.expect("read"), None);

    store
        .set_preferences(&ann, r#"{"theme":"dark"}"#)
        .await
        .expect("set");
    store
        .set_preferences(&ann, r#"{"theme":"light"}"#)
        .await
        .expect("replace");
    assert_eq!(
        store.preferences(&ann).await.expect("read").as_deref(),
        Some(r#"{"theme":"light"}"#),
        "the last write wins"
    );
    assert_eq!(store.preferences(&bob).await.expect("read"), None);

    // No account row: kept all the same.
    store
        .set_preferences(&solo, r#"{"list_style":"compact"}"#)
        .await
        .expect("set");
    assert!(store.preferences(&solo).await.expect("read").is_some());

    // Deleting an account takes its preferences with it, and nobody else's.
    let record = AccountRecord {
        user: bob.clone(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created: chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis())
            .expect("time"),
    };
    assert!(store.create_account(&record).await.expect("create"));
    store
        .set_preferences(&bob, r#"{"theme":"dark"}"#)
        .await
        .expect("set");
    assert!(store.delete_account(&bob).await.expect("delete"));
    assert_eq!(store.preferences(&bob).await.expect("read"), None);
    assert!(store.preferences(&ann).await.expect("read").is_some());
}

#[tokio::test]
async fn memory_store_keeps_preferences() {
    preferences_conformance(Arc::new(MemoryStore::new()), "").await;
}

#[tokio::test]
async fn sqlite_store_keeps_preferences() {
    let scratch = ScratchDir::new("preferences");
    let store = SqliteStore::open(&scratch.join("rss.db"))
        .await
        .expect("open");
    preferences_conformance(Arc::new(FeedCache::new(store)), "").await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_store_keeps_preferences() {
    let _cassandra = cassandra_shared().await;
    let store = Arc::new(middletier::testing::cassandra_store().await);
    preferences_conformance(store, &middletier::testing::unique_prefix()).await;
}

#[tokio::test]
async fn preferences_set_through_the_api_are_what_the_next_request_reads_on_the_real_binary() {
    let scratch = ScratchDir::new("preferences-api");
    let port = free_port();
    let _middletier =
        MiddletierProcess::start(port, &Backend::Sqlite(scratch.join("rss.db"))).await;
    let base = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
    let client = client();

    assert_eq!(
        client.preferences(&base, "ann").await.expect("defaults"),
        Preferences::default(),
        "a user who never chose reads the defaults"
    );
    let chosen = Preferences {
        theme: Theme::Dark,
        items_per_page: 100,
        open_in_new_tab: true,
        mark_read_on_open: false,
        list_style: ListStyle::Compact,
    };
    client
        .set_preferences(&base, "ann", &chosen)
        .await
        .expect("set");
    assert_eq!(
        client.preferences(&base, "ann").await.expect("read"),
        chosen
    );
    assert_eq!(
        client.preferences(&base, "bob").await.expect("read"),
        Preferences::default(),
        "another user is untouched"
    );
}

#[tokio::test]
async fn bad_preferences_are_refused_with_a_reason_and_nothing_is_stored() {
    let service = feed_service(Arc::new(MemoryStore::new()), Default::default());
    let root = serve_api(service).await;
    let http = http();
    let url = format!("{root}middletier/accounts/ann/preferences");
    let put = async |body: &str| {
        let response = http
            .put(&url)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("put");
        let status = response.status();
        (status, response.text().await.expect("body"))
    };
    for body in [
        r#"{"theme":"sepia"}"#,
        r#"{"list_style":"grid"}"#,
        r#"{"font":"serif"}"#,
        r#"{"items_per_page":9}"#,
        r#"{"items_per_page":201}"#,
        r#"{"items_per_page":-1}"#,
        r#"{"items_per_page":"50"}"#,
        r#"{"open_in_new_tab":"yes"}"#,
        r#"{"theme":"<script>alert(1)</script>"}"#,
        "not json",
    ] {
        let (status, text) = put(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {text}");
        assert!(!text.is_empty(), "{body}: a reason");
    }
    let (status, text) = put(r#"{"items_per_page":9}"#).await;
    assert!(text.contains("between 10 and 200"), "{status}: {text}");

    let huge = format!(r#"{{"theme":"dark","x":"{}"}}"#, "a".repeat(4 << 20));
    let (status, _) = put(&huge).await;
    assert!(status.is_client_error(), "{status}");

    let bad_name = client()
        .preferences(&root, "ann smith")
        .await
        .expect_err("bad name");
    assert!(
        matches!(bad_name, CallError::Rejected { status, .. } if status == StatusCode::BAD_REQUEST),
        "{bad_name:?}"
    );
    assert_eq!(
        client().preferences(&root, "ann").await.expect("read"),
        Preferences::default(),
        "nothing refused was stored"
    );

    // An old stored value, with fields missing, reads with their defaults.
    let (status, _) = put(r#"{"theme":"dark"}"#).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        client().preferences(&root, "ann").await.expect("read"),
        Preferences {
            theme: Theme::Dark,
            ..Preferences::default()
        }
    );
}
