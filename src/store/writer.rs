//! The writer: the one thread that runs every write, in the order they were queued.
//!
//! With `synchronous = FULL` each commit waits for the disk (an fsync of the WAL, about a
//! quarter of a millisecond on this project's test machine), and one commit at a time capped
//! the writes a second at what the disk could sync. So the writes waiting when the writer
//! turns to them run in one `BEGIN IMMEDIATE` transaction, each in a savepoint of its own,
//! and are answered after the one commit that makes them all durable (group commit):
//!
//! - a write whose work fails is rolled back to its savepoint and answered with its error at
//!   once; the others' changes stand;
//! - no write is answered before the commit that holds it, and if that commit fails every
//!   write in it is answered with the failure: nothing is ever acknowledged that was not
//!   stored;
//! - should SQLite end the whole transaction itself (it does on a full disk or an I/O error),
//!   the writes done in it so far are answered with that error, and those not yet run go on
//!   in a new transaction;
//! - each write still sees every write queued before it, as when each had its own
//!   transaction.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::sql::Db;
use super::{StoreError, StoreResult, health};

/// Writes run together in one transaction, at most.
pub(super) const BATCH: usize = 64;

/// A job of the writer's lane.
pub(super) enum WriteJob {
    /// Work inside a batch's transaction.
    InTransaction(Box<dyn Write>),
    /// Work outside any transaction, once every write queued before it has been committed.
    Alone(Box<dyn Alone>),
}

impl WriteJob {
    /// A job running `work` in a transaction, its result (once committed) sent to `answer`.
    pub(super) fn in_transaction<R, F>(work: F, answer: oneshot::Sender<StoreResult<R>>) -> Self
    where
        F: FnOnce(&Db) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        WriteJob::InTransaction(Box::new(Job { work, answer }))
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

/// Runs the writer lane's jobs.
pub(super) struct Writer {
    pub(super) pool: Pool<SqliteConnectionManager>,
    pub(super) health: health::WriteHealth,
    /// The longest write transaction so far, in microseconds (for `/metrics`).
    pub(super) longest: Arc<AtomicU64>,
}

impl Writer {
    /// Runs `jobs`, in order: each run of writes in one transaction, work alone on its own.
    pub(super) fn serve(&self, jobs: &mut Vec<WriteJob>) {
        let jobs = jobs.drain(..);
        let Ok(mut conn) = self.pool.get() else {
            for job in jobs {
                match job {
                    WriteJob::InTransaction(write) => write.refuse(StoreError::Busy),
                    WriteJob::Alone(work) => work.refuse(StoreError::Busy),
                }
            }
            return;
        };
        let mut writes = Vec::new();
        for job in jobs {
            match job {
                WriteJob::InTransaction(write) => writes.push(write),
                WriteJob::Alone(work) => {
                    self.write_all(&mut conn, std::mem::take(&mut writes));
                    // A panic drops its answer: its caller learns it failed.
                    let _ =
                        std::panic::catch_unwind(AssertUnwindSafe(|| work.run(&Db::sqlite(&conn))));
                }
            }
        }
        self.write_all(&mut conn, writes);
    }

