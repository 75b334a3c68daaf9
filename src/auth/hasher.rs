use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use pbkdf2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use pbkdf2::phc::PasswordHash;
use pbkdf2::{Algorithm, Params, Pbkdf2};
use tokio::sync::Semaphore;

use crate::domain::NewPassword;
use crate::error::AppError;

/// The outcome of checking a password against a stored hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordVerdict {
    pub matches: bool,
    /// The stored hash uses another iteration count than the configured one.
    pub needs_rehash: bool,
}

/// PBKDF2-HMAC-SHA256 hashing off the async executor, at most one hash per core at a time.
///
/// Hashes are PHC strings (`$pbkdf2-sha256$i=600000,l=32$salt$hash`) that carry their own
/// iteration count, so raising the configured count later leaves old hashes verifiable.
#[derive(Clone)]
pub struct PasswordHasher {
    iterations: u32,
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    queue_timeout: Duration,
    /// A hash of nothing: verifying against it costs what a real verification costs.
    dummy: Arc<str>,
}

impl PasswordHasher {
    /// A hasher with `iterations` rounds, running at most `parallelism` hashes at once. A
    /// caller finding `max_waiting` others already queued, or unable to start within
    /// `queue_timeout`, is told the service is overloaded (503) instead of piling up.
    pub fn new(
        iterations: u32,
        parallelism: usize,
        max_waiting: usize,
        queue_timeout: Duration,
    ) -> PasswordHasher {
        let mut salt = [0u8; 16];
        let mut hash = [0u8; 32];
        super::random_bytes(&mut salt);
        super::random_bytes(&mut hash);
        let dummy = format!(
            "$pbkdf2-sha256$i={iterations},l=32${}${}",
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(hash)
        );
        debug_assert!(PasswordHash::new(&dummy).is_ok());
        PasswordHasher {
            iterations,
            permits: Arc::new(Semaphore::new(parallelism.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
            queue_timeout,
            dummy: dummy.into(),
        }
    }

    /// Hashes a new password into a PHC string with a fresh random salt.
    pub async fn hash(&self, password: &NewPassword) -> Result<String, AppError> {
        let password = password.expose().to_owned();
        let iterations = self.iterations;
        self.run(move || {
            let params = Params::new(iterations).map_err(AppError::internal)?;
            let mut salt = [0u8; 16];
            super::random_bytes(&mut salt);
            Pbkdf2::new(Algorithm::Pbkdf2Sha256, params)
                .hash_password_with_salt(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(AppError::internal)
        })
        .await
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no account,
    /// so that the time taken says nothing about whether the account exists.
    pub async fn verify(
        &self,
        password: &str,
        stored: Option<String>,
    ) -> Result<PasswordVerdict, AppError> {
        let password = password.to_owned();
        let real = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy.to_string());
        let iterations = self.iterations;
        self.run(move || {
            let hash = PasswordHash::new(&stored).map_err(AppError::internal)?;
            let rounds = Params::try_from(&hash).map(|p| p.rounds()).unwrap_or(0);
            let matches = Pbkdf2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok();
            Ok(PasswordVerdict {
                matches: real && matches,
                needs_rehash: real && rounds != iterations,
            })
        })
        .await
    }

    /// Hashes waiting for a free core right now.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<R, AppError> + Send + 'static,
    ) -> Result<R, AppError> {
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(AppError::Overloaded);
        }
        // Leaves the queue on drop as well: a request whose client hangs up while it waits is
        // dropped here, and must not keep counting against `max_waiting` for ever.
        let queued = Queued(&self.waiting);
        let permit =
            tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned()).await;
        drop(queued);
        let permit = match permit {
            Ok(Ok(permit)) => permit,
            Ok(Err(closed)) => return Err(AppError::internal(closed)),
            Err(_elapsed) => return Err(AppError::Overloaded),
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(AppError::internal)?
    }
}

/// One caller waiting for a hashing permit, counted in the queue while it lives.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PasswordPolicy;

    fn hasher(iterations: u32) -> PasswordHasher {
        PasswordHasher::new(iterations, 2, 16, Duration::from_secs(5))
    }

    fn password(p: &str) -> NewPassword {
        NewPassword::parse(p, PasswordPolicy { min_chars: 8 }, None).unwrap()
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_leaves_the_hashing_queue() {
        let h = PasswordHasher::new(1000, 1, 1, Duration::from_secs(5));
        let busy = h.permits.clone().acquire_owned().await.unwrap();
        let gave_up =
            tokio::time::timeout(Duration::from_millis(20), h.verify("correct horse", None)).await;
        assert!(gave_up.is_err(), "the only permit is taken");
        assert_eq!(h.queue_depth(), 0);
        drop(busy);
        // The queue holds one waiter: had the one who gave up stayed counted, this would be 503.
        assert!(h.verify("correct horse", None).await.is_ok());
    }

    #[tokio::test]
    async fn a_hash_verifies_only_its_password() {
        let h = hasher(1000);
        let stored = h.hash(&password("correct horse")).await.unwrap();
        assert!(stored.starts_with("$pbkdf2-sha256$i=1000,"));
        assert!(
            h.verify("correct horse", Some(stored.clone()))
                .await
                .unwrap()
                .matches
        );
        assert!(
            !h.verify("correct horsf", Some(stored))
                .await
                .unwrap()
                .matches
        );
    }

    #[tokio::test]
    async fn old_iteration_counts_still_verify_and_ask_for_a_rehash() {
        let stored = hasher(1000).hash(&password("correct horse")).await.unwrap();
        let verdict = hasher(2000)
            .verify("correct horse", Some(stored))
            .await
            .unwrap();
        assert_eq!(
            verdict,
            PasswordVerdict {
                matches: true,
                needs_rehash: true
            }
        );
    }

    #[tokio::test]
    async fn no_account_never_matches() {
        let verdict = hasher(1000).verify("anything", None).await.unwrap();
        assert_eq!(
            verdict,
            PasswordVerdict {
                matches: false,
                needs_rehash: false
            }
        );
    }
}
