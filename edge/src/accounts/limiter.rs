//! The sign-in limiter: failed sign-ins counted per name from an address and per address
//! (and sign-up attempts per address).

use std::net::IpAddr;
use std::time::Duration;

use quick_cache::sync::{Cache, EntryAction, EntryResult};
use tokio::time::Instant;

use middletier_api::limits::MAX_USER_LEN;

/// Client addresses and names whose failures are tracked at most.
const MAX_TRACKED: usize = 100_000;

/// Failed sign-ins in fixed windows, per account name from one client address and per client
/// address, in this edge's memory (each edge counts its own; behind a balancer an attacker
/// gets at most the limit times the number of edges).
///
/// The name's count is kept per address, so failures from an attacker's network never lock
/// the account's owner out of theirs: a name counted alone would let anyone lock any user out
/// for a whole window with a handful of wrong passwords. Guessing one name from many addresses
/// is bounded by each address's own limit and by the cost of each guess (an Argon2 hash).
///
/// A window opens with a key's first failure and lasts `window`; at `max` failures within it
/// the key is refused until it ends. A success clears the name's count from that address (not
/// the address's, so one known account can't be used to reset an address that is guessing at
/// others).
///
/// The counts are kept in a bounded cache, not a map of every key: a map that never forgets
/// would let a spray of made-up names grow the edge's memory without end, so past
/// [`MAX_TRACKED`] keys some count must be dropped, and dropping one is a small concession
/// either way. The cache's choice (S3-FIFO) is the one that concedes least: a key asked about
/// again (a name under attack is checked on every try, an address on every failure) stays,
/// and keys seen once leave first, so a spray of one-off names pushes out other one-off names,
/// in constant time. A window that has ended is not swept away: it counts as no failures when
/// read and restarts with the next failure, and one never read again is among the first to go.
#[derive(Debug)]
pub struct SignInLimiter {
    window: Duration,
    max_per_name: u32,
    max_per_ip: u32,
    failures: Cache<LimitKey, Failures>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LimitKey {
    /// A name, as tried from one address (its [`address_key`]).
    Name(String, Option<IpAddr>),
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
            failures: Cache::new(MAX_TRACKED),
        }
    }

    /// `Err(wait)` when the name from this address, or the address, has used up its failures
    /// for now.
    pub fn check(&self, name: &str, ip: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let blocked = |key: LimitKey, max: u32| {
            self.failures
                .get(&key)
                .filter(|f| now.duration_since(f.since) < self.window && f.count >= max)
                .map(|f| self.window.saturating_sub(now.duration_since(f.since)))
        };
        let by_name = blocked(name_key(name, ip), self.max_per_name);
        let by_address = ip.and_then(|ip| blocked(address_key(ip), self.max_per_ip));
        match by_name.into_iter().chain(by_address).max() {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub fn failed(&self, name: &str, ip: Option<IpAddr>) {
        let now = Instant::now();
        let keys = std::iter::once(name_key(name, ip)).chain(ip.map(address_key));
        for key in keys {
            self.count(&key, now);
        }
    }

    pub fn succeeded(&self, name: &str, ip: Option<IpAddr>) {
        self.failures.remove(&name_key(name, ip));
    }

    /// One more failure for `key`, in its current window or a new one.
    fn count(&self, key: &LimitKey, now: Instant) {
        // Read and written under the key's shard lock, so concurrent failures all count.
        let counted = self.failures.entry(key, None, |_, failures| {
            if now.duration_since(failures.since) >= self.window {
                *failures = Failures {
                    since: now,
                    count: 0,
                };
            }
            failures.count = failures.count.saturating_add(1);
            EntryAction::Retain(())
        });
        if let EntryResult::Vacant(first) = counted {
            // Refused only if a success removed the key meanwhile, which clears it anyway.
            let _ = first.insert(Failures {
                since: now,
                count: 1,
            });
        }
    }
}

/// The key of `name` from `ip`. A name is kept to its first [`MAX_USER_LEN`] characters:
/// longer ones can't be accounts, and a spray of megabyte-long names must not cost megabytes
/// per key (names that share their first characters then share a count, which costs the
/// sprayer only).
fn name_key(name: &str, ip: Option<IpAddr>) -> LimitKey {
    LimitKey::Name(name.chars().take(MAX_USER_LEN).collect(), ip.map(network))
}

fn address_key(ip: IpAddr) -> LimitKey {
    LimitKey::Address(network(ip))
}

/// An IPv4 address as it is, an IPv6 one as its /64 (what one client typically holds).
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
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
        let wait = limiter
            .check("ann", Some(ip))
            .expect_err("the name is limited from this address");
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
            limiter.check("ann", Some(ip)),
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
        assert!(limiter.check("ann", Some(ip)).is_err());
        limiter.succeeded("ann", Some(ip));
        assert!(limiter.check("ann", Some(ip)).is_ok());
        limiter.failed("bob", Some(ip));
        assert!(limiter.check("eve", Some(ip)).is_err());
    }

    #[test]
    fn failures_from_one_address_never_lock_the_name_out_elsewhere() {
        let limiter = SignInLimiter::new(Duration::from_secs(900), 5, 20);
        let attacker: IpAddr = "203.0.113.66".parse().expect("ip");
        let owner: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..5 {
            limiter.failed("ann", Some(attacker));
        }
        assert!(limiter.check("ann", Some(attacker)).is_err());
        assert!(
            limiter.check("ann", Some(owner)).is_ok(),
            "the owner signs in"
        );
        // The attacker's own network counts its guesses at any name.
        for n in 0..15 {
            limiter.failed(&format!("guess-{n}"), Some(attacker));
        }
        assert!(limiter.check("bob", Some(attacker)).is_err());
    }

    #[test]
    fn a_name_is_keyed_by_its_first_characters_only() {
        let long = "a".repeat(1024 * 1024);
        let LimitKey::Name(kept, _) = name_key(&long, None) else {
            panic!("a name key");
        };
        assert_eq!(kept.len(), MAX_USER_LEN);
        let limiter = SignInLimiter::new(Duration::from_secs(60), 1, 100);
        limiter.failed(&long, None);
        assert!(
            limiter.check(&format!("{long}b"), None).is_err(),
            "one count"
        );
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

    #[tokio::test(start_paused = true)]
    async fn a_spray_of_one_off_names_does_not_reset_a_name_under_attack() {
        let limiter = SignInLimiter::new(Duration::from_secs(900), 3, u32::MAX);
        for n in 0..MAX_TRACKED {
            limiter.failed(&format!("made-up-{n}"), None);
        }
        for _ in 0..3 {
            limiter.failed("ann", None);
        }
        for n in 0..MAX_TRACKED {
            // The attacker keeps trying ann's password (refused, but checked every time) while
            // failing with made-up names to push ann's count out.
            if n % 100 == 0 {
                assert!(
                    limiter.check("ann", None).is_err(),
                    "after {n} made-up names"
                );
            }
            limiter.failed(&format!("sprayed-{n}"), None);
        }
        assert!(limiter.check("ann", None).is_err());
        assert!(limiter.failures.len() <= MAX_TRACKED);
    }
}
