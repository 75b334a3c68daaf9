//! The writer's rules ([`super`]), each checked on the batch loop itself, on SQLite and, when
//! `CUSTOMER_AREA_TEST_POSTGRES` names a server (`.ci/postgres` starts one), on PostgreSQL.
//! Each batch is handed to [`Writer::serve`] whole, as the writer's lane hands the jobs
//! waiting: what ran in one transaction is decided by the test, not by timing.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::super::sql::{Db, Dialect, params};
use super::super::{Backend, Store, StoreError, StoreResult, pg};
use super::{Locks, Scope, Sqlite, WriteJob, Writer};
use crate::config;
use crate::domain::CustomerId;

/// A write's work, boxed so that different ones can queue together.
type Work<R> = Box<dyn FnOnce(&Db) -> StoreResult<R> + Send>;

/// What a test runs on: the batch loop over one engine, and the store whose pool it uses
/// (with a table `t`, and a table `parent` that `t.parent` must name by the commit).
enum Under {
    Sqlite {
        writer: Writer<Sqlite>,
        store: Store,
        _dir: tempfile::TempDir,
    },
    Postgres {
        writer: Writer<pg::Engine>,
        store: Store,
        /// The server's URL, to end the store's connections from outside.
        server: String,
        database: String,
    },
}

/// Runs `$case` on SQLite, and on PostgreSQL when the tests have a server.
macro_rules! on_both_engines {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    super::$case(super::Under::sqlite());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $case() {
                    if let Some(under) = super::Under::postgres(8) {
                        super::$case(under);
                    }
                }
            )*
        }
    };
}

on_both_engines!(
    writes_queued_together_run_in_order_in_one_transaction,
    a_write_that_fails_in_a_batch_is_undone_alone_with_its_own_error,
    a_write_alone_that_fails_leaves_nothing,
    a_write_that_panics_fails_its_caller_and_the_others_stand,
    a_failed_commit_fails_every_write_of_its_batch,
    work_alone_runs_once_the_writes_before_it_are_committed,
    writes_of_any_scopes_queued_together_share_one_transaction,
);

impl Under {
    fn sqlite() -> Under {
        let dir = tempfile::tempdir().unwrap();
        let settings = config::Database {
            path: dir.path().join("writer.db"),
            ..config::Database::default()
        };
        let store = Store::open(&settings).unwrap();
        let Backend::Sqlite(pool) = &store.backend else {
            unreachable!("a path opens SQLite")
        };
        let writer = Writer {
            engine: Sqlite {
                pool: pool.clone(),
                health: store.health.clone(),
            },
            longest: Default::default(),
        };
        let under = Under::Sqlite {
            writer,
            store,
            _dir: dir,
        };
        under.create_tables();
        under
    }

    /// `None`, after a loud banner, when the tests have no PostgreSQL server.
    fn postgres(pool_size: u32) -> Option<Under> {
        let Some(server) = std::env::var("CUSTOMER_AREA_TEST_POSTGRES")
            .ok()
            .filter(|url| !url.is_empty())
        else {
            use std::io::Write;
            // Straight to stderr: the test harness would hide eprintln! of a passing test.
            let _ = writeln!(
                std::io::stderr(),
                "\n=================== SKIPPED: PostgreSQL test ===================\n\
                 {} checked nothing on PostgreSQL: CUSTOMER_AREA_TEST_POSTGRES is not set.\n\
                 Run them: url=$(.ci/postgres) && CUSTOMER_AREA_TEST_POSTGRES=$url cargo test --lib store::writer\n\
                 ================================================================\n",
                std::thread::current().name().unwrap_or("this test")
            );
            return None;
        };
        let mut bytes = [0u8; 8];
        crate::random::random_bytes(&mut bytes);
        let database = format!("ca_writer_{:016x}", u64::from_le_bytes(bytes));
        admin(&server, &format!("CREATE DATABASE {database}"));
        let mut url = url::Url::parse(&server).expect("CUSTOMER_AREA_TEST_POSTGRES is a URL");
        url.set_path(&database);
        let settings = config::Database {
            url: config::Secret::new(url.to_string()),
            pool_size: pool_size.try_into().unwrap(),
            ..config::Database::default()
        };
        let store = Store::open(&settings).unwrap();
        let Backend::Postgres { pool, .. } = &store.backend else {
            unreachable!("a URL opens PostgreSQL")
        };
        let writer = Writer {
            engine: pg::Engine { pool: pool.clone() },
            longest: Default::default(),
        };
        let under = Under::Postgres {
            writer,
            store,
            server,
            database,
        };
        under.create_tables();
        Some(under)
    }