    /// Runs `writes` in as few transactions as SQLite lets them.
    fn write_all(&self, conn: &mut Connection, mut writes: Vec<Box<dyn Write>>) {
        while !writes.is_empty() {
            let started = Instant::now();
            writes = self.write_batch(conn, writes);
            self.longest
                .fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// Runs `writes` in one transaction and commits it; answers the writes that did not run
    /// because SQLite ended the transaction under them.
    fn write_batch(
        &self,
        conn: &mut Connection,
        writes: Vec<Box<dyn Write>>,
    ) -> Vec<Box<dyn Write>> {
        // One write alone needs no savepoint: its failure rolls the transaction back.
        let alone = writes.len() == 1;
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(err) => {
                let err = self.failure(err.into());
                for write in writes {
                    write.refuse(again(&err));
                }
                return Vec::new();
            }
        };
        let mut done: Vec<Box<dyn FnOnce(StoreResult<()>) + Send>> = Vec::new();
        let mut writes = writes.into_iter();
        while let Some(write) = writes.next() {
            if !alone && let Err(err) = savepoint(&tx, "SAVEPOINT write") {
                let err = self.failure(err.into());
                write.refuse(again(&err));
                return lost(done, &err, writes);
            }
            let step = std::panic::catch_unwind(AssertUnwindSafe(|| write.run(&Db::sqlite(&tx))));
            let err = match step {
                Ok(Step::Done(answer)) => {
                    let kept = if alone {
                        Ok(())
                    } else {
                        savepoint(&tx, "RELEASE write")
                    };
                    match kept {
                        Ok(()) => {
                            done.push(answer);
                            continue;
                        }
                        Err(err) => {
                            let err = self.failure(err.into());
                            answer(Err(again(&err)));
                            err
                        }
                    }
                }
                Ok(Step::Failed(err, answer)) => {
                    let err = self.failure(err);
                    let kept = again(&err);
                    answer(err);
                    kept
                }
                // The panic dropped the answer: its caller learns it failed.
                Err(_) => StoreError::Busy,
            };
            if tx.is_autocommit() {
                // SQLite rolled the whole transaction back: what was done in it is gone.
                return lost(done, &err, writes);
            }
            if !alone
                && let Err(err) = savepoint(&tx, "ROLLBACK TO write")
                    .and_then(|()| savepoint(&tx, "RELEASE write"))
            {
                let err = self.failure(err.into());
                return lost(done, &err, writes);
            }
        }
        if done.is_empty() {
            // Nothing to keep: dropping the transaction rolls it back.
            return Vec::new();
        }
        match tx.commit() {
            Ok(()) => {
                // A commit with changes shows the database takes writes.
                let _ = self.health.record(Ok(()));
                for answer in done {
                    answer(Ok(()));
                }
            }
            Err(err) => {
                let err = self.failure(err.into());
                for answer in done {
                    answer(Err(again(&err)));
                }
            }
        }
        Vec::new()
    }

    /// Names a failed write's cause and remembers it (a full disk, a read-only file system).
    fn failure(&self, err: StoreError) -> StoreError {
        match self.health.record::<()>(Err(err)) {
            Err(err) => err,
            Ok(()) => unreachable!("an error stays an error"),
        }
    }
}

/// Runs one savepoint statement.
fn savepoint(tx: &Transaction, sql: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Answers the writes done in a transaction SQLite has ended with `err`, and hands back the
/// writes not yet run.
fn lost(
    done: Vec<Box<dyn FnOnce(StoreResult<()>) + Send>>,
    err: &StoreError,
    rest: std::vec::IntoIter<Box<dyn Write>>,
) -> Vec<Box<dyn Write>> {
    for answer in done {
        answer(Err(again(err)));
    }
    rest.collect()
}

/// The same failure again, for each write it befell: the database's own error where it is
/// one, "busy" (try again: nothing was stored) otherwise.
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
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::super::{Store, StoreError};
    use super::Db;
    use crate::config;

    /// A write's work, boxed so that different ones can queue together.
    type Work<R> = Box<dyn FnOnce(&Db) -> super::StoreResult<R> + Send>;

    fn store(dir: &tempfile::TempDir) -> Store {
        let settings = config::Database {
            path: dir.path().join("writer.db"),
            ..config::Database::default()
        };
        let store = Store::open(&settings).unwrap();
        store
            .connection()
            .unwrap()
            .into_sqlite()
            .unwrap()
            .execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY, payload BLOB)")
            .unwrap();
        store
    }

