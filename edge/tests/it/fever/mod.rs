//! The Fever API against the real services: every endpoint, marks seen in the reader's pages
//! and back, keys that name no app password (the account password's among them), one user's
//! numbers never reaching another's items, hostile input, and no middle tier. [`client`]
//! drives a real third-party Fever client.

#![allow(clippy::unwrap_used)]

mod client;

use std::collections::BTreeSet;

use middletier::testing::FeedPublisher;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Browser, Service, System, eventually, http, password_for};

/// A Fever client as apps are: a key from the user name and an app password, sent in the form
/// of a POST to `/api/fever.php?api&...`.
pub struct Fever {
    http: reqwest::Client,
    endpoint: String,
    key: String,
}

impl Fever {
    pub fn new(edge: &Service, user: &str, password: &str) -> Fever {
        Fever::with_key(edge, edge::apps::secrets::fever_key(user, password))
    }

    pub fn with_key(edge: &Service, key: String) -> Fever {
        Fever {
            http: http(),
            endpoint: format!("{}/api/fever.php", edge.url()),
            key,
        }
    }

    /// `?api&<flags>` with `api_key` and `form` posted.
    pub async fn call(&self, flags: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut fields = vec![("api_key", self.key.as_str())];
        fields.extend_from_slice(form);
        let response = self
            .http
            .post(format!("{}?api&{flags}", self.endpoint))
            .form(&fields)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, body)
    }

    /// A call that must succeed: its answer.
    pub async fn ok(&self, flags: &str, form: &[(&str, &str)]) -> Value {
        let (status, body) = self.call(flags, form).await;
        assert_eq!(status, StatusCode::OK, "{flags}: {body}");
        assert_eq!(body["auth"], json!(1), "{flags}: {body}");
        assert_eq!(body["api_version"], json!(3), "{flags}: {body}");
        body
    }

    /// An id list (`unread_item_ids`, `saved_item_ids`) as numbers.
    pub async fn ids(&self, list: &str) -> Vec<u64> {
        let body = self.ok(list, &[]).await;
        split_ids(&body[list])
    }

    pub async fn mark(&self, mark: &str, as_: &str, id: &str) -> Value {
        self.ok("", &[("mark", mark), ("as", as_), ("id", id)])
            .await
    }
}

/// `"1,2,3"` as numbers.
pub fn split_ids(list: &Value) -> Vec<u64> {
    let text = list
        .as_str()
        .unwrap_or_else(|| panic!("an id list: {list}"));
    text.split(',')
        .filter(|id| !id.is_empty())
        .map(|id| id.parse().unwrap())
        .collect()
}

