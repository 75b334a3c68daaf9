//! Throttling, in process: GCRA budgets (governor) per client IP and per email address, and a
//! growing delay after repeated failed logins to one account.
//!
//! The per-account login delay is not a rate but a back-off that a success clears, so it is a
//! small table of its own; everything else is a governor keyed limiter. Every table is a
//! [`BoundedMap`]: keyed by a 16-byte digest of the normalised address (or the client's
//! address), never by a string a client sent, and capped at [`MAX_ENTRIES`] entries.

mod bounded;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::{Quota, RateLimiter};
use sha2::{Digest, Sha256};

use bounded::BoundedMap;
use bounded::Key;

use crate::config;
use crate::error::AppError;

/// The most entries one throttle table holds. Past it the least recently used entries are
/// forgotten (their budgets start afresh): memory stays bounded whatever the traffic.
pub const MAX_ENTRIES: usize = 65_536;

/// Which per-IP budget a request draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpBudget {
    /// `POST /customers/login`.
    Login,
    /// Presenting a one-time code: activate, do_reset, newemail_confirm.
    Codes,
    /// Asking for an email: password_reset, signup.
    Emails,
}

/// The throttles' time: the monotonic clock, plus however far [`ThrottleClock::advance`] has
/// moved it (only tests do, to see a wait run out without waiting).
#[derive(Clone, Debug, Default)]
pub struct ThrottleClock {
    ahead_nanos: Arc<AtomicU64>,
}

impl ThrottleClock {
    /// Moves this clock, and every throttle reading it, `by` into the future.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.ahead_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl Clock for ThrottleClock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        Instant::now() + Duration::from_nanos(self.ahead_nanos.load(Ordering::Relaxed))
    }
}

/// A governor limiter in a bounded table, on the throttles' clock.
type Keyed = RateLimiter<Key, BoundedMap<u64>, ThrottleClock, NoOpMiddleware<Instant>>;

#[derive(Clone, Copy, Debug, Default)]
struct Failures {
    count: u32,
    blocked_until: Option<Instant>,
}

/// Every throttle of the process.
pub struct Throttles {
    login_per_ip: Keyed,
    codes_per_ip: Keyed,
    emails_per_ip: Keyed,
    address_per_minute: Keyed,
    address_per_hour: Keyed,
    free_failures: u32,
    max_delay: Duration,
    login_failures: BoundedMap<Failures>,
    clock: ThrottleClock,
}

fn per_minute(n: NonZeroU32) -> Quota {
    Quota::per_minute(n)
}

fn per_hour(n: NonZeroU32) -> Quota {
    Quota::per_hour(n)
}

impl Throttles {
    /// The throttles of `limits`, on the real clock.
    pub fn new(limits: &config::RateLimits) -> Throttles {
        Throttles::with_clock(limits, ThrottleClock::default())
    }

    /// The throttles of `limits`, reading the time from `clock`.
    pub fn with_clock(limits: &config::RateLimits, clock: ThrottleClock) -> Throttles {
        let keyed = |quota| RateLimiter::new(quota, BoundedMap::new(MAX_ENTRIES), clock.clone());
        Throttles {
            login_per_ip: keyed(per_minute(limits.login_per_ip_per_minute)),
            codes_per_ip: keyed(per_minute(limits.codes_per_ip_per_minute)),
            emails_per_ip: keyed(per_hour(limits.emails_per_ip_per_hour)),
            address_per_minute: keyed(per_minute(limits.emails_per_address_per_minute)),
            address_per_hour: keyed(per_hour(limits.emails_per_address_per_hour)),
            free_failures: limits.login_free_failures,
            max_delay: Duration::from_secs(limits.login_max_delay_seconds),
            login_failures: BoundedMap::new(MAX_ENTRIES),
            clock,
        }
    }

    /// The clock every throttle reads.
    pub fn clock(&self) -> &ThrottleClock {
        &self.clock
    }