    fn store(&self) -> &Store {
        match self {
            Under::Sqlite { store, .. } | Under::Postgres { store, .. } => store,
        }
    }

    fn create_tables(&self) {
        let blob = match self.store().dialect() {
            Dialect::Sqlite => "BLOB",
            Dialect::Postgres => "BYTEA",
        };
        self.store()
            .connection()
            .unwrap()
            .db()
            .execute_batch(&format!(
                "CREATE TABLE parent (n INTEGER PRIMARY KEY);
                 CREATE TABLE t (n INTEGER PRIMARY KEY, payload {blob},
                     parent INTEGER REFERENCES parent (n) DEFERRABLE INITIALLY DEFERRED)"
            ))
            .unwrap();
    }

    /// Runs `works` as one batch of global writes, as the writer's lane hands it the jobs
    /// waiting; each write's answer, or `None` for one dropped unanswered (its caller learns
    /// it failed).
    fn batch<R: Send + 'static>(&self, works: Vec<Work<R>>) -> Vec<Option<StoreResult<R>>> {
        self.batch_in(works.into_iter().map(|w| (Scope::Global, w)).collect())
    }

    /// Runs `works` as one batch, each write in its scope.
    fn batch_in<R: Send + 'static>(
        &self,
        works: Vec<(Scope, Work<R>)>,
    ) -> Vec<Option<StoreResult<R>>> {
        let (mut jobs, answers): (Vec<_>, Vec<_>) = works
            .into_iter()
            .map(|(scope, work)| {
                let (answer, answered) = oneshot::channel();
                (WriteJob::in_transaction(scope, work, answer), answered)
            })
            .unzip();
        self.serve(&mut jobs);
        answers
            .into_iter()
            .map(|mut answered| answered.try_recv().ok())
            .collect()
    }

    fn serve(&self, jobs: &mut Vec<WriteJob>) {
        match self {
            Under::Sqlite { writer, .. } => writer.serve(jobs),
            Under::Postgres { writer, .. } => writer.serve(jobs),
        }
    }

    /// The rows of `t`, read on a connection of their own.
    fn stored(&self) -> Vec<i64> {
        stored(&self.store().connection().unwrap().db())
    }
}

/// The numbers in `t`, in order.
fn stored(db: &Db) -> Vec<i64> {
    db.prepare_cached("SELECT n FROM t ORDER BY n")
        .unwrap()
        .query_map(params![], |row| row.get("n"))
        .unwrap()
        .collect::<StoreResult<_>>()
        .unwrap()
}

/// Runs `sql` on the PostgreSQL server `server` as its administrator, on a thread of its own
/// (the blocking client runs a runtime of its own).
fn admin(server: &str, sql: &str) {
    let (server, sql) = (server.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let mut client = ::postgres::Client::connect(&server, ::postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {server}: {e}"));
        client.batch_execute(&sql).unwrap();
    })
    .join()
    .expect("the statement ran");
}

/// Inserts `n` into `t`; answers how many rows the write saw before it.
fn insert(n: i64) -> Work<i64> {
    Box::new(move |tx| {
        let before: i64 = tx.query_row("SELECT count(*) FROM t", params![], |r| r.only())?;
        tx.execute("INSERT INTO t (n) VALUES (?1)", params![n])?;
        Ok(before)
    })
}

fn ok<R: std::fmt::Debug>(answer: &Option<StoreResult<R>>) -> bool {
    matches!(answer, Some(Ok(_)))
}

