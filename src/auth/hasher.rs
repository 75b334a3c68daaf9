use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use pbkdf2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use pbkdf2::phc::PasswordHash;
use pbkdf2::{Algorithm, Params, Pbkdf2};

use crate::domain::NewPassword;
use crate::error::AppError;
use crate::lanes::{Lane, Refused};

/// The outcome of checking a password against a stored hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordVerdict {
    pub matches: bool,
    /// The stored hash uses another iteration count than the configured one.
    pub needs_rehash: bool,
}

/// PBKDF2-HMAC-SHA256 hashing off the async executor, at most one hash per hashing thread
/// (one per core) at a time.
///
/// Hashes are PHC strings (`$pbkdf2-sha256$i=600000,l=32$salt$hash`) that carry their own
/// iteration count, so raising the configured count later leaves old hashes verifiable.
///
/// A hashing thread takes the next queued hash as soon as it finishes one, so under load the
/// cores never wait for a wake-up between hashes (see [`crate::lanes`]).
#[derive(Clone)]
pub struct PasswordHasher {
    iterations: u32,
    lane: Lane,
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
    ) -> std::io::Result<PasswordHasher> {
        let mut salt = [0u8; 16];
        let mut hash = [0u8; 32];
        crate::random::random_bytes(&mut salt);
        crate::random::random_bytes(&mut hash);
        let dummy = format!(
            "$pbkdf2-sha256$i={iterations},l=32${}${}",
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(hash)
        );
        debug_assert!(PasswordHash::new(&dummy).is_ok());
        let lane = Lane::start("hashing", parallelism, max_waiting)?;
        Ok(PasswordHasher {
            iterations,
            lane,
            queue_timeout,
            dummy: dummy.into(),
        })
    }

    /// Hashes a new password into a PHC string with a fresh random salt.
    pub async fn hash(&self, password: &NewPassword) -> Result<String, AppError> {
        let password = password.expose().to_owned();
        let iterations = self.iterations;
        self.run(move || {
            let params = Params::new(iterations).map_err(AppError::internal)?;
            let mut salt = [0u8; 16];
            crate::random::random_bytes(&mut salt);
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
        self.lane.waiting()
    }

    async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<R, AppError> + Send + 'static,
    ) -> Result<R, AppError> {
        match self.lane.run(self.queue_timeout, work).await {
            Ok(result) => result,
            Err(Refused::Full | Refused::TimedOut) => Err(AppError::Overloaded),
            Err(failed @ Refused::Failed) => Err(AppError::internal(failed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PasswordPolicy;

    fn hasher(iterations: u32) -> PasswordHasher {
        PasswordHasher::new(iterations, 2, 16, Duration::from_secs(5)).unwrap()
    }

    fn password(p: &str) -> NewPassword {
        NewPassword::parse(p, PasswordPolicy { min_chars: 8 }, None).unwrap()
    }

    #[tokio::test]
    async fn a_busy_hasher_answers_overloaded() {
        let h = PasswordHasher::new(1000, 1, 1, Duration::from_millis(50)).unwrap();
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (started, busy_now) = tokio::sync::oneshot::channel();
        let busy = tokio::spawn({
            let lane = h.lane.clone();
            let wait = Duration::from_secs(5);
            async move {
                lane.run(wait, move || {
                    let _ = started.send(());
                    blocked.recv()
                })
                .await
            }
        });
        busy_now.await.unwrap();
        // One queued, past the queue timeout; then the queue is free again.
        assert!(matches!(
            h.verify("correct horse", None).await,
            Err(AppError::Overloaded)
        ));
        assert_eq!(h.queue_depth(), 0);
        drop(release);
        let _ = busy.await;
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
