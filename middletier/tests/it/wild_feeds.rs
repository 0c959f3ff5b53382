//! Feeds as they are in the wild: the corpus of odd feeds in `tests/corpus/` against
//! the expectations beside them, hostile documents that must stay bounded in time and memory,
//! and every input the fuzzer kept (`tests/fuzz-corpus/`) or crashed on (`tests/fuzz-crashes/`),
//! replayed without a panic.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use middletier::feed::{self, FeedError, Inspected};
use serde::Deserialize;

use crate::support::assert_bounded;

/// How long one document may take (a wall-clock bound, see [`assert_bounded`]). Every case here takes well under a second in a release
/// build and a few in a debug build on a busy 2-core machine; anything super-linear (HTML
/// parsers on deep nesting, say) takes minutes or hours at these sizes.
const BOUND: Duration = Duration::from_secs(if cfg!(debug_assertions) { 30 } else { 5 });

#[derive(Debug, Deserialize)]
struct Case {
    file: String,
    content_type: Option<String>,
    base: Option<String>,
    #[serde(default = "yes")]
    ok: bool,
    error: Option<String>,
    format: Option<String>,
    version: Option<String>,
    title: Option<String>,
    encoding: Option<String>,
    encoding_source: Option<String>,
    entries: Option<usize>,
    /// `Some(false)`: must parse on the fast path; `Some(true)`: must be marked recovered.
    recovered: Option<bool>,
    #[serde(default)]
    recovered_contains: Vec<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    items: Vec<ItemCase>,
}

fn yes() -> bool {
    true
}

/// Only the fields given are checked; `"published": null` expects no date.
#[derive(Debug, Deserialize)]
struct ItemCase {
    title: Option<String>,
    #[serde(default, deserialize_with = "some")]
    link: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    published: Option<Option<String>>,
    description: Option<String>,
    #[serde(default)]
    description_contains: Vec<String>,
}

fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn inspect(
    body: &[u8],
    content_type: Option<&str>,
    base: &str,
) -> (Result<Inspected, FeedError>, Duration) {
    let base = url::Url::parse(base).expect("base url");
    let started = Instant::now();
    let result = feed::inspect(body, content_type, &base);
    (result, started.elapsed())
}

fn check(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    let body = std::fs::read(corpus_dir().join(&case.file)).expect("corpus file");
    let base = case
        .base
        .as_deref()
        .unwrap_or("https://example.org/feed.xml");
    let (result, elapsed) = inspect(&body, case.content_type.as_deref(), base);
    assert_bounded(&case.file, elapsed, BOUND);
    let inspected = match (result, case.ok) {
        (Ok(inspected), true) => inspected,
        (Err(error), false) => {
            if let Some(expected) = &case.error {
                expect(
                    error.to_string().contains(expected),
                    format!("error {error:?}, expected {expected:?}"),
                );
            }
            return problems;
        }
        (Ok(inspected), false) => {
            expect(
                false,
                format!("parsed but should not: {:?}", inspected.feed),
            );
            return problems;
        }
        (Err(error), true) => {
            expect(false, format!("failed: {error}"));
            return problems;
        }
    };
    let feed = &inspected.feed;
    if let Some(format) = &case.format {
        expect(
            inspected.format.label() == format,
            format!("format {}", inspected.format),
        );
    }
    if let Some(version) = &case.version {
        expect(
            inspected.version.as_deref() == Some(version.as_str()),
            format!("version {:?}", inspected.version),
        );
    }
    if let Some(title) = &case.title {
        expect(
            feed.title.as_deref() == Some(title.as_str()),
            format!("title {:?}", feed.title),
        );
    }
    if let Some(encoding) = &case.encoding {
        expect(
            inspected.encoding == encoding,
            format!("encoding {}", inspected.encoding),
        );
    }
    if let Some(source) = &case.encoding_source {
        expect(
            inspected.encoding_source.label() == source,
            format!("encoding source {}", inspected.encoding_source),
        );
    }
    if let Some(entries) = case.entries {
        expect(
            feed.items.len() == entries,
            format!("{} entries", feed.items.len()),
        );
    }
    if let Some(recovered) = case.recovered {
        expect(
            inspected.is_recovered() == recovered,
            format!("recovered {:?}", inspected.recovered),
        );
    }
    let recovered = inspected.recovered.join("; ");
    for expected in &case.recovered_contains {
        expect(
            recovered.contains(expected.as_str()),
            format!("recovered {recovered:?} lacks {expected:?}"),
        );
    }
    let warnings = inspected.warnings.join("; ");
    for expected in &case.warnings {
        expect(
            warnings.contains(expected.as_str()),
            format!("warnings {warnings:?} lack {expected:?}"),
        );
    }
    for (n, (expected, item)) in case.items.iter().zip(&feed.items).enumerate() {
        if let Some(title) = &expected.title {
            expect(
                &item.title == title,
                format!("item {n} title {:?}", item.title),
            );
        }
        if let Some(link) = &expected.link {
            expect(&item.link == link, format!("item {n} link {:?}", item.link));
        }
        if let Some(published) = &expected.published {
            expect(
                &item.published == published,
                format!("item {n} published {:?}", item.published),
            );
        }
        if let Some(description) = &expected.description {
            expect(
                &item.description == description,
                format!("item {n} description {:?}", item.description),
            );
        }
        for part in &expected.description_contains {
            expect(
                item.description.contains(part.as_str()),
                format!("item {n} description {:?} lacks {part:?}", item.description),
            );
        }
    }
    problems
}

