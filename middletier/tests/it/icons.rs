//! Feed icons: where the refresher finds them (the feed's image, then the site's `<link
//! rel=icon>`, then `/favicon.ico`), what it refuses (huge, not an image, SVG, private
//! addresses behind a redirect, slow servers), that it looks once per source, the API that
//! serves them, and the store conformance of icons on memory, SQLite and Cassandra.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use middletier::fetch::{FetchSettings, Fetcher};
use middletier::icons::{MAX_ICON_BYTES, sha256_hex};
use middletier::refresh::{Ownership, RefreshSettings, Refresher};
use middletier::store::{
    FeedCache, FeedState, IconSource, MemoryStore, SqliteStore, Store, StoredIcon,
};
use middletier::testing::{self, Answer, Site};
use middletier_api::domain::{FeedUrl, UserId};

use crate::support::{ScratchDir, assert_bounded, cassandra_shared};

/// A real PNG (its header is what the refresher sniffs).
const PNG: &[u8] = testing::PNG_16;
const GIF: &[u8] = b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff!\xf9\x04\x01\0\0\0\0,\0\0\0\0\x01\0\x01\0\0\x02\x02D\x01\0;";
/// An ICO directory of one 16x16 image (enough for the sniffer; browsers are not shown it).
const ICO: &[u8] = &[
    0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0, 0, 0, 0, 0, 22, 0, 0, 0,
];

/// RSS whose channel links `home` and, when given, names `image` as its image.
fn rss(home: &str, image: Option<&str>) -> Answer {
    let image = image
        .map(|url| format!("<image><url>{url}</url><title>t</title><link>{home}</link></image>"))
        .unwrap_or_default();
    Answer::text(
        "application/rss+xml",
        format!(
            "<rss version=\"2.0\"><channel><title>Iconic</title><link>{home}</link>{image}\
             <item><title>One</title><link>{home}one</link><guid>one</guid></item>\
             </channel></rss>"
        ),
    )
}

fn html(head: &str) -> Answer {
    Answer::text(
        "text/html; charset=utf-8",
        format!(
            "<!DOCTYPE html><html><head><title>Home</title>{head}</head><body>Hi</body></html>"
        ),
    )
}

fn loopback() -> FetchSettings {
    FetchSettings {
        allow_private_networks: true,
        ..FetchSettings::default()
    }
}

fn reader() -> UserId {
    UserId::parse("ann").expect("user")
}

/// Subscribes `reader()` to `feeds` and runs one refresh scan at `now`; answers each feed's
/// icon hash as stored.
async fn refresh_at(
    store: &Arc<dyn Store>,
    fetch: FetchSettings,
    feeds: &[String],
    now: DateTime<Utc>,
) -> Vec<Option<String>> {
    let urls: Vec<FeedUrl> = feeds
        .iter()
        .map(|url| FeedUrl::parse(url).expect("feed url"))
        .collect();
    for url in &urls {
        store
            .subscribe(&reader(), url, 100)
            .await
            .expect("subscribe");
    }
    let refresher = Refresher::new(
        store.clone(),
        Fetcher::new(fetch).expect("fetcher"),
        RefreshSettings::default(),
        Ownership::solo(),
    );
    refresher.run_once(now).await.expect("refresh");
    store
        .feed_states(&urls)
        .await
        .expect("states")
        .into_iter()
        .map(|state| state.expect("refreshed").icon)
        .collect()
}

async fn refresh(store: &Arc<dyn Store>, fetch: FetchSettings, feed: String) -> Option<String> {
    refresh_at(store, fetch, &[feed], Utc::now())
        .await
        .remove(0)
}

fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

// --- Where icons come from ---------------------------------------------------------------

