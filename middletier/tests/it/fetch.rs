//! The fetcher and parser against a real publisher on loopback: the SSRF matrix, redirects,
//! conditional GET, caching hints, hostile publishers, charsets, concurrency limits, and the
//! `middletier check-feed` tool.

use std::time::{Duration, Instant};

use middletier::feed::{self, FeedError};
use middletier::fetch::{FetchError, FetchSettings, Fetched, Fetcher, Validators};
use middletier::testing::{self, FeedPublisher};
use middletier_api::domain::FeedUrl;
use reqwest::StatusCode;

use crate::support::assert_bounded;

/// Only `publisher` may be private: the way an operator lets one local feed server through.
fn allowing(publisher: &FeedPublisher) -> FetchSettings {
    FetchSettings {
        allowed_hosts: publisher.authority().to_owned(),
        ..FetchSettings::default()
    }
}

async fn fetch(settings: FetchSettings, url: &str) -> Result<Fetched, FetchError> {
    let fetcher = Fetcher::new(settings).expect("fetcher");
    fetcher.fetch(&FeedUrl::parse(url).expect("feed url")).await
}

fn blocked_host(result: Result<Fetched, FetchError>) -> String {
    match result {
        Err(FetchError::Blocked(host)) => host,
        other => panic!("expected Blocked, got {other:?}"),
    }
}

fn url_of(publisher: &FeedPublisher, path: &str) -> url::Url {
    url::Url::parse(&publisher.url(path)).expect("url")
}

// --- SSRF -----------------------------------------------------------------------------------

#[tokio::test]
async fn private_ip_literals_in_every_spelling_are_refused_before_connecting() {
    let publisher = FeedPublisher::start().await;
    let port = url_of(&publisher, "/").port().expect("port");
    let cases = [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.255.255.254", "127.255.255.254"),
        ("10.0.0.1", "10.0.0.1"),
        ("172.16.0.1", "172.16.0.1"),
        ("172.31.255.1", "172.31.255.1"),
        ("192.168.0.1", "192.168.0.1"),
        ("169.254.169.254", "169.254.169.254"),
        ("100.64.0.1", "100.64.0.1"),
        ("224.0.0.1", "224.0.0.1"),
        ("0.0.0.0", "0.0.0.0"),
        ("0", "0.0.0.0"),
        ("[::]", "::"),
        ("[::1]", "::1"),
        ("[fc00::1]", "fc00::1"),
        ("[fd12:3456::1]", "fd12:3456::1"),
        ("[fe80::1]", "fe80::1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("[::ffff:10.0.0.1]", "::ffff:10.0.0.1"),
    ];
    for (spelling, normalised) in cases {
        let url = format!("http://{spelling}:{port}/rss.xml");
        let host = blocked_host(fetch(FetchSettings::default(), &url).await);
        assert_eq!(host, normalised, "{url}");
    }
    assert_eq!(publisher.requests("/rss.xml"), 0, "nothing got through");
}

#[tokio::test]
async fn a_host_name_resolving_to_loopback_is_refused_at_connect_time() {
    let publisher = FeedPublisher::start().await;
    for host in ["localhost", "LOCALHOST"] {
        let url = publisher.url("/rss.xml").replace("127.0.0.1", host);
        assert_eq!(
            blocked_host(fetch(FetchSettings::default(), &url).await),
            host.to_ascii_lowercase(),
            "{url}"
        );
    }
    let error = fetch(
        FetchSettings::default(),
        &publisher.url("/rss.xml").replace("127.0.0.1", "localhost"),
    )
    .await
    .expect_err("blocked");
    assert_eq!(
        error.to_string(),
        "localhost is a private or local address, which feeds may not use"
    );
    assert!(!error.is_transient());
    assert_eq!(publisher.requests("/rss.xml"), 0);
}

#[tokio::test]
async fn allowed_hosts_let_only_the_listed_publishers_through() {
    let publisher = FeedPublisher::start().await;
    let fetched = fetch(allowing(&publisher), &publisher.url("/rss.xml"))
        .await
        .expect("the allowed publisher is reachable");
    assert_eq!(fetched.status, StatusCode::OK);

    let by_name = publisher.url("/rss.xml").replace("127.0.0.1", "localhost");
    let names_localhost = FetchSettings {
        allowed_hosts: "feeds.lan:8080, localhost".to_owned(),
        ..FetchSettings::default()
    };
    fetch(names_localhost, &by_name)
        .await
        .expect("an allowed name skips the resolver guard");
    assert_eq!(
        blocked_host(fetch(allowing(&publisher), &by_name).await),
        "localhost",
        "127.0.0.1:port does not allow localhost"
    );

    let other_port = FetchSettings {
        allowed_hosts: "127.0.0.1:1".to_owned(),
        ..FetchSettings::default()
    };
    assert_eq!(
        blocked_host(fetch(other_port, &publisher.url("/rss.xml")).await),
        "127.0.0.1"
    );
    assert_eq!(publisher.requests("/rss.xml"), 2);
}

#[tokio::test]
async fn redirects_from_an_allowed_publisher_to_private_addresses_are_refused() {
    let publisher = FeedPublisher::start().await;
    let port = url_of(&publisher, "/").port().expect("port");
    let redirect = |target: &str| {
        let mut url = url_of(&publisher, "/redirect-to");
        url.query_pairs_mut().append_pair("url", target);
        url.to_string()
    };
    for (target, host) in [
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
        ),
        ("http://10.0.0.1/feed.xml", "10.0.0.1"),
        ("http://0x7f000001:9/feed.xml", "127.0.0.1"),
        ("http://[::ffff:192.168.0.1]/", "::ffff:192.168.0.1"),
        (&format!("http://localhost:{port}/rss.xml"), "localhost"),
    ] {
        let result = fetch(allowing(&publisher), &redirect(target)).await;
        assert_eq!(blocked_host(result), host, "{target}");
    }
    let error = fetch(allowing(&publisher), &redirect("file:///etc/passwd"))
        .await
        .expect_err("not http");
    assert!(matches!(error, FetchError::BadRedirect(_)), "{error}");
    assert_eq!(publisher.requests("/redirect-to"), 6);
    assert_eq!(publisher.requests("/rss.xml"), 0);
}

