//! The built binary: migrations, config refusal, and `serve` on the embedded default.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::common::binary::{Binary, Serving, sigterm};
use crate::common::eventually;

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Binary::new()
        .args(args)
        .in_dir(dir)
        .envs(env)
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn migrate_applies_once_then_reports_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(dir.path(), &["migrate"], &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("applied migration 1"),
        "{}",
        stdout(&first)
    );
    assert!(dir.path().join("customer-area.db").exists());

    let second = run(dir.path(), &["migrate"], &[]);
    assert!(second.status.success());
    assert!(
        stdout(&second).contains("up to date"),
        "{}",
        stdout(&second)
    );

    let status = run(dir.path(), &["migrate", "--status"], &[]);
    assert!(status.status.success());
    assert!(stdout(&status).contains("applied"), "{}", stdout(&status));
    assert!(!stdout(&status).contains("pending"));
}

#[test]
fn migrate_status_on_a_fresh_database_lists_pending_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["migrate", "--status"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("pending"), "{}", stdout(&output));
}

#[test]
fn a_bad_config_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("custom.toml");
    std::fs::write(&config, "[auth]\ntoken_ttl_hours = \"forever\"\n").unwrap();
    let output = run(
        dir.path(),
        &["migrate", "--config", config.to_str().unwrap()],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("auth.token_ttl_hours"),
        "{}",
        stderr(&output)
    );

    std::fs::write(
        dir.path().join("customer-area.toml"),
        "[server]\nbnd = \"x\"\n",
    )
    .unwrap();
    let output = run(dir.path(), &["migrate"], &[]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "./customer-area.toml is read by default"
    );
    assert!(stderr(&output).contains("bnd"), "{}", stderr(&output));
}

#[test]
fn a_bad_environment_override_is_refused_with_the_variable_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &["migrate"],
        &[("CUSTOMER_AREA_AUTH_PBKDF2_ITERATIONS", "lots")],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("CUSTOMER_AREA_AUTH_PBKDF2_ITERATIONS"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_missing_config_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["migrate", "--config", "nowhere.toml"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("nowhere.toml"));
}

#[test]
fn customers_create_writes_the_activation_email_to_the_outbox_folder() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &[
            "customers",
            "create",
            "--email",
            "Ada@Example.com",
            "--name",
            "Ada",
            "--identifier",
            "test-user-1",
        ],
        &[("CUSTOMER_AREA_AUTH_PBKDF2_ITERATIONS", "1000")],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("test-user-1"));
    let emails: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .collect();
    assert_eq!(emails.len(), 1);
    let raw = std::fs::read_to_string(emails[0].as_ref().unwrap().path()).unwrap();
    assert!(raw.contains("To: <ada@example.com>"));
    assert!(
        raw.contains("http://localhost:8080/activate?identifier=test-user-1&secret="),
        "{raw}"
    );

    let again = run(
        dir.path(),
        &[
            "customers",
            "create",
            "--email",
            "ada@example.com",
            "--name",
            "Ada",
        ],
        &[],
    );
    assert!(!again.status.success(), "a duplicate email is refused");
    assert!(stderr(&again).contains("email"), "{}", stderr(&again));
}

