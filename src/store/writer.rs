//! The writer: the one loop that runs every write, in the order the writes were queued, on
//! SQLite or on PostgreSQL ([`Engine`]), and decides what is acknowledged as stored.
//!
//! A durable commit waits for the disk (with SQLite's `synchronous = FULL`, an fsync of the
//! WAL, about a quarter of a millisecond on this project's test machine; on PostgreSQL, a WAL
//! flush), and one commit per write capped the writes a second at what the disk could sync.
//! So the writes waiting when the writer turns to them run in one transaction (SQLite's
//! `BEGIN IMMEDIATE`; PostgreSQL's `BEGIN` and its write locks, [`super::pg::begin_for`]),
//! each in a savepoint of its own, and are answered after the one commit that makes them all
//! durable (group commit). The rules, the same on both engines:
//!
//! - each write sees every write queued before it, as when each had its own transaction
//!   (on PostgreSQL, every one it could meet: a customer-scoped write may run beside other
//!   customers' writes, see [`Scope`]);
//! - a write whose work fails (or panics) is rolled back to its savepoint and answered with
//!   its error at once; the others' changes stand. A write that panics is answered as failed
//!   (its caller learns it, [`StoreError::Failed`]) and the writer thread lives on;
//! - no write is answered `Ok` before the commit that holds it, and if that commit fails every
//!   write in it is answered with the failure: nothing is ever acknowledged that was not
//!   stored;
//! - should the engine end the whole transaction itself (SQLite does on a full disk or an I/O
//!   error), or should a savepoint step fail, the writes done in it so far are answered with
//!   that error, and those not yet run go on in a new transaction;
//! - a connection found dead when the transaction begins (PostgreSQL: the server restarted, a
//!   fail-over), before anything ran, is dropped and the batch goes to the next connection;
//!   the pool's size bounds the tries;
//! - an [`WriteJob::Alone`] job runs outside any transaction, once every write queued before
//!   it has been committed (the WAL checkpoint at shutdown).
//!
//! Each write declares what it may run beside ([`Scope`]): everything else
//! ([`Scope::Global`], the default), or the writes of every other customer
//! ([`Scope::Customer`]). SQLite has one writer and ignores it. On PostgreSQL, where several
//! instances (and this one's two writer threads) run transactions at once, a batch's `BEGIN`
//! takes the locks its writes declared, all of them before the first write runs
//! ([`Locks`], [`super::pg::begin_for`]): a batch is complete when it is handed over, and a
//! batch split by a failure locks again for what is left.
//!
//! These rules are tested once, on both engines, in `writer/tests.rs`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::sql::{Db, params};
use super::{StoreError, StoreResult, health};
use crate::domain::CustomerId;

/// Writes run together in one transaction, at most.
pub(super) const BATCH: usize = 64;

/// What a write may run beside, where the engine runs several transactions at once
/// (PostgreSQL; SQLite runs one at a time and ignores it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// Nothing: the write runs alone across every instance, as on one SQLite file. Every
    /// write that reads or changes what more than one customer shares (a code looked up by
    /// address, an allowance, a lease, a list) is one.
    #[default]
    Global,
    /// The writes of other customers: every statement of the write reads or changes rows of
    /// this customer only, or only inserts new rows (activity, consent records, emails and
    /// webhook events queued). It waits for global writes and for this customer's others.
    Customer(CustomerId),
}

/// The locks a batch's transaction takes before any of its writes runs.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Locks {
    /// One write of the batch is global: the transaction runs alone.
    Everything,
    /// Every write is customer-scoped: these customers' keys (their ids as numbers), each
    /// once, in ascending order, so that two transactions that want the same two never take
    /// them in opposite orders.
    Customers(Vec<u64>),
}

impl Locks {
    /// What the transaction of writes of `scopes` must lock.
    pub(super) fn of<'s>(scopes: impl IntoIterator<Item = &'s Scope>) -> Locks {
        let mut keys = std::collections::BTreeSet::new();
        for scope in scopes {
            match scope {
                Scope::Global => return Locks::Everything,
                Scope::Customer(id) => keys.insert(id.number()),
            };
        }
        Locks::Customers(keys.into_iter().collect())
    }
}

/// A job of the writer's lane.
pub(super) enum WriteJob {
    /// Work inside a batch's transaction.
    InTransaction(Scope, Box<dyn Write>),
    /// Work outside any transaction, once every write queued before it has been committed.
    Alone(Box<dyn Alone>),
}

