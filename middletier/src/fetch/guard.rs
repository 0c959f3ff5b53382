//! The SSRF guard: feed URLs come from users, so they may not reach this machine or its
//! private networks unless the settings allow it. IP literals are checked before connecting
//! ([`blocked_literal`]); host names after DNS resolution, at connect time, by
//! [`GuardedResolver`], so DNS rebinding cannot sneak past. [`AllowedHost`] is one entry of
//! the `allowed_hosts` exceptions.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The host of `url` when it is an IP literal that is not public. The `url` crate has already
/// normalised odd IPv4 spellings (`127.1`, `0x7f000001`, `2130706433`, `0177.0.0.1`).
pub(super) fn blocked_literal(url: &url::Url) -> Option<String> {
    let ip = match url.host()? {
        url::Host::Ipv4(ip) => IpAddr::V4(ip),
        url::Host::Ipv6(ip) => IpAddr::V6(ip),
        url::Host::Domain(_) => return None,
    };
    (!is_public(ip)).then(|| ip.to_string())
}

/// Why the resolver refused a name; the fetcher finds it among the causes of a connect error
/// and reports it as `FetchError::Blocked`.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to private or local addresses")]
pub(super) struct BlockedHost(pub(super) String);

/// Resolves with the system resolver, then drops every address that is not public.
#[derive(Debug)]
pub(super) struct GuardedResolver;

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

/// One entry of `allowed_hosts`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct AllowedHost {
    /// Lower-case name, or an IP address as the `url` crate prints it (no brackets).
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    pub(super) fn parse_list(list: &str) -> Vec<Self> {
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

    pub(super) fn matches(&self, url: &url::Url) -> bool {
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
}
