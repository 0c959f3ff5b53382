//! Feed discovery over real HTTP on loopback: a small website (its pages, redirects and common
//! feed paths served by axum) in front of the real feed publisher, fetched with the real
//! fetcher. OPML parsing and the link scanner are unit-tested in their modules.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use middletier::discover::{COMMON_PATHS, discover};
use middletier::fetch::{FetchSettings, Fetcher};
use middletier::testing::{self, FeedPublisher};
use middletier_api::domain::FeedUrl;
use middletier_api::{Candidate, FeedKind};

/// A website on loopback that counts the requests it receives.
struct Site {
    base: String,
    hits: Arc<AtomicUsize>,
}

impl Site {
    async fn start(routes: Router) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = routes.layer(middleware::from_fn(move |request: Request, next: Next| {
            counter.fetch_add(1, Ordering::SeqCst);
            next.run(request)
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind site");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, hits }
    }

    fn url(&self, path: &str) -> FeedUrl {
        FeedUrl::parse(&format!("{}{path}", self.base)).expect("site url")
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn local_fetcher() -> Fetcher {
    Fetcher::new(FetchSettings {
        allow_private_networks: true,
        ..FetchSettings::default()
    })
    .expect("fetcher")
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn rss() -> Response {
    (
        [(header::CONTENT_TYPE, "application/rss+xml")],
        testing::RSS,
    )
        .into_response()
}

const PLAIN_PAGE: &str = "<!doctype html><html><head><title>About us</title></head>\
                          <body><p>No feed links here.</p></body></html>";

/// Fetches `page` as the subscribe path would, then discovers from what came back.
async fn discover_from(fetcher: &Fetcher, page: &FeedUrl) -> Vec<Candidate> {
    let fetched = fetcher.fetch(page).await.expect("page fetched");
    let final_page = FeedUrl::parse(fetched.final_url.as_str()).expect("final url");
    discover(fetcher, &final_page, &fetched.body).await
}

#[tokio::test]
async fn a_page_announcing_rss_and_atom_offers_both_without_probing() {
    let publisher = FeedPublisher::start().await;
    let atom = publisher.url("/atom.xml");
    let page = format!(
        r#"<!doctype html><html><head>
        <link rel="stylesheet" href="/style.css">
        <link rel="alternate" type="application/rss+xml" title="Daily (RSS)" href="feed.xml">
        <link rel="alternate" type="application/atom+xml" title="Weekly (Atom)" href="{atom}">
        </head><body>Hello</body></html>"#
    );
    let site = Site::start(
        Router::new()
            .route("/go", get(|| async { Redirect::temporary("/blog/") }))
            .route("/blog/", get(move || async move { html(page) }))
            .route("/blog/feed.xml", get(|| async { rss() })),
    )
    .await;
    let fetcher = local_fetcher();

    let found = discover_from(&fetcher, &site.url("/go")).await;

    assert_eq!(
        found,
        [
            Candidate {
                // Relative to where the redirect landed, not to the URL typed.
                url: site.url("/blog/feed.xml").to_string(),
                title: Some("Daily (RSS)".into()),
                kind: FeedKind::Rss,
            },
            Candidate {
                url: atom,
                title: Some("Weekly (Atom)".into()),
                kind: FeedKind::Atom,
            },
        ]
    );
    assert_eq!(site.hits(), 2, "the redirect and the page; no probes");
    for candidate in &found {
        let url = FeedUrl::parse(&candidate.url).expect("subscribable");
        let fetched = fetcher.fetch(&url).await.expect("candidate fetched");
        middletier::feed::parse(&fetched.body, &fetched.final_url).expect("candidate is a feed");
    }
}

#[tokio::test]
async fn the_publishers_blog_page_offers_its_rss_and_atom_feeds() {
    let publisher = FeedPublisher::start().await;
    let page = FeedUrl::parse(&publisher.url("/html-with-links.html")).expect("url");

    let found = discover_from(&local_fetcher(), &page).await;

    assert_eq!(
        found,
        [
            Candidate {
                url: publisher.url("/rss.xml"),
                title: Some("Loopback Daily (RSS)".into()),
                kind: FeedKind::Rss,
            },
            Candidate {
                url: publisher.url("/atom.xml"),
                title: Some("Atom Weekly".into()),
                kind: FeedKind::Atom,
            },
        ]
    );
}

#[tokio::test]
async fn the_publishers_page_without_links_leads_to_a_feed_on_a_common_path() {
    let publisher = FeedPublisher::start().await;
    let page = FeedUrl::parse(&publisher.url("/page.html")).expect("url");

    let found = discover_from(&local_fetcher(), &page).await;

    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        COMMON_PATHS
            .iter()
            .any(|path| found[0].url == publisher.url(path)),
        "{found:?}"
    );
    assert!(
        found[0].title.is_some(),
        "a probed feed is named by its own title"
    );
}

#[tokio::test]
async fn a_page_without_links_falls_back_to_the_first_common_path_that_serves_a_feed() {
    let site = Site::start(
        Router::new()
            .route(
                "/about/team.html",
                get(|| async { html(PLAIN_PAGE.into()) }),
            )
            // "/feed" is missing, "/rss" is a web page and "/atom.xml" is broken: none count.
            .route("/rss", get(|| async { html(PLAIN_PAGE.into()) }))
            .route(
                "/atom.xml",
                get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            )
            .route("/feed.xml", get(|| async { rss() }))
            // A later hit is not offered: the first one in COMMON_PATHS order wins.
            .route("/index.xml", get(|| async { rss() })),
    )
    .await;

    let found = discover_from(&local_fetcher(), &site.url("/about/team.html")).await;

    assert_eq!(
        found,
        [Candidate {
            url: site.url("/feed.xml").to_string(),
            title: Some("Loopback Daily".into()),
            kind: FeedKind::Rss,
        }]
    );
}

#[tokio::test]
async fn probing_stops_at_the_first_hit_and_never_exceeds_three_requests_at_once() {
    let site = Site::start(
        Router::new()
            .route("/", get(|| async { html(PLAIN_PAGE.into()) }))
            .route("/feed", get(|| async { rss() })),
    )
    .await;
    let fetcher = local_fetcher();
    let page = site.url("/");
    let fetched = fetcher.fetch(&page).await.expect("page");
    let before = site.hits();

    let found = discover(&fetcher, &page, &fetched.body).await;

    assert_eq!(found.len(), 1);
    assert_eq!(found[0].url, site.url("/feed").to_string());
    let probes = site.hits() - before;
    assert!(
        (1..=3).contains(&probes),
        "{probes} probes for a first-path hit"
    );
}

#[tokio::test]
async fn json_feeds_on_a_common_path_are_found_with_their_kind_and_title() {
    let site = Site::start(Router::new().route(
        "/feed.json",
        get(|| async {
            (
                [(header::CONTENT_TYPE, "application/feed+json")],
                testing::JSON_FEED,
            )
        }),
    ))
    .await;

    let found = discover(&local_fetcher(), &site.url("/home"), PLAIN_PAGE.as_bytes()).await;

    assert_eq!(
        found,
        [Candidate {
            url: site.url("/feed.json").to_string(),
            title: Some("JSON Journal".into()),
            kind: FeedKind::JsonFeed,
        }]
    );
}

#[tokio::test]
async fn a_site_without_any_feed_gets_one_probe_per_common_path_and_no_candidates() {
    let site = Site::start(Router::new()).await;

    let found = discover(&local_fetcher(), &site.url("/"), PLAIN_PAGE.as_bytes()).await;

    assert_eq!(found, []);
    assert_eq!(site.hits(), COMMON_PATHS.len());
}

#[tokio::test]
async fn probes_obey_the_private_network_guard() {
    let site = Site::start(Router::new().route("/feed", get(|| async { rss() }))).await;
    let guarded = Fetcher::new(FetchSettings::default()).expect("fetcher");

    let found = discover(&guarded, &site.url("/"), PLAIN_PAGE.as_bytes()).await;

    assert_eq!(found, []);
    assert_eq!(site.hits(), 0, "loopback must not be reached");
}
