//! `middletier check-feed <url-or-file> [--json]`: what the fetcher and the parser make of one
//! feed, for an operator asking "why does this feed show an error?".
//!
//! It uses the service's own [`Fetcher`] and [`feed::inspect`], with the service's `[fetch]`
//! settings (files and `RSS_FETCH__...` variables, see `platform::config`), so it sees exactly
//! what the middle tier sees, SSRF guard included: checking a feed on a private network needs
//! `RSS_FETCH__ALLOW_PRIVATE_NETWORKS=true` or `RSS_FETCH__ALLOWED_HOSTS`, as for the service.
//!
//! Exit status: 0 when the feed was read, 1 when it could not be (the report says why), 2 on
//! bad usage or configuration.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use reqwest::header::{self, HeaderMap};
use serde::Serialize;

use middletier::Settings;
use middletier::feed::{self, FeedError, Inspected};
use middletier::fetch::{FetchError, Fetched, Fetcher};
use middletier_api::domain::FeedUrl;

pub const USAGE: &str = "\
Usage: middletier check-feed <url-or-file> [--json]

Fetches a feed (or reads a local file) the way the middle tier does and reports the final URL
after redirects, the HTTP status and caching headers, the detected format and version, the
encoding and how it was chosen, what was repaired in a broken feed and other warnings, the
title, the number of entries, the first five entries, and any error in plain words.

  --json    print one JSON object instead of text

The [fetch] settings apply (e.g. RSS_FETCH__ALLOW_PRIVATE_NETWORKS=true to check a feed on
this machine or a private network; by default such addresses are refused, as in the service).
Exit status: 0 feed read, 1 feed error, 2 bad usage.";

/// How many entries the report lists.
const SHOWN_ENTRIES: usize = 5;

