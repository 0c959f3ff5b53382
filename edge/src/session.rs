//! Sessions: the cookie that says who a browser is signed in as.
//!
//! A session is a random 32-byte token (base64url) that lives only in the browser's cookie and
//! in this process while a request is served. The middle tier stores SHA-256(token) as hex,
//! so whoever reads its store (or its logs) can't sign in as anyone. Any edge can resolve any
//! session through the middle tier; each edge keeps what it resolved for a few seconds
//! ([`SessionCache`]) so a page view usually costs no extra call, and forgets a token the
//! moment the user signs out through it.
//!
//! Served over HTTPS (the cookie is `Secure`), the cookie is named with the `__Host-` prefix:
//! browsers accept such a cookie only from this very host over HTTPS, with `Path=/` and no
//! `Domain`, so neither a sibling subdomain nor a network attacker on plain HTTP can plant a
//! session cookie (session fixation). Browsers refuse the prefix without `Secure`, so plain
//! HTTP (local runs) keeps the plain name.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::header::{COOKIE, HeaderName};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use quick_cache::sync::Cache;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::time::Instant;

/// The session cookie's name on plain HTTP.
pub const COOKIE_NAME: &str = "rss_session";

/// The session cookie's name when it is `Secure`: only this host, over HTTPS, may set it.
pub const SECURE_COOKIE_NAME: &str = "__Host-rss_session";

/// Token bytes: 256 bits, far beyond guessing.
const TOKEN_BYTES: usize = 32;

/// base64url of 32 bytes, without padding.
const TOKEN_CHARS: usize = 43;

/// Sessions remembered per edge at most.
const MAX_CACHED_SESSIONS: usize = 100_000;

/// How long a session this edge verified may still be honoured while the middle tier can't
/// be asked (the users keep reading the stale pages the edge serves in an outage). Bounded,
/// because a sign-out through another edge can't reach this one meanwhile.
const STALE_SESSION_LIMIT: Duration = Duration::from_secs(10 * 60);

/// A session token as the browser holds it. Never logged: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A fresh token from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, ring::error::Unspecified> {
        let mut bytes = [0u8; TOKEN_BYTES];
        SystemRandom::new().fill(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A token read back from a cookie; anything that can't be one of ours is `None`, so junk
    /// cookies cost no call to the middle tier.
    pub fn parse(raw: &str) -> Option<Self> {
        let valid = raw.len() == TOKEN_CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| Self(raw.to_owned()))
    }

    /// The key the middle tier stores the session under: SHA-256 of the token, as hex.
    pub fn hash(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.0.as_bytes());
        digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// The session token a request carries in the cookie `name`, if any (the first well-formed).
fn token_from(headers: &HeaderMap, name: &str) -> Option<Token> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(cookie, _)| *cookie == name)
        .find_map(|(_, value)| Token::parse(value.trim_matches('"')))
}

/// How the session cookie is written.
#[derive(Clone, Copy, Debug)]
pub struct CookiePolicy {
    /// Only sent over HTTPS (the edge is behind TLS).
    pub secure: bool,
    /// How long the browser keeps it; the session ends in the middle tier at the same time.
    pub lifetime: Duration,
}

