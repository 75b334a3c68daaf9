//! A full disk and a read-only file system under the database, for real: the database lives on
//! a small tmpfs mounted for the test, which the test fills (or remounts read-only), or on a
//! small ext4 file system that an error turns read-only under the running server. Writes
//! answer 503 `unavailable`, reads go on, `/healthz` says which condition holds, everything
//! picks up again once space returns, and `serve` does not start on a database it cannot write.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::binary::Binary;
use crate::common::smtp::Mode;
use crate::common::{PATIENCE, TestApp, eventually, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A tmpfs of a few MiB mounted on a fresh directory, unmounted when dropped (a failing test
/// leaves nothing mounted).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount -o size=`); `None`, said loudly, where this machine
    /// does not let the test mount (not root): then the test is skipped, and fails under CI.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(Tmpfs { dir }),
            other => {
                let why = match other {
                    Ok(output) => String::from_utf8_lossy(&output.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "cannot mount a tmpfs for the disk tests under CI: {why}"
                );
                eprintln!(
                    "\n!!! SKIPPED: cannot mount a tmpfs ({}); the full-disk and read-only \
                     tests need root\n",
                    why.trim()
                );
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where the database goes.
    fn database(&self) -> PathBuf {
        self.path().join("customer-area.db")
    }

    /// Fills every byte left with a file, whose path it returns.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        for chunk in [64 * 1024, 4096, 1] {
            let block = vec![0u8; chunk];
            while file.write_all(&block).is_ok() {}
        }
        path
    }

    /// `mount -o remount,MODE` (`ro` or `rw`).
    fn remount(&self, mode: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(status.success(), "remount {mode}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.path())
            .stderr(std::process::Stdio::null())
            .status();
        if !unmounted.is_ok_and(|s| s.success()) {
            // Still in use (a server that outlived a failed assertion): detach it anyway.
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}

/// A small ext4 file system in an image file on a loop device, mounted with
/// `errors=remount-ro`: what a VPS disk does when it fails. Unmounted and detached when dropped.
struct Ext4 {
    /// The image file, removed once the device is detached (fields drop after `drop`).
    _image: tempfile::NamedTempFile,
    device: String,
    dir: tempfile::TempDir,
}

impl Ext4 {
    /// Makes and mounts a 16 MiB ext4; `None`, said loudly, where this machine does not let the
    /// test attach a loop device (not root): then the test is skipped, and fails under CI.
    fn mount() -> Option<Ext4> {
        let image = tempfile::NamedTempFile::new().unwrap();
        image.as_file().set_len(16 << 20).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let made = run("mkfs.ext4", &["-q", "-F", path_str(image.path())])
            .and_then(|_| run("losetup", &["--find", "--show", path_str(image.path())]));
        let device = match made {
            Ok(device) => device.trim().to_owned(),
            Err(why) => return skip(&why),
        };
        if let Err(why) = run(
            "mount",
            &["-o", "errors=remount-ro", &device, path_str(dir.path())],
        ) {
            let _ = run("losetup", &["-d", &device]);
            return skip(&why);
        }
        Some(Ext4 {
            _image: image,
            device,
            dir,
        })
    }

    /// Where the database goes.
    fn database(&self) -> PathBuf {
        self.dir.path().join("customer-area.db")
    }

    /// Makes the kernel take the file system for damaged, as a failing disk would: ext4 turns it
    /// read-only at once (`errors=remount-ro`), under every file already open on it.
    fn fail(&self) {
        let name = self.device.trim_start_matches("/dev/");
        std::fs::write(format!("/sys/fs/ext4/{name}/trigger_fs_error"), "test\n").unwrap();
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        if run("umount", &[path_str(self.dir.path())]).is_err() {
            let _ = run("umount", &["-l", path_str(self.dir.path())]);
        }
        let _ = run("losetup", &["-d", &self.device]);
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs a system command; its stdout, or why it failed.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    match Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!(
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("{program}: {e}")),
    }
}

fn skip<T>(why: &str) -> Option<T> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "cannot mount an ext4 image for the read-only test under CI: {why}"
    );
    eprintln!("\n!!! SKIPPED: cannot mount an ext4 image ({why}); the read-only test needs root\n");
    None
}

/// Status, `Retry-After` and body of `GET /healthz`.
async fn health(app: &TestApp) -> (StatusCode, Option<String>, Value) {
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, response.json().await.unwrap())
}

/// Status, `Retry-After` and body of renaming the customer.
async fn rename(app: &TestApp, token: &str, name: &str) -> (StatusCode, Option<String>, Value) {
    let response = app
        .client
        .patch(app.url("/customers/self"))
        .bearer_auth(token)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, response.json().await.unwrap())
}

