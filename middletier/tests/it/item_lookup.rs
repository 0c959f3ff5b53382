//! `GET /middletier/rss/user/{user}/item` over real HTTP with a real feed publisher: one item
//! of a feed the user subscribes to, and nothing for anyone else's feed, an unknown item or a
//! malformed parameter.

use std::time::Duration;

use middletier::fetch::FetchSettings;
use middletier::store::MemoryStore;
use middletier::testing::FeedPublisher;
use middletier_api::{CallError, ItemQuery, MiddletierClient, RiverQuery};
use reqwest::StatusCode;

fn status_of<T: std::fmt::Debug>(result: Result<T, CallError>) -> StatusCode {
    match result {
        Err(CallError::Rejected { status, .. }) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_item_is_found_only_in_a_feed_the_user_subscribes_to() {
    let publisher = FeedPublisher::start().await;
    let service = middletier::testing::feed_service(
        std::sync::Arc::new(MemoryStore::new()),
        FetchSettings {
            allow_private_networks: true,
            ..FetchSettings::default()
        },
    );
    let root = middletier::testing::serve_api(service.clone()).await;
    let client =
        MiddletierClient::new(Duration::from_secs(2), Duration::from_secs(10)).expect("client");
    let feed = publisher.url("/rss.xml");
    client
        .subscribe(&root, "ann", &feed)
        .await
        .expect("subscribed");
    let river = client
        .river(&root, "ann", &RiverQuery::default())
        .await
        .expect("river");
    let shown = &river.items[0];

    let query = ItemQuery {
        feed: feed.clone(),
        item: shown.item.id.clone(),
    };
    let found = client.item(&root, "ann", &query).await.expect("the item");
    assert_eq!(&found, shown, "as the river shows it");
    assert!(
        found
            .item
            .link
            .as_deref()
            .is_some_and(|link| link.starts_with("http://publisher.test/")),
        "{found:?}"
    );

    // Another user, an unknown item, a feed nobody subscribes to: not found.
    assert_eq!(
        status_of(client.item(&root, "bob", &query).await),
        StatusCode::NOT_FOUND
    );
    let unknown = ItemQuery {
        item: "no-such-item".to_owned(),
        ..query.clone()
    };
    assert_eq!(
        status_of(client.item(&root, "ann", &unknown).await),
        StatusCode::NOT_FOUND
    );
    let elsewhere = ItemQuery {
        feed: "https://evil.example/feed".to_owned(),
        ..query.clone()
    };
    assert_eq!(
        status_of(client.item(&root, "ann", &elsewhere).await),
        StatusCode::NOT_FOUND
    );

    // Malformed parameters: a clear 400.
    for bad in [
        ItemQuery {
            feed: "javascript:alert(1)".to_owned(),
            ..query.clone()
        },
        ItemQuery {
            item: "x".repeat(257),
            ..query.clone()
        },
        ItemQuery {
            item: String::new(),
            ..query.clone()
        },
    ] {
        assert_eq!(
            status_of(client.item(&root, "ann", &bad).await),
            StatusCode::BAD_REQUEST,
            "{bad:?}"
        );
    }
    let missing = platform::http::client_builder()
        .build()
        .expect("http")
        .get(format!("{root}middletier/rss/user/ann/item?feed=x"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
}
