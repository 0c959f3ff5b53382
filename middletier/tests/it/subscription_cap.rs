//! The per-user subscription cap is a setting (`accounts.max_subscriptions_per_user`): a
//! middle tier configured with a small cap refuses a subscription and an OPML import past it
//! over its real HTTP API, with a message that names the limit and the setting and says what
//! the user can do; a cap of 0 (or one that is not a number) stops it from starting. That each
//! store enforces the cap it is given is in the store conformance suite.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use middletier::store::MemoryStore;
use middletier::testing::FeedPublisher;
use middletier_api::{CallError, MiddletierClient};
use platform::lifecycle::Shutdown;
use reqwest::StatusCode;

use crate::support::registry_for_middletier;

/// A middle tier (with a registry to register with) whose users may subscribe to `cap` feeds;
/// its root URL. The refresher is idle: nothing here needs feeds fetched after subscribing.
async fn middletier_with_cap(cap: usize, stop: &Shutdown) -> url::Url {
    let mut settings = middletier::Settings::default();
    settings.server.port = 0;
    settings.registry.url = registry_for_middletier(stop).await.into();
    settings.fetch.allow_private_networks = true;
    settings.refresh.scan_interval = Duration::from_secs(3600);
    settings.accounts.max_subscriptions_per_user = cap;
    let app = middletier::Application::build_with_store(settings, Arc::new(MemoryStore::new()))
        .await
        .unwrap();
    let root = url::Url::parse(&format!("http://127.0.0.1:{}/", app.port())).unwrap();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    root
}

fn client() -> MiddletierClient {
    MiddletierClient::new(Duration::from_secs(2), Duration::from_secs(10)).unwrap()
}

fn opml(urls: &[String]) -> Vec<u8> {
    let outlines: String = urls
        .iter()
        .map(|url| format!(r#"<outline type="rss" text="A feed" xmlUrl="{url}"/>"#))
        .collect();
    format!(r#"<?xml version="1.0"?><opml version="2.0"><body>{outlines}</body></opml>"#)
        .into_bytes()
}

fn feeds(from: usize, to: usize) -> Vec<String> {
    (from..to)
        .map(|n| format!("https://feeds.example/{n}.xml"))
        .collect()
}

#[track_caller]
fn refusal(result: Result<impl std::fmt::Debug, CallError>) -> String {
    match result {
        Err(CallError::Rejected { status, message }) => {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
            message
        }
        other => panic!("expected a 400 refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_opml_import_past_the_configured_cap_is_refused_whole_naming_the_limit() {
    let stop = Shutdown::new();
    let root = middletier_with_cap(3, &stop).await;
    let client = client();

    let within = client
        .import_opml(&root, "ann", opml(&feeds(0, 2)))
        .await
        .unwrap();
    assert_eq!(within.imported, 2);

    // Two new feeds (and one already there) where one more fits: nothing is imported.
    let mut over = feeds(1, 4);
    over.push(feeds(0, 1).remove(0));
    let message = refusal(client.import_opml(&root, "ann", opml(&over)).await);
    for words in [
        "nothing was imported",
        "2 feeds you don't subscribe to yet",
        "you have 2 of the limit of 3 subscriptions per user",
        "RSS_ACCOUNTS__MAX_SUBSCRIPTIONS_PER_USER",
        "room for 1",
        "import a smaller file",
    ] {
        assert!(message.contains(words), "{message:?} lacks {words:?}");
    }
    let kept = client.feeds(&root, "ann").await.unwrap();
    assert_eq!(
        kept.subscriptions.len(),
        2,
        "the refused file added nothing"
    );

    let exactly = client
        .import_opml(&root, "ann", opml(&feeds(0, 3)))
        .await
        .unwrap();
    assert_eq!(
        (exactly.imported, exactly.already),
        (1, 2),
        "up to the cap fits"
    );
    stop.cancel();
}

#[tokio::test]
async fn subscribing_past_the_configured_cap_is_refused_naming_the_limit() {
    let publisher = FeedPublisher::start().await;
    let stop = Shutdown::new();
    let root = middletier_with_cap(1, &stop).await;
    let client = client();

    client
        .subscribe(&root, "ann", &publisher.url("/rss.xml"))
        .await
        .unwrap();
    let message = refusal(
        client
            .subscribe(&root, "ann", &publisher.url("/atom.xml"))
            .await,
    );
    for words in [
        "limit of 1 subscriptions per user",
        "RSS_ACCOUNTS__MAX_SUBSCRIPTIONS_PER_USER",
        "unsubscribe from a feed first",
    ] {
        assert!(message.contains(words), "{message:?} lacks {words:?}");
    }
    client
        .subscribe(&root, "bob", &publisher.url("/atom.xml"))
        .await
        .expect("the cap is per user");
    stop.cancel();
}

#[tokio::test]
async fn a_cap_of_zero_or_not_a_number_stops_the_middle_tier_from_starting() {
    let config_dir =
        std::env::temp_dir().join(format!("middletier-cap-no-config-{}", std::process::id()));
    for (value, expected) in [
        ("0", "must be at least 1"),
        ("-1", "max_subscriptions_per_user"),
        ("lots", "max_subscriptions_per_user"),
    ] {
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_middletier"))
            .env("RSS_CONFIG_DIR", &config_dir)
            .env_remove("RSS_ENV")
            .env("RSS_SERVER__PORT", "0")
            .env("RSS_REGISTRY__URL", "http://127.0.0.1:9/eureka/v2/")
            .env("RSS_ACCOUNTS__MAX_SUBSCRIPTIONS_PER_USER", value)
            // A middle tier that wrongly starts is killed when the bound below gives up.
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .unwrap_or_else(|_| panic!("started and kept running with a cap of {value:?}"))
            .expect("middletier runs");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.status.success(), "started with a cap of {value:?}");
        assert!(said.contains(expected), "{value:?}: {said}");
    }
}