#[tokio::test]
async fn the_feeds_own_image_is_its_icon_and_the_api_serves_its_bytes() {
    let site = Site::start(|base| {
        vec![
            ("/feed.xml", rss(&format!("{base}/"), Some("/logo.png"))),
            ("/logo.png", Answer::Body("text/plain", PNG.to_vec())),
            ("/", html("<link rel=\"icon\" href=\"/linked.gif\">")),
            ("/linked.gif", Answer::Body("image/gif", GIF.to_vec())),
        ]
    })
    .await;
    let store = memory();
    let icon = refresh(&store, loopback(), site.url("/feed.xml")).await;
    assert_eq!(
        icon,
        Some(sha256_hex(PNG)),
        "the feed's <image>, made absolute"
    );
    assert_eq!(
        site.requests("/linked.gif"),
        0,
        "the first source that works wins"
    );

    let api = testing::serve_api(testing::feed_service(store.clone(), loopback())).await;
    let hash = icon.expect("icon");
    let response = reqwest::get(api.join(&format!("middletier/icons/{hash}")).expect("url"))
        .await
        .expect("get icon");
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers()[name].to_str().expect("ascii").to_owned();
    // The publisher said text/plain: the type served is the one sniffed from the bytes.
    assert_eq!(header("content-type"), "image/png");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(response.bytes().await.expect("body").as_ref(), PNG);

    let unknown = api
        .join(&format!("middletier/icons/{}", sha256_hex(b"nothing")))
        .expect("url");
    assert_eq!(reqwest::get(unknown).await.expect("get").status(), 404);
    for bad in ["not-a-hash", "../../etc/passwd", &"A".repeat(64)] {
        let url = api.join(&format!("middletier/icons/{bad}")).expect("url");
        let status = reqwest::get(url).await.expect("get").status();
        assert!(status == 400 || status == 404, "{bad}: {status}");
    }
}

#[tokio::test]
async fn without_a_feed_image_the_icon_the_home_page_links_is_used() {
    let site = Site::start(|base| {
        vec![
            ("/feed.xml", rss(&format!("{base}/blog/"), None)),
            (
                "/blog/",
                html(
                    "<link rel=\"icon\" type=\"image/svg+xml\" href=\"/icon.svg\">\
                     <link rel=\"shortcut icon\" href=\"static/linked.gif\">",
                ),
            ),
            (
                "/blog/static/linked.gif",
                Answer::Body("image/gif", GIF.to_vec()),
            ),
            ("/favicon.ico", Answer::Body("image/x-icon", ICO.to_vec())),
        ]
    })
    .await;
    let icon = refresh(&memory(), loopback(), site.url("/feed.xml")).await;
    assert_eq!(icon, Some(sha256_hex(GIF)));
    assert_eq!(
        site.requests("/icon.svg"),
        0,
        "SVG links are not even fetched"
    );
    assert_eq!(site.requests("/favicon.ico"), 0);
}

#[tokio::test]
async fn without_either_the_sites_favicon_is_used() {
    let site = Site::start(|base| {
        vec![
            ("/feed.xml", rss(&format!("{base}/"), None)),
            ("/", html("<link rel=\"stylesheet\" href=\"/s.css\">")),
            ("/favicon.ico", Answer::Body("image/x-icon", ICO.to_vec())),
        ]
    })
    .await;
    let store = memory();
    let hash = refresh(&store, loopback(), site.url("/feed.xml"))
        .await
        .expect("the favicon");
    assert_eq!(hash, sha256_hex(ICO));
    let stored = store.icon(&hash).await.expect("read").expect("stored");
    assert_eq!(stored.content_type, "image/x-icon");
}

#[tokio::test]
async fn a_site_is_looked_at_once_per_week_for_all_its_feeds_and_failures_are_remembered() {
    let site = Site::start(|base| {
        vec![
            ("/a.xml", rss(&format!("{base}/"), None)),
            ("/b.xml", rss(&format!("{base}/"), None)),
            ("/", html("")),
        ]
    })
    .await;
    let store = memory();
    let feeds = [site.url("/a.xml"), site.url("/b.xml")];
    let start = Utc::now();
    assert_eq!(
        refresh_at(&store, loopback(), &feeds, start).await,
        [None, None]
    );
    // Both feeds share the site; they may be refreshed at once, so allow one look each.
    let looked = site.requests("/favicon.ico");
    assert!((1..=2).contains(&looked), "{looked} looks");
    let record = store
        .icon_source(&site.url(""))
        .await
        .expect("read")
        .expect("the failed look is kept");
    assert!(record.hash.is_none());
    assert!(record.error.expect("why").contains("404"), "says why");

    // Refreshed again within the week: the failure is remembered, nobody asks the site again.
    let later = start + chrono::Duration::hours(2);
    refresh_at(&store, loopback(), &feeds, later).await;
    assert_eq!(site.requests("/a.xml"), 2, "the feeds were refreshed again");
    assert_eq!(site.requests("/favicon.ico"), looked);

    // A week on (the record dated back, as the refresher reads the clock), the site is looked
    // at again, and an icon it has since added is found.
    site.set("/favicon.ico", Answer::Body("image/x-icon", ICO.to_vec()));
    let week_ago = Utc::now() - chrono::Duration::days(8);
    let week_old = IconSource {
        checked: week_ago,
        ..record_again(&store, &site).await
    };
    store
        .save_icon_source(&week_old, None)
        .await
        .expect("date back");
    date_back_feeds(&store, &feeds, week_ago).await;
    assert_eq!(
        refresh_at(
            &store,
            loopback(),
            &feeds,
            start + chrono::Duration::days(8)
        )
        .await,
        [Some(sha256_hex(ICO)), Some(sha256_hex(ICO))]
    );
}