impl WriteJob {
    /// A job running `work` in a transaction that holds the locks of `scope`, its result (once
    /// committed) sent to `answer`.
    pub(super) fn in_transaction<R, F>(
        scope: Scope,
        work: F,
        answer: oneshot::Sender<StoreResult<R>>,
    ) -> Self
    where
        F: FnOnce(&Db) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        WriteJob::InTransaction(scope, Box::new(Job { work, answer }))
    }

    /// A job running `work` outside any transaction, its result sent to `answer`.
    pub(super) fn alone<R, F>(work: F, answer: oneshot::Sender<StoreResult<R>>) -> Self
    where
        F: FnOnce(&Db) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        WriteJob::Alone(Box::new(Job { work, answer }))
    }
}

/// A write's work and where its answer goes.
struct Job<F, R> {
    work: F,
    answer: oneshot::Sender<StoreResult<R>>,
}

/// A write run inside a batch's transaction.
pub(super) trait Write: Send {
    /// Runs the work; what it came to says how to answer.
    fn run(self: Box<Self>, tx: &Db) -> Step;
    /// Answers without running the work.
    fn refuse(self: Box<Self>, err: StoreError);
}

/// What a write's work came to.
pub(super) enum Step {
    /// The work is done: its caller learns the fate of the commit.
    Done(Box<dyn FnOnce(StoreResult<()>) + Send>),
    /// The work failed: its changes are undone and its caller gets the error.
    Failed(StoreError, Box<dyn FnOnce(StoreError) + Send>),
}

impl<F, R> Write for Job<F, R>
where
    F: FnOnce(&Db) -> StoreResult<R> + Send,
    R: Send + 'static,
{
    fn run(self: Box<Self>, tx: &Db) -> Step {
        let Job { work, answer } = *self;
        match work(tx) {
            Ok(value) => Step::Done(Box::new(move |committed: StoreResult<()>| {
                let _ = answer.send(committed.map(|()| value));
            })),
            Err(err) => Step::Failed(
                err,
                Box::new(move |err| {
                    let _ = answer.send(Err(err));
                }),
            ),
        }
    }

    fn refuse(self: Box<Self>, err: StoreError) {
        let _ = self.answer.send(Err(err));
    }
}

/// Work run outside any transaction.
pub(super) trait Alone: Send {
    fn run(self: Box<Self>, conn: &Db);
    fn refuse(self: Box<Self>, err: StoreError);
}

impl<F, R> Alone for Job<F, R>
where
    F: FnOnce(&Db) -> StoreResult<R> + Send,
    R: Send,
{
    fn run(self: Box<Self>, conn: &Db) {
        let Job { work, answer } = *self;
        let _ = answer.send(work(conn));
    }

    fn refuse(self: Box<Self>, err: StoreError) {
        let _ = self.answer.send(Err(err));
    }
}

/// What the writer needs of a database: its transaction steps, and how to tell its failures.
/// The statements of a savepoint, a commit and a rollback are the same SQL on both engines.
pub(super) trait Engine {
    /// A connection the writer holds while it runs jobs; given back to its pool when dropped.
    type Conn;

    /// Takes a connection from the pool ([`StoreError::Busy`] when none comes in time).
    fn take(&self) -> StoreResult<Self::Conn>;
    /// Statements on `conn`.
    fn db(conn: &Self::Conn) -> Db<'_>;
    /// Runs one statement of transaction control.
    fn control(db: &Db, sql: &str) -> StoreResult<()>;
    /// Begins a write transaction, holding `locks` (or the one write lock, where there is one
    /// writer).
    fn begin(db: &Db, locks: &Locks) -> StoreResult<()>;
    /// Whether the engine ended the transaction itself after a failed statement.
    fn ended(db: &Db) -> bool;
    /// Whether `conn`, after a statement on it failed, is one the server has ended.
    fn is_dead(conn: &Self::Conn) -> bool;
    /// How many connections a batch may be tried on when they turn out dead at its `BEGIN`.
    fn tries(&self) -> u32;
    /// Names a failed step's cause (a full disk, a read-only file system) and remembers it.
    fn classify(&self, err: StoreError) -> StoreError;
    /// Remembers that a commit with changes went through: the database takes writes.
    fn committed(&self);

