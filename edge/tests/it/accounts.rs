//! Accounts at the edge, with the real registry, middle tier and edge on loopback: signing up,
//! in and out, sessions shared by every edge, rate-limited sign-in, single-user mode, and one
//! user never reaching another's feeds or reading state through any URL or form field.

use std::time::Duration;

use middletier::testing::FeedPublisher;
use middletier_api::{Filter, ItemStateChange, RiverQuery};
use reqwest::StatusCode;
use reqwest::header::CACHE_CONTROL;

use crate::support::{
    Answer, Browser, Service, System, another_edge, answer, eventually, no_redirects, password_for,
};

/// GET `path` on `edge` with `cookie`, not following redirects.
pub(crate) async fn get(edge: &Service, path: &str, cookie: Option<&str>) -> Answer {
    let mut request = no_redirects().get(format!("{}{path}", edge.url()));
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    answer(request).await
}

/// A same-origin form POST, as the browser sends it from the edge's own pages.
pub(crate) async fn post(
    edge: &Service,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> Answer {
    let mut request = no_redirects()
        .post(format!("{}{path}", edge.url()))
        .header("Origin", edge.url())
        .header("Sec-Fetch-Site", "same-origin")
        .form(form);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    answer(request).await
}

pub(crate) async fn sign_up(edge: &Service, name: &str, password: &str) -> Answer {
    post(
        edge,
        "/signup",
        None,
        &[("name", name), ("password", password)],
    )
    .await
}

pub(crate) async fn sign_in(edge: &Service, name: &str, password: &str) -> Answer {
    post(
        edge,
        "/signin",
        None,
        &[("name", name), ("password", password)],
    )
    .await
}

pub(crate) fn cookie_of(answer: &Answer) -> String {
    answer
        .set_cookie
        .iter()
        .filter_map(|cookie| cookie.split(';').next())
        .find(|pair| pair.starts_with("rss_session=") && pair.len() > "rss_session=".len())
        .unwrap_or_else(|| panic!("no session cookie in {:?}", answer.set_cookie))
        .to_owned()
}

/// The message in the page's error banner.
pub(crate) fn error_message(html: &str) -> &str {
    let start = html
        .find(r#"role="alert">"#)
        .unwrap_or_else(|| panic!("no error on the page: {html}"));
    let rest = &html[start + r#"role="alert">"#.len()..];
    &rest[..rest.find('<').expect("the banner ends")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_up_signs_in_and_signing_out_locks_the_reader_again() {
    let system = System::start_with_accounts(1).await;
    let edge = &system.edge;

    let home = get(edge, "/", None).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location.as_deref(), Some("/signin"));
    let starred = get(edge, "/?filter=starred", None).await;
    assert_eq!(
        starred.location.as_deref(),
        Some("/signin?next=%2F%3Ffilter%3Dstarred"),
        "after signing in, the reader comes back to the page it asked for"
    );
    let manage = post(
        edge,
        "/subscriptions",
        None,
        &[("url", "https://a.example/")],
    )
    .await;
    assert_eq!(manage.status, StatusCode::SEE_OTHER, "a form post too");
    assert_eq!(manage.location.as_deref(), Some("/signin"));

    let form = get(edge, "/signup", None).await;
    assert_eq!(form.status, StatusCode::OK);
    for expected in [
        r#"<label for="name">User name</label>"#,
        r#"<label for="password">Password</label>"#,
        r#"autocomplete="new-password""#,
        r#"<form class="account" method="post" action="/signup">"#,
    ] {
        assert!(
            form.html.contains(expected),
            "missing {expected:?} in {}",
            form.html
        );
    }

    let signed_up = post(
        edge,
        "/signup",
        None,
        &[
            ("name", "Ann"),
            ("password", "correct horse battery"),
            ("next", "/?filter=starred"),
        ],
    )
    .await;
    assert_eq!(
        signed_up.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_up.html
    );
    assert_eq!(signed_up.location.as_deref(), Some("/?filter=starred"));
    let cookie = cookie_of(&signed_up);

    let page = get(edge, "/", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("Signed in as <strong>ann</strong>"),
        "names are kept in lower case: {}",
        page.html
    );
    assert!(
        page.html
            .contains(r#"<form class="signout" method="post" action="/signout">"#)
    );

    let signed_out = post(edge, "/signout", Some(&cookie), &[]).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_out.location.as_deref(), Some("/signin?signed_out=1"));
    assert!(
        signed_out
            .set_cookie
            .iter()
            .any(|cookie| cookie.starts_with("rss_session=; Path=/; Max-Age=0")),
        "{:?}",
        signed_out.set_cookie
    );
    let notice = get(edge, "/signin?signed_out=1", None).await;
    assert!(notice.html.contains("You are signed out."));

    // The old cookie is worth nothing now, at once, on this edge.
    let after = get(edge, "/", Some(&cookie)).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location.as_deref(), Some("/signin"));
    assert!(
        after
            .set_cookie
            .iter()
            .any(|cookie| cookie.starts_with("rss_session=; ")),
        "a stale cookie is cleared: {:?}",
        after.set_cookie
    );

    let again = sign_in(edge, "ann", "correct horse battery").await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.html);
    assert_eq!(again.location.as_deref(), Some("/"));
    assert_ne!(
        cookie_of(&again),
        cookie,
        "every sign-in gets a new session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_refuses_bad_names_short_passwords_and_taken_names() {
    let system = System::start_with_accounts(1).await;
    let edge = &system.edge;

    for (name, password, status, message) in [
        (
            "ann lee",
            "long enough",
            StatusCode::BAD_REQUEST,
            "Choose a user name of 1 to 64 letters, digits, dots, dashes, underscores or @.",
        ),
        (
            "<script>",
            "long enough",
            StatusCode::BAD_REQUEST,
            "Choose a user name of 1 to 64 letters, digits, dots, dashes, underscores or @.",
        ),
        (
            "ann",
            "short",
            StatusCode::BAD_REQUEST,
            "Choose a password of at least 8 characters.",
        ),
    ] {
        let refused = sign_up(edge, name, password).await;
        assert_eq!(refused.status, status, "{name:?}: {}", refused.html);
        assert_eq!(error_message(&refused.html), message);
        assert!(
            refused.set_cookie.is_empty(),
            "no session for a refused sign-up"
        );
        // Screen readers announce the error with the field it is about, and only that one.
        let field = if message.contains("password") {
            "password"
        } else {
            "name"
        };
        let other = if field == "name" { "password" } else { "name" };
        let input = |id: &str| {
            let start = refused
                .html
                .find(&format!(r#"<input id="{id}""#))
                .expect("input");
            refused.html[start..start + refused.html[start..].find('>').expect("end")].to_owned()
        };
        assert!(
            input(field).contains(r#"aria-invalid="true""#),
            "{}",
            input(field)
        );
        assert!(input(field).contains("account-error"));
        assert!(!input(other).contains("aria-invalid"), "{}", input(other));
    }
    let long = "x".repeat(1025);
    let refused = sign_up(edge, "ann", &long).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_message(&refused.html),
        "Choose a password of at most 1024 characters."
    );
    // What was typed stays in the form (escaped), the password never does.
    let refused = sign_up(edge, "<b>x", "secret-password").await;
    assert!(
        refused.html.contains(r#"value="&#60;b&#62;x""#),
        "{}",
        refused.html
    );
    assert!(!refused.html.contains("secret-password"));

    assert_eq!(
        sign_up(edge, "ann", "first password").await.status,
        StatusCode::SEE_OTHER
    );
    for taken in ["ann", "ANN", " Ann "] {
        let refused = sign_up(edge, taken, "second password").await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{taken:?}");
        assert_eq!(
            error_message(&refused.html),
            "The name \u{201c}ann\u{201d} is taken. Choose another, or sign in if it is yours."
        );
    }
    // The first password still holds; the second never replaced it.
    assert_eq!(
        sign_in(edge, "ann", "first password").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        sign_in(edge, "ann", "second password").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_and_an_unknown_name_get_the_same_answer() {
    let system = System::start_with_accounts(1).await;
    let edge = &system.edge;
    Browser::signed_up(edge, "ann").await;

    let wrong_password = sign_in(edge, "ann", "not the password").await;
    let unknown_name = sign_in(edge, "nobody", "not the password").await;
    for refused in [&wrong_password, &unknown_name] {
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
        assert_eq!(
            error_message(&refused.html),
            "The user name or the password is wrong."
        );
        assert!(refused.set_cookie.is_empty());
    }
    assert_eq!(
        wrong_password
            .html
            .replace(r#"value="ann""#, r#"value="nobody""#),
        unknown_name.html,
        "the pages differ only in the name typed"
    );
    let empty = sign_in(edge, "ann", "").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_message(&empty.html),
        "Enter your user name and your password."
    );
    let right = sign_in(edge, "ANN", &password_for("ann")).await;
    assert_eq!(
        right.status,
        StatusCode::SEE_OTHER,
        "names ignore case: {}",
        right.html
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_rate_limited_per_name_and_per_address() {
    let store: std::sync::Arc<dyn middletier::store::Store> =
        std::sync::Arc::new(middletier::store::MemoryStore::new());
    let system = System::start_tuned(
        vec![store],
        |_| {},
        |edge| {
            edge.accounts.single_user = false;
            edge.accounts.max_failures_per_name = 3;
            edge.accounts.max_failures_per_ip = 5;
        },
    )
    .await;
    let edge = &system.edge;
    Browser::signed_up(edge, "ann").await;
    Browser::signed_up(edge, "bob").await;

    for _ in 0..3 {
        assert_eq!(
            sign_in(edge, "ann", "guess-guess").await.status,
            StatusCode::FORBIDDEN
        );
    }
    // Now even the right password is refused for this name, without being checked.
    let limited = sign_in(edge, "ann", &password_for("ann")).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.html
    );
    assert_eq!(
        error_message(&limited.html),
        "Too many failed sign-ins for this name or from your network. Try again in 15 minutes."
    );
    assert!(limited.set_cookie.is_empty());
    let seconds = limited.retry_after.expect("Retry-After");
    assert!((890..=900).contains(&seconds), "Retry-After: {seconds}");

    // Another name from the same address still works until the address has failed 5 times.
    assert_eq!(
        sign_in(edge, "bob", &password_for("bob")).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        sign_in(edge, "bob", "guess-guess").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        sign_in(edge, "cid", "guess-guess").await.status,
        StatusCode::FORBIDDEN
    );
    let address_limited = sign_in(edge, "bob", &password_for("bob")).await;
    assert_eq!(address_limited.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_is_rate_limited_per_address() {
    let store: std::sync::Arc<dyn middletier::store::Store> =
        std::sync::Arc::new(middletier::store::MemoryStore::new());
    let system = System::start_tuned(
        vec![store],
        |_| {},
        |edge| {
            edge.accounts.single_user = false;
            edge.accounts.max_signups_per_ip = 2;
        },
    )
    .await;
    let edge = &system.edge;
    for name in ["ann", "bob"] {
        assert_eq!(
            sign_up(edge, name, "a good password").await.status,
            StatusCode::SEE_OTHER
        );
    }
    let limited = sign_up(edge, "cid", "a good password").await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.html
    );
    assert_eq!(
        error_message(&limited.html),
        "Too many sign-ups from your network. Try again in 15 minutes."
    );
    assert!(limited.set_cookie.is_empty());
    let seconds = limited.retry_after.expect("Retry-After");
    assert!((890..=900).contains(&seconds), "Retry-After: {seconds}");
    // Refused before anything was created: the name is still free, and the others still sign in.
    assert_ne!(
        sign_in(edge, "cid", "a good password").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        sign_in(edge, "ann", "a good password").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_http_only_lax_and_lasts_the_configured_time() {
    let system = System::start_with_accounts(1).await;
    let signed_up = sign_up(&system.edge, "ann", "a good password").await;
    let set_cookie = signed_up
        .set_cookie
        .iter()
        .find(|cookie| cookie.starts_with("rss_session="))
        .expect("a session cookie");
    let attributes: Vec<&str> = set_cookie.split("; ").skip(1).collect();
    assert_eq!(
        attributes,
        ["Path=/", "Max-Age=2592000", "HttpOnly", "SameSite=Lax"],
        "30 days; not Secure on plain HTTP"
    );
    let token = cookie_of(&signed_up)["rss_session=".len()..].to_owned();
    assert_eq!(token.len(), 43, "32 random bytes, base64url");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );

    // A client can't make the cookie Secure (or anything else) by claiming HTTPS...
    let claimed = answer(
        no_redirects()
            .post(format!("{}/signin", system.edge.url()))
            .header("Origin", system.edge.url())
            .header("Sec-Fetch-Site", "same-origin")
            .header("X-Forwarded-Proto", "https")
            .form(&[("name", "ann"), ("password", "a good password")]),
    )
    .await;
    assert!(!claimed.set_cookie[0].contains("Secure"));

    // ...but an edge configured for HTTPS, or behind a trusted proxy that says so, does it.
    let secure = another_edge(&system, 1, |edge| edge.accounts.secure_cookies = true).await;
    let signed_in = sign_in(&secure, "ann", "a good password").await;
    assert!(signed_in.set_cookie[0].ends_with("; HttpOnly; SameSite=Lax; Secure"));
    let proxied = another_edge(&system, 1, |edge| edge.accounts.trust_proxy = true).await;
    let behind_tls = answer(
        no_redirects()
            .post(format!("{}/signin", proxied.url()))
            .header("Origin", proxied.url())
            .header("Sec-Fetch-Site", "same-origin")
            .header("X-Forwarded-Proto", "https")
            .form(&[("name", "ann"), ("password", "a good password")]),
    )
    .await;
    assert_eq!(
        behind_tls.status,
        StatusCode::SEE_OTHER,
        "{}",
        behind_tls.html
    );
    assert!(behind_tls.set_cookie[0].ends_with("; Secure"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_from_one_edge_works_on_another_and_sign_out_reaches_both() {
    let system = System::start_tuned(
        vec![std::sync::Arc::new(middletier::store::MemoryStore::new())],
        |_| {},
        |edge| {
            edge.accounts.single_user = false;
            edge.accounts.session_cache = Duration::from_millis(200);
        },
    )
    .await;
    let second = another_edge(&system, 1, |edge| {
        edge.accounts.session_cache = Duration::from_millis(200);
    })
    .await;

    let cookie = cookie_of(&sign_up(&system.edge, "ann", "a good password").await);
    let there = get(&second, "/", Some(&cookie)).await;
    assert_eq!(there.status, StatusCode::OK, "{}", there.html);
    assert!(there.html.contains("Signed in as <strong>ann</strong>"));
    assert!(get(&system.edge, "/", Some(&cookie)).await.status == StatusCode::OK);

    // Signed out through the second edge: at once there, within the cache time on the first.
    let signed_out = post(&second, "/signout", Some(&cookie), &[]).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        get(&second, "/", Some(&cookie)).await.status,
        StatusCode::SEE_OTHER
    );
    eventually("the first edge sees the sign-out", || async {
        get(&system.edge, "/", Some(&cookie)).await.status == StatusCode::SEE_OTHER
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_everywhere_ends_every_session_of_the_user_on_every_edge() {
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
    let first = &system.edge;
    let here = cookie_of(&sign_up(first, "ann", "a good password").await);
    let other_browser = cookie_of(&sign_in(first, "ann", "a good password").await);
    let other_edge = cookie_of(&sign_in(&second, "ann", "a good password").await);
    let bob = cookie_of(&sign_up(first, "bob", "a good password").await);
    for (edge, cookie) in [
        (first, &here),
        (first, &other_browser),
        (&second, &other_edge),
        (first, &bob),
    ] {
        assert_eq!(get(edge, "/", Some(cookie)).await.status, StatusCode::OK);
    }

    let manage = get(first, "/subscriptions", Some(&here)).await;
    assert!(
        manage
            .html
            .contains(r#"<form method="post" action="/signout/everywhere">"#),
        "the manage page has the button"
    );
    let signed_out = post(first, "/signout/everywhere", Some(&here), &[]).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        signed_out.location.as_deref(),
        Some("/signin?signed_out=everywhere")
    );
    assert!(
        signed_out
            .set_cookie
            .iter()
            .any(|cookie| cookie.starts_with("rss_session=;")),
        "this browser's cookie is cleared: {:?}",
        signed_out.set_cookie
    );
    let notice = get(first, "/signin?signed_out=everywhere", None).await;
    assert!(
        notice
            .html
            .contains("signed out on every browser and device")
    );

    // Both of the user's other sessions are refused: at once on this edge, whatever its cache,
    // and within the other edge's cache time there.
    for cookie in [&here, &other_browser] {
        assert_eq!(
            get(first, "/", Some(cookie)).await.status,
            StatusCode::SEE_OTHER
        );
    }
    eventually("the other edge refuses the session", || async {
        get(&second, "/", Some(&other_edge)).await.status == StatusCode::SEE_OTHER
    })
    .await;
    assert_eq!(
        get(first, "/", Some(&bob)).await.status,
        StatusCode::OK,
        "another user stays signed in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_refused() {
    let store: std::sync::Arc<dyn middletier::store::Store> =
        std::sync::Arc::new(middletier::store::MemoryStore::new());
    let system = System::start_tuned(
        vec![store],
        |_| {},
        |edge| {
            edge.accounts.single_user = false;
            edge.accounts.session_lifetime = Duration::from_secs(2);
        },
    )
    .await;
    let signed_up = sign_up(&system.edge, "ann", "a good password").await;
    assert!(
        signed_up.set_cookie[0].contains("Max-Age=2;"),
        "{:?}",
        signed_up.set_cookie
    );
    let cookie = cookie_of(&signed_up);
    assert_eq!(
        get(&system.edge, "/", Some(&cookie)).await.status,
        StatusCode::OK
    );
    // The browser would drop the cookie; a client that keeps sending it is refused anyway.
    eventually("the session expires", || async {
        let page = get(&system.edge, "/", Some(&cookie)).await;
        page.status == StatusCode::SEE_OTHER && page.location.as_deref() == Some("/signin")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_posts_to_the_account_forms_are_refused() {
    let system = System::start_with_accounts(1).await;
    let edge = &system.edge;
    let cookie = cookie_of(&sign_up(edge, "ann", "a good password").await);

    for path in ["/signin", "/signup", "/signout", "/signout/everywhere"] {
        let from_elsewhere = answer(
            no_redirects()
                .post(format!("{}{path}", edge.url()))
                .header("Sec-Fetch-Site", "cross-site")
                .header("Origin", "https://evil.example")
                .header("Cookie", &cookie)
                .form(&[("name", "mallory"), ("password", "a good password")]),
        )
        .await;
        assert_eq!(from_elsewhere.status, StatusCode::FORBIDDEN, "{path}");
        assert!(from_elsewhere.set_cookie.is_empty(), "{path}");
        // Old browsers send no Fetch Metadata: the Origin check catches them.
        let old_browser = answer(
            no_redirects()
                .post(format!("{}{path}", edge.url()))
                .header("Origin", "https://evil.example")
                .header("Cookie", &cookie)
                .form(&[("name", "mallory"), ("password", "a good password")]),
        )
        .await;
        assert_eq!(old_browser.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(
        get(edge, "/", Some(&cookie)).await.status,
        StatusCode::OK,
        "the cross-site sign-out did nothing"
    );
    assert_eq!(
        sign_in(edge, "mallory", "a good password").await.status,
        StatusCode::FORBIDDEN,
        "the cross-site sign-up created nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_never_leads_off_the_site() {
    let system = System::start_with_accounts(1).await;
    let edge = &system.edge;
    Browser::signed_up(edge, "ann").await;
    for next in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "javascript:alert(1)",
    ] {
        let signed_in = post(
            edge,
            "/signin",
            None,
            &[
                ("name", "ann"),
                ("password", &password_for("ann")),
                ("next", next),
            ],
        )
        .await;
        assert_eq!(signed_in.location.as_deref(), Some("/"), "{next:?}");
        let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let form = get(edge, &format!("/signin?next={encoded}"), None).await;
        assert!(
            form.html
                .contains(r#"<input type="hidden" name="next" value="/">"#),
            "{next:?}: {}",
            form.html
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_can_neither_see_nor_change_a_users_feeds_or_reading_state() {
    let publisher = FeedPublisher::start().await;
    let system = System::start_with_accounts(1).await;
    let edge = &system.edge;
    let ann = Browser::signed_up(edge, "ann").await;
    let bob = Browser::signed_up(edge, "bob").await;
    let feed = publisher.url("/rss.xml");
    let other_feed = publisher.url("/atom.xml");

    assert_eq!(ann.subscribe(&feed).await.status, StatusCode::OK);
    let middletier = crate::support::middletier_api(Duration::from_secs(5));
    let base = url::Url::parse(&format!("{}/", system.middletiers[0].url())).expect("url");
    let anns = middletier.feeds(&base, "ann").await.expect("ann's feeds");
    let item = anns.subscriptions[0].items[0].id.clone();
    assert!(!item.is_empty());
    assert!(ann.home().await.html.contains("RSS first story"));

    // Bob's pages show none of it, whatever he puts in the address.
    let encoded: String = url::form_urlencoded::byte_serialize(feed.as_bytes()).collect();
    for path in [
        "/".to_owned(),
        "/?user=ann".to_owned(),
        format!("/?feed={encoded}"),
        format!("/?feed={encoded}&user=ann"),
        "/subscriptions".to_owned(),
        "/subscriptions.opml".to_owned(),
    ] {
        let page = bob.get(&path).send().await.expect("answer");
        let status = page.status();
        let text = page.text().await.expect("body");
        assert!(
            status.is_success() || status.is_client_error(),
            "{path}: {status}"
        );
        // The per-feed view may echo the address Bob typed, but nothing Ann has.
        let echoes_the_address = path.contains("feed=");
        let secrets = ["RSS first story", "Loopback Daily", feed.as_str()];
        for secret in secrets
            .iter()
            .filter(|s| !(echoes_the_address && **s == feed))
        {
            assert!(
                !text.contains(secret),
                "{path} shows {secret:?} to bob: {text}"
            );
        }
    }

    // Bob's forms change only Bob's data, even naming Ann or her feed and item.
    for (path, form) in [
        (
            "/subscriptions/delete",
            vec![("url", feed.as_str()), ("user", "ann")],
        ),
        (
            "/subscriptions",
            vec![("url", other_feed.as_str()), ("user", "ann")],
        ),
        (
            "/items/state",
            vec![
                ("feed", feed.as_str()),
                ("item", &item),
                ("starred", "true"),
                ("user", "ann"),
            ],
        ),
        (
            "/items/state",
            vec![("feed", feed.as_str()), ("item", &item), ("read", "true")],
        ),
        (
            "/items/read",
            vec![("feed", feed.as_str()), ("user", "ann")],
        ),
        ("/items/read", vec![]),
        (
            "/subscriptions/category",
            vec![
                ("url", feed.as_str()),
                ("category", "Bob's"),
                ("user", "ann"),
            ],
        ),
    ] {
        let answer = bob.post(path).form(&form).send().await.expect("answer");
        assert!(
            !answer.status().is_server_error(),
            "{path}: {}",
            answer.status()
        );
    }
    let anns = middletier.feeds(&base, "ann").await.expect("ann's feeds");
    assert_eq!(anns.subscriptions.len(), 1, "ann keeps her one feed");
    assert_eq!(anns.subscriptions[0].url, feed);
    assert_eq!(anns.subscriptions[0].category, None);
    let anns_items = &anns.subscriptions[0].items;
    assert!(
        anns_items.iter().all(|item| !item.read && !item.starred),
        "{anns_items:?}"
    );
    let bobs = middletier.feeds(&base, "bob").await.expect("bob's feeds");
    assert_eq!(
        bobs.subscriptions
            .iter()
            .map(|s| s.url.as_str())
            .collect::<Vec<_>>(),
        [other_feed.as_str()],
        "bob's subscribe went to bob"
    );

    // On the same feed, each keeps their own reading state.
    assert_eq!(bob.subscribe(&feed).await.status, StatusCode::OK);
    let starred = ann
        .post("/items/state")
        .form(&[
            ("feed", feed.as_str()),
            ("item", item.as_str()),
            ("starred", "true"),
        ])
        .send()
        .await
        .expect("answer");
    assert!(starred.status().is_success(), "{}", starred.status());
    let starred_only = RiverQuery {
        filter: Filter::Starred,
        ..RiverQuery::default()
    };
    let anns = middletier
        .river(&base, "ann", &starred_only)
        .await
        .expect("river");
    assert_eq!(anns.items.len(), 1);
    let bobs = middletier
        .river(&base, "bob", &starred_only)
        .await
        .expect("river");
    assert!(bobs.items.is_empty(), "ann's star is not bob's");
    let echo = middletier
        .set_item_state(
            &base,
            "bob",
            &ItemStateChange {
                feed: feed.clone(),
                item: item.clone(),
                read: Some(true),
                starred: None,
            },
        )
        .await
        .expect("bob reads it");
    assert_eq!(echo.read, Some(true));
    let anns = middletier.feeds(&base, "ann").await.expect("ann's feeds");
    let anns_item = anns.subscriptions[0]
        .items
        .iter()
        .find(|i| i.id == item)
        .expect("the item");
    assert!(!anns_item.read, "bob reading it leaves it unread for ann");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_single_user_mode_everyone_reads_as_the_default_user_without_signing_in() {
    let system = System::start(1).await;
    let edge = &system.edge;
    let page = get(edge, "/", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("Reading as <strong>default</strong>"),
        "{}",
        page.html
    );
    assert!(!page.html.contains("/signout"), "nobody to sign out");
    for path in ["/signin", "/signup"] {
        let redirected = get(edge, path, None).await;
        assert_eq!(redirected.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(redirected.location.as_deref(), Some("/"));
    }
    let sign_up = sign_up(edge, "ann", "a good password").await;
    assert_eq!(sign_up.location.as_deref(), Some("/"));
    assert!(sign_up.set_cookie.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_refuses_to_start_in_single_user_mode_in_prod() {
    let config_dir = std::env::temp_dir().join(format!("edge-prod-{}", std::process::id()));
    std::fs::create_dir_all(&config_dir).expect("a config dir");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_edge"))
        .env("RSS_CONFIG_DIR", &config_dir)
        .env("RSS_ENV", "prod")
        .env("RSS_ACCOUNTS__SINGLE_USER", "true")
        .env("RSS_SERVER__PORT", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the edge runs");
    // Killed if the test fails before it exits, so no edge outlives the test.
    struct Running(Option<std::process::Child>);
    impl Drop for Running {
        fn drop(&mut self) {
            if let Some(child) = self.0.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let running = std::sync::Mutex::new(Running(Some(child)));
    platform::testing::eventually(
        "the edge refuses to start",
        Duration::from_secs(20),
        || async {
            let mut running = running.lock().expect("lock");
            let child = running.0.as_mut().expect("running");
            child.try_wait().expect("wait").is_some()
        },
    )
    .await;
    let child = running.lock().expect("lock").0.take().expect("exited");
    let output = child.wait_with_output().expect("output");
    assert!(!output.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("RSS_ACCOUNTS__SINGLE_USER=true") && said.contains("RSS_ENV=prod"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&config_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_in_users_see_their_name_and_a_sign_out_button() {
    let system = System::start_with_accounts(1).await;
    let ann = Browser::signed_up(&system.edge, "ann").await;
    let page = ann.home().await;
    assert!(
        page.html
            .contains(r#"<nav class="account-nav" aria-label="Account">"#)
    );
    assert!(page.html.contains("Signed in as <strong>ann</strong>"));
    assert!(
        page.html
            .contains(r#"<button type="submit">Sign out</button>"#)
    );
    let visitor = get(&system.edge, "/signin", None).await;
    assert!(visitor.html.contains(r#"<a href="/signin">Sign in</a>"#));
    assert!(
        visitor
            .html
            .contains(r#"<a href="/signup">Create an account</a>"#)
    );
    assert!(!visitor.html.contains("Sign out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readers_pages_are_kept_out_of_shared_caches() {
    let system = System::start_with_accounts(1).await;
    let cookie = cookie_of(&sign_up(&system.edge, "ann", "a good password").await);
    for path in ["/", "/?filter=starred", "/subscriptions"] {
        let response = no_redirects()
            .get(format!("{}{path}", system.edge.url()))
            .header("Cookie", &cookie)
            .send()
            .await
            .expect("the edge answers");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()[CACHE_CONTROL],
            "private, no-store",
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_sends_the_service_token_the_middle_tier_requires() {
    use platform::config::Secret;
    let token = "a-shared-service-token";
    let store: std::sync::Arc<dyn middletier::store::Store> =
        std::sync::Arc::new(middletier::store::MemoryStore::new());
    let system = System::start_tuned(
        vec![store],
        |middletier| middletier.api.token = Some(Secret::new(token)),
        |edge| {
            edge.accounts.single_user = false;
            edge.middletier.token = Some(Secret::new(token));
        },
    )
    .await;
    let signed_up = sign_up(&system.edge, "ann", "a good password").await;
    assert_eq!(
        signed_up.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_up.html
    );
    let cookie = cookie_of(&signed_up);
    assert_eq!(
        get(&system.edge, "/", Some(&cookie)).await.status,
        StatusCode::OK
    );

    // An edge without the token gets nothing from the middle tier: no account, no session.
    let tokenless = another_edge(&system, 1, |_| {}).await;
    let refused = sign_in(&tokenless, "ann", "a good password").await;
    assert_ne!(refused.status, StatusCode::SEE_OTHER, "{}", refused.html);
    assert!(refused.set_cookie.is_empty());
    let page = get(&tokenless, "/", Some(&cookie)).await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.html
    );
    assert!(
        page.html.contains(
            "Your sign-in can&#39;t be checked right now: the feed service is unavailable."
        ),
        "{}",
        page.html
    );
    assert!(!page.html.contains("token"), "no internals on the page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn accounts_and_sessions_live_in_cassandra_for_every_middletier_and_edge() {
    use middletier::testing::{cassandra_store, unique_prefix};
    // Each middle tier has its own Cassandra session: they share only what is stored.
    let first: std::sync::Arc<dyn middletier::store::Store> =
        std::sync::Arc::new(cassandra_store().await);
    let second: std::sync::Arc<dyn middletier::store::Store> =
        std::sync::Arc::new(cassandra_store().await);
    let system = System::start_tuned(
        vec![first, second],
        |_| {},
        |edge| {
            edge.accounts.single_user = false;
        },
    )
    .await;
    let other_edge = another_edge(&system, 2, |_| {}).await;

    // A fresh name per run: the keyspace outlives the test.
    let name = format!("{}ann", unique_prefix()).to_ascii_lowercase();
    let signed_up = sign_up(&system.edge, &name, "a good password").await;
    assert_eq!(
        signed_up.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_up.html
    );
    let cookie = cookie_of(&signed_up);
    let token = edge::session::Token::parse(&cookie["rss_session=".len()..]).expect("a token");

    let client = crate::support::middletier_api(Duration::from_secs(10));
    for middletier in &system.middletiers {
        let base = url::Url::parse(&format!("{}/", middletier.url())).expect("url");
        let account = client
            .account(&base, &name)
            .await
            .expect("account")
            .expect("stored");
        assert!(
            account.password_hash.starts_with("$argon2id$"),
            "only the hash is stored"
        );
        let session = client
            .session(&base, &token.hash())
            .await
            .expect("session")
            .expect("stored under the token's hash");
        assert_eq!(session.user, name);
    }
    // Every edge, through either middle tier, knows the session; every page load alternates.
    for _ in 0..4 {
        let page = get(&other_edge, "/", Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    }
    assert_eq!(
        sign_in(&other_edge, &name, "a good password").await.status,
        StatusCode::SEE_OTHER
    );

    let signed_out = post(&other_edge, "/signout", Some(&cookie), &[]).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    for middletier in &system.middletiers {
        let base = url::Url::parse(&format!("{}/", middletier.url())).expect("url");
        assert_eq!(
            client.session(&base, &token.hash()).await.expect("session"),
            None,
            "signed out everywhere"
        );
    }
}
