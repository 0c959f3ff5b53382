//! What the Google Reader API tests share: an app's HTTP client (ClientLogin, then the
//! `GoogleLogin` header), app passwords made through the middle tier's API (as the settings
//! page does), and a publisher of generated feeds of any size on loopback.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::routing::get;
use chrono::{TimeDelta, Utc};
use middletier_api::NewAppPassword;
use platform::lifecycle::Shutdown;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Service, System, http, middletier_api};

/// An app password for `user`, stored as the settings page stores one: `(password, id)`.
pub async fn app_password(system: &System, user: &str, name: &str) -> (String, String) {
    let password = platform::testing::mint_secret();
    let id = platform::testing::mint_secret()[..16].to_owned();
    let client = middletier_api(Duration::from_secs(5));
    let created = client
        .create_app_password(
            &middletier_base(system),
            user,
            &NewAppPassword {
                id: id.clone(),
                name: name.to_owned(),
                secret_hash: edge::apps::secrets::secret_hash(&password),
                // Unique per password; these tests do not speak Fever.
                fever_hash: edge::apps::secrets::fever_hash(&format!("fever:{password}")),
            },
        )
        .await
        .expect("the middle tier stores the app password");
    assert!(created, "app password for {user} refused");
    (password, id)
}

/// Revokes an app password through the middle tier's API, as the settings page does.
pub async fn revoke(system: &System, user: &str, id: &str) {
    middletier_api(Duration::from_secs(5))
        .revoke_app_password(&middletier_base(system), user, id)
        .await
        .expect("revoked");
}

pub fn middletier_base(system: &System) -> url::Url {
    url::Url::parse(&format!("{}/", system.middletiers[0].url())).expect("url")
}

/// The answer to a ClientLogin.
pub async fn client_login(
    base: &str,
    path: &str,
    user: &str,
    password: &str,
) -> (StatusCode, String) {
    let response = http()
        .post(format!("{base}{path}"))
        .form(&[("Email", user), ("Passwd", password)])
        .send()
        .await
        .expect("the edge answers");
    (response.status(), response.text().await.expect("a body"))
}

/// An app signed in through ClientLogin.
pub struct App {
    pub http: reqwest::Client,
    pub base: String,
    pub auth: String,
}

impl App {
    /// Signs in at `<edge>/accounts/ClientLogin` and keeps the `Auth=` token.
    pub async fn sign_in(edge: &Service, user: &str, password: &str) -> App {
        let base = edge.url();
        let (status, body) = client_login(&base, "/accounts/ClientLogin", user, password).await;
        assert_eq!(status, StatusCode::OK, "ClientLogin: {body}");
        let auth = body
            .lines()
            .find_map(|line| line.strip_prefix("Auth="))
            .expect("an Auth= line")
            .to_owned();
        App {
            http: http(),
            base,
            auth,
        }
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("GoogleLogin auth={}", self.auth))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("GoogleLogin auth={}", self.auth))
    }

    /// A GET under `/reader/api/0/` that must answer JSON.
    pub async fn json(&self, path: &str) -> Value {
        let response = self
            .get(&format!("/reader/api/0/{path}"))
            .send()
            .await
            .expect("the edge answers");
        let status = response.status();
        let body = response.text().await.expect("a body");
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }

    /// A form POST under `/reader/api/0/` (with this session's `T`): status and body.
    pub async fn write(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let token = self.action_token().await;
        let mut pairs: Vec<(&str, &str)> = form.to_vec();
        pairs.push(("T", &token));
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let response = self
            .post(&format!("/reader/api/0/{path}"))
            .header(
                header::CONTENT_TYPE.as_str(),
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .expect("the edge answers");
        (response.status(), response.text().await.expect("a body"))
    }

    pub async fn action_token(&self) -> String {
        let response = self
            .get("/reader/api/0/token")
            .send()
            .await
            .expect("the edge answers");
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.expect("a body").trim().to_owned()
    }

    /// Every item of a `stream/contents` walk (`query` without `c`), following continuations.
    pub async fn walk(&self, stream: &str, query: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut pages = 0;
        let mut continuation: Option<String> = None;
        loop {
            let c = continuation
                .as_deref()
                .map(|c| format!("&c={}", encode(c)))
                .unwrap_or_default();
            let page = self
                .json(&format!("stream/contents/{}?{query}{c}", encode(stream)))
                .await;
            pages += 1;
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["continuation"].as_str() {
                Some(next) => continuation = Some(next.to_owned()),
                None => return (items, pages),
            }
            assert!(pages < 1000, "continuations never end");
        }
    }
}

pub fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The titles of items (as an app shows them).
pub fn titles(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| item["title"].as_str().expect("a title").to_owned())
        .collect()
}

/// Whether an item carries a state category (`read`, `starred`).
pub fn has(item: &Value, state: &str) -> bool {
    item["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .any(|c| c.as_str() == Some(&format!("user/-/state/com.google/{state}")))
}

/// Feeds generated on request: `/feeds/<feed>/<items>.xml` has `<items>` items titled
/// `Feed <feed> story <n>`, one minute apart (feeds interleaved), newest first.
pub struct Feeds {
    base: String,
    shutdown: Shutdown,
}

impl Feeds {
    pub async fn start() -> Feeds {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let shutdown = Shutdown::new();
        let app = Router::new().route("/feeds/{feed}/{items}", get(feed));
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .expect("serves");
        });
        Feeds { base, shutdown }
    }

    /// The URL of feed number `feed`, with `items` items.
    pub fn url(&self, feed: usize, items: usize) -> String {
        format!("{}/feeds/{feed}/{items}.xml", self.base)
    }
}

impl Drop for Feeds {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn feed(Path((feed, items)): Path<(usize, String)>) -> impl axum::response::IntoResponse {
    let items: usize = items.trim_end_matches(".xml").parse().unwrap_or(0);
    // A fixed origin, so the items' times are the same at every fetch.
    let origin = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let mut xml = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Feed {feed}</title>\
         <link>https://site{feed}.example/</link><description>generated</description>"
    );
    for n in 0..items {
        let at = origin - TimeDelta::minutes(i64::try_from(n * 100 + feed).expect("small"));
        xml.push_str(&format!(
            "<item><guid>urn:feed{feed}:story{n}</guid><title>Feed {feed} story {n}</title>\
             <link>https://site{feed}.example/{n}</link>\
             <description>&lt;p&gt;Story {n} of feed {feed}&lt;/p&gt;</description>\
             <pubDate>{}</pubDate></item>",
            at.to_rfc2822()
        ));
    }
    xml.push_str("</channel></rss>");
    ([(header::CONTENT_TYPE, "application/rss+xml")], xml)
}
