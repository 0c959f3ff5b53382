//! The reader in a real browser: headless chromium, driven over WebDriver, used the way a
//! reader would, with the edge's real headers (CSP, CSRF checks) in force and its script on.
//!
//! Needs Debian's `chromium` and `chromium-driver`; the project's test command installs them
//! (deploy/install-test-deps.sh). Without them these tests fail rather than skip. Screenshots
//! of the main pages, light and dark, land in `target/screenshots/`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use middletier::testing::FeedPublisher;
use serde_json::{Value, json};

use crate::support::webdriver::{Error, Session};
use crate::support::{
    Browser, System, eventually, http, no_redirects, password_for, session_cookie,
};

/// Light and dark backgrounds of the page (`--bg` in style.css), to check the theme applied.
const LIGHT_BACKGROUND: &str = "rgb(246, 246, 247)";
const DARK_BACKGROUND: &str = "rgb(17, 18, 19)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_signs_up_reads_stars_removes_a_feed_and_signs_out_and_the_next_user_sees_none_of_it()
-> Result<(), Error> {
    let publisher = FeedPublisher::start().await;
    let system = System::start_with_accounts(1).await;
    let edge = system.edge.url();
    let browser = Session::start().await?;

    // Nobody is signed in: the reader sends us to sign in, and from there to sign up.
    browser.goto(&format!("{edge}/")).await?;
    assert!(browser.current_url().await?.contains("/signin"));
    shoot(&browser, "signin").await?;
    sign_up(&browser, &edge, "alice").await?;
    let page = browser.text().await?;
    assert!(page.contains("No subscriptions yet"), "{page}");

    // Subscribe from the empty river: the feed's own view opens with its items, unread.
    subscribe(&browser, &publisher.url("/rss.xml")).await?;
    eventually("the feed's items are shown", || async {
        browser
            .text()
            .await
            .is_ok_and(|page| page.contains("RSS first story") && page.contains("RSS second story"))
    })
    .await;
    let heading = words(&browser.find("h1").await?.text().await?);
    assert_eq!(heading, "Loopback Daily 2 unread");
    assert_eq!(browser.find(".description b").await?.text().await?, "world");
    assert!(browser.find_all(".description script").await?.is_empty());
    let current = browser
        .find(r#"#sidebar a[aria-current="page"]"#)
        .await?
        .text()
        .await?;
    assert_eq!(words(&current), "Loopback Daily 2 unread");
    subscribe(&browser, &publisher.url("/atom.xml")).await?;
    eventually("the second feed is shown", || async {
        browser
            .text()
            .await
            .is_ok_and(|page| page.contains("Atom story"))
    })
    .await;

    // The river: both feeds, newest first (the RSS story of 10 June before the Atom one of
    // 1 June; the undated one goes where the middle tier first saw it).
    browser.goto(&format!("{edge}/")).await?;
    let titles = texts(&browser, ".item-title").await?;
    assert_eq!(titles.len(), 3, "{titles:?}");
    let position = |title: &str| titles.iter().position(|t| t == title);
    assert!(
        position("RSS first story") < position("Atom story"),
        "{titles:?}"
    );
    no_errors_logged(&browser).await?;
    shoot(&browser, "river").await?;

    // Reading an item opens the article and marks it read.
    let first = item_with_title(&browser, "RSS first story").await?;
    let open = browser
        .find(&format!(
            "ol.items > li:nth-child({}) .item-title a",
            first + 1
        ))
        .await?;
    assert!(
        open.attribute("href")
            .await?
            .is_some_and(|href| href.starts_with("/items/open?")),
        "titles open through the reader"
    );
    open.click().await?;
    eventually("the browser went on to the article", || async {
        browser
            .current_url()
            .await
            .is_ok_and(|url| url == "http://publisher.test/rss/1")
    })
    .await;
    browser.goto(&format!("{edge}/")).await?;
    let mut unread = texts(&browser, ".item-title").await?;
    unread.sort();
    assert_eq!(
        unread,
        ["Atom story", "RSS second story"],
        "the opened item is read, so the unread river no longer lists it"
    );

    // Mark read with the button: the script sends it and updates the item in place.
    let second = item_with_title(&browser, "RSS second story").await?;
    click_in(&browser, second, "Mark read").await?;
    eventually("the item shows as read", || async {
        browser
            .execute(&format!(
                "return document.querySelectorAll('article[data-item]')[{second}].classList.contains('item-read')"
            ))
            .await
            .is_ok_and(|read| read == json!(true))
    })
    .await;
    browser.goto(&format!("{edge}/?filter=all")).await?;
    let mut read = texts(&browser, ".item.item-read .item-title").await?;
    read.sort();
    assert_eq!(read, ["RSS first story", "RSS second story"]);

    // Star an item; the starred view keeps it.
    let atom = item_with_title(&browser, "Atom story").await?;
    click_in(&browser, atom, "Star").await?;
    eventually("the star shows", || async {
        browser
            .execute(&format!(
                "return document.querySelectorAll('article[data-item]')[{atom}].querySelector('form[data-action=star] button').textContent"
            ))
            .await
            .is_ok_and(|label| label == json!("Unstar"))
    })
    .await;
    browser.goto(&format!("{edge}/?filter=starred")).await?;
    assert_eq!(texts(&browser, ".item-title").await?, ["Atom story"]);

    // The feed view and the management page.
    browser
        .goto(&format!(
            "{edge}/?feed={}&filter=all",
            encode(&publisher.url("/rss.xml"))
        ))
        .await?;
    shoot(&browser, "feed").await?;
    browser.goto(&format!("{edge}/subscriptions")).await?;
    shoot(&browser, "manage").await?;

    // Remove a feed.
    browser
        .find(r#"button[aria-label="Unsubscribe from Loopback Daily"]"#)
        .await?
        .click()
        .await?;
    eventually("the feed is gone", || async {
        browser
            .text()
            .await
            .is_ok_and(|page| !page.contains("Loopback Daily") && page.contains("Atom Weekly"))
    })
    .await;

    // Sign out: the reader is behind the sign-in page again.
    browser
        .find(r#"form[action="/signout"] button"#)
        .await?
        .click()
        .await?;
    browser.goto(&format!("{edge}/")).await?;
    assert!(browser.current_url().await?.contains("/signin"));

    // Another reader sees none of alice's feeds, by any address.
    sign_up(&browser, &edge, "bob").await?;
    let page = browser.text().await?;
    assert!(page.contains("No subscriptions yet"), "{page}");
    assert!(!page.contains("Atom"), "{page}");
    browser
        .goto(&format!(
            "{edge}/?feed={}&filter=all",
            encode(&publisher.url("/atom.xml"))
        ))
        .await?;
    let page = browser.text().await?;
    assert!(!page.contains("Atom story"), "{page}");
    browser.goto(&format!("{edge}/subscriptions")).await?;
    assert!(!browser.text().await?.contains("Atom Weekly"));

    // And alice's star and feed are still hers.
    let alice = signed_in(&system.edge, "alice").await;
    let html = alice
        .get("/?filter=starred")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Atom story"), "{html}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_shortcuts_move_between_items_mark_them_read_star_and_show_help()
-> Result<(), Error> {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let reader = Browser::new(&system.edge);
    reader.subscribe(&publisher.url("/rss.xml")).await;
    reader.subscribe(&publisher.url("/atom.xml")).await;
    let browser = Session::start().await?;
    browser.goto(&format!("{}/", system.edge.url())).await?;
    assert_eq!(browser.find_all("article[data-item]").await?.len(), 3);

    browser.keys("j").await?;
    assert_eq!(current_item(&browser).await?, json!(0));
    browser.keys("jj").await?;
    assert_eq!(current_item(&browser).await?, json!(2));
    browser.keys("k").await?;
    assert_eq!(current_item(&browser).await?, json!(1));
    assert_eq!(
        browser
            .execute("return document.activeElement.matches('article.current')")
            .await?,
        json!(true),
        "the current item has the focus, so Tab continues from it"
    );

    browser.keys("m").await?;
    eventually("m marks the current item read", || async {
        browser
            .execute(
                "return document.querySelector('article.current').classList.contains('item-read')",
            )
            .await
            .is_ok_and(|read| read == json!(true))
    })
    .await;
    let counts = "return [document.querySelector('#view-title .count').firstChild.textContent,
                         document.querySelector('#sidebar .sidebar-all .count').firstChild.textContent]";
    eventually("the unread counts follow without a reload", || async {
        browser
            .execute(counts)
            .await
            .is_ok_and(|counts| counts == json!(["2", "2"]))
    })
    .await;
    browser.keys("s").await?;
    eventually("s stars it", || async {
        browser
            .execute("return !document.querySelector('article.current .state-starred').hidden")
            .await
            .is_ok_and(|starred| starred == json!(true))
    })
    .await;
    // The changes reached the middle tier: the unread river has one item fewer.
    let page = reader.home().await.html;
    assert_eq!(page.matches("data-item").count(), 2, "{page}");
    let starred = reader
        .get("/?filter=starred")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(starred.matches("data-item").count(), 1, "{starred}");

    browser.keys("?").await?;
    assert_eq!(
        browser
            .execute("return document.getElementById('shortcuts').open")
            .await?,
        json!(true)
    );
    shoot(&browser, "shortcuts").await?;
    browser.keys("\u{E00C}").await?; // Escape
    assert_eq!(
        browser
            .execute("return document.getElementById('shortcuts').open")
            .await?,
        json!(false)
    );

    // o reads the current item here; v opens its article.
    browser.keys("o").await?;
    eventually("o opens the reading view", || async {
        browser
            .current_url()
            .await
            .is_ok_and(|url| url.contains("/items/"))
    })
    .await;
    browser.keys("v").await?;
    eventually("v opens the article", || async {
        browser
            .current_url()
            .await
            .is_ok_and(|url| url.starts_with("http://publisher.test/"))
    })
    .await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_full_of_script_renders_without_running_any_under_a_strict_csp() -> Result<(), Error>
{
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let reader = Browser::new(&system.edge);
    let page = reader.subscribe(&publisher.url("/xss.xml")).await;
    assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.html);

    let response = http()
        .get(format!("{}/?filter=all", system.edge.url()))
        .send()
        .await
        .unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );

    let browser = Session::start().await?;
    browser
        .goto(&format!("{}/?filter=all", system.edge.url()))
        .await?;
    let titles = texts(&browser, ".item-title").await?;
    assert_eq!(titles.len(), 3, "{titles:?}");
    assert!(
        titles[0].contains("<script>document.title='pwned'</script>"),
        "titles are text"
    );
    assert!(browser.text().await?.contains("Safe text survives"));

    // Give anything that could fire a chance: hover, click every link and button in the items.
    browser
        .execute(
            "document.querySelectorAll('.description *').forEach(e => {
               e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
             });
             document.querySelectorAll('.description a').forEach(a => a.click());",
        )
        .await?;
    let outcome = browser
        .execute(
            "return { xss: window.__xss === undefined ? null : String(window.__xss),
                      title: document.title,
                      scripts: document.querySelectorAll('main script, #sidebar script').length,
                      frames: document.querySelectorAll('iframe, object, embed, frame').length,
                      handlers: Array.from(document.querySelectorAll('main *'))
                        .filter(e => Array.from(e.attributes).some(a => a.name.startsWith('on'))).length,
                      styles: document.querySelectorAll('.description [style], .description style').length,
                      badLinks: Array.from(document.querySelectorAll('main a[href], main [src]'))
                        .map(e => e.getAttribute('href') || e.getAttribute('src'))
                        .filter(u => !/^(https?:|\\/)/i.test(u)) };",
        )
        .await?;
    assert_eq!(
        outcome,
        json!({ "xss": Value::Null, "title": "All feeds · RSS Reader", "scripts": 0, "frames": 0,
                "handlers": 0, "styles": 0, "badLinks": [] }),
        "nothing from the feed ran or survived"
    );
    // The item whose link is `javascript:` has no link at all.
    assert!(
        browser.find_all(".item-title a").await?.len() == 2,
        "only the two http links"
    );
    assert!(
        browser
            .alert_text()
            .await
            .is_err_and(|error| error.code() == Some("no such alert"))
    );
    // The broken images of the payloads fail to load (network errors); nothing else may log.
    let errors: Vec<_> = browser
        .console()
        .await?
        .into_iter()
        .filter(|entry| entry.level == "SEVERE" && entry.source.as_deref() != Some("network"))
        .collect();
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    shoot(&browser, "xss").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_url_typed_in_the_browser_shows_the_reason_and_keeps_the_input()
-> Result<(), Error> {
    let system = System::start(1).await;
    let browser = Session::start().await?;
    browser
        .goto(&format!("{}/subscriptions", system.edge.url()))
        .await?;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_the_sidebar_folds_away_and_the_page_starts_with_a_skip_link()
-> Result<(), Error> {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    Browser::new(&system.edge)
        .subscribe(&publisher.url("/rss.xml"))
        .await;
    let browser = Session::start().await?;
    browser
        .cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true }),
        )
        .await?;
    browser.goto(&format!("{}/", system.edge.url())).await?;
    let sidebar_shown =
        "return getComputedStyle(document.getElementById('sidebar')).display !== 'none'";
    assert_eq!(browser.execute(sidebar_shown).await?, json!(false));
    assert_eq!(
        browser
            .execute("return document.documentElement.scrollWidth <= window.innerWidth")
            .await?,
        json!(true),
        "nothing overflows sideways"
    );
    shoot(&browser, "phone-river").await?;
    browser.find(".sidebar-link").await?.click().await?;
    assert_eq!(browser.execute(sidebar_shown).await?, json!(true));
    shoot(&browser, "phone-sidebar").await?;

    // The first Tab reaches the skip link, which leads to the main content.
    browser.goto(&format!("{}/", system.edge.url())).await?;
    browser.keys("\u{E004}").await?; // Tab
    assert_eq!(
        browser
            .execute("return document.activeElement.className")
            .await?,
        json!("skip-link")
    );
    Ok(())
}

