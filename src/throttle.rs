//! Throttling, in process: GCRA budgets (governor) per client IP and per email address, and a
//! growing delay after repeated failed logins to one account.
//!
//! The per-account login delay is not a rate but a back-off that a success clears, so it is a
//! small table of its own; everything else is a governor keyed limiter.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config;
use crate::error::AppError;

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

/// A governor limiter keyed by `K`, on the throttles' clock.
type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, ThrottleClock, NoOpMiddleware<Instant>>;

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    blocked_until: Option<Instant>,
    last: Instant,
}

/// Every throttle of the process.
pub struct Throttles {
    login_per_ip: Keyed<IpAddr>,
    codes_per_ip: Keyed<IpAddr>,
    emails_per_ip: Keyed<IpAddr>,
    address_per_minute: Keyed<String>,
    address_per_hour: Keyed<String>,
    free_failures: u32,
    max_delay: Duration,
    login_failures: Mutex<HashMap<String, Failures>>,
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
        let keyed =
            |quota| RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone());
        Throttles {
            login_per_ip: keyed(per_minute(limits.login_per_ip_per_minute)),
            codes_per_ip: keyed(per_minute(limits.codes_per_ip_per_minute)),
            emails_per_ip: keyed(per_hour(limits.emails_per_ip_per_hour)),
            address_per_minute: RateLimiter::new(
                per_minute(limits.emails_per_address_per_minute),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            address_per_hour: RateLimiter::new(
                per_hour(limits.emails_per_address_per_hour),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            free_failures: limits.login_free_failures,
            max_delay: Duration::from_secs(limits.login_max_delay_seconds),
            login_failures: Mutex::new(HashMap::new()),
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
        let key = address.to_owned();
        // Check the hour budget only when the minute allows, so a refused minute costs nothing.
        self.address_per_minute.check_key(&key).is_ok()
            && self.address_per_hour.check_key(&key).is_ok()
    }

    /// Reserves one password check for `account` (an email as typed, normalized): refused
    /// while the account is in back-off, otherwise counted as a failure at once, before any
    /// hashing, so that parallel guesses are counted one by one. Past the free failures each
    /// one doubles the wait, up to the cap. A success clears the count.
    pub fn reserve_login(&self, account: &str) -> Result<(), AppError> {
        let now = self.clock.now();
        let mut failures = self.login_failures.lock().expect("not poisoned");
        if let Some(until) = failures.get(account).and_then(|f| f.blocked_until)
            && until > now
        {
            return Err(AppError::Throttled {
                retry_after: whole_seconds(until - now),
            });
        }
        if failures.len() > 100_000 {
            prune(&mut failures, now);
        }
        let entry = failures.entry(account.to_owned()).or_insert(Failures {
            count: 0,
            blocked_until: None,
            last: now,
        });
        entry.count += 1;
        entry.last = now;
        if entry.count > self.free_failures {
            let doublings = (entry.count - self.free_failures - 1).min(20);
            let delay = Duration::from_secs(1u64 << doublings).min(self.max_delay);
            entry.blocked_until = Some(now + delay);
        }
        Ok(())
    }

    /// Compares an admin token presented from `ip` (with `matches`) only while that client is
    /// not in back-off after wrong tokens; wrong tokens count like failed logins, per client.
    pub fn check_admin_token(
        &self,
        ip: IpAddr,
        matches: impl FnOnce() -> bool,
    ) -> Result<(), AppError> {
        let key = format!("admin token from {}", client_key(ip));
        self.reserve_login(&key)?;
        if matches() {
            self.login_succeeded(&key);
            Ok(())
        } else {
            Err(AppError::Unauthenticated)
        }
    }

    /// A successful login clears the account's failures.
    pub fn login_succeeded(&self, account: &str) {
        self.login_failures
            .lock()
            .expect("not poisoned")
            .remove(account);
    }

    /// Forgets state that no longer limits anyone (called periodically).
    pub fn sweep(&self) {
        for limiter in [&self.login_per_ip, &self.codes_per_ip, &self.emails_per_ip] {
            limiter.retain_recent();
        }
        self.address_per_minute.retain_recent();
        self.address_per_hour.retain_recent();
        prune(
            &mut self.login_failures.lock().expect("not poisoned"),
            self.clock.now(),
        );
    }
}

/// The key a client's budgets are kept under: an IPv4 address, or the /64 network of an IPv6
/// one (a single customer line usually gets a whole /64, so one address per guess is free).
fn client_key(ip: IpAddr) -> IpAddr {
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

/// Drops failure records that are neither blocking nor recent (a day old).
fn prune(failures: &mut HashMap<String, Failures>, now: Instant) {
    failures.retain(|_, f| {
        f.blocked_until.is_some_and(|until| until > now)
            || now.duration_since(f.last) < Duration::from_secs(86_400)
    });
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
