use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use pbkdf2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use pbkdf2::phc::PasswordHash;
use pbkdf2::{Algorithm, Params, Pbkdf2};
use tokio::sync::oneshot;

use crate::domain::NewPassword;
use crate::error::AppError;

/// The outcome of checking a password against a stored hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordVerdict {
    pub matches: bool,
    /// The stored hash uses another iteration count than the configured one.
    pub needs_rehash: bool,
}

/// PBKDF2-HMAC-SHA256 hashing off the async executor, on one dedicated thread per core.
///
/// Hashes are PHC strings (`$pbkdf2-sha256$i=600000,l=32$salt$hash`) that carry their own
/// iteration count, so raising the configured count later leaves old hashes verifiable.
///
/// Each hashing thread takes the next queued hash as soon as it finishes one, so the cores
/// never wait for a wake-up between hashes. (Handing each hash to tokio's blocking pool under
/// a semaphore left both cores idle about 4% of the time under a steady login load: every hash
/// had to wake a runtime worker, which then woke a blocking thread, often on the busy core.)
#[derive(Clone)]
pub struct PasswordHasher {
    iterations: u32,
    queue: Arc<Queue>,
    queue_timeout: Duration,
    /// A hash of nothing: verifying against it costs what a real verification costs.
    dummy: Arc<str>,
    /// Stops the hashing threads once the last clone is gone.
    _workers: Arc<Workers>,
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
        super::random_bytes(&mut salt);
        super::random_bytes(&mut hash);
        let dummy = format!(
            "$pbkdf2-sha256$i={iterations},l=32${}${}",
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(hash)
        );
        debug_assert!(PasswordHash::new(&dummy).is_ok());
        let queue = Arc::new(Queue {
            jobs: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            waiting: AtomicUsize::new(0),
            max_waiting,
            closed: AtomicBool::new(false),
        });
        let workers = Workers(queue.clone());
        for n in 0..parallelism.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("hashing-{n}"))
                .spawn(move || queue.work())?;
        }
        Ok(PasswordHasher {
            iterations,
            queue,
            queue_timeout,
            dummy: dummy.into(),
            _workers: Arc::new(workers),
        })
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
        self.queue.waiting.load(Ordering::Relaxed)
    }

    async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<R, AppError> + Send + 'static,
    ) -> Result<R, AppError> {
        let (answer, mut result) = oneshot::channel();
        // Leaves the queue on drop as well: a request whose client hangs up while it waits is
        // dropped here, its hash is never computed, and it stops counting against the queue.
        let ticket = self.queue.push(Box::new(move || {
            let _ = answer.send(work());
        }))?;
        let result = match tokio::time::timeout(self.queue_timeout, &mut result).await {
            Ok(result) => result,
            Err(_waited_too_long) if ticket.abandon() => return Err(AppError::Overloaded),
            // It started just now: its answer is one hash away.
            Err(_waited_too_long) => result.await,
        };
        // No answer means the work panicked on its thread (which carries on with the next).
        result.map_err(AppError::internal)?
    }
}

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const ABANDONED: u8 = 2;

/// Hashes waiting for a hashing thread, first come first served.
struct Queue {
    jobs: Mutex<VecDeque<Job>>,
    ready: Condvar,
    /// Jobs queued and neither started nor abandoned.
    waiting: AtomicUsize,
    max_waiting: usize,
    closed: AtomicBool,
}

struct Job {
    state: Arc<AtomicU8>,
    work: Box<dyn FnOnce() + Send>,
}

impl Queue {
    fn push(self: &Arc<Self>, work: Box<dyn FnOnce() + Send>) -> Result<Ticket, AppError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(AppError::Overloaded);
        }
        let state = Arc::new(AtomicU8::new(QUEUED));
        let job = Job {
            state: state.clone(),
            work,
        };
        self.jobs.lock().expect("never poisoned").push_back(job);
        self.ready.notify_one();
        Ok(Ticket {
            queue: self.clone(),
            state,
        })
    }

    /// One hashing thread: runs queued jobs until the hasher is dropped.
    fn work(&self) {
        while let Some(job) = self.next() {
            if job
                .state
                .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                // A panic drops the job's answer (its caller gets an internal error) and must
                // not take a hashing thread with it.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(job.work));
            }
        }
    }

    fn next(&self) -> Option<Job> {
        let mut jobs = self.jobs.lock().expect("never poisoned");
        loop {
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            if let Some(job) = jobs.pop_front() {
                return Some(job);
            }
            jobs = self.ready.wait(jobs).expect("never poisoned");
        }
    }
}

