//! The reading view (`/items/{number}`) and the compact list (kept with the account) over
//! real HTTP, against the real registry, middle tier and edge on loopback, with a podcast feed
//! whose author, title and enclosures are hostile.

#![allow(clippy::unwrap_used)]

use middletier::testing::FeedPublisher;
use reqwest::StatusCode;

use crate::support::{Browser, Service, System, answer, eventually};

/// Three episodes, newest first; the second with a hostile author and title, the first with
/// an enclosure whose address is `javascript:`.
pub(crate) const PODCAST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>
  <title>Loopback Pod</title><link>http://publisher.test/</link><description>Pod</description>
  <item><title>Episode three</title><link>http://publisher.test/e3</link><guid>e3</guid>
    <pubDate>Thu, 12 Jun 2025 04:00:00 GMT</pubDate>
    <enclosure url="javascript:alert(1)" type="audio/mpeg" length="1"/>
    <description>Third</description></item>
  <item><title>Episode &lt;b&gt;two&lt;/b&gt;</title><link>http://publisher.test/e2</link><guid>e2</guid>
    <pubDate>Wed, 11 Jun 2025 04:00:00 GMT</pubDate>
    <author>host@pod.example (&lt;script&gt;alert('author')&lt;/script&gt;Ann "the host")</author>
    <itunes:summary>Second</itunes:summary>
    <itunes:duration>1:02:03</itunes:duration>
    <enclosure url="https://cdn.pod.example/e2.mp3?a=1&amp;b=2" type="audio/mpeg" length="12345678"/>
    <description>&lt;p&gt;Show &lt;b&gt;notes&lt;/b&gt;&lt;script&gt;alert(2)&lt;/script&gt;&lt;/p&gt;</description></item>
  <item><title>Episode one</title><link>http://publisher.test/e1</link><guid>e1</guid>
    <pubDate>Tue, 10 Jun 2025 04:00:00 GMT</pubDate>
    <description>First</description></item>
</channel></rss>"#;

/// Ann's river with the podcast's three episodes; the publisher and system stay up.
pub(crate) async fn ann_with_podcast() -> (FeedPublisher, System, Browser) {
    let publisher = FeedPublisher::start().await;
    publisher.set_switch(200, PODCAST);
    let system = System::start_with_accounts(1).await;
    let ann = Browser::signed_up(&system.edge, "ann").await;
    ann.subscribe(&publisher.url("/switch.xml")).await;
    eventually("the episodes are in the river", || async {
        ann.home().await.html.matches("data-item").count() == 3
    })
    .await;
    (publisher, system, ann)
}

/// The reading-view addresses on a river page, in order, unescaped.
pub(crate) fn reading_links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| href.starts_with("/items/") && !href.starts_with("/items/open"))
        .map(|href| href.replace("&amp;", "&").replace("&#38;", "&"))
        .collect()
}

/// `path` as the reader's own page asks for it (which may mark the item read).
pub(crate) async fn open(edge: &Service, reader: &Browser, path: &str) -> crate::support::Answer {
    answer(
        reader
            .get(path)
            .header("Sec-Fetch-Site", "same-origin")
            .header("Referer", format!("{}/", edge.url())),
    )
    .await
}

