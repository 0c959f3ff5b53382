//! `middletier export` / `import`: moving every reader's data between stores. In process
//! (memory to SQLite through the file) for what the file carries and what import refuses; then
//! the real binary moving an SQLite store to Cassandra, compared through the HTTP API.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use middletier::store::{
    AccountRecord, AccountStore as _, AppPasswordCreated, AppPasswordRecord, AppPasswordStore as _,
    FeedState, MarkChange, MemoryStore, ReadingStore as _, SqliteStore, Store,
    SubscriptionStore as _,
};
use middletier::testing::{FeedPublisher, unique_prefix};
use middletier::transfer::{self, ImportError, ImportLimits};
use middletier_api::domain::{FeedUrl, UserId};
use middletier_api::{
    CategoryChange, Item, ItemStateChange, MarkRead, MiddletierClient, NewAccount,
};
use platform::testing::eventually;

use crate::crash::{Backend, MiddletierProcess, free_port};
use crate::support::{ScratchDir, cassandra_shared};

const CAP: usize = 50;

fn time(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0)
        .single()
        .expect("time")
}

fn user(name: &str) -> UserId {
    UserId::parse(name).expect("user")
}

fn feed(n: usize) -> FeedUrl {
    FeedUrl::parse(&format!("https://feeds.example/{n}.xml")).expect("url")
}

/// A feed as the refresher saves it, every item first seen at `seen`.
fn feed_state(url: &FeedUrl, seen: DateTime<Utc>) -> FeedState {
    let mut state = FeedState::new(url.clone(), seen);
    state.last_success = Some(seen);
    for n in 0..5 {
        let id = format!("item-{n}");
        state.first_seen.insert(id.clone(), seen);
        state.items.push(Item {
            id: id.clone(),
            title: format!("Title {n} of {}", url.as_str()),
            link: Some(format!("https://feeds.example/a/{n}")),
            description: format!("<p>Body {n}</p>"),
            published: Some(time(n).to_rfc3339()),
            read: false,
            starred: false,
            author: Some(format!("Writer {n}")),
            enclosures: vec![middletier_api::Enclosure {
                url: format!("https://cdn.example/a/{n}.mp3"),
                media_type: Some("audio/mpeg".to_owned()),
                length: Some(1000),
                duration: Some(90),
                image: None,
            }],
        });
    }
    state
}

