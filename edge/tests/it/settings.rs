//! The account settings page (`/settings`) against the real registry, middle tier and edge:
//! changing the password ends every other browser session and keeps this one and the apps',
//! a wrong current password is refused and counted with failed sign-ins, hostile and missing
//! input gets clear errors, cross-site posts are refused; and the change in a real browser.

use std::time::Duration;

use middletier::testing::FeedPublisher;
use middletier_api::ItemStateChange;
use reqwest::StatusCode;

use crate::accounts::{cookie_of, error_message, get, post, sign_in, sign_up as sign_up_http};
use crate::browser::{shoot, sign_up};
use crate::greader::support::{App, app_password, client_login};
use crate::support::webdriver::{Error, Session as Chromium};
use crate::support::{
    Answer, Service, System, another_edge, answer, eventually, no_redirects, password_for,
};

const OLD: &str = "the old password";
const NEW: &str = "a brand new passphrase";

async fn change(edge: &Service, cookie: &str, current: &str, new: &str, confirm: &str) -> Answer {
    post(
        edge,
        "/settings/password",
        Some(cookie),
        &[("current", current), ("new", new), ("confirm", confirm)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_ends_the_other_browsers_and_keeps_this_one_and_the_apps() {
    let system = System::start_tuned(
        vec![std::sync::Arc::new(middletier::store::MemoryStore::new())],
        |_| {},
        |edge| {
            edge.accounts.single_user = false;
            // Long enough that only forgetting the user's sessions can refuse them at once.
            edge.accounts.session_cache = Duration::from_secs(600);
        },
    )
    .await;
    let second = another_edge(&system, 1, |edge| {
        edge.accounts.session_cache = Duration::from_millis(200);
    })
    .await;
    let edge = &system.edge;
    let here = cookie_of(&sign_up_http(edge, "ann", OLD).await);
    let other_browser = cookie_of(&sign_in(edge, "ann", OLD).await);
    let other_edge = cookie_of(&sign_in(&second, "ann", OLD).await);
    let bob = cookie_of(&sign_up_http(edge, "bob", OLD).await);
    let (app_secret, _) = app_password(&system, "ann", "Reeder").await;
    let app = App::sign_in(edge, "ann", &app_secret).await;

    let page = get(edge, "/", Some(&here)).await;
    assert!(
        page.html.contains(r#"<a href="/settings">Settings</a>"#),
        "the header links to the settings"
    );
    let settings = get(edge, "/settings", Some(&here)).await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.html);
    for part in [
        r#"action="/settings/password""#,
        r#"action="/signout/everywhere""#,
        r#"href="/settings/app-passwords""#,
        "Apps keep syncing",
    ] {
        assert!(settings.html.contains(part), "{part}: {}", settings.html);
    }

    let changed = change(edge, &here, OLD, NEW, NEW).await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.html);
    assert_eq!(
        changed.location.as_deref(),
        Some("/settings?changed=password")
    );
    // This browser gets a fresh session (its old token is worth nothing now) and stays in.
    let fresh = cookie_of(&changed);
    assert_ne!(fresh, here);
    let notice = get(edge, "/settings?changed=password", Some(&fresh)).await;
    assert_eq!(notice.status, StatusCode::OK);
    assert!(
        notice.html.contains("Your password is changed"),
        "{}",
        notice.html
    );
    for cookie in [&here, &other_browser] {
        assert_eq!(
            get(edge, "/", Some(cookie)).await.status,
            StatusCode::SEE_OTHER,
            "an old browser session is ended at once on this edge"
        );
    }
    eventually("the other edge refuses the old session", || async {
        get(&second, "/", Some(&other_edge)).await.status == StatusCode::SEE_OTHER
    })
    .await;
    assert_eq!(
        get(edge, "/", Some(&bob)).await.status,
        StatusCode::OK,
        "another user stays signed in"
    );
    let synced = app
        .get("/reader/api/0/user-info?output=json")
        .send()
        .await
        .expect("the edge answers");
    assert_eq!(synced.status(), StatusCode::OK, "the app's session stays");

    assert_eq!(
        sign_in(edge, "ann", OLD).await.status,
        StatusCode::FORBIDDEN,
        "the old password no longer works"
    );
    assert_eq!(
        sign_in(&second, "ann", NEW).await.status,
        StatusCode::SEE_OTHER,
        "the new one does, through every edge"
    );
    assert_eq!(
        sign_in(edge, "bob", OLD).await.status,
        StatusCode::SEE_OTHER,
        "another user's password is untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_current_password_is_refused_and_counted_with_failed_sign_ins() {
    let system = System::start_tuned(
        vec![std::sync::Arc::new(middletier::store::MemoryStore::new())],
        |_| {},
        |edge| {
            edge.accounts.single_user = false;
            edge.accounts.max_failures_per_name = 3;
            edge.accounts.max_failures_per_ip = 50;
        },
    )
    .await;
    let edge = &system.edge;
    let cookie = cookie_of(&sign_up_http(edge, "ann", OLD).await);

    let wrong = change(edge, &cookie, "not my password", NEW, NEW).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(
        error_message(&wrong.html),
        "Your current password is wrong."
    );
    assert!(wrong.set_cookie.is_empty(), "the session is not replaced");
    assert!(
        wrong
            .html
            .contains(r#"id="current-password" name="current""#)
            && wrong
                .html
                .contains(r#"aria-invalid="true" aria-describedby="password-error""#),
        "the error is tied to the field"
    );
    // A wrong password far too long to be anyone's is a failure too, and is not hashed.
    let huge = "x".repeat(100_000);
    let too_long = change(edge, &cookie, &huge, NEW, NEW).await;
    assert_eq!(too_long.status, StatusCode::FORBIDDEN);
    // Two failures here and one at the sign-in page reach the limit of three for the name.
    assert_eq!(
        sign_in(edge, "ann", "another guess").await.status,
        StatusCode::FORBIDDEN
    );
    let limited = change(edge, &cookie, OLD, NEW, NEW).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.html
    );
    assert!(limited.retry_after.is_some());
    assert!(
        error_message(&limited.html).starts_with("Too many wrong passwords"),
        "{}",
        limited.html
    );
    let limited_sign_in = sign_in(edge, "ann", OLD).await;
    assert_eq!(
        limited_sign_in.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the sign-in page shares the count"
    );
    assert_eq!(
        get(edge, "/", Some(&cookie)).await.status,
        StatusCode::OK,
        "nothing changed: still signed in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_short_huge_and_mismatched_new_passwords_are_refused_clearly() {
    let system = System::start_with_accounts(1).await;
    let edge = &system.edge;
    let cookie = cookie_of(&sign_up_http(edge, "ann", OLD).await);
    let huge = "y".repeat(1025);
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[], "Enter your current password."),
        (
            &[("current", OLD)],
            "Choose a password of at least 8 characters.",
        ),
        (
            &[("current", OLD), ("new", "short"), ("confirm", "short")],
            "Choose a password of at least 8 characters.",
        ),
        (
            &[("current", OLD), ("new", &huge), ("confirm", &huge)],
            "Choose a password of at most 1024 characters.",
        ),
        (
            &[
                ("current", OLD),
                ("new", NEW),
                ("confirm", "a brand new passphrasE"),
            ],
            "The new password and its confirmation differ: type it twice the same.",
        ),
    ];
    for (form, message) in cases {
        let refused = post(edge, "/settings/password", Some(&cookie), form).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_eq!(error_message(&refused.html), message, "{form:?}");
        assert!(!refused.html.contains(OLD), "no password is echoed back");
    }
    assert_eq!(
        sign_in(edge, "ann", OLD).await.status,
        StatusCode::SEE_OTHER,
        "the password is unchanged"
    );
    // A body far larger than any form is refused before it is read.
    let flood = answer(
        no_redirects()
            .post(format!("{}/settings/password", edge.url()))
            .header("Origin", edge.url())
            .header("Sec-Fetch-Site", "same-origin")
            .header("Cookie", &cookie)
            .form(&[("current", OLD), ("new", &"z".repeat(4 << 20))]),
    )
    .await;
    assert!(
        flood.status.is_client_error(),
        "a flood is refused: {}",
        flood.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_and_signed_out_password_changes_are_refused() {
    let system = System::start_with_accounts(1).await;
    let edge = &system.edge;
    let cookie = cookie_of(&sign_up_http(edge, "ann", OLD).await);
    let form = [("current", OLD), ("new", NEW), ("confirm", NEW)];
    let from_elsewhere = answer(
        no_redirects()
            .post(format!("{}/settings/password", edge.url()))
            .header("Sec-Fetch-Site", "cross-site")
            .header("Origin", "https://evil.example")
            .header("Cookie", &cookie)
            .form(&form),
    )
    .await;
    assert_eq!(from_elsewhere.status, StatusCode::FORBIDDEN);
    let old_browser = answer(
        no_redirects()
            .post(format!("{}/settings/password", edge.url()))
            .header("Origin", "https://evil.example")
            .header("Cookie", &cookie)
            .form(&form),
    )
    .await;
    assert_eq!(old_browser.status, StatusCode::FORBIDDEN);
    let signed_out = post(edge, "/settings/password", None, &form).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_out.location.as_deref(), Some("/signin"));
    assert_eq!(
        sign_in(edge, "ann", OLD).await.status,
        StatusCode::SEE_OTHER,
        "the password is unchanged"
    );
    assert_eq!(get(edge, "/", Some(&cookie)).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_single_user_mode_the_settings_page_says_there_is_no_password() {
    let system = System::start(1).await;
    let edge = &system.edge;
    let page = get(edge, "/settings", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("single-user mode"), "{}", page.html);
    assert!(!page.html.contains(r#"action="/settings/password""#));
    assert!(page.html.contains(r#"href="/settings/app-passwords""#));
    let posted = post(
        edge,
        "/settings/password",
        None,
        &[("current", "x"), ("new", NEW), ("confirm", NEW)],
    )
    .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert_eq!(posted.location.as_deref(), Some("/settings"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_account_takes_everything_of_the_users_and_nothing_of_anyone_elses() {
    let publisher = FeedPublisher::start().await;
    let system = System::start_with_accounts(1).await;
    let edge = &system.edge;
    let here = cookie_of(&sign_up_http(edge, "ann", OLD).await);
    let bob = cookie_of(&sign_up_http(edge, "bob", OLD).await);
    let feed = publisher.url("/rss.xml");
    let middletier = crate::support::middletier_api(Duration::from_secs(5));
    let base = url::Url::parse(&format!("{}/", system.middletiers[0].url())).expect("url");
    for user in ["ann", "bob"] {
        middletier
            .subscribe(&base, user, &feed)
            .await
            .expect("subscribed");
    }
    let item = eventually_item(&middletier, &base).await;
    middletier
        .set_item_state(
            &base,
            "ann",
            &ItemStateChange {
                feed: feed.clone(),
                item: item.clone(),
                read: Some(true),
                starred: Some(true),
            },
        )
        .await
        .expect("starred");
    let (app_secret, _) = app_password(&system, "ann", "Reeder").await;
    let app = App::sign_in(edge, "ann", &app_secret).await;

    let settings = get(edge, "/settings", Some(&here)).await;
    assert!(settings.html.contains(r#"action="/settings/delete""#));
    let missing = post(edge, "/settings/delete", Some(&here), &[]).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_message(&missing.html),
        "Enter your password to delete your account."
    );
    let wrong = post(
        edge,
        "/settings/delete",
        Some(&here),
        &[("password", "not my password")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(
        error_message(&wrong.html),
        "Your password is wrong: nothing was deleted."
    );
    assert!(
        middletier
            .account(&base, "ann")
            .await
            .expect("read")
            .is_some(),
        "a wrong password deletes nothing"
    );
    let cross_site = answer(
        no_redirects()
            .post(format!("{}/settings/delete", edge.url()))
            .header("Sec-Fetch-Site", "cross-site")
            .header("Origin", "https://evil.example")
            .header("Cookie", &here)
            .form(&[("password", OLD)]),
    )
    .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    assert!(
        middletier
            .account(&base, "ann")
            .await
            .expect("read")
            .is_some()
    );

    let deleted = post(edge, "/settings/delete", Some(&here), &[("password", OLD)]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.html);
    assert_eq!(
        deleted.location.as_deref(),
        Some("/signin?signed_out=deleted")
    );
    assert!(
        deleted
            .set_cookie
            .iter()
            .any(|cookie| cookie.starts_with("rss_session=;")),
        "signed out: {:?}",
        deleted.set_cookie
    );
    let confirmation = get(edge, "/signin?signed_out=deleted", None).await;
    assert!(
        confirmation.html.contains("Your account is deleted"),
        "{}",
        confirmation.html
    );
    assert_eq!(
        get(edge, "/", Some(&here)).await.status,
        StatusCode::SEE_OTHER,
        "the session is gone"
    );
    assert_eq!(
        sign_in(edge, "ann", OLD).await.status,
        StatusCode::FORBIDDEN,
        "the account can't sign in"
    );
    // The API caches a checked token for `[accounts] session_cache`, as after a revoke.
    eventually("the app's session is gone", || async {
        app.get("/reader/api/0/user-info?output=json")
            .send()
            .await
            .is_ok_and(|answer| answer.status() == StatusCode::UNAUTHORIZED)
    })
    .await;
    let (status, _) = client_login(&edge.url(), "/accounts/ClientLogin", "ann", &app_secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the app password is gone");
    assert_eq!(middletier.account(&base, "ann").await.expect("read"), None);
    let anns = middletier.feeds(&base, "ann").await.expect("ann's feeds");
    assert!(anns.subscriptions.is_empty(), "{anns:?}");

    // Bob keeps his account, session and subscription; the feed is still read.
    assert_eq!(get(edge, "/", Some(&bob)).await.status, StatusCode::OK);
    let bobs = middletier.feeds(&base, "bob").await.expect("bob's feeds");
    assert_eq!(bobs.subscriptions.len(), 1);
    assert!(!bobs.subscriptions[0].items.is_empty(), "the feed stays");

    // Whoever takes the name next starts with nothing of Ann's.
    let newcomer = cookie_of(&sign_up_http(edge, "ann", NEW).await);
    middletier
        .subscribe(&base, "ann", &feed)
        .await
        .expect("subscribed");
    let starred = get(edge, "/?filter=starred", Some(&newcomer)).await;
    assert_eq!(starred.status, StatusCode::OK);
    for title in ["RSS first story", "RSS second story"] {
        assert!(
            !starred.html.contains(title),
            "no old stars: {}",
            starred.html
        );
    }
}

/// The id of an item of the feed both users read, once the middle tier has fetched it.
async fn eventually_item(middletier: &middletier_api::MiddletierClient, base: &url::Url) -> String {
    eventually("the feed is fetched", || async {
        let feeds = middletier.feeds(base, "bob").await.expect("bob's feeds");
        feeds
            .subscriptions
            .first()
            .is_some_and(|f| !f.items.is_empty())
    })
    .await;
    let feeds = middletier.feeds(base, "bob").await.expect("bob's feeds");
    feeds.subscriptions[0].items[0].id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_the_password_is_changed_from_the_settings_page() -> Result<(), Error> {
    let system = System::start_with_accounts(1).await;
    let edge = system.edge.url();
    let browser = Chromium::start().await?;
    sign_up(&browser, &edge, "alice").await?;
    let old = password_for("alice");

    browser
        .find(r#"header a[href="/settings"]"#)
        .await?
        .click()
        .await?;
    eventually("the settings page opens", || async {
        browser
            .current_url()
            .await
            .is_ok_and(|url| url.ends_with("/settings"))
    })
    .await;
    // A mistyped confirmation is caught and said, the field marked.
    fill(&browser, &old, NEW, "a brand new passphrasE").await?;
    eventually("the mismatch is shown", || async {
        browser
            .text()
            .await
            .is_ok_and(|page| page.contains("its confirmation differ"))
    })
    .await;
    assert_eq!(
        browser
            .find("#confirm-password")
            .await?
            .attribute("aria-invalid")
            .await?
            .as_deref(),
        Some("true")
    );
    shoot(&browser, "settings").await?;
    fill(&browser, &old, NEW, NEW).await?;
    eventually("the change is confirmed", || async {
        browser
            .text()
            .await
            .is_ok_and(|page| page.contains("Your password is changed"))
    })
    .await;
    // Still signed in here, with a fresh session.
    browser.goto(&format!("{edge}/")).await?;
    assert!(!browser.current_url().await?.contains("/signin"));

    // Signing out and in again: the old password is refused, the new one works.
    browser
        .find(r#"form[action="/signout"] button[type=submit]"#)
        .await?
        .click()
        .await?;
    eventually("signed out", || async {
        browser
            .current_url()
            .await
            .is_ok_and(|url| url.contains("/signin"))
    })
    .await;
    for (password, works) in [(old.as_str(), false), (NEW, true)] {
        browser.goto(&format!("{edge}/signin")).await?;
        browser.find("#name").await?.send_keys("alice").await?;
        browser.find("#password").await?.send_keys(password).await?;
        browser
            .find(r#"form[action="/signin"] button[type=submit]"#)
            .await?
            .click()
            .await?;
        eventually("the sign-in is answered", || async {
            browser.text().await.is_ok_and(|page| {
                page.contains("The user name or the password is wrong.")
                    || page.contains("Signed in as")
            })
        })
        .await;
        let page = browser.text().await?;
        assert_eq!(page.contains("Signed in as"), works, "{password}: {page}");
    }
    Ok(())
}

/// Fills and submits the password form.
async fn fill(browser: &Chromium, current: &str, new: &str, confirm: &str) -> Result<(), Error> {
    for (field, text) in [
        ("#current-password", current),
        ("#new-password", new),
        ("#confirm-password", confirm),
    ] {
        browser.find(field).await?.send_keys(text).await?;
    }
    browser
        .find(r#"form[action="/settings/password"] button[type=submit]"#)
        .await?
        .click()
        .await
}