#[test]
fn every_corpus_feed_reads_as_expected() {
    let text = std::fs::read_to_string(corpus_dir().join("expected.json")).expect("expectations");
    let cases: Vec<Case> = serde_json::from_str(&text).expect("expectations parse");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let problems = check(case);
            (!problems.is_empty()).then(|| format!("{}: {}", case.file, problems.join(", ")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_corpus_file_has_an_expectation() {
    let text = std::fs::read_to_string(corpus_dir().join("expected.json")).expect("expectations");
    let cases: Vec<Case> = serde_json::from_str(&text).expect("expectations parse");
    for entry in std::fs::read_dir(corpus_dir()).expect("corpus dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(
            name == "expected.json" || cases.iter().any(|case| case.file == name),
            "{name} has no expectation"
        );
    }
}

// --- Hostile documents: bounded in time, no panic ---------------------------------------------

fn bounded(name: &str, body: &[u8]) -> Result<feed::ParsedFeed, FeedError> {
    let (result, elapsed) = inspect(body, None, "https://example.org/feed.xml");
    assert_bounded(&format!("{name} ({} bytes)", body.len()), elapsed, BOUND);
    if let Err(FeedError::Crashed(message)) = &result {
        panic!("{name}: the parser crashed: {message}");
    }
    result.map(|inspected| inspected.feed)
}

#[test]
fn an_entity_bomb_stays_unexpanded_even_when_repaired() {
    let mut bomb = String::from("<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY a \"aaaaaaaaaa\">");
    for level in 1..=12 {
        let previous = if level == 1 {
            "a".to_owned()
        } else {
            format!("e{}", level - 1)
        };
        bomb.push_str(&format!(
            "<!ENTITY e{level} \"{}\">",
            format!("&{previous};").repeat(10)
        ));
    }
    // The bare '&' sends it down the repair path too.
    bomb.push_str("]><rss version=\"2.0\"><channel><title>&e12; & co</title><item><title>&e12;</title><description>&e12;</description></item></channel></rss>");
    let feed = bounded("entity bomb", bomb.as_bytes()).expect("parses");
    assert!(feed.title.unwrap_or_default().len() < 100);
    assert!(
        feed.items[0].description.len() < 100,
        "{}",
        feed.items[0].description
    );
}

#[test]
fn a_ten_mib_feed_of_relative_links_under_a_long_url_stays_bounded() {
    use middletier_api::limits::{MAX_DESCRIPTION_BYTES, MAX_TITLE_BYTES};
    // Each `<img src=.>` becomes a 2 KB absolute link: before the caps, this document made
    // about 1.7 GB of descriptions.
    let description = "<img src=.>".repeat(10_000);
    let item = format!(
        "<item><title>{}</title><description><![CDATA[{description}]]></description></item>",
        "t".repeat(4096)
    );
    let count = 9 * 1024 * 1024 / item.len();
    let body = format!(
        "<rss version=\"2.0\"><channel><title>Amplify</title>{}</channel></rss>",
        item.repeat(count)
    );
    let base = format!("https://example.org/{}/feed.xml", "a".repeat(2000));
    let (result, elapsed) = inspect(body.as_bytes(), None, &base);
    assert_bounded("a 10 MiB amplifying feed", elapsed, BOUND);
    let feed = result.expect("parses").feed;
    assert_eq!(feed.items.len(), count);
    for item in &feed.items {
        assert!(item.description.len() <= MAX_DESCRIPTION_BYTES);
        assert!(item.title.len() <= MAX_TITLE_BYTES);
    }
    let total: usize = feed.items.iter().map(|i| i.description.len()).sum();
    assert!(
        total <= count * MAX_DESCRIPTION_BYTES,
        "{total} bytes of descriptions from a {} byte feed",
        body.len()
    );
}

#[test]
fn deep_nesting_is_bounded() {
    let depth = 200_000;
    for (name, open, close) in [
        ("elements", "<x>", "</x>"),
        ("namespaced", "<p:x xmlns:p=\"urn:p\">", "</p:x>"),
        ("html in xhtml", "<div>", "</div>"),
    ] {
        let mut body = String::from(
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Deep</title><entry><title>e</title><content type=\"xhtml\">",
        );
        body.push_str(&open.repeat(depth));
        body.push_str(&close.repeat(depth));
        body.push_str("</content></entry></feed>");
        let _ = bounded(name, body.as_bytes());
        // Unclosed: the repair must supply 200,000 closing tags, or flatten them.
        let truncated = &body[..body.len() - close.len() * depth - 25];
        let _ = bounded(&format!("{name}, unclosed"), truncated.as_bytes());
    }
    let rss = format!(
        "<rss version=\"2.0\"><channel><title>Deep</title><item><title>t</title><description>{}</description></item></channel></rss>",
        "<div>".repeat(depth)
    );
    let feed = bounded("unescaped html", rss.as_bytes()).expect("parses");
    assert!(
        !feed.items[0].description.contains('<'),
        "deep HTML is shown as text"
    );
    let formatting: String = (0..50_000).map(|n| format!("<b id=\"{n}\">x")).collect();
    let rss = format!(
        "<rss version=\"2.0\"><channel><title>Formatting</title><item><title>t</title><description><![CDATA[{formatting}]]></description></item></channel></rss>"
    );
    let _ = bounded("unclosed formatting elements", rss.as_bytes());
}

#[test]
fn huge_and_numerous_attributes_are_bounded() {
    let huge = "x".repeat(8 << 20);
    let body = format!(
        "<rss version=\"2.0\"><channel><title a=\"{huge}\">Huge</title><item b='{huge}'><title>t</title></item></channel></rss>"
    );
    let feed = bounded("huge attribute", body.as_bytes()).expect("parses");
    assert_eq!(feed.title.as_deref(), Some("Huge"));
    let many: String = (0..100_000).map(|n| format!(" a{n}=\"{n}\"")).collect();
    let body = format!(
        "<rss version=\"2.0\"><channel><title{many}>Many</title><item><title{many}>t & u</title></item></channel></rss>"
    );
    let _ = bounded("many attributes", body.as_bytes());
    let same: String = " a=\"1\"".repeat(100_000);
    let body =
        format!("<rss version=\"2.0\"><channel><title{same}>Same & same</title></channel></rss>");
    let _ = bounded("duplicate attributes", body.as_bytes());
    let unterminated = format!("<rss version=\"2.0\"><channel><title a=\"{huge}");
    let _ = bounded("unterminated attribute", unterminated.as_bytes());
}

#[test]
fn pathological_text_is_bounded() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "ampersands",
            format!(
                "<rss version=\"2.0\"><channel><title>{}</title></channel></rss>",
                "&".repeat(1 << 20)
            )
            .into_bytes(),
        ),
        (
            "entities",
            format!(
                "<rss><channel><title>{}</title></channel></rss>",
                "&eacute;".repeat(1 << 19)
            )
            .into_bytes(),
        ),
        (
            "open tags",
            "<rss><channel><item>".repeat(1 << 17).into_bytes(),
        ),
        (
            "less-thans",
            format!(
                "<rss><channel><title>{}</title></channel></rss>",
                "< ".repeat(1 << 20)
            )
            .into_bytes(),
        ),
        (
            "cdata openers",
            "<rss><channel><title><![CDATA["
                .repeat(1 << 16)
                .into_bytes(),
        ),
        (
            "comment openers",
            format!("<rss>{}", "<!--".repeat(1 << 20)).into_bytes(),
        ),
        (
            "stray end tags",
            format!("<rss><channel>{}", "</a>".repeat(1 << 20)).into_bytes(),
        ),
        ("nul bytes", vec![0; 4 << 20]),
        ("0xff bytes", vec![0xff; 4 << 20]),
        (
            "descriptions",
            "<rss><channel><item><description>"
                .repeat(1 << 16)
                .into_bytes(),
        ),
    ];
    for (name, body) in cases {
        let _ = bounded(name, &body);
    }
}

