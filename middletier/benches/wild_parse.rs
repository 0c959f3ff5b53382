//! What the lenient feed layer costs on well-formed feeds, beside raw feed-rs in the
//! same run: `cargo bench -p middletier --bench wild_parse` (about a minute on 2 cores). It
//! prints a Markdown table. Without `--bench` (e.g. `cargo test --all-targets`) it runs a small
//! smoke version of itself.
//!
//! # How it measures
//! For each format (RSS 2.0, Atom, JSON Feed) one well-formed document of 1,000 items (a few
//! MB: HTML descriptions with links, images and entities, dates, categories) is parsed by:
//! - *feed-rs*: `feed_rs::parser::parse`, the baseline;
//! - *parse+repair*: [`feed::parse_document`], the lenient layer alone (charset choice, the
//!   cheap pre-scan, feed-rs with our date reader, the emptiness check, `catch_unwind`);
//! - *full pipeline*: [`feed::parse_with_content_type`], which adds what the service needs on
//!   top (ammonia sanitizing of every description, plain-text titles, absolute links).
//!
//! The three run interleaved, round after round, so machine noise hits them alike; each figure
//! is the **median** of the rounds, and ratios are medians over the feed-rs median. A fourth row
//! per format shows the repair path on the same document with breakage sprinkled in (bare `&`,
//! HTML entities), which pays for the strict attempt, the rewrite and a second parse.

use std::hint::black_box;
use std::time::{Duration, Instant};

use middletier::feed;

struct Config {
    items: usize,
    rounds: usize,
}

#[derive(Clone, Copy)]
enum Format {
    Rss,
    Atom,
    Json,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Rss => "RSS 2.0",
            Format::Atom => "Atom 1.0",
            Format::Json => "JSON Feed 1.1",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml",
            Format::Json => "application/feed+json",
        }
    }
}

fn html(n: usize) -> String {
    format!(
        "<p>Item {n} opens with a paragraph of ordinary prose &amp; an <a href=\"/posts/{n}\">internal \
         link</a>, then <em>emphasis</em>, <strong>strong text</strong> and an image \
         <img src=\"https://cdn.example.org/img/{n}.jpg\" alt=\"Picture {n}\" width=\"640\">.</p>\
         <p>{}</p><ul><li>First point</li><li>Second point with <code>code()</code></li></ul>\
         <blockquote>A quotation — with “typographic” quotes and café accents.</blockquote>",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. "
            .repeat(16)
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn document(format: Format, items: usize) -> Vec<u8> {
    let mut out = String::new();
    match format {
        Format::Rss => {
            out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" \
                xmlns:content=\"http://purl.org/rss/1.0/modules/content/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\
                <channel><title>Benchmark &amp; Co</title><link>https://blog.example.org/</link><description>d</description><ttl>60</ttl>\n");
            for n in 0..items {
                out.push_str(&format!(
                    "<item><title>Post number {n} &amp; more</title><link>https://blog.example.org/posts/{n}</link>\
                     <guid isPermaLink=\"false\">post-{n}</guid><pubDate>Tue, 10 Jun 2025 04:{:02}:00 GMT</pubDate>\
                     <dc:creator>Author {n}</dc:creator><category>news</category><category>rust</category>\
                     <description>{}</description></item>\n",
                    n % 60,
                    xml_escape(&html(n))
                ));
            }
            out.push_str("</channel></rss>\n");
        }
        Format::Atom => {
            out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\
                <title>Benchmark &amp; Co</title><id>urn:bench</id><updated>2025-06-10T04:00:00Z</updated>\
                <link href=\"https://blog.example.org/\"/>\n");
            for n in 0..items {
                out.push_str(&format!(
                    "<entry><title type=\"html\">Post number {n} &amp;amp; more</title><id>urn:post:{n}</id>\
                     <link href=\"https://blog.example.org/posts/{n}\"/><updated>2025-06-10T04:{:02}:00Z</updated>\
                     <published>2025-06-09T04:{:02}:00+02:00</published><author><name>Author {n}</name></author>\
                     <category term=\"news\"/><summary type=\"html\">{}</summary></entry>\n",
                    n % 60,
                    n % 60,
                    xml_escape(&html(n))
                ));
            }
            out.push_str("</feed>\n");
        }
        Format::Json => {
            let items: Vec<serde_json::Value> = (0..items)
                .map(|n| {
                    serde_json::json!({
                        "id": format!("post-{n}"),
                        "url": format!("https://blog.example.org/posts/{n}"),
                        "title": format!("Post number {n} & more"),
                        "content_html": html(n),
                        "date_published": format!("2025-06-10T04:{:02}:00Z", n % 60),
                        "authors": [{"name": format!("Author {n}")}],
                        "tags": ["news", "rust"],
                    })
                })
                .collect();
            out = serde_json::json!({
                "version": "https://jsonfeed.org/version/1.1",
                "title": "Benchmark & Co",
                "home_page_url": "https://blog.example.org/",
                "items": items,
            })
            .to_string();
        }
    }
    out.into_bytes()
}

