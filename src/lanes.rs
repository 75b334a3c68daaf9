//! Lanes: dedicated threads that run blocking work (password hashing, the store's reads and
//! writes) handed over from the async side. Nothing blocking ever runs on the executor.
//!
//! tokio's `spawn_blocking` wakes an idle blocking thread for every call and parks it again
//! afterwards; on the token check of `GET /customers/self` those wake-ups and context switches
//! were the largest share of the server's CPU, and with hashing they left the cores idle part
//! of the time under a steady login load (the measurements are in docs/performance.md). A lane has a fixed
//! number of threads: a thread that finishes a job takes the next one from the queue without
//! sleeping, and a sleeping thread is woken only when a job arrives while it is idle.
//!
//! A job whose caller has gone (the client hung up, the request was dropped) before it
//! started is never run. A job that panics fails its caller; its thread carries on.
//!
//! A lane may also hand its thread every job queued at once, up to a limit
//! ([`Lane::start_batched`]): the store's writer runs them in one transaction and pays for one
//! commit (one fsync) where it would pay for each.
//!
//! Each job is queued for a [`Share`]: the jobs of one share run in the order queued, and the
//! shares with jobs waiting take turns, one job each; a share that had none waiting goes
//! before those that keep a backlog (a client with one login beats a flood to the next free
//! thread). A lane may cap what one share holds in
//! its queue ([`Lane::start_fair`]): a job past its share's cap waits for room (within its
//! caller's wait) instead of being refused, so that a client flooding the lane is slowed
//! down rather than answered at once and straight back. The hashing lane serves each client
//! network so, and one client's backlog cannot keep another's login waiting behind it. Every
//! other lane queues everything for [`Share::Common`], first come first served.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

/// Why a lane did not run a job.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// `max_waiting` jobs were already queued.
    #[error("too many jobs are waiting")]
    Full,
    /// No thread became free within the caller's wait.
    #[error("no thread became free in time")]
    TimedOut,
    /// The job panicked.
    #[error("the job failed")]
    Failed,
}

/// On whose behalf a job is queued: jobs of one share keep their order, and shares take turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Share {
    /// Work of no one client (the server's own, or every job of a first-come-first-served lane).
    Common,
    /// One client, by a key of its network.
    Client(u128),
}

/// The job of a plain lane: a closure that answers its caller itself.
pub type Work = Box<dyn FnOnce() + Send>;

/// A fixed set of named threads fed by one queue of jobs of type `W`. Cheap to clone; the
/// threads stop when the last clone is dropped.
pub struct Lane<W = Work> {
    shared: Arc<Shared<W>>,
    _owner: Arc<Owner<W>>,
}

impl<W> Clone for Lane<W> {
    fn clone(&self) -> Self {
        Lane {
            shared: self.shared.clone(),
            _owner: self._owner.clone(),
        }
    }
}

impl Lane {
    /// Starts `threads` threads named `name-N`, queueing at most `max_waiting` jobs.
    pub fn start(name: &str, threads: usize, max_waiting: usize) -> std::io::Result<Lane> {
        Lane::start_fair(name, threads, max_waiting, max_waiting)
    }

    /// Like [`Lane::start`], with at most `per_share` of the `max_waiting` jobs queued for any
    /// one share.
    pub fn start_fair(
        name: &str,
        threads: usize,
        max_waiting: usize,
        per_share: usize,
    ) -> std::io::Result<Lane> {
        let run_each = |jobs: &mut Vec<Work>| {
            for work in jobs.drain(..) {
                // A panic drops the job's answer, so its caller learns it failed.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(work));
            }
        };
        Lane::start_with(name, threads, (max_waiting, per_share), 1, run_each)
    }

    /// Runs `work` on one of the lane's threads and returns its result. Refused at once when
    /// the queue is full, and after `wait` when no thread has taken the job by then.
    pub async fn run<R: Send + 'static>(
        &self,
        wait: Duration,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Refused> {
        self.run_as(Share::Common, wait, work).await
    }

    /// Runs `work` as [`Lane::run`] does, queued for `share`; while the share holds its cap
    /// of queued jobs, the job waits for room, and is refused after `wait` if none came.
    pub async fn run_as<R: Send + 'static>(
        &self,
        share: Share,
        wait: Duration,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Refused> {
        self.submit_as(share, wait, move |answer| {
            Box::new(move || {
                let _ = answer.send(work());
            })
        })
        .await
    }
}

