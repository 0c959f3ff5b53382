//! Durability with real processes: `kill -9` the middle tier, or Cassandra itself, right after a
//! subscription was acknowledged, and the subscription is still there afterwards; on the
//! embedded store, everything a reader keeps survives `kill -9` of the middle tier.
//!
//! Killing Cassandra disturbs every other test using it, so the test that does holds the node
//! alone ([`cassandra_exclusive`]) while the others hold it shared.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use platform::testing::eventually;

use middletier::testing::{FeedPublisher, cassandra_settings, unique_prefix};
use middletier_api::{
    CategoryChange, ItemStateChange, MiddletierClient, NewAccount, NewSession, UserFeeds,
};
use reqwest::StatusCode;

use crate::support::{ScratchDir, cassandra_exclusive, cassandra_shared, http};

/// Which store a middle tier process runs on.
pub(crate) enum Backend {
    /// The test Cassandra (`cassandra_settings`).
    Cassandra,
    /// The test Cassandra node, in a keyspace of the test's own.
    CassandraKeyspace(String),
    /// The SQLite database at this path.
    Sqlite(PathBuf),
}

/// A middle tier running as its own OS process.
pub(crate) struct MiddletierProcess {
    child: Child,
    base: String,
}

impl Backend {
    /// The store settings of a `middletier` command (server or tool) on this backend.
    pub(crate) fn configure(&self, command: &mut Command) {
        let cassandra = cassandra_settings();
        let keyspace = match self {
            Self::Cassandra => &cassandra.keyspace,
            Self::CassandraKeyspace(keyspace) => keyspace,
            Self::Sqlite(path) => {
                command
                    .env("RSS_STORE__KIND", "sqlite")
                    .env("RSS_STORE__PATH", path);
                return;
            }
        };
        command
            .env("RSS_STORE__KIND", "cassandra")
            .env("RSS_CASSANDRA__NODES", &cassandra.nodes)
            .env("RSS_CASSANDRA__KEYSPACE", keyspace)
            .env("RSS_CASSANDRA__PROBE_INTERVAL", "200ms");
    }
}

