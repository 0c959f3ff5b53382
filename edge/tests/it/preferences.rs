//! Reading preferences from the settings page, against the real registry, middle tier and
//! edges on loopback: what one edge stores every edge shows (theme, list style, page size, new
//! tabs, mark read on open), nobody else's pages change, and bad or cross-site forms are
//! refused with nothing stored; then in a real browser, switching to the dark theme and the
//! compact list.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use middletier::testing::FeedPublisher;
use reqwest::StatusCode;

use crate::browser::{LOW_CONTRAST, shoot, sign_up};
use crate::reading::{ann_with_podcast, open, reading_links};
use crate::support::webdriver::{Error, Session as Chromium};
use crate::support::{Browser, System, another_edge, answer, eventually};

/// Twelve items, newest first: more than the smallest page.
fn twelve_items() -> String {
    let items: String = (1..=12)
        .rev()
        .map(|n| {
            format!(
                "<item><title>Story {n}</title><link>http://publisher.test/{n}</link>\
                 <guid>s{n}</guid><pubDate>{} Jun 2025 04:00:00 GMT</pubDate>\
                 <description>Text {n}</description></item>",
                n + 10
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Twelve</title>
        <link>http://publisher.test/</link><description>d</description>{items}</channel></rss>"#
    )
}

/// Submits the preferences form as a same-origin browser would.
async fn save(reader: &Browser, form: &[(&str, &str)]) -> crate::support::Answer {
    answer(
        crate::support::no_redirects()
            .post(format!("{}/settings/preferences", reader.base))
            .header("Origin", &reader.base)
            .header("Sec-Fetch-Site", "same-origin")
            .header("Cookie", reader.cookie.clone().unwrap())
            .form(form),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_saved_on_one_edge_show_on_another_and_change_nobody_elses_pages() {
    let publisher = FeedPublisher::start().await;
    publisher.set_switch(200, &twelve_items());
    let system = System::start_with_accounts(1).await;
    let second = another_edge(&system, 1, |edge| {
        edge.accounts.session_cache = Duration::from_millis(200);
    })
    .await;
    let ann = Browser::signed_up(&system.edge, "ann").await;
    let bob = Browser::signed_up(&system.edge, "bob").await;
    for reader in [&ann, &bob] {
        reader.subscribe(&publisher.url("/switch.xml")).await;
    }
    eventually("the stories are in the river", || async {
        ann.home().await.html.matches("data-item").count() == 12
    })
    .await;
    let defaults = ann.home().await.html;
    assert!(defaults.contains(r#"data-theme="system""#), "{defaults}");
    assert!(!defaults.contains("items compact"));
    assert!(!defaults.contains(r#"target="_blank""#));
    // Seen by the second edge before the change: it caches what it read.
    let ann_there = Browser {
        cookie: ann.cookie.clone(),
        ..Browser::new(&second)
    };
    assert!(
        ann_there
            .home()
            .await
            .html
            .contains(r#"data-theme="system""#)
    );

    let saved = save(
        &ann,
        &[
            ("theme", "dark"),
            ("list_style", "compact"),
            ("items_per_page", "10"),
            ("open_in_new_tab", "on"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    assert_eq!(
        saved.location.as_deref(),
        Some("/settings?changed=preferences")
    );
    let settings = answer(ann.get("/settings?changed=preferences")).await;
    for part in [
        "Your preferences are saved.",
        r#"value="dark" checked"#,
        r#"value="compact" checked"#,
        r#"value="10""#,
        r#"name="open_in_new_tab" value="on" checked"#,
    ] {
        assert!(settings.html.contains(part), "{part}: {}", settings.html);
    }
    assert!(
        !settings
            .html
            .contains(r#"name="mark_read_on_open" value="on" checked"#),
        "an unticked box is off"
    );

    // This edge at once, the other once its copy is stale.
    let here = ann.home().await.html;
    assert!(here.contains(r#"data-theme="dark""#), "{here}");
    assert!(here.contains("items compact"), "{here}");
    assert_eq!(here.matches("data-item").count(), 10, "ten per page");
    assert!(
        here.contains(r#"target="_blank" rel="noopener noreferrer""#),
        "originals open in a new tab, without access to the reader: {here}"
    );
    eventually("the other edge shows ann's theme", || async {
        ann_there.home().await.html.contains(r#"data-theme="dark""#)
    })
    .await;

    // Opening an item no longer marks it read.
    let links = reading_links(&here);
    let page = open(&system.edge, &ann, &links[0]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.html
            .contains(r#"target="_blank" rel="noopener noreferrer""#),
        "{}",
        page.html
    );
    let unread = answer(ann.get("/?filter=unread")).await.html;
    assert!(unread.contains("Story 12"), "still unread: {unread}");

    // Bob's pages are as they were.
    let bobs = bob.home().await.html;
    assert!(bobs.contains(r#"data-theme="system""#), "{bobs}");
    assert_eq!(bobs.matches("data-item").count(), 12);
    assert!(!bobs.contains("items compact"));
}

#[tokio::test]
async fn bad_and_cross_site_preference_forms_are_refused_and_store_nothing() {
    let system = System::start_with_accounts(1).await;
    let ann = Browser::signed_up(&system.edge, "ann").await;
    let good = [
        ("theme", "dark"),
        ("list_style", "full"),
        ("items_per_page", "50"),
    ];
    for (field, value, says) in [
        ("theme", "sepia", "Choose a theme"),
        ("theme", "<script>alert(1)</script>", "Choose a theme"),
        ("theme", "", "Choose a theme"),
        ("list_style", "grid", "Choose a list style"),
        ("items_per_page", "9", "from 10 to 200"),
        ("items_per_page", "201", "from 10 to 200"),
        ("items_per_page", "-1", "from 10 to 200"),
        ("items_per_page", "1e3", "from 10 to 200"),
        ("items_per_page", "99999999999999999999", "from 10 to 200"),
        ("items_per_page", "", "from 10 to 200"),
    ] {
        let form: Vec<(&str, &str)> = good
            .iter()
            .map(|&(name, good)| (name, if name == field { value } else { good }))
            .collect();
        let refused = save(&ann, &form).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{field}={value}");
        assert!(
            refused.html.contains(says),
            "{field}={value}: {}",
            refused.html
        );
        assert!(!refused.html.contains("<script>alert"), "{}", refused.html);
        assert!(refused.html.contains(r#"id="preferences-error""#));
    }
    let huge = "9".repeat(100_000);
    let refused = save(
        &ann,
        &[
            ("theme", "dark"),
            ("list_style", "full"),
            ("items_per_page", &huge),
        ],
    )
    .await;
    assert!(refused.status.is_client_error(), "{}", refused.status);

    // Another site's form is refused by the CSRF layer.
    let cross = answer(
        crate::support::no_redirects()
            .post(format!("{}/settings/preferences", system.edge.url()))
            .header("Origin", "https://evil.example")
            .header("Sec-Fetch-Site", "cross-site")
            .header("Cookie", ann.cookie.clone().unwrap())
            .form(&good),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    // Signed out: to the sign-in page.
    let anonymous = answer(
        crate::support::no_redirects()
            .post(format!("{}/settings/preferences", system.edge.url()))
            .header("Origin", system.edge.url())
            .header("Sec-Fetch-Site", "same-origin")
            .form(&good),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);

    assert!(
        ann.home().await.html.contains(r#"data-theme="system""#),
        "nothing refused was stored"
    );
}

#[tokio::test]
async fn mark_read_on_open_can_be_turned_off_and_on() {
    let (_publisher, system, ann) = ann_with_podcast().await;
    let off = save(
        &ann,
        &[
            ("theme", "system"),
            ("list_style", "full"),
            ("items_per_page", "50"),
        ],
    )
    .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER);
    let links = reading_links(&ann.home().await.html);
    open(&system.edge, &ann, &links[0]).await;
    assert_eq!(ann.home().await.html.matches("data-item").count(), 3);

    let on = save(
        &ann,
        &[
            ("theme", "system"),
            ("list_style", "full"),
            ("items_per_page", "50"),
            ("mark_read_on_open", "on"),
        ],
    )
    .await;
    assert_eq!(on.status, StatusCode::SEE_OTHER);
    open(&system.edge, &ann, &links[0]).await;
    assert_eq!(ann.home().await.html.matches("data-item").count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_the_dark_theme_and_compact_list_are_chosen_in_settings() -> Result<(), Error>
{
    let publisher = FeedPublisher::start().await;
    publisher.set_switch(200, &twelve_items());
    let system = System::start_with_accounts(1).await;
    let edge = system.edge.url();
    let browser = Chromium::start().await?;
    sign_up(&browser, &edge, "alice").await?;
    let middletier = crate::support::middletier_api(Duration::from_secs(5));
    let base = url::Url::parse(&format!("{}/", system.middletiers[0].url())).expect("url");
    middletier
        .subscribe(&base, "alice", &publisher.url("/switch.xml"))
        .await
        .expect("subscribed");
    browser.goto(&format!("{edge}/settings")).await?;
    // The form, in the system's light and dark themes (contrast-checked).
    shoot(&browser, "settings-preferences").await?;
    browser
        .find(r#"input[name="theme"][value="dark"]"#)
        .await?
        .click()
        .await?;
    browser
        .find(r#"input[name="list_style"][value="compact"]"#)
        .await?
        .click()
        .await?;
    browser
        .find(r#"form[action="/settings/preferences"] button[type=submit]"#)
        .await?
        .click()
        .await?;
    eventually("the preferences are saved", || async {
        browser
            .text()
            .await
            .is_ok_and(|page| page.contains("Your preferences are saved."))
    })
    .await;
    let theme = browser.find("html").await?.attribute("data-theme").await?;
    assert_eq!(theme.as_deref(), Some("dark"));
    // Drawn in the dark colours even when the system asks for light: the choice wins.
    browser
        .cdp(
            "Emulation.setEmulatedMedia",
            serde_json::json!({ "features": [{ "name": "prefers-color-scheme", "value": "light" }] }),
        )
        .await?;
    let background = browser
        .execute("return getComputedStyle(document.body).backgroundColor")
        .await?;
    assert_eq!(background, serde_json::json!("rgb(17, 18, 19)"));
    let low = browser.execute(LOW_CONTRAST).await?;
    assert_eq!(low, serde_json::json!([]), "text below WCAG AA contrast");

    eventually("the river lists the stories compactly", || async {
        browser.goto(&format!("{edge}/")).await.is_ok()
            && browser
                .find_all(".items.compact [data-item]")
                .await
                .is_ok_and(|items| items.len() == 12)
    })
    .await;
    Ok(())
}