impl<W: Send + 'static> Lane<W> {
    /// Starts `threads` threads named `name-N`, queueing at most `max_waiting` jobs. A thread
    /// takes every job waiting, up to `batch`, and hands them to `serve` in the order queued;
    /// `serve` answers each (a job dropped unanswered fails its caller).
    pub fn start_batched(
        name: &str,
        threads: usize,
        max_waiting: usize,
        batch: usize,
        serve: impl Fn(&mut Vec<W>) + Send + Sync + 'static,
    ) -> std::io::Result<Lane<W>> {
        Lane::start_with(name, threads, (max_waiting, max_waiting), batch, serve)
    }

    /// Starts a lane queueing at most `max_waiting` jobs, `per_share` of them for any share.
    fn start_with(
        name: &str,
        threads: usize,
        (max_waiting, per_share): (usize, usize),
        batch: usize,
        serve: impl Fn(&mut Vec<W>) + Send + Sync + 'static,
    ) -> std::io::Result<Lane<W>> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                lines: HashMap::new(),
                fresh: VecDeque::new(),
                turns: VecDeque::new(),
                idle: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            waiting: AtomicUsize::new(0),
            max_waiting,
            per_share: per_share.max(1),
            room: Notify::new(),
        });
        // Made first: should a spawn fail, dropping it stops the threads already started.
        let owner = Owner(shared.clone());
        let serve = Arc::new(serve);
        for n in 0..threads.max(1) {
            let (shared, serve) = (shared.clone(), serve.clone());
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || shared.serve(batch.max(1), &*serve))?;
        }
        Ok(Lane {
            shared,
            _owner: Arc::new(owner),
        })
    }

    /// Queues the job `job` makes of the sender its answer goes to, and returns that answer.
    /// Refused at once when the queue is full, and after `wait` when no thread has taken the
    /// job by then.
    pub async fn submit<R>(
        &self,
        wait: Duration,
        job: impl FnOnce(oneshot::Sender<R>) -> W,
    ) -> Result<R, Refused> {
        self.submit_as(Share::Common, wait, job).await
    }

    /// Queues the job as [`Lane::submit`] does, for `share`.
    async fn submit_as<R>(
        &self,
        share: Share,
        wait: Duration,
        job: impl FnOnce(oneshot::Sender<R>) -> W,
    ) -> Result<R, Refused> {
        let deadline = tokio::time::Instant::now() + wait;
        let (answer, mut result) = oneshot::channel();
        let mut work = job(answer);
        // Dropping the ticket (this future dropped while the job waits) withdraws the job.
        let ticket = loop {
            // Made before the attempt, so that room made in between is not missed.
            let room = self.shared.room.notified();
            match self.shared.push(share, work)? {
                Admission::Queued(ticket) => break ticket,
                Admission::ShareFull(back) => work = back,
            }
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return Err(Refused::TimedOut);
            }
        };
        let result = match tokio::time::timeout_at(deadline, &mut result).await {
            Ok(result) => result,
            Err(_elapsed) if ticket.withdraw() => return Err(Refused::TimedOut),
            // A thread took it just now: its result is one job away.
            Err(_elapsed) => result.await,
        };
        // The answer is dropped unsent only when the job panicked.
        result.map_err(|_| Refused::Failed)
    }

    /// Jobs queued and not yet started.
    pub fn waiting(&self) -> usize {
        self.shared.waiting.load(Ordering::Relaxed)
    }
}

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const WITHDRAWN: u8 = 2;

struct Shared<W> {
    queue: Mutex<Queue<W>>,
    ready: Condvar,
    /// Jobs queued and neither started nor withdrawn.
    waiting: AtomicUsize,
    max_waiting: usize,
    per_share: usize,
    /// Told whenever a fair lane starts jobs: a share may have room again.
    room: Notify,
}

/// What became of a job offered to the queue.
enum Admission<W> {
    Queued(Ticket<W>),
    /// Its share holds its cap of jobs: the work comes back, to be offered again.
    ShareFull(W),
}