#[tokio::test]
async fn a_full_disk_answers_writes_503_keeps_reads_and_recovers_once_space_returns() {
    crate::sqlite_only!(
        "a full tmpfs under the SQLite file; PostgreSQL's full disk is acknowledged.rs's disk_full trigger"
    );
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let app = spawn_app_with(|c| c.database.path = disk.database()).await;
    let token = app.active_customer("full@example.com").await;
    let filler = disk.fill();

    let (status, retry, body) = rename(&app, &token, "Never Stored").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "unavailable", "{body}");
    assert!(retry.is_some(), "a 503 says when to retry");
    let (status, body) = app.login("full@example.com", crate::common::PASSWORD).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::SERVICE_UNAVAILABLE, &json!("unavailable")),
        "a login needs a session row: {body}"
    );
    let (status, body) = app
        .post(
            "/customers/password_reset",
            json!({"email": "full@example.com", "reset_uri": "/reset"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");

    let body = reads_go_on_and_health_says(&app, &token, "full").await;
    assert_eq!(body["error"], "unavailable", "{body}");

    std::fs::remove_file(filler).unwrap();
    let (status, _, body) = health(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"status": "ok", "database": "ok", "store": "sqlite"})
    );
    let (status, _, body) = rename(&app, &token, "Stored At Last").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.get_self(&token).await.1["name"], "Stored At Last");
}

#[tokio::test]
async fn a_queued_email_waits_out_a_full_disk_and_goes_out_once_space_returns() {
    crate::sqlite_only!("a full tmpfs under the SQLite file");
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let app = spawn_app_with(|c| c.database.path = disk.database()).await;
    app.active_customer("waiting@example.com").await;
    app.smtp.set_mode(Mode::Down);
    app.ask_reset("waiting@example.com").await;
    eventually(PATIENCE, "the reset email is queued", || {
        std::future::ready((app.queued("password_reset") == 1).then_some(()))
    })
    .await;
    let filler = disk.fill();
    // The worker's next attempt (or the record of the one under way) is a write: it runs into
    // the full disk, which /healthz then reports.
    eventually(PATIENCE, "the worker runs into the full disk", || async {
        let (_, _, body) = health(&app).await;
        (body["database"] == "full").then_some(())
    })
    .await;
    app.smtp.set_mode(Mode::Accept);
    std::fs::remove_file(filler).unwrap();
    app.wait_for_email("waiting@example.com", "Reset").await;
}

#[tokio::test]
async fn a_request_acknowledged_as_the_disk_fills_is_resolved_once_space_returns() {
    crate::sqlite_only!("a tmpfs filled to within the SQLite journal's page");
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let app = spawn_app_with(|c| c.database.path = disk.database()).await;
    app.active_customer("last@example.com").await;
    let filler = disk.fill();
    // Room for the journal's one page, not for the pages resolving the request writes.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap();
    file.set_len(file.metadata().unwrap().len() - 12 * 1024)
        .unwrap();
    drop(file);
    app.ask_reset("last@example.com").await;
    eventually(
        PATIENCE,
        "resolving the request runs into the full disk",
        || async {
            let (_, _, body) = health(&app).await;
            (body["database"] == "full").then_some(())
        },
    )
    .await;
    assert_eq!(journaled(&app), 1, "the request waits in the journal");
    assert_eq!(app.queued("password_reset"), 0);
    std::fs::remove_file(filler).unwrap();
    app.wait_for_email("last@example.com", "Reset").await;
    assert_eq!(journaled(&app), 0);
}