/// Makes an app password on the Apps page, as its owner would, and reads it off the answer.
pub async fn create_app_password(browser: &Browser, name: &str) -> String {
    let response = browser
        .post("/settings/app-passwords")
        .form(&[("name", name)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    shown_password(&html).unwrap_or_else(|| panic!("no password shown: {html}"))
}

/// The app password a page shows, if any.
pub fn shown_password(html: &str) -> Option<String> {
    let start = html.find(r#"id="new-app-password">"#)? + r#"id="new-app-password">"#.len();
    let end = start + html[start..].find("</code>")?;
    Some(html[start..end].to_owned())
}

/// One item of the reader's river page, as the page shows it.
#[derive(Debug, Clone)]
pub struct RiverItem {
    pub title: String,
    pub read: bool,
    pub starred: bool,
    pub feed: String,
    pub item: String,
}

/// The items of the river page at `path` (e.g. `/?filter=all`).
pub async fn river(browser: &Browser, path: &str) -> Vec<RiverItem> {
    let response = browser.get(path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    html.split(r#"<article class="item"#)
        .skip(1)
        .map(|article| {
            let between = |from: &str, to: &str| {
                let start = article.find(from).unwrap() + from.len();
                let end = start + article[start..].find(to).unwrap();
                unescape(&article[start..end])
            };
            let heading = between(r#"class="item-title""#, "</h2>");
            RiverItem {
                title: strip_tags(heading.split_once('>').unwrap().1),
                read: article.starts_with(" item-read"),
                starred: article.contains(r#"<span class="state-starred">"#),
                feed: between(r#"name="feed" value=""#, "\""),
                item: between(r#"name="item" value=""#, "\""),
            }
        })
        .collect()
}

/// Titles of the river page at `path`, sorted.
pub async fn titles(browser: &Browser, path: &str) -> Vec<String> {
    let mut titles: Vec<String> = river(browser, path)
        .await
        .into_iter()
        .map(|item| item.title)
        .collect();
    titles.sort();
    titles
}

fn strip_tags(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.trim().to_owned()
}

fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Marks an item read or starred through the reader's own form.
pub async fn mark_in_reader(browser: &Browser, item: &RiverItem, field: &str, value: bool) {
    let value = value.to_string();
    let response = browser
        .post("/items/state")
        .form(&[
            ("feed", item.feed.as_str()),
            ("item", item.item.as_str()),
            (field, value.as_str()),
            ("back", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn set_category(browser: &Browser, url: &str, category: &str) {
    let response = browser
        .post("/subscriptions/category")
        .form(&[("url", url), ("category", category)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// A system with accounts, and ann subscribed to the RSS feed (category "News", two items)
/// and the Atom feed (no category, one item), with an app password.
struct Reading {
    publisher: FeedPublisher,
    system: System,
    ann: Browser,
    fever: Fever,
}

impl Reading {
    async fn start() -> Reading {
        let publisher = FeedPublisher::start().await;
        let system = System::start_with_accounts(1).await;
        Reading::on(publisher, system).await
    }

    async fn on(publisher: FeedPublisher, system: System) -> Reading {
        let ann = Browser::signed_up(&system.edge, "ann").await;
        assert_eq!(
            ann.subscribe(&publisher.url("/rss.xml")).await.status,
            StatusCode::OK
        );
        assert_eq!(
            ann.subscribe(&publisher.url("/atom.xml")).await.status,
            StatusCode::OK
        );
        set_category(&ann, &publisher.url("/rss.xml"), "News").await;
        let password = create_app_password(&ann, "Fever app").await;
        let fever = Fever::new(&system.edge, "ann", &password);
        Reading {
            publisher,
            system,
            ann,
            fever,
        }
    }

    /// Fever's items, all of them (three), by title.
    async fn items(&self) -> Vec<(String, Value)> {
        let body = self.fever.ok("items", &[("since_id", "0")]).await;
        let items = body["items"].as_array().unwrap();
        assert_eq!(items.len(), 3, "{body}");
        items
            .iter()
            .map(|item| (item["title"].as_str().unwrap().to_owned(), item.clone()))
            .collect()
    }

    async fn number(&self, title: &str) -> u64 {
        let items = self.items().await;
        let (_, item) = items.iter().find(|(t, _)| t == title).unwrap();
        item["id"].as_u64().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fever_client_reads_groups_feeds_items_and_id_lists() {
    let reading = Reading::start().await;
    let (fever, publisher) = (&reading.fever, &reading.publisher);

    let hello = fever.ok("", &[]).await;
    assert!(
        hello["last_refreshed_on_time"].as_i64().unwrap() > 0,
        "{hello}"
    );

    // Feeds: both, with stable positive ids; groups: "News" holding the RSS feed.
    let body = fever.ok("feeds", &[]).await;
    let feeds = body["feeds"].as_array().unwrap();
    assert_eq!(feeds.len(), 2, "{body}");
    let feed = |url: &str| {
        feeds
            .iter()
            .find(|feed| feed["url"] == json!(url))
            .unwrap_or_else(|| panic!("no feed {url} in {body}"))
            .clone()
    };
    let rss = feed(&publisher.url("/rss.xml"));
    let atom = feed(&publisher.url("/atom.xml"));
    assert_eq!(rss["title"], json!("Loopback Daily"));
    assert_eq!(rss["site_url"], json!("http://publisher.test/"));
    assert_eq!(rss["is_spark"], json!(0));
    assert!(rss["last_updated_on_time"].as_i64().unwrap() > 0);
    let (rss_id, atom_id) = (rss["id"].as_u64().unwrap(), atom["id"].as_u64().unwrap());
    assert!(rss_id > 0 && atom_id > 0 && rss_id != atom_id);
    assert_eq!(
        fever.ok("feeds", &[]).await["feeds"],
        body["feeds"],
        "stable"
    );

    let body = fever.ok("groups", &[]).await;
    let group_id = body["groups"][0]["id"].as_u64().unwrap();
    assert_eq!(body["groups"], json!([{"id": group_id, "title": "News"}]));
    assert_eq!(
        body["feeds_groups"],
        json!([{"group_id": group_id, "feed_ids": rss_id.to_string()}])
    );

    let body = fever.ok("favicons&links", &[]).await;
    assert_eq!(body["favicons"], json!([]));
    assert_eq!(body["links"], json!([]));

    // Items: newest numbers first by default, with what apps show.
    let body = fever.ok("items", &[]).await;
    assert_eq!(body["total_items"], json!(3), "{body}");
    let items = body["items"].as_array().unwrap();
    let numbers: Vec<u64> = items.iter().map(|i| i["id"].as_u64().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[0] > w[1]), "{numbers:?}");
    let first = items
        .iter()
        .find(|item| item["title"] == json!("RSS first story"))
        .unwrap();
    assert_eq!(first["feed_id"], json!(rss_id));
    assert_eq!(first["url"], json!("http://publisher.test/rss/1"));
    assert_eq!(first["author"], json!(""));
    assert_eq!(first["is_read"], json!(0));
    assert_eq!(first["is_saved"], json!(0));
    // Published 10 June 2025, 04:00 UTC.
    assert_eq!(first["created_on_time"], json!(1_749_528_000));
    let html = first["html"].as_str().unwrap();
    assert!(
        html.contains("<b>world</b>") && !html.contains("script"),
        "{html}"
    );

    // since_id: ascending from there; max_id: descending below it; with_ids: exactly those.
    let mut ascending = numbers.clone();
    ascending.reverse();
    let since = |id: u64| async move {
        let body = fever.ok("items", &[("since_id", &id.to_string())]).await;
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(since(0).await, ascending);
    assert_eq!(since(ascending[0]).await, ascending[1..]);
    assert_eq!(since(ascending[2]).await, Vec::<u64>::new());
    let body = fever
        .ok("items", &[("max_id", &numbers[0].to_string())])
        .await;
    let below: Vec<u64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    assert_eq!(below, numbers[1..]);
    let wanted = format!("{},{}", numbers[2], numbers[0]);
    let body = fever.ok("items", &[("with_ids", &wanted)]).await;
    let found: BTreeSet<u64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    assert_eq!(found, BTreeSet::from([numbers[0], numbers[2]]));

    // One feed, one group.
    let body = fever
        .ok("items", &[("feed_ids", &atom_id.to_string())])
        .await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    assert_eq!(body["items"][0]["title"], json!("Atom story"));
    let body = fever
        .ok("items", &[("group_ids", &group_id.to_string())])
        .await;
    let mut in_group: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    in_group.sort_unstable();
    assert_eq!(in_group, ["RSS first story", "RSS second story"]);

    // Id lists: every item unread, none saved, ascending.
    assert_eq!(fever.ids("unread_item_ids").await, ascending);
    assert_eq!(fever.ids("saved_item_ids").await, Vec::<u64>::new());

    // Several flags at once, and the short path `/fever/` with the key in the query.
    let response = http()
        .get(format!(
            "{}/fever/?api&feeds&unread_item_ids&api_key={}",
            reading.system.edge.url(),
            fever.key
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("cache-control")
            .is_some_and(|value| value.to_str().unwrap().contains("no-store"))
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["auth"], json!(1));
    assert_eq!(body["feeds"].as_array().unwrap().len(), 2);
    assert_eq!(split_ids(&body["unread_item_ids"]), ascending);

    // Some apps post the form as multipart/form-data.
    let response = multipart(&reading, "unread_item_ids", &fever.key).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(split_ids(&body["unread_item_ids"]), ascending);
}

/// A multipart/form-data post of `api_key`, with `flags` in the query.
async fn multipart(reading: &Reading, flags: &str, key: &str) -> reqwest::Response {
    let boundary = "fever-form-boundary";
    http()
        .post(format!(
            "{}/api/fever.php?api&{flags}",
            reading.system.edge.url()
        ))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\n{key}\r\n--{boundary}--\r\n"
        ))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marks_from_fever_show_in_the_reader_and_the_readers_show_in_fever() {
    let reading = Reading::start().await;
    let (fever, ann) = (&reading.fever, &reading.ann);
    let first = reading.number("RSS first story").await;
    let second = reading.number("RSS second story").await;
    let atom = reading.number("Atom story").await;

    // Read in the app: the answer carries the new unread list, and the reader agrees.
    let answer = fever.mark("item", "read", &first.to_string()).await;
    let unread = split_ids(&answer["unread_item_ids"]);
    assert!(
        !unread.contains(&first) && unread.contains(&second),
        "{answer}"
    );
    assert_eq!(
        titles(ann, "/").await,
        ["Atom story", "RSS second story"],
        "the reader's unread river"
    );

    // Saved in the app: starred in the reader.
    let answer = fever.mark("item", "saved", &atom.to_string()).await;
    assert_eq!(split_ids(&answer["saved_item_ids"]), [atom]);
    assert_eq!(titles(ann, "/?filter=starred").await, ["Atom story"]);

    // Read and starred in the reader: the app sees it.
    let items = river(ann, "/?filter=all").await;
    let second_item = items
        .iter()
        .find(|item| item.title == "RSS second story")
        .unwrap();
    mark_in_reader(ann, second_item, "read", true).await;
    mark_in_reader(ann, second_item, "starred", true).await;
    assert_eq!(fever.ids("unread_item_ids").await, [atom]);
    let mut saved = vec![atom, second];
    saved.sort_unstable();
    assert_eq!(fever.ids("saved_item_ids").await, saved);
    let body = fever
        .ok("items", &[("with_ids", &second.to_string())])
        .await;
    assert_eq!(body["items"][0]["is_read"], json!(1));
    assert_eq!(body["items"][0]["is_saved"], json!(1));

    // Unread and unsaved in the app.
    fever.mark("item", "unread", &first.to_string()).await;
    fever.mark("item", "unsaved", &atom.to_string()).await;
    assert_eq!(titles(ann, "/").await, ["Atom story", "RSS first story"]);
    assert_eq!(titles(ann, "/?filter=starred").await, ["RSS second story"]);

    // A feed read up to a time: the Atom feed's one item is older than now.
    let feeds = fever.ok("feeds", &[]).await;
    let atom_feed = feeds["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|feed| feed["title"] == json!("Atom Weekly"))
        .unwrap()["id"]
        .to_string();
    let now = chrono::Utc::now().timestamp().to_string();
    let answer = fever
        .ok(
            "",
            &[
                ("mark", "feed"),
                ("as", "read"),
                ("id", &atom_feed),
                ("before", &now),
            ],
        )
        .await;
    assert_eq!(split_ids(&answer["unread_item_ids"]), [first]);
    assert_eq!(titles(ann, "/").await, ["RSS first story"]);

    // A feed read before its items were published changes nothing.
    let group = fever.ok("groups", &[]).await["groups"][0]["id"].to_string();
    fever
        .ok(
            "",
            &[
                ("mark", "group"),
                ("as", "read"),
                ("id", &group),
                ("before", "1000000000"),
            ],
        )
        .await;
    assert_eq!(fever.ids("unread_item_ids").await, [first]);
    // The group up to now.
    fever
        .ok(
            "",
            &[
                ("mark", "group"),
                ("as", "read"),
                ("id", &group),
                ("before", &now),
            ],
        )
        .await;
    assert_eq!(fever.ids("unread_item_ids").await, Vec::<u64>::new());
    assert_eq!(titles(ann, "/").await, Vec::<String>::new());

    // Group 0 is everything.
    for item in river(ann, "/?filter=all").await {
        mark_in_reader(ann, &item, "read", false).await;
    }
    assert_eq!(fever.ids("unread_item_ids").await.len(), 3);
    fever.mark("group", "read", "0").await;
    assert_eq!(fever.ids("unread_item_ids").await, Vec::<u64>::new());
    assert!(
        river(ann, "/?filter=all")
            .await
            .iter()
            .all(|item| item.read)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_app_passwords_key_signs_in_and_revoking_it_signs_the_app_out() {
    let reading = Reading::start().await;
    let edge = &reading.system.edge;
    let refused = |body: &Value| {
        assert_eq!(body, &json!({"api_version": 3, "auth": 0}));
    };

    // The account password's key, a made-up key, junk, and none at all.
    let account = Fever::new(edge, "ann", &password_for("ann"));
    let (status, body) = account.call("items&unread_item_ids", &[]).await;
    assert_eq!(status, StatusCode::OK, "Fever says no with 200");
    refused(&body);
    for key in [
        "0123456789abcdef0123456789abcdef".to_owned(),
        "not a key".to_owned(),
        "f".repeat(100_000 / 8),
        String::new(),
    ] {
        let (status, body) = Fever::with_key(edge, key).call("feeds", &[]).await;
        assert_eq!(status, StatusCode::OK);
        refused(&body);
    }

    // The key in capitals, as some apps send it, is the same key.
    let upper = Fever::with_key(edge, reading.fever.key.to_uppercase());
    upper.ok("", &[]).await;

    // The session cookie of the signed-in reader is no key.
    let response = reading.ann.post("/fever/?api&feeds").send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    refused(&body);

    // The Apps page lists the password as used; revoking it signs the app out at once.
    let page = reading
        .ann
        .get("/settings/app-passwords")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Fever app"), "{page}");
    assert!(!page.contains("<td>never</td>"), "used by now: {page}");
    let id = page
        .split(r#"name="id" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let response = reading
        .ann
        .post("/settings/app-passwords/revoke")
        .form(&[("id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.text().await.unwrap().contains("Fever app"));
    let (status, body) = reading.fever.call("items", &[]).await;
    assert_eq!(status, StatusCode::OK);
    refused(&body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fever_keys_count_in_the_sign_in_limits() {
    let store: std::sync::Arc<dyn middletier::store::Store> =
        std::sync::Arc::new(middletier::store::MemoryStore::new());
    let system = System::start_tuned(
        vec![store],
        |_| {},
        |edge| {
            edge.accounts.single_user = false;
            edge.accounts.max_failures_per_name = 3;
            edge.accounts.max_failures_per_ip = 5;
        },
    )
    .await;
    let reading = Reading::on(FeedPublisher::start().await, system).await;
    let edge = &reading.system.edge;
    // Five wrong keys from this address.
    for n in 0..5 {
        let key = format!("{n:032x}");
        let (status, body) = Fever::with_key(edge, key).call("", &[]).await;
        assert_eq!((status, body["auth"].clone()), (StatusCode::OK, json!(0)));
    }
    // Now even the right key is refused without being checked, saying how long to wait.
    let response = http()
        .post(format!("{}/api/fever.php?api", edge.url()))
        .form(&[("api_key", reading.fever.key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&wait), "Retry-After: {wait}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["auth"], json!(0));
    // And the address is out of sign-in attempts at the sign-in page too.
    let response = crate::support::no_redirects()
        .post(format!("{}/signin", edge.url()))
        .header("Origin", edge.url())
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("name", "ann"), ("password", password_for("ann").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_numbers_reach_nothing_of_theirs() {
    let reading = Reading::start().await;
    let edge = &reading.system.edge;
    let bob = Browser::signed_up(edge, "bob").await;
    let bobs = Fever::new(edge, "bob", &create_app_password(&bob, "phone").await);
    let anns: Vec<u64> = reading.fever.ids("unread_item_ids").await;
    assert_eq!(anns.len(), 3);
    let list = anns
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");

    // Bob asks for ann's items by number, marks them, and marks her feeds and group.
    let body = bobs.ok("items", &[("with_ids", &list)]).await;
    assert_eq!(body["items"], json!([]), "{body}");
    assert_eq!(body["total_items"], json!(0));
    for number in &anns {
        let answer = bobs.mark("item", "read", &number.to_string()).await;
        assert_eq!(answer["unread_item_ids"], json!(""));
        bobs.mark("item", "saved", &number.to_string()).await;
    }
    let anns_feeds = reading.fever.ok("feeds&groups", &[]).await;
    for feed in anns_feeds["feeds"].as_array().unwrap() {
        bobs.mark("feed", "read", &feed["id"].to_string()).await;
    }
    bobs.mark("group", "read", &anns_feeds["groups"][0]["id"].to_string())
        .await;
    let body = bobs.ok("feeds&groups&items&saved_item_ids", &[]).await;
    assert_eq!(body["feeds"], json!([]));
    assert_eq!(body["groups"], json!([]));
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["saved_item_ids"], json!(""));

    // Ann's items are as they were.
    assert_eq!(reading.fever.ids("unread_item_ids").await, anns);
    assert_eq!(reading.fever.ids("saved_item_ids").await, Vec::<u64>::new());
    assert_eq!(titles(&reading.ann, "/").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_fever_input_is_refused_with_a_clear_error() {
    let reading = Reading::start().await;
    let fever = &reading.fever;
    let refused = |(status, body): (StatusCode, Value), expected: StatusCode, words: &str| {
        assert_eq!(status, expected, "{body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(words), "{words:?} in {body}");
    };
    let bad = StatusCode::BAD_REQUEST;
    let many: String = (0..51).map(|n| n.to_string()).collect::<Vec<_>>().join(",");
    refused(
        fever.call("items", &[("with_ids", &many)]).await,
        bad,
        "at most 50",
    );
    for (field, value) in [
        ("with_ids", "1,two"),
        ("with_ids", "-1"),
        ("since_id", "-5"),
        ("max_id", "1e9"),
        ("since_id", "99999999999999999999999"),
    ] {
        let (status, body) = fever.call("items", &[(field, value)]).await;
        assert_eq!(status, bad, "{field}={value}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    refused(
        fever.call("items", &[("feed_ids", "1,2")]).await,
        bad,
        "one id only",
    );
    for (mark, as_, id, words) in [
        ("item", "read", "abc", "item id"),
        ("item", "deleted", "1", "as must be"),
        ("feed", "saved", "1", "only be marked read"),
        ("everything", "read", "1", "mark must be"),
        ("group", "read", "x", "id must be"),
    ] {
        refused(
            fever
                .call("", &[("mark", mark), ("as", as_), ("id", id)])
                .await,
            bad,
            words,
        );
    }
    refused(
        fever.call("", &[("mark", "item"), ("as", "read")]).await,
        bad,
        "needs id",
    );
    refused(
        fever
            .call(
                "",
                &[
                    ("mark", "feed"),
                    ("as", "read"),
                    ("id", "1"),
                    ("before", "soon"),
                ],
            )
            .await,
        bad,
        "before",
    );

    // A form past 16 KiB, too many parameters, a body that is no form.
    let huge = "x".repeat(20 * 1024);
    refused(
        fever.call("", &[("padding", &huge)]).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than",
    );
    let flags: String = (0..70).map(|n| format!("f{n}&")).collect();
    refused(fever.call(&flags, &[]).await, bad, "at most 64");
    let response = http()
        .post(format!("{}/api/fever.php?api", reading.system.edge.url()))
        .header("content-type", "application/json")
        .body(format!(r#"{{"api_key":"{}"}}"#, fever.key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), bad);
    // A multipart form that never ends.
    let response = http()
        .post(format!("{}/api/fever.php?api", reading.system.edge.url()))
        .header("content-type", "multipart/form-data; boundary=b")
        .body("--b\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\nabc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), bad);

    // None of it changed anything.
    assert_eq!(fever.ids("unread_item_ids").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_middle_tier_fever_calls_fail_for_the_app_to_retry_never_with_old_lists() {
    let mut reading = Reading::start().await;
    reading.fever.ok("items&unread_item_ids", &[]).await;
    // The reader's pages have a stale copy by now; the API must not use it.
    reading.ann.home().await;
    let middletier = reading.system.middletiers.pop().unwrap();
    middletier.kill().await;
    eventually("Fever calls fail", || async {
        reading.fever.call("items", &[]).await.0 == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    for flags in ["items", "unread_item_ids", "feeds&groups", "saved_item_ids"] {
        let (status, body) = reading.fever.call(flags, &[]).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{flags}: {body}");
        assert!(body["error"].is_string(), "{body}");
        assert!(body.get("auth").is_none(), "not a wrong password: {body}");
        assert!(body.get("items").is_none() && body.get("unread_item_ids").is_none());
    }
    let (status, _) = reading
        .fever
        .call("", &[("mark", "group"), ("as", "read"), ("id", "0")])
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

/// An RSS feed of `n` items, each with its own guid.
fn feed_of(n: usize) -> String {
    let items: String = (0..n)
        .map(|i| {
            format!(
                "<item><title>Story {i}</title><guid>story-{i}</guid>\
                 <link>http://publisher.test/story/{i}</link><description>Story {i}</description></item>"
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Many</title><link>http://publisher.test/</link><description>Many</description>{items}</channel></rss>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fever_client_pages_through_every_item_by_since_id_and_by_max_id() {
    let publisher = FeedPublisher::start().await;
    publisher.set_switch(200, &feed_of(120));
    let system = System::start_with_accounts(1).await;
    let ann = Browser::signed_up(&system.edge, "ann").await;
    assert_eq!(
        ann.subscribe(&publisher.url("/switch.xml")).await.status,
        StatusCode::OK
    );
    let fever = Fever::new(
        &system.edge,
        "ann",
        &create_app_password(&ann, "phone").await,
    );
    let page_ids = |body: &Value| -> Vec<u64> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_u64().unwrap())
            .collect()
    };

    // As apps sync: since_id from 0, 50 at a time, until a short page.
    let (mut forward, mut since): (Vec<u64>, u64) = (Vec::new(), 0);
    loop {
        let body = fever.ok("items", &[("since_id", &since.to_string())]).await;
        assert_eq!(body["total_items"], json!(120));
        let page = page_ids(&body);
        assert!(page.len() <= 50);
        forward.extend(&page);
        if page.len() < 50 {
            break;
        }
        since = *page.last().unwrap();
    }
    assert_eq!(forward.len(), 120);
    assert!(
        forward.windows(2).all(|w| w[0] < w[1]),
        "ascending, no repeats"
    );

    // And backwards from the newest with max_id.
    let mut backward = page_ids(&fever.ok("items", &[]).await);
    loop {
        let below = backward.last().unwrap().to_string();
        let page = page_ids(&fever.ok("items", &[("max_id", &below)]).await);
        if page.is_empty() {
            break;
        }
        backward.extend(page);
    }
    backward.reverse();
    assert_eq!(backward, forward);
    assert_eq!(fever.ids("unread_item_ids").await, forward);
}