    /// Draws one request from the IP's budget, or says when to come back.
    pub fn check_ip(&self, budget: IpBudget, ip: IpAddr) -> Result<(), AppError> {
        let limiter = match budget {
            IpBudget::Login => &self.login_per_ip,
            IpBudget::Codes => &self.codes_per_ip,
            IpBudget::Emails => &self.emails_per_ip,
        };
        limiter
            .check_key(&client_key(ip))
            .map_err(|not_until| AppError::Throttled {
                retry_after: whole_seconds(not_until.wait_time_from(self.clock.now())),
            })
    }

    /// Whether another email may go to `address` now (by default at most 1 a minute and 5 an
    /// hour). Password reset and sign-up answer as usual either way; only the email is skipped.
    pub fn email_allowed(&self, address: &str) -> bool {
        let key = account_key(address);
        // Check the hour budget only when the minute allows, so a refused minute costs nothing.
        self.address_per_minute.check_key(&key).is_ok()
            && self.address_per_hour.check_key(&key).is_ok()
    }

    /// Reserves one password check for `account` (an email as typed, normalized): refused
    /// while the account is in back-off, otherwise counted as a failure at once, before any
    /// hashing, so that parallel guesses are counted one by one. Past the free failures each
    /// one doubles the wait, up to the cap. A success clears the count.
    pub fn reserve_login(&self, account: &str) -> Result<(), AppError> {
        self.reserve(&account_key(account))
    }

    fn reserve(&self, key: &Key) -> Result<(), AppError> {
        let now = self.clock.now();
        self.login_failures.with(key, |entry| {
            if let Some(until) = entry.blocked_until
                && until > now
            {
                return Err(AppError::Throttled {
                    retry_after: whole_seconds(until - now),
                });
            }
            entry.count = entry.count.saturating_add(1);
            if entry.count > self.free_failures {
                let doublings = (entry.count - self.free_failures - 1).min(20);
                let delay = Duration::from_secs(1u64 << doublings).min(self.max_delay);
                entry.blocked_until = Some(now + delay);
            }
            Ok(())
        })
    }

    /// Compares an admin token presented from `ip` (with `matches`) only while that client is
    /// not in back-off after wrong tokens; wrong tokens count like failed logins, per client.
    pub fn check_admin_token(
        &self,
        ip: IpAddr,
        matches: impl FnOnce() -> bool,
    ) -> Result<(), AppError> {
        let key = digest(b"admin token from ", &client_key(ip));
        self.reserve(&key)?;
        if matches() {
            self.login_failures.remove(&key);
            Ok(())
        } else {
            Err(AppError::Unauthenticated)
        }
    }

    /// A client at `ip` presented a valid staff token where [`Throttles::check_admin_token`]
    /// counted a wrong admin token: the failure is forgiven.
    pub fn admin_caller_known(&self, ip: IpAddr) {
        self.login_failures
            .remove(&digest(b"admin token from ", &client_key(ip)));
    }

    /// A successful login clears the account's failures.
    pub fn login_succeeded(&self, account: &str) {
        self.login_failures.remove(&account_key(account));
    }
}

/// The key of an email address as typed: a digest of its normalised form (trimmed, lower
/// case), so that an entry's size does not depend on what a client sends.
fn account_key(address: &str) -> Key {
    digest(b"account ", address.trim().to_lowercase().as_bytes())
}

/// The first 16 bytes of SHA-256 over `domain` and `value`.
fn digest(domain: &[u8], value: &[u8]) -> Key {
    let full = Sha256::new()
        .chain_update(domain)
        .chain_update(value)
        .finalize();
    let mut key = Key::default();
    key.copy_from_slice(&full[..16]);
    key
}