/// Dates the feeds' last icon look back to `at`, as if that long had passed.
async fn date_back_feeds(store: &Arc<dyn Store>, feeds: &[String], at: DateTime<Utc>) {
    for feed in feeds {
        let url = FeedUrl::parse(feed).expect("url");
        let mut state = store
            .feed_states(std::slice::from_ref(&url))
            .await
            .expect("read")
            .remove(0)
            .expect("state");
        state.icon_checked = Some(at);
        store.save_feed_state(&state).await.expect("save");
    }
}

#[tokio::test]
async fn a_feed_changing_its_image_on_every_refresh_is_looked_at_once_a_week() {
    let site = Site::start(|base| {
        vec![
            ("/feed.xml", rss(&format!("{base}/"), Some("/a.png"))),
            ("/a.png", Answer::Body("image/png", PNG.to_vec())),
            ("/b.png", Answer::Body("image/gif", GIF.to_vec())),
        ]
    })
    .await;
    let store = memory();
    let feeds = [site.url("/feed.xml")];
    let start = Utc::now();
    assert_eq!(
        refresh_at(&store, loopback(), &feeds, start).await,
        [Some(sha256_hex(PNG))]
    );
    let home = site.url("/");
    site.set("/feed.xml", rss(&home, Some("/b.png")));
    refresh_at(
        &store,
        loopback(),
        &feeds,
        start + chrono::Duration::hours(1),
    )
    .await;
    assert_eq!(site.requests("/feed.xml"), 2);
    assert_eq!(
        site.requests("/b.png"),
        0,
        "a new image URL waits for the feed's week"
    );
    date_back_feeds(&store, &feeds, start - chrono::Duration::days(8)).await;
    assert_eq!(
        refresh_at(
            &store,
            loopback(),
            &feeds,
            start + chrono::Duration::hours(2)
        )
        .await,
        [Some(sha256_hex(GIF))]
    );
}

async fn record_again(store: &Arc<dyn Store>, site: &Site) -> IconSource {
    store
        .icon_source(&site.url(""))
        .await
        .expect("read")
        .expect("kept")
}

// --- Hostile icons -----------------------------------------------------------------------

/// The icon a feed on a site whose only candidate icon is `favicon` ends up with.
async fn icon_with_favicon(favicon: Answer) -> (Option<String>, Arc<dyn Store>) {
    let site = Site::start(|base| {
        vec![
            ("/feed.xml", rss(&format!("{base}/"), None)),
            ("/favicon.ico", favicon),
        ]
    })
    .await;
    let store = memory();
    (
        refresh(&store, loopback(), site.url("/feed.xml")).await,
        store,
    )
}

#[tokio::test]
async fn a_ten_megabyte_icon_is_refused_and_nothing_is_stored() {
    let mut huge = PNG.to_vec();
    huge.resize(10 * 1024 * 1024, 0);
    let (icon, store) = icon_with_favicon(Answer::Body("image/png", huge.clone())).await;
    assert_eq!(icon, None);
    assert!(
        store
            .icon(&sha256_hex(&huge))
            .await
            .expect("read")
            .is_none()
    );
    // Just over the cap is refused too; at the cap is kept.
    let mut over = PNG.to_vec();
    over.resize(MAX_ICON_BYTES + 1, 0);
    assert_eq!(
        icon_with_favicon(Answer::Body("image/png", over)).await.0,
        None
    );
    let mut at = PNG.to_vec();
    at.resize(MAX_ICON_BYTES, 0);
    let hash = sha256_hex(&at);
    assert_eq!(
        icon_with_favicon(Answer::Body("image/png", at)).await.0,
        Some(hash)
    );
}

#[tokio::test]
async fn html_and_svg_with_script_are_not_icons_whatever_their_content_type() {
    let svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\">\
               <script>alert(document.cookie)</script></svg>";
    for answer in [
        Answer::text(
            "image/png",
            "<!DOCTYPE html><html><body>Not found</body></html>",
        ),
        Answer::text("image/svg+xml", svg),
        Answer::text("image/x-icon", svg),
        Answer::text("image/png", ""),
    ] {
        let (icon, _) = icon_with_favicon(answer.clone()).await;
        assert_eq!(icon, None, "{answer:?}");
    }
}

