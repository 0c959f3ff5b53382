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
//! are checked after DNS resolution, at connect time, by [`GuardedResolver`] (so DNS rebinding
//! can't sneak past). `allow_private_networks = true` lifts this for every host (local demos,
//! tests); `allowed_hosts` lifts it for the listed hosts only (a feed server on the LAN).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{StatusCode, redirect};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use middletier_api::domain::FeedUrl;

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

/// Validators from the previous successful fetch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Caching hints from the response, for scheduling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheHints {
    /// `Cache-Control: max-age` (`s-maxage` is for shared caches, not us), else `Expires`
    /// minus `Date` (zero when `Expires` is in the past or invalid, as RFC 9111 says).
    pub max_age: Option<Duration>,
    /// `Cache-Control: no-cache` or `no-store`.
    pub no_cache: bool,
}

/// Fetch outcomes and durations, waits for permits included (what a feed's refresh costs):
/// `rss_fetches_total{outcome}` and `rss_fetch_duration_seconds{outcome}`.
#[derive(Clone, Debug)]
struct FetchMetrics {
    fetches: platform::metrics::prometheus_client::metrics::family::Family<
        platform::metrics::Labels,
        platform::metrics::prometheus_client::metrics::counter::Counter,
    >,
    duration: platform::metrics::HistogramFamily,
}

impl Default for FetchMetrics {
    fn default() -> Self {
        Self {
            fetches: Default::default(),
            duration: platform::metrics::histogram_family(),
        }
    }
}

impl FetchMetrics {
    fn register(&self, metrics: &platform::metrics::Metrics) {
        metrics.register(
            "fetches",
            "Feed fetches by outcome (ok, not_modified, or the kind of failure)",
            self.fetches.clone(),
        );
        metrics.register(
            "fetch_duration_seconds",
            "Feed fetch duration by outcome, waits for a permit included",
            self.duration.clone(),
        );
    }

