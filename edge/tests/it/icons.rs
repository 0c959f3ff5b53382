//! Feed icons at the edge: shown beside each feed in the sidebar, the river and the Manage
//! feeds page, served from `/icons/{hash}` as images only with year-long caching, and loaded
//! by a real browser under the reader's CSP. A feed without an icon shows none.

#![allow(clippy::unwrap_used)]

use middletier::icons::sha256_hex;
use middletier::testing::{Answer, PNG_16, Site};

use crate::support::webdriver::{Error, Session};
use crate::support::{Browser, System, eventually};

/// A site whose feed has an item and whose `/favicon.ico` is [`PNG_16`] (served with the
/// content type sites really use for it), or no icon at all.
async fn site(title: &str, with_icon: bool) -> Site {
    let title = title.to_owned();
    Site::start(move |base| {
        let mut answers = vec![(
            "/feed.xml",
            Answer::text(
                "application/rss+xml",
                format!(
                    "<rss version=\"2.0\"><channel><title>{title}</title><link>{base}/</link>\
                     <item><title>{title} story</title><link>{base}/1</link><guid>1</guid>\
                     <pubDate>Tue, 10 Jun 2025 04:00:00 GMT</pubDate></item></channel></rss>"
                ),
            ),
        )];
        if with_icon {
            answers.push((
                "/favicon.ico",
                Answer::Body("image/vnd.microsoft.icon", PNG_16.to_vec()),
            ));
        }
        answers
    })
    .await
}

/// `<img>` tags naming `src` in `html`.
fn images(html: &str, src: &str) -> usize {
    html.matches(&format!("<img class=\"feed-icon\" src=\"{src}\""))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icons_show_beside_their_feeds_and_are_served_as_cached_images_only() {
    let iconic = site("Iconic", true).await;
    let plain = site("Plain", false).await;
    let system = System::start(1).await;
    let reader = Browser::new(&system.edge);
    reader.subscribe(&iconic.url("/feed.xml")).await;
    reader.subscribe(&plain.url("/feed.xml")).await;
    let src = format!("/icons/{}", sha256_hex(PNG_16));

    eventually("both feeds' items are in the river", || async {
        let home = reader.home().await.html;
        home.contains("Iconic story") && home.contains("Plain story")
    })
    .await;
    let home = reader.home().await.html;
    // In the sidebar and on the item; the plain feed has no image at all, not a broken one.
    assert_eq!(images(&home, &src), 2, "{home}");
    assert_eq!(home.matches("class=\"feed-icon\"").count(), 2, "{home}");
    let manage = reader.get("/subscriptions").send().await.unwrap();
    assert_eq!(images(&manage.text().await.unwrap(), &src), 1);

    let response = reader.get(&src).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(
        header("content-type"),
        "image/png",
        "sniffed, not the site's"
    );
    assert_eq!(
        header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(
        header("content-security-policy").starts_with("default-src 'none'"),
        "nothing in an icon may run"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), PNG_16);

    // Names that are not an icon's hash never reach the middle tier's store as paths.
    for path in [
        format!("/icons/{}", sha256_hex(b"no such icon")),
        "/icons/..%2F..%2Fmiddletier".to_owned(),
        format!("/icons/{}", "A".repeat(64)),
        "/icons/%3Cscript%3E".to_owned(),
    ] {
        let status = reader.get(&path).send().await.unwrap().status();
        assert_eq!(status, 404, "{path}");
    }
    // Page views never fetch icons: the site was asked for its icon once, at subscribing.
    reader.home().await;
    assert_eq!(iconic.requests("/favicon.ico"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_loads_the_sidebar_icon_under_the_readers_policy() -> Result<(), Error> {
    let iconic = site("Iconic", true).await;
    let system = System::start(1).await;
    let reader = Browser::new(&system.edge);
    reader.subscribe(&iconic.url("/feed.xml")).await;
    let browser = Session::start().await?;
    browser.goto(&format!("{}/", system.edge.url())).await?;
    eventually("the sidebar icon has loaded", || async {
        browser
            .execute("const i = document.querySelector('#sidebar img.feed-icon'); return i && i.complete ? i.naturalWidth : 0;")
            .await
            .is_ok_and(|width| width.as_u64() == Some(16))
    })
    .await;
    eventually("the item's icon has loaded", || async {
        browser
            .execute("const i = document.querySelector('.item-feed img.feed-icon'); return i && i.complete ? i.naturalWidth : 0;")
            .await
            .is_ok_and(|width| width.as_u64() == Some(16))
    })
    .await;
    let errors: Vec<_> = browser
        .console()
        .await?
        .into_iter()
        .filter(|entry| entry.level == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    Ok(())
}