fn writes_queued_together_run_in_order_in_one_transaction(under: Under) {
    if let Under::Sqlite { store, .. } = &under {
        let conn = store.connection().unwrap().into_sqlite().unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
    }
    let answers = under.batch((1..=10).map(insert).collect());
    // Each write saw every write queued before it.
    let seen: Vec<i64> = answers.into_iter().map(|a| a.unwrap().unwrap()).collect();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    assert_eq!(under.stored(), (1..=10).collect::<Vec<_>>());
    match &under {
        Under::Sqlite { store, .. } => {
            // Ten commits would each have written the table's page to the WAL: one commit
            // wrote it once.
            let conn = store.connection().unwrap().into_sqlite().unwrap();
            let frames: i64 = conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
                .unwrap();
            assert_eq!(frames, 1, "frames in the WAL");
        }
        Under::Postgres { .. } => {
            // Writes queued together see one transaction: its id is the same in each.
            let transaction = || -> Work<String> {
                Box::new(|tx| {
                    tx.execute("INSERT INTO t (n) SELECT max(n) + 1 FROM t", params![])?;
                    tx.query_row("SELECT txid_current()::text", params![], |r| r.only())
                })
            };
            let ids: Vec<String> = under
                .batch((0..3).map(|_| transaction()).collect())
                .into_iter()
                .map(|a| a.unwrap().unwrap())
                .collect();
            assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
            let next = under.batch(vec![transaction()]);
            assert_ne!(next[0].as_ref().unwrap().as_ref().unwrap(), &ids[0]);
            assert_eq!(under.stored(), (1..=14).collect::<Vec<_>>());
        }
    }
}

fn a_write_that_fails_in_a_batch_is_undone_alone_with_its_own_error(under: Under) {
    let failing: Work<i64> = Box::new(|tx| {
        tx.execute("INSERT INTO t (n) VALUES (2)", params![])?;
        Err(StoreError::Inconsistent("refused after writing".into()))
    });
    let duplicate = insert(1);
    let answers = under.batch(vec![insert(1), failing, duplicate, insert(3)]);
    assert!(ok(&answers[0]), "{:?}", answers[0]);
    assert!(
        matches!(&answers[1], Some(Err(StoreError::Inconsistent(_)))),
        "{:?}",
        answers[1]
    );
    // A constraint broken by one write is that write's own error, not the batch's.
    assert!(
        matches!(
            &answers[2],
            Some(Err(StoreError::Sqlite(_) | StoreError::Postgres(_)))
        ),
        "{:?}",
        answers[2]
    );
    // The write after the failures saw the first one only.
    assert!(matches!(answers[3], Some(Ok(1))), "{:?}", answers[3]);
    assert_eq!(under.stored(), [1, 3]);
}

fn a_write_alone_that_fails_leaves_nothing(under: Under) {
    let failing: Work<i64> = Box::new(|tx| {
        tx.execute("INSERT INTO t (n) VALUES (2)", params![])?;
        Err(StoreError::Inconsistent("refused after writing".into()))
    });
    let answers = under.batch(vec![failing]);
    assert!(
        matches!(&answers[0], Some(Err(StoreError::Inconsistent(_)))),
        "{:?}",
        answers[0]
    );
    assert_eq!(under.stored(), [] as [i64; 0]);
    // The writer goes on.
    assert!(ok(&under.batch(vec![insert(4)])[0]));
    assert_eq!(under.stored(), [4]);
}

fn a_write_that_panics_fails_its_caller_and_the_others_stand(under: Under) {
    let panicking: Work<i64> = Box::new(|tx| {
        tx.execute("INSERT INTO t (n) VALUES (2)", params![])
            .unwrap();
        panic!("a bug")
    });
    let answers = under.batch(vec![insert(1), panicking, insert(3)]);
    assert!(ok(&answers[0]), "{:?}", answers[0]);
    // Dropped unanswered: the lane answers its caller that the work failed.
    assert!(answers[1].is_none(), "{:?}", answers[1]);
    assert!(ok(&answers[2]), "{:?}", answers[2]);
    assert_eq!(under.stored(), [1, 3]);
    // The thread that ran it lives on, and so does the writer.
    assert!(ok(&under.batch(vec![insert(5)])[0]));
    assert_eq!(under.stored(), [1, 3, 5]);
}

fn a_failed_commit_fails_every_write_of_its_batch(under: Under) {
    // A foreign key checked at the commit, not at the statement: each write's own work and
    // savepoint go through, and the commit fails.
    let orphan: Work<i64> = Box::new(|tx| {
        tx.execute("INSERT INTO t (n, parent) VALUES (2, 99)", params![])?;
        Ok(-1)
    });
    let answers = under.batch(vec![insert(1), orphan, insert(3)]);
    for answer in &answers {
        assert!(matches!(answer, Some(Err(_))), "{answers:?}");
    }
    assert_eq!(under.stored(), [] as [i64; 0]);
    // The failed transaction was ended: the next batch begins afresh.
    let answers = under.batch(vec![insert(4), insert(5)]);
    assert!(answers.iter().all(ok), "{answers:?}");
    assert_eq!(under.stored(), [4, 5]);
}

