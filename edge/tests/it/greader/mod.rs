//! The Google Reader API against the real registry, middle tier and edge: signing in with app
//! passwords (never the account password), tokens and cookies kept apart, every endpoint,
//! continuation through 5,000 items, reading state round trips with the reader's pages, one
//! user's items out of another's reach, hostile input, and no stale lists in an outage.
//! [`newsboat`] drives a real app against it.

#![allow(clippy::unwrap_used)]

mod newsboat;
pub(crate) mod support;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Browser, System, eventually, http, password_for};
use support::{App, Feeds, app_password, client_login, encode, has, revoke, titles};

const READ: &str = "user/-/state/com.google/read";
const STARRED: &str = "user/-/state/com.google/starred";
const READING_LIST: &str = "user/-/state/com.google/reading-list";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_sign_in_with_an_app_password_never_the_account_password() {
    let system = System::start_with_accounts(1).await;
    let edge = system.edge.url();
    Browser::signed_up(&system.edge, "ann").await;
    let (password, _) = app_password(&system, "ann", "phone").await;

    let (status, body) =
        client_login(&edge, "/accounts/ClientLogin", "ann", &password_for("ann")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("Error=BadAuthentication"), "{body}");
    // The right password under another name is no sign-in either.
    Browser::signed_up(&system.edge, "bob").await;
    let (status, _) = client_login(&edge, "/accounts/ClientLogin", "bob", &password).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Every server URL form apps are told, including newsboat's doubled slash.
    for path in [
        "/accounts/ClientLogin",
        "//accounts/ClientLogin",
        "/api/greader.php/accounts/ClientLogin",
        "/api/greader.php//accounts/ClientLogin",
    ] {
        let (status, body) = client_login(&edge, path, "Ann", &password).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let lines: Vec<&str> = body.lines().collect();
        assert!(lines[0].starts_with("SID="), "{body}");
        assert!(lines[2].starts_with("Auth="), "{body}");
    }
    let json: Value = http()
        .get(format!(
            "{edge}/accounts/ClientLogin?Email=ann&Passwd={password}&output=json"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(json["Auth"].as_str().is_some_and(|auth| !auth.is_empty()));

    let app = App::sign_in(&system.edge, "ann", &password).await;
    let token = app.action_token().await;
    assert_eq!(token.len(), 57, "{token}");
    let info = app.json("user-info").await;
    assert_eq!(info["userName"], "ann");
    for prefix in ["/api/greader.php", "/", "/api/greader.php/"] {
        let response = app
            .get(&format!("{prefix}/reader/api/0/user-info?output=json"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{prefix}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_user_mode_still_needs_an_app_password() {
    // Every visitor of the pages acts as `default` without signing in; apps do not.
    let feeds = Feeds::start().await;
    let system = System::start(1).await;
    let edge = system.edge.url();
    // The middle tier knows the single user by their feeds (there is no account).
    let browser = Browser::new(&system.edge);
    assert_eq!(
        browser.subscribe(&feeds.url(4, 1)).await.status,
        StatusCode::OK
    );
    let response = http()
        .get(format!("{edge}/reader/api/0/subscription/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = client_login(&edge, "/accounts/ClientLogin", "default", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (password, _) = app_password(&system, "default", "phone").await;
    let app = App::sign_in(&system.edge, "default", &password).await;
    let items = app.json("stream/contents").await;
    assert_eq!(
        titles(items["items"].as_array().unwrap()),
        ["Feed 4 story 0"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_tokens_and_browser_cookies_never_stand_in_for_each_other() {
    let system = System::start_with_accounts(1).await;
    let browser = Browser::signed_up(&system.edge, "ann").await;
    let (password, _) = app_password(&system, "ann", "phone").await;
    let app = App::sign_in(&system.edge, "ann", &password).await;

    // The browser's session token as an app's: refused as apps expect.
    let cookie_token = browser
        .cookie
        .as_deref()
        .unwrap()
        .trim_start_matches("rss_session=");
    for auth in [
        Some(format!("GoogleLogin auth={cookie_token}")),
        Some("GoogleLogin auth=nonsense".to_owned()),
        None,
    ] {
        let mut request = http().get(format!("{}/reader/api/0/subscription/list", app.base));
        if let Some(auth) = &auth {
            request = request.header("Authorization", auth);
        }
        // The cookie never counts on the API.
        let response = request
            .header("Cookie", browser.cookie.as_deref().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(
            response.headers().get("google-bad-token").unwrap(),
            "true",
            "{auth:?}"
        );
    }

    // The app's token as a cookie: the reader asks to sign in.
    let response = crate::support::no_redirects()
        .get(format!("{}/", app.base))
        .header("Cookie", format!("rss_session={}", app.auth))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/signin")
    );
    // And the app still works.
    assert_eq!(app.json("user-info").await["userName"], "ann");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_app_password_ends_its_tokens_promptly() {
    let system = System::start_with_accounts(1).await;
    Browser::signed_up(&system.edge, "ann").await;
    let (phone, phone_id) = app_password(&system, "ann", "phone").await;
    let (laptop, _) = app_password(&system, "ann", "laptop").await;
    let on_phone = App::sign_in(&system.edge, "ann", &phone).await;
    let on_laptop = App::sign_in(&system.edge, "ann", &laptop).await;
    assert_eq!(on_phone.json("user-info").await["userName"], "ann");

    revoke(&system, "ann", &phone_id).await;
    // Within the token cache's freshness (5 s by default).
    eventually("the revoked password's token is refused", || async {
        let response = on_phone
            .get("/reader/api/0/user-info")
            .send()
            .await
            .unwrap();
        response.status() == StatusCode::UNAUTHORIZED
            && response.headers().get("google-bad-token").is_some()
    })
    .await;
    let (status, _) = client_login(&on_phone.base, "/accounts/ClientLogin", "ann", &phone).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The other app keeps working.
    assert_eq!(on_laptop.json("user-info").await["userName"], "ann");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_app_sign_ins_are_limited_like_the_sign_in_page() {
    let system = System::start_with_accounts(1).await;
    let edge = system.edge.url();
    Browser::signed_up(&system.edge, "ann").await;
    let (password, _) = app_password(&system, "ann", "phone").await;
    // Five failures per name from an address by default.
    for _ in 0..5 {
        let (status, _) = client_login(&edge, "/accounts/ClientLogin", "ann", "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let response = http()
        .post(format!("{edge}/accounts/ClientLogin"))
        .form(&[("Email", "ann"), ("Passwd", password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_labels_and_counts_through_the_api_show_in_the_reader() {
    let feeds = Feeds::start().await;
    let system = System::start_with_accounts(1).await;
    let browser = Browser::signed_up(&system.edge, "ann").await;
    let (password, _) = app_password(&system, "ann", "phone").await;
    let app = App::sign_in(&system.edge, "ann", &password).await;
    let (one, two) = (feeds.url(1, 3), feeds.url(2, 2));

    let added: Value = {
        let (status, body) = app
            .write("subscription/quickadd", &[("quickadd", &one)])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    assert_eq!(added["numResults"], 1);
    assert_eq!(added["streamId"], format!("feed/{one}"));
    let (status, body) = app
        .write(
            "subscription/edit",
            &[
                ("ac", "subscribe"),
                ("s", &format!("feed/{two}")),
                ("a", "user/-/label/Tech"),
                ("t", "My second feed"),
            ],
        )
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "OK"));

    let list = app.json("subscription/list?output=json").await;
    let subscriptions = list["subscriptions"].as_array().unwrap();
    assert_eq!(subscriptions.len(), 2, "{list}");
    let second = subscriptions
        .iter()
        .find(|s| s["id"] == format!("feed/{two}"))
        .expect("the second feed");
    assert_eq!(second["title"], "My second feed");
    assert_eq!(second["url"], two);
    assert_eq!(second["categories"][0]["id"], "user/-/label/Tech");
    assert_eq!(second["categories"][0]["label"], "Tech");
    // Items carry the user's title for their feed too.
    let items = app
        .json(&format!("stream/contents/feed/{}?n=5", encode(&two)))
        .await;
    assert_eq!(
        items["items"][0]["origin"]["title"], "My second feed",
        "{items}"
    );
    assert_eq!(
        items["items"][0]["origin"]["streamId"],
        format!("feed/{two}")
    );
    let tags = app.json("tag/list?output=json").await;
    assert_eq!(tags["tags"][0]["id"], STARRED);
    assert!(
        tags["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == "user/-/label/Tech" && t["type"] == "folder"),
        "{tags}"
    );
    let counts = app.json("unread-count?output=json").await;
    assert_eq!(counts["max"], 5, "{counts}");
    let count = |id: &str| {
        counts["unreadcounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["count"].clone())
    };
    assert_eq!(count(READING_LIST), Some(5.into()));
    assert_eq!(count("user/-/label/Tech"), Some(2.into()));
    assert_eq!(count(&format!("feed/{one}")), Some(3.into()));

    // The reader shows what the app did.
    let manage = browser
        .get("/subscriptions")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(manage.contains("My second feed"), "{manage}");
    assert!(manage.contains("Tech"), "{manage}");

    // A label moves, renames, and goes; the feed stays.
    let (status, _) = app
        .write(
            "subscription/edit",
            &[
                ("ac", "edit"),
                ("s", &format!("feed/{one}")),
                ("a", "user/-/label/Tech"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .write(
            "rename-tag",
            &[("s", "user/-/label/Tech"), ("dest", "user/-/label/Science")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let label = app
        .json(&format!(
            "stream/contents/{}?n=10",
            encode("user/-/label/Science")
        ))
        .await;
    assert_eq!(label["items"].as_array().unwrap().len(), 5, "{label}");
    let (status, _) = app
        .write("disable-tag", &[("s", "user/-/label/Science")])
        .await;
    assert_eq!(status, StatusCode::OK);
    let tags = app.json("tag/list").await;
    assert_eq!(tags["tags"].as_array().unwrap().len(), 1, "{tags}");

    // A wrong T is refused as Google Reader did; none at all passes (FeedMe, Reeder).
    let response = app
        .post("/reader/api/0/subscription/edit")
        .form(&[
            ("ac", "unsubscribe"),
            ("s", &format!("feed/{one}")),
            ("T", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .post("/reader/api/0/subscription/edit")
        .form(&[("ac", "unsubscribe"), ("s", &format!("feed/{one}"))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let list = app.json("subscription/list").await;
    assert_eq!(list["subscriptions"].as_array().unwrap().len(), 1, "{list}");
}

/// The item of `items` titled `title`.
fn item<'a>(items: &'a [Value], title: &str) -> &'a Value {
    items
        .iter()
        .find(|item| item["title"] == title)
        .unwrap_or_else(|| panic!("no {title:?} in {:?}", titles(items)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_and_star_round_trip_between_the_api_and_the_reader() {
    let feeds = Feeds::start().await;
    let system = System::start_with_accounts(1).await;
    let browser = Browser::signed_up(&system.edge, "ann").await;
    let url = feeds.url(7, 4);
    assert_eq!(browser.subscribe(&url).await.status, StatusCode::OK);
    let (password, _) = app_password(&system, "ann", "phone").await;
    let app = App::sign_in(&system.edge, "ann", &password).await;

    let stream = app
        .json("stream/contents/user/-/state/com.google/reading-list?n=10")
        .await;
    let items = stream["items"].as_array().unwrap().clone();
    assert_eq!(
        titles(&items),
        (0..4)
            .map(|n| format!("Feed 7 story {n}"))
            .collect::<Vec<_>>()
    );
    let first = item(&items, "Feed 7 story 0");
    assert_eq!(first["origin"]["streamId"], format!("feed/{url}"));
    assert_eq!(first["alternate"][0]["href"], "https://site7.example/0");
    assert!(
        first["summary"]["content"]
            .as_str()
            .unwrap()
            .contains("Story 0 of feed 7")
    );
    assert!(has(first, "reading-list") && !has(first, "read"));

    // Marked through the app, in both id forms: the reader shows it.
    let long = first["id"].as_str().unwrap().to_owned();
    let ids = app
        .json(&format!("stream/items/ids?s={}&n=10", encode(READING_LIST)))
        .await;
    let decimal = ids["itemRefs"][1]["id"].as_str().unwrap().to_owned();
    assert!(decimal.parse::<i64>().is_ok(), "{ids}");
    let (status, body) = app
        .write("edit-tag", &[("i", &long), ("i", &decimal), ("a", READ)])
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "OK"));
    let (status, _) = app.write("edit-tag", &[("i", &long), ("a", STARRED)]).await;
    assert_eq!(status, StatusCode::OK);
    let unread_page = browser.get("/").send().await.unwrap().text().await.unwrap();
    assert!(
        !unread_page.contains(">Feed 7 story 0</a>"),
        "{unread_page}"
    );
    assert!(
        !unread_page.contains(">Feed 7 story 1</a>"),
        "{unread_page}"
    );
    assert!(unread_page.contains(">Feed 7 story 2</a>"), "{unread_page}");
    let starred_page = browser
        .get("/?filter=starred")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        starred_page.contains(">Feed 7 story 0</a>"),
        "{starred_page}"
    );
    assert!(
        !starred_page.contains(">Feed 7 story 1</a>"),
        "{starred_page}"
    );

    // Marked in the reader: the app sees it.
    let response = browser
        .post("/items/state")
        .form(&[
            ("feed", url.as_str()),
            ("item", "urn:feed7:story3"),
            ("read", "true"),
            ("back", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let unread = app
        .json(&format!(
            "stream/contents/{}?xt={}&n=10",
            encode(READING_LIST),
            encode(READ)
        ))
        .await;
    assert_eq!(
        titles(unread["items"].as_array().unwrap()),
        ["Feed 7 story 2"]
    );
    let starred = app
        .json("stream/contents/user/-/state/com.google/starred")
        .await;
    assert_eq!(
        titles(starred["items"].as_array().unwrap()),
        ["Feed 7 story 0"]
    );
    let ids = app
        .json(&format!(
            "stream/items/ids?s={}&it={}",
            encode(READING_LIST),
            encode(STARRED)
        ))
        .await;
    assert_eq!(ids["itemRefs"].as_array().unwrap().len(), 1, "{ids}");

    // Unread again and unstarred through the app.
    let (status, _) = app
        .write("edit-tag", &[("i", &long), ("r", READ), ("r", STARRED)])
        .await;
    assert_eq!(status, StatusCode::OK);
    let unread_page = browser.get("/").send().await.unwrap().text().await.unwrap();
    assert!(unread_page.contains(">Feed 7 story 0</a>"), "{unread_page}");

    // Mark all as read up to a time: the oldest item (published earliest) only.
    let items = app
        .json(&format!("stream/contents/feed/{}?n=10&r=o", encode(&url)))
        .await;
    let oldest = &items["items"][0];
    assert_eq!(oldest["title"], "Feed 7 story 3");
    let ts = oldest["timestampUsec"].as_str().unwrap().to_owned();
    let (status, _) = app
        .write(
            "mark-all-as-read",
            &[("s", &format!("feed/{url}")), ("ts", &ts)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.write("mark-all-as-read", &[("s", READING_LIST)]).await;
    assert_eq!(status, StatusCode::OK);
    let counts = app.json("unread-count").await;
    assert_eq!(counts["max"], 0, "{counts}");
    let unread_page = browser.get("/").send().await.unwrap().text().await.unwrap();
    assert!(!unread_page.contains(">Feed 7 story"), "{unread_page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuation_walks_5000_items_once_each_in_order() {
    let feeds = Feeds::start().await;
    let system = System::start_with_accounts(1).await;
    Browser::signed_up(&system.edge, "ann").await;
    let (password, _) = app_password(&system, "ann", "phone").await;
    let app = App::sign_in(&system.edge, "ann", &password).await;
    for feed in 0..50 {
        let (status, body) = app
            .write(
                "subscription/quickadd",
                &[("quickadd", &feeds.url(feed, 100))],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("\"numResults\":1"), "{body}");
    }
    eventually("every item is in", || async {
        app.json("unread-count").await["max"] == 5000
    })
    .await;

    let (items, pages) = app.walk(READING_LIST, "n=1000").await;
    assert_eq!(items.len(), 5000);
    assert!(pages >= 5, "{pages} pages");
    let mut ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    let times: Vec<i64> = items
        .iter()
        .map(|i| i["timestampUsec"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5000, "each item once");

    let (oldest_first, _) = app.walk(READING_LIST, "n=700&r=o").await;
    assert_eq!(oldest_first.len(), 5000);
    assert_eq!(oldest_first[0]["title"], "Feed 49 story 99");

    // All ids at once, then a thousand of them read in one call.
    let refs = app
        .json(&format!(
            "stream/items/ids?s={}&n=10000",
            encode(READING_LIST)
        ))
        .await;
    let refs: Vec<String> = refs["itemRefs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(refs.len(), 5000);
    let mut form: Vec<(&str, &str)> = refs[..1000].iter().map(|id| ("i", id.as_str())).collect();
    form.push(("a", READ));
    let (status, body) = app.write("edit-tag", &form).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "OK"));
    assert_eq!(app.json("unread-count").await["max"], 4000);
    let (unread, _) = app
        .walk(READING_LIST, &format!("n=1000&xt={}", encode(READ)))
        .await;
    assert_eq!(unread.len(), 4000);

    // Contents of many ids in one POST.
    let body: String = refs[..250]
        .iter()
        .map(|id| format!("i={id}"))
        .collect::<Vec<_>>()
        .join("&");
    let contents: Value = app
        .post("/reader/api/0/stream/items/contents")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(contents["items"].as_array().unwrap().len(), 250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_items_are_never_reachable_by_id() {
    let feeds = Feeds::start().await;
    let system = System::start_with_accounts(1).await;
    let ann_browser = Browser::signed_up(&system.edge, "ann").await;
    Browser::signed_up(&system.edge, "bob").await;
    let anns_feed = feeds.url(3, 3);
    assert_eq!(
        ann_browser.subscribe(&anns_feed).await.status,
        StatusCode::OK
    );
    let (anns, _) = app_password(&system, "ann", "phone").await;
    let (bobs, _) = app_password(&system, "bob", "phone").await;
    let ann = App::sign_in(&system.edge, "ann", &anns).await;
    let bob = App::sign_in(&system.edge, "bob", &bobs).await;
    let items = ann.json("stream/contents?n=10").await;
    let ids: Vec<String> = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);

    let form: String = ids
        .iter()
        .map(|id| format!("i={}", encode(id)))
        .collect::<Vec<_>>()
        .join("&");
    let contents: Value = bob
        .post("/reader/api/0/stream/items/contents")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(contents["items"], Value::Array(Vec::new()));
    let mut marks: Vec<(&str, &str)> = ids.iter().map(|id| ("i", id.as_str())).collect();
    marks.extend([("a", READ), ("a", STARRED)]);
    let (status, _) = bob.write("edit-tag", &marks).await;
    assert_eq!(status, StatusCode::OK);
    // Ann's items are untouched.
    let counts = ann.json("unread-count").await;
    assert_eq!(counts["max"], 3);
    let starred = ann
        .json("stream/contents/user/-/state/com.google/starred")
        .await;
    assert_eq!(starred["items"], Value::Array(Vec::new()));

    // Ann's streams, by her name or her feed's URL, give Bob nothing of hers.
    let response = bob
        .get(&format!(
            "/reader/api/0/stream/contents/{}",
            encode("user/ann/state/com.google/reading-list")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = bob
        .get(&format!(
            "/reader/api/0/stream/contents/feed/{}",
            encode(&anns_feed)
        ))
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    assert!(!body.contains("Feed 3 story"), "{body}");
    let (status, _) = bob
        .write("mark-all-as-read", &[("s", &format!("feed/{anns_feed}"))])
        .await;
    assert!(
        status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
        "{status}"
    );
    assert_eq!(ann.json("unread-count").await["max"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_a_clear_refusal() {
    let system = System::start_with_accounts(1).await;
    Browser::signed_up(&system.edge, "ann").await;
    let (password, _) = app_password(&system, "ann", "phone").await;
    let app = App::sign_in(&system.edge, "ann", &password).await;

    let oversized = format!("i={}", "1".repeat(2 * 1024 * 1024));
    let response = app
        .post("/reader/api/0/edit-tag")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(oversized)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let many: String = (0..10_001).map(|n| format!("i={n}&")).collect::<String>() + "a=" + READ;
    for (path, body, expected) in [
        ("edit-tag", many.as_str(), "too many"),
        (
            "edit-tag",
            "i=not-an-id&a=user/-/state/com.google/read",
            "not an item id",
        ),
        (
            "edit-tag",
            "i=tag:google.com,2005:reader/item/zz&a=x",
            "not an item id",
        ),
        (
            "edit-tag",
            "i=1&a=user/-/label/Later",
            "labels on single items",
        ),
        (
            "mark-all-as-read",
            "s=user/-/state/com.google/starred",
            "reading list",
        ),
        (
            "mark-all-as-read",
            "s=user/-/state/com.google/reading-list&ts=soon",
            "ts=",
        ),
        (
            "subscription/edit",
            "ac=explode&s=feed/https://a.example/",
            "ac=",
        ),
        (
            "subscription/edit",
            "ac=subscribe&s=user/-/label/x",
            "not a feed stream",
        ),
        ("rename-tag", "s=feed/x&dest=user/-/label/y", "not a label"),
    ] {
        let response = app
            .post(&format!("/reader/api/0/{path}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {text}");
        assert!(text.contains(expected), "{path}: {text}");
    }
    let long = "a".repeat(5000);
    for query in [
        format!("stream/contents/{}", encode("splice/x")),
        "stream/contents?n=many".to_owned(),
        format!("stream/contents?xt={}", encode("user/-/label/x")),
        format!("stream/contents?c={long}"),
        "stream/items/ids".to_owned(),
    ] {
        let response = app
            .get(&format!("/reader/api/0/{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    // n is clamped, not refused.
    let page = app.json("stream/contents?n=1000000").await;
    assert_eq!(page["items"], Value::Array(Vec::new()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_middle_tier_apps_get_an_error_to_retry_never_an_old_list() {
    let feeds = Feeds::start().await;
    let mut system = System::start_with_accounts(1).await;
    let browser = Browser::signed_up(&system.edge, "ann").await;
    assert_eq!(
        browser.subscribe(&feeds.url(5, 2)).await.status,
        StatusCode::OK
    );
    let (password, _) = app_password(&system, "ann", "phone").await;
    let app = App::sign_in(&system.edge, "ann", &password).await;
    let items = app.json("stream/contents?n=10").await;
    assert_eq!(items["items"].as_array().unwrap().len(), 2);

    system.middletiers.pop().unwrap().kill().await;
    for path in [
        "stream/contents?n=10",
        "stream/items/ids?s=user/-/state/com.google/reading-list",
        "subscription/list",
        "unread-count",
        "tag/list",
    ] {
        let response = app
            .get(&format!("/reader/api/0/{path}"))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert!(!body.contains("Feed 5 story"), "{path}: {body}");
    }
    // A write is refused too, never acknowledged and lost.
    let response = app
        .post("/reader/api/0/edit-tag")
        .form(&[("i", "1"), ("a", READ)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn on_cassandra_ids_and_marks_are_the_same_through_every_middle_tier() {
    use std::sync::Arc;
    use std::time::Duration;

    use middletier::store::Store;
    use middletier::testing::{cassandra_store, unique_prefix};
    use middletier_api::AppItemsQuery;

    let feeds = Feeds::start().await;
    // Two middle tiers, each with its own session: they share only what is in Cassandra.
    let first: Arc<dyn Store> = Arc::new(cassandra_store().await);
    let second: Arc<dyn Store> = Arc::new(cassandra_store().await);
    let system = System::start_tuned(
        vec![first, second],
        |_| {},
        |edge| edge.accounts.single_user = false,
    )
    .await;
    let name = format!("{}ann", unique_prefix());
    let browser = Browser::signed_up(&system.edge, &name).await;
    let url = format!("{}?run={}", feeds.url(8, 3), unique_prefix());
    assert_eq!(browser.subscribe(&url).await.status, StatusCode::OK);
    let (password, _) = app_password(&system, &name, "phone").await;
    let app = App::sign_in(&system.edge, &name, &password).await;

    let page = app.json("stream/contents?n=10").await;
    let items = page["items"].as_array().unwrap().clone();
    assert_eq!(
        titles(&items),
        ["Feed 8 story 0", "Feed 8 story 1", "Feed 8 story 2"]
    );
    let long = items[0]["id"].as_str().unwrap().to_owned();
    let refs = app
        .json(&format!("stream/items/ids?s={}", encode(READING_LIST)))
        .await;
    let decimal = refs["itemRefs"][1]["id"].as_str().unwrap().to_owned();
    let (status, _) = app.write("edit-tag", &[("i", &long), ("a", READ)]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .write("edit-tag", &[("i", &decimal), ("a", STARRED)])
        .await;
    assert_eq!(status, StatusCode::OK);

    // Each middle tier reads the same numbers and the same marks from Cassandra.
    let client = crate::support::middletier_api(Duration::from_secs(10));
    for middletier in &system.middletiers {
        let base = url::Url::parse(&format!("{}/", middletier.url())).unwrap();
        let answer = client
            .app_items(
                &base,
                &name,
                &AppItemsQuery {
                    limit: Some(10),
                    ..AppItemsQuery::default()
                },
            )
            .await
            .unwrap();
        let states: Vec<(String, bool, bool)> = answer
            .items
            .iter()
            .map(|item| (format!("{:016x}", item.number), item.read, item.starred))
            .collect();
        let number = |id: &str| id.rsplit('/').next().unwrap().to_owned();
        let starred_hex = format!("{:016x}", decimal.parse::<i64>().unwrap());
        assert_eq!(
            states,
            [
                (number(&long), true, false),
                (starred_hex, false, true),
                (number(items[2]["id"].as_str().unwrap()), false, false),
            ],
            "middle tier on port {}",
            middletier.port
        );
    }
    assert_eq!(app.json("unread-count").await["max"], 2);
}
