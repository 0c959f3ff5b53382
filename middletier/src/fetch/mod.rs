//! Fetching feeds over HTTP, politely and safely.
//!
//! One shared `reqwest::Client` (connection reuse, gzip and brotli, the project's User-Agent),
//! bounded in time (connect timeout, and one total deadline covering every redirect hop and the
//! body) and size (the body is counted while it streams in, so a huge or endless response is
//! cut off early).
//!
//! # Politeness
//! - Conditional GET: [`Fetcher::fetch_conditional`] sends the validators of the previous
//!   success (`If-None-Match`, `If-Modified-Since`); a `304` comes back as a [`Fetched`] with an
//!   empty body so the caller skips parsing.
//! - Caching hints (`Cache-Control: max-age`, `Expires`) and `Retry-After` (on 429 and 503) are
//!   handed to the caller for scheduling; 410 is [`FetchError::Gone`].
//! - At most `max_concurrent` fetches are in flight, and at most `max_per_host` against one host.
//!   A fetch waits for its host's permit before taking a global one, so a crowd of feeds on one
//!   slow host cannot hold every global permit. Time spent waiting does not count against the
//!   timeout.
//!
//! # Safety (SSRF)
//! Feed URLs come from users, so by default they may not reach this machine or its private
//! networks. Redirects are followed by hand (at most `max_redirects`) so that every hop is
//! checked like the first: the scheme must be http(s), IP literals (in any spelling the `url`
//! crate accepts, e.g. `127.1`, `0x7f000001`) are checked before any connection, and host names
//! are checked after DNS resolution, at connect time, by `GuardedResolver` (so DNS rebinding
//! can't sneak past). `allow_private_networks = true` lifts this for every host (local demos,
//! tests); `allowed_hosts` lifts it for the listed hosts only (a feed server on the LAN).
//!
//! # Layout
//! - this module: the settings, the errors, and the [`Fetcher`], which follows redirects by
//!   hand, checking every hop, and reads the body within its size cap.
//! - `guard`: the SSRF guard: which addresses are public ([`is_public`]), the resolver that
//!   drops the others, IP literals checked before connecting, and the `allowed_hosts` list.
//! - `hosts`: the per-host limits (one semaphore per host, kept only while it is in use).
//! - `headers`: HTTP caching headers: [`Validators`] for conditional GETs, [`CacheHints`]
//!   and `Retry-After` for scheduling.
//! - `metrics`: fetch outcomes and durations.

mod guard;
mod headers;
mod hosts;
mod metrics;

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{StatusCode, redirect};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use middletier_api::domain::FeedUrl;

pub use guard::is_public;
pub use headers::{CacheHints, Validators};

use guard::{AllowedHost, BlockedHost, GuardedResolver, blocked_literal};
use headers::{cache_hints, header_text, retry_after, with_validators};
use hosts::{HostLimits, host_key};
use metrics::FetchMetrics;

/// What clients advertise they accept; order says what we prefer.
const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
                      application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8";

/// `[fetch]` settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct FetchSettings {
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Whole fetch, from the first connect through every redirect to the last byte of the body.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub max_body_bytes: u64,
    pub max_redirects: usize,
    /// Lets feed URLs reach loopback and private addresses (local feeds, tests).
    pub allow_private_networks: bool,
    /// Hosts that may be private even when `allow_private_networks` is off: comma-separated
    /// `host` or `host:port` (e.g. `localhost,feeds.lan:8080`, `[::1]:8080`).
    pub allowed_hosts: String,
    /// Fetches in flight at once, over all hosts.
    pub max_concurrent: usize,
    /// Fetches in flight at once against one host, so we never hammer a publisher.
    pub max_per_host: usize,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            max_body_bytes: 10 * 1024 * 1024,
            max_redirects: 5,
            allow_private_networks: false,
            allowed_hosts: String::new(),
            max_concurrent: 32,
            max_per_host: 2,
        }
    }
}