/// The same document with breakage a lenient reader must repair (not for JSON).
fn broken(format: Format, document: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(document).ok()?;
    match format {
        Format::Rss => Some(
            text.replace("&amp; more</title>", "& more&nbsp;&eacute;</title>")
                .into_bytes(),
        ),
        Format::Atom => Some(
            text.replace(
                "<title type=\"html\">Post number",
                "<title type=\"html\">Post&nbsp;number &",
            )
            .into_bytes(),
        ),
        Format::Json => None,
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn mb_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / 1e6 / time.as_secs_f64()
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let config = if full {
        Config {
            items: 1_000,
            rounds: 11,
        }
    } else {
        Config {
            items: 20,
            rounds: 1,
        }
    };
    let base = url::Url::parse("https://blog.example.org/feed").expect("base url");
    println!(
        "wild_parse: {} items per document, median of {} interleaved rounds\n",
        config.items, config.rounds
    );
    println!(
        "| format | size | feed-rs | parse+repair | ratio | full pipeline | ratio | repair path (broken input) | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for format in [Format::Rss, Format::Atom, Format::Json] {
        let document = document(format, config.items);
        let broken = broken(format, &document);
        let content_type = Some(format.content_type());
        // Warm up, and check that every variant reads every item.
        let raw = feed_rs::parser::parse(document.as_slice()).expect("feed-rs parses");
        assert_eq!(raw.entries.len(), config.items);
        let ours = feed::parse_document(&document, content_type, &base).expect("parses");
        assert!(
            ours.recovered.is_empty(),
            "well-formed input takes the fast path"
        );
        assert_eq!(
            feed::parse_with_content_type(&document, content_type, &base)
                .expect("parses")
                .items
                .len(),
            config.items
        );
        if let Some(broken) = &broken {
            let repaired = feed::parse_document(broken, content_type, &base).expect("repairs");
            assert!(!repaired.recovered.is_empty() && repaired.feed.entries.len() == config.items);
        }
        let (mut raw, mut lenient, mut pipeline, mut repair) = (vec![], vec![], vec![], vec![]);
        for _ in 0..config.rounds {
            let time = |f: &mut dyn FnMut()| {
                let started = Instant::now();
                f();
                started.elapsed()
            };
            raw.push(time(&mut || {
                black_box(feed_rs::parser::parse(black_box(document.as_slice())).ok());
            }));
            lenient.push(time(&mut || {
                black_box(feed::parse_document(black_box(&document), content_type, &base).ok());
            }));
            pipeline.push(time(&mut || {
                black_box(
                    feed::parse_with_content_type(black_box(&document), content_type, &base).ok(),
                );
            }));
            if let Some(broken) = &broken {
                repair.push(time(&mut || {
                    black_box(feed::parse_document(black_box(broken), content_type, &base).ok());
                }));
            }
        }
        let bytes = document.len();
        let (raw, lenient, pipeline) = (median(raw), median(lenient), median(pipeline));
        let ratio = |t: Duration| t.as_secs_f64() / raw.as_secs_f64();
        let repair_cell = if repair.is_empty() {
            "n/a | n/a".to_owned()
        } else {
            let repair = median(repair);
            format!(
                "{:.1} MB/s ({:.1} ms) | {:.2}×",
                mb_per_s(bytes, repair),
                repair.as_secs_f64() * 1e3,
                ratio(repair)
            )
        };
        println!(
            "| {} | {:.2} MB | {:.1} MB/s ({:.1} ms) | {:.1} MB/s ({:.1} ms) | {:.2}× | {:.1} MB/s ({:.1} ms) | {:.2}× | {} |",
            format.name(),
            bytes as f64 / 1e6,
            mb_per_s(bytes, raw),
            raw.as_secs_f64() * 1e3,
            mb_per_s(bytes, lenient),
            lenient.as_secs_f64() * 1e3,
            ratio(lenient),
            mb_per_s(bytes, pipeline),
            pipeline.as_secs_f64() * 1e3,
            ratio(pipeline),
            repair_cell,
        );
    }
}