// --- middletier check-feed on odd feeds -----------------------------------------------------------

fn check_feed(args: &[&str]) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_middletier"))
        .arg("check-feed")
        .args(args)
        .env("RSS_CONFIG_DIR", "/nonexistent-rss-config")
        .env_remove("RSS_ENV")
        .output()
        .expect("run middletier");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn check_feed_reports_version_encoding_and_repairs() {
    let corpus = corpus_dir();
    let broken = corpus.join("broken-unclosed-cdata.xml");
    let (status, text) = check_feed(&[broken.to_str().expect("path")]);
    assert_eq!(status, Some(0), "{text}");
    for expected in [
        "Format:        RSS 2.0 (decoded from UTF-8)",
        "Version:       2.0",
        "Encoding:      UTF-8, chosen by: default (no label, valid UTF-8)",
        "Repaired:      an unclosed CDATA section at the end was closed",
        "Repaired:      missing closing tags at the end were added: </description></item></channel></rss>",
        "OK: the feed can be read, after repairs",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }

    let koi8 = corpus.join("enc-koi8-r.xml");
    let (status, json) = check_feed(&["--json", koi8.to_str().expect("path")]);
    assert_eq!(status, Some(0), "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).expect("one JSON object");
    assert_eq!(report["format"], "RSS 2.0");
    assert_eq!(report["encoding"], "KOI8-R");
    assert_eq!(report["encoding_source"], "XML declaration");
    assert_eq!(report["recovered"], false);
    assert_eq!(report["recoveries"], serde_json::json!([]));
    assert_eq!(report["title"], "Новости дня: всё о погоде");
    assert_eq!(report["entries"][0]["link"], "https://example.org/1");
    assert_eq!(report["error"], serde_json::Value::Null);

    let atom03 = corpus.join("atom03.xml");
    let (_, json) = check_feed(&["--json", atom03.to_str().expect("path")]);
    let report: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(
        (report["format"].as_str(), report["version"].as_str()),
        (Some("Atom"), Some("0.3"))
    );
    assert_eq!(report["warnings"][0], "Atom 0.3 read as Atom 1.0");

    for failing in ["not-truncated-nothing.xml", "not-plain-text.txt"] {
        let path = corpus.join(failing);
        let (status, json) = check_feed(&["--json", path.to_str().expect("path")]);
        assert_eq!(status, Some(1), "{json}");
        let report: serde_json::Value = serde_json::from_str(&json).expect("JSON even on failure");
        assert!(report["error"].is_string());
        assert_eq!(report["entries"], serde_json::json!([]));
        assert_eq!(report["format"], serde_json::Value::Null);
    }
}

// --- What the fuzzer found ----------------------------------------------------------------------

/// Every input `cargo fuzz` kept (minimised with `cargo fuzz cmin`, files under 256 bytes,
/// copied to `tests/fuzz-corpus/`) and every crash it found (`tests/fuzz-crashes/`), replayed:
/// no panic, bounded time.
#[test]
fn fuzz_corpus_and_crashes_replay_without_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut replayed = 0;
    for dir in ["tests/fuzz-corpus", "tests/fuzz-crashes"] {
        // A missing folder fails: replaying nothing would pass without checking anything.
        let entries = std::fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
        for entry in entries {
            let path = entry.expect("entry").path();
            let body = std::fs::read(&path).expect("read");
            let _ = bounded(&path.display().to_string(), &body);
            for content_type in [
                "text/xml; charset=utf-16",
                "application/rss+xml; charset=shift_jis",
            ] {
                let (result, _) =
                    inspect(&body, Some(content_type), "https://example.org/feed.xml");
                assert!(
                    !matches!(result, Err(FeedError::Crashed(_))),
                    "{}",
                    path.display()
                );
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no fuzz inputs found");
    eprintln!("replayed {replayed} fuzz inputs");
}