/// Why a feed could not be fetched, worded for the person who subscribed to it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0} is a private or local address, which feeds may not use")]
    Blocked(String),
    #[error("could not resolve the host name {0}")]
    UnknownHost(String),
    #[error("could not connect to the server")]
    Connect,
    #[error("the server did not answer within {0} seconds")]
    Timeout(u64),
    #[error("the server answered {0}")]
    Status(StatusCode),
    #[error("the publisher says this feed is gone (410 Gone)")]
    Gone,
    /// 429, or 503 (which publishers also use for "come back later").
    #[error("the server asked us to slow down ({status})")]
    RateLimited {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    #[error("the feed is larger than the {0} MiB limit")]
    TooLarge(u64),
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    /// A redirect to a non-http(s) URL, or a `Location` that is not a URL.
    #[error("the server redirected to {0}, which is not an http(s) URL")]
    BadRedirect(String),
    #[error("the download failed: {0}")]
    Other(String),
}

impl FetchError {
    /// A short, fixed name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Blocked(_) => "blocked",
            FetchError::UnknownHost(_) => "unknown_host",
            FetchError::Connect => "connect",
            FetchError::Timeout(_) => "timeout",
            FetchError::Status(_) => "http_error",
            FetchError::Gone => "gone",
            FetchError::RateLimited { .. } => "rate_limited",
            FetchError::TooLarge(_) => "too_large",
            FetchError::TooManyRedirects(_) => "too_many_redirects",
            FetchError::BadRedirect(_) => "bad_redirect",
            FetchError::Other(_) => "other",
        }
    }

    /// Whether trying again later may succeed without anyone changing anything (the scheduler
    /// backs off and retries these; the others need the publisher or the user to act).
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Timeout(_)
            | FetchError::Connect
            | FetchError::RateLimited { .. }
            | FetchError::Other(_) => true,
            FetchError::Status(status) => {
                status.is_server_error() || *status == StatusCode::REQUEST_TIMEOUT
            }
            FetchError::Blocked(_)
            | FetchError::UnknownHost(_)
            | FetchError::Gone
            | FetchError::TooLarge(_)
            | FetchError::TooManyRedirects(_)
            | FetchError::BadRedirect(_) => false,
        }
    }
}

/// How much of a body is read, past the fetcher's own `max_body_bytes` (which always applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLimit {
    /// The whole body, or [`FetchError::TooLarge`] past `max_body_bytes` (feeds).
    Settings,
    /// The whole body, or [`FetchError::TooLarge`] past this many bytes (icons).
    Refuse(u64),
    /// The first this many bytes, the rest left unread (a page scanned for links in its head).
    Prefix(u64),
}

/// A successfully downloaded feed document, or the news that it has not changed.
#[derive(Debug)]
pub struct Fetched {
    /// Of the final hop: a 2xx (normally 200), or 304 Not Modified.
    pub status: StatusCode,
    /// Empty on 304.
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    /// Where the document came from after redirects (relative links resolve against it).
    pub final_url: url::Url,
    /// Set when every redirect hop was permanent (301/308): where the feed now lives.
    pub moved_permanently_to: Option<url::Url>,
    /// To store for the next conditional fetch. On 304 a validator the server did not repeat
    /// is carried over from the request, so this is always the one to keep.
    pub validators: Validators,
    pub cache: CacheHints,
    /// From the first request to the last byte, not counting the wait for a permit.
    pub elapsed: Duration,
    /// The final response's headers, for diagnostics (`middletier check-feed`).
    pub headers: HeaderMap,
}

impl Fetched {
    pub fn not_modified(&self) -> bool {
        self.status == StatusCode::NOT_MODIFIED
    }
}

#[derive(Clone, Debug)]
pub struct Fetcher {
    /// Its resolver drops private addresses: for every host not on the allow-list.
    guarded: reqwest::Client,
    /// No resolver guard: for allowed hosts, or for all when private networks are allowed.
    open: reqwest::Client,
    settings: Arc<FetchSettings>,
    allowed: Arc<[AllowedHost]>,
    global: Arc<Semaphore>,
    hosts: Arc<HostLimits>,
    metrics: FetchMetrics,
}

