//! Untrusted input at the edge, attacked on the wire against the real registry, middle tier and
//! edge on loopback: the open redirect through `/items/open` (and the sign-in round trip), name
//! enumeration through sign-up, locking a user out from elsewhere, oversized or compressed
//! answers from a middle tier, and the session cookie's prefix with HSTS.

use std::sync::Arc;

use middletier::store::{MemoryStore, Store};
use middletier::testing::FeedPublisher;
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;

use crate::support::{
    Answer, Browser, Service, System, another_edge, answer, no_redirects, password_for,
};

const EVIL: &str = "https%3A%2F%2Fevil.example%2F";

/// A same-origin form POST from `address` (the edge trusts `X-Forwarded-For` in these tests'
/// systems that set `trust_proxy`; elsewhere the header is ignored).
async fn post_from(edge: &Service, address: &str, path: &str, form: &[(&str, &str)]) -> Answer {
    answer(
        no_redirects()
            .post(format!("{}{path}", edge.url()))
            .header("Origin", edge.url())
            .header("Sec-Fetch-Site", "same-origin")
            .header("X-Forwarded-For", address)
            .form(form),
    )
    .await
}

/// The `/items/open` link of the first item on `html`, unescaped, without any `to` an older
/// page added (so the test reads the same on the code before and after the fix).
fn open_link(html: &str) -> String {
    let start = html.find("href=\"/items/open?").expect("an open link") + "href=\"".len();
    let link = &html[start..];
    let link = link[..link.find('"').expect("a closing quote")]
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    link.split("&to=").next().expect("a link").to_owned()
}

