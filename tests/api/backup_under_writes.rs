//! `backup` against a database that never stops changing: it finishes, and the copy is
//! readable by its owner only.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_customer-area");

#[test]
fn a_backup_finishes_under_steady_writes_and_only_its_owner_can_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = Command::new(BIN)
        .arg("migrate")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let db = dir.path().join("customer-area.db");
    // A database of a few thousand pages, so a copy takes many steps.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute_batch(
        "CREATE TABLE ballast (id INTEGER PRIMARY KEY, data BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
         INSERT INTO ballast (data) SELECT randomblob(2000) FROM n;",
    )
    .unwrap();

    // A writer committing small changes back to back while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, writes, db) = (stop.clone(), writes.clone(), db.clone());
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            while !stop.load(Ordering::Relaxed) {
                conn.execute(
                    "UPDATE ballast SET data = randomblob(2000) WHERE id = abs(random()) % 4000 + 1",
                    [],
                )
                .unwrap();
                writes.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while writes.load(Ordering::Relaxed) < 10 {
        std::thread::yield_now();
    }

    let copy = dir.path().join("copy.db");
    let mut backup = Command::new(BIN)
        .args(["backup", copy.to_str().unwrap()])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Not a timing assertion: a backup that restarts at every write never ends at all.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = backup.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            backup.kill().unwrap();
            stop.store(true, Ordering::Relaxed);
            panic!(
                "the backup never finished under steady writes ({} writes)",
                writes.load(Ordering::Relaxed)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let output = backup.wait_with_output().unwrap();
    assert!(
        status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the copy is readable by its owner only");
    let copied = rusqlite::Connection::open(&copy).unwrap();
    let check: String = copied
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let rows: i64 = copied
        .query_row("SELECT COUNT(*) FROM ballast", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 4000);
}