/// Signs up `name` through the sign-up form; returns on the page it leads to.
pub(crate) async fn sign_up(browser: &Session, edge: &str, name: &str) -> Result<(), Error> {
    browser.goto(&format!("{edge}/signup")).await?;
    browser.find("#name").await?.send_keys(name).await?;
    browser
        .find("#password")
        .await?
        .send_keys(&password_for(name))
        .await?;
    browser
        .find(r#"form[action="/signup"] button[type=submit]"#)
        .await?
        .click()
        .await?;
    eventually("sign-up leads to the reader", || async {
        browser
            .current_url()
            .await
            .is_ok_and(|url| !url.contains("/signup") && !url.contains("/signin"))
    })
    .await;
    Ok(())
}

/// An HTTP client signed in as `name` (signed up earlier by [`sign_up`]).
async fn signed_in(edge: &crate::support::Service, name: &str) -> Browser {
    let response = no_redirects()
        .post(format!("{}/signin", edge.url()))
        .header("Origin", edge.url())
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("name", name), ("password", password_for(name).as_str())])
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&response).expect("a session after signing in");
    Browser {
        cookie: Some(cookie),
        ..Browser::new(edge)
    }
}

async fn subscribe(browser: &Session, url: &str) -> Result<(), Error> {
    if browser.find_all("#url").await?.is_empty() {
        let current = browser.current_url().await?;
        let origin = current.split('/').take(3).collect::<Vec<_>>().join("/");
        browser.goto(&format!("{origin}/subscriptions")).await?;
    }
    browser.find("#url").await?.send_keys(url).await?;
    browser
        .find("form.add button[type=submit]")
        .await?
        .click()
        .await
}