#[tokio::test]
async fn allow_private_networks_still_reaches_loopback_publishers() {
    let publisher = FeedPublisher::start().await;
    let open = FetchSettings {
        allow_private_networks: true,
        ..FetchSettings::default()
    };
    for url in [
        publisher.url("/rss.xml"),
        publisher.url("/rss.xml").replace("127.0.0.1", "localhost"),
        publisher.url("/rss.xml").replace("127.0.0.1", "127.1"),
    ] {
        fetch(open.clone(), &url).await.expect(&url);
    }
}

// --- Redirects ------------------------------------------------------------------------------

#[tokio::test]
async fn five_redirects_are_followed_and_a_sixth_is_not() {
    let publisher = FeedPublisher::start().await;
    let fetched = fetch(allowing(&publisher), &publisher.url("/redirect/5"))
        .await
        .expect("5 redirects are fine");
    assert_eq!(fetched.final_url, url_of(&publisher, "/redirect/0"));
    assert_eq!(fetched.moved_permanently_to, None, "302s are temporary");
    let parsed = feed::parse(&fetched.body, &fetched.final_url).expect("feed");
    assert_eq!(parsed.title.as_deref(), Some("Loopback Daily"));

    let error = fetch(allowing(&publisher), &publisher.url("/redirect/6"))
        .await
        .expect_err("6 is too many");
    assert!(matches!(error, FetchError::TooManyRedirects(5)), "{error}");
    assert_eq!(error.to_string(), "more than 5 redirects");
    assert_eq!(
        publisher.requests("/redirect/0"),
        1,
        "the 6th was not followed"
    );
}

#[tokio::test]
async fn only_all_permanent_redirect_chains_say_where_the_feed_moved() {
    let publisher = FeedPublisher::start().await;
    let rss = url_of(&publisher, "/rss.xml");
    for (path, moved) in [
        ("/perm1.xml", Some(&rss)),
        ("/perm2.xml", Some(&rss)),
        ("/moved.xml", Some(&rss)),
        ("/temp-after-perm.xml", None),
        ("/temp.xml", None),
        ("/rss.xml", None),
    ] {
        let fetched = fetch(allowing(&publisher), &publisher.url(path))
            .await
            .expect(path);
        assert_eq!(fetched.final_url, rss, "{path}");
        assert_eq!(fetched.moved_permanently_to.as_ref(), moved, "{path}");
    }
}

// --- Status codes ---------------------------------------------------------------------------