fn work_alone_runs_once_the_writes_before_it_are_committed(under: Under) {
    let (seen_answer, mut seen) = oneshot::channel();
    let store = under.store().clone();
    let alone = WriteJob::alone(
        move |db: &Db| {
            // Outside any transaction (it could not begin one otherwise), and every write
            // queued before it committed: another connection sees them.
            db.execute_batch("BEGIN")?;
            db.execute_batch("ROLLBACK")?;
            let elsewhere = store.connection()?;
            Ok(stored(&elsewhere.db()))
        },
        seen_answer,
    );
    let (first, mut first_answered) = oneshot::channel();
    let (last, mut last_answered) = oneshot::channel();
    let mut jobs = vec![
        WriteJob::in_transaction(Scope::Global, insert(1), first),
        alone,
        WriteJob::in_transaction(Scope::Global, insert(2), last),
    ];
    under.serve(&mut jobs);
    assert_eq!(seen.try_recv().unwrap().unwrap(), [1]);
    assert!(first_answered.try_recv().unwrap().is_ok());
    assert!(last_answered.try_recv().unwrap().is_ok());
    assert_eq!(under.stored(), [1, 2]);
}

#[test]
fn when_sqlite_ends_the_transaction_mid_batch_no_write_is_answered_ok_that_was_not_stored() {
    let under = Under::sqlite();
    // The database may not grow by more than a few pages: a large row fills it, and SQLite
    // rolls the whole transaction back.
    let pages: i64 = under
        .store()
        .connection()
        .unwrap()
        .db()
        .query_row("PRAGMA page_count", params![], |r| r.only())
        .unwrap();
    let limit = format!("PRAGMA max_page_count = {}", pages + 4);
    let big: Work<i64> = Box::new(move |tx| {
        tx.execute_batch(&limit)?;
        tx.execute(
            "INSERT INTO t (n, payload) VALUES (100, zeroblob(1000000))",
            params![],
        )?;
        Ok(-1)
    });
    let answers = under.batch(vec![insert(1), big, insert(2), insert(3)]);
    assert!(
        matches!(
            &answers[1],
            Some(Err(StoreError::Unwritable(_) | StoreError::Sqlite(_)))
        ),
        "{:?}",
        answers[1]
    );
    let kept = under.stored();
    assert!(!kept.contains(&100));
    for (n, answer) in [(1, &answers[0]), (2, &answers[2]), (3, &answers[3])] {
        assert_eq!(
            ok(answer),
            kept.contains(&n),
            "write {n}: answered {answer:?}, stored {kept:?}"
        );
    }
    // The writes after the failure went on, in a new transaction.
    assert!(ok(&answers[2]) && ok(&answers[3]), "{answers:?}");
}

#[test]
fn a_postgres_connection_found_dead_at_begin_hands_the_batch_to_the_next() {
    // One connection in the pool: the one the server ends is the one the writer takes.
    let Some(under) = Under::postgres(1) else {
        return;
    };
    let Under::Postgres {
        server, database, ..
    } = &under
    else {
        unreachable!()
    };
    assert!(ok(&under.batch(vec![insert(1)])[0]));
    // The server ends every connection to the database (a restart, a fail-over, an
    // administrator), and the pool does not know yet.
    admin(
        server,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}';
             DO $$ BEGIN
               WHILE EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = '{database}') LOOP
                 PERFORM pg_sleep(0.01);
                 -- The statistics are read once per transaction unless told again.
                 PERFORM pg_stat_clear_snapshot();
               END LOOP;
             END $$"
        ),
    );
    let answers = under.batch(vec![insert(2), insert(3)]);
    assert!(answers.iter().all(ok), "{answers:?}");
    assert_eq!(under.stored(), [1, 2, 3]);
}

/// The customer of `n` (a 14-digit id ending in `n`).
fn customer(n: u64) -> Scope {
    Scope::Customer(CustomerId::parse(&format!("{}", 10_000_000_000_000 + n)).unwrap())
}