/// Runs the tool on the arguments after `check-feed`.
pub async fn run(args: &[String]) -> ExitCode {
    let mut json = false;
    let mut targets = Vec::new();
    for arg in args {
        match arg.as_str() {
            "--json" => json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            flag if flag.starts_with("--") => {
                return usage_error(&format!("unknown option {flag}"));
            }
            target => targets.push(target),
        }
    }
    let [target] = targets.as_slice() else {
        return usage_error("check-feed takes exactly one URL or file");
    };
    let source = match Source::parse(target) {
        Ok(source) => source,
        Err(message) => return usage_error(&message),
    };
    let settings = match platform::config::load::<Settings>("middletier") {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("middletier check-feed: {error}");
            return ExitCode::from(2);
        }
    };
    let report = match source {
        Source::Url(url) => match Fetcher::new(settings.fetch) {
            Ok(fetcher) => check_url(target, &fetcher, &url).await,
            Err(error) => {
                eprintln!("middletier check-feed: cannot build the HTTP client: {error}");
                return ExitCode::from(2);
            }
        },
        Source::File(path) => check_file(target, path),
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => emit(&format!("{text}\n")),
            Err(error) => {
                eprintln!("middletier check-feed: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        emit(&report.text());
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Writes to stdout, ignoring a reader that went away (`check-feed ... | head`): `print!`
/// would panic on the broken pipe, and the exit status must still say whether the feed parsed.
fn emit(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("middletier check-feed: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

enum Source {
    Url(FeedUrl),
    File(PathBuf),
}

impl Source {
    /// `http(s)://...` is fetched, `file://...` or anything that is not a URL is a path.
    fn parse(target: &str) -> Result<Self, String> {
        match url::Url::parse(target) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => FeedUrl::parse(target)
                .map(Source::Url)
                .map_err(|error| error.to_string()),
            Ok(url) if url.scheme() == "file" => url
                .to_file_path()
                .map(Source::File)
                .map_err(|()| format!("{target} is not a local file path")),
            Ok(url) if target.contains("://") => Err(format!(
                "only http(s) URLs and local files can be checked, not '{}:'",
                url.scheme()
            )),
            _ => Ok(Source::File(PathBuf::from(target))),
        }
    }
}

/// Everything the tool found out; the `--json` output as is.
#[derive(Debug, Default, Serialize)]
struct Report {
    source: String,
    ok: bool,
    /// Absent for local files, and when no response came back.
    http: Option<HttpReport>,
    /// For local files.
    file: Option<String>,
    bytes: Option<usize>,
    encoding: Option<&'static str>,
    /// What chose the encoding: byte-order mark, HTTP charset, XML declaration, detection...
    encoding_source: Option<&'static str>,
    format: Option<&'static str>,
    /// The version the document declares (`2.01`, `0.91`, `0.3`, `1.1`...).
    version: Option<String>,
    /// Whether the feed could only be read after repairs (see `recoveries`).
    recovered: bool,
    /// What was wrong with the document and was repaired, in plain words.
    recoveries: Vec<String>,
    /// Labels that disagreed or lied, format variants read as their standard.
    warnings: Vec<String>,
    title: Option<String>,
    site_url: Option<String>,
    ttl_minutes: Option<u64>,
    entry_count: Option<usize>,
    entries: Vec<EntryReport>,
    error: Option<String>,
    /// For fetch errors: whether the service will keep retrying on its own.
    transient: Option<bool>,
    retry_after_seconds: Option<u64>,
}

#[derive(Debug, Serialize)]
struct HttpReport {
    final_url: String,
    /// Where a subscription should point now (every redirect was permanent).
    moved_permanently_to: Option<String>,
    status: u16,
    content_type: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
    cache_control: Option<String>,
    expires: Option<String>,
    /// What the scheduler will take from the caching headers.
    max_age_seconds: Option<u64>,
    elapsed_ms: u128,
}

#[derive(Debug, Serialize)]
struct EntryReport {
    title: String,
    date: Option<String>,
    link: Option<String>,
}

async fn check_url(source: &str, fetcher: &Fetcher, url: &FeedUrl) -> Report {
    let mut report = Report {
        source: source.to_owned(),
        ..Report::default()
    };
    match fetcher.fetch(url).await {
        Ok(fetched) => {
            report.http = Some(http_report(&fetched));
            report.bytes = Some(fetched.body.len());
            let parsed = feed::inspect(
                &fetched.body,
                fetched.content_type.as_deref(),
                &fetched.final_url,
            );
            report.record(parsed);
        }
        Err(error) => report.record_fetch_error(&error),
    }
    report
}

fn check_file(source: &str, path: PathBuf) -> Report {
    let mut report = Report {
        source: source.to_owned(),
        file: Some(path.display().to_string()),
        ..Report::default()
    };
    let body = match std::fs::read(&path) {
        Ok(body) => body,
        Err(error) => {
            report.error = Some(format!("cannot read {}: {error}", path.display()));
            return report;
        }
    };
    report.bytes = Some(body.len());
    // Relative links resolve against the file; only http(s) links are kept, as in the service.
    let base = std::path::absolute(&path)
        .ok()
        .and_then(|absolute| url::Url::from_file_path(absolute).ok())
        .or_else(|| url::Url::parse("file:///").ok());
    match base {
        Some(base) => report.record(feed::inspect(&body, None, &base)),
        None => report.error = Some("cannot make a URL of the file's path".to_owned()),
    }
    report
}

fn http_report(fetched: &Fetched) -> HttpReport {
    let header = |name| text(&fetched.headers, name);
    HttpReport {
        final_url: fetched.final_url.to_string(),
        moved_permanently_to: fetched
            .moved_permanently_to
            .as_ref()
            .map(url::Url::to_string),
        status: fetched.status.as_u16(),
        content_type: fetched.content_type.clone(),
        etag: fetched.validators.etag.clone(),
        last_modified: fetched.validators.last_modified.clone(),
        cache_control: header(header::CACHE_CONTROL),
        expires: header(header::EXPIRES),
        max_age_seconds: fetched.cache.max_age.map(|age| age.as_secs()),
        elapsed_ms: fetched.elapsed.as_millis(),
    }
}

/// Every value of header `name`, comma-joined as HTTP allows.
fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

impl Report {
    fn record(&mut self, parsed: Result<Inspected, FeedError>) {
        match parsed {
            Ok(inspected) => {
                self.recovered = inspected.is_recovered();
                let feed = inspected.feed;
                self.ok = true;
                self.encoding = Some(inspected.encoding);
                self.encoding_source = Some(inspected.encoding_source.label());
                self.format = Some(inspected.format.label());
                self.version = inspected.version;
                self.recoveries = inspected.recovered;
                self.warnings = inspected.warnings;
                self.title = feed.title;
                self.site_url = feed.site_url;
                self.ttl_minutes = feed.ttl.map(|ttl| ttl.as_secs() / 60);
                self.entry_count = Some(feed.items.len());
                self.entries = feed
                    .items
                    .into_iter()
                    .take(SHOWN_ENTRIES)
                    .map(|item| EntryReport {
                        title: item.title,
                        date: item.published,
                        link: item.link,
                    })
                    .collect();
            }
            Err(error) => self.error = Some(error.to_string()),
        }
    }

    fn record_fetch_error(&mut self, error: &FetchError) {
        self.error = Some(error.to_string());
        self.transient = Some(error.is_transient());
        if let FetchError::RateLimited {
            retry_after: Some(after),
            ..
        } = error
        {
            self.retry_after_seconds = Some(after.as_secs());
        }
    }

    fn text(&self) -> String {
        let or_none = |value: &Option<String>| value.clone().unwrap_or_else(|| "(none)".into());
        let mut out = String::new();
        let mut line = |label: &str, value: String| {
            let _ = writeln!(out, "{:<15}{value}", format!("{label}:"));
        };
        line("Source", self.source.clone());
        if let Some(http) = &self.http {
            let moved = match &http.moved_permanently_to {
                Some(_) => " (moved permanently: update the subscription)",
                None => "",
            };
            line("Final URL", format!("{}{moved}", http.final_url));
            let status = reqwest::StatusCode::from_u16(http.status)
                .map_or_else(|_| http.status.to_string(), |status| status.to_string());
            line("HTTP status", status);
            line("Content-Type", or_none(&http.content_type));
            line("ETag", or_none(&http.etag));
            line("Last-Modified", or_none(&http.last_modified));
            line("Cache-Control", or_none(&http.cache_control));
            line("Expires", or_none(&http.expires));
            line(
                "Fetched in",
                format!(
                    "{} ms, {} bytes",
                    http.elapsed_ms,
                    self.bytes.unwrap_or_default()
                ),
            );
        } else if let (Some(file), Some(bytes)) = (&self.file, self.bytes) {
            line("File", format!("{file} ({bytes} bytes)"));
        }
        if let (Some(format), Some(encoding)) = (self.format, self.encoding) {
            line("Format", format!("{format} (decoded from {encoding})"));
            if let Some(version) = &self.version {
                line("Version", version.clone());
            }
            if let Some(source) = self.encoding_source {
                line("Encoding", format!("{encoding}, chosen by: {source}"));
            }
            for recovery in &self.recoveries {
                line("Repaired", recovery.clone());
            }
            for warning in &self.warnings {
                line("Warning", warning.clone());
            }
            line("Title", or_none(&self.title));
            line("Site", or_none(&self.site_url));
            if let Some(ttl) = self.ttl_minutes {
                line("TTL", format!("{ttl} minutes"));
            }
            line("Entries", self.entry_count.unwrap_or_default().to_string());
        }
        for (n, entry) in self.entries.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}", n + 1, entry.title);
            let _ = writeln!(
                out,
                "     {}  {}",
                entry.date.as_deref().unwrap_or("(no date)"),
                entry.link.as_deref().unwrap_or("(no link)")
            );
        }
        match &self.error {
            None if self.recovered => out.push_str(
                "OK: the feed can be read, after repairs (other readers may refuse it: tell the publisher)\n",
            ),
            None => out.push_str("OK: the feed can be read\n"),
            Some(error) => {
                let mut message = format!("Error: {error}");
                if self.transient == Some(true) {
                    message.push_str(" (temporary: the service will retry");
                    if let Some(seconds) = self.retry_after_seconds {
                        let _ = write!(message, " in {seconds} s");
                    }
                    message.push(')');
                }
                let _ = writeln!(out, "{message}");
            }
        }
        out
    }
}
