//! The feeds for `deploy/load/run.sh`: a loopback publisher of `/feed/{n}.xml`, RSS 2.0 feeds
//! of 10 items each, every item with a title, a link, a date and a paragraph of HTML, about the
//! size of a real news feed item.
//!
//! `cargo run --release -p edge --example bench_feeds -- 18080`

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const ITEMS: usize = 10;

async fn feed(Path(name): Path<String>) -> impl IntoResponse {
    let n = name.trim_end_matches(".xml");
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>Load feed {n}</title><link>http://feeds.test/{n}</link>\
         <description>Feed {n} for the load test</description><ttl>60</ttl>"
    );
    for i in 0..ITEMS {
        xml.push_str(&format!(
            "<item><title>Feed {n}, story {i}: a headline of ordinary length</title>\
             <link>http://feeds.test/{n}/{i}</link><guid>http://feeds.test/{n}/{i}</guid>\
             <pubDate>Tue, 10 Jun 2025 0{h}:00:00 GMT</pubDate>\
             <description><![CDATA[<p>The first paragraph of story {i} in feed {n}, with \
             <a href=\"http://feeds.test/{n}/{i}#more\">a link</a> and <b>some emphasis</b>, \
             about as long as the summary a news site puts in its feed for each article.</p>]]>\
             </description></item>",
            h = i % 10
        ));
    }
    xml.push_str("</channel></rss>");
    ([(header::CONTENT_TYPE, "application/rss+xml")], xml)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "18080".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    axum::serve(listener, Router::new().route("/feed/{name}", get(feed))).await
}