impl Fetcher {
    pub fn new(settings: FetchSettings) -> Result<Self, reqwest::Error> {
        let builder = || {
            platform::http::client_builder()
                .connect_timeout(settings.connect_timeout)
                .timeout(settings.timeout)
                // Followed by hand, so that every hop is checked.
                .redirect(redirect::Policy::none())
                .default_headers(HeaderMap::from_iter([(
                    header::ACCEPT,
                    HeaderValue::from_static(ACCEPT),
                )]))
        };
        let open = builder().build()?;
        let guarded = if settings.allow_private_networks {
            open.clone()
        } else {
            builder().dns_resolver(Arc::new(GuardedResolver)).build()?
        };
        Ok(Self {
            guarded,
            open,
            allowed: AllowedHost::parse_list(&settings.allowed_hosts).into(),
            global: Arc::new(Semaphore::new(settings.max_concurrent.max(1))),
            hosts: Arc::new(HostLimits::new(settings.max_per_host.max(1))),
            settings: Arc::new(settings),
            metrics: FetchMetrics::default(),
        })
    }

    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    /// Fetches `url` unconditionally.
    pub async fn fetch(&self, url: &FeedUrl) -> Result<Fetched, FetchError> {
        self.fetch_conditional(url, &Validators::default()).await
    }

    /// Registers this fetcher's metrics (`rss_fetches_total`, `rss_fetch_duration_seconds`).
    pub fn register_metrics(&self, metrics: &platform::metrics::Metrics) {
        self.metrics.register(metrics);
    }

    /// Fetches `url`, letting the server answer 304 Not Modified when `validators` still match.
    pub async fn fetch_conditional(
        &self,
        url: &FeedUrl,
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        self.fetch_limited(url, validators, BodyLimit::Settings)
            .await
    }

    /// Fetches `url` as [`Fetcher::fetch_conditional`] does, reading at most `limit` of the
    /// body: what icons and the pages linking them use, with their own smaller caps.
    pub async fn fetch_limited(
        &self,
        url: &FeedUrl,
        validators: &Validators,
        limit: BodyLimit,
    ) -> Result<Fetched, FetchError> {
        let started = Instant::now();
        let result = self.fetch_unmeasured(url, validators, limit).await;
        self.metrics.record(&result, started.elapsed());
        result
    }

