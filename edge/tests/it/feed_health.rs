//! The feed health page (`/subscriptions/health`) and "Check now", through the whole system:
//! publishers on loopback that fail the ways real ones do (500, 404, a web page instead of a
//! feed, a server that never finishes answering) and then recover; the page says what went
//! wrong in plain words with what the fetcher saw, and "Check now" fetches the feed at once.
//! Checks are bounded per user and feed, only for the user's own feeds, and the page escapes
//! what publishers send. One test drives it in a real browser.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use middletier::store::{MemoryStore, Store};
use middletier::testing::{Answer, Site};
use middletier_api::limits::MAX_URL_LEN;
use reqwest::StatusCode;

use crate::support::webdriver::{Error, Session};
use crate::support::{Browser, Page, System, eventually};

const FEED: &str = "/feed.xml";

fn rss(title: &str) -> Answer {
    Answer::text(
        "application/rss+xml",
        format!(
            "<rss version=\"2.0\"><channel><title>{title}</title><link>http://example.com/</link>\
             <item><title>A story</title><link>http://example.com/1</link><guid>1</guid>\
             </item></channel></rss>"
        ),
    )
}

/// A site whose feed, titled `title`, works.
async fn site(title: &str) -> Site {
    let answer = rss(title);
    Site::start(move |_| vec![(FEED, answer)]).await
}

/// A system whose middle tier never refreshes a feed on its own while a test runs (so only
/// "Check now" changes what the page shows), fetches with a 1 s timeout, and allows a check
/// every `check_now_interval`.
async fn system(check_now_interval: Duration, accounts: bool) -> System {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    System::start_tuned(
        vec![store],
        move |middletier| {
            middletier.refresh.interval = Duration::from_secs(3600);
            middletier.refresh.min_interval = Duration::from_secs(3600);
            middletier.refresh.max_interval = Duration::from_secs(3600);
            middletier.refresh.check_now_interval = check_now_interval;
            middletier.fetch.timeout = Duration::from_secs(1);
        },
        |edge| edge.accounts.single_user = !accounts,
    )
    .await
}

async fn check_now(reader: &Browser, url: &str) -> (Page, Option<String>) {
    let response = reader
        .post("/subscriptions/health/check")
        .form(&[("url", url)])
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    let page = Page {
        status: response.status(),
        html: response.text().await.unwrap(),
    };
    (page, retry_after)
}