#[tokio::test]
async fn gone_and_rate_limited_publishers_are_told_apart() {
    let publisher = FeedPublisher::start().await;
    let gone = fetch(allowing(&publisher), &publisher.url("/gone.xml"))
        .await
        .expect_err("410");
    assert!(matches!(gone, FetchError::Gone));
    assert_eq!(
        gone.to_string(),
        "the publisher says this feed is gone (410 Gone)"
    );
    assert!(!gone.is_transient());

    let limited = fetch(allowing(&publisher), &publisher.url("/limited.xml"))
        .await
        .expect_err("429");
    assert_eq!(
        limited.to_string(),
        "the server asked us to slow down (429 Too Many Requests)"
    );
    assert!(limited.is_transient());
    assert!(matches!(
        limited,
        FetchError::RateLimited { status: StatusCode::TOO_MANY_REQUESTS, retry_after: Some(after) }
            if after == Duration::from_secs(testing::RETRY_AFTER_SECONDS)
    ));

    match fetch(allowing(&publisher), &publisher.url("/unavailable.xml")).await {
        Err(FetchError::RateLimited {
            status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: Some(after),
        }) => {
            let expected = testing::RETRY_AFTER_SECONDS;
            assert!(
                (expected - 5..=expected).contains(&after.as_secs()),
                "an HTTP date {expected} s ahead, got {after:?}"
            );
        }
        other => panic!("expected 503 with a Retry-After date, got {other:?}"),
    }

    let missing = fetch(allowing(&publisher), &publisher.url("/missing.xml"))
        .await
        .expect_err("404");
    assert!(matches!(missing, FetchError::Status(StatusCode::NOT_FOUND)));
    assert!(!missing.is_transient());

    publisher.set_switch(502, "");
    let bad_gateway = fetch(allowing(&publisher), &publisher.url("/switch.xml"))
        .await
        .expect_err("502");
    assert!(bad_gateway.is_transient());
}

#[tokio::test]
async fn a_switchable_feed_breaks_and_recovers_on_demand() {
    let publisher = FeedPublisher::start().await;
    let url = publisher.url("/switch.xml");
    let fetched = fetch(allowing(&publisher), &url)
        .await
        .expect("starts as RSS");
    assert!(feed::parse(&fetched.body, &fetched.final_url).is_ok());

    publisher.set_switch(200, "<rss version=\"2.0\"><channel><item>");
    let fetched = fetch(allowing(&publisher), &url).await.expect("200");
    assert!(matches!(
        feed::parse(&fetched.body, &fetched.final_url),
        Err(FeedError::Malformed(_))
    ));

    publisher.set_switch(200, testing::ATOM);
    let fetched = fetch(allowing(&publisher), &url).await.expect("200");
    let parsed = feed::parse(&fetched.body, &fetched.final_url).expect("atom");
    assert_eq!(parsed.title.as_deref(), Some("Atom Weekly"));
    assert_eq!(publisher.requests("/switch.xml"), 3);
}

// --- Conditional GET and caching hints ------------------------------------------------------

#[tokio::test]
async fn matching_validators_get_304_with_an_empty_body() {
    let publisher = FeedPublisher::start().await;
    let fetcher = Fetcher::new(allowing(&publisher)).expect("fetcher");
    let url = FeedUrl::parse(&publisher.url("/etag.xml")).expect("url");

    let first = fetcher.fetch(&url).await.expect("200");
    assert_eq!(first.status, StatusCode::OK);
    assert!(!first.not_modified());
    let validators = Validators {
        etag: Some(testing::ETAG.to_owned()),
        last_modified: Some(testing::LAST_MODIFIED.to_owned()),
    };
    assert_eq!(first.validators, validators);

    let second = fetcher
        .fetch_conditional(&url, &first.validators)
        .await
        .expect("304");
    assert_eq!(second.status, StatusCode::NOT_MODIFIED);
    assert!(second.not_modified());
    assert!(second.body.is_empty());
    assert_eq!(second.validators, validators, "kept for the next fetch");

    let by_date = Validators {
        etag: None,
        last_modified: Some(testing::LAST_MODIFIED.to_owned()),
    };
    let third = fetcher
        .fetch_conditional(&url, &by_date)
        .await
        .expect("304");
    assert!(third.not_modified(), "If-Modified-Since alone works too");

    let stale = Validators {
        etag: Some("\"v0\"".to_owned()),
        last_modified: None,
    };
    let fourth = fetcher.fetch_conditional(&url, &stale).await.expect("200");
    assert_eq!(fourth.status, StatusCode::OK);
    assert!(!fourth.body.is_empty());
    assert_eq!(publisher.requests("/etag.xml"), 4);
}