    async fn fetch_unmeasured(
        &self,
        url: &FeedUrl,
        validators: &Validators,
        limit: BodyLimit,
    ) -> Result<Fetched, FetchError> {
        let mut current = url.as_url().clone();
        let mut host_permit = self.hosts.acquire(host_key(&current)).await;
        let _global_permit = self.global.acquire().await;

        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.settings.timeout;
        let timed_out = |_| FetchError::Timeout(self.settings.timeout.as_secs());
        let mut redirects = 0;
        let mut all_permanent = true;
        loop {
            let client = self.client_for(&current)?;
            let request = with_validators(client.get(current.clone()), validators);
            let response = tokio::time::timeout_at(deadline, request.send())
                .await
                .map_err(timed_out)?
                .map_err(|e| self.classify(e))?;
            let status = response.status();

            if let Some(location) = redirect_target(&response) {
                if redirects == self.settings.max_redirects {
                    return Err(FetchError::TooManyRedirects(self.settings.max_redirects));
                }
                redirects += 1;
                all_permanent &= matches!(
                    status,
                    StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
                );
                let next = current
                    .join(location)
                    .map_err(|_| FetchError::BadRedirect(location.to_owned()))?;
                if host_key(&next) != host_key(&current) {
                    drop(host_permit);
                    host_permit =
                        tokio::time::timeout_at(deadline, self.hosts.acquire(host_key(&next)))
                            .await
                            .map_err(timed_out)?;
                }
                current = next;
                continue;
            }

            match status {
                StatusCode::GONE => return Err(FetchError::Gone),
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                    return Err(FetchError::RateLimited {
                        status,
                        retry_after: retry_after(response.headers(), chrono::Utc::now()),
                    });
                }
                _ if !(status.is_success() || status == StatusCode::NOT_MODIFIED) => {
                    return Err(FetchError::Status(status));
                }
                _ => {}
            }

            let headers = response.headers().clone();
            let body = if status == StatusCode::NOT_MODIFIED {
                Vec::new()
            } else {
                tokio::time::timeout_at(deadline, self.read_body(response, limit))
                    .await
                    .map_err(timed_out)??
            };
            let received = Validators {
                etag: header_text(&headers, header::ETAG),
                last_modified: header_text(&headers, header::LAST_MODIFIED),
            };
            let validators = if status == StatusCode::NOT_MODIFIED {
                Validators {
                    etag: received.etag.or_else(|| validators.etag.clone()),
                    last_modified: received
                        .last_modified
                        .or_else(|| validators.last_modified.clone()),
                }
            } else {
                received
            };
            return Ok(Fetched {
                status,
                body,
                content_type: header_text(&headers, header::CONTENT_TYPE),
                moved_permanently_to: (redirects > 0 && all_permanent).then(|| current.clone()),
                final_url: current,
                validators,
                cache: cache_hints(&headers, chrono::Utc::now()),
                elapsed: started.elapsed(),
                headers,
            });
        }
    }

    /// The client allowed to reach `url`, or why none is.
    fn client_for(&self, url: &url::Url) -> Result<&reqwest::Client, FetchError> {
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(FetchError::BadRedirect(url.to_string()));
        }
        if self.settings.allow_private_networks
            || self.allowed.iter().any(|allowed| allowed.matches(url))
        {
            return Ok(&self.open);
        }
        match blocked_literal(url) {
            Some(host) => Err(FetchError::Blocked(host)),
            None => Ok(&self.guarded),
        }
    }

    /// Reads the body, giving up as soon as it passes `max_body_bytes` or the smaller `limit`
    /// (after decompression, so a small gzip bomb is cut off too); a prefix limit keeps what
    /// it read up to its size instead.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        limit: BodyLimit,
    ) -> Result<Vec<u8>, FetchError> {
        let most = self.settings.max_body_bytes;
        let (limit, truncate) = match limit {
            BodyLimit::Settings => (most, false),
            BodyLimit::Refuse(bytes) => (bytes.min(most), false),
            BodyLimit::Prefix(bytes) => (bytes.min(most), true),
        };
        let too_large = || FetchError::TooLarge(limit / (1024 * 1024));
        if !truncate
            && response
                .content_length()
                .is_some_and(|length| length > limit)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if (body.len() + chunk.len()) as u64 > limit {
                if !truncate {
                    return Err(too_large());
                }
                let room = usize::try_from(limit).unwrap_or(usize::MAX) - body.len();
                body.extend_from_slice(&chunk[..room]);
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn classify(&self, error: reqwest::Error) -> FetchError {
        if let Some(blocked) = find_cause::<BlockedHost>(&error) {
            return FetchError::Blocked(blocked.0.clone());
        }
        if error.is_timeout() {
            return FetchError::Timeout(self.settings.timeout.as_secs());
        }
        if error.is_connect() {
            if let Some(io) = find_cause::<std::io::Error>(&error)
                && io.kind() == std::io::ErrorKind::ConnectionRefused
            {
                return FetchError::Connect;
            }
            let host = error
                .url()
                .and_then(|u| u.host_str())
                .unwrap_or_default()
                .to_owned();
            if find_cause::<std::io::Error>(&error).is_some() && is_dns_failure(&error) {
                return FetchError::UnknownHost(host);
            }
            return FetchError::Connect;
        }
        FetchError::Other(error.without_url().to_string())
    }
}

/// The `Location` of a redirect we follow (301, 302, 303, 307, 308); `None` for anything else,
/// including a redirect status without a `Location`, which then fails as a plain status.
fn redirect_target(response: &reqwest::Response) -> Option<&str> {
    let follows = matches!(
        response.status(),
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    );
    follows
        .then(|| response.headers().get(header::LOCATION)?.to_str().ok())
        .flatten()
}

fn is_dns_failure(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = source {
        let text = current.to_string();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return true;
        }
        source = current.source();
    }
    false
}

fn find_cause<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        source = current.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_the_ones_worth_retrying() {
        for transient in [
            FetchError::Timeout(15),
            FetchError::Connect,
            FetchError::Status(StatusCode::BAD_GATEWAY),
            FetchError::RateLimited {
                status: StatusCode::TOO_MANY_REQUESTS,
                retry_after: None,
            },
        ] {
            assert!(transient.is_transient(), "{transient}");
        }
        for permanent in [
            FetchError::Status(StatusCode::NOT_FOUND),
            FetchError::Gone,
            FetchError::Blocked("127.0.0.1".into()),
            FetchError::TooLarge(10),
            FetchError::TooManyRedirects(5),
            FetchError::UnknownHost("nowhere.invalid".into()),
        ] {
            assert!(!permanent.is_transient(), "{permanent}");
        }
    }
}