async fn health(reader: &Browser) -> Page {
    let response = reader.get("/subscriptions/health").send().await.unwrap();
    Page {
        status: response.status(),
        html: response.text().await.unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_way_a_feed_fails_is_explained_and_check_now_clears_it_once_the_publisher_recovers() {
    let system = system(Duration::from_millis(1), false).await;
    let reader = Browser::new(&system.edge);
    // (what the publisher does, words of the error, words of the advice, HTTP status shown)
    let failures = [
        (Answer::Status(500), "500", "server is failing", Some(500)),
        (Answer::Status(404), "404", "not at this address", Some(404)),
        (
            Answer::text(
                "text/html",
                "<!doctype html><html><head><title>Home</title></head><body>Hi</body></html>",
            ),
            "HTML",
            "web page, not a feed",
            Some(200),
        ),
        (Answer::Slow, "did not answer within", "too slow", None),
    ];
    for (failure, error, advice, status) in failures {
        let site = site("Wobbly").await;
        let url = site.url(FEED);
        assert_eq!(reader.subscribe(&url).await.status, StatusCode::OK);
        let page = health(&reader).await;
        assert!(page.html.contains("All good"), "{}", page.html);

        site.set(FEED, failure);
        let (page, _) = check_now(&reader, &url).await;
        assert_eq!(page.status, StatusCode::OK, "{error}: {}", page.html);
        let html = page.html;
        assert!(
            html.contains("Checked “Wobbly” just now: it still fails"),
            "{html}"
        );
        assert!(html.contains(error), "{error}: {html}");
        assert!(html.contains(advice), "{advice}: {html}");
        assert!(html.contains("Failures in a row</dt><dd>1</dd>"), "{html}");
        assert!(
            html.contains("Last success</dt><dd>just now</dd>"),
            "{html}"
        );
        // Not before the next scheduled refresh, an hour on in this system.
        assert!(
            html.contains("Next check</dt><dd>in 59 minutes</dd>")
                || html.contains("Next check</dt><dd>in 1 hour</dd>"),
            "{html}"
        );
        match status {
            Some(code) => assert!(html.contains(&format!("HTTP status</dt><dd>{code}</dd>"))),
            None => assert!(!html.contains("HTTP status"), "{html}"),
        }
        assert!(
            html.contains(&format!("value=\"{url}\"")),
            "a Check now form"
        );
        // Pointed to from the reader and from Manage feeds.
        let home = reader.home().await.html;
        assert!(home.contains("1 feed could not be read: see why"), "{home}");
        let manage = reader
            .get("/subscriptions")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(manage.contains("1 feed could not be read."), "{manage}");
        assert!(
            manage.contains(r#"<form method="post" action="/subscriptions/health/check">"#),
            "Check now on each feed of Manage feeds: {manage}"
        );

        site.set(FEED, rss("Wobbly"));
        let (page, _) = check_now(&reader, &url).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.html.contains("Checked “Wobbly” just now: it works."),
            "{}",
            page.html
        );
        assert!(page.html.contains("All good"), "{}", page.html);
        assert!(!page.html.contains("Failures in a row"), "{}", page.html);
        reader.unsubscribe(&url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_now_is_bounded_per_feed_and_only_for_the_users_own_feeds() {
    let system = system(Duration::from_secs(30), true).await;
    let alice = Browser::signed_up(&system.edge, "alice-health").await;
    let bob = Browser::signed_up(&system.edge, "bob-health").await;
    let hers = site("Hers").await;
    let url = hers.url(FEED);
    alice.subscribe(&url).await;
    let fetched = hers.requests(FEED);

    let (first, _) = check_now(&alice, &url).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.html);
    assert_eq!(hers.requests(FEED), fetched + 1);
    // Again at once: refused with the wait, and the publisher is not asked.
    let (again, retry_after) = check_now(&alice, &url).await;
    assert_eq!(
        again.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        again.html
    );
    assert!(
        again.html.contains("You checked this feed moments ago"),
        "{}",
        again.html
    );
    let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    assert_eq!(hers.requests(FEED), fetched + 1);

    // Bob does not subscribe to it: refused, not fetched, and his limit is his own anyway.
    let (refused, _) = check_now(&bob, &url).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
    assert!(refused.html.contains("not subscribed"), "{}", refused.html);
    assert_eq!(hers.requests(FEED), fetched + 1);

    // Hostile input: nothing subscribed, a URL far over the limit, no URL at all.
    let (nobodys, _) = check_now(&alice, "http://127.0.0.1:9/nobody.xml").await;
    assert_eq!(nobodys.status, StatusCode::BAD_REQUEST, "{}", nobodys.html);
    let huge = format!("{url}?{}", "a".repeat(MAX_URL_LEN * 50));
    let (too_long, _) = check_now(&alice, &huge).await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
    assert!(
        too_long.html.contains("at most 2048 characters"),
        "{}",
        too_long.html
    );
    assert!(
        !too_long.html.contains(&huge[..200]),
        "the URL is not echoed"
    );
    let (empty, _) = check_now(&alice, "").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);

    // A post from another site is refused before anything runs.
    let forged = crate::support::http()
        .post(format!("{}/subscriptions/health/check", system.edge.url()))
        .header("Origin", "http://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("url", url.as_str())])
        .send()
        .await
        .unwrap();
    assert!(forged.status().is_client_error(), "{}", forged.status());
    assert_eq!(hers.requests(FEED), fetched + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_failing_publisher_sends_is_shown_as_text() {
    let system = system(Duration::from_millis(1), false).await;
    let reader = Browser::new(&system.edge);
    let title = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let hostile = site(title).await;
    let url = hostile.url(FEED);
    reader.subscribe(&url).await;
    hostile.set(FEED, Answer::Status(503));
    let (page, _) = check_now(&reader, &url).await;
    let html = page.html;
    assert!(html.contains("Failures in a row"), "{html}");
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(html.contains("&#60;script&#62;alert(1)"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_the_health_page_lists_a_failing_feed_and_check_now_fixes_it()
-> Result<(), Error> {
    let system = system(Duration::from_millis(1), false).await;
    let reader = Browser::new(&system.edge);
    let site = site("Flaky Weekly").await;
    let url = site.url(FEED);
    reader.subscribe(&url).await;
    site.set(FEED, Answer::Status(500));
    let (page, _) = check_now(&reader, &url).await;
    assert!(page.html.contains("it still fails"), "{}", page.html);

    let browser = Session::start().await?;
    let edge = system.edge.url();
    // From the reader's sidebar notice to the page.
    browser.goto(&format!("{edge}/")).await?;
    browser.find(".sidebar-notice a").await?.click().await?;
    eventually("the health page opens", || async {
        browser
            .current_url()
            .await
            .is_ok_and(|at| at.ends_with("/subscriptions/health"))
    })
    .await;
    let text = browser.text().await?;
    assert!(text.contains("Flaky Weekly"), "{text}");
    assert!(text.contains("server is failing"), "{text}");
    // Readable in both themes (WCAG AA contrast); kept in target/screenshots/.
    crate::browser::shoot(&browser, "feed-health").await?;

    site.set(FEED, rss("Flaky Weekly"));
    browser.find("button.check-now").await?.click().await?;
    eventually("the check's result is shown", || async {
        browser
            .text()
            .await
            .is_ok_and(|text| text.contains("Checked “Flaky Weekly” just now: it works."))
    })
    .await;
    assert!(browser.find_all("button.check-now").await?.is_empty());
    assert!(browser.text().await?.contains("All good"));
    Ok(())
}
