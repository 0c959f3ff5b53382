//! The reading view and the compact list in a real browser (headless chromium over
//! WebDriver, as `browser.rs`): keys move between items and change their state, the podcast
//! player plays the episode's file, and the list style sticks.

#![allow(clippy::unwrap_used)]

use middletier::testing::FeedPublisher;
use serde_json::{Value, json};

use crate::reading::PODCAST;
use crate::support::webdriver::{Error, Session};
use crate::support::{Browser, System, eventually};

/// The page's `<h1>` text, whitespace collapsed.
async fn heading(browser: &Session) -> String {
    let text = browser.find("h1").await.unwrap().text().await.unwrap();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Waits until the reading view of the item titled `title` is shown.
async fn reading(browser: &Session, title: &str) {
    eventually(&format!("the reading view of {title:?}"), || async {
        browser
            .current_url()
            .await
            .is_ok_and(|url| url.contains("/items/"))
            && browser
                .find_all("article[data-reading]")
                .await
                .is_ok_and(|a| a.len() == 1)
            && heading(browser).await == title
    })
    .await;
}

async fn shown(browser: &Session, selector: &str) -> Value {
    browser
        .execute(&format!(
            "return !document.querySelector('{selector}').hidden"
        ))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reading_view_moves_with_j_and_k_marks_with_m_stars_with_s_and_plays_the_episode()
-> Result<(), Error> {
    let publisher = FeedPublisher::start().await;
    publisher.set_switch(200, PODCAST);
    let system = System::start(1).await;
    let reader = Browser::new(&system.edge);
    reader.subscribe(&publisher.url("/switch.xml")).await;
    eventually("the episodes are in the river", || async {
        reader.home().await.html.matches("data-item").count() == 3
    })
    .await;
    let edge = system.edge.url();
    let browser = Session::start().await?;
    browser.goto(&format!("{edge}/?filter=all")).await?;

    // In the river, o reads the current item here.
    browser.keys("jo").await?;
    reading(&browser, "Episode three").await;
    assert!(
        browser.current_url().await?.ends_with("?filter=all"),
        "the list comes along"
    );
    assert!(
        browser.find_all("audio").await?.is_empty(),
        "its javascript: file is not shown"
    );

    // j: the next item of the list, with its player.
    browser.keys("j").await?;
    reading(&browser, "Episode <b>two</b>").await;
    let player = browser
        .execute(
            "const a = document.querySelector('article[data-reading] audio');
             return { src: a.src, controls: a.controls, preload: a.preload,
                      author: document.querySelector('.item-author').textContent };",
        )
        .await?;
    assert_eq!(
        player,
        json!({ "src": "https://cdn.pod.example/e2.mp3?a=1&b=2", "controls": true,
                "preload": "none", "author": "Ann \"the host\"" })
    );
    assert_eq!(
        shown(&browser, ".state-unread").await,
        json!(false),
        "opened: read"
    );

    // k goes back, j forward again.
    browser.keys("k").await?;
    reading(&browser, "Episode three").await;
    browser.keys("j").await?;
    reading(&browser, "Episode <b>two</b>").await;

    // m: unread again (in place, and on the server); s: starred.
    browser.keys("m").await?;
    eventually("m marks it unread", || async {
        shown(&browser, ".state-unread").await == json!(true)
    })
    .await;
    browser.keys("s").await?;
    eventually("s stars it", || async {
        shown(&browser, ".state-starred").await == json!(true)
    })
    .await;
    let unread = reader.home().await.html;
    assert!(
        unread.contains("Episode &#60;b&#62;two"),
        "unread on the server: {unread}"
    );
    let starred = reader
        .get("/?filter=starred")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(starred.matches("data-item").count(), 1, "{starred}");
    let errors: Vec<_> = browser
        .console()
        .await?
        .into_iter()
        .filter(|entry| entry.level == "SEVERE")
        .collect();
    assert!(
        errors.is_empty(),
        "the reading view logged errors: {errors:#?}"
    );

    // v opens the original article.
    browser.keys("v").await?;
    eventually("v opens the original", || async {
        browser
            .current_url()
            .await
            .is_ok_and(|url| url == "http://publisher.test/e2")
    })
    .await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compact_list_toggle_shows_titles_and_a_line_each_until_switched_back()
-> Result<(), Error> {
    let publisher = FeedPublisher::start().await;
    publisher.set_switch(200, PODCAST);
    let system = System::start(1).await;
    let reader = Browser::new(&system.edge);
    reader.subscribe(&publisher.url("/switch.xml")).await;
    eventually("the episodes are in the river", || async {
        reader.home().await.html.matches("data-item").count() == 3
    })
    .await;
    let browser = Session::start().await?;
    browser.goto(&format!("{}/", system.edge.url())).await?;
    assert_eq!(
        browser.find_all("ol.items audio").await?.len(),
        1,
        "the river plays audio"
    );

    browser
        .find("form.list-style button")
        .await?
        .click()
        .await?;
    eventually("the compact list", || async {
        browser
            .find_all("ol.items.compact")
            .await
            .is_ok_and(|l| l.len() == 1)
    })
    .await;
    assert_eq!(browser.find_all(".excerpt").await?.len(), 3);
    assert!(browser.find_all("ol.items .description").await?.is_empty());
    // It sticks: a new visit shows the compact list too.
    browser
        .goto(&format!("{}/?filter=all", system.edge.url()))
        .await?;
    assert_eq!(browser.find_all("ol.items.compact").await?.len(), 1);

    browser
        .find("form.list-style button")
        .await?
        .click()
        .await?;
    eventually("full items again", || async {
        browser
            .find_all("ol.items .description")
            .await
            .is_ok_and(|d| d.len() == 3)
    })
    .await;
    Ok(())
}
