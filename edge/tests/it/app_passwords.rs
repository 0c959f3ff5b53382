//! The Apps page (`/settings/app-passwords`): app passwords created and shown once, listed with
//! their last use, revoked; their names bounded and their number too; one user never revoking
//! another's; single-user mode; and the page in a real browser.

#![allow(clippy::unwrap_used)]

use middletier::testing::FeedPublisher;
use reqwest::StatusCode;
use serde_json::json;

use crate::browser::{shoot, sign_up};
use crate::fever::{Fever, create_app_password, shown_password};
use crate::support::webdriver::{Error, Session};
use crate::support::{Browser, System, eventually, http};

/// What every app password looks like: seven groups of four, from letters and digits that
/// can't be mistaken for one another.
fn well_formed(password: &str) -> bool {
    let groups: Vec<&str> = password.split('-').collect();
    groups.len() == 7
        && groups.iter().all(|group| {
            group.len() == 4
                && group
                    .bytes()
                    .all(|b| b"abcdefghijkmnpqrstuvwxyz23456789".contains(&b))
        })
}

async fn page(browser: &Browser) -> (StatusCode, String) {
    let response = browser.get("/settings/app-passwords").send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn create(browser: &Browser, name: &str) -> (StatusCode, String) {
    let response = browser
        .post("/settings/app-passwords")
        .form(&[("name", name)])
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The id of the listed password named `name`.
fn listed_id(html: &str, name: &str) -> String {
    let row = html
        .split("<tr>")
        .find(|row| row.contains(&format!(">{name}</th>")))
        .unwrap_or_else(|| panic!("{name} is not listed: {html}"));
    row.split(r#"name="id" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_password_is_shown_once_listed_with_its_last_use_and_revoked() {
    let system = System::start_with_accounts(1).await;
    let edge = &system.edge;
    let ann = Browser::signed_up(edge, "ann").await;

    let (status, html) = page(&ann).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No app passwords yet."), "{html}");
    // The addresses apps ask for, on the host the browser used.
    for address in [
        format!("{}/api/greader.php", edge.url()),
        format!("{}/api/fever.php", edge.url()),
        format!("{}/fever/", edge.url()),
    ] {
        assert!(html.contains(&address), "{address} in {html}");
    }
    assert!(html.contains(r#"href="/settings/app-passwords""#), "linked");

    let response = ann
        .post("/settings/app-passwords")
        .form(&[("name", "Reeder on my phone")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    let password = shown_password(&html).unwrap();
    assert!(well_formed(&password), "{password}");
    assert!(html.contains(">Reeder on my phone</th>"));
    assert!(html.contains("<td>never</td>"), "{html}");

    // Shown once: the page never shows it again.
    let (_, html) = page(&ann).await;
    assert!(!html.contains(&password));
    assert!(shown_password(&html).is_none());
    assert!(html.contains(">Reeder on my phone</th>"));

    // A second one; an app signs in with each, and the list shows which was used.
    let other = create_app_password(&ann, "Laptop").await;
    assert_ne!(other, password);
    let phone = Fever::new(edge, "ann", &password);
    let laptop = Fever::new(edge, "ann", &other);
    phone.ok("", &[]).await;
    laptop.ok("", &[]).await;
    let (_, html) = page(&ann).await;
    assert!(!html.contains("<td>never</td>"), "both used: {html}");

    // Revoking one signs out only the apps that used it.
    let response = ann
        .post("/settings/app-passwords/revoke")
        .form(&[("id", listed_id(&html, "Reeder on my phone").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("The app password is revoked"), "{html}");
    assert!(!html.contains(">Reeder on my phone</th>"), "{html}");
    assert_eq!(phone.call("", &[]).await.1["auth"], json!(0));
    laptop.ok("", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_password_names_are_checked_their_number_bounded_and_each_users_own() {
    let system = System::start_with_accounts(1).await;
    let edge = &system.edge;
    let ann = Browser::signed_up(edge, "ann").await;
    let bob = Browser::signed_up(edge, "bob").await;

    for name in ["", "   ", &"x".repeat(101), "bell\u{7}"] {
        let (status, html) = create(&ann, name).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}");
        assert!(html.contains("Name the app password"), "{html}");
        assert!(html.contains(r#"aria-invalid="true""#));
        assert!(shown_password(&html).is_none());
    }
    // Names are shown escaped.
    let (status, html) = create(&ann, "<script>alert(1)</script>").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("&#60;script&#62;alert(1)"), "{html}");
    assert!(!html.contains("<script>alert"));

    // Twenty at most.
    for n in 1..20 {
        assert_eq!(create(&ann, &format!("app {n}")).await.0, StatusCode::OK);
    }
    let (status, html) = create(&ann, "one too many").await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(
        html.contains("revoke one you no longer use first"),
        "{html}"
    );
    assert!(shown_password(&html).is_none());
    assert!(html.contains("as many app passwords as there can be"));

    // Bob can't revoke ann's, and junk ids are refused.
    let (_, html) = page(&ann).await;
    let anns = listed_id(&html, "app 1");
    let response = bob
        .post("/settings/app-passwords/revoke")
        .form(&[("id", anns.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(page(&ann).await.1.contains(&anns), "still ann's");
    for junk in ["", "../../x", "zzzzzzzzzzzzzzzz", &"a".repeat(17)] {
        let response = ann
            .post("/settings/app-passwords/revoke")
            .form(&[("id", junk)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{junk:?}");
    }

    // Another site can't make or revoke one with ann's cookie.
    for (path, field, value) in [
        ("/settings/app-passwords", "name", "planted"),
        ("/settings/app-passwords/revoke", "id", anns.as_str()),
    ] {
        let response = http()
            .post(format!("{}{path}", edge.url()))
            .header("Sec-Fetch-Site", "cross-site")
            .header("Origin", "https://evil.example")
            .header("cookie", ann.cookie.clone().unwrap())
            .form(&[(field, value)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let (_, html) = page(&ann).await;
    assert!(html.contains(&anns) && !html.contains("planted"));

    // Signed out, the page is behind the sign-in page.
    let response = crate::support::no_redirects()
        .get(format!("{}/settings/app-passwords", edge.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_single_user_mode_apps_still_need_an_app_password() {
    let publisher = FeedPublisher::start().await;
    let system = System::start(1).await;
    let edge = &system.edge;
    let reader = Browser::new(edge);
    // With no account, the middle tier knows the reader by their feeds.
    let (status, html) = create(&reader, "phone").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("subscribe to a feed first"), "{html}");
    reader.subscribe(&publisher.url("/rss.xml")).await;
    // No account password exists, and no empty one works.
    let (_, body) = Fever::new(edge, "default", "").call("", &[]).await;
    assert_eq!(body["auth"], json!(0));
    let password = create_app_password(&reader, "phone").await;
    Fever::new(edge, "default", &password)
        .ok("feeds", &[])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_an_app_password_is_created_shown_once_and_revoked() -> Result<(), Error> {
    let system = System::start_with_accounts(1).await;
    let edge = system.edge.url();
    let browser = Session::start().await?;
    sign_up(&browser, &edge, "alice").await?;

    browser
        .find(r#"header a[href="/settings/app-passwords"]"#)
        .await?
        .click()
        .await?;
    eventually("the Apps page opens", || async {
        browser
            .current_url()
            .await
            .is_ok_and(|url| url.ends_with("/settings/app-passwords"))
    })
    .await;
    assert!(browser.text().await?.contains("No app passwords yet."));
    browser.find("#app-name").await?.send_keys("Reeder").await?;
    browser
        .find(r#"form[action="/settings/app-passwords"] button[type=submit]"#)
        .await?
        .click()
        .await?;
    eventually("the new password is shown", || async {
        browser
            .find_all("#new-app-password")
            .await
            .is_ok_and(|found| !found.is_empty())
    })
    .await;
    let password = browser.find("#new-app-password").await?.text().await?;
    assert!(well_formed(&password), "{password}");
    shoot(&browser, "app-passwords").await?;
    // The app signs in with it.
    Fever::new(&system.edge, "alice", &password)
        .ok("", &[])
        .await;

    // Coming back, the password is gone from the page; the list keeps its name.
    browser
        .goto(&format!("{edge}/settings/app-passwords"))
        .await?;
    let page = browser.text().await?;
    assert!(
        !page.contains(&password) && page.contains("Reeder"),
        "{page}"
    );
    browser
        .find(r#"button[aria-label="Revoke Reeder"]"#)
        .await?
        .click()
        .await?;
    eventually("the password is revoked", || async {
        browser
            .text()
            .await
            .is_ok_and(|page| page.contains("No app passwords yet."))
    })
    .await;
    let (_, body) = Fever::new(&system.edge, "alice", &password)
        .call("", &[])
        .await;
    assert_eq!(body["auth"], json!(0));
    Ok(())
}