/// Two account holders and single-user mode's user (subscriptions only), with categories,
/// watermarks, read, unread and starred marks.
async fn populate(store: &dyn Store) {
    for name in ["ann", "bob"] {
        let account = AccountRecord {
            user: user(name),
            password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${name}"),
            created: time(1),
        };
        assert!(store.create_account(&account).await.expect("account"));
    }
    for n in [3, 1, 2] {
        store
            .save_feed_state(&feed_state(&feed(n), time(10)))
            .await
            .expect("feed");
    }
    let ann = user("ann");
    for n in [3, 1, 2] {
        store
            .subscribe(&ann, &feed(n), CAP)
            .await
            .expect("subscribe");
    }
    store
        .set_preferences(&ann, r#"{"theme":"dark","items_per_page":20}"#)
        .await
        .expect("preferences");
    store
        .set_category(&ann, &feed(3), Some("News"))
        .await
        .expect("category");
    store
        .set_title(&ann, &feed(1), Some("Ann's own name for it"))
        .await
        .expect("title");
    for (who, n) in [("ann", 1), ("ann", 2), ("reader", 3)] {
        let password = AppPasswordRecord {
            user: user(who),
            id: format!("{n:016x}"),
            name: format!("App {n}"),
            secret_hash: format!("{n:064x}"),
            fever_hash: format!("{:064x}", 100 + n),
            created: time(n),
            last_used: (n == 2).then(|| time(50)),
        };
        assert_eq!(
            store
                .create_app_password(&password, 20)
                .await
                .expect("app password"),
            AppPasswordCreated::Created
        );
    }
    store
        .mark_read_up_to(&ann, &[feed(1)], time(20), time(21))
        .await
        .expect("watermark");
    let mark = |read, starred| MarkChange { read, starred };
    store
        .mark_item(&ann, &feed(1), "item-2", mark(Some(false), None), time(30))
        .await
        .expect("unread after the watermark");
    store
        .mark_item(&ann, &feed(1), "item-3", mark(None, Some(true)), time(31))
        .await
        .expect("star");
    store
        .mark_item(
            &ann,
            &feed(3),
            "item-0",
            mark(Some(true), Some(true)),
            time(32),
        )
        .await
        .expect("read and star");
    store
        .mark_item(
            &ann,
            &feed(3),
            "gone-item",
            mark(None, Some(true)),
            time(33),
        )
        .await
        .expect("star on an item the feed no longer holds");
    let single = user("reader");
    store
        .subscribe(&single, &feed(2), CAP)
        .await
        .expect("subscribe");
    store
        .mark_item(
            &single,
            &feed(2),
            "item-4",
            mark(Some(true), None),
            time(40),
        )
        .await
        .expect("read");
}

/// Everything a reader sees, per user: account hash, subscriptions in order with categories,
/// and each cached item's (read, starred), plus stars on items no longer cached; their own
/// feed titles and app passwords.
type View = Vec<(
    String,
    Option<String>,
    Vec<(String, Option<String>)>,
    Vec<(String, String, bool, bool)>,
    Vec<(String, String)>,
    Vec<AppPasswordRecord>,
)>;

async fn view(store: &dyn Store) -> View {
    let mut out = Vec::new();
    for user in store.users().await.expect("users") {
        let account = store.account(&user).await.expect("account");
        let reading = store.reading(&user).await.expect("reading");
        let urls: Vec<FeedUrl> = reading
            .subscriptions
            .iter()
            .map(|(u, _)| u.clone())
            .collect();
        let cached = store.cached_feeds(&urls).await.expect("feeds");
        let mut items = Vec::new();
        for (url, feed) in urls.iter().zip(cached) {
            let state = reading.feeds.get(url).cloned().unwrap_or_default();
            let feed = feed.expect("cached");
            for (index, item) in feed.state.items.iter().enumerate() {
                let (read, starred) = state.state_of(&item.id, feed.seen[index]);
                items.push((url.as_str().to_owned(), item.id.clone(), read, starred));
            }
            for (id, mark) in &state.marks {
                if mark.starred && !feed.by_id.contains_key(id) {
                    items.push((url.as_str().to_owned(), id.clone(), false, true));
                }
            }
        }
        items.sort();
        let mut titles: Vec<(String, String)> = reading
            .titles
            .iter()
            .map(|(url, title)| (url.as_str().to_owned(), title.clone()))
            .collect();
        titles.sort();
        out.push((
            user.as_str().to_owned(),
            account.map(|a| a.password_hash),
            reading
                .subscriptions
                .iter()
                .map(|(u, c)| (u.as_str().to_owned(), c.clone()))
                .collect(),
            items,
            titles,
            store.app_passwords(&user).await.expect("app passwords"),
        ));
    }
    out
}

async fn sqlite(scratch: &ScratchDir, name: &str) -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open(&scratch.join(&format!("{name}.db")))
            .await
            .expect("open"),
    )
}

async fn import(store: &dyn Store, file: &[u8]) -> Result<transfer::Summary, ImportError> {
    transfer::import(store, &mut &file[..], ImportLimits::for_cap(CAP, 100)).await
}

async fn exported(store: &dyn Store) -> Vec<u8> {
    let mut file = Vec::new();
    transfer::export(store, &mut file, time(100))
        .await
        .expect("export");
    file
}

