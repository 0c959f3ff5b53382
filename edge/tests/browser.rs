//! The UI in a real browser: headless chromium, driven over WebDriver, uses the edge's forms the
//! way a reader would, with the edge's real headers (CSP, CSRF checks) in force.
//!
//! Needs Debian's `chromium` and `chromium-driver`; the project's test command installs them
//! (deploy/install-test-deps.sh). Without them these tests fail rather than skip.

mod support;

use std::path::{Path, PathBuf};

use middletier::testing::FeedPublisher;
use serde_json::json;
use support::webdriver::{Error, Session};
use support::{System, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_subscribes_reads_and_unsubscribes_in_a_real_browser() -> Result<(), Error> {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Session::start().await?;

    browser.goto(&format!("{}/", system.edge.url())).await?;
    let page = browser.text().await?;
    assert!(
        page.contains("No subscriptions yet. Paste the address of a feed or of a website above"),
        "{page}"
    );

    browser
        .find("#url")
        .await?
        .send_keys(&publisher.url("/rss.xml"))
        .await?;
    browser
        .find("form.add button[type=submit]")
        .await?
        .click()
        .await?;
    eventually("the page shows the feed's items", || async {
        browser
            .text()
            .await
            .is_ok_and(|page| page.contains("RSS first story"))
    })
    .await;

    let page = browser.text().await?;
    for expected in [
        "Loopback Daily",
        "RSS second story",
        "Hello world",
        "10 Jun 2025, 04:00 UTC",
    ] {
        assert!(page.contains(expected), "missing {expected:?} in {page}");
    }
    let link = browser.find(".item h3 a").await?;
    assert_eq!(link.text().await?, "RSS first story");
    assert_eq!(
        link.attribute("href").await?.as_deref(),
        Some("http://publisher.test/rss/1")
    );
    assert_eq!(
        link.attribute("rel").await?.as_deref(),
        Some("noopener noreferrer nofollow")
    );

    // The description keeps its markup but not its script, and nothing from the feed ran.
    assert_eq!(browser.find(".description b").await?.text().await?, "world");
    assert!(browser.find_all(".description script").await?.is_empty());
    let no_dialog = browser
        .alert_text()
        .await
        .expect_err("a feed's script opened a dialog");
    assert_eq!(no_dialog.code(), Some("no such alert"), "{no_dialog}");
    // Errors here would be blocked inline code (the CSP allows none) or a missing asset.
    let errors: Vec<_> = browser
        .console()
        .await?
        .into_iter()
        .filter(|entry| entry.level == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");

    let png = browser.screenshot().await?;
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the screenshot is a PNG"
    );
    save_screenshot("reader.png", &png);

    browser
        .find(r#"button[aria-label="Unsubscribe from Loopback Daily"]"#)
        .await?
        .click()
        .await?;
    eventually("the feed is gone", || async {
        browser
            .text()
            .await
            .is_ok_and(|page| !page.contains("Loopback Daily"))
    })
    .await;
    let page = browser.text().await?;
    assert!(page.contains("No subscriptions yet"), "{page}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_url_typed_in_the_browser_shows_the_reason_and_keeps_the_input()
-> Result<(), Error> {
    let system = System::start(1).await;
    let browser = Session::start().await?;
    browser.goto(&format!("{}/", system.edge.url())).await?;

    // A URL the browser's own `type=url` check accepts, so the server is the one refusing it.
    let typed = "ftp://example.com/feed";
    browser.find("#url").await?.send_keys(typed).await?;
    browser
        .find("form.add button[type=submit]")
        .await?
        .click()
        .await?;
    eventually("the form shows why the URL was refused", || async {
        browser
            .find_all("#url-error")
            .await
            .is_ok_and(|found| !found.is_empty())
    })
    .await;

    let reason = browser.find("#url-error").await?.text().await?;
    assert_eq!(
        reason,
        "only http and https feed URLs are supported, not 'ftp:'"
    );
    let input = browser.find("#url").await?;
    assert_eq!(
        input.property("value").await?,
        json!(typed),
        "the typed URL is kept"
    );
    assert_eq!(
        input.attribute("aria-invalid").await?.as_deref(),
        Some("true")
    );
    assert!(
        browser.text().await?.contains("No subscriptions yet"),
        "nothing was subscribed"
    );
    save_screenshot("invalid-url.png", &browser.screenshot().await?);
    Ok(())
}

/// Keeps a screenshot in `target/screenshots/` for people to look at; tests don't compare it.
fn save_screenshot(name: &str, png: &[u8]) {
    let directory = screenshots_dir();
    std::fs::create_dir_all(&directory).expect("create the screenshots directory");
    std::fs::write(directory.join(name), png).expect("write the screenshot");
}

fn screenshots_dir() -> PathBuf {
    // Cargo's per-target scratch directory is `<target>/tmp`, wherever the target directory is.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent");
    target.join("screenshots")
}
