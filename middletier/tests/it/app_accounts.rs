//! The routes sync apps' accounts need, over real HTTP: app passwords and the sessions bound
//! to them (on the real binary with its SQLite store, and on Cassandra, through the typed
//! client the edge uses),
//! the user's own feed titles wherever the user sees the feed, category renames and removals,
//! and the hostile inputs each refuses.

use std::sync::Arc;
use std::time::Duration;

use middletier::store::MemoryStore;
use middletier::testing::{FeedPublisher, feed_service, serve_api, unique_prefix};
use middletier_api::{
    AppItemsQuery, AppPassword, AppPasswordOwner, CallError, CategoryChange, CategoryChanged,
    CategoryRename, ItemQuery, MAX_APP_PASSWORDS, MiddletierClient, NewAccount, NewAppPassword,
    NewSession, RiverQuery, SearchQuery, TitleChange,
};
use reqwest::StatusCode;

use crate::app_accounts_conformance::sha256_hex;
use crate::crash::{Backend, MiddletierProcess, free_port};
use crate::support::{ScratchDir, cassandra_shared, http};

fn client() -> MiddletierClient {
    MiddletierClient::new(Duration::from_secs(2), Duration::from_secs(10)).expect("client")
}

fn new_password(user: &str, n: u32) -> NewAppPassword {
    NewAppPassword {
        id: format!("{n:016x}"),
        name: format!("Phone {n}"),
        secret_hash: sha256_hex(&format!("{user} secret {n}")),
        fever_hash: sha256_hex(&format!("{user} fever {n}")),
    }
}

fn rejected_status(error: &CallError) -> Option<StatusCode> {
    match error {
        CallError::Rejected { status, .. } => Some(*status),
        _ => None,
    }
}