struct Queue<W> {
    /// Each share's jobs, in the order queued. Withdrawn jobs stay until a thread skips them
    /// (or their share is at its cap). A share has a line exactly when it has a turn, in
    /// `fresh` or in `turns`.
    lines: HashMap<Share, VecDeque<Job<W>>>,
    /// The shares whose line was empty until now, served first, in the order they came.
    fresh: VecDeque<Share>,
    /// The shares with a line that have been served already, the next to be served first.
    turns: VecDeque<Share>,
    /// Threads asleep, waiting for a job.
    idle: usize,
    closed: bool,
}

struct Job<W> {
    state: Arc<AtomicU8>,
    work: W,
}

impl<W> Shared<W> {
    fn lock(&self) -> MutexGuard<'_, Queue<W>> {
        // Nothing panics while holding the lock; recovering keeps the lane alive regardless.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(self: &Arc<Self>, share: Share, work: W) -> Result<Admission<W>, Refused> {
        let state = Arc::new(AtomicU8::new(QUEUED));
        let wake = {
            let mut queue = self.lock();
            if self.waiting.load(Ordering::Acquire) >= self.max_waiting {
                return Err(Refused::Full);
            }
            let Queue { lines, fresh, .. } = &mut *queue;
            let line = lines.entry(share).or_insert_with(|| {
                fresh.push_back(share);
                VecDeque::new()
            });
            if line.len() >= self.per_share {
                line.retain(|job| job.state.load(Ordering::Acquire) == QUEUED);
                if line.len() >= self.per_share {
                    return Ok(Admission::ShareFull(work));
                }
            }
            line.push_back(Job {
                state: state.clone(),
                work,
            });
            self.waiting.fetch_add(1, Ordering::AcqRel);
            queue.idle > 0
        };
        // Busy threads find the job when they finish theirs: no wake-up needed.
        if wake {
            self.ready.notify_one();
        }
        Ok(Admission::Queued(Ticket {
            shared: self.clone(),
            state,
        }))
    }

    /// One thread of the lane: runs jobs, up to `batch` at a time, until the lane is dropped.
    fn serve(&self, batch: usize, serve: &dyn Fn(&mut Vec<W>)) {
        let mut taken = Vec::with_capacity(batch);
        let mut started = Vec::with_capacity(batch);
        while self.next(batch, &mut taken) {
            for job in taken.drain(..) {
                let start = job
                    .state
                    .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
                if start {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    started.push(job.work);
                }
            }
            if self.per_share < self.max_waiting {
                self.room.notify_waiters();
            }
            if !started.is_empty() {
                // `serve` answers each job; should it panic, the jobs it left are dropped and
                // their callers learn they failed.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| serve(&mut started)));
                started.clear();
            }
        }
    }

    /// Moves up to `batch` queued jobs into `taken`, one from each share in turn (the fresh
    /// ones first), waiting for one; false once the lane is dropped.
    fn next(&self, batch: usize, taken: &mut Vec<Job<W>>) -> bool {
        let mut queue = self.lock();
        loop {
            if queue.closed {
                return false;
            }
            let Queue {
                lines,
                fresh,
                turns,
                ..
            } = &mut *queue;
            while taken.len() < batch
                && let Some(share) = fresh.pop_front().or_else(|| turns.pop_front())
            {
                let line = lines
                    .get_mut(&share)
                    .expect("a share with a turn has a line");
                while let Some(job) = line.pop_front() {
                    if job.state.load(Ordering::Acquire) == QUEUED {
                        taken.push(job);
                        break;
                    }
                }
                if line.is_empty() {
                    lines.remove(&share);
                } else {
                    turns.push_back(share);
                }
            }
            if !taken.is_empty() {
                return true;
            }
            queue.idle += 1;
            queue = self.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
            queue.idle -= 1;
        }
    }
}

/// A caller's place in the queue.
struct Ticket<W> {
    shared: Arc<Shared<W>>,
    state: Arc<AtomicU8>,
}

impl<W> Ticket<W> {
    /// Takes the job back unless a thread has started it; true if it was taken back.
    fn withdraw(&self) -> bool {
        let withdrawn = self
            .state
            .compare_exchange(QUEUED, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if withdrawn {
            self.shared.waiting.fetch_sub(1, Ordering::AcqRel);
        }
        withdrawn
    }
}

impl<W> Drop for Ticket<W> {
    fn drop(&mut self) {
        self.withdraw();
    }
}

/// Held by every clone of a lane: when the last one goes, its threads stop.
struct Owner<W>(Arc<Shared<W>>);

impl<W> Drop for Owner<W> {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    const LONG: Duration = Duration::from_secs(10);