impl CookiePolicy {
    /// The cookie's name: [`SECURE_COOKIE_NAME`] when it is `Secure`, else [`COOKIE_NAME`].
    pub fn name(&self) -> &'static str {
        if self.secure {
            SECURE_COOKIE_NAME
        } else {
            COOKIE_NAME
        }
    }

    /// The session token the request carries under this policy's cookie name. Over HTTPS the
    /// plain-named cookie is ignored: anyone able to write cookies for the domain could have
    /// set it.
    pub fn token(&self, headers: &HeaderMap) -> Option<Token> {
        token_from(headers, self.name())
    }

    /// `Set-Cookie` for a new session. HttpOnly: no script can read it; SameSite=Lax: other
    /// sites' forms and fetches don't carry it (top-level links do, so a link to the reader
    /// opens it signed in).
    pub fn set(&self, token: &Token) -> HeaderValue {
        self.header(token.as_str(), self.lifetime.as_secs())
    }

    /// `Set-Cookie` that makes the browser drop the session cookie.
    pub fn clear(&self) -> HeaderValue {
        self.header("", 0)
    }

    fn header(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        // `Path=/` and no `Domain`: what the `__Host-` prefix requires.
        let name = self.name();
        let cookie =
            format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
        // The token alphabet and the attributes are all visible ASCII.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// Whether the request reached us over HTTPS, as far as the edge can tell: its own setting, or
/// a trusted proxy's `X-Forwarded-Proto`.
pub fn is_https(parts: &Parts, trust_proxy: bool) -> bool {
    trust_proxy
        && parts
            .headers
            .get(HeaderName::from_static("x-forwarded-proto"))
            .and_then(|value| value.to_str().ok())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The client's address: the peer, or (behind a trusted proxy) the address that proxy added
/// last to `X-Forwarded-For`. Earlier entries are whatever the client sent, so never trusted.
pub fn client_ip(parts: &Parts, trust_proxy: bool) -> Option<IpAddr> {
    if trust_proxy {
        // Only the very last entry: if it doesn't parse, an earlier one (the client's own
        // words) must not take its place.
        let forwarded = parts
            .headers
            .get_all(HeaderName::from_static("x-forwarded-for"))
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .next_back()
            .and_then(|entry| entry.trim().parse::<IpAddr>().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

/// A session this edge resolved recently.
#[derive(Clone, Debug)]
struct Cached {
    user: String,
    expires: DateTime<Utc>,
    checked: Instant,
}

/// What the cache knows about a token.
#[derive(Debug, PartialEq, Eq)]
pub enum CacheLookup {
    /// Checked within the fresh period: the user, without asking the middle tier.
    Fresh(String),
    /// Ask the middle tier.
    Unknown,
}

/// Sessions this edge resolved, by token hash, for `fresh_for`; then kept (until
/// [`STALE_SESSION_LIMIT`]) only as the fallback when the middle tier can't answer.
///
/// At most [`MAX_CACHED_SESSIONS`] are kept. When full, the cache drops the sessions asked
/// for least first (S3-FIFO, in constant time), so the readers who keep clicking stay while
/// tokens seen once (a burst of junk cookies, a session used once) leave. An ended or
/// expired session is never served from here, whether or not it has left yet.
#[derive(Debug)]
pub struct SessionCache {
    fresh_for: Duration,
    entries: Cache<String, Cached>,
}

impl SessionCache {
    pub fn new(fresh_for: Duration) -> Self {
        Self {
            fresh_for,
            entries: Cache::new(MAX_CACHED_SESSIONS),
        }
    }

    pub fn lookup(&self, token_hash: &str, now: DateTime<Utc>) -> CacheLookup {
        match self.entries.get(token_hash) {
            Some(entry) if entry.expires > now && entry.checked.elapsed() < self.fresh_for => {
                CacheLookup::Fresh(entry.user)
            }
            _ => CacheLookup::Unknown,
        }
    }

    /// The user of a session verified before, when the middle tier can't be asked now.
    pub fn fallback(&self, token_hash: &str, now: DateTime<Utc>) -> Option<String> {
        self.entries
            .get(token_hash)
            .filter(|entry| entry.expires > now && entry.checked.elapsed() < STALE_SESSION_LIMIT)
            .map(|entry| entry.user)
    }

    /// Remembers a session the middle tier confirmed (or one just created).
    pub fn put(&self, token_hash: &str, user: &str, expires: DateTime<Utc>) {
        self.entries.insert(
            token_hash.to_owned(),
            Cached {
                user: user.to_owned(),
                expires,
                checked: Instant::now(),
            },
        );
    }

    /// The session ended (signed out, or the middle tier no longer knows it).
    pub fn forget(&self, token_hash: &str) {
        self.entries.remove(token_hash);
    }

    /// Every session of `user` ended ("sign out everywhere"). One pass over the cache: it is
    /// bounded, and this is rare.
    pub fn forget_user(&self, user: &str) {
        self.entries.retain(|_, cached| cached.user != user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = Token::generate().expect("random");
        let b = Token::generate().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), TOKEN_CHARS);
        assert_eq!(Token::parse(a.as_str()), Some(a.clone()));
        assert_eq!(format!("{a:?}"), "Token([redacted])");
    }

    #[test]
    fn the_middle_tier_gets_the_sha256_of_the_token() {
        let token = Token::parse(&"a".repeat(TOKEN_CHARS)).expect("well-formed");
        // printf 'a%.0s' $(seq 43) | sha256sum
        assert_eq!(
            token.hash(),
            "66d34fba71f8f450f7e45598853e53bfc23bbd129027cbb131a2f4ffd7878cd0"
        );
    }

    #[test]
    fn malformed_cookies_are_ignored() {
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
        ] {
            assert_eq!(Token::parse(bad), None, "{bad:?}");
        }
        let good = "b".repeat(TOKEN_CHARS);
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("theme=dark; rss_session=junk; rss_session={good}"))
                .expect("header"),
        );
        assert_eq!(token_from(&headers, COOKIE_NAME).map(|t| t.0), Some(good));
    }

    #[test]
    fn over_https_only_the_host_prefixed_cookie_counts() {
        let planted = "p".repeat(TOKEN_CHARS);
        let own = "o".repeat(TOKEN_CHARS);
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("rss_session={planted}; __Host-rss_session={own}"))
                .expect("header"),
        );
        let secure = CookiePolicy {
            secure: true,
            lifetime: Duration::from_secs(60),
        };
        assert_eq!(secure.token(&headers).map(|t| t.0), Some(own));
        let plain = CookiePolicy {
            secure: false,
            ..secure
        };
        assert_eq!(plain.token(&headers).map(|t| t.0), Some(planted));
    }

    #[test]
    fn the_cookie_is_http_only_lax_and_secure_when_asked() {
        let token = Token::generate().expect("random");
        let policy = CookiePolicy {
            secure: false,
            lifetime: Duration::from_secs(60),
        };
        let set = policy.set(&token);
        let set = set.to_str().expect("ascii");
        assert!(set.starts_with(&format!("rss_session={}; ", token.as_str())));
        for attribute in ["Path=/", "Max-Age=60", "HttpOnly", "SameSite=Lax"] {
            assert!(set.contains(attribute), "{set}");
        }
        assert!(!set.contains("Secure"));
        let secure = CookiePolicy {
            secure: true,
            ..policy
        };
        let set = secure.set(&token);
        let set = set.to_str().expect("ascii");
        assert!(set.starts_with("__Host-rss_session="), "{set}");
        assert!(set.ends_with("; Secure"), "{set}");
        assert!(!set.contains("Domain"), "{set}");
        assert!(
            secure
                .clear()
                .to_str()
                .expect("ascii")
                .starts_with("__Host-rss_session=; Path=/; Max-Age=0")
        );
        assert!(
            policy
                .clear()
                .to_str()
                .expect("ascii")
                .starts_with("rss_session=; Path=/; Max-Age=0")
        );
    }

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::builder();
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (mut parts, ()) = request.body(()).expect("request").into_parts();
        let peer: SocketAddr = "198.51.100.7:40000".parse().expect("address");
        parts.extensions.insert(ConnectInfo(peer));
        parts
    }

    #[test]
    fn forwarded_headers_count_only_behind_a_trusted_proxy() {
        let peer: IpAddr = "198.51.100.7".parse().expect("ip");
        let spoofed = parts(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(client_ip(&spoofed, false), Some(peer));
        assert!(!is_https(&spoofed, false));

        // The proxy appends the address it saw; what the client sent before it is ignored.
        let proxied = parts(&[
            ("x-forwarded-for", "10.9.9.9, 203.0.113.9"),
            ("x-forwarded-for", "192.0.2.44"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(client_ip(&proxied, true), "192.0.2.44".parse().ok());
        assert!(is_https(&proxied, true));
        // An unparseable last entry never lets an earlier, client-written one through.
        let odd = parts(&[("x-forwarded-for", "203.0.113.9, unknown")]);
        assert_eq!(client_ip(&odd, true), Some(peer));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cached_session_is_fresh_for_a_while_then_only_a_fallback() {
        let cache = SessionCache::new(Duration::from_secs(5));
        let now = Utc::now();
        let expires = now + chrono::Duration::days(30);
        cache.put("h", "ann", expires);
        assert_eq!(cache.lookup("h", now), CacheLookup::Fresh("ann".into()));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(cache.lookup("h", now), CacheLookup::Unknown);
        assert_eq!(cache.fallback("h", now).as_deref(), Some("ann"));
        tokio::time::advance(STALE_SESSION_LIMIT).await;
        assert_eq!(cache.fallback("h", now), None);

        cache.put("h", "ann", expires);
        cache.forget("h");
        assert_eq!(cache.lookup("h", now), CacheLookup::Unknown);
        assert_eq!(cache.fallback("h", now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_session_is_never_served_from_the_cache() {
        let cache = SessionCache::new(Duration::from_secs(5));
        let now = Utc::now();
        cache.put("h", "ann", now + chrono::Duration::seconds(1));
        let later = now + chrono::Duration::seconds(2);
        assert_eq!(cache.lookup("h", later), CacheLookup::Unknown);
        assert_eq!(cache.fallback("h", later), None);
    }

    #[tokio::test(start_paused = true)]
    async fn readers_who_keep_coming_back_outlast_a_flood_of_tokens_seen_once() {
        let cache = SessionCache::new(Duration::from_secs(5));
        let now = Utc::now();
        let expires = now + chrono::Duration::days(30);
        for n in 0..MAX_CACHED_SESSIONS {
            cache.put(&format!("old-{n}"), "someone", expires);
        }
        cache.put("reader", "ann", expires);
        for n in 0..MAX_CACHED_SESSIONS {
            if n % 100 == 0 {
                assert_eq!(
                    cache.lookup("reader", now),
                    CacheLookup::Fresh("ann".into()),
                    "after {n} other sessions"
                );
            }
            cache.put(&format!("once-{n}"), "eve", expires);
        }
        assert_eq!(cache.fallback("reader", now).as_deref(), Some("ann"));
        assert!(cache.entries.len() <= MAX_CACHED_SESSIONS);
    }
}