/// The key a client's budgets are kept under: its [`client_net`] as 16 bytes.
fn client_key(ip: IpAddr) -> Key {
    match client_net(ip) {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// What a client's budgets (and its turn at the hashing threads) are kept for: an IPv4
/// address, or the /64 network of an IPv6 one (a single customer line usually gets a whole
/// /64, so one address per guess is free). Any other per-client cap counts clients the same
/// way.
pub fn client_net(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
        v4 => v4,
    }
}

/// A wait in whole seconds for `Retry-After`, rounded up so that a client that obeys it is
/// never early.
fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttles() -> Throttles {
        Throttles::new(&config::RateLimits {
            login_free_failures: 3,
            login_max_delay_seconds: 8,
            ..config::RateLimits::default()
        })
    }

    #[test]
    fn free_failures_then_a_wait_that_a_success_clears() {
        let t = throttles();
        for _ in 0..4 {
            assert!(t.reserve_login("a@example.com").is_ok());
        }
        assert!(matches!(
            t.reserve_login("a@example.com"),
            Err(AppError::Throttled { retry_after: 1 })
        ));
        assert!(
            t.reserve_login("b@example.com").is_ok(),
            "other accounts are not affected"
        );
        t.login_succeeded("a@example.com");
        assert!(t.reserve_login("a@example.com").is_ok());
    }

    #[test]
    fn distinct_long_addresses_never_grow_the_failures_table_past_its_cap() {
        let t = throttles();
        let padding = "x".repeat(200);
        for i in 0..(2 * MAX_ENTRIES) {
            let _ = t.reserve_login(&format!("{padding}{i}@example.com"));
        }
        assert!(t.login_failures.len() <= MAX_ENTRIES);
        assert!(
            t.login_failures.len() >= MAX_ENTRIES / 4,
            "entries are kept"
        );
    }

    #[test]
    fn an_address_is_one_account_whatever_its_case_and_spaces() {
        assert_eq!(
            account_key(" Ada@Example.com "),
            account_key("ada@example.com")
        );
        assert_ne!(
            account_key("ada@example.com"),
            account_key("bob@example.com")
        );
    }

    #[test]
    fn ipv6_clients_share_a_budget_per_64() {
        let t = Throttles::new(&config::RateLimits {
            login_per_ip_per_minute: NonZeroU32::MIN,
            ..config::RateLimits::default()
        });
        let first: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(t.check_ip(IpBudget::Login, first).is_ok());
        assert!(t.check_ip(IpBudget::Login, same_64).is_err());
        assert!(t.check_ip(IpBudget::Login, other_64).is_ok());
    }

    #[test]
    fn a_login_delay_runs_out_on_the_throttles_clock() {
        let clock = ThrottleClock::default();
        let t = Throttles::with_clock(
            &config::RateLimits {
                login_free_failures: 0,
                ..config::RateLimits::default()
            },
            clock.clone(),
        );
        assert!(t.reserve_login("a@example.com").is_ok());
        assert!(t.reserve_login("a@example.com").is_err());
        clock.advance(Duration::from_secs(1));
        assert!(t.reserve_login("a@example.com").is_ok());
    }

    #[test]
    fn an_address_gets_its_next_email_a_minute_later() {
        let clock = ThrottleClock::default();
        let t = Throttles::with_clock(&config::RateLimits::default(), clock.clone());
        assert!(t.email_allowed("a@example.com"));
        clock.advance(Duration::from_secs(59));
        assert!(!t.email_allowed("a@example.com"));
        clock.advance(Duration::from_secs(1));
        assert!(t.email_allowed("a@example.com"));
    }

    #[test]
    fn an_address_gets_one_email_a_minute() {
        let t = throttles();
        assert!(t.email_allowed("a@example.com"));
        assert!(!t.email_allowed("a@example.com"));
        assert!(t.email_allowed("b@example.com"));
    }

    #[test]
    fn ip_budgets_answer_with_a_retry_time() {
        let t = Throttles::new(&config::RateLimits {
            login_per_ip_per_minute: NonZeroU32::new(2).unwrap(),
            ..config::RateLimits::default()
        });
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        assert!(t.check_ip(IpBudget::Login, ip).is_ok());
        assert!(t.check_ip(IpBudget::Login, ip).is_ok());
        assert!(
            matches!(t.check_ip(IpBudget::Login, ip), Err(AppError::Throttled { retry_after }) if retry_after >= 1)
        );
        assert!(
            t.check_ip(IpBudget::Codes, ip).is_ok(),
            "budgets are separate"
        );
    }
}