#[tokio::test]
async fn export_then_import_into_sqlite_keeps_everything_a_reader_sees() {
    let scratch = ScratchDir::new("transfer-round-trip");
    let source = sqlite(&scratch, "source").await;
    populate(source.as_ref()).await;
    let file = exported(source.as_ref()).await;
    let text = String::from_utf8(file.clone()).expect("utf-8");
    assert!(
        text.starts_with(r#"{"format":"rss-recipe-export","version":3,"#),
        "{text}"
    );
    assert!(!text.contains("session"), "sessions are not exported");
    assert!(
        text.contains(r#""kind":"starred_item""#) && text.contains("<p>Body 0</p>"),
        "starred items carry their content: {text}"
    );

    let target = sqlite(&scratch, "target").await;
    let summary = import(target.as_ref(), &file).await.expect("import");
    assert!(
        text.contains(r#""title":"Ann's own name for it""#),
        "titles are carried: {text}"
    );
    assert_eq!(
        (summary.users, summary.accounts, summary.subscriptions),
        (3, 2, 4)
    );
    assert_eq!(summary.app_passwords, 3);
    assert_eq!(summary.stars, 3);
    let preferences = target
        .preferences(&user("ann"))
        .await
        .expect("read")
        .expect("ann's preferences are carried");
    let preferences: middletier_api::Preferences =
        serde_json::from_str(&preferences).expect("parses");
    assert_eq!(
        (preferences.theme, preferences.items_per_page),
        (middletier_api::Theme::Dark, 20)
    );
    assert_eq!(target.preferences(&user("bob")).await.expect("read"), None);
    // The new store fetches every feed afresh: its items are first seen after the move, later
    // than any watermark the old store set.
    for n in [1, 2, 3] {
        target
            .save_feed_state(&feed_state(&feed(n), time(1000)))
            .await
            .expect("refresh");
    }
    assert_eq!(view(target.as_ref()).await, view(source.as_ref()).await);

    let before = view(target.as_ref()).await;
    let readings: HashMap<_, _> = {
        let mut map = HashMap::new();
        for u in target.users().await.expect("users") {
            map.insert(u.clone(), target.reading(&u).await.expect("reading"));
        }
        map
    };
    import(target.as_ref(), &file).await.expect("import again");
    assert_eq!(
        view(target.as_ref()).await,
        before,
        "importing twice changes nothing"
    );
    for (u, reading) in readings {
        assert_eq!(target.reading(&u).await.expect("reading"), reading, "{u:?}");
    }
    assert_eq!(exported(target.as_ref()).await.len(), file.len());
}

#[tokio::test]
async fn a_starred_item_keeps_its_content_and_first_seen_time_after_its_feed_drops_it() {
    let scratch = ScratchDir::new("transfer-starred-history");
    let source = sqlite(&scratch, "source").await;
    populate(source.as_ref()).await;
    // feed 3 no longer publishes the starred item-0: only its history holds it.
    let mut later = feed_state(&feed(3), time(50));
    later.items.retain(|item| item.id != "item-0");
    later.first_seen.remove("item-0");
    source.save_feed_state(&later).await.expect("refresh");

    let file = exported(source.as_ref()).await;
    let target = sqlite(&scratch, "target").await;
    import(target.as_ref(), &file).await.expect("import");

    let history = target.history(&feed(3)).await.expect("history");
    assert_eq!(
        history.len(),
        1,
        "the starred item, and only it: {history:?}"
    );
    assert_eq!(history[0].id, "item-0");
    assert_eq!(
        history[0].seen,
        time(10).timestamp_millis(),
        "first seen as before"
    );
    let content = target
        .history_items(&feed(3), &history)
        .await
        .expect("items");
    let item = content[0].as_ref().expect("content");
    assert_eq!(item.description, "<p>Body 0</p>");
    let reading = target
        .feed_reading(&user("ann"), &feed(3))
        .await
        .expect("reading");
    assert!(reading.marks["item-0"].starred);
}

#[tokio::test]
async fn a_watermark_is_exported_as_read_marks_on_the_current_document_only() {
    let scratch = ScratchDir::new("transfer-watermark-history");
    let source = sqlite(&scratch, "source").await;
    populate(source.as_ref()).await;
    // feed 1's first five items left the document for five others, all before ann's
    // watermark: the history holds ten covered items, the new store will fetch five.
    let mut later = feed_state(&feed(1), time(15));
    for item in &mut later.items {
        item.id = item.id.replace("item", "new");
    }
    later.first_seen = later
        .items
        .iter()
        .map(|item| (item.id.clone(), time(15)))
        .collect();
    source.save_feed_state(&later).await.expect("refresh");

    let file = String::from_utf8(exported(source.as_ref()).await).expect("utf-8");
    let read_marks: Vec<String> = file
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|record| {
            record["kind"] == "mark" && record["feed"] == feed(1).as_str() && record["read"] == true
        })
        .filter_map(|record| record["item"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        read_marks,
        ["new-0", "new-1", "new-2", "new-3", "new-4"],
        "the items the new store will see, not the whole history"
    );
}

#[tokio::test]
async fn imported_starred_content_is_sanitized_and_a_bad_link_is_refused_naming_the_line() {
    let item = |extra: &str| {
        format!(
            r#"{{"kind":"starred_item","user":"ann","feed":"https://feeds.example/1.xml","item":{{"id":"x","title":"T","description":"<p onclick=\"steal()\">Hi</p><script>steal()</script>"{extra}}}}}"#
        )
    };
    let scratch = ScratchDir::new("transfer-hostile-starred");
    let target = sqlite(&scratch, "target").await;
    let file = file_of(&[subscription("ann", "https://feeds.example/1.xml"), item("")]);
    import(target.as_ref(), &file).await.expect("import");
    let history = target.history(&feed(1)).await.expect("history");
    let content = target
        .history_items(&feed(1), &history)
        .await
        .expect("items");
    let description = &content[0].as_ref().expect("stored").description;
    assert!(
        !description.contains("script") && !description.contains("onclick"),
        "the file's HTML is sanitized like a feed's: {description}"
    );

    for (extra, says) in [
        (
            r#","link":"javascript:steal()""#,
            "not an absolute http(s) URL",
        ),
        (r#","published":"yesterday""#, "RFC 3339"),
        (
            &format!(r#","link":"https://feeds.example/{}""#, "a".repeat(3000)),
            "at most 2048 bytes",
        ),
    ] {
        let file = file_of(&[
            subscription("bob", "https://feeds.example/1.xml"),
            item(extra).replace(r#""user":"ann""#, r#""user":"bob""#),
        ]);
        let error = import(target.as_ref(), &file).await.expect_err("refused");
        assert!(
            matches!(&error, ImportError::Invalid { line: 3, problem } if problem.contains(says)),
            "{error}"
        );
    }
    assert!(
        target
            .subscriptions(&user("bob"))
            .await
            .expect("subs")
            .is_empty(),
        "the refused user is left untouched"
    );
}

#[tokio::test]
async fn import_refuses_more_starred_content_than_it_may_hold_for_one_user() {
    let starred = |n: usize| {
        format!(
            r#"{{"kind":"starred_item","user":"ann","feed":"https://feeds.example/1.xml","item":{{"id":"i{n}","title":"T","description":"{}"}}}}"#,
            "x".repeat(600)
        )
    };
    let file = file_of(&[
        subscription("ann", "https://feeds.example/1.xml"),
        starred(0),
        starred(1),
    ]);
    let limits = ImportLimits {
        max_starred_bytes_per_user: 1000,
        ..ImportLimits::for_cap(CAP, 100)
    };
    let store = MemoryStore::new();
    let error = transfer::import(&store, &mut &file[..], limits)
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, ImportError::Invalid { line: 4, problem } if problem.contains("starred")),
        "{error}"
    );
    assert!(
        store
            .subscriptions(&user("ann"))
            .await
            .expect("subs")
            .is_empty(),
        "nothing of the user written"
    );
}

/// A file made of the header and `records`, with a correct end line.
fn file_of(records: &[String]) -> Vec<u8> {
    let mut text = String::from(
        r#"{"format":"rss-recipe-export","version":1,"exported_at":"2026-01-01T00:00:00Z"}"#,
    );
    text.push('\n');
    let users: std::collections::HashSet<String> = records
        .iter()
        .filter_map(|r| {
            let value: serde_json::Value = serde_json::from_str(r).ok()?;
            Some(value["user"].as_str()?.to_owned())
        })
        .collect();
    for record in records {
        text.push_str(record);
        text.push('\n');
    }
    text.push_str(&format!(
        r#"{{"kind":"end","users":{},"records":{}}}"#,
        users.len(),
        records.len()
    ));
    text.push('\n');
    text.into_bytes()
}

fn subscription(user: &str, url: &str) -> String {
    format!(r#"{{"kind":"subscription","user":"{user}","feed":"{url}"}}"#)
}

/// Imports `file` into a fresh store and expects an error naming `line` and saying `says`;
/// `ok_user` (imported before the bad record) is kept, `bad_user` has nothing.
async fn refused(file: &[u8], line: u64, says: &str, bad_user: &str) {
    let store = MemoryStore::new();
    let error = import(&store, file).await.expect_err("refused");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("line {line}: ")) && message.contains(says),
        "{message}"
    );
    assert!(
        store
            .subscriptions(&user(bad_user))
            .await
            .expect("read")
            .is_empty()
            && store
                .account(&user(bad_user))
                .await
                .expect("read")
                .is_none()
            && store
                .app_passwords(&user(bad_user))
                .await
                .expect("read")
                .is_empty(),
        "nothing of {bad_user} written: {message}"
    );
}

#[tokio::test]
async fn import_refuses_another_format_or_version_naming_the_line() {
    let other = br#"{"format":"opml","version":1,"exported_at":"2026-01-01T00:00:00Z"}"#;
    refused(other, 1, "format 'opml'", "ann").await;
    let newer =
        br#"{"format":"rss-recipe-export","version":4,"exported_at":"2026-01-01T00:00:00Z"}"#;
    refused(newer, 1, "version 4 is not supported", "ann").await;
    refused(b"<opml/>\n", 1, "not an export header", "ann").await;
    refused(b"", 1, "empty", "ann").await;
}

#[tokio::test]
async fn import_of_a_file_cut_short_keeps_the_last_user_untouched() {
    let full = file_of(&[
        subscription("ann", "https://feeds.example/1.xml"),
        subscription("bob", "https://feeds.example/1.xml"),
        subscription("bob", "https://feeds.example/2.xml"),
    ]);
    let text = String::from_utf8(full).expect("utf-8");
    // Without the end line, and cut inside bob's last line.
    let without_end: String = text.lines().take(4).map(|l| format!("{l}\n")).collect();
    let store = MemoryStore::new();
    let error = import(&store, without_end.as_bytes())
        .await
        .expect_err("cut");
    assert!(
        error
            .to_string()
            .contains("line 5: the file ends without its end line"),
        "{error}"
    );
    assert_eq!(
        store.subscriptions(&user("ann")).await.expect("read"),
        [feed(1)]
    );
    assert!(
        store
            .subscriptions(&user("bob"))
            .await
            .expect("read")
            .is_empty()
    );
    let mut trailing = text.clone();
    trailing.push_str(&subscription("cid", "https://feeds.example/1.xml"));
    refused(trailing.as_bytes(), 6, "data after the end line", "cid").await;
    let miscounted = text.replace(r#""records":3"#, r#""records":2"#);
    refused(miscounted.as_bytes(), 5, "the end line counts", "bob").await;
    let mid_line = &without_end[..without_end.len() - 10];
    refused(mid_line.as_bytes(), 4, "not a valid record", "bob").await;
}

#[tokio::test]
async fn import_refuses_a_line_over_the_size_bound_without_reading_it_all() {
    let huge = format!(
        r#"{{"kind":"subscription","user":"ann","feed":"https://feeds.example/1.xml","category":"{}"}}"#,
        "x".repeat(transfer::MAX_LINE_BYTES)
    );
    refused(&file_of(&[huge]), 2, "longer than 1048576 bytes", "ann").await;
}

#[tokio::test]
async fn import_refuses_invalid_users_urls_and_marks_naming_the_line() {
    let bad_url = file_of(&[
        subscription("ann", "https://feeds.example/1.xml"),
        subscription("ann", "javascript:alert(1)"),
    ]);
    refused(&bad_url, 3, "feed:", "ann").await;
    let bad_user = file_of(&[subscription("../etc", "https://feeds.example/1.xml")]);
    refused(&bad_user, 2, "user:", "ann").await;
    let unsubscribed_mark = file_of(&[
        subscription("ann", "https://feeds.example/1.xml"),
        r#"{"kind":"mark","user":"ann","feed":"https://feeds.example/2.xml","item":"x","starred":true}"#
            .to_owned(),
    ]);
    refused(
        &unsubscribed_mark,
        3,
        "not among the user's subscriptions",
        "ann",
    )
    .await;
    let empty_hash = file_of(&[
        r#"{"kind":"account","user":"ann","password_hash":"","created":"2026-01-01T00:00:00Z"}"#
            .to_owned(),
    ]);
    refused(&empty_hash, 2, "password hash", "ann").await;
    let scattered = file_of(&[
        subscription("ann", "https://feeds.example/1.xml"),
        subscription("bob", "https://feeds.example/1.xml"),
        subscription("ann", "https://feeds.example/2.xml"),
    ]);
    refused(&scattered, 4, "not together", "nobody").await;
}

#[tokio::test]
async fn import_refuses_more_subscriptions_than_the_cap_and_writes_none_of_them() {
    let over: Vec<String> = (0..=CAP)
        .map(|n| subscription("ann", &format!("https://feeds.example/{n}.xml")))
        .collect();
    refused(
        &file_of(&over),
        2 + CAP as u64,
        "more than 50 subscriptions",
        "ann",
    )
    .await;
    let marks: Vec<String> = std::iter::once(subscription("ann", "https://feeds.example/1.xml"))
        .chain((0..ImportLimits::for_cap(CAP, 100).max_records_per_user).map(|n| {
            format!(
                r#"{{"kind":"mark","user":"ann","feed":"https://feeds.example/1.xml","item":"i{n}","starred":true}}"#
            )
        }))
        .collect();
    let limit = ImportLimits::for_cap(CAP, 100).max_records_per_user as u64;
    refused(&file_of(&marks), 2 + limit, "more than", "ann").await;
}

/// What a reader sees through the middle tier's API: each subscription (in order) with its
/// category and each item with its read and starred state.
type ApiView = Vec<(String, Option<String>, Vec<(String, String, bool, bool)>)>;

async fn api_view(client: &MiddletierClient, base: &url::Url, user: &str) -> Option<ApiView> {
    let feeds = client.feeds(base, user).await.ok()?;
    let view: ApiView = feeds
        .subscriptions
        .into_iter()
        .map(|s| {
            let items = s
                .items
                .into_iter()
                .map(|i| (i.id, i.title, i.read, i.starred))
                .collect();
            (s.url, s.category, items)
        })
        .collect();
    // Every feed fetched: what the comparison needs on a store that just started.
    view.iter()
        .all(|(_, _, items)| !items.is_empty())
        .then_some(view)
}

async fn settled_view(client: &MiddletierClient, base: &url::Url, user: &str) -> ApiView {
    let seen = std::sync::Mutex::new(None);
    eventually(
        "the middle tier has fetched every feed",
        Duration::from_secs(60),
        || async {
            let view = api_view(client, base, user).await;
            let found = view.is_some();
            *seen.lock().expect("lock") = view;
            found
        },
    )
    .await;
    seen.into_inner().expect("lock").expect("a view")
}

/// Runs `middletier <args>` on `backend`; returns its exit status and standard error.
fn tool(backend: &Backend, args: &[&str]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_middletier"));
    backend.configure(&mut command);
    let output = command
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("middletier runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn the_binary_moves_a_populated_sqlite_store_to_cassandra_and_readers_see_the_same() {
    let _cassandra = cassandra_shared().await;
    let scratch = ScratchDir::new("transfer-binary");
    let sqlite = Backend::Sqlite(scratch.join("rss.db"));
    // A keyspace of this test's own; names unique per run, so runs never meet.
    let cassandra = Backend::CassandraKeyspace("rss_test_transfer".to_owned());
    let prefix = unique_prefix();
    let (ann, reader) = (format!("{prefix}ann"), format!("{prefix}reader"));
    let client =
        MiddletierClient::new(Duration::from_secs(2), Duration::from_secs(10)).expect("client");
    let publisher = FeedPublisher::start().await;
    let feeds = [
        publisher.url("/rss.xml"),
        publisher.url("/atom.xml"),
        publisher.url("/feed.json"),
    ];

    let port = free_port();
    let base = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
    let source = MiddletierProcess::start(port, &sqlite).await;
    let account = NewAccount {
        user: ann.clone(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
    };
    assert!(
        client
            .create_account(&base, &account)
            .await
            .expect("call")
            .is_some()
    );
    for url in &feeds {
        client.subscribe(&base, &ann, url).await.expect("subscribe");
    }
    client
        .subscribe(&base, &reader, &feeds[2])
        .await
        .expect("subscribe");
    let category = CategoryChange {
        url: feeds[1].clone(),
        category: Some("News".to_owned()),
    };
    client
        .set_category(&base, &ann, &category)
        .await
        .expect("category");
    let before = settled_view(&client, &base, &ann).await;
    let all_read = MarkRead {
        feed: Some(feeds[0].clone()),
        category: None,
        up_to: Some(chrono::Utc::now().to_rfc3339()),
    };
    client
        .mark_read(&base, &ann, &all_read)
        .await
        .expect("mark all read");
    let mark = |feed: &str, item: &str, read, starred| ItemStateChange {
        feed: feed.to_owned(),
        item: item.to_owned(),
        read,
        starred,
    };
    let first_of = |n: usize| before[n].2[0].0.clone();
    for change in [
        mark(&feeds[0], &first_of(0), Some(false), Some(true)),
        mark(&feeds[1], &first_of(1), Some(true), None),
        mark(&feeds[2], &first_of(2), None, Some(true)),
    ] {
        client
            .set_item_state(&base, &ann, &change)
            .await
            .expect("mark");
    }
    client
        .set_item_state(
            &base,
            &reader,
            &mark(&feeds[2], &first_of(2), Some(true), None),
        )
        .await
        .expect("mark");
    let ann_before = settled_view(&client, &base, &ann).await;
    let reader_before = settled_view(&client, &base, &reader).await;
    let account_before = client.account(&base, &ann).await.expect("account");
    source.kill_9();

    let file = scratch.join("export.jsonl");
    let file_arg = file.to_str().expect("utf-8 path");
    let (ok, stderr) = tool(&sqlite, &["export", file_arg]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("2 users (1 accounts, 0 app passwords), 4 subscriptions"),
        "{stderr}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&file).expect("file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the export holds password hashes");
    let (ok, stderr) = tool(&sqlite, &["export", file_arg]);
    assert!(
        !ok && stderr.contains("--force"),
        "never over an existing file: {stderr}"
    );

    for attempt in ["first", "second (a no-op)"] {
        let (ok, stderr) = tool(&cassandra, &["import", file_arg]);
        assert!(ok, "{attempt} import: {stderr}");
        assert!(stderr.contains("imported 2 users"), "{stderr}");
    }

    let port = free_port();
    let base = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
    let _target = MiddletierProcess::start(port, &cassandra).await;
    assert_eq!(settled_view(&client, &base, &ann).await, ann_before);
    assert_eq!(settled_view(&client, &base, &reader).await, reader_before);
    assert_eq!(
        client.account(&base, &ann).await.expect("account"),
        account_before
    );
}

#[tokio::test]
async fn the_binary_pipes_an_export_into_an_import_and_overwrites_only_with_force() {
    let scratch = ScratchDir::new("transfer-pipe");
    let (from, to) = (scratch.join("from.db"), scratch.join("to.db"));
    populate(&SqliteStore::open(&from).await.expect("open")).await;
    let mut export = Command::new(env!("CARGO_BIN_EXE_middletier"));
    Backend::Sqlite(from.clone()).configure(&mut export);
    let exported = export.args(["export", "-"]).output().expect("export runs");
    assert!(exported.status.success(), "{exported:?}");
    let mut import = Command::new(env!("CARGO_BIN_EXE_middletier"));
    Backend::Sqlite(to.clone()).configure(&mut import);
    let mut child = import
        .args(["import", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("import runs");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), &exported.stdout)
        .expect("pipe");
    let imported = child.wait_with_output().expect("import ends");
    let stderr = String::from_utf8_lossy(&imported.stderr);
    assert!(
        imported.status.success() && stderr.contains("imported 3 users"),
        "{stderr}"
    );

    let file = scratch.join("export.jsonl");
    std::fs::write(&file, "old").expect("write");
    let file_arg = file.to_str().expect("utf-8 path");
    let (ok, stderr) = tool(&Backend::Sqlite(to.clone()), &["export", file_arg]);
    assert!(!ok && stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "old");
    let (ok, stderr) = tool(&Backend::Sqlite(to), &["export", file_arg, "--force"]);
    assert!(ok, "{stderr}");
    let written = std::fs::read_to_string(&file).expect("read");
    assert!(
        written.starts_with(r#"{"format":"rss-recipe-export""#),
        "{written}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&file).expect("file").permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "an overwritten file is narrowed to its owner"
    );
}

#[tokio::test]
async fn a_version_1_file_still_imports_without_titles_or_app_passwords() {
    let file = file_of(&[
        r#"{"kind":"account","user":"ann","password_hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA","created":"2026-01-01T00:00:00Z"}"#
            .to_owned(),
        r#"{"kind":"subscription","user":"ann","feed":"https://feeds.example/1.xml","category":"News"}"#
            .to_owned(),
    ]);
    assert!(
        String::from_utf8_lossy(&file).starts_with(r#"{"format":"rss-recipe-export","version":1,"#)
    );
    let store = MemoryStore::new();
    let summary = import(&store, &file).await.expect("import");
    assert_eq!((summary.accounts, summary.subscriptions), (1, 1));
    assert_eq!(summary.app_passwords, 0);
    let reading = store.reading(&user("ann")).await.expect("read");
    assert_eq!(reading.subscriptions, [(feed(1), Some("News".to_owned()))]);
    assert!(reading.titles.is_empty());
}

fn app_password(user: &str, id: &str, secret: &str, fever: &str, name: &str) -> String {
    format!(
        r#"{{"kind":"app_password","user":"{user}","id":"{id}","name":"{name}","secret_hash":"{secret}","fever_hash":"{fever}","created":"2026-01-01T00:00:00Z"}}"#
    )
}

#[tokio::test]
async fn import_refuses_bad_app_passwords_and_titles_naming_the_line() {
    let (id, secret, fever) = ("0123456789abcdef", "a".repeat(64), "b".repeat(64));
    let cases = [
        (app_password("ann", "../../x", &secret, &fever, "Phone"), "id"),
        (app_password("ann", id, "00", &fever, "Phone"), "hashes"),
        (app_password("ann", id, &secret, &"B".repeat(64), "Phone"), "hashes"),
        (app_password("ann", id, &secret, &fever, ""), "name"),
        (app_password("ann", id, &secret, &fever, "tab\\there"), "name"),
        (app_password("ann", id, &secret, &fever, &"x".repeat(101)), "name"),
        (
            r#"{"kind":"subscription","user":"ann","feed":"https://feeds.example/1.xml","title":"bell\u0007"}"#
                .to_owned(),
            "title",
        ),
    ];
    for (record, says) in cases {
        refused(&file_of(&[record]), 2, says, "ann").await;
    }
    for (preferences, says) in [
        (r#"{"items_per_page":5}"#, "items per page"),
        (r#"{"theme":"sepia"}"#, "sepia"),
        (r#"{"font":"serif"}"#, "font"),
    ] {
        let record =
            format!(r#"{{"kind":"preferences","user":"ann","preferences":{preferences}}}"#);
        refused(&file_of(&[record]), 2, says, "ann").await;
    }
    let twice = file_of(&[
        app_password("ann", id, &secret, &fever, "Phone"),
        app_password("ann", id, &"c".repeat(64), &"d".repeat(64), "Tablet"),
    ]);
    refused(&twice, 3, "twice", "ann").await;
    let too_many: Vec<String> = (0..=20)
        .map(|n| {
            app_password(
                "ann",
                &format!("{n:016x}"),
                &format!("{n:064x}"),
                &format!("{:064x}", n + 100),
                "Phone",
            )
        })
        .collect();
    refused(&file_of(&too_many), 22, "more than 20 app passwords", "ann").await;

    // A hash another user holds in the target store: refused, that user's data untouched.
    let store = MemoryStore::new();
    import(
        &store,
        &file_of(&[app_password("bob", id, &secret, &fever, "Bob's")]),
    )
    .await
    .expect("bob");
    let error = import(
        &store,
        &file_of(&[app_password("ann", id, &secret, &"e".repeat(64), "Ann's")]),
    )
    .await
    .expect_err("taken");
    assert!(
        error.to_string().contains("refused app password"),
        "{error}"
    );
    assert!(
        store
            .app_passwords(&user("ann"))
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(
        store.app_passwords(&user("bob")).await.expect("read").len(),
        1
    );
}