    fn savepoint(db: &Db) -> StoreResult<()> {
        Self::control(db, "SAVEPOINT write")
    }
    fn release(db: &Db) -> StoreResult<()> {
        Self::control(db, "RELEASE write")
    }
    /// Undoes what was done since the savepoint, and drops it.
    fn rollback_to(db: &Db) -> StoreResult<()> {
        Self::control(db, "ROLLBACK TO write")?;
        Self::control(db, "RELEASE write")
    }
    fn commit(db: &Db) -> StoreResult<()> {
        Self::control(db, "COMMIT")
    }
    fn rollback(db: &Db) -> StoreResult<()> {
        Self::control(db, "ROLLBACK")
    }
}

/// SQLite: one connection, `BEGIN IMMEDIATE`, and the store's [`health::WriteHealth`] told of
/// every failure and every commit.
pub(super) struct Sqlite {
    pub(super) pool: Pool<SqliteConnectionManager>,
    pub(super) health: health::WriteHealth,
}

impl Engine for Sqlite {
    type Conn = r2d2::PooledConnection<SqliteConnectionManager>;

    fn take(&self) -> StoreResult<Self::Conn> {
        self.pool.get().map_err(|_| StoreError::Busy)
    }

    fn db(conn: &Self::Conn) -> Db<'_> {
        Db::sqlite(conn)
    }

    fn control(db: &Db, sql: &str) -> StoreResult<()> {
        db.prepare_cached(sql)?.execute(params![])?;
        Ok(())
    }

    fn begin(db: &Db, _: &Locks) -> StoreResult<()> {
        // One writer: its write lock excludes every other write, whatever the scope.
        Self::control(db, "BEGIN IMMEDIATE")
    }

    fn ended(db: &Db) -> bool {
        db.as_sqlite().is_some_and(Connection::is_autocommit)
    }

    fn is_dead(_: &Self::Conn) -> bool {
        // A file does not hang up.
        false
    }

    fn tries(&self) -> u32 {
        1
    }

    fn classify(&self, err: StoreError) -> StoreError {
        match self.health.record::<()>(Err(err)) {
            Err(err) => err,
            Ok(()) => unreachable!("an error stays an error"),
        }
    }

    fn committed(&self) {
        let _ = self.health.record(Ok(()));
    }
}

/// Runs the writer lane's jobs on one engine.
pub(super) struct Writer<E> {
    pub(super) engine: E,
    /// The longest write transaction so far, in microseconds (for `/metrics`).
    pub(super) longest: Arc<AtomicU64>,
}

/// A write and the scope it declared.
type Scoped = (Scope, Box<dyn Write>);

/// Writes handed back unrun: their connection was found dead at `BEGIN`.
struct DeadAtBegin(Vec<Scoped>);

