//! Reading state over real HTTP on loopback with a real feed publisher: the river and its
//! pages, read/starred marks, mark-all-as-read, categories and OPML, accounts and sessions,
//! the service token, and that no parameter lets one user reach another's state.

use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use middletier::fetch::FetchSettings;
use middletier::service::FeedService;
use middletier::store::{FeedState, FeedStore, HistoryStore, MemoryStore, SubscriptionStore};
use middletier::testing::FeedPublisher;
use middletier_api::{CallError, MiddletierClient};
use middletier_api::{
    CategoryChange, ErrorBody, Filter, ItemStateChange, MarkRead, MarkedRead, NewAccount,
    NewSession, PasswordChange, River, RiverQuery, UserFeeds,
};
use platform::config::Secret;
use platform::lifecycle::Shutdown;
use reqwest::StatusCode;

struct Api {
    store: Arc<MemoryStore>,
    root: url::Url,
    http: reqwest::Client,
    client: MiddletierClient,
    service: FeedService,
}

async fn spawn_api() -> Api {
    let store = Arc::new(MemoryStore::new());
    let service = middletier::testing::feed_service(
        store.clone(),
        FetchSettings {
            allow_private_networks: true,
            ..FetchSettings::default()
        },
    );
    let root = middletier::testing::serve_api(service.clone()).await;
    Api {
        store,
        root,
        http: platform::http::client_builder().build().expect("http"),
        client: client(),
        service,
    }
}

fn client() -> MiddletierClient {
    MiddletierClient::new(Duration::from_secs(2), Duration::from_secs(10)).expect("client")
}

impl Api {
    fn user_url(&self, user: &str, suffix: &str) -> String {
        format!("{}middletier/rss/user/{user}{suffix}", self.root)
    }

    async fn subscribe(&self, user: &str, feed: &str) {
        let response = self
            .http
            .post(self.user_url(user, ""))
            .query(&[("url", feed)])
            .send()
            .await
            .expect("post");
        assert!(response.status().is_success(), "{}", response.status());
    }

    /// The status of posting `body` as JSON to the user's `suffix`, bypassing the typed client.
    async fn post_json(&self, user: &str, suffix: &str, body: serde_json::Value) -> StatusCode {
        self.http
            .post(self.user_url(user, suffix))
            .json(&body)
            .send()
            .await
            .expect("post")
            .status()
    }

    /// The stored state of a fetched feed, as the refresher loads it.
    async fn stored_state(&self, feed: &str) -> FeedState {
        let url = middletier_api::domain::FeedUrl::parse(feed).expect("url");
        self.store
            .feed_states(std::slice::from_ref(&url))
            .await
            .expect("read")
            .remove(0)
            .expect("fetched")
    }

    async fn river(&self, user: &str, query: &RiverQuery) -> River {
        self.client
            .river(&self.root, user, query)
            .await
            .expect("river")
    }

    async fn all(&self, user: &str) -> River {
        self.river(
            user,
            &RiverQuery {
                filter: Filter::All,
                ..RiverQuery::default()
            },
        )
        .await
    }

    async fn mark(
        &self,
        user: &str,
        feed: &str,
        item: &str,
        read: Option<bool>,
        star: Option<bool>,
    ) {
        let change = ItemStateChange {
            feed: feed.to_owned(),
            item: item.to_owned(),
            read,
            starred: star,
        };
        let echoed = self
            .client
            .set_item_state(&self.root, user, &change)
            .await
            .expect("mark");
        assert_eq!(echoed, change);
    }
}

/// An RSS feed of `count` dated items, newest first, `extra` first if given.
fn big_feed(title: &str, count: usize, extra: Option<&str>) -> String {
    let mut items = String::new();
    if let Some(extra) = extra {
        items.push_str(&format!(
            "<item><title>{extra}</title><guid>{extra}</guid></item>"
        ));
    }
    for n in (0..count).rev() {
        // One item a minute, on distinct minutes so the order is unambiguous.
        let at = chrono::DateTime::from_timestamp(1_750_000_000 + 60 * n as i64, 0).expect("t");
        items.push_str(&format!(
            "<item><title>{title} {n}</title><guid>{title}-{n}</guid><pubDate>{}</pubDate></item>",
            at.to_rfc2822()
        ));
    }
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{title}</title>\
         <link>http://publisher.test/</link><description>d</description>{items}</channel></rss>"
    )
}

