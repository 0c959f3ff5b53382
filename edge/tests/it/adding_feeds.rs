//! Adding feeds the way people do, through the edge: a website address with several feeds
//! leads to a choice; OPML files import and export.

use middletier::testing::FeedPublisher;
use reqwest::StatusCode;

use crate::support::{Browser, System, eventually, http};

/// A multipart/form-data body with one file field, as a browser sends it.
fn multipart(field: &str, file_name: &str, content: &str) -> (String, String) {
    let boundary = "----rss-recipe-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n\
         Content-Type: text/x-opml\r\n\r\n{content}\r\n--{boundary}--\r\n"
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(browser: &Browser, content: &str) -> (StatusCode, String) {
    let (content_type, body) = multipart("opml", "feeds.opml", content);
    let response = http()
        .post(format!("{}/subscriptions/import", browser.base))
        .header("Content-Type", content_type)
        .header("Sec-Fetch-Site", "same-origin")
        .body(body)
        .send()
        .await
        .expect("upload");
    (response.status(), response.text().await.expect("page"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_website_with_several_feeds_offers_a_choice_and_subscribes_to_the_one_picked() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);

    let page = browser
        .subscribe(&publisher.url("/html-with-links.html"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Choose a feed"), "{}", page.html);
    assert!(
        page.html
            .contains(&format!(r#"value="{}""#, publisher.url("/rss.xml")))
    );
    assert!(
        page.html
            .contains(&format!(r#"value="{}""#, publisher.url("/atom.xml")))
    );

    let page = browser.subscribe(&publisher.url("/atom.xml")).await;
    assert!(page.html.contains("Atom story"), "{}", page.html);
    assert!(
        !page.html.contains("Loopback Daily"),
        "only the chosen feed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opml_file_imports_its_feeds_and_they_appear_once_fetched() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    let opml = format!(
        r#"<?xml version="1.0"?><opml version="2.0"><head><title>mine</title></head><body>
           <outline text="News"><outline type="rss" text="Daily" xmlUrl="{}"/></outline>
           <outline type="rss" text="Weekly" xmlUrl="{}"/></body></opml>"#,
        publisher.url("/rss.xml"),
        publisher.url("/atom.xml")
    );
    let (status, page) = upload(&browser, &opml).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Imported 2 new feeds."), "{page}");

    eventually("the imported feeds are fetched and shown", || async {
        let html = browser.home().await.html;
        html.contains("RSS first story") && html.contains("Atom story")
    })
    .await;
    let (_, again) = upload(&browser, &opml).await;
    assert!(
        again.contains("Imported 0 new feeds. 2 were already there."),
        "{again}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_opml_file_is_refused_with_the_reason_and_imports_nothing() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    let opml = format!(
        r#"<opml version="2.0"><body><outline text="Good" xmlUrl="{}"/>
           <outline text="Local file" xmlUrl="file:///etc/passwd"/></body></opml>"#,
        publisher.url("/rss.xml")
    );
    let (status, page) = upload(&browser, &opml).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("file:///etc/passwd"),
        "the message names the bad feed: {page}"
    );
    assert!(page.contains("nothing was imported"), "{page}");
    assert!(browser.home().await.html.contains("No subscriptions yet"));

    let (status, page) = upload(&browser, "this is not xml").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains(r#"id="opml-error""#), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_export_as_an_opml_file_other_readers_can_import() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let browser = Browser::new(&system.edge);
    browser.subscribe(&publisher.url("/rss.xml")).await;

    let response = http()
        .get(format!("{}/subscriptions.opml", browser.base))
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .expect("header")
        .to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    let document = response.text().await.expect("body");
    let feeds = middletier::opml::parse(document.as_bytes()).expect("valid OPML");
    assert_eq!(feeds.len(), 1);
    assert_eq!(feeds[0].url, publisher.url("/rss.xml"));
    assert_eq!(feeds[0].title.as_deref(), Some("Loopback Daily"));
}