fn writes_of_any_scopes_queued_together_share_one_transaction(under: Under) {
    // Which scope a write declares changes what its transaction locks, never the rules: the
    // writes still run in order, each seeing those before it, and none is committed before
    // the batch's one commit (another connection sees none of them meanwhile).
    let scoped = |scope: Scope, n: i64| -> (Scope, Work<(i64, Vec<i64>)>) {
        let store = under.store().clone();
        (
            scope,
            Box::new(move |tx| {
                let before = insert(n)(tx)?;
                Ok((before, stored(&store.connection()?.db())))
            }),
        )
    };
    let answers = under.batch_in(vec![
        scoped(customer(1), 1),
        scoped(customer(2), 2),
        scoped(customer(1), 3),
        scoped(Scope::Global, 4),
    ]);
    let answers: Vec<(i64, Vec<i64>)> = answers.into_iter().map(|a| a.unwrap().unwrap()).collect();
    assert_eq!(
        answers,
        (0..4).map(|before| (before, vec![])).collect::<Vec<_>>()
    );
    assert_eq!(under.stored(), [1, 2, 3, 4]);
}

#[test]
fn a_batch_locks_every_customer_once_in_ascending_order_or_everything_if_one_write_is_global() {
    let scopes = [customer(30), customer(2), customer(30), customer(11)];
    assert_eq!(
        Locks::of(&scopes),
        Locks::Customers(vec![
            10_000_000_000_002,
            10_000_000_000_011,
            10_000_000_000_030
        ])
    );
    let mixed = [customer(2), Scope::Global, customer(11)];
    assert_eq!(Locks::of(&mixed), Locks::Everything);
    assert_eq!(Locks::of(&[Scope::Global]), Locks::Everything);
    assert_eq!(Scope::default(), Scope::Global);
}

/// How long a test waits for what must happen soon (a write to begin, a lock to be waited
/// for) before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// What became of the second batch while the first held its transaction open.
#[derive(Debug, PartialEq, Eq)]
enum Second {
    /// It committed while the first was still open, without seeing the first's row.
    RanBeside,
    /// It waited for a lock the first held, and committed after the first, seeing its row.
    Waited,
}