async fn texts(browser: &Session, selector: &str) -> Result<Vec<String>, Error> {
    let mut texts = Vec::new();
    for element in browser.find_all(selector).await? {
        texts.push(element.text().await?);
    }
    Ok(texts)
}

/// The index of the item titled `title` on the page.
async fn item_with_title(browser: &Session, title: &str) -> Result<usize, Error> {
    let titles = texts(browser, ".item-title").await?;
    Ok(titles
        .iter()
        .position(|t| t == title)
        .unwrap_or_else(|| panic!("no item {title:?} in {titles:?}")))
}

/// Clicks the button labelled `label` in the `index`th item.
async fn click_in(browser: &Session, index: usize, label: &str) -> Result<(), Error> {
    let buttons = browser
        .find_all(&format!(
            "ol.items > li:nth-child({}) .item-actions button",
            index + 1
        ))
        .await?;
    for button in buttons {
        if button.text().await? == label {
            return button.click().await;
        }
    }
    panic!("no {label:?} button in item {index}");
}

async fn current_item(browser: &Session) -> Result<Value, Error> {
    browser
        .execute(
            "return Array.from(document.querySelectorAll('article[data-item]'))
               .findIndex(a => a.classList.contains('current'))",
        )
        .await
}

/// Errors here would be blocked inline code (the CSP allows none) or a missing asset.
async fn no_errors_logged(browser: &Session) -> Result<(), Error> {
    let errors: Vec<_> = browser
        .console()
        .await?
        .into_iter()
        .filter(|entry| entry.level == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    Ok(())
}

/// Every visible element with text of its own whose colour against its (opaque) background is
/// below WCAG AA's 4.5:1, with the ratio; feed content (`.description`) is the publisher's.
pub(crate) const LOW_CONTRAST: &str = r#"
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (e) => {
    for (; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c;
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const e of document.querySelectorAll("body *:not(script):not(style)")) {
    if (e.closest(".description, .visually-hidden, dialog:not([open]), [hidden]")) continue;
    const own = Array.from(e.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !e.getClientRects().length) continue;
    const [a, b] = [lum(rgb(getComputedStyle(e).color)), lum(background(e))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(e.tagName + "." + e.className + " " + ratio.toFixed(2) + ": " + e.textContent.trim().slice(0, 40));
  }
  return low;
"#;

/// Screenshots of the page in the light and the dark theme (the system setting, emulated).
pub(crate) async fn shoot(browser: &Session, name: &str) -> Result<(), Error> {
    for (scheme, background) in [("light", LIGHT_BACKGROUND), ("dark", DARK_BACKGROUND)] {
        browser
            .cdp(
                "Emulation.setEmulatedMedia",
                json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
            )
            .await?;
        assert_eq!(
            browser
                .execute("return getComputedStyle(document.body).backgroundColor")
                .await?,
            json!(background),
            "the {scheme} theme applies"
        );
        let low: Vec<Value> =
            serde_json::from_value(browser.execute(LOW_CONTRAST).await?).expect("a list");
        assert!(
            low.is_empty(),
            "text below WCAG AA contrast (4.5:1) on {name}, {scheme}: {low:#?}"
        );
        let png = browser.screenshot().await?;
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "the screenshot is a PNG"
        );
        save_screenshot(&format!("{name}-{scheme}.png"), &png);
    }
    browser
        .cdp("Emulation.setEmulatedMedia", json!({ "features": [] }))
        .await
        .map(drop)
}

/// `text` with every run of whitespace made one space.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
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
