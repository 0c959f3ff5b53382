//! `GET /middletier/rss/user/{user}/search` over real HTTP with a real feed publisher: the
//! user's own feeds searched, matches marked as plain-text segments, paging by cursor, and a
//! clear 400 or 404 for hostile input (an over-long query, a forged cursor, another user's
//! feed).

use std::sync::Arc;
use std::time::Duration;

use middletier::fetch::FetchSettings;
use middletier::store::MemoryStore;
use middletier::testing::FeedPublisher;
use middletier_api::limits::MAX_QUERY_CHARS;
use middletier_api::{
    CallError, Filter, ItemStateChange, MiddletierClient, SearchOrder, SearchQuery, SearchResults,
};
use reqwest::StatusCode;

/// A middle tier on loopback over a memory store, and a user `ann` subscribed to `feed`.
async fn serve(publisher: &FeedPublisher, feed: &str) -> (url::Url, MiddletierClient) {
    let service = middletier::testing::feed_service(
        Arc::new(MemoryStore::new()),
        FetchSettings {
            allow_private_networks: true,
            ..FetchSettings::default()
        },
    );
    let root = middletier::testing::serve_api(service).await;
    let client =
        MiddletierClient::new(Duration::from_secs(2), Duration::from_secs(10)).expect("client");
    client
        .subscribe(&root, "ann", &publisher.url(feed))
        .await
        .expect("subscribed");
    (root, client)
}

fn query(q: &str) -> SearchQuery {
    SearchQuery {
        q: q.to_owned(),
        ..SearchQuery::default()
    }
}

fn refusal<T: std::fmt::Debug>(result: Result<T, CallError>) -> (StatusCode, String) {
    match result {
        Err(CallError::Rejected { status, message }) => (status, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn marked(results: &SearchResults) -> Vec<Vec<String>> {
    results
        .results
        .iter()
        .map(|result| {
            result
                .title
                .iter()
                .chain(&result.excerpt)
                .filter(|segment| segment.matched)
                .map(|segment| segment.text.clone())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_search_finds_the_users_items_with_matches_marked_and_pages_by_cursor() {
    let publisher = FeedPublisher::start().await;
    let (root, client) = serve(&publisher, "/rss.xml").await;

    let found = client
        .search(&root, "ann", &query("\"first story\" -plain"))
        .await
        .expect("results");
    assert_eq!(found.results.len(), 1, "{found:?}");
    assert_eq!(found.results[0].item.item.title, "RSS first story");
    assert_eq!(marked(&found), [["first story"]]);
    assert_eq!(found.next, None);

    let words = client
        .search(&root, "ann", &query("STORY"))
        .await
        .expect("results");
    assert_eq!(words.results.len(), 2, "{words:?}");

    let first = client
        .search(
            &root,
            "ann",
            &SearchQuery {
                limit: Some(1),
                ..query("story")
            },
        )
        .await
        .expect("a page");
    let cursor = first.next.clone().expect("a next page");
    let second = client
        .search(
            &root,
            "ann",
            &SearchQuery {
                limit: Some(1),
                cursor: Some(cursor),
                ..query("story")
            },
        )
        .await
        .expect("the next page");
    assert_eq!(second.results.len(), 1);
    assert_eq!(second.next, None, "the last page says so");
    assert_ne!(first.results[0].item, second.results[0].item);

    let starred = client
        .search(
            &root,
            "ann",
            &SearchQuery {
                filter: Some(Filter::Starred),
                ..query("story")
            },
        )
        .await
        .expect("results");
    assert!(
        starred.results.is_empty(),
        "nothing is starred: {starred:?}"
    );

    // Star the second story: the starred filter finds it alone.
    let second = words
        .results
        .iter()
        .find(|r| r.item.item.title == "RSS second story")
        .expect("the second story");
    client
        .set_item_state(
            &root,
            "ann",
            &ItemStateChange {
                feed: second.item.feed_url.clone(),
                item: second.item.item.id.clone(),
                read: None,
                starred: Some(true),
            },
        )
        .await
        .expect("starred");
    let starred = client
        .search(
            &root,
            "ann",
            &SearchQuery {
                filter: Some(Filter::Starred),
                ..query("story")
            },
        )
        .await
        .expect("results");
    let titles: Vec<_> = starred
        .results
        .iter()
        .map(|r| r.item.item.title.as_str())
        .collect();
    assert_eq!(titles, ["RSS second story"]);
    assert!(starred.results[0].item.item.starred);

    // By relevance too; a word found in the text alone is marked in the excerpt.
    let best = client
        .search(
            &root,
            "ann",
            &SearchQuery {
                order: SearchOrder::Relevance,
                ..query("plain")
            },
        )
        .await
        .expect("results");
    assert_eq!(best.results[0].item.item.title, "RSS second story");
    assert_eq!(marked(&best), [["Plain"]]);

    // One feed's scope: only that feed's items, though another feed has the word too.
    client
        .subscribe(&root, "ann", &publisher.url("/atom.xml"))
        .await
        .expect("subscribed");
    let everywhere = client
        .search(&root, "ann", &query("story"))
        .await
        .expect("results");
    assert_eq!(everywhere.results.len(), 3, "{everywhere:?}");
    let scoped = client
        .search(
            &root,
            "ann",
            &SearchQuery {
                feed: Some(publisher.url("/rss.xml")),
                ..query("story")
            },
        )
        .await
        .expect("results");
    assert_eq!(scoped.results.len(), 2, "{scoped:?}");
}

#[tokio::test]
async fn hostile_search_input_gets_a_clear_refusal() {
    let publisher = FeedPublisher::start().await;
    let (root, client) = serve(&publisher, "/rss.xml").await;

    let (status, message) = refusal(
        client
            .search(&root, "ann", &query(&"a".repeat(MAX_QUERY_CHARS + 1)))
            .await,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("256"), "names the limit: {message}");

    let (status, message) = refusal(
        client
            .search(&root, "ann", &query(&"\"".repeat(4_000)))
            .await,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");

    for nothing in ["", "-story", "\"\" - *"] {
        let (status, message) = refusal(client.search(&root, "ann", &query(nothing)).await);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{nothing:?}");
        assert!(message.contains("at least one word"), "{message}");
    }

    for cursor in ["s-1", "40", "s99999999999", "'; DROP TABLE items; --"] {
        let forged = SearchQuery {
            cursor: Some(cursor.to_owned()),
            ..query("story")
        };
        let (status, message) = refusal(client.search(&root, "ann", &forged).await);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{cursor:?}");
        assert!(message.contains("cursor"), "{message}");
    }

    for limit in [0, 101] {
        let page = SearchQuery {
            limit: Some(limit),
            ..query("story")
        };
        let (status, _) = refusal(client.search(&root, "ann", &page).await);
        assert_eq!(status, StatusCode::BAD_REQUEST, "limit {limit}");
    }

    // Someone else's feed (or one nobody reads) is not searched: not found, as for an item.
    let theirs = SearchQuery {
        feed: Some(publisher.url("/atom.xml")),
        ..query("story")
    };
    let (status, _) = refusal(client.search(&root, "ann", &theirs).await);
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Bob subscribes to nothing: nothing is searched, never Ann's items.
    let bobs = client
        .search(&root, "bob", &query("story"))
        .await
        .expect("an answer");
    assert!(bobs.results.is_empty() && bobs.next.is_none(), "{bobs:?}");

    let raw = platform::http::client_builder()
        .build()
        .expect("http")
        .get(format!(
            "{root}middletier/rss/user/ann/search?q=story&order=random"
        ))
        .send()
        .await
        .expect("an answer");
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
}