/// Runs on PostgreSQL a batch of `first` that holds its transaction open, and meanwhile, on
/// another connection of another thread, a batch of `second` (each write inserting a row):
/// whether the second ran beside the first or waited for it, told by the database (a
/// transaction of this database seen waiting for an advisory lock), not by a timer.
fn while_held(under: &Under, first: Vec<Scope>, second: Vec<Scope>) -> Second {
    let Under::Postgres { writer, store, .. } = under else {
        unreachable!("the lock tests run on PostgreSQL")
    };
    let waiting = || -> i64 {
        store
            .connection()
            .unwrap()
            .db()
            .query_row(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                params![],
                |r| r.only(),
            )
            .unwrap()
    };
    let run = |scopes: Vec<Scope>,
               rows: std::ops::Range<i64>,
               hold: Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>| {
        let mut jobs = Vec::new();
        let mut answers = Vec::new();
        let mut hold = hold;
        for (scope, n) in scopes.into_iter().zip(rows) {
            let (answer, answered) = oneshot::channel();
            let held = hold.take();
            let work: Work<i64> = Box::new(move |tx| {
                let before = insert(n)(tx)?;
                if let Some((begun, go)) = held {
                    // Inside the transaction, holding its locks: until the test lets go.
                    let _ = begun.send(());
                    let _ = go.recv_timeout(PATIENCE);
                }
                Ok(before)
            });
            jobs.push(WriteJob::in_transaction(scope, work, answer));
            answers.push(answered);
        }
        writer.serve(&mut jobs);
        answers
            .into_iter()
            .map(|mut answered| answered.try_recv().expect("answered").expect("stored"))
            .collect::<Vec<i64>>()
    };
    let (first_n, second_n) = (first.len() as i64, second.len() as i64);
    // Each write counts the rows it sees: from none.
    store
        .connection()
        .unwrap()
        .db()
        .execute_batch("DELETE FROM t")
        .unwrap();
    std::thread::scope(|threads| {
        let (begun_tx, begun) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        let first = threads.spawn(move || run(first, 0..first_n, Some((begun_tx, go_rx))));
        begun.recv_timeout(PATIENCE).expect("the first batch began");
        let (done_tx, done) = mpsc::channel();
        let second_run = &run;
        threads.spawn(move || {
            let _ = done_tx.send(second_run(second, 100..100 + second_n, None));
        });
        let started = Instant::now();
        let outcome = loop {
            if let Ok(seen) = done.try_recv() {
                // Every write of the second batch saw none of the first's rows: uncommitted.
                assert!(
                    seen.iter().enumerate().all(|(i, n)| *n == i as i64),
                    "{seen:?}"
                );
                break Second::RanBeside;
            }
            if waiting() > 0 {
                break Second::Waited;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the second batch neither ran nor waited"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        if outcome == Second::Waited {
            assert!(done.try_recv().is_err(), "answered while it waited");
        }
        go.send(()).unwrap();
        let first_seen = first.join().unwrap();
        // The first write held the batch open having seen nothing; those after it saw the
        // second batch's rows too when it had committed meanwhile.
        let beside = if outcome == Second::RanBeside {
            second_n
        } else {
            0
        };
        let expected: Vec<i64> = (0..first_n)
            .map(|i| if i == 0 { 0 } else { i + beside })
            .collect();
        assert_eq!(first_seen, expected);
        if outcome == Second::Waited {
            let seen = done.recv_timeout(PATIENCE).expect("the second batch ends");
            // It ran after the first committed: it saw every row of it.
            let expected: Vec<i64> = (0..second_n).map(|i| first_n + i).collect();
            assert_eq!(seen, expected);
        }
        outcome
    })
}

#[test]
fn on_postgres_writes_of_two_customers_run_at_the_same_time() {
    let Some(under) = Under::postgres(8) else {
        return;
    };
    assert_eq!(
        while_held(&under, vec![customer(1)], vec![customer(2)]),
        Second::RanBeside
    );
    // Batches of several customers each, none in both.
    assert_eq!(
        while_held(
            &under,
            vec![customer(3), customer(5)],
            vec![customer(4), customer(6)]
        ),
        Second::RanBeside
    );
}

#[test]
fn on_postgres_writes_of_one_customer_wait_for_each_other() {
    let Some(under) = Under::postgres(8) else {
        return;
    };
    assert_eq!(
        while_held(&under, vec![customer(1)], vec![customer(1)]),
        Second::Waited
    );
    // One customer in common is enough, whatever else each batch holds.
    assert_eq!(
        while_held(
            &under,
            vec![customer(2), customer(9)],
            vec![customer(3), customer(9)]
        ),
        Second::Waited
    );
}

#[test]
fn on_postgres_a_global_write_waits_for_a_customer_write_and_the_reverse() {
    let Some(under) = Under::postgres(8) else {
        return;
    };
    assert_eq!(
        while_held(&under, vec![customer(1)], vec![Scope::Global]),
        Second::Waited
    );
    assert_eq!(
        while_held(&under, vec![Scope::Global], vec![customer(1)]),
        Second::Waited
    );
    assert_eq!(
        while_held(&under, vec![Scope::Global], vec![Scope::Global]),
        Second::Waited
    );
    // One global write makes its whole batch global, even beside another customer's.
    assert_eq!(
        while_held(&under, vec![customer(1)], vec![customer(2), Scope::Global]),
        Second::Waited
    );
}

#[test]
fn on_postgres_a_batch_holds_the_locks_its_scopes_declare() {
    let Some(under) = Under::postgres(8) else {
        return;
    };
    // The advisory locks this transaction holds: (key, mode), keys in ascending order.
    let held = || -> Work<Vec<(i64, String)>> {
        Box::new(|tx| {
            tx.prepare_cached(
                "SELECT (classid::bigint << 32) | objid::bigint AS key, mode FROM pg_locks
                 WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
                 ORDER BY key",
            )?
            .query_map(params![], |r| Ok((r.get("key")?, r.get("mode")?)))?
            .collect()
        })
    };
    let scoped = under.batch_in(vec![(customer(7), held()), (customer(3), held())]);
    let expected = vec![
        (10_000_000_000_003, "ExclusiveLock".to_owned()),
        (10_000_000_000_007, "ExclusiveLock".to_owned()),
        (pg::WRITE_LOCK, "ShareLock".to_owned()),
    ];
    for answer in scoped {
        assert_eq!(answer.unwrap().unwrap(), expected);
    }
    let global = under.batch_in(vec![(customer(7), held()), (Scope::Global, held())]);
    for answer in global {
        assert_eq!(
            answer.unwrap().unwrap(),
            [(pg::WRITE_LOCK, "ExclusiveLock".to_owned())]
        );
    }
}