    /// Occupies every thread of `lane` until the returned senders are dropped.
    async fn occupy(lane: &Lane, threads: usize) -> Vec<(Ticket<Work>, mpsc::Sender<()>)> {
        let mut held = Vec::new();
        for _ in 0..threads {
            let (release, blocked) = mpsc::channel::<()>();
            let Ok(Admission::Queued(ticket)) = lane.shared.push(
                Share::Common,
                Box::new(move || {
                    let _ = blocked.recv();
                }),
            ) else {
                panic!("the lane has room");
            };
            held.push((ticket, release));
        }
        while lane.waiting() != 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        held
    }

    #[tokio::test]
    async fn a_job_runs_on_a_named_lane_thread() {
        let lane = Lane::start("test-lane", 1, 4).unwrap();
        let name = lane
            .run(LONG, || std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("test-lane-0"));
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_leaves_the_queue_and_its_job_never_runs() {
        let lane = Lane::start("test", 1, 1).unwrap();
        let busy = occupy(&lane, 1).await;
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = ran.clone();
        let gave_up = tokio::time::timeout(
            Duration::from_millis(20),
            lane.run(LONG, move || counted.fetch_add(1, Ordering::SeqCst)),
        )
        .await;
        assert!(gave_up.is_err(), "the only thread is busy");
        assert_eq!(lane.waiting(), 0);
        drop(busy);
        // The queue holds one job: had the one given up stayed counted, this would be Full.
        assert_eq!(lane.run(LONG, || 7).await, Ok(7));
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "a withdrawn job must not run"
        );
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once_and_a_long_wait_after_it() {
        let lane = Lane::start("test", 1, 1).unwrap();
        let busy = occupy(&lane, 1).await;
        let waiting = tokio::spawn({
            let lane = lane.clone();
            async move { lane.run(Duration::from_millis(50), || ()).await }
        });
        while lane.waiting() != 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(lane.run(LONG, || ()).await, Err(Refused::Full));
        assert_eq!(waiting.await.unwrap(), Err(Refused::TimedOut));
        assert_eq!(lane.waiting(), 0);
        drop(busy);
        assert_eq!(lane.run(LONG, || 1).await, Ok(1));
    }

    #[tokio::test]
    async fn a_panic_fails_its_caller_and_keeps_the_thread() {
        let lane = Lane::start("test", 1, 4).unwrap();
        let failed = lane.run(LONG, || -> () { panic!("a bug") }).await;
        assert_eq!(failed, Err(Refused::Failed));
        assert_eq!(lane.run(LONG, || 2).await, Ok(2));
    }

    #[tokio::test]
    async fn jobs_run_in_parallel_up_to_the_thread_count() {
        let lane = Lane::start("test", 2, 4).unwrap();
        let (started, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let both: Vec<_> = (0..2)
            .map(|_| {
                let (lane, started, gate) = (lane.clone(), started.clone(), gate.clone());
                tokio::spawn(async move {
                    lane.run(LONG, move || {
                        started.send(()).unwrap();
                        let _ = gate.lock().unwrap().recv();
                    })
                    .await
                })
            })
            .collect();
        // Both start before either is released: two threads, not one.
        for _ in 0..2 {
            tokio::time::timeout(LONG, seen.recv())
                .await
                .expect("both jobs started");
        }
        drop(release);
        for job in both {
            assert_eq!(job.await.unwrap(), Ok(()));
        }
    }

    #[tokio::test]
    async fn a_batched_lane_hands_over_the_jobs_queued_together_in_order_up_to_its_limit() {
        let (release, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let lane = Lane::start_batched(
            "test",
            1,
            16,
            3,
            move |jobs: &mut Vec<(u32, oneshot::Sender<u32>)>| {
                seen.lock()
                    .unwrap()
                    .push(jobs.iter().map(|(n, _)| *n).collect::<Vec<_>>());
                for (n, answer) in jobs.drain(..) {
                    // The first job holds the thread until the rest are queued.
                    if n == 0 {
                        let _ = gate.lock().unwrap().recv();
                    }
                    let _ = answer.send(n * 10);
                }
            },
        )
        .unwrap();
        let submit = |n: u32| {
            let lane = lane.clone();
            tokio::spawn(async move { lane.submit(LONG, |answer| (n, answer)).await })
        };
        let first = submit(0);
        while lane.waiting() != 0 || batches.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut rest = Vec::new();
        for n in 1..=5 {
            rest.push(submit(n));
            while lane.waiting() != n as usize {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        drop(release);
        assert_eq!(first.await.unwrap(), Ok(0));
        for (n, job) in (1..=5).zip(rest) {
            assert_eq!(job.await.unwrap(), Ok(n * 10));
        }
        assert_eq!(
            *batches.lock().unwrap(),
            [vec![0], vec![1, 2, 3], vec![4, 5]]
        );
    }

    #[tokio::test]
    async fn shares_take_turns_and_one_backlog_holds_no_other_share_back() {
        let lane = Lane::start_fair("test", 1, 16, 4).unwrap();
        let busy = occupy(&lane, 1).await;
        let served = Arc::new(Mutex::new(Vec::new()));
        let queue = |share: Share, name: &'static str| {
            let (lane, served) = (lane.clone(), served.clone());
            tokio::spawn(async move {
                lane.run_as(share, LONG, move || served.lock().unwrap().push(name))
                    .await
            })
        };
        let (flood, other) = (Share::Client(1), Share::Client(2));
        let mut jobs = Vec::new();
        for n in 1..=4 {
            jobs.push(queue(flood, "flood"));
            while lane.waiting() != n {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        // The flooding share is at its cap, the queue itself is not: one more waits for room
        // (given up on here), and one more again waits until the first of its share starts.
        let short = Duration::from_millis(20);
        assert_eq!(
            lane.run_as(flood, short, || ()).await,
            Err(Refused::TimedOut)
        );
        jobs.push(queue(flood, "flood"));
        jobs.push(queue(other, "other"));
        jobs.push(queue(Share::Common, "server"));
        while lane.waiting() != 6 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(busy);
        for job in jobs {
            assert_eq!(job.await.unwrap(), Ok(()));
        }
        assert_eq!(
            *served.lock().unwrap(),
            [
                "flood", "other", "server", "flood", "flood", "flood", "flood"
            ]
        );
    }

    #[tokio::test]
    async fn a_share_with_nothing_waiting_goes_before_a_backlog() {
        let lane = Lane::start_fair("test", 1, 16, 8).unwrap();
        let busy = occupy(&lane, 1).await;
        let served = Arc::new(Mutex::new(Vec::new()));
        let (open, gate) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let queue = |share: u128, name: &'static str| {
            let (lane, served, gate) = (lane.clone(), served.clone(), gate.clone());
            tokio::spawn(async move {
                lane.run_as(Share::Client(share), LONG, move || {
                    served.lock().unwrap().push(name);
                    // The first job holds the thread until share 2 has queued.
                    if name == "1a" {
                        let _ = gate.lock().unwrap().recv();
                    }
                })
                .await
            })
        };
        let mut jobs = Vec::new();
        for (n, name) in ["1a", "1b", "1c"].into_iter().enumerate() {
            jobs.push(queue(1, name));
            while lane.waiting() != n + 1 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        drop(busy);
        while lane.waiting() != 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Share 1 has been served and keeps a backlog; share 2 has had nothing waiting.
        jobs.push(queue(2, "2"));
        while lane.waiting() != 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(open);
        for job in jobs {
            assert_eq!(job.await.unwrap(), Ok(()));
        }
        assert_eq!(*served.lock().unwrap(), ["1a", "2", "1b", "1c"]);
    }

    #[tokio::test]
    async fn dropping_the_lane_stops_its_threads() {
        let lane = Lane::start("test", 2, 4).unwrap();
        let (alive, gone) = mpsc::channel::<()>();
        // Each thread holds a sender for as long as it runs: all dropped once both have ended.
        for _ in 0..2 {
            let alive = alive.clone();
            lane.run(LONG, move || thread_local_keep(alive))
                .await
                .unwrap();
        }
        drop(alive);
        drop(lane);
        assert_eq!(
            gone.recv_timeout(LONG),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
    }

    /// Keeps `value` until the current thread exits.
    fn thread_local_keep(value: mpsc::Sender<()>) {
        thread_local! {
            static KEPT: std::cell::RefCell<Vec<mpsc::Sender<()>>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        KEPT.with(|kept| kept.borrow_mut().push(value));
    }
}
