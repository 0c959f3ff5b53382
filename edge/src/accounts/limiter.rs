//! The sign-in limiter: failed sign-ins (and sign-ups) counted per name and per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Client addresses and names whose failures are tracked at most; beyond it, expired windows
/// are swept and then the oldest dropped.
const MAX_TRACKED: usize = 100_000;

/// Failed sign-ins in fixed windows, per account name and per client address, in this edge's
/// memory (each edge counts its own; behind a balancer an attacker gets at most the limit
/// times the number of edges).
///
/// A window opens with a key's first failure and lasts `window`; at `max` failures within it
/// the key is refused until it ends. A success clears the name's count (not the address's, so
/// one known account can't be used to reset an address that is guessing at others).
#[derive(Debug)]
pub struct SignInLimiter {
    window: Duration,
    max_per_name: u32,
    max_per_ip: u32,
    failures: Mutex<HashMap<LimitKey, Failures>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LimitKey {
    Name(String),
    /// An IPv4 address, or the /64 of an IPv6 one (what one client typically holds).
    Address(IpAddr),
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    since: Instant,
    count: u32,
}

impl SignInLimiter {
    pub fn new(window: Duration, max_per_name: u32, max_per_ip: u32) -> Self {
        Self {
            window,
            max_per_name,
            max_per_ip,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when the name or the address has used up its failures for now.
    pub fn check(&self, name: &str, ip: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let failures = self.lock();
        let blocked = |key: LimitKey, max: u32| {
            failures
                .get(&key)
                .filter(|f| now.duration_since(f.since) < self.window && f.count >= max)
                .map(|f| self.window.saturating_sub(now.duration_since(f.since)))
        };
        let by_name = blocked(LimitKey::Name(name.to_owned()), self.max_per_name);
        let by_address = ip.and_then(|ip| blocked(address_key(ip), self.max_per_ip));
        match by_name.into_iter().chain(by_address).max() {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub fn failed(&self, name: &str, ip: Option<IpAddr>) {
        let now = Instant::now();
        let mut failures = self.lock();
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, f| now.duration_since(f.since) < self.window);
            if failures.len() >= MAX_TRACKED {
                let oldest = failures
                    .iter()
                    .min_by_key(|(_, f)| f.since)
                    .map(|(key, _)| key.clone());
                if let Some(oldest) = oldest {
                    failures.remove(&oldest);
                }
            }
        }
        let keys = std::iter::once(LimitKey::Name(name.to_owned())).chain(ip.map(address_key));
        for key in keys {
            let entry = failures.entry(key).or_insert(Failures {
                since: now,
                count: 0,
            });
            if now.duration_since(entry.since) >= self.window {
                *entry = Failures {
                    since: now,
                    count: 0,
                };
            }
            entry.count += 1;
        }
    }

    pub fn succeeded(&self, name: &str) {
        self.lock().remove(&LimitKey::Name(name.to_owned()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LimitKey, Failures>> {
        // Updates are single inserts and removes; a poisoned lock holds a consistent map.
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn address_key(ip: IpAddr) -> LimitKey {
    match ip {
        IpAddr::V4(_) => LimitKey::Address(ip),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => LimitKey::Address(IpAddr::V4(v4)),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                LimitKey::Address(IpAddr::V6(segments.into()))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn failures_are_limited_per_name_and_per_address_in_fixed_windows() {
        let window = Duration::from_secs(900);
        let limiter = SignInLimiter::new(window, 3, 5);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..3 {
            assert!(limiter.check("ann", Some(ip)).is_ok());
            limiter.failed("ann", Some(ip));
        }
        let wait = limiter.check("ann", None).expect_err("the name is limited");
        assert_eq!(wait, window);
        // Another name from the same address still has room, until the address is spent.
        assert!(limiter.check("bob", Some(ip)).is_ok());
        limiter.failed("bob", Some(ip));
        limiter.failed("cid", Some(ip));
        assert!(limiter.check("dan", Some(ip)).is_err());
        assert!(
            limiter
                .check("dan", Some("192.0.2.2".parse().expect("ip")))
                .is_ok()
        );

        tokio::time::advance(Duration::from_secs(600)).await;
        assert_eq!(
            limiter.check("ann", None),
            Err(Duration::from_secs(300)),
            "the wait counts down"
        );
        tokio::time::advance(Duration::from_secs(300)).await;
        assert!(limiter.check("ann", Some(ip)).is_ok(), "a new window");
    }

    #[test]
    fn a_success_clears_the_names_failures_but_not_the_addresses() {
        let limiter = SignInLimiter::new(Duration::from_secs(60), 2, 3);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        limiter.failed("ann", Some(ip));
        limiter.failed("ann", Some(ip));
        assert!(limiter.check("ann", None).is_err());
        limiter.succeeded("ann");
        assert!(limiter.check("ann", None).is_ok());
        limiter.failed("bob", Some(ip));
        assert!(limiter.check("eve", Some(ip)).is_err());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(
            address_key(mapped),
            LimitKey::Address("192.0.2.1".parse().expect("ip"))
        );
    }
}