/// Follows a browser's same-origin redirects on the edge from `path`, with `cookie`: every
/// `Location` it was sent to.
async fn locations(edge: &Service, path: &str, cookie: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next = path.to_owned();
    for _ in 0..5 {
        let hop = answer(
            no_redirects()
                .get(format!("{}{next}", edge.url()))
                .header("Cookie", cookie)
                .header("Sec-Fetch-Site", "same-origin"),
        )
        .await;
        let Some(location) = hop.location else { break };
        seen.push(location.clone());
        if !location.starts_with('/') {
            break;
        }
        next = location;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_an_item_never_redirects_where_the_request_says() {
    let publisher = FeedPublisher::start().await;
    let system = System::start_with_accounts(1).await;
    let edge = &system.edge;
    let reader = Browser::signed_up(edge, "ann").await;
    reader.subscribe(&publisher.url("/rss.xml")).await;
    let open = open_link(&reader.home().await.html);
    let cookie = reader.cookie.clone().expect("signed in");

    // A crafted link naming a real item of the reader's feed and another destination: the
    // reader goes to the item's own link.
    let crafted = format!("{open}&to={EVIL}");
    let hops = locations(edge, &crafted, &cookie).await;
    assert_eq!(hops.len(), 1, "{crafted}: {hops:?}");
    assert!(
        hops[0].starts_with("http://publisher.test/rss/"),
        "{crafted}: {hops:?}"
    );

    // An item the reader does not have: nowhere at all.
    let foreign = format!("/items/open?feed=http%3A%2F%2Fnowhere.example%2Ffeed&item=x&to={EVIL}");
    let refused = answer(
        no_redirects()
            .get(format!("{}{foreign}", edge.url()))
            .header("Cookie", &cookie)
            .header("Sec-Fetch-Site", "same-origin"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.html);
    assert_eq!(refused.location, None);
    assert!(!refused.html.contains("evil.example"), "{}", refused.html);

    // Through the sign-in round trip: a visitor sent to the crafted link signs in and is
    // still only ever sent to the item's link.
    for link in [crafted, foreign] {
        let visitor = answer(no_redirects().get(format!("{}{link}", edge.url()))).await;
        let signin = visitor.location.expect("sent to sign in");
        assert!(signin.starts_with("/signin?next="), "{signin}");
        let next: String =
            url::form_urlencoded::parse(signin.split_once('?').expect("a query").1.as_bytes())
                .find(|(key, _)| key == "next")
                .map(|(_, value)| value.into_owned())
                .expect("a next parameter");
        let signed_in = post_from(
            edge,
            "127.0.0.1",
            "/signin",
            &[
                ("name", "ann"),
                ("password", &password_for("ann")),
                ("next", &next),
            ],
        )
        .await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            signed_in.html
        );
        let back = signed_in.location.expect("back to the link");
        let session = session_pair(&signed_in.set_cookie, "rss_session");
        let hops = locations(edge, &back, &session).await;
        assert!(
            hops.iter().all(|hop| !hop.contains("evil.example")),
            "{link}: {hops:?}"
        );
    }
}

/// `name=value` of the cookie `name` set in `set_cookie`.
fn session_pair(set_cookie: &[String], name: &str) -> String {
    set_cookie
        .iter()
        .filter_map(|cookie| cookie.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")) && pair.len() > name.len() + 1)
        .unwrap_or_else(|| panic!("no {name} cookie in {set_cookie:?}"))
        .to_owned()
}

/// An edge with accounts behind a (simulated) trusted proxy, so each test request can say
/// which client address it comes from.
async fn system_behind_proxy(tune: impl FnOnce(&mut edge::Settings)) -> System {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    System::start_tuned(
        vec![store],
        |_| {},
        |edge| {
            edge.accounts.single_user = false;
            edge.accounts.trust_proxy = true;
            tune(edge);
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ups_with_a_taken_name_are_counted_until_the_address_is_refused() {
    // The default limit: what a deployment runs with.
    let system = System::start_with_accounts(1).await;
    let edge = &system.edge;
    Browser::signed_up(edge, "ann").await;
    let mut answers = Vec::new();
    for _ in 0..30 {
        let attempt = post_from(
            edge,
            "127.0.0.1",
            "/signup",
            &[("name", "ann"), ("password", "a good password")],
        )
        .await;
        answers.push(attempt);
    }
    let statuses: Vec<StatusCode> = answers.iter().map(|answer| answer.status).collect();
    assert!(
        statuses.contains(&StatusCode::CONFLICT),
        "the first tries learn the name is taken: {statuses:?}"
    );
    let last = answers.last().expect("thirty answers");
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    let wait: u64 = last.headers[RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&wait), "Retry-After: {wait}");
    let conflicts = statuses
        .iter()
        .filter(|status| **status == StatusCode::CONFLICT)
        .count();
    assert!(
        conflicts < 30
            && conflicts <= edge::Settings::default().accounts.max_signups_per_ip as usize,
        "{conflicts} names checked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_from_one_address_do_not_lock_the_user_out_of_another() {
    let system = system_behind_proxy(|_| {}).await;
    let edge = &system.edge;
    Browser::signed_up(edge, "ann").await;
    let attacker = "203.0.113.66";
    let owner = "192.0.2.1";
    let limit = edge::Settings::default().accounts.max_failures_per_name;
    for _ in 0..limit {
        let guess = post_from(
            edge,
            attacker,
            "/signin",
            &[("name", "ann"), ("password", "guess-guess")],
        )
        .await;
        assert_eq!(guess.status, StatusCode::FORBIDDEN, "{}", guess.html);
    }
    let locked = post_from(
        edge,
        attacker,
        "/signin",
        &[("name", "ann"), ("password", &password_for("ann"))],
    )
    .await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the attacker's address is limited for this name"
    );

    let signed_in = post_from(
        edge,
        owner,
        "/signin",
        &[("name", "ann"), ("password", &password_for("ann"))],
    )
    .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "the owner signs in from their own network: {}",
        signed_in.html
    );
    session_pair(&signed_in.set_cookie, "rss_session");
}

/// Decoded size of the fake middle tier's answers: four times the edge's default cap.
const HUGE: usize = 64 * 1024 * 1024;

/// `{...prefix, "padding": "AAAA…"}`, `HUGE` bytes in all: valid JSON of the right shape (an
/// unknown field is ignored), so only a size cap can refuse it.
fn padded_chunks(prefix: &str) -> impl Iterator<Item = Vec<u8>> {
    let head = format!("{prefix},\"padding\":\"").into_bytes();
    let tail = b"\"}".to_vec();
    let chunk = vec![b'A'; 64 * 1024];
    let chunks = (HUGE - head.len() - tail.len()) / chunk.len();
    std::iter::once(head)
        .chain(std::iter::repeat_n(chunk, chunks))
        .chain(std::iter::once(tail))
}

/// A gzip bomb: `HUGE` bytes of river JSON in about a thousandth of that on the wire.
fn gzip_bomb() -> Vec<u8> {
    use std::io::Write;
    let prefix = r#"{"user":"default","items":[],"next":null,"unread":0,"feeds":[]"#;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for chunk in padded_chunks(prefix) {
        encoder.write_all(&chunk).expect("compressed");
    }
    encoder.finish().expect("compressed")
}

/// A "middle tier" with a real middle tier's certificate, registered under the real VIP, that answers every river read with a gzip
/// bomb and every feed-list read with `HUGE` bytes of plain JSON.
async fn start_oversized_middletier(registry: &Service, shutdown: &platform::lifecycle::Shutdown) {
    use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
    let bomb = axum::body::Bytes::from(gzip_bomb());
    assert!(bomb.len() < HUGE / 100, "{} bytes on the wire", bomb.len());
    let plain: Vec<u8> = padded_chunks(r#"{"user":"default","subscriptions":[]"#)
        .flatten()
        .collect();
    let plain = axum::body::Bytes::from(plain);
    let router = axum::Router::new()
        .route(
            "/middletier/rss/user/{user}/items",
            axum::routing::get(move || async move {
                (
                    [
                        (CONTENT_TYPE, "application/json"),
                        (CONTENT_ENCODING, "gzip"),
                    ],
                    bomb,
                )
            }),
        )
        .route(
            "/middletier/rss/user/{user}",
            axum::routing::get(
                move || async move { ([(CONTENT_TYPE, "application/json")], plain) },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    // A real middle tier's certificate: the edge talks to it, and only the cap protects it.
    let identity = crate::support::mtls_settings("middletier")
        .load("middletier")
        .expect("the test certificates load")
        .expect("TLS is configured");
    tokio::spawn(platform::server::serve_with(
        listener,
        router,
        shutdown.clone(),
        platform::server::Listening {
            tls: Some(identity.server_config(&["edge"]).expect("a server config")),
            ..platform::server::Listening::default()
        },
    ));
    let settings =
        crate::support::fast_client(&crate::support::eureka_url_as(registry, "middletier"));
    let client = registry_client::RegistryClient::new(&settings).expect("registry client");
    registry_client::Registration::start(
        client,
        registry_client::InstanceConfig {
            app: "MIDDLETIER".to_owned(),
            vip_address: "middletier".to_owned(),
            host: "127.0.0.1".to_owned(),
            ip_addr: "127.0.0.1".to_owned(),
            port,
            secure: true,
            health_check_path: "/health".to_owned(),
        },
        &settings,
        platform::health::Health::up(),
        shutdown.clone(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_or_compressed_answers_from_a_middle_tier_fail_the_call() {
    let system = System::start_on(Vec::new()).await;
    let shutdown = platform::lifecycle::Shutdown::new();
    start_oversized_middletier(&system.registry, &shutdown).await;
    crate::support::eventually("the edge discovers the fake middle tier", || async {
        crate::support::edge_instances(&system.edge).await.len() == 1
    })
    .await;
    let browser = Browser::new(&system.edge);

    // The river's answer inflates far past the cap: no page from it, the reason instead.
    let river = browser.home().await;
    assert_eq!(river.status, StatusCode::OK);
    assert!(river.html.contains("banner-error"), "{}", river.html);
    assert!(!river.html.contains("AAAA"));

    // So does the feed list's, sent as it is.
    let feeds = browser
        .get("/subscriptions")
        .send()
        .await
        .expect("an answer");
    let html = feeds.text().await.expect("a page");
    assert!(html.contains("banner-error"), "{html}");
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_cookies_are_host_prefixed_and_https_is_made_strict() {
    let system = System::start_with_accounts(1).await;
    let plain = &system.edge;
    let hsts = reqwest::header::STRICT_TRANSPORT_SECURITY;

    // Plain HTTP (a local run): the plain name, not Secure, no HSTS.
    let signed_up = post_from(
        plain,
        "127.0.0.1",
        "/signup",
        &[("name", "ann"), ("password", &password_for("ann"))],
    )
    .await;
    assert_eq!(
        signed_up.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_up.html
    );
    let plain_cookie = session_pair(&signed_up.set_cookie, "rss_session");
    assert!(!signed_up.set_cookie[0].contains("Secure"));
    assert!(signed_up.headers.get(&hsts).is_none());

    // Served over HTTPS: `__Host-`, Secure, Path=/, no Domain, and HSTS on every page.
    let secure = another_edge(&system, 1, |edge| edge.accounts.secure_cookies = true).await;
    let signed_in = post_from(
        &secure,
        "127.0.0.1",
        "/signin",
        &[("name", "ann"), ("password", &password_for("ann"))],
    )
    .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.html
    );
    let set = &signed_in.set_cookie[0];
    assert!(set.starts_with("__Host-rss_session="), "{set}");
    assert!(
        set.contains("; Path=/;") && set.ends_with("; Secure"),
        "{set}"
    );
    assert!(!set.to_ascii_lowercase().contains("domain"), "{set}");
    assert_eq!(signed_in.headers[&hsts], "max-age=31536000");
    let host_cookie = session_pair(&signed_in.set_cookie, "__Host-rss_session");
    let home = answer(
        no_redirects()
            .get(format!("{}/", secure.url()))
            .header("Cookie", &host_cookie),
    )
    .await;
    assert_eq!(
        home.status,
        StatusCode::OK,
        "signed in: {:?}",
        home.location
    );
    assert_eq!(home.headers[&hsts], "max-age=31536000");

    // A plain-named cookie (say, planted by a sibling subdomain or over plain HTTP) is not
    // a session there, even holding a live token.
    let planted = answer(
        no_redirects()
            .get(format!("{}/", secure.url()))
            .header("Cookie", &plain_cookie),
    )
    .await;
    assert_eq!(planted.status, StatusCode::SEE_OTHER);
    assert!(
        planted
            .location
            .as_deref()
            .is_some_and(|to| to.starts_with("/signin")),
        "{:?}",
        planted.location
    );

    // Behind a trusted proxy, HTTPS is what the proxy says, request by request.
    let proxied = another_edge(&system, 1, |edge| edge.accounts.trust_proxy = true).await;
    let over_https = answer(
        no_redirects()
            .get(format!("{}/signin", proxied.url()))
            .header("X-Forwarded-Proto", "https"),
    )
    .await;
    assert_eq!(over_https.headers[&hsts], "max-age=31536000");
    let over_http = answer(no_redirects().get(format!("{}/signin", proxied.url()))).await;
    assert!(over_http.headers.get(&hsts).is_none());
}