impl<E: Engine> Writer<E> {
    /// Runs `jobs`, in order: each run of writes in one transaction, work alone on its own.
    pub(super) fn serve(&self, jobs: &mut Vec<WriteJob>) {
        let mut conn = None;
        let mut writes = Vec::new();
        for job in jobs.drain(..) {
            match job {
                WriteJob::InTransaction(scope, write) => writes.push((scope, write)),
                WriteJob::Alone(work) => {
                    self.write_all(&mut conn, std::mem::take(&mut writes));
                    match self.connection(&mut conn) {
                        // A panic drops its answer: its caller learns it failed.
                        Some(conn) => {
                            let db = E::db(conn);
                            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| work.run(&db)));
                        }
                        None => work.refuse(StoreError::Busy),
                    }
                }
            }
        }
        self.write_all(&mut conn, writes);
    }

    /// The connection in hand, or a new one from the pool.
    fn connection<'c>(&self, conn: &'c mut Option<E::Conn>) -> Option<&'c E::Conn> {
        if conn.is_none() {
            *conn = self.engine.take().ok();
        }
        conn.as_ref()
    }

    /// Runs `writes` in as few transactions as the engine lets them, on as many connections
    /// as turn out dead at `BEGIN` (within [`Engine::tries`]).
    fn write_all(&self, conn: &mut Option<E::Conn>, mut writes: Vec<Scoped>) {
        let mut tries = self.engine.tries();
        while !writes.is_empty() {
            let Some(held) = self.connection(conn) else {
                break;
            };
            let started = Instant::now();
            match self.write_batch(held, writes) {
                Ok(rest) => writes = rest,
                Err(DeadAtBegin(unrun)) => {
                    writes = unrun;
                    // Dropped, the dead connection leaves the pool.
                    *conn = None;
                    tries -= 1;
                    if tries == 0 {
                        break;
                    }
                }
            }
            self.longest
                .fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        for (_, write) in writes {
            write.refuse(StoreError::Busy);
        }
    }

    /// Runs `writes` in one transaction, under the locks their scopes declare, and commits
    /// it. Hands back the writes that did not run because the transaction ended under them,
    /// to run in a new one; or all of them, unrun, when the connection is found dead at
    /// `BEGIN`.
    fn write_batch(&self, conn: &E::Conn, writes: Vec<Scoped>) -> Result<Vec<Scoped>, DeadAtBegin> {
        let db = &E::db(conn);
        // Every lock is taken here, before any write runs, and only here: taken later, while
        // the transaction holds others, one could be taken in an order another transaction
        // reverses.
        let locks = Locks::of(writes.iter().map(|(scope, _)| scope));
        if let Err(err) = E::begin(db, &locks) {
            let _ = E::rollback(db);
            if E::is_dead(conn) {
                // Nothing ran: the batch may go to the next connection.
                return Err(DeadAtBegin(writes));
            }
            let err = self.engine.classify(err);
            for (_, write) in writes {
                write.refuse(again(&err));
            }
            return Ok(Vec::new());
        }
        // One write alone needs no savepoint: its failure rolls the transaction back.
        let alone = writes.len() == 1;
        let mut done: Vec<Answer> = Vec::new();
        let mut writes = writes.into_iter();
        while let Some((_, write)) = writes.next() {
            if !alone && let Err(err) = E::savepoint(db) {
                let err = self.engine.classify(err);
                write.refuse(again(&err));
                return Ok(lost::<E>(db, done, &err, writes));
            }
            let step = std::panic::catch_unwind(AssertUnwindSafe(|| write.run(db)));
            let err = match step {
                Ok(Step::Done(answer)) => {
                    let kept = if alone { Ok(()) } else { E::release(db) };
                    match kept {
                        Ok(()) => {
                            done.push(answer);
                            continue;
                        }
                        Err(err) => {
                            let err = self.engine.classify(err);
                            answer(Err(again(&err)));
                            err
                        }
                    }
                }
                Ok(Step::Failed(err, answer)) => {
                    let err = self.engine.classify(err);
                    let kept = again(&err);
                    answer(err);
                    kept
                }
                // The panic dropped the answer: its caller learns it failed.
                Err(_) => StoreError::Busy,
            };
            if E::ended(db) {
                // The engine rolled the whole transaction back: what was done in it is gone.
                return Ok(lost::<E>(db, done, &err, writes));
            }
            if alone {
                break;
            }
            if let Err(err) = E::rollback_to(db) {
                let err = self.engine.classify(err);
                return Ok(lost::<E>(db, done, &err, writes));
            }
        }
        if done.is_empty() {
            // Nothing to keep.
            let _ = E::rollback(db);
            return Ok(Vec::new());
        }
        match E::commit(db) {
            Ok(()) => {
                self.engine.committed();
                for answer in done {
                    answer(Ok(()));
                }
            }
            Err(err) => {
                // A commit refused (a deferred constraint, SQLite's busy) leaves the
                // transaction open: end it, so the next batch begins afresh.
                let _ = E::rollback(db);
                let err = self.engine.classify(err);
                for answer in done {
                    answer(Err(again(&err)));
                }
            }
        }
        Ok(Vec::new())
    }
}

/// What answers a write once its transaction is committed (or not).
type Answer = Box<dyn FnOnce(StoreResult<()>) + Send>;

/// Ends a transaction after `err`: answers the writes done in it with `err`, and hands back
/// the writes not yet run.
fn lost<E: Engine>(
    db: &Db,
    done: Vec<Answer>,
    err: &StoreError,
    rest: std::vec::IntoIter<Scoped>,
) -> Vec<Scoped> {
    // The engine may have ended it already: then there is nothing to roll back.
    let _ = E::rollback(db);
    for answer in done {
        answer(Err(again(err)));
    }
    rest.collect()
}

/// The same failure again, for each write it befell: a full or read-only database as such,
/// SQLite's own error where it is one, "busy" (try again: nothing was stored) otherwise.
fn again(err: &StoreError) -> StoreError {
    match err {
        StoreError::Unwritable(condition) => StoreError::Unwritable(*condition),
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(code, message)) => {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(*code, message.clone()))
        }
        _ => StoreError::Busy,
    }
}

#[cfg(test)]
mod tests;
