//! Search at the edge over real HTTP on loopback: the search box on every reader page, the
//! results page (matches in `<mark>`, feed text escaped), what a reader sees when no middle
//! tier answers (a clear "unavailable", never stale results), hostile input; and a reader
//! searching in a real browser.

#![allow(clippy::unwrap_used)]

use middletier::testing::FeedPublisher;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::webdriver::{Error, Session};
use crate::support::{Browser, System, eventually};

async fn page(browser: &Browser, path: &str) -> (StatusCode, String) {
    let response = browser.get(path).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn without_a_middle_tier_search_says_it_is_unavailable_and_shows_no_results() {
    let system = System::start(0).await;
    let browser = Browser::new(&system.edge);

    let (_, home) = page(&browser, "/").await;
    assert!(
        home.contains(r#"id="search-box""#),
        "the box is in the header: {home}"
    );

    let (status, html) = page(&browser, "/search?q=rust").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(html.contains("Search is unavailable right now"), "{html}");
    assert!(
        !html.contains("<ol class=\"items results\""),
        "no results pretend to be fresh"
    );
}

#[tokio::test]
async fn hostile_search_input_is_refused_or_shown_as_text() {
    let system = System::start(0).await;
    let browser = Browser::new(&system.edge);

    let long = "a".repeat(257);
    let (status, html) = page(&browser, &format!("/search?q={long}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("at most 256 characters"), "{html}");

    for bad in ["filter=read", "order=random"] {
        let (status, _) = page(&browser, &format!("/search?q=x&{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }

    // What was typed comes back in the box and the heading as text, never as markup.
    let typed = "%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E%3Cimg+src%3Dx+onerror%3Dalert(2)%3E";
    let (_, html) = page(&browser, &format!("/search?q={typed}")).await;
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(html.contains("&#60;script&#62;alert(1)"), "{html}");
}

#[tokio::test]
async fn results_mark_the_matched_words_and_show_feed_markup_as_text() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/xss.xml")).await;
    browser.subscribe(&publisher.url("/rss.xml")).await;

    eventually("the search finds the hostile title", || async {
        let (status, html) = page(&browser, "/search?q=script+-links").await;
        status == StatusCode::OK && html.contains("<mark>script</mark>")
    })
    .await;
    let (_, html) = page(&browser, "/search?q=script+-links").await;
    assert!(
        html.contains("XSS <mark>script</mark> &#60;<mark>script</mark>&#62;"),
        "{html}"
    );
    assert!(!html.contains("<script>document.title"), "{html}");

    let (_, html) = page(&browser, "/search?q=%22first+story%22").await;
    assert!(html.contains("RSS <mark>first story</mark>"), "{html}");
    assert!(!html.contains("second story"), "{html}");

    let (_, html) = page(&browser, "/search?q=zebra").await;
    assert!(html.contains("Nothing in your feeds matches"), "{html}");
}

/// The reader in headless Chromium (see [`crate::browser`]): `/` from the river goes to the
/// search box, a typed query with a phrase and an excluded word finds only the right items,
/// matched words highlighted, and a feed's markup in titles is shown as text, never run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_presses_slash_types_a_search_and_sees_only_the_matches_highlighted()
-> Result<(), Error> {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let edge = system.edge.url();
    let reader = Browser::new(&system.edge);
    for feed in ["/rss.xml", "/atom.xml", "/xss.xml"] {
        reader.subscribe(&publisher.url(feed)).await;
    }
    let browser = Session::start().await?;
    browser.goto(&format!("{edge}/?filter=all")).await?;

    browser.keys("/").await?;
    assert_eq!(
        browser.execute("return document.activeElement.id").await?,
        json!("search-box"),
        "/ focuses the search box"
    );
    browser.keys("story -plain \"rss first\"\u{E007}").await?;
    eventually("the results page opens", || async {
        browser
            .current_url()
            .await
            .is_ok_and(|url| url.contains("/search?q="))
    })
    .await;
    let titles = result_titles(&browser).await?;
    assert_eq!(
        titles,
        ["RSS first story"],
        "the phrase leaves out Atom story"
    );
    assert_eq!(marks(&browser).await?, ["RSS first", "story"]);
    // Without the phrase, the excluded word still leaves out the item that has it.
    browser
        .goto(&format!("{edge}/search?q=story+-plain"))
        .await?;
    let mut titles = result_titles(&browser).await?;
    titles.sort();
    assert_eq!(titles, ["Atom story", "RSS first story"]);

    // Hostile titles: shown as text, matched words still marked, nothing run.
    browser.goto(&format!("{edge}/search?q=script")).await?;
    let titles = result_titles(&browser).await?;
    assert!(
        titles.iter().any(|title| title.starts_with("XSS script")),
        "{titles:?}"
    );
    assert!(
        marks(&browser)
            .await?
            .iter()
            .all(|mark| mark.eq_ignore_ascii_case("script"))
    );
    assert!(
        browser
            .find_all(".results script, .results img")
            .await?
            .is_empty()
    );
    assert_eq!(
        browser
            .execute("return [document.title.includes('pwned'), window.__xss === undefined]")
            .await?,
        json!([false, true])
    );
    Ok(())
}

async fn result_titles(browser: &Session) -> Result<Vec<String>, Error> {
    let mut titles = Vec::new();
    for title in browser.find_all(".results .item-title").await? {
        titles.push(title.text().await?);
    }
    Ok(titles)
}

async fn marks(browser: &Session) -> Result<Vec<String>, Error> {
    let mut marks = Vec::new();
    for mark in browser.find_all(".results .item-title mark").await? {
        marks.push(mark.text().await?);
    }
    Ok(marks)
}