#[tokio::test]
async fn cache_control_and_expires_become_a_max_age() {
    let publisher = FeedPublisher::start().await;
    let cached = fetch(allowing(&publisher), &publisher.url("/cached.xml"))
        .await
        .expect("200");
    assert_eq!(cached.cache.max_age, Some(Duration::from_secs(600)));
    assert!(!cached.cache.no_cache);

    let expires = fetch(allowing(&publisher), &publisher.url("/expires.xml"))
        .await
        .expect("200");
    assert_eq!(expires.cache.max_age, Some(Duration::from_secs(3600)));

    let plain = fetch(allowing(&publisher), &publisher.url("/rss.xml"))
        .await
        .expect("200");
    assert_eq!(plain.cache.max_age, None);
    assert_eq!(plain.content_type.as_deref(), Some("application/rss+xml"));
}

// --- Hostile publishers ---------------------------------------------------------------------

#[tokio::test]
async fn a_slow_drip_is_cut_off_by_the_total_timeout() {
    let publisher = FeedPublisher::start().await;
    let settings = FetchSettings {
        timeout: Duration::from_secs(1),
        ..allowing(&publisher)
    };
    let started = Instant::now();
    let error = fetch(settings, &publisher.url("/slow.xml"))
        .await
        .expect_err("never finishes");
    assert!(matches!(error, FetchError::Timeout(1)), "{error}");
    assert!(error.is_transient());
    assert_bounded("the cut-off", started.elapsed(), Duration::from_secs(5));
}

#[tokio::test]
async fn an_endless_body_is_cut_off_at_the_size_cap() {
    let publisher = FeedPublisher::start().await;
    let settings = FetchSettings {
        max_body_bytes: 1024 * 1024,
        ..allowing(&publisher)
    };
    let error = fetch(settings, &publisher.url("/endless.xml"))
        .await
        .expect_err("never ends");
    assert!(matches!(error, FetchError::TooLarge(1)), "{error}");
    assert_eq!(error.to_string(), "the feed is larger than the 1 MiB limit");
    assert!(!error.is_transient());
}

#[tokio::test]
async fn a_feed_served_with_the_wrong_content_type_still_parses() {
    let publisher = FeedPublisher::start().await;
    for path in ["/plain.xml", "/octet.xml"] {
        let fetched = fetch(allowing(&publisher), &publisher.url(path))
            .await
            .expect(path);
        let parsed = feed::parse_with_content_type(
            &fetched.body,
            fetched.content_type.as_deref(),
            &fetched.final_url,
        )
        .expect(path);
        assert_eq!(parsed.title.as_deref(), Some("Loopback Daily"), "{path}");
        assert_eq!(parsed.items.len(), 2);
    }
}

#[tokio::test]
async fn an_entity_bomb_with_an_external_entity_parses_inertly() {
    let publisher = FeedPublisher::start().await;
    let fetched = fetch(allowing(&publisher), &publisher.url("/bomb.xml"))
        .await
        .expect("200");
    let started = Instant::now();
    let parsed = feed::parse_with_content_type(
        &fetched.body,
        fetched.content_type.as_deref(),
        &fetched.final_url,
    );
    assert_bounded(
        "parsing the bomb",
        started.elapsed(),
        Duration::from_secs(2),
    );
    match parsed {
        Ok(parsed) => {
            let title = parsed.title.unwrap_or_default();
            assert!(title.len() < 100, "entities not expanded: {title}");
            let item = &parsed.items[0];
            assert!(!item.title.contains("root:"), "{}", item.title);
            assert!(!item.description.contains("root:"), "{}", item.description);
        }
        Err(error) => assert!(matches!(error, FeedError::Malformed(_)), "{error}"),
    }
}

#[tokio::test]
async fn an_html_page_is_reported_as_html() {
    let publisher = FeedPublisher::start().await;
    for path in ["/html-with-links.html", "/page.html"] {
        let fetched = fetch(allowing(&publisher), &publisher.url(path))
            .await
            .expect(path);
        let error = feed::parse_with_content_type(
            &fetched.body,
            fetched.content_type.as_deref(),
            &fetched.final_url,
        )
        .expect_err("not a feed");
        assert!(matches!(error, FeedError::HtmlPage), "{path}: {error}");
    }
}

// --- Charsets -------------------------------------------------------------------------------

