//! The whole recipe working end to end: a user subscribes through the edge's form, reads, and
//! unsubscribes, while middle tiers come and go.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use middletier::testing::FeedPublisher;
use reqwest::StatusCode;

use crate::support::{Browser, System, assert_bounded, eventually, http};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_through_the_form_shows_items_from_rss_atom_and_json_feeds() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);

    let empty = browser.home().await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(
        empty.html.contains("No subscriptions yet"),
        "{}",
        empty.html
    );

    for path in ["/rss.xml", "/atom.xml", "/feed.json"] {
        let page = browser.subscribe(&publisher.url(path)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    }
    let page = browser.home().await;
    for expected in [
        "Loopback Daily",
        "RSS first story",
        "RSS second story",
        "<b>world</b>",
        "Atom Weekly",
        "Atom story",
        "JSON Journal",
        "JSON story",
        // Titles open the article through the reader, which marks the item read on the way;
        // the link names the item, never the destination.
        "/items/open?feed=",
        r#"<time datetime="2025-06-10T04:00:00+00:00">"#,
    ] {
        assert!(
            page.html.contains(expected),
            "missing {expected:?} in {}",
            page.html
        );
    }
    assert!(
        !page.html.contains("alert(1)"),
        "feed scripts must never reach the page"
    );

    // Unsubscribing lands on the feed list, which no longer lists the feed.
    let page = browser.unsubscribe(&publisher.url("/atom.xml")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Manage feeds"), "{}", page.html);
    assert!(!page.html.contains("Atom Weekly"), "{}", page.html);
    assert!(page.html.contains("Loopback Daily"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_breaks_shows_its_error_while_the_others_render() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/switch.xml")).await;
    browser.subscribe(&publisher.url("/atom.xml")).await;

    // The publisher breaks; the background refresher notices on its next check.
    publisher.set_switch(404, "not here");
    let feeds_page = || async {
        let response = browser.get("/subscriptions").send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    };
    eventually("the feed list shows the feed's error", || async {
        feeds_page()
            .await
            .1
            .contains("This feed could not be read: the server answered 404 Not Found")
    })
    .await;
    let (status, html) = feeds_page().await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Showing the items from the last successful check"),
        "{html}"
    );
    // In the river the broken feed is flagged in the sidebar, and its items stay.
    let page = browser.home().await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("(could not be read)"), "{}", page.html);
    assert!(
        page.html.contains("RSS first story"),
        "the last good items stay"
    );
    assert!(page.html.contains("Atom story"), "the other feed renders");
    // The feed's own view says why.
    let html = browser
        .get(&format!(
            "/?feed={}",
            url::form_urlencoded::byte_serialize(publisher.url("/switch.xml").as_bytes())
                .collect::<String>()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("This feed could not be read: the server answered 404 Not Found"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_that_is_not_a_feed_is_refused_with_the_reason_and_the_input_kept() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    let typed = publisher.url("/missing.xml");
    let page = browser.subscribe(&typed).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.html.contains("the server answered 404 Not Found"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(&format!(r#"value="{typed}""#)),
        "{}",
        page.html
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_url_is_refused_with_a_message_and_the_input_kept() {
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    let page = browser.subscribe("javascript:alert(1)").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.html
            .contains("only http and https feed URLs are supported, not &#x27;javascript:&#x27;")
            || page
                .html
                .contains("only http and https feed URLs are supported, not &#39;javascript:&#39;"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(r#"value="javascript:alert(1)""#),
        "the input is kept: {}",
        page.html
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_form_posts_are_refused() {
    let system = System::start(1).await;
    let response = http()
        .post(format!("{}/subscriptions", system.edge.url()))
        .header("Sec-Fetch-Site", "cross-site")
        .header("Origin", "https://evil.example")
        .form(&[("url", "https://example.com/feed.xml")])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_request_succeeds_when_one_of_two_middletiers_dies() {
    let publisher = FeedPublisher::start().await;
    let mut system = System::start(2).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/rss.xml")).await;

    // Killed, not stopped: it stays registered, so the edge must retry on the other one.
    system.middletiers.remove(0).kill().await;
    for _ in 0..10 {
        let page = browser.home().await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.html.contains("RSS first story"), "{}", page.html);
        assert!(
            !page.html.contains("banner"),
            "no fallback was needed: {}",
            page.html
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_serves_the_stale_page_fast_when_all_middletiers_are_down() {
    let publisher = FeedPublisher::start().await;
    let mut system = System::start(2).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/rss.xml")).await;
    assert!(browser.home().await.html.contains("RSS first story"));

    for middletier in system.middletiers.drain(..) {
        middletier.kill().await;
    }
    let started = Instant::now();
    let page = browser.home().await;
    // A page that waited for a timeout (connect 2 s, `RSSGet` 10 s) would break the bound.
    assert_bounded(
        "the stale page with every middle tier down",
        started.elapsed(),
        Duration::from_secs(2),
    );
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("banner-stale"), "{}", page.html);
    assert!(
        page.html.contains("Showing your feeds as they were"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("RSS first story"),
        "the stale items are shown"
    );

    // Writes can't fall back to old data: they say so and keep what the user typed.
    let typed = publisher.url("/atom.xml");
    let page = browser.subscribe(&typed).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.html.contains("Your change was not saved"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(&format!(r#"value="{typed}""#)),
        "{}",
        page.html
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_with_no_earlier_page_gets_an_error_banner_when_no_middletier_is_registered() {
    let system = System::start(0).await;
    let page = Browser::new(&system.edge).home().await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.html
            .contains("Your feeds can&#x27;t be shown right now")
            || page
                .html
                .contains("Your feeds can&#39;t be shown right now"),
        "{}",
        page.html
    );
    assert!(page.html.contains("banner-error"));
}

/// The `/items/open?feed=…&item=…` link of the item titled `title` on `html`, unescaped.
fn open_link(html: &str, title: &str) -> String {
    let end = html
        .find(&format!("data-open>{title}<"))
        .expect("the item has an open link");
    let start = html[..end].rfind("href=\"").expect("an href") + "href=\"".len();
    let link = &html[start..end];
    link[..link.find('"').expect("a closing quote")]
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_an_item_marks_it_read_but_a_link_from_another_site_neither_marks_nor_redirects() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/rss.xml")).await;
    let home = browser.home().await.html;
    assert_eq!(home.matches("data-item").count(), 2, "{home}");
    let open = open_link(&home, "RSS first story");
    let client = crate::support::no_redirects();

    // Another site linking (or framing a redirect to) the open link: a page with the link.
    let response = client
        .get(format!("{}{open}", browser.base))
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(r#"href="http://publisher.test/rss/1" rel="noopener noreferrer nofollow""#),
        "{html}"
    );
    assert_eq!(
        browser.home().await.html.matches("data-item").count(),
        2,
        "still unread"
    );

    // Our own page's link: marked read, then on to the article.
    let response = client
        .get(format!("{}{open}", browser.base))
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "http://publisher.test/rss/1"
    );
    let home = browser.home().await.html;
    assert_eq!(home.matches("data-item").count(), 1, "{home}");
    assert!(!home.contains("RSS first story"), "{home}");

    // The destination is the feed's link for the item, whatever the request says.
    let hostile = format!("{open}&to=javascript%3Aalert(1)");
    let response = client
        .get(format!("{}{hostile}", browser.base))
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "http://publisher.test/rss/1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_state_forms_come_back_to_the_page_and_never_to_another_site() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/rss.xml")).await;
    let feed = publisher.url("/rss.xml");
    let home = browser.home().await.html;
    let item = {
        let start = home.find(r#"name="item" value=""#).expect("an item form")
            + r#"name="item" value=""#.len();
        home[start..start + home[start..].find('"').unwrap()]
            .replace("&amp;", "&")
            .replace("&#38;", "&")
    };
    let client = crate::support::no_redirects();
    let post = |form: Vec<(&'static str, String)>| {
        client
            .post(format!("{}/items/state", browser.base))
            .header("Origin", browser.base.clone())
            .header("Sec-Fetch-Site", "same-origin")
            .form(&form)
            .send()
    };

    let response = post(vec![
        ("feed", feed.clone()),
        ("item", item.clone()),
        ("starred", "true".into()),
        ("back", "/?filter=all".into()),
    ])
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/?filter=all");
    let starred = browser.get("/?filter=starred").send().await.unwrap();
    assert_eq!(
        starred.text().await.unwrap().matches("data-item").count(),
        1
    );

    for hostile in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let response = post(vec![
            ("feed", feed.clone()),
            ("item", item.clone()),
            ("read", "true".into()),
            ("back", hostile.into()),
        ])
        .await
        .unwrap();
        assert_eq!(response.headers()["location"], "/", "{hostile}");
    }

    // reader.js asks for JSON and gets the change back instead of a redirect.
    let response = client
        .post(format!("{}/items/state", browser.base))
        .header("Origin", browser.base.clone())
        .header("Sec-Fetch-Site", "same-origin")
        .header("Accept", "application/json")
        .form(&[("feed", feed.as_str()), ("item", &item), ("read", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let change: serde_json::Value = response.json().await.unwrap();
    assert_eq!(change["read"], false);

    // A nonsense value is refused with the reason.
    let response = post(vec![
        ("feed", feed.clone()),
        ("item", item.clone()),
        ("read", "maybe".into()),
    ])
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("read must be true or false")
    );
}

/// The value of the first hidden field `name` on `html`.
fn field(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker).expect("the field is on the page") + marker.len();
    html[start..start + html[start..].find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_category_gets_its_own_view_and_mark_all_as_read_covers_just_it() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/rss.xml")).await;
    browser.subscribe(&publisher.url("/atom.xml")).await;
    let client = crate::support::no_redirects();
    let post = |path: &str, form: Vec<(&'static str, String)>| {
        client
            .post(format!("{}{path}", browser.base))
            .header("Origin", browser.base.clone())
            .header("Sec-Fetch-Site", "same-origin")
            .form(&form)
            .send()
    };

    let response = post(
        "/subscriptions/category",
        vec![
            ("url", publisher.url("/rss.xml")),
            ("category", "  News ".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let manage = browser.get("/subscriptions").send().await.unwrap();
    assert!(manage.text().await.unwrap().contains(r#"value="News""#));
    let home = browser.home().await.html;
    assert!(
        home.contains(r#"<a href="/?category=News">News"#),
        "the sidebar groups the feed under its category: {home}"
    );

    let news = browser.get("/?category=News").send().await.unwrap();
    let news = news.text().await.unwrap();
    assert_eq!(news.matches("data-item").count(), 2, "{news}");
    assert!(!news.contains("Atom story"), "{news}");
    assert!(news.contains("Mark all in News as read"), "{news}");

    let response = post(
        "/items/read",
        vec![
            ("category", field(&news, "category")),
            ("up_to", field(&news, "up_to")),
            ("back", "/?category=News".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/?category=News");
    let home = browser.home().await.html;
    assert_eq!(
        home.matches("data-item").count(),
        1,
        "only the other category's item is still unread: {home}"
    );
    assert!(home.contains("Atom story"));

    // A time that is not one is refused, and nothing changes.
    let response = post("/items/read", vec![("up_to", "yesterday".into())])
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(browser.home().await.html.matches("data-item").count(), 1);

    let response = post(
        "/items/read",
        vec![("up_to", field(&home, "up_to")), ("back", "/".into())],
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let home = browser.home().await.html;
    assert!(home.contains("Nothing unread here"), "{home}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mark_all_as_read_leaves_items_that_arrived_after_the_page_was_shown_unread() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/switch.xml")).await;
    let shown = browser.home().await.html;
    assert_eq!(shown.matches("data-item").count(), 2, "{shown}");

    // While the reader reads, the feed publishes a new story and the refresher fetches it.
    let newer = middletier::testing::RSS.replace(
        "<item>",
        "<item><title>Late story</title><link>http://publisher.test/rss/late</link></item><item>",
    );
    publisher.set_switch(200, &newer);
    eventually("the new story arrives", || async {
        browser.home().await.html.contains("Late story")
    })
    .await;

    let response = crate::support::no_redirects()
        .post(format!("{}/items/read", browser.base))
        .header("Origin", browser.base.clone())
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("up_to", field(&shown, "up_to")), ("back", "/".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let home = browser.home().await.html;
    assert_eq!(home.matches("data-item").count(), 1, "{home}");
    assert!(home.contains("Late story"), "{home}");
}