fn rejected_status(result: Result<impl std::fmt::Debug, CallError>) -> StatusCode {
    match result {
        Err(CallError::Rejected { status, .. }) => status,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn items_have_stable_ids_and_the_river_merges_feeds_newest_first() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api().await;
    let rss = publisher.url("/rss.xml");
    let atom = publisher.url("/atom.xml");
    let json = publisher.url("/feed.json");
    for feed in [&rss, &atom, &json] {
        api.subscribe("ann", feed).await;
    }

    let river = api.river("ann", &RiverQuery::default()).await;
    assert_eq!(river.user, "ann");
    assert_eq!(river.unread, 4, "everything is unread at first");
    let order: Vec<(&str, &str)> = river
        .items
        .iter()
        .map(|i| (i.feed_title.as_str(), i.item.title.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            // Undated: sorts by when it was first fetched (now).
            ("Loopback Daily", "RSS second story"),
            ("Loopback Daily", "RSS first story"),
            ("Atom Weekly", "Atom story"),
            ("JSON Journal", "JSON story"),
        ]
    );
    assert_eq!(river.next, None, "one page");
    let summary: Vec<(&str, usize)> = river
        .feeds
        .iter()
        .map(|f| (f.title.as_str(), f.unread))
        .collect();
    assert_eq!(
        summary,
        [
            ("Loopback Daily", 2),
            ("Atom Weekly", 1),
            ("JSON Journal", 1)
        ],
        "every subscription in order, with unread counts"
    );
    let ids: Vec<&str> = river.items.iter().map(|i| i.item.id.as_str()).collect();
    assert_eq!(ids[2], "urn:uuid:2", "Atom ids are kept");
    assert_eq!(ids[3], "1", "JSON Feed ids are kept");
    assert!(
        ids[0].starts_with("h:"),
        "no guid: a hash of link and title"
    );

    // A refresh keeps ids (and so the reading state).
    api.mark("ann", &rss, ids[0], Some(true), None).await;
    let state = api.stored_state(&rss).await;
    api.service
        .refresher()
        .refresh_and_save(state)
        .await
        .expect("refreshed");
    let feeds = api.client.feeds(&api.root, "ann").await.expect("feeds");
    let again = api.all("ann").await;
    assert_eq!(again.items[0].item.id, ids[0]);
    assert!(again.items[0].item.read, "still read after a refresh");
    assert_eq!(feeds.subscriptions[0].unread, 1);
    assert!(
        feeds.subscriptions[0].items.iter().any(|i| i.read),
        "the classic view carries the marks too"
    );
}

#[tokio::test]
async fn pages_follow_the_cursor_without_gaps_or_repeats() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api().await;
    publisher.set_switch(200, &big_feed("Big", 120, None));
    let big = publisher.url("/switch.xml");
    api.subscribe("ann", &big).await;
    api.subscribe("ann", &publisher.url("/rss.xml")).await;

    let mut seen = Vec::new();
    let mut query = RiverQuery {
        feed: Some(big.clone()),
        limit: Some(40),
        ..RiverQuery::default()
    };
    let mut sizes = Vec::new();
    loop {
        let page = api.river("ann", &query).await;
        sizes.push(page.items.len());
        // Reading a page must not shift the next one (the cursor is a position, not an offset).
        for item in &page.items {
            api.mark("ann", &big, &item.item.id, Some(true), None).await;
        }
        seen.extend(page.items.into_iter().map(|i| i.item.title));
        match page.next {
            Some(next) => query.before = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, [40, 40, 20], "the newest 100 items are kept");
    let expected: Vec<String> = (20..120).rev().map(|n| format!("Big {n}")).collect();
    assert_eq!(seen, expected, "newest first, each once");

    let river = api.river("ann", &RiverQuery::default()).await;
    assert_eq!(river.feeds[0].unread, 0);
    assert_eq!(river.unread, 2, "the other feed is untouched");

    // Limits and cursors are checked.
    for (limit, before) in [(Some(0), None), (Some(201), None), (None, Some("garbage"))] {
        let query = RiverQuery {
            limit,
            before: before.map(str::to_owned),
            ..RiverQuery::default()
        };
        let status = rejected_status(api.client.river(&api.root, "ann", &query).await);
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let response = api
        .http
        .get(api.user_url("ann", "/items"))
        .query(&[("filter", "everything")])
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: ErrorBody = response.json().await.expect("json");
    assert!(body.error.contains("filter"), "{}", body.error);
}

#[tokio::test]
async fn read_and_starred_marks_and_filters() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api().await;
    let rss = publisher.url("/rss.xml");
    api.subscribe("ann", &rss).await;
    let items = api.all("ann").await.items;
    let (second, first) = (&items[0].item.id, &items[1].item.id);

    api.mark("ann", &rss, first, Some(true), None).await;
    api.mark("ann", &rss, second, None, Some(true)).await;
    let unread = api.river("ann", &RiverQuery::default()).await;
    assert_eq!(unread.unread, 1);
    assert_eq!(unread.items.len(), 1);
    assert_eq!(&unread.items[0].item.id, second);
    assert!(unread.items[0].item.starred && !unread.items[0].item.read);
    let starred = api
        .river(
            "ann",
            &RiverQuery {
                filter: Filter::Starred,
                ..RiverQuery::default()
            },
        )
        .await;
    assert_eq!(starred.items.len(), 1);
    assert_eq!(&starred.items[0].item.id, second);
    let all = api.all("ann").await;
    assert!(all.items[1].item.read && !all.items[1].item.starred);

    // Unread again, unstarred again.
    api.mark("ann", &rss, first, Some(false), None).await;
    api.mark("ann", &rss, second, None, Some(false)).await;
    let river = api.river("ann", &RiverQuery::default()).await;
    assert_eq!(river.unread, 2);
    assert!(river.items.iter().all(|i| !i.item.starred));

    // Bad input is refused with a reason.
    let status = rejected_status(
        api.client
            .set_item_state(
                &api.root,
                "ann",
                &ItemStateChange {
                    feed: rss.clone(),
                    item: "x".repeat(257),
                    read: Some(true),
                    starred: None,
                },
            )
            .await,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let status = api
        .post_json("ann", "/items/state", serde_json::json!({"feed": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn mark_all_read_covers_only_what_had_arrived_and_is_undoable_per_item() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api().await;
    publisher.set_switch(200, &big_feed("Big", 30, None));
    let big = publisher.url("/switch.xml");
    let rss = publisher.url("/rss.xml");
    api.subscribe("ann", &big).await;
    api.subscribe("ann", &rss).await;
    // The items arrived ten minutes ago, the page was shown five minutes ago...
    let mut state = api.stored_state(&big).await;
    let arrived = Utc::now() - chrono::Duration::minutes(10);
    for seen in state.first_seen.values_mut() {
        *seen = arrived;
    }
    // The history keeps first-seen times; to backdate them, the items arrive anew.
    let ids: Vec<String> = state.items.iter().map(|item| item.id.clone()).collect();
    api.store
        .remove_history(&state.url, &ids)
        .await
        .expect("remove");
    api.store.save_feed_state(&state).await.expect("save");
    let shown_at =
        (Utc::now() - chrono::Duration::minutes(5)).to_rfc3339_opts(SecondsFormat::Millis, true);

    // ...and a new item arrives now, at the next refresh.
    publisher.set_switch(200, &big_feed("Big", 30, Some("Breaking")));
    api.service
        .refresher()
        .refresh_and_save(state)
        .await
        .expect("refreshed");
    assert_eq!(api.river("ann", &RiverQuery::default()).await.unread, 33);

    let marked = api
        .client
        .mark_read(
            &api.root,
            "ann",
            &MarkRead {
                feed: Some(big.clone()),
                category: None,
                up_to: Some(shown_at),
            },
        )
        .await
        .expect("mark read");
    assert_eq!(marked, MarkedRead { marked: 30 });
    let river = api.river("ann", &RiverQuery::default()).await;
    let titles: Vec<&str> = river.items.iter().map(|i| i.item.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Breaking", "RSS second story", "RSS first story"],
        "what arrived later, and the other feed, stay unread"
    );

    // One item marked unread after marking all read is unread again.
    let old = api.all("ann").await.items[5].item.clone();
    assert!(old.read);
    api.mark("ann", &big, &old.id, Some(false), None).await;
    assert_eq!(api.river("ann", &RiverQuery::default()).await.unread, 4);

    // Everything, now.
    let marked = api
        .client
        .mark_read(&api.root, "ann", &MarkRead::default())
        .await
        .expect("mark all");
    assert_eq!(marked.marked, 4);
    let river = api.river("ann", &RiverQuery::default()).await;
    assert_eq!((river.unread, river.items.len()), (0, 0));
    let status = api
        .post_json(
            "ann",
            "/items/read",
            serde_json::json!({"up_to": "last tuesday"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn categories_filter_the_river_and_round_trip_through_opml() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api().await;
    let (rss, atom, json) = (
        publisher.url("/rss.xml"),
        publisher.url("/atom.xml"),
        publisher.url("/feed.json"),
    );
    for feed in [&rss, &atom, &json] {
        api.subscribe("ann", feed).await;
    }
    for (feed, category) in [
        (&rss, Some(" News ")),
        (&atom, Some("News")),
        (&json, Some("")),
    ] {
        api.client
            .set_category(
                &api.root,
                "ann",
                &CategoryChange {
                    url: feed.clone(),
                    category: category.map(str::to_owned),
                },
            )
            .await
            .expect("category");
    }
    let news = api
        .river(
            "ann",
            &RiverQuery {
                category: Some("News".to_owned()),
                filter: Filter::All,
                ..RiverQuery::default()
            },
        )
        .await;
    assert_eq!(news.items.len(), 3, "both News feeds, not the JSON one");
    assert!(news.items.iter().all(|i| i.feed_url != json));
    let categories: Vec<Option<&str>> = news.feeds.iter().map(|f| f.category.as_deref()).collect();
    assert_eq!(categories, [Some("News"), Some("News"), None]);

    // Mark a category read.
    let marked = api
        .client
        .mark_read(
            &api.root,
            "ann",
            &MarkRead {
                category: Some("News".to_owned()),
                ..MarkRead::default()
            },
        )
        .await
        .expect("mark");
    assert_eq!(marked.marked, 3);
    assert_eq!(api.river("ann", &RiverQuery::default()).await.unread, 1);

    let opml = api
        .client
        .export_opml(&api.root, "ann")
        .await
        .expect("opml");
    assert!(
        opml.contains("<outline text=\"News\" title=\"News\">"),
        "{opml}"
    );
    // Import into another user: the first folder level becomes the category.
    let nested = opml.replace(
        "<outline text=\"News\" title=\"News\">",
        "<outline text=\"News\" title=\"News\"><outline text=\"World\">",
    );
    let nested = nested.replacen("</outline>", "</outline></outline>", 1);
    let imported = api
        .client
        .import_opml(&api.root, "bob", nested.into_bytes())
        .await
        .expect("import");
    assert_eq!(imported.imported, 3);
    let feeds: UserFeeds = api.client.feeds(&api.root, "bob").await.expect("feeds");
    let got: Vec<(&str, Option<&str>)> = feeds
        .subscriptions
        .iter()
        .map(|s| (s.url.as_str(), s.category.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (json.as_str(), None),
            (rss.as_str(), Some("News")),
            (atom.as_str(), Some("News"))
        ]
    );

    let status = rejected_status(
        api.client
            .set_category(
                &api.root,
                "ann",
                &CategoryChange {
                    url: publisher.url("/not-subscribed.xml"),
                    category: Some("News".to_owned()),
                },
            )
            .await,
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    let status = rejected_status(
        api.client
            .set_category(
                &api.root,
                "ann",
                &CategoryChange {
                    url: rss.clone(),
                    category: Some("x".repeat(101)),
                },
            )
            .await,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn no_parameter_reaches_another_users_state() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api().await;
    let (rss, atom, json) = (
        publisher.url("/rss.xml"),
        publisher.url("/atom.xml"),
        publisher.url("/feed.json"),
    );
    api.subscribe("ann", &rss).await;
    api.subscribe("ann", &json).await;
    api.subscribe("bob", &atom).await;
    api.subscribe("bob", &json).await;
    api.client
        .set_category(
            &api.root,
            "ann",
            &CategoryChange {
                url: rss.clone(),
                category: Some("Secret".to_owned()),
            },
        )
        .await
        .expect("category");
    let ann_items = api.all("ann").await.items;
    let ann_rss_item = ann_items
        .iter()
        .find(|i| i.feed_url == rss)
        .expect("item")
        .item
        .id
        .clone();
    let json_item = "1";
    api.mark("ann", &json, json_item, Some(true), Some(true))
        .await;
    let ann_page = api
        .river(
            "ann",
            &RiverQuery {
                filter: Filter::All,
                limit: Some(1),
                ..RiverQuery::default()
            },
        )
        .await;

    // Bob names ann's feed: in the river, the state change, mark-read, the category.
    let by_feed = RiverQuery {
        feed: Some(rss.clone()),
        ..RiverQuery::default()
    };
    assert_eq!(
        rejected_status(api.client.river(&api.root, "bob", &by_feed).await),
        StatusCode::NOT_FOUND
    );
    let change = ItemStateChange {
        feed: rss.clone(),
        item: ann_rss_item.clone(),
        read: Some(true),
        starred: Some(true),
    };
    assert_eq!(
        rejected_status(api.client.set_item_state(&api.root, "bob", &change).await),
        StatusCode::NOT_FOUND
    );
    let mark = MarkRead {
        feed: Some(rss.clone()),
        ..MarkRead::default()
    };
    assert_eq!(
        rejected_status(api.client.mark_read(&api.root, "bob", &mark).await),
        StatusCode::NOT_FOUND
    );
    let by_category = MarkRead {
        category: Some("Secret".to_owned()),
        ..MarkRead::default()
    };
    assert_eq!(
        api.client
            .mark_read(&api.root, "bob", &by_category)
            .await
            .expect("nothing of bob's"),
        MarkedRead { marked: 0 }
    );
    let recategorise = CategoryChange {
        url: rss.clone(),
        category: None,
    };
    assert_eq!(
        rejected_status(
            api.client
                .set_category(&api.root, "bob", &recategorise)
                .await
        ),
        StatusCode::NOT_FOUND
    );
    // Ann's cursor in bob's river positions bob's page, showing only bob's items.
    let foreign = api
        .river(
            "bob",
            &RiverQuery {
                filter: Filter::All,
                before: ann_page.next.clone(),
                ..RiverQuery::default()
            },
        )
        .await;
    assert!(
        foreign.items.iter().all(|i| i.feed_url != rss),
        "{:?}",
        foreign.items
    );
    // A category filter naming ann's category finds nothing of hers.
    let secret = api
        .river(
            "bob",
            &RiverQuery {
                category: Some("Secret".to_owned()),
                filter: Filter::All,
                ..RiverQuery::default()
            },
        )
        .await;
    assert!(secret.items.is_empty());

    // A feed both read: marks are per user.
    let bob = api.all("bob").await;
    let shared = bob.items.iter().find(|i| i.feed_url == json).expect("json");
    assert!(
        !shared.item.read && !shared.item.starred,
        "ann's marks are hers"
    );
    assert!(
        bob.feeds
            .iter()
            .all(|f| f.url != rss && f.category.is_none())
    );

    // And ann's state is as she left it.
    let ann = api.all("ann").await;
    let hers = ann.items.iter().find(|i| i.feed_url == rss).expect("rss");
    assert!(!hers.item.read && !hers.item.starred);
    let json_hers = ann.items.iter().find(|i| i.feed_url == json).expect("json");
    assert!(json_hers.item.read && json_hers.item.starred);
    assert_eq!(ann.feeds[0].category.as_deref(), Some("Secret"));

    // Unsubscribing forgets the marks; subscribing again starts unread.
    api.http
        .delete(api.user_url("ann", ""))
        .query(&[("url", &json)])
        .send()
        .await
        .expect("delete");
    api.subscribe("ann", &json).await;
    let again = api.all("ann").await;
    let json_again = again
        .items
        .iter()
        .find(|i| i.feed_url == json)
        .expect("json");
    assert!(!json_again.item.read && !json_again.item.starred);
}

#[tokio::test]
async fn another_user_subscribing_later_does_not_unread_what_one_has_read() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api().await;
    let rss = publisher.url("/rss.xml");
    api.subscribe("ann", &rss).await;
    let marked = api
        .client
        .mark_read(&api.root, "ann", &MarkRead::default())
        .await
        .expect("mark all");
    assert_eq!(marked.marked, 2);
    // Bob's subscription fetches the feed again, after ann's "read up to".
    api.subscribe("bob", &rss).await;
    assert_eq!(api.river("ann", &RiverQuery::default()).await.unread, 0);
    assert_eq!(api.river("bob", &RiverQuery::default()).await.unread, 2);
}

#[tokio::test]
async fn large_opml_files_are_not_cut_by_the_small_json_body_limit() {
    let api = spawn_api().await;
    let outlines: String = (0..400)
        .map(|n| {
            format!(
                "<outline type=\"rss\" text=\"A feed with a fairly long title, number {n}\" \
                 xmlUrl=\"https://feeds.example/{n}/{}.xml\"/>",
                "path".repeat(20)
            )
        })
        .collect();
    let opml = format!(
        "<?xml version=\"1.0\"?><opml version=\"2.0\"><body><outline text=\"Folder\">\
         {outlines}</outline></body></opml>"
    );
    assert!(opml.len() > 64 * 1024, "bigger than the JSON routes' limit");
    let imported = api
        .client
        .import_opml(&api.root, "ann", opml.into_bytes())
        .await
        .expect("import");
    assert_eq!(imported.imported, 400);
    let river = api.river("ann", &RiverQuery::default()).await;
    assert!(
        river
            .feeds
            .iter()
            .all(|f| f.category.as_deref() == Some("Folder"))
    );
}

#[tokio::test]
async fn marks_are_taken_only_for_items_the_history_holds_and_leave_with_them() {
    let publisher = FeedPublisher::start().await;
    let api = spawn_api().await;
    let feed = publisher.url("/switch.xml");
    publisher.set_switch(200, &big_feed("Old", 3, None));
    api.subscribe("ann", &feed).await;
    let mark = |item: &str| ItemStateChange {
        feed: feed.clone(),
        item: item.to_owned(),
        read: Some(true),
        starred: Some(true),
    };

    // An id the feed never held: refused, nothing stored.
    let unknown = api
        .client
        .set_item_state(&api.root, "ann", &mark("made-up-id-1"))
        .await;
    assert_eq!(rejected_status(unknown), StatusCode::NOT_FOUND);
    api.mark("ann", &feed, "Old-0", Some(true), None).await;

    // The old items leave the document but stay in the history: still markable.
    publisher.set_switch(200, &big_feed("New", 2, None));
    let state = api.stored_state(&feed).await;
    api.service
        .refresher()
        .refresh_and_save(state)
        .await
        .expect("refresh");
    api.mark("ann", &feed, "Old-1", Some(true), Some(true))
        .await;

    // Retention removes them: their marks go with them, and they can no longer be marked.
    let url = middletier_api::domain::FeedUrl::parse(&feed).expect("url");
    let old: Vec<String> = (0..3).map(|n| format!("Old-{n}")).collect();
    api.store.remove_history(&url, &old).await.expect("remove");
    let gone = api
        .client
        .set_item_state(&api.root, "ann", &mark("Old-0"))
        .await;
    assert_eq!(
        rejected_status(gone),
        StatusCode::NOT_FOUND,
        "it left the history"
    );
    api.mark("ann", &feed, "New-1", Some(true), None).await;
    let user = middletier_api::domain::UserId::parse("ann").expect("user");
    let reading = middletier::store::ReadingStore::reading(api.store.as_ref(), &user)
        .await
        .expect("reading");
    let marked: Vec<&String> = reading.feeds[&url].marks.keys().collect();
    assert_eq!(
        marked,
        ["New-1"],
        "only marks of items the history holds remain"
    );
}

#[tokio::test]
async fn an_opml_file_of_forty_thousand_outlines_is_refused_while_other_requests_are_served() {
    use middletier_api::limits::{MAX_OPML_BYTES, MAX_OPML_OUTLINES};
    let api = spawn_api().await;
    let outlines: String = (0..40_000)
        .map(|n| format!("<outline xmlUrl=\"https://f.example/{n}\"/>"))
        .collect();
    let opml = format!("<opml version=\"2.0\"><body>{outlines}</body></opml>");
    assert!(
        opml.len() <= MAX_OPML_BYTES,
        "{} bytes: under the size cap",
        opml.len()
    );
    let started = std::time::Instant::now();
    let import = tokio::spawn({
        let (http, url) = (api.http.clone(), api.user_url("ann", "/opml"));
        async move { http.post(url).body(opml).send().await.expect("post") }
    });
    // The upload is parsed off the async workers: another user is answered meanwhile.
    platform::testing::eventually(
        "another request is answered during the import",
        Duration::from_secs(30),
        || async {
            let other = api.http.get(api.user_url("bob", "")).send().await;
            other.is_ok_and(|response| response.status() == StatusCode::OK)
        },
    )
    .await;
    let response = import.await.expect("import task");
    crate::support::assert_bounded(
        "refusing a 40,000-outline OPML file",
        started.elapsed(),
        Duration::from_secs(30),
    );
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: ErrorBody = response.json().await.expect("json");
    assert!(
        body.error.contains(&MAX_OPML_OUTLINES.to_string()),
        "the limit is named: {}",
        body.error
    );
    assert!(
        api.store
            .subscriptions(&middletier_api::domain::UserId::parse("ann").expect("user"))
            .await
            .expect("subscriptions")
            .is_empty()
    );
}

#[tokio::test]
async fn deeply_nested_opml_is_refused_naming_the_limit() {
    let api = spawn_api().await;
    let depth = 20_000;
    let opml = format!(
        "<opml><body>{}<outline xmlUrl=\"https://a.example/feed\"/>{}</body></opml>",
        "<outline text=\"f\">".repeat(depth),
        "</outline>".repeat(depth)
    );
    let response = api
        .http
        .post(api.user_url("ann", "/opml"))
        .body(opml)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: ErrorBody = response.json().await.expect("json");
    assert!(
        body.error
            .contains(&middletier_api::limits::MAX_OPML_DEPTH.to_string()),
        "the limit is named: {}",
        body.error
    );
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_the_user_and_sign_ins_are_capped() {
    let api = spawn_api().await;
    let (client, root) = (&api.client, &api.root);
    let max = middletier::service::AccountSettings::default().max_sessions_per_user;
    let expires = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    // A SHA-256-shaped hex string per user and sign-in.
    let token = |who: &str, n: usize| format!("{:0>64}", usize::from(who == "bob") * 1000 + n);
    let sign_in = |who: &'static str, n: usize| NewSession {
        token_hash: token(who, n),
        user: who.to_owned(),
        expires: expires.clone(),
        app_password: None,
    };
    // One sign-in past the cap: the first session is ended to make room.
    for n in 0..=max {
        client
            .create_session(root, &sign_in("ann", n))
            .await
            .expect("create");
    }
    client
        .create_session(root, &sign_in("bob", 0))
        .await
        .expect("create");
    let live = |hash: String| async move { client.session(root, &hash).await.expect("get") };
    assert_eq!(live(token("ann", 0)).await, None, "the oldest made room");
    assert!(live(token("ann", max)).await.is_some());

    client
        .delete_sessions_of(root, "ann")
        .await
        .expect("sign out everywhere");
    for n in 0..=max {
        assert_eq!(live(token("ann", n)).await, None, "session {n} ended");
    }
    assert!(live(token("bob", 0)).await.is_some(), "nobody else's");
    let bad = client.delete_sessions_of(root, "not a name").await;
    assert_eq!(rejected_status(bad), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn accounts_and_sessions() {
    let api = spawn_api().await;
    let (client, root) = (&api.client, &api.root);
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
    let new = NewAccount {
        user: "ann".to_owned(),
        password_hash: hash.to_owned(),
    };
    let created = client
        .create_account(root, &new)
        .await
        .expect("create")
        .expect("new");
    assert_eq!(
        (created.user.as_str(), created.password_hash.as_str()),
        ("ann", hash)
    );
    assert!(chrono::DateTime::parse_from_rfc3339(&created.created).is_ok());
    let taken = client
        .create_account(
            root,
            &NewAccount {
                password_hash: "$argon2id$other".to_owned(),
                ..new.clone()
            },
        )
        .await
        .expect("answer");
    assert!(taken.is_none(), "409: the name is taken");
    assert_eq!(
        client.account(root, "ann").await.expect("get"),
        Some(created)
    );
    assert_eq!(client.account(root, "nobody").await.expect("get"), None);
    let bad = client
        .create_account(
            root,
            &NewAccount {
                user: "../ann".to_owned(),
                password_hash: hash.to_owned(),
            },
        )
        .await;
    assert_eq!(rejected_status(bad), StatusCode::BAD_REQUEST);

    let token_hash = "0123456789abcdef".repeat(4);
    let expires = Utc::now() + chrono::Duration::days(30);
    client
        .create_session(
            root,
            &NewSession {
                token_hash: token_hash.clone(),
                user: "ann".to_owned(),
                expires: expires.to_rfc3339(),
                app_password: None,
            },
        )
        .await
        .expect("session");
    let session = client
        .session(root, &token_hash)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(session.user, "ann");
    client
        .delete_session(root, &token_hash)
        .await
        .expect("delete");
    assert_eq!(client.session(root, &token_hash).await.expect("get"), None);
    client
        .delete_session(root, &token_hash)
        .await
        .expect("deleting again is fine");

    // Expired sessions are not found.
    let short = "f".repeat(64);
    client
        .create_session(
            root,
            &NewSession {
                token_hash: short.clone(),
                user: "ann".to_owned(),
                expires: (Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339(),
                app_password: None,
            },
        )
        .await
        .expect("session");
    assert!(client.session(root, &short).await.expect("get").is_some());
    platform::testing::eventually("the session expired", Duration::from_secs(5), || async {
        client.session(root, &short).await.expect("get").is_none()
    })
    .await;

    // Bad input: a raw token instead of its hash, a past expiry.
    for (token_hash, expires) in [
        (
            "not-a-sha256".to_owned(),
            Utc::now() + chrono::Duration::days(1),
        ),
        ("a".repeat(64), Utc::now() - chrono::Duration::days(1)),
    ] {
        let result = client
            .create_session(
                root,
                &NewSession {
                    token_hash,
                    user: "ann".to_owned(),
                    expires: expires.to_rfc3339(),
                    app_password: None,
                },
            )
            .await;
        assert_eq!(rejected_status(result), StatusCode::BAD_REQUEST);
    }
}

/// The whole middle tier as `main` builds it, with `token` set; no registry is reachable (it
/// keeps retrying harmlessly).
async fn spawn_application(token: &str) -> (url::Url, Shutdown) {
    spawn_application_with(token, None).await
}

/// [`spawn_application`], also accepting `next_token` (a rotation under way).
async fn spawn_application_with(token: &str, next_token: Option<&str>) -> (url::Url, Shutdown) {
    let mut settings = middletier::Settings::default();
    settings.server.port = 0;
    settings.registry.url = "http://127.0.0.1:9/eureka/v2/".into();
    settings.server.shutdown_grace = Duration::ZERO;
    settings.api.token = Some(Secret::new(token));
    settings.api.next_token = next_token.map(Secret::new);
    let app = middletier::Application::build(settings)
        .await
        .expect("build");
    let root = url::Url::parse(&format!("http://127.0.0.1:{}/", app.port())).expect("url");
    let shutdown = Shutdown::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    (root, shutdown)
}

#[tokio::test]
async fn during_a_token_rotation_the_old_and_the_new_token_are_both_accepted() {
    let (root, shutdown) = spawn_application_with("old-token", Some("new-token")).await;
    let http = platform::http::client_builder().build().expect("http");
    let feeds = format!("{root}middletier/rss/user/ann");
    platform::testing::eventually("the middle tier answers", Duration::from_secs(10), || {
        let request = http.get(format!("{root}health")).send();
        async move { request.await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    for (token, status) in [
        ("old-token", StatusCode::OK),
        ("new-token", StatusCode::OK),
        ("other-token", StatusCode::UNAUTHORIZED),
        ("", StatusCode::UNAUTHORIZED),
    ] {
        let response = http
            .get(&feeds)
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), status, "{token:?}");
    }
    shutdown.cancel();
}

#[tokio::test]
async fn with_a_service_token_every_api_call_needs_it() {
    let (root, shutdown) = spawn_application("s3cret-token").await;
    let http = platform::http::client_builder().build().expect("http");
    let feeds = format!("{root}middletier/rss/user/ann");
    platform::testing::eventually("the middle tier answers", Duration::from_secs(10), || {
        let request = http.get(format!("{root}health")).send();
        async move { request.await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;

    for authorization in [
        None,
        Some("Bearer wrong"),
        Some("s3cret-token"),
        Some("Bearer s3cret-tokenX"),
    ] {
        let mut request = http.get(&feeds);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("get");
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{authorization:?}"
        );
        let body: ErrorBody = response.json().await.expect("json error");
        assert!(body.error.contains("token"), "{}", body.error);
    }
    let response = http
        .post(format!("{root}middletier/accounts"))
        .json(&serde_json::json!({"user": "eve", "password_hash": "$x"}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "accounts too");

    let response = http
        .get(&feeds)
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::OK);

    // The typed client sends it when given, and is refused without: a server-side failure
    // (the operator's misconfiguration), not a bad request the user could fix.
    let with = client().with_token(Some(Secret::new("s3cret-token")));
    assert_eq!(with.feeds(&root, "ann").await.expect("feeds").user, "ann");
    with.river(&root, "ann", &RiverQuery::default())
        .await
        .expect("river");
    match client().feeds(&root, "ann").await {
        Err(CallError::Server { status, .. }) => assert_eq!(status, StatusCode::UNAUTHORIZED),
        other => panic!("expected a server-side refusal, got {other:?}"),
    }
    // Health stays open for the registry and load balancers.
    let health = http
        .get(format!("{root}health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::OK);
    shutdown.cancel();
}

/// Runs the real binary with `RSS_ENV=prod` and `vars`; what it said, having refused to start.
fn refused_in_prod(vars: &[(&str, &str)]) -> String {
    let config_dir =
        std::env::temp_dir().join(format!("middletier-no-config-{}", std::process::id()));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_middletier"));
    command
        .env("RSS_ENV", "prod")
        .env("RSS_CONFIG_DIR", &config_dir)
        .env_remove("RSS_API__TOKEN")
        .env("RSS_SERVER__PORT", "0")
        .env("RSS_REGISTRY__URL", "http://127.0.0.1:9/eureka/v2/");
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().expect("middletier runs");
    assert!(!output.status.success(), "it must not start with {vars:?}");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn production_refuses_to_start_without_a_service_token() {
    let said = refused_in_prod(&[]);
    assert!(said.contains("RSS_API__TOKEN"), "names the setting: {said}");

    let settings = middletier::Settings::default();
    assert!(settings.check(Some("prod")).is_err());
    assert!(settings.check(Some("staging")).is_err());
    assert!(settings.check(Some("local")).is_ok());
    assert!(settings.check(Some("test")).is_ok());
    assert!(settings.check(None).is_ok());
}

#[test]
fn production_refuses_a_placeholder_or_short_token_and_plain_http() {
    // What the Compose file used to ship: long enough, and known to everyone.
    let placeholder = "CHANGE-ME-to-a-long-random-secret";
    let said = refused_in_prod(&[("RSS_API__TOKEN", placeholder)]);
    assert!(said.contains("RSS_API__TOKEN is a placeholder"), "{said}");
    assert!(
        !said.contains(placeholder),
        "the token is never shown: {said}"
    );

    let said = refused_in_prod(&[("RSS_API__TOKEN", "s3cret-token")]);
    assert!(said.contains("RSS_API__TOKEN is 12 bytes"), "{said}");
    assert!(said.contains("at least 32"), "{said}");

    // A good token, but no certificates: the API would be plain HTTP.
    let said = refused_in_prod(&[("RSS_API__TOKEN", "q7RxkQ2m9VvB3yT8ZcL1pN4sW6hJ0aFdX")]);
    assert!(said.contains("RSS_TLS__CA"), "{said}");
}

#[tokio::test]
async fn a_password_change_and_an_account_deletion_go_through_the_api_and_refuse_bad_input() {
    let api = spawn_api().await;
    let (client, root) = (&api.client, &api.root);
    let old = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$b2xk";
    let new = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$bmV3";
    client
        .create_account(
            root,
            &NewAccount {
                user: "ann".to_owned(),
                password_hash: old.to_owned(),
            },
        )
        .await
        .expect("create")
        .expect("new");
    let change = |hash: &str| PasswordChange {
        password_hash: hash.to_owned(),
    };
    assert!(
        client
            .set_password(root, "ann", &change(new))
            .await
            .expect("change")
    );
    let account = client.account(root, "ann").await.expect("read");
    assert_eq!(account.map(|a| a.password_hash).as_deref(), Some(new));
    assert!(
        !client
            .set_password(root, "nobody", &change(new))
            .await
            .expect("change"),
        "no such account: 404"
    );
    for (user, hash) in [
        ("ann", ""),
        ("ann", "with space"),
        ("ann", &"x".repeat(100_000)),
        ("not a name", new),
    ] {
        let refused = client.set_password(root, user, &change(hash)).await;
        assert!(
            matches!(
                refused,
                Err(CallError::Rejected { status, .. })
                    if status == StatusCode::BAD_REQUEST || status == StatusCode::PAYLOAD_TOO_LARGE
            ),
            "{user}: {refused:?}"
        );
    }
    assert_eq!(
        client
            .account(root, "ann")
            .await
            .expect("read")
            .map(|a| a.password_hash)
            .as_deref(),
        Some(new),
        "a refused change changes nothing"
    );

    assert!(client.delete_account(root, "ann").await.expect("delete"));
    assert_eq!(client.account(root, "ann").await.expect("read"), None);
    assert!(
        !client.delete_account(root, "ann").await.expect("delete"),
        "deleting again: 404"
    );
    let bad = client.delete_account(root, "not a name").await;
    assert_eq!(rejected_status(bad), StatusCode::BAD_REQUEST);
}