#[tokio::test]
async fn charsets_from_the_header_the_declaration_or_a_bom_are_honoured() {
    let publisher = FeedPublisher::start().await;
    for (path, title) in [
        ("/latin1.xml", testing::LATIN1_TITLE),
        ("/cp1252.xml", testing::CP1252_TITLE),
        ("/utf16.xml", testing::UTF16_TITLE),
    ] {
        let fetched = fetch(allowing(&publisher), &publisher.url(path))
            .await
            .expect(path);
        let parsed = feed::parse_with_content_type(
            &fetched.body,
            fetched.content_type.as_deref(),
            &fetched.final_url,
        )
        .expect(path);
        assert_eq!(parsed.title.as_deref(), Some(title), "{path}");
        assert_eq!(parsed.items[0].title, title, "{path}");
    }
}

// --- Concurrency ----------------------------------------------------------------------------

async fn fetch_held_concurrently(settings: FetchSettings, publisher: &FeedPublisher, n: usize) {
    let fetcher = Fetcher::new(settings).expect("fetcher");
    let url = FeedUrl::parse(&publisher.url("/held.xml")).expect("url");
    let results = futures::future::join_all((0..n).map(|_| fetcher.fetch(&url))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(publisher.requests("/held.xml"), n);
}

#[tokio::test]
async fn no_more_than_max_per_host_fetches_reach_one_host_at_once() {
    let publisher = FeedPublisher::start().await;
    let settings = FetchSettings {
        max_per_host: 2,
        max_concurrent: 32,
        ..allowing(&publisher)
    };
    fetch_held_concurrently(settings, &publisher, 8).await;
    assert_eq!(publisher.peak_in_flight(), 2);
}

#[tokio::test]
async fn no_more_than_max_concurrent_fetches_are_in_flight() {
    let publisher = FeedPublisher::start().await;
    let settings = FetchSettings {
        max_per_host: 100,
        max_concurrent: 3,
        ..allowing(&publisher)
    };
    fetch_held_concurrently(settings, &publisher, 9).await;
    assert_eq!(publisher.peak_in_flight(), 3);
}

// --- middletier check-feed ------------------------------------------------------------------

struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args` (off the async workers, which serve the publisher), isolated
/// from any configuration files, private networks allowed unless `guarded`.
async fn check_feed(args: &[&str], guarded: bool) -> Run {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_middletier"));
        command
            .args(&args)
            .env("RSS_CONFIG_DIR", "/nonexistent-rss-config")
            .env_remove("RSS_ENV")
            .env_remove("RSS_FETCH__ALLOWED_HOSTS");
        if guarded {
            command.env_remove("RSS_FETCH__ALLOW_PRIVATE_NETWORKS");
        } else {
            command.env("RSS_FETCH__ALLOW_PRIVATE_NETWORKS", "true");
        }
        let output = command.output().expect("run middletier");
        Run {
            status: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn check_feed_prints_what_the_fetcher_and_parser_saw() {
    let publisher = FeedPublisher::start().await;
    let run = check_feed(&["check-feed", &publisher.url("/perm1.xml")], false).await;
    assert_eq!(run.status, Some(0), "{}{}", run.stdout, run.stderr);
    for expected in [
        &format!(
            "Final URL:     {} (moved permanently: update the subscription)",
            publisher.url("/rss.xml")
        ),
        "HTTP status:   200 OK",
        "Content-Type:  application/rss+xml",
        "ETag:          (none)",
        "Format:        RSS 2.0 (decoded from UTF-8)",
        "Title:         Loopback Daily",
        "Entries:       2",
        "  1. RSS first story",
        "     2025-06-10T04:00:00+00:00  http://publisher.test/rss/1",
        "  2. RSS second story",
        "OK: the feed can be read",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected:?} in\n{}",
            run.stdout
        );
    }

    let cached = check_feed(&["check-feed", &publisher.url("/etag.xml")], false).await;
    assert!(
        cached.stdout.contains("ETag:          \"v1\""),
        "{}",
        cached.stdout
    );
    assert!(
        cached
            .stdout
            .contains(&format!("Last-Modified: {}", testing::LAST_MODIFIED)),
        "{}",
        cached.stdout
    );
}

#[tokio::test]
async fn check_feed_json_is_one_object_with_the_same_facts() {
    let publisher = FeedPublisher::start().await;
    let run = check_feed(
        &["check-feed", "--json", &publisher.url("/cached.xml")],
        false,
    )
    .await;
    assert_eq!(run.status, Some(0), "{}{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(report["ok"], true);
    assert_eq!(report["http"]["status"], 200);
    assert_eq!(report["http"]["final_url"], publisher.url("/cached.xml"));
    assert_eq!(
        report["http"]["cache_control"],
        "public, max-age=600, s-maxage=60"
    );
    assert_eq!(report["http"]["max_age_seconds"], 600);
    assert_eq!(report["format"], "RSS 2.0");
    assert_eq!(report["title"], "Loopback Daily");
    assert_eq!(report["entry_count"], 2);
    assert_eq!(report["entries"][0]["title"], "RSS first story");
    assert_eq!(report["entries"][0]["date"], "2025-06-10T04:00:00+00:00");
    assert_eq!(report["entries"][0]["link"], "http://publisher.test/rss/1");
    assert_eq!(report["error"], serde_json::Value::Null);

    let failed = check_feed(
        &["check-feed", &publisher.url("/limited.xml"), "--json"],
        false,
    )
    .await;
    assert_eq!(failed.status, Some(1));
    let report: serde_json::Value = serde_json::from_str(&failed.stdout).expect("JSON");
    assert_eq!(report["ok"], false);
    assert_eq!(
        report["error"],
        "the server asked us to slow down (429 Too Many Requests)"
    );
    assert_eq!(report["transient"], true);
    assert_eq!(report["retry_after_seconds"], testing::RETRY_AFTER_SECONDS);
}

#[tokio::test]
async fn check_feed_reads_local_files() {
    let dir = std::env::temp_dir().join(format!("check-feed-{}", testing::unique_prefix()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let atom = dir.join("atom.xml");
    std::fs::write(&atom, testing::ATOM).expect("write");
    let path = atom.to_str().expect("utf-8 path");

    let run = check_feed(&["check-feed", path], true).await;
    assert_eq!(run.status, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Format:        Atom"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Title:         Atom Weekly"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("  1. Atom story"), "{}", run.stdout);

    let json = check_feed(&["check-feed", "--json", path], true).await;
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(report["format"], "Atom");
    assert_eq!(report["http"], serde_json::Value::Null);
    assert_eq!(report["file"], path);

    let html = dir.join("page.html");
    std::fs::write(&html, "<!DOCTYPE html><html><body>hi</body></html>").expect("write");
    let run = check_feed(&["check-feed", html.to_str().expect("path")], true).await;
    assert_eq!(run.status, Some(1));
    assert!(
        run.stdout
            .contains("Error: this page is HTML; no feed link found"),
        "{}",
        run.stdout
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn check_feed_keeps_the_ssrf_guard_and_reports_errors_in_plain_words() {
    let publisher = FeedPublisher::start().await;
    let blocked = check_feed(&["check-feed", &publisher.url("/rss.xml")], true).await;
    assert_eq!(blocked.status, Some(1));
    assert!(
        blocked
            .stdout
            .contains("Error: 127.0.0.1 is a private or local address, which feeds may not use"),
        "{}",
        blocked.stdout
    );
    assert_eq!(publisher.requests("/rss.xml"), 0);

    let missing = check_feed(&["check-feed", &publisher.url("/missing.xml")], false).await;
    assert_eq!(missing.status, Some(1));
    assert!(
        missing
            .stdout
            .contains("Error: the server answered 404 Not Found"),
        "{}",
        missing.stdout
    );

    let no_file = check_feed(&["check-feed", "/nonexistent/feed.xml"], true).await;
    assert_eq!(no_file.status, Some(1));
    assert!(
        no_file
            .stdout
            .contains("Error: cannot read /nonexistent/feed.xml"),
        "{}",
        no_file.stdout
    );
}

#[tokio::test]
async fn check_feed_usage_errors_exit_2_and_help_exits_0() {
    for args in [
        &["check-feed"][..],
        &["check-feed", "a.xml", "b.xml"],
        &["check-feed", "--yaml", "a.xml"],
        &["check-feed", "ftp://example.com/feed.xml"],
        &["no-such-command"],
    ] {
        let run = check_feed(args, true).await;
        assert_eq!(run.status, Some(2), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("Usage: middletier"), "{}", run.stderr);
    }
    for args in [&["--help"][..], &["check-feed", "--help"]] {
        let run = check_feed(args, true).await;
        assert_eq!(run.status, Some(0), "{args:?}");
        assert!(run.stdout.contains("check-feed <url-or-file>"));
    }
}