/// A caller's place in the queue; dropping it before its job starts gives the place up.
struct Ticket {
    queue: Arc<Queue>,
    state: Arc<AtomicU8>,
}

impl Ticket {
    /// Takes the job out of the queue unless a thread has started it; true if it was taken.
    fn abandon(&self) -> bool {
        let taken = self
            .state
            .compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if taken {
            self.queue.waiting.fetch_sub(1, Ordering::AcqRel);
        }
        taken
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.abandon();
    }
}

/// Owned by every clone of the hasher: when the last one goes, the threads stop.
struct Workers(Arc<Queue>);

impl Drop for Workers {
    fn drop(&mut self) {
        // Under the lock, so that no thread is between checking `closed` and waiting.
        let _jobs = self.0.jobs.lock();
        self.0.closed.store(true, Ordering::Release);
        self.0.ready.notify_all();
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

    /// Occupies every hashing thread of `h` (it has `threads`) until the sender is dropped.
    async fn occupy(
        h: &PasswordHasher,
        threads: usize,
    ) -> Vec<(Ticket, std::sync::mpsc::Sender<()>)> {
        let mut held = Vec::new();
        for _ in 0..threads {
            let (release, blocked) = std::sync::mpsc::channel::<()>();
            let ticket = h
                .queue
                .push(Box::new(move || {
                    let _ = blocked.recv();
                }))
                .unwrap();
            held.push((ticket, release));
        }
        while h.queue_depth() != 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        held
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_leaves_the_hashing_queue() {
        let h = PasswordHasher::new(1000, 1, 1, Duration::from_secs(5)).unwrap();
        let busy = occupy(&h, 1).await;
        let gave_up =
            tokio::time::timeout(Duration::from_millis(20), h.verify("correct horse", None)).await;
        assert!(gave_up.is_err(), "the only thread is busy");
        assert_eq!(h.queue_depth(), 0);
        drop(busy);
        // The queue holds one waiter: had the one who gave up stayed counted, this would be 503.
        assert!(h.verify("correct horse", None).await.is_ok());
    }

    #[tokio::test]
    async fn a_full_queue_and_a_long_wait_are_overload() {
        let h = PasswordHasher::new(1000, 1, 1, Duration::from_millis(50)).unwrap();
        let busy = occupy(&h, 1).await;
        let waiting = tokio::spawn({
            let h = h.clone();
            async move { h.verify("correct horse", None).await }
        });
        while h.queue_depth() != 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The one place is taken: the next caller is turned away at once.
        assert!(matches!(
            h.verify("correct horse", None).await,
            Err(AppError::Overloaded)
        ));
        // The waiting one is turned away after the queue timeout, and gives its place up.
        assert!(matches!(waiting.await.unwrap(), Err(AppError::Overloaded)));
        assert_eq!(h.queue_depth(), 0);
        drop(busy);
        assert!(h.verify("correct horse", None).await.is_ok());
    }

    #[tokio::test]
    async fn a_panic_fails_one_caller_and_keeps_the_thread() {
        let h = PasswordHasher::new(1000, 1, 4, Duration::from_secs(5)).unwrap();
        let failed = h.run(|| -> Result<(), AppError> { panic!("a bug") }).await;
        assert!(matches!(failed, Err(AppError::Internal(_))), "{failed:?}");
        // The one hashing thread survived and still answers.
        assert!(h.verify("correct horse", None).await.is_ok());
    }

    #[tokio::test]
    async fn hashes_run_in_parallel_up_to_the_thread_count() {
        let h = PasswordHasher::new(1000, 2, 4, Duration::from_secs(5)).unwrap();
        let (started, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let both: Vec<_> = (0..2)
            .map(|_| {
                let (h, started, gate) = (h.clone(), started.clone(), gate.clone());
                tokio::spawn(async move {
                    h.run(move || {
                        started.send(()).unwrap();
                        let _ = gate.lock().unwrap().recv();
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        // Both start before either is released: two threads, not one.
        for _ in 0..2 {
            tokio::time::timeout(Duration::from_secs(5), seen.recv())
                .await
                .expect("both jobs started");
        }
        drop(release);
        for job in both {
            assert!(job.await.unwrap().is_ok());
        }
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