#[tokio::test]
async fn serve_runs_on_the_embedded_default_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // Everything default except the port, so the test never collides with a real 8080.
    let Serving {
        mut child,
        port,
        banner,
        ..
    } = Binary::new().in_dir(dir.path()).serve();
    assert!(
        banner.contains("listening on  http://127.0.0.1:"),
        "{banner}"
    );
    assert!(
        banner.contains("database      customer-area.db"),
        "{banner}"
    );
    assert!(
        banner.contains("mail goes to  files in outbox/"),
        "{banner}"
    );
    assert!(
        banner.contains("created new database at customer-area.db"),
        "a new, empty database is said in the banner: {banner}"
    );
    assert!(dir.path().join("customer-area.db").exists());

    let health = std::net::TcpStream::connect(format!("127.0.0.1:{port}"));
    assert!(health.is_ok(), "the server accepts connections");

    sigterm(&child);
    let status = eventually(Duration::from_secs(15), "serve stops after SIGTERM", || {
        std::future::ready(child.try_wait().unwrap())
    })
    .await;
    assert!(status.success(), "exit status {status:?}");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("shut down cleanly"), "{log}");
    // The WAL was checkpointed into the main file on the way out.
    let wal = dir.path().join("customer-area.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}

#[tokio::test]
async fn serve_on_an_existing_database_does_not_call_it_new() {
    let dir = tempfile::tempdir().unwrap();
    let migrated = run(dir.path(), &["migrate"], &[]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let Serving {
        mut child, banner, ..
    } = Binary::new().in_dir(dir.path()).serve();
    sigterm(&child);
    eventually(Duration::from_secs(15), "serve stops after SIGTERM", || {
        std::future::ready(child.try_wait().unwrap())
    })
    .await;
    assert!(
        banner.contains("database      customer-area.db"),
        "{banner}"
    );
    assert!(!banner.contains("created new database"), "{banner}");
}

#[test]
fn a_database_that_cannot_be_opened_stops_serve_with_one_message_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // A folder where the database file should be.
    std::fs::create_dir(dir.path().join("customer-area.db")).unwrap();
    let output = run(
        dir.path(),
        &["serve"],
        &[("CUSTOMER_AREA_SERVER_BIND", "127.0.0.1:0")],
    );
    assert!(!output.status.success());
    let said = stderr(&output);
    assert_eq!(
        said.matches("cannot open database customer-area.db")
            .count(),
        1,
        "said once: {said}"
    );
}

#[test]
fn a_file_where_the_database_folder_should_be_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data"), "").unwrap();
    let output = run(
        dir.path(),
        &["serve"],
        &[
            ("CUSTOMER_AREA_DATABASE_PATH", "data/customer-area.db"),
            ("CUSTOMER_AREA_SERVER_BIND", "127.0.0.1:0"),
        ],
    );
    assert!(!output.status.success());
    let said = stderr(&output);
    assert!(
        said.contains("cannot create the database's folder data"),
        "{said}"
    );
}

/// Starts `serve` in `dir` bound to `bind`, stops it once its banner is out, and answers the
/// banner and everything it logged.
async fn serve_once(dir: &Path, bind: &str) -> (String, String) {
    let mut child = Binary::new()
        .in_dir(dir)
        .arg("serve")
        .env("CUSTOMER_AREA_SERVER_BIND", bind)
        .spawn();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    while !banner.contains("mail goes to") {
        let read = std::io::BufRead::read_line(&mut stdout, &mut banner).unwrap();
        assert!(read > 0, "serve ended before its banner:\n{banner}");
    }
    sigterm(&child);
    eventually(Duration::from_secs(15), "serve stops after SIGTERM", || {
        std::future::ready(child.try_wait().unwrap())
    })
    .await;
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    (banner, log)
}

#[tokio::test]
async fn serve_warns_when_mail_goes_to_files_and_it_listens_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let (banner, log) = serve_once(dir.path(), "0.0.0.0:0").await;
    assert!(
        banner.contains("mail goes to  files in outbox/"),
        "{banner}"
    );
    assert!(
        log.contains("WARN") && log.contains("no customer gets an email"),
        "{log}"
    );
    let (_, log) = serve_once(dir.path(), "127.0.0.1:0").await;
    assert!(!log.contains("no customer gets an email"), "{log}");
}

#[tokio::test]
async fn files_and_folders_are_the_owner_s_alone_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("CUSTOMER_AREA_DATABASE_PATH", "data/customer-area.db"),
        ("CUSTOMER_AREA_MAIL_DIR", "mail/outbox"),
        ("CUSTOMER_AREA_AUTH_PBKDF2_ITERATIONS", "1000"),
    ];
    let binary = || Binary::under_umask("000").in_dir(dir.path()).envs(&env);
    let created = binary()
        .args([
            "customers",
            "create",
            "--email=ada@example.com",
            "--name=Ada",
        ])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", stderr(&created));
    let Serving { child, .. } = binary().serve();
    let backup = binary().args(["backup", "copy.db"]).output().unwrap();
    assert!(backup.status.success(), "{}", stderr(&backup));
    let mode = |path: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    };
    let email = std::fs::read_dir(dir.path().join("mail/outbox"))
        .unwrap()
        .next()
        .expect("the activation email was written")
        .unwrap()
        .path();
    // While serve runs: its WAL, shared memory and lock are there too.
    let mut files = vec![email, dir.path().join("copy.db")];
    for suffix in ["", "-wal", "-shm", ".lock"] {
        files.push(dir.path().join(format!("data/customer-area.db{suffix}")));
    }
    let folders = ["data", "mail", "mail/outbox"].map(|f| dir.path().join(f));
    let modes: Vec<_> = files.iter().chain(&folders).map(|p| (p, mode(p))).collect();
    sigterm(&child);
    for (path, mode) in modes {
        let wanted = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, wanted, "{}: {mode:o}", path.display());
    }
}