#[tokio::test]
async fn app_passwords_sign_apps_in_and_revoking_one_signs_its_apps_out_on_the_real_binary() {
    let scratch = ScratchDir::new("app-passwords");
    let port = free_port();
    let _middletier =
        MiddletierProcess::start(port, &Backend::Sqlite(scratch.join("rss.db"))).await;
    let base = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
    app_passwords_round_trip(&base, "ann").await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn app_passwords_sign_apps_in_and_revoking_one_signs_its_apps_out_on_cassandra() {
    let _cassandra = cassandra_shared().await;
    let port = free_port();
    let _middletier = MiddletierProcess::start(port, &Backend::Cassandra).await;
    let base = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
    // The keyspace outlives the test, and hashes are unique across users: a user of its own.
    let ann = format!("{}ann", unique_prefix());
    app_passwords_round_trip(&base, &ann).await;
}

/// Create, list, look up (recording the use), bind sessions, revoke (ending the app's
/// sessions only), and the cap of 20, as the edge does it through the typed client.
async fn app_passwords_round_trip(base: &url::Url, ann: &str) {
    let base = base.clone();
    let client = client();
    let account = NewAccount {
        user: ann.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
    };
    assert!(
        client
            .create_account(&base, &account)
            .await
            .expect("account")
            .is_some()
    );

    let phone = new_password(ann, 1);
    assert!(
        client
            .create_app_password(&base, ann, &phone)
            .await
            .expect("create")
    );
    let listed: Vec<AppPassword> = client.app_passwords(&base, ann).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "Phone 1");
    assert_eq!(listed[0].last_used, None, "never used yet");

    // An app signs in with it (ClientLogin by the password, Fever by its key).
    let owner = AppPasswordOwner {
        user: ann.to_owned(),
        id: phone.id.clone(),
    };
    assert_eq!(
        client
            .app_password_by_secret(&base, &phone.secret_hash)
            .await
            .expect("find"),
        Some(owner.clone())
    );
    assert_eq!(
        client
            .app_password_by_fever(&base, &phone.fever_hash)
            .await
            .expect("find"),
        Some(owner)
    );
    let listed = client.app_passwords(&base, ann).await.expect("list");
    assert!(listed[0].last_used.is_some(), "the use is recorded");
    assert_eq!(
        client
            .app_password_by_secret(&base, &sha256_hex("a guess"))
            .await
            .expect("find"),
        None,
        "an unknown password is nobody's (404)"
    );

    // Its session names it; the browser's does not.
    let token_hash = |token: &str| sha256_hex(&format!("{ann} {token}"));
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let session = |token: &str, app_password: Option<&str>| NewSession {
        token_hash: token_hash(token),
        user: ann.to_owned(),
        expires: expires.clone(),
        app_password: app_password.map(str::to_owned),
    };
    for (token, app) in [("app", Some(phone.id.as_str())), ("browser", None)] {
        client
            .create_session(&base, &session(token, app))
            .await
            .expect("session");
    }
    let found = client
        .session(&base, &token_hash("app"))
        .await
        .expect("session")
        .expect("live");
    assert_eq!(found.app_password.as_deref(), Some(phone.id.as_str()));

    // A session can only be bound to a live password of the user's own.
    let stray = client
        .create_session(&base, &session("stray", Some("00000000000000ff")))
        .await
        .expect_err("unknown password");
    assert_eq!(rejected_status(&stray), Some(StatusCode::NOT_FOUND));

    client
        .revoke_app_password(&base, ann, &phone.id)
        .await
        .expect("revoke");
    assert_eq!(
        client
            .session(&base, &token_hash("app"))
            .await
            .expect("session"),
        None,
        "the app is signed out"
    );
    assert!(
        client
            .session(&base, &token_hash("browser"))
            .await
            .expect("session")
            .is_some(),
        "the browser is not"
    );
    assert_eq!(
        client
            .app_password_by_secret(&base, &phone.secret_hash)
            .await
            .expect("find"),
        None,
        "the password no longer signs in"
    );
    client
        .revoke_app_password(&base, ann, &phone.id)
        .await
        .expect("revoking twice is fine");
    let late = client
        .create_session(&base, &session("late", Some(&phone.id)))
        .await
        .expect_err("revoked");
    assert_eq!(rejected_status(&late), Some(StatusCode::NOT_FOUND));

    // At most MAX_APP_PASSWORDS; the next is refused (409) until one is revoked.
    for n in 0..u32::try_from(MAX_APP_PASSWORDS).expect("small") {
        assert!(
            client
                .create_app_password(&base, ann, &new_password(ann, 100 + n))
                .await
                .expect("create")
        );
    }
    let one_too_many = new_password(ann, 999);
    assert!(
        !client
            .create_app_password(&base, ann, &one_too_many)
            .await
            .expect("create"),
        "the 21st is refused"
    );
    let listed = client.app_passwords(&base, ann).await.expect("list");
    assert_eq!(listed.len(), MAX_APP_PASSWORDS);
    assert_eq!(listed[0].id, format!("{:016x}", 100 + 19), "newest first");
    client
        .revoke_app_password(&base, ann, &listed[0].id)
        .await
        .expect("revoke");
    assert!(
        client
            .create_app_password(&base, ann, &one_too_many)
            .await
            .expect("create")
    );
    // A hash taken by another password is refused too (409).
    let copy = NewAppPassword {
        id: format!("{:016x}", 5000),
        ..one_too_many.clone()
    };
    client
        .revoke_app_password(&base, ann, &listed[1].id)
        .await
        .expect("room for one");
    assert!(
        !client
            .create_app_password(&base, ann, &copy)
            .await
            .expect("create")
    );
}

#[tokio::test]
async fn app_passwords_work_for_single_user_modes_user_and_nobody_else_without_an_account() {
    let publisher = FeedPublisher::start().await;
    let service = feed_service(
        Arc::new(MemoryStore::new()),
        middletier::fetch::FetchSettings {
            allow_private_networks: true,
            ..Default::default()
        },
    );
    let base = serve_api(service).await;
    let client = client();
    let nobody = client
        .create_app_password(&base, "ghost", &new_password("ghost", 1))
        .await
        .expect_err("no such user");
    assert_eq!(rejected_status(&nobody), Some(StatusCode::NOT_FOUND));

    // Single-user mode's user has subscriptions and no account.
    client
        .subscribe(&base, "solo", &publisher.url("/rss.xml"))
        .await
        .expect("subscribe");
    assert!(
        client
            .create_app_password(&base, "solo", &new_password("solo", 1))
            .await
            .expect("create")
    );
}

