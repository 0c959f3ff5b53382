//! The Fever API against the real services: every endpoint, marks seen in the reader's pages
//! and back, keys that name no app password (the account password's among them), one user's
//! numbers never reaching another's items, hostile input, and no middle tier.
//!
//! # Layout
//! - here: a Fever client ([`Fever`]), a reader with feeds and an app password ([`Reading`]),
//!   and the reader's river page read as a list of items ([`river`]).
//! - [`reads`], [`marks`], [`refusals`]: the protocol tests; [`stores`]: numbers and marks
//!   across a restart on SQLite and across two middle tiers on Cassandra.
//! - [`client`]: the real third-party client `freshrss-api` syncing.

#![allow(clippy::unwrap_used)]

mod client;
mod marks;
mod reads;
mod refusals;
mod stores;

use middletier::testing::FeedPublisher;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Browser, Service, System, http};

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
        Reading::as_user(publisher, system, "ann").await
    }

    /// As [`Reading::on`], for `user` (a shared Cassandra keyspace needs fresh names).
    async fn as_user(publisher: FeedPublisher, system: System, user: &str) -> Reading {
        let ann = Browser::signed_up(&system.edge, user).await;
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
        let fever = Fever::new(&system.edge, user, &password);
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