#[tokio::test]
async fn a_file_system_that_turns_read_only_under_the_server_answers_writes_503_and_keeps_reads() {
    crate::sqlite_only!("an ext4 under the SQLite file turning read-only");
    let Some(disk) = Ext4::mount() else {
        return;
    };
    let app = spawn_app_with(|c| c.database.path = disk.database()).await;
    let token = app.active_customer("ro@example.com").await;
    disk.fail();

    let (status, retry, body) = rename(&app, &token, "Never Stored").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "unavailable", "{body}");
    assert!(retry.is_some(), "a 503 says when to retry");
    let (status, body) = app
        .post(
            "/customers/password_reset",
            json!({"email": "ro@example.com", "reset_uri": "/reset"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");

    reads_go_on_and_health_says(&app, &token, "read_only").await;
}

/// The customer's profile still reads, and `/healthz` answers 503 (with `Retry-After`) naming
/// `condition`; answers the health body.
async fn reads_go_on_and_health_says(app: &TestApp, token: &str, condition: &str) -> Value {
    let (status, body) = app.get_self(token).await;
    assert_eq!(status, StatusCode::OK, "reads go on: {body}");
    assert_eq!(body["name"], "Test Customer");
    let (status, retry, body) = health(app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["database"], condition, "{body}");
    assert!(retry.is_some(), "a 503 from /healthz says when to retry");
    body
}

/// How many password-reset and sign-up requests wait in the journal: read from the SQLite
/// file opened read-only, which asks nothing of the full disk.
fn journaled(app: &TestApp) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(
        &app.config.database.path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    conn.query_row("SELECT COUNT(*) FROM email_requests", [], |row| row.get(0))
        .unwrap()
}

/// Runs `serve` on `database` and waits for it to end; it must not start.
async fn serve_refuses(database: &Path) -> String {
    let mut child = Binary::new()
        .env("CUSTOMER_AREA_DATABASE_PATH", database)
        .env("CUSTOMER_AREA_AUTH_PBKDF2_ITERATIONS", "1000")
        .env("CUSTOMER_AREA_SERVER_BIND", "127.0.0.1:0")
        .arg("serve")
        .spawn();
    let ended = eventually(PATIENCE, "serve gives up", || {
        std::future::ready(child.try_wait().unwrap())
    })
    .await;
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!ended.success(), "serve started: {stderr}");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(!stdout.contains("listening on"), "{stdout}");
    stderr
}

/// The one line of `stderr` that says why `serve` stopped.
fn reason(stderr: &str, database: &Path) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("customer-area:"))
        .collect();
    assert_eq!(lines.len(), 1, "one line says why:\n{stderr}");
    let expected = format!(
        "customer-area: the database {} cannot be written: ",
        database.display()
    );
    assert!(lines[0].starts_with(&expected), "{stderr}");
    lines[0].to_owned()
}

#[tokio::test]
async fn serve_refuses_a_database_on_a_read_only_file_system_and_says_why() {
    crate::sqlite_only!("a SQLite file on a read-only tmpfs");
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let database = disk.database();
    let migrated = Binary::new()
        .env("CUSTOMER_AREA_DATABASE_PATH", &database)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    disk.remount("ro");
    assert_eq!(
        customer_area::store::health::diagnose(&database),
        Some(customer_area::store::Unwritable::ReadOnly)
    );
    let line = reason(&serve_refuses(&database).await, &database);
    assert!(line.contains("read-only"), "{line}");
    disk.remount("rw");
}

#[tokio::test]
async fn serve_refuses_a_database_on_a_full_disk_and_says_why() {
    crate::sqlite_only!("a SQLite file on a full tmpfs");
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let database = disk.database();
    let migrated = Binary::new()
        .env("CUSTOMER_AREA_DATABASE_PATH", &database)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    disk.fill();
    let line = reason(&serve_refuses(&database).await, &database);
    assert!(line.contains("full"), "{line}");
}