#[tokio::test]
async fn a_hostile_feed_image_falls_back_to_the_sites_favicon() {
    let site = Site::start(|base| {
        vec![
            ("/feed.xml", rss(&format!("{base}/"), Some("/logo.png"))),
            (
                "/logo.png",
                Answer::text("image/png", "<script>alert(1)</script>"),
            ),
            ("/favicon.ico", Answer::Body("image/x-icon", ICO.to_vec())),
        ]
    })
    .await;
    let icon = refresh(&memory(), loopback(), site.url("/feed.xml")).await;
    assert_eq!(icon, Some(sha256_hex(ICO)));
}

#[tokio::test]
async fn an_icon_redirecting_to_a_private_address_is_not_fetched() {
    let private =
        Site::start(|_| vec![("/secret.png", Answer::Body("image/png", PNG.to_vec()))]).await;
    let secret = private.url("/secret.png");
    let site = Site::start(|base| {
        vec![
            ("/feed.xml", rss(&format!("{base}/"), Some("/logo.png"))),
            ("/logo.png", Answer::Redirect(secret.clone())),
            ("/favicon.ico", Answer::Redirect(secret.clone())),
            ("/", html(&format!("<link rel=\"icon\" href=\"{secret}\">"))),
        ]
    })
    .await;
    // Private networks are off; only the feed's own site is let through, as an operator
    // lets one LAN feed server through.
    let fetch = FetchSettings {
        allowed_hosts: site.url("").trim_start_matches("http://").to_owned(),
        ..FetchSettings::default()
    };
    let store = memory();
    let icon = refresh(&store, fetch, site.url("/feed.xml")).await;
    assert_eq!(icon, None);
    assert_eq!(private.requests("/secret.png"), 0, "never reached");
    assert_eq!(site.requests("/logo.png"), 1, "the image was tried");
    let record = store
        .icon_source(&site.url("/logo.png"))
        .await
        .expect("read")
        .expect("kept");
    assert!(
        record
            .error
            .expect("why")
            .contains("private or local address"),
        "says why"
    );
}

#[tokio::test]
async fn a_slow_icon_server_is_given_up_on_within_the_fetch_timeout() {
    let site = Site::start(|base| {
        vec![
            ("/feed.xml", rss(&format!("{base}/"), Some("/logo.png"))),
            ("/logo.png", Answer::Slow),
            ("/", Answer::Slow),
            ("/favicon.ico", Answer::Slow),
        ]
    })
    .await;
    let fetch = FetchSettings {
        timeout: Duration::from_secs(1),
        ..loopback()
    };
    let store = memory();
    let started = Instant::now();
    let icon = refresh(&store, fetch, site.url("/feed.xml")).await;
    assert_bounded(
        "a refresh with slow icons",
        started.elapsed(),
        Duration::from_secs(10),
    );
    assert_eq!(icon, None);
    let state = store
        .feed_states(&[FeedUrl::parse(&site.url("/feed.xml")).expect("url")])
        .await
        .expect("read")
        .remove(0)
        .expect("state");
    assert_eq!(state.items.len(), 1, "the feed itself was refreshed");
    assert!(state.last_error.is_none());
}

#[tokio::test]
async fn subscribing_waits_for_a_slow_icon_only_briefly_and_leaves_the_look_to_the_refresh() {
    let site = Site::start(|base| {
        vec![
            ("/feed.xml", rss(&format!("{base}/"), None)),
            ("/", Answer::Slow),
            ("/favicon.ico", Answer::Slow),
        ]
    })
    .await;
    let store = memory();
    let service = testing::feed_service(store.clone(), loopback());
    let started = Instant::now();
    let url = FeedUrl::parse(&site.url("/feed.xml")).expect("url");
    let change = service
        .subscribe(&reader(), &url)
        .await
        .expect("subscribed");
    assert!(change.changed);
    assert_bounded(
        "a subscribe with a slow site",
        started.elapsed(),
        Duration::from_secs(10),
    );
    let feeds = service.user_feeds(&reader()).await.expect("feeds");
    assert_eq!(feeds.subscriptions[0].icon, None);
    assert_eq!(feeds.subscriptions[0].items.len(), 1);
    // Cut short, the look is not remembered as a failure: the next refresh looks again.
    assert_eq!(store.icon_source(&site.url("")).await.expect("read"), None);
}

// --- Store conformance -------------------------------------------------------------------

fn now_millis() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("time")
}