#[tokio::test]
async fn the_reading_view_shows_the_whole_item_escaped_with_its_player_and_marks_it_read() {
    let (_publisher, system, ann) = ann_with_podcast().await;
    let links = reading_links(&ann.home().await.html);
    assert_eq!(links.len(), 3, "{links:?}");

    let page = open(&system.edge, &ann, &links[1]).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = &page.html;
    assert!(
        html.contains(r#"id="reading-title">Episode &#60;b&#62;two&#60;/b&#62;</h1>"#),
        "the title is escaped text: {html}"
    );
    assert!(html.contains("Loopback Pod"), "the feed's title");
    assert!(
        html.contains(r#"<span class="item-author">Ann &#34;the host&#34;</span>"#),
        "the author is plain, escaped text: {html}"
    );
    assert!(
        !html.contains("alert("),
        "no script from the feed reaches the page"
    );
    assert!(
        html.contains("Show <b>notes</b>"),
        "the whole sanitized description"
    );
    assert!(
        html.contains(
            r#"<audio controls preload="none" src="https://cdn.pod.example/e2.mp3?a=1&#38;b=2"></audio>"#
        ),
        "an audio player for the episode: {html}"
    );
    assert!(html.contains("12.3 MB · 1:02:03"), "its size and length");
    assert!(
        html.contains("/items/open?"),
        "the original, through the reader"
    );
    // Opening it marked it read: the unread river lists the two others.
    let home = ann.home().await.html;
    assert_eq!(home.matches("data-item").count(), 2, "{home}");
    assert!(!home.contains("Episode &#60;b&#62;two"), "{home}");

    // The first episode's javascript: enclosure is never shown, not even as a link.
    let first = open(&system.edge, &ann, &format!("{}?keep_unread=1", links[0])).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(!first.html.contains("javascript:"), "{}", first.html);
    assert!(!first.html.contains("<audio"), "{}", first.html);
    // keep_unread=1 leaves it unread.
    assert_eq!(ann.home().await.html.matches("data-item").count(), 2);
}

#[tokio::test]
async fn another_users_item_number_is_not_found_and_changes_nothing() {
    let (_publisher, system, ann) = ann_with_podcast().await;
    let links = reading_links(&ann.home().await.html);
    let bob = Browser::signed_up(&system.edge, "bob").await;
    for path in [
        links[0].as_str(),
        "/items/1",
        "/items/not-a-number",
        "/items/-1",
    ] {
        let page = open(&system.edge, &bob, path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.html.contains("no such item"), "{path}: {}", page.html);
    }
    assert_eq!(
        ann.home().await.html.matches("data-item").count(),
        3,
        "bob's look marked nothing of ann's read"
    );
    // Signed out: the sign-in page, not the item.
    let anonymous =
        answer(crate::support::no_redirects().get(format!("{}{}", system.edge.url(), links[0])))
            .await;
    assert!(anonymous.status.is_redirection(), "{}", anonymous.status);
}

#[tokio::test]
async fn previous_and_next_follow_the_list_the_item_was_opened_from() {
    let (_publisher, system, ann) = ann_with_podcast().await;
    let all = ann
        .get("/?filter=all")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let links = reading_links(&all);
    assert_eq!(links.len(), 3, "{links:?}");
    assert!(
        links.iter().all(|link| link.ends_with("?filter=all")),
        "{links:?}"
    );

    let middle = open(&system.edge, &ann, &links[1]).await.html;
    let escaped = |link: &str| link.replace('&', "&#38;");
    assert!(
        middle.contains(&format!(r#"href="{}" rel="prev""#, escaped(&links[0]))),
        "previous is the newer episode: {middle}"
    );
    assert!(
        middle.contains(&format!(r#"href="{}" rel="next""#, escaped(&links[2]))),
        "next is the older episode: {middle}"
    );
    assert!(
        middle.contains(r#"href="/?filter=all" data-list"#),
        "{middle}"
    );
    let last = open(&system.edge, &ann, &links[2]).await.html;
    assert!(
        !last.contains(r#"rel="next""#),
        "the last item has no next: {last}"
    );
    assert!(last.contains(r#"rel="prev""#), "{last}");
}

#[tokio::test]
async fn the_compact_list_is_a_choice_the_account_keeps() {
    let (_publisher, system, ann) = ann_with_podcast().await;
    let full = ann.home().await.html;
    assert!(
        full.contains("<audio controls preload=\"none\""),
        "the river plays audio"
    );
    assert!(!full.contains("items compact"));

    let chosen = answer(
        crate::support::no_redirects()
            .post(format!("{}/settings/view", system.edge.url()))
            .header("Origin", system.edge.url())
            .header("Sec-Fetch-Site", "same-origin")
            .header("Cookie", ann.cookie.clone().unwrap())
            .form(&[("view", "compact"), ("back", "/?filter=all")]),
    )
    .await;
    assert_eq!(chosen.status, StatusCode::SEE_OTHER);
    assert_eq!(chosen.location.as_deref(), Some("/?filter=all"));
    assert!(
        chosen.set_cookie.is_empty(),
        "no cookie: {:?}",
        chosen.set_cookie
    );

    // Kept with the account: another browser of ann's, signed in afresh, sees it.
    let elsewhere = Browser {
        cookie: crate::accounts::cookie_of(
            &crate::accounts::sign_in(&system.edge, "ann", &crate::support::password_for("ann"))
                .await,
        )
        .into(),
        ..Browser::new(&system.edge)
    };
    let html = elsewhere.home().await.html;
    assert!(html.contains("items compact"), "{html}");
    assert!(
        html.contains(r#"<p class="excerpt">Show notes</p>"#),
        "one line of text: {html}"
    );
    assert!(!html.contains("<audio"), "no players in the compact list");
    assert!(
        !html.contains("<b>notes</b>"),
        "no markup in the compact list"
    );

    let refused = answer(
        crate::support::no_redirects()
            .post(format!("{}/settings/view", system.edge.url()))
            .header("Origin", system.edge.url())
            .header("Sec-Fetch-Site", "same-origin")
            .header("Cookie", ann.cookie.clone().unwrap())
            .form(&[("view", "<script>")]),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(!refused.html.contains("<script>"), "{}", refused.html);
}