#[tokio::test]
async fn hostile_app_password_requests_are_refused_with_a_reason() {
    let service = feed_service(Arc::new(MemoryStore::new()), Default::default());
    let root = serve_api(service).await;
    let http = http();
    let created = client()
        .create_account(
            &root,
            &NewAccount {
                user: "ann".to_owned(),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
            },
        )
        .await
        .expect("account");
    assert!(created.is_some());
    let good = new_password("ann", 1);
    let post = async |body: serde_json::Value| {
        let response = http
            .post(format!("{root}middletier/accounts/ann/app-passwords"))
            .json(&body)
            .send()
            .await
            .expect("post");
        let status = response.status();
        (status, response.text().await.expect("body"))
    };
    let with = |field: &str, value: serde_json::Value| {
        let mut body = serde_json::to_value(&good).expect("json");
        body[field] = value;
        body
    };
    let cases = [
        ("id", serde_json::json!("../../etc/passwd"), "id"),
        ("id", serde_json::json!("0123456789ABCDEF"), "id"),
        ("id", serde_json::json!("0123"), "id"),
        ("secret_hash", serde_json::json!("00"), "hashes"),
        ("secret_hash", serde_json::json!("Z".repeat(64)), "hashes"),
        ("fever_hash", serde_json::json!("a".repeat(65)), "hashes"),
        ("name", serde_json::json!(""), "name"),
        ("name", serde_json::json!("   "), "name"),
        ("name", serde_json::json!("x".repeat(101)), "name"),
        ("name", serde_json::json!("tab\there"), "name"),
        ("name", serde_json::json!("line\nbreak"), "name"),
        ("name", serde_json::json!("nul\u{0}"), "name"),
    ];
    for (field, value, named) in cases {
        let (status, body) = post(with(field, value.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field} = {value}: {body}");
        assert!(body.contains(named), "the reason names the {named}: {body}");
    }
    let (status, _) = post(serde_json::json!({"id": good.id})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "fields missing");
    let (status, body) = post(with("name", serde_json::json!("x".repeat(100_000)))).await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "the body limit holds"
    );
    assert!(body.contains("too large"), "{body}");
    assert!(
        client()
            .app_passwords(&root, "ann")
            .await
            .expect("list")
            .is_empty(),
        "nothing was stored"
    );

    for path in [
        "middletier/app-passwords/by-secret/abc",
        "middletier/app-passwords/by-fever/..%2F..%2Fetc",
        &format!("middletier/app-passwords/by-secret/{}", "A".repeat(64)),
        &format!("middletier/app-passwords/by-fever/{}", "0".repeat(10_000)),
        "middletier/accounts/ann/app-passwords/..%2F..%2Fsessions",
        "middletier/accounts/ann/app-passwords/0123456789ABCDEF",
    ] {
        let response = if path.starts_with("middletier/accounts") {
            http.delete(format!("{root}{path}")).send().await
        } else {
            http.get(format!("{root}{path}")).send().await
        }
        .expect("request");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
    }
    let response = http
        .get(format!("{root}middletier/accounts/..%2Fann/app-passwords"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "a bad user name"
    );
}

#[tokio::test]
async fn a_users_own_title_shows_wherever_they_see_the_feed_and_nobody_elses() {
    let publisher = FeedPublisher::start().await;
    let service = feed_service(
        Arc::new(MemoryStore::new()),
        middletier::fetch::FetchSettings {
            allow_private_networks: true,
            ..Default::default()
        },
    );
    let base = serve_api(service).await;
    let client = client();
    let feed = publisher.url("/rss.xml");
    for user in ["ann", "bob"] {
        client
            .subscribe(&base, user, &feed)
            .await
            .expect("subscribe");
    }
    let title = |title: Option<&str>| TitleChange {
        url: feed.clone(),
        title: title.map(str::to_owned),
    };
    client
        .set_title(&base, "ann", &title(Some("  My <b>daily</b> news  ")))
        .await
        .expect("set");
    let mine = "My <b>daily</b> news";

    let feeds = client.feeds(&base, "ann").await.expect("feeds");
    assert_eq!(feeds.subscriptions[0].title, mine, "trimmed, kept as text");
    let river = client
        .river(&base, "ann", &RiverQuery::default())
        .await
        .expect("river");
    assert_eq!(river.feeds[0].title, mine, "the sidebar");
    assert!(!river.items.is_empty());
    assert!(
        river.items.iter().all(|item| item.feed_title == mine),
        "every item of the river"
    );
    let found = client
        .search(
            &base,
            "ann",
            &SearchQuery {
                q: "story".to_owned(),
                feed: None,
                category: None,
                filter: None,
                order: Default::default(),
                cursor: None,
                limit: None,
            },
        )
        .await
        .expect("search");
    assert!(!found.results.is_empty());
    assert!(
        found.results.iter().all(|r| r.item.feed_title == mine),
        "search results"
    );
    let one = client
        .item(
            &base,
            "ann",
            &ItemQuery {
                feed: feed.clone(),
                item: river.items[0].item.id.clone(),
            },
        )
        .await
        .expect("item");
    assert_eq!(one.feed_title, mine, "one item opened");
    let counts = client.app_counts(&base, "ann").await.expect("counts");
    assert_eq!(counts.feeds[0].title, mine, "what sync apps list");
    let app_items = client
        .app_items(
            &base,
            "ann",
            &AppItemsQuery {
                limit: Some(5),
                ..Default::default()
            },
        )
        .await
        .expect("app items");
    assert!(!app_items.items.is_empty());
    assert!(
        app_items
            .items
            .iter()
            .all(|item| item.feed_title.as_deref() == Some(mine)),
        "what sync apps download"
    );
    let opml = client.export_opml(&base, "ann").await.expect("opml");
    assert!(
        opml.contains("text=\"My &lt;b&gt;daily&lt;/b&gt; news\""),
        "the export, escaped: {opml}"
    );
    let bobs = client.feeds(&base, "bob").await.expect("feeds");
    assert_eq!(
        bobs.subscriptions[0].title, "Loopback Daily",
        "Bob's is his own"
    );

    client
        .set_title(&base, "ann", &title(Some("   ")))
        .await
        .expect("blank resets");
    let feeds = client.feeds(&base, "ann").await.expect("feeds");
    assert_eq!(feeds.subscriptions[0].title, "Loopback Daily");
    client
        .set_title(&base, "ann", &title(Some("Again")))
        .await
        .expect("set");
    client
        .set_title(&base, "ann", &title(None))
        .await
        .expect("none resets");
    let river = client
        .river(&base, "ann", &RiverQuery::default())
        .await
        .expect("river");
    assert_eq!(river.feeds[0].title, "Loopback Daily");

    // Refused: another feed, a control character, too long; the title is unchanged.
    let refusals = [
        (
            TitleChange {
                url: publisher.url("/atom.xml"),
                title: Some("Not mine".to_owned()),
            },
            StatusCode::NOT_FOUND,
        ),
        (title(Some("bell\u{7}")), StatusCode::BAD_REQUEST),
        (title(Some("new\nline")), StatusCode::BAD_REQUEST),
        (title(Some(&"é".repeat(513))), StatusCode::BAD_REQUEST),
        (
            TitleChange {
                url: "javascript:alert(1)".to_owned(),
                title: Some("x".to_owned()),
            },
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (change, status) in refusals {
        let error = client
            .set_title(&base, "ann", &change)
            .await
            .expect_err("refused");
        assert_eq!(rejected_status(&error), Some(status), "{change:?}");
    }
    client
        .set_title(&base, "ann", &title(Some(&"é".repeat(512))))
        .await
        .expect("1,024 bytes is the most");
    let feeds = client.feeds(&base, "ann").await.expect("feeds");
    assert_eq!(feeds.subscriptions[0].title, "é".repeat(512));
}

#[tokio::test]
async fn categories_are_renamed_merged_and_removed_keeping_their_feeds() {
    let publisher = FeedPublisher::start().await;
    let service = feed_service(
        Arc::new(MemoryStore::new()),
        middletier::fetch::FetchSettings {
            allow_private_networks: true,
            ..Default::default()
        },
    );
    let base = serve_api(service).await;
    let client = client();
    let feeds = ["/rss.xml", "/atom.xml", "/feed.json"].map(|path| publisher.url(path));
    for (feed, category) in feeds.iter().zip(["Tech", "News", "Tech"]) {
        client
            .subscribe(&base, "ann", feed)
            .await
            .expect("subscribe");
        let change = CategoryChange {
            url: feed.clone(),
            category: Some(category.to_owned()),
        };
        client
            .set_category(&base, "ann", &change)
            .await
            .expect("category");
    }
    client
        .subscribe(&base, "bob", &feeds[0])
        .await
        .expect("subscribe");
    client
        .set_category(
            &base,
            "bob",
            &CategoryChange {
                url: feeds[0].clone(),
                category: Some("Tech".to_owned()),
            },
        )
        .await
        .expect("category");
    let categories = async |user: &str| -> Vec<Option<String>> {
        let feeds = client.feeds(&base, user).await.expect("feeds");
        feeds
            .subscriptions
            .into_iter()
            .map(|s| s.category)
            .collect()
    };
    let rename = |from: &str, to: &str| CategoryRename {
        from: from.to_owned(),
        to: to.to_owned(),
    };

    let moved = client
        .rename_category(&base, "ann", &rename("Tech", "Computing"))
        .await
        .expect("rename");
    assert_eq!(moved, CategoryChanged { changed: 2 });
    let some = |name: &str| Some(name.to_owned());
    assert_eq!(
        categories("ann").await,
        [some("Computing"), some("News"), some("Computing")]
    );
    assert_eq!(categories("bob").await, [some("Tech")], "Bob's are his own");

    let merged = client
        .rename_category(&base, "ann", &rename("News", "Computing"))
        .await
        .expect("merge");
    assert_eq!(merged.changed, 1);
    assert_eq!(categories("ann").await, vec![some("Computing"); 3]);
    let nothing = client
        .rename_category(&base, "ann", &rename("Absent", "Other"))
        .await
        .expect("rename");
    assert_eq!(
        nothing.changed, 0,
        "renaming a category nobody has changes nothing"
    );

    for bad in [
        rename("", "X"),
        rename("Computing", "bell\u{7}"),
        rename("Computing", &"x".repeat(101)),
    ] {
        let error = client
            .rename_category(&base, "ann", &bad)
            .await
            .expect_err("refused");
        assert_eq!(
            rejected_status(&error),
            Some(StatusCode::BAD_REQUEST),
            "{bad:?}"
        );
    }
    assert_eq!(categories("ann").await, vec![some("Computing"); 3]);

    let removed = client
        .delete_category(&base, "ann", "Computing")
        .await
        .expect("delete");
    assert_eq!(removed.changed, 3);
    assert_eq!(
        categories("ann").await,
        [None, None, None],
        "the feeds stay"
    );
    assert_eq!(
        client
            .feeds(&base, "ann")
            .await
            .expect("feeds")
            .subscriptions
            .len(),
        3
    );

    // `.` and `..` are no category names: no URL can name them.
    for name in [".", ".."] {
        let error = client
            .set_category(
                &base,
                "ann",
                &CategoryChange {
                    url: feeds[0].clone(),
                    category: Some(name.to_owned()),
                },
            )
            .await
            .expect_err("refused");
        assert_eq!(
            rejected_status(&error),
            Some(StatusCode::BAD_REQUEST),
            "{name}"
        );
    }
    // Names that look like paths or like the rename route are categories like any other.
    for name in ["a/b", "rename", "...", "%2e%2e", "Ünïcode ✓"] {
        client
            .set_category(
                &base,
                "ann",
                &CategoryChange {
                    url: feeds[0].clone(),
                    category: Some(name.to_owned()),
                },
            )
            .await
            .expect("category");
        let removed = client
            .delete_category(&base, "ann", name)
            .await
            .expect("delete");
        assert_eq!(removed.changed, 1, "{name}");
        assert_eq!(categories("ann").await[0], None, "{name}");
    }
}