/// Sources and their looks kept and replaced, icons stored once by hash and read back byte
/// for byte, and each feed's icon hash kept with its state.
async fn icon_conformance(store: Arc<dyn Store>, prefix: &str) {
    let source = format!("https://{prefix}icons.example");
    assert_eq!(store.icon_source(&source).await.expect("read"), None);
    let mut bytes = PNG.to_vec();
    bytes.extend_from_slice(prefix.as_bytes());
    let hash = sha256_hex(&bytes);
    assert_eq!(store.icon(&hash).await.expect("read"), None);

    let icon = StoredIcon {
        content_type: "image/png".to_owned(),
        bytes: bytes.clone(),
    };
    let found = IconSource {
        source: source.clone(),
        hash: Some(hash.clone()),
        checked: now_millis(),
        error: None,
    };
    store
        .save_icon_source(&found, Some(&icon))
        .await
        .expect("save");
    assert_eq!(
        store.icon_source(&source).await.expect("read"),
        Some(found.clone())
    );
    assert_eq!(store.icon(&hash).await.expect("read"), Some(icon.clone()));

    // Another source with the same icon: one copy, still the same bytes.
    let other = IconSource {
        source: format!("{source}/other.png"),
        ..found.clone()
    };
    store
        .save_icon_source(&other, Some(&icon))
        .await
        .expect("save");
    assert_eq!(store.icon(&hash).await.expect("read"), Some(icon.clone()));

    // A later look that found nothing replaces the record; the icon stays for feeds naming it.
    let failed = IconSource {
        source: source.clone(),
        hash: None,
        checked: found.checked + chrono::Duration::days(7),
        error: Some("https://icons.example/favicon.ico: the server answered 404".to_owned()),
    };
    store.save_icon_source(&failed, None).await.expect("save");
    assert_eq!(
        store.icon_source(&source).await.expect("read"),
        Some(failed)
    );
    assert_eq!(store.icon(&hash).await.expect("read"), Some(icon));

    // A feed's state carries its icon's hash, through the stores' caches too.
    let url = FeedUrl::parse(&format!("https://{prefix}icons.example/feed.xml")).expect("url");
    store
        .subscribe(
            &UserId::parse(&format!("{prefix}ann")).expect("user"),
            &url,
            10,
        )
        .await
        .expect("subscribe");
    let mut state = FeedState::new(url.clone(), now_millis());
    state.icon = Some(hash.clone());
    state.icon_checked = Some(now_millis());
    store.save_feed_state(&state).await.expect("save");
    let read = store
        .feed_states(std::slice::from_ref(&url))
        .await
        .expect("read");
    assert_eq!(
        read[0].as_ref().and_then(|s| s.icon.clone()),
        Some(hash.clone())
    );
    assert_eq!(
        read[0].as_ref().and_then(|s| s.icon_checked),
        state.icon_checked
    );
    let cached = store
        .cached_feeds(std::slice::from_ref(&url))
        .await
        .expect("read");
    assert_eq!(
        cached[0].as_ref().and_then(|feed| feed.state.icon.clone()),
        Some(hash)
    );
}

#[tokio::test]
async fn memory_store_keeps_icons() {
    icon_conformance(memory(), "").await;
}

#[tokio::test]
async fn sqlite_store_keeps_icons() {
    let scratch = ScratchDir::new("icons");
    let store = SqliteStore::open(&scratch.join("icons.db"))
        .await
        .expect("open");
    icon_conformance(Arc::new(FeedCache::new(store)), "").await;
}

#[tokio::test]
async fn a_sqlite_file_from_before_icons_keeps_its_feeds_and_gains_icons() {
    let scratch = ScratchDir::new("migrate-008");
    let path = scratch.join("rss.db");
    let url = FeedUrl::parse("https://example.com/feed.xml").expect("url");
    {
        // What the release before wrote: schema 6, one fetched feed.
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
            "INSERT INTO feeds (url, title, consecutive_errors, gone, next_refresh) \
             VALUES (?1, 'Old feed', 0, 0, 0)",
            [url.as_str()],
        )
        .expect("feed");
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.expect("opens"));
    let state = store
        .feed_states(std::slice::from_ref(&url))
        .await
        .expect("read")
        .remove(0)
        .expect("the feed lives on");
    assert_eq!(state.title.as_deref(), Some("Old feed"));
    assert_eq!(state.icon, None, "no icon until a refresh finds one");
    icon_conformance(store, "").await;
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_store_keeps_icons() {
    let _cassandra = cassandra_shared().await;
    let store = Arc::new(testing::cassandra_store().await);
    icon_conformance(store, &testing::unique_prefix()).await;
}