impl MiddletierProcess {
    pub(crate) async fn start(port: u16, backend: &Backend) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_middletier"));
        backend.configure(&mut command);
        let child = command
            .env("RSS_SERVER__PORT", port.to_string())
            // Any free port: the default (port + 1) may be another test's by now.
            .env("RSS_ADMIN__PORT", "0")
            .env("RSS_FETCH__ALLOW_PRIVATE_NETWORKS", "true")
            // No registry in these tests: it keeps retrying in the background, harmlessly.
            .env("RSS_REGISTRY__URL", "http://127.0.0.1:9/eureka/v2/")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("middletier binary starts");
        let mut process = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        process.wait_until_healthy().await;
        process
    }

    /// Polls `/health` until it answers 200, failing at once, with the exit status, if the
    /// process ends first (a port taken meanwhile, a store it can't open).
    async fn wait_until_healthy(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                panic!(
                    "the middle tier at {} exited before it was healthy: {status}",
                    self.base
                );
            }
            let healthy = http()
                .get(format!("{}/health", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            if healthy {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out after 90s waiting until the middle tier at {} is healthy",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown hooks, no flushing.
    pub(crate) fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    async fn subscribe(&self, user: &str, url: &str) -> StatusCode {
        http()
            .post(format!("{}/middletier/rss/user/{user}", self.base))
            .query(&[("url", url)])
            .send()
            .await
            .expect("post")
            .status()
    }

    async fn subscribed_urls(&self, user: &str) -> Option<Vec<String>> {
        let response = http()
            .get(format!("{}/middletier/rss/user/{user}", self.base))
            .send()
            .await
            .ok()?;
        if response.status() != StatusCode::OK {
            return None;
        }
        let feeds: UserFeeds = response.json().await.ok()?;
        Some(feeds.subscriptions.into_iter().map(|s| s.url).collect())
    }
}

impl Drop for MiddletierProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn cassandra_script(command: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/cassandra/run.sh");
    let status = Command::new("bash")
        .arg(script)
        .arg(command)
        .status()
        .expect("run.sh runs");
    assert!(status.success(), "deploy/cassandra/run.sh {command} failed");
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn subscriptions_survive_kill_9_of_the_middletier() {
    let _cassandra = cassandra_shared().await;
    let port = free_port();
    let publisher = FeedPublisher::start().await;
    let user = format!("{}ann", unique_prefix());
    let feed = &publisher.url("/rss.xml");

    let first = MiddletierProcess::start(port, &Backend::Cassandra).await;
    assert_eq!(first.subscribe(&user, feed).await, StatusCode::CREATED);
    first.kill_9();

    let restarted = MiddletierProcess::start(port, &Backend::Cassandra).await;
    assert_eq!(
        restarted.subscribed_urls(&user).await,
        Some(vec![feed.clone()])
    );
}

#[tokio::test]
#[ignore = "needs the Cassandra of deploy/cassandra/run.sh, which it kills and restarts"]
async fn an_acknowledged_subscription_survives_kill_9_of_cassandra_and_the_middletier_reconnects() {
    let _cassandra = cassandra_exclusive().await;
    let mut middletier = MiddletierProcess::start(free_port(), &Backend::Cassandra).await;
    let publisher = FeedPublisher::start().await;
    let user = format!("{}bob", unique_prefix());
    let feed = &publisher.url("/atom.xml");
    assert_eq!(
        middletier.subscribe(&user, feed).await,
        StatusCode::CREATED,
        "acknowledged"
    );

    cassandra_script("kill");
    assert_eq!(
        middletier.subscribed_urls(&user).await,
        None,
        "no answer while Cassandra is dead"
    );
    cassandra_script("start");

    // The same middle-tier process, never restarted, serves it again by itself.
    eventually(
        "the subscription is served again",
        Duration::from_secs(90),
        || async { middletier.subscribed_urls(&user).await == Some(vec![feed.clone()]) },
    )
    .await;
    middletier.wait_until_healthy().await;
}

/// Every kind of write a reader makes, each acknowledged, then SIGKILL at once (no shutdown,
/// no checkpoint): the middle tier started again on the same file has every one of them.
#[tokio::test]
async fn everything_acknowledged_survives_kill_9_of_a_middletier_on_sqlite() {
    let scratch = ScratchDir::new("crash");
    let backend = Backend::Sqlite(scratch.join("data/rss.db"));
    let port = free_port();
    let base = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
    let client =
        MiddletierClient::new(Duration::from_secs(2), Duration::from_secs(10)).expect("client");
    let publisher = FeedPublisher::start().await;
    let feed = publisher.url("/rss.xml");
    let token_hash = "ab".repeat(32);
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();

    let first = MiddletierProcess::start(port, &backend).await;
    let account = NewAccount {
        user: "ann".to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
    };
    let created = client.create_account(&base, &account).await.expect("call");
    assert!(created.is_some(), "account created");
    let session = NewSession {
        token_hash: token_hash.clone(),
        user: "ann".to_owned(),
        expires,
        app_password: None,
    };
    client
        .create_session(&base, &session)
        .await
        .expect("session");
    client
        .subscribe(&base, "ann", &feed)
        .await
        .expect("subscribe");
    let category = CategoryChange {
        url: feed.clone(),
        category: Some("News".to_owned()),
    };
    client
        .set_category(&base, "ann", &category)
        .await
        .expect("category");
    let feeds = client.feeds(&base, "ann").await.expect("feeds");
    let items = &feeds.subscriptions[0].items;
    assert!(items.len() >= 2, "the publisher's feed has two stories");
    let (read_id, starred_id) = (items[0].id.clone(), items[1].id.clone());
    let mark = |item: &str, read, starred| ItemStateChange {
        feed: feed.clone(),
        item: item.to_owned(),
        read,
        starred,
    };
    client
        .set_item_state(&base, "ann", &mark(&read_id, Some(true), None))
        .await
        .expect("read");
    client
        .set_item_state(&base, "ann", &mark(&starred_id, None, Some(true)))
        .await
        .expect("star");
    first.kill_9();

    let _restarted = MiddletierProcess::start(port, &backend).await;
    let feeds = client.feeds(&base, "ann").await.expect("feeds");
    assert_eq!(feeds.subscriptions.len(), 1, "the subscription");
    let subscription = &feeds.subscriptions[0];
    assert_eq!(subscription.url, feed);
    assert_eq!(subscription.category.as_deref(), Some("News"));
    let item = |id: &str| {
        subscription
            .items
            .iter()
            .find(|item| item.id == id)
            .expect("item still in the feed")
    };
    assert!(item(&read_id).read, "the read mark");
    assert!(item(&starred_id).starred, "the star");
    assert!(
        client
            .account(&base, "ann")
            .await
            .expect("account")
            .is_some(),
        "the account"
    );
    assert!(
        client
            .session(&base, &token_hash)
            .await
            .expect("session")
            .is_some(),
        "the session"
    );
}