    /// Holds the writer until the returned sender is dropped, with `queued` writes waiting
    /// behind it: they then run as one batch.
    async fn queue_behind_a_busy_writer<R: Send + 'static>(
        store: &Store,
        writes: Vec<Work<R>>,
    ) -> Vec<super::StoreResult<R>> {
        let (release, held) = mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        let holder = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .write(move |_| {
                        let _ = started.send(());
                        let _ = held.recv();
                        Ok(())
                    })
                    .await
            }
        });
        running.await.unwrap();
        let n = writes.len();
        let tasks: Vec<_> = writes
            .into_iter()
            .map(|work| {
                let store = store.clone();
                tokio::spawn(async move { store.write(work).await })
            })
            .collect();
        while store.writer.waiting() != n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(release);
        holder.await.unwrap().unwrap();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    }

    fn insert(n: i64) -> Work<i64> {
        Box::new(move |tx| {
            // Each write sees every write queued before it.
            let before: i64 = tx.query_row(
                "SELECT count(*) FROM t",
                crate::store::sql::params![],
                |r| r.only(),
            )?;
            tx.execute(
                "INSERT INTO t (n) VALUES (?1)",
                crate::store::sql::params![n],
            )?;
            Ok(before)
        })
    }

    fn stored(store: &Store) -> Vec<i64> {
        let conn = store.connection().unwrap().into_sqlite().unwrap();
        let mut statement = conn.prepare("SELECT n FROM t ORDER BY n").unwrap();
        statement
            .query_map([], |r| r.get("n"))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[tokio::test]
    async fn writes_queued_together_run_in_order_and_are_each_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let conn = store.connection().unwrap().into_sqlite().unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        let writes = (1..=10).map(insert).collect();
        let results = queue_behind_a_busy_writer(&store, writes).await;
        let seen: Vec<i64> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(stored(&store), (1..=10).collect::<Vec<_>>());
        // Ten commits would each have written the table's page to the WAL: one commit wrote
        // it once.
        let frames: i64 = conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get("log"))
            .unwrap();
        assert_eq!(frames, 1, "frames in the WAL");
    }

    #[tokio::test]
    async fn a_write_that_fails_in_a_batch_is_undone_alone_with_its_own_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let failing: Work<i64> = Box::new(|tx| {
            tx.execute("INSERT INTO t (n) VALUES (2)", crate::store::sql::params![])?;
            Err(StoreError::Inconsistent("refused after writing".into()))
        });
        let duplicate = insert(1);
        let results =
            queue_behind_a_busy_writer(&store, vec![insert(1), failing, duplicate, insert(3)])
                .await;
        assert!(results[0].is_ok(), "{:?}", results[0]);
        assert!(
            matches!(&results[1], Err(StoreError::Inconsistent(_))),
            "{:?}",
            results[1]
        );
        // A constraint broken by one write is that write's own error, not the batch's.
        assert!(
            matches!(&results[2], Err(StoreError::Sqlite(_))),
            "{:?}",
            results[2]
        );
        assert_eq!(results[3].as_ref().unwrap(), &1);
        assert_eq!(stored(&store), [1, 3]);
    }

    #[tokio::test]
    async fn a_write_that_panics_in_a_batch_fails_its_caller_and_the_others_stand() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let panicking: Work<i64> = Box::new(|tx| {
            tx.execute("INSERT INTO t (n) VALUES (2)", crate::store::sql::params![])
                .unwrap();
            panic!("a bug")
        });
        let results =
            queue_behind_a_busy_writer(&store, vec![insert(1), panicking, insert(3)]).await;
        assert!(results[0].is_ok());
        assert!(
            matches!(&results[1], Err(StoreError::Failed(_))),
            "{:?}",
            results[1]
        );
        assert!(results[2].is_ok());
        assert_eq!(stored(&store), [1, 3]);
    }

    #[tokio::test]
    async fn when_the_disk_fills_mid_batch_no_write_is_answered_ok_that_was_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        // The database may not grow by more than a few pages: a large row fills it.
        let conn = store.connection().unwrap().into_sqlite().unwrap();
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        drop(conn);
        let limit = format!("PRAGMA max_page_count = {}", pages + 4);
        let big: Work<i64> = Box::new(move |tx| {
            tx.execute_batch(&limit)?;
            tx.execute(
                "INSERT INTO t (n, payload) VALUES (100, zeroblob(1000000))",
                crate::store::sql::params![],
            )?;
            Ok(-1)
        });
        let results =
            queue_behind_a_busy_writer(&store, vec![insert(1), big, insert(2), insert(3)]).await;
        assert!(
            matches!(
                &results[1],
                Err(StoreError::Unwritable(_) | StoreError::Sqlite(_))
            ),
            "{:?}",
            results[1]
        );
        let kept = stored(&store);
        assert!(!kept.contains(&100));
        for (n, result) in [(1, &results[0]), (2, &results[2]), (3, &results[3])] {
            assert_eq!(
                result.is_ok(),
                kept.contains(&n),
                "write {n}: answered {result:?}, stored {kept:?}"
            );
        }
        // The writes after the failure went on.
        assert!(results[2].is_ok() && results[3].is_ok(), "{results:?}");
    }
}