    fn record(&self, result: &Result<Fetched, FetchError>, elapsed: Duration) {
        let outcome = match result {
            Ok(fetched) if fetched.not_modified() => "not_modified",
            Ok(_) => "ok",
            Err(error) => error.kind(),
        };
        let labels = vec![("outcome", outcome.to_owned())];
        self.fetches.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }
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
        let started = Instant::now();
        let result = self.fetch_unmeasured(url, validators).await;
        self.metrics.record(&result, started.elapsed());
        result
    }

    async fn fetch_unmeasured(
        &self,
        url: &FeedUrl,
        validators: &Validators,
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
                tokio::time::timeout_at(deadline, self.read_body(response))
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

    /// Reads the body, giving up as soon as it passes `max_body_bytes` (after decompression,
    /// so a small gzip bomb is cut off too).
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
        let limit = self.settings.max_body_bytes;
        let too_large = || FetchError::TooLarge(limit / (1024 * 1024));
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
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

fn with_validators(
    mut request: reqwest::RequestBuilder,
    validators: &Validators,
) -> reqwest::RequestBuilder {
    let value = |text: &Option<String>| text.as_deref().and_then(|t| HeaderValue::from_str(t).ok());
    if let Some(etag) = value(&validators.etag) {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    if let Some(date) = value(&validators.last_modified) {
        request = request.header(header::IF_MODIFIED_SINCE, date);
    }
    request
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

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let text = headers.get(name)?.to_str().ok()?.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn http_date(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc2822(text.trim())
        .ok()
        .map(|date| date.to_utc())
}

/// `Retry-After` as delay-seconds or an HTTP-date (a date in the past means "now").
fn retry_after(headers: &HeaderMap, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let text = header_text(headers, header::RETRY_AFTER)?;
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = http_date(&text)?;
    Some((at - now).to_std().unwrap_or_default())
}

fn cache_hints(headers: &HeaderMap, now: chrono::DateTime<chrono::Utc>) -> CacheHints {
    let mut hints = CacheHints::default();
    let directives = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for directive in directives {
        let (name, argument) = directive.split_once('=').unwrap_or((directive, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "max-age" => {
                hints.max_age = argument
                    .trim()
                    .trim_matches('"')
                    .parse()
                    .ok()
                    .map(Duration::from_secs);
            }
            "no-cache" | "no-store" => hints.no_cache = true,
            _ => {}
        }
    }
    if hints.max_age.is_none()
        && let Some(expires) = header_text(headers, header::EXPIRES)
    {
        let date = header_text(headers, header::DATE)
            .and_then(|date| http_date(&date))
            .unwrap_or(now);
        hints.max_age = Some(
            http_date(&expires)
                .and_then(|expires| (expires - date).to_std().ok())
                .unwrap_or_default(),
        );
    }
    hints
}

/// The unit of per-host politeness: the host name or address, whatever the port.
fn host_key(url: &url::Url) -> String {
    url.host_str().unwrap_or_default().to_owned()
}

/// One entry of `allowed_hosts`.
#[derive(Debug, PartialEq, Eq)]
struct AllowedHost {
    /// Lower-case name, or an IP address as the `url` crate prints it (no brackets).
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    fn parse_list(list: &str) -> Vec<Self> {
        list.split(',')
            .filter_map(|entry| Self::parse(entry.trim()))
            .collect()
    }

    fn parse(entry: &str) -> Option<Self> {
        if entry.is_empty() {
            return None;
        }
        if let Ok(ip) = entry.parse::<Ipv6Addr>() {
            return Some(Self {
                host: ip.to_string(),
                port: None,
            });
        }
        // Parse as a URL authority so `127.1`, `[::1]:80` and upper case normalise the way
        // feed URLs do.
        let url = url::Url::parse(&format!("http://{entry}/")).ok()?;
        let explicit_port = entry.rsplit_once(':').is_some_and(|(host, port)| {
            port.chars().all(|c| c.is_ascii_digit()) && (host.ends_with(']') || !host.contains(':'))
        });
        Some(Self {
            host: host_name(&url)?,
            port: explicit_port.then(|| url.port_or_known_default()).flatten(),
        })
    }

    fn matches(&self, url: &url::Url) -> bool {
        host_name(url).is_some_and(|host| host == self.host)
            && self
                .port
                .is_none_or(|port| url.port_or_known_default() == Some(port))
    }
}

fn host_name(url: &url::Url) -> Option<String> {
    Some(match url.host()? {
        url::Host::Domain(name) => name.trim_end_matches('.').to_ascii_lowercase(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    })
}

/// Per-host semaphores, created on demand and dropped as soon as nobody holds or awaits one,
/// so the map holds only hosts with fetches in flight or queued.
#[derive(Debug)]
struct HostLimits {
    per_host: usize,
    map: Mutex<HostMap>,
}

#[derive(Debug)]
struct HostMap {
    semaphores: HashMap<String, Arc<Semaphore>>,
    /// When the map reaches this size it is swept of entries nobody uses (left behind when a
    /// waiting fetch is cancelled), then the threshold doubles: amortised O(1).
    sweep_at: usize,
}

const MIN_SWEEP_AT: usize = 64;

impl HostLimits {
    fn new(per_host: usize) -> Self {
        Self {
            per_host,
            map: Mutex::new(HostMap {
                semaphores: HashMap::new(),
                sweep_at: MIN_SWEEP_AT,
            }),
        }
    }

    async fn acquire(self: &Arc<Self>, host: String) -> HostPermit {
        let semaphore = {
            let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            if map.semaphores.len() >= map.sweep_at {
                map.semaphores
                    .retain(|_, semaphore| Arc::strong_count(semaphore) > 1);
                map.sweep_at = (map.semaphores.len() * 2).max(MIN_SWEEP_AT);
            }
            map.semaphores
                .entry(host.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        let permit = semaphore.acquire_owned().await.ok();
        HostPermit {
            permit,
            host,
            limits: Arc::clone(self),
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .semaphores
            .len()
    }
}

#[derive(Debug)]
struct HostPermit {
    /// `None` only if the semaphore were closed, which we never do.
    permit: Option<OwnedSemaphorePermit>,
    host: String,
    limits: Arc<HostLimits>,
}

impl Drop for HostPermit {
    fn drop(&mut self) {
        // Release first, so the permit's own reference doesn't count as a user.
        drop(self.permit.take());
        let mut map = self
            .limits
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Only the map holds it: no fetch holds a permit or waits for one (waiters clone the
        // Arc under this lock before awaiting).
        if map
            .semaphores
            .get(&self.host)
            .is_some_and(|semaphore| Arc::strong_count(semaphore) == 1)
        {
            map.semaphores.remove(&self.host);
        }
    }
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

/// The host of `url` when it is an IP literal that is not public. The `url` crate has already
/// normalised odd IPv4 spellings (`127.1`, `0x7f000001`, `2130706433`, `0177.0.0.1`).
fn blocked_literal(url: &url::Url) -> Option<String> {
    let ip = match url.host()? {
        url::Host::Ipv4(ip) => IpAddr::V4(ip),
        url::Host::Ipv6(ip) => IpAddr::V6(ip),
        url::Host::Domain(_) => return None,
    };
    (!is_public(ip)).then(|| ip.to_string())
}

#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to private or local addresses")]
struct BlockedHost(String);

/// Resolves with the system resolver, then drops every address that is not public.
#[derive(Debug)]
struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let public: Vec<SocketAddr> = resolved.filter(|addr| is_public(addr.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(BlockedHost(host)) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Whether `ip` is a globally routable unicast address: not loopback, private (RFC 1918,
/// unique-local), link-local (which includes cloud metadata at 169.254.169.254), carrier-grade
/// NAT, multicast, documentation, benchmarking or reserved space.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..=127).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..=19).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b)) // NAT64 can reach private v4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).expect("url")
    }

    #[test]
    fn private_and_local_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fc00::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip} must be blocked");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
        ] {
            assert!(is_public(ip.parse().expect("ip")), "{ip} must be allowed");
        }
    }

    #[test]
    fn odd_ipv4_spellings_normalise_to_the_address_they_mean_and_are_blocked() {
        for spelling in [
            "127.0.0.1",
            "127.1",
            "0x7f000001",
            "0x7f.0.0.1",
            "2130706433",
            "0177.0.0.1",
            "017700000001",
        ] {
            let parsed = url(&format!("http://{spelling}:8080/feed"));
            assert_eq!(
                parsed.host_str(),
                Some("127.0.0.1"),
                "{spelling} normalises"
            );
            assert_eq!(blocked_literal(&parsed).as_deref(), Some("127.0.0.1"));
        }
        assert_eq!(
            blocked_literal(&url("http://[::ffff:7f00:1]/")).as_deref(),
            Some("::ffff:127.0.0.1")
        );
        assert_eq!(
            blocked_literal(&url("http://localhost/feed")),
            None,
            "names are checked after resolution"
        );
        assert_eq!(blocked_literal(&url("http://93.184.216.34/")), None);
    }

    #[test]
    fn allowed_hosts_match_by_host_and_optional_port() {
        let list = AllowedHost::parse_list(" localhost, Feeds.LAN:8080 ,127.1:9000,[::1]:81,::1,");
        assert_eq!(list.len(), 5);
        let allowed = |text: &str| list.iter().any(|a| a.matches(&url(text)));
        assert!(allowed("http://localhost/x"));
        assert!(allowed("http://localhost:1234/x"));
        assert!(allowed("http://feeds.lan:8080/x"));
        assert!(!allowed("http://feeds.lan/x"), "port 80 is not 8080");
        assert!(allowed("http://127.0.0.1:9000/x"));
        assert!(!allowed("http://127.0.0.1:9001/x"));
        assert!(allowed("http://[::1]:81/x"));
        assert!(allowed("http://[::1]:82/x"), "bare ::1 allows every port");
        assert!(!allowed("http://example.com/x"));
        assert!(AllowedHost::parse_list("").is_empty());
    }

    #[test]
    fn cache_control_max_age_wins_over_expires() {
        let now = chrono::Utc::now();
        let headers = HeaderMap::from_iter([
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, s-maxage=60, max-age=600"),
            ),
            (
                header::EXPIRES,
                HeaderValue::from_static("Thu, 01 Jan 2099 00:00:00 GMT"),
            ),
        ]);
        assert_eq!(
            cache_hints(&headers, now),
            CacheHints {
                max_age: Some(Duration::from_secs(600)),
                no_cache: false
            }
        );
        let no_cache =
            HeaderMap::from_iter([(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))]);
        assert!(cache_hints(&no_cache, now).no_cache);
    }

    #[test]
    fn expires_counts_from_the_date_header() {
        let headers = HeaderMap::from_iter([
            (
                header::DATE,
                HeaderValue::from_static("Tue, 10 Jun 2025 04:00:00 GMT"),
            ),
            (
                header::EXPIRES,
                HeaderValue::from_static("Tue, 10 Jun 2025 05:00:00 GMT"),
            ),
        ]);
        assert_eq!(
            cache_hints(&headers, chrono::Utc::now()).max_age,
            Some(Duration::from_secs(3600))
        );
        let invalid = HeaderMap::from_iter([(header::EXPIRES, HeaderValue::from_static("0"))]);
        assert_eq!(
            cache_hints(&invalid, chrono::Utc::now()).max_age,
            Some(Duration::ZERO),
            "an invalid Expires means already expired"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = http_date("Tue, 10 Jun 2025 04:00:00 GMT").expect("date");
        let seconds =
            HeaderMap::from_iter([(header::RETRY_AFTER, HeaderValue::from_static("120"))]);
        assert_eq!(retry_after(&seconds, now), Some(Duration::from_secs(120)));
        let date = HeaderMap::from_iter([(
            header::RETRY_AFTER,
            HeaderValue::from_static("Tue, 10 Jun 2025 04:01:30 GMT"),
        )]);
        assert_eq!(retry_after(&date, now), Some(Duration::from_secs(90)));
        let past = HeaderMap::from_iter([(
            header::RETRY_AFTER,
            HeaderValue::from_static("Tue, 10 Jun 2025 03:00:00 GMT"),
        )]);
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        let junk = HeaderMap::from_iter([(header::RETRY_AFTER, HeaderValue::from_static("soon"))]);
        assert_eq!(retry_after(&junk, now), None);
    }

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

    #[tokio::test]
    async fn per_host_limits_forget_hosts_nobody_is_fetching() {
        let limits = Arc::new(HostLimits::new(2));
        let first = limits.acquire("a.example".into()).await;
        let second = limits.acquire("a.example".into()).await;
        let other = limits.acquire("b.example".into()).await;
        assert_eq!(limits.tracked(), 2);

        // A third fetch of a.example waits until one of the first two is done.
        let waiting = tokio::spawn({
            let limits = Arc::clone(&limits);
            async move { limits.acquire("a.example".into()).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        let third = waiting.await.expect("acquired once a permit is free");

        drop(other);
        assert_eq!(limits.tracked(), 1, "b.example is idle");
        drop((second, third));
        assert_eq!(limits.tracked(), 0);
    }

    #[tokio::test]
    async fn entries_left_by_cancelled_waiters_are_swept_so_the_map_stays_bounded() {
        let limits = Arc::new(HostLimits::new(1));
        let mut most = 0;
        for n in 0..10 * MIN_SWEEP_AT {
            // The holder finishes while a waiter is queued, then the waiter gives up before
            // taking its permit: nobody is left to remove the entry at once.
            let host = format!("h{n}.example");
            let holder = limits.acquire(host.clone()).await;
            let mut waiter = Box::pin(limits.acquire(host));
            assert!(
                tokio::time::timeout(Duration::ZERO, &mut waiter)
                    .await
                    .is_err()
            );
            drop(holder);
            drop(waiter);
            most = most.max(limits.tracked());
        }
        assert!(most > 1, "entries were left behind");
        assert!(most <= MIN_SWEEP_AT, "but swept: at most {most}");
    }
}
