//! Fetching feeds over HTTP, politely and safely.
//!
//! One shared `reqwest::Client` (connection reuse, gzip and brotli), bounded in time (connect and
//! total timeouts) and size (the body is counted while it streams in, so a huge or endless
//! response is cut off early), following at most `max_redirects` redirects.
//!
//! Feed URLs come from users, so by default they may not reach this machine or its private
//! networks (SSRF): host names are checked after DNS resolution, at connect time, by
//! [`GuardedResolver`] (so DNS rebinding can't sneak past), and IP literals, including those in
//! redirect targets, are checked before any connection. `allow_private_networks = true` lifts
//! this for local feeds and tests.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{StatusCode, header, redirect};
use serde::{Deserialize, Serialize};

use crate::domain::FeedUrl;

/// What clients advertise they accept; order says what we prefer.
const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
                      application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8";

/// `[fetch]` settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FetchSettings {
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Whole request, from connect to the last byte of the body.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub max_body_bytes: u64,
    pub max_redirects: usize,
    /// Lets feed URLs reach loopback and private addresses (local feeds, tests).
    pub allow_private_networks: bool,
    /// How many feeds of one user are fetched at once.
    pub concurrency: usize,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            max_body_bytes: 10 * 1024 * 1024,
            max_redirects: 5,
            allow_private_networks: false,
            concurrency: 8,
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
    #[error("the feed is larger than the {0} MiB limit")]
    TooLarge(u64),
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    #[error("the download failed: {0}")]
    Other(String),
}

/// A successfully downloaded feed document.
#[derive(Debug)]
pub struct Fetched {
    pub body: Vec<u8>,
    /// Where the document came from after redirects (relative links resolve against it).
    pub final_url: url::Url,
}

#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    settings: Arc<FetchSettings>,
}

impl Fetcher {
    pub fn new(settings: FetchSettings) -> Result<Self, reqwest::Error> {
        let allow_private = settings.allow_private_networks;
        let max_redirects = settings.max_redirects;
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                return attempt.error(FetchError::TooManyRedirects(max_redirects));
            }
            match blocked_literal(attempt.url(), allow_private) {
                Some(host) => attempt.error(FetchError::Blocked(host)),
                None => attempt.follow(),
            }
        });
        let mut builder = platform::http::client_builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .redirect(policy)
            .default_headers(header::HeaderMap::from_iter([(
                header::ACCEPT,
                header::HeaderValue::from_static(ACCEPT),
            )]));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        Ok(Self {
            client: builder.build()?,
            settings: Arc::new(settings),
        })
    }

    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    pub async fn fetch(&self, url: &FeedUrl) -> Result<Fetched, FetchError> {
        if let Some(host) = blocked_literal(url.as_url(), self.settings.allow_private_networks) {
            return Err(FetchError::Blocked(host));
        }
        let mut response = self
            .client
            .get(url.as_url().clone())
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let limit = self.settings.max_body_bytes;
        let too_large = || FetchError::TooLarge(limit / (1024 * 1024));
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(too_large());
        }
        let final_url = response.url().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched { body, final_url })
    }

    fn classify(&self, error: reqwest::Error) -> FetchError {
        if let Some(ours) = find_cause::<FetchError>(&error) {
            return match ours {
                FetchError::Blocked(host) => FetchError::Blocked(host.clone()),
                FetchError::TooManyRedirects(n) => FetchError::TooManyRedirects(*n),
                other => FetchError::Other(other.to_string()),
            };
        }
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
        if error.is_redirect() {
            return FetchError::TooManyRedirects(self.settings.max_redirects);
        }
        FetchError::Other(error.without_url().to_string())
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

/// The host of `url` when it is an IP literal we must not reach.
fn blocked_literal(url: &url::Url, allow_private: bool) -> Option<String> {
    if allow_private {
        return None;
    }
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

    #[test]
    fn private_and_local_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip} must be blocked");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().expect("ip")), "{ip} must be allowed");
        }
    }

    #[test]
    fn ip_literals_are_checked_unless_private_networks_are_allowed() {
        let url = url::Url::parse("http://127.0.0.1:8080/feed").expect("url");
        assert_eq!(blocked_literal(&url, false).as_deref(), Some("127.0.0.1"));
        assert_eq!(blocked_literal(&url, true), None);
        let named = url::Url::parse("http://localhost/feed").expect("url");
        assert_eq!(
            blocked_literal(&named, false),
            None,
            "names are checked after resolution"
        );
    }
}
