//! The built binary as an operator runs it on a server: one config for the service and the
//! admin commands (paths from the config's directory, secrets from files), the admin commands
//! only as the database's owner, one server per database, the version and schema upgrades.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::binary::{Binary, sigterm};
use crate::common::smtp::SmtpSink;
use crate::common::{PATIENCE, TestDb, wait_until};
use customer_area::store::sql::params;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `body` as the config file `name` in `dir`; returns its path.
fn config_file(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, format!("[auth]\npbkdf2_iterations = 1000\n\n{body}")).unwrap();
    path
}

/// The `[database]` section of a config in `config_dir` with the SQLite file at `path`
/// (relative to `config_dir`), and the database it names: a fresh PostgreSQL database instead
/// when the suite runs on PostgreSQL.
fn database_section(config_dir: &Path, path: &str) -> (String, TestDb) {
    match crate::common::postgres_server() {
        Some(server) => {
            let url = crate::common::fresh_postgres_database(&server);
            (
                format!("[database]\npath = {path:?}\nurl = {url:?}\n"),
                TestDb::Postgres(url),
            )
        }
        None => (
            format!("[database]\npath = {path:?}\n"),
            TestDb::Sqlite(config_dir.join(path)),
        ),
    }
}

fn run(config: &Path, args: &[&str]) -> Output {
    Binary::new()
        .config(config)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// `nobody`, the unprivileged user every Debian system has.
const NOBODY: u32 = 65534;

#[test]
fn an_admin_command_run_as_another_user_than_the_databases_owner_is_refused_with_the_command_to_use()
 {
    crate::sqlite_only!("the owner of the SQLite database file");
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), "area.toml", "[database]\npath = \"area.db\"\n");
    assert!(run(&config, &["migrate"]).status.success());
    let database = dir.path().join("area.db");
    std::os::unix::fs::chown(&database, Some(NOBODY), Some(NOBODY)).unwrap();

    let output = run(&config, &["customers", "list"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "the database {} belongs to user nobody",
            database.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "runuser -u nobody -- {} --config {} customers list",
            crate::common::binary::PATH,
            config.display()
        )),
        "{stderr}"
    );
    let owner =
        |path: &Path| std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(path).unwrap());
    assert_eq!(owner(&database), NOBODY, "the refusal touched nothing");
}

#[test]
fn an_admin_command_creating_a_database_in_another_users_directory_is_refused() {
    crate::sqlite_only!("the owner of the SQLite database file's directory");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(NOBODY), Some(NOBODY)).unwrap();
    let config = config_file(
        dir.path(),
        "area.toml",
        "[database]\npath = \"state/area.db\"\n",
    );
    let output = run(&config, &["migrate"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("the directory of the database") && stderr.contains("runuser -u nobody"),
        "{stderr}"
    );
    assert!(!state.join("area.db").exists(), "no root-owned database");
}

#[test]
fn relative_paths_in_the_config_are_taken_from_its_directory_not_the_shells() {
    let dir = tempfile::tempdir().unwrap();
    let (database, _) = database_section(&dir.path().join("etc"), "data/area.db");
    let config = config_file(
        dir.path(),
        "etc/area.toml",
        &format!("{database}\n[mail]\ndir = \"mail\"\n"),
    );
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let output = Binary::new()
        .config(&config)
        .args([
            "customers",
            "create",
            "--email",
            "ada@example.com",
            "--name",
            "Ada",
        ])
        .in_dir(&elsewhere)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mails = std::fs::read_dir(dir.path().join("etc/mail"))
        .unwrap()
        .count();
    assert_eq!(mails, 1, "the activation email is in the config's mail.dir");
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing lands in the working directory"
    );
    crate::sqlite_only!("where the SQLite database file lands");
    assert!(dir.path().join("etc/data/area.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_serve_on_one_database_is_refused_naming_the_first_and_admin_commands_still_work()
{
    let dir = tempfile::tempdir().unwrap();
    let (database, db) = database_section(dir.path(), "area.db");
    let config = config_file(dir.path(), "area.toml", &database);
    let mut first = Binary::new().config(&config).serve();

    // On PostgreSQL several servers share one database by design: only SQLite's is refused.
    if db.is_postgres() {
        eprintln!("SKIPPED on PostgreSQL: the second serve's refusal (SQLite's lock)");
    } else {
        let second = Binary::new()
            .config(&config)
            .arg("serve")
            .env("CUSTOMER_AREA_SERVER_BIND", "127.0.0.1:0")
            .output_async()
            .await
            .unwrap();
        assert_eq!(second.status.code(), Some(1));
        let stderr = text(&second.stderr);
        assert!(
            stderr.contains(&format!(
                "another customer-area serve (PID {}) is already running",
                first.child.id()
            )),
            "{stderr}"
        );
        assert!(stderr.contains("area.db"), "{stderr}");
    }

    let created = Binary::new()
        .config(&config)
        .args([
            "customers",
            "create",
            "--email",
            "bo@example.com",
            "--name",
            "Bo",
        ])
        .output_async()
        .await
        .unwrap();
    assert!(created.status.success(), "{}", text(&created.stderr));
    let listed = run(&config, &["customers", "list"]);
    assert!(text(&listed.stdout).contains("bo@example.com"));

    sigterm(&first.child);
    assert!(first.child.wait().unwrap().success());
    let mut again = Binary::new().config(&config).serve();
    sigterm(&again.child);
    assert!(
        again.child.wait().unwrap().success(),
        "free once the first stopped"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_from_files_reach_the_server_and_the_admin_commands() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start().await;
    std::fs::write(dir.path().join("smtp-password"), "pw-from-file\n").unwrap();
    std::fs::write(
        dir.path().join("admin-token"),
        "token-from-a-file-0123456789\n",
    )
    .unwrap();
    let (database, _) = database_section(dir.path(), "area.db");
    let config = config_file(
        dir.path(),
        "area.toml",
        &format!(
            "{database}\n[admin]\napi_token_file = \"admin-token\"\n\n\
             [mail]\ntransport = \"smtp\"\nfrom = \"Shop <shop@shop.example.com>\"\n\n\
             [mail.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"mailer\"\n\
             password_file = \"smtp-password\"\n",
            smtp.port()
        ),
    );
    let created = Binary::new()
        .config(&config)
        .args([
            "customers",
            "create",
            "--email",
            "cli@example.com",
            "--name",
            "Cli",
        ])
        .output_async()
        .await
        .unwrap();
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert_eq!(smtp.accepted().len(), 1, "the command delivered at once");
    assert_eq!(
        smtp.accepted()[0].login.as_deref(),
        Some("mailer\0pw-from-file")
    );

    let mut serving = Binary::new().config(&config).quiet().serve();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/admin/customers", serving.port);
    let answer = client
        .post(&url)
        .bearer_auth("token-from-a-file-0123456789")
        .json(&serde_json::json!({"email": "api@example.com", "name": "Api"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let wrong = client
        .get(&url)
        .bearer_auth("another-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    wait_until(PATIENCE, "the server's activation email", || {
        smtp.accepted().len() == 2
    })
    .await;
    assert_eq!(
        smtp.accepted()[1].login.as_deref(),
        Some("mailer\0pw-from-file")
    );
    sigterm(&serving.child);
    assert!(serving.child.wait().unwrap().success());
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let output = Binary::new().arg("--version").output().unwrap();
    let version = text(&output.stdout);
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(head.status.success(), "the tests run in a git checkout");
    let expected = format!(
        "customer-area {} (commit {})",
        env!("CARGO_PKG_VERSION"),
        text(&head.stdout).trim()
    );
    assert_eq!(version.trim(), expected);
}

#[test]
fn a_database_newer_than_the_binary_is_named_by_migrate_status_and_refused_by_serve() {
    let dir = tempfile::tempdir().unwrap();
    let (database, db) = database_section(dir.path(), "area.db");
    let config = config_file(dir.path(), "area.toml", &database);
    assert!(run(&config, &["migrate"]).status.success());
    db.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'loyalty points', 0)",
        params![],
    )
    .unwrap();

    let status = run(&config, &["migrate", "--status"]);
    assert_eq!(status.status.code(), Some(1));
    let stdout = text(&status.stdout);
    assert!(
        stdout.contains("99 loyalty points") && stdout.contains("by a newer customer-area"),
        "{stdout}"
    );
    let message = "the database has schema version 99, newer than this customer-area";
    assert!(
        text(&status.stderr).contains(message),
        "{}",
        text(&status.stderr)
    );

    let serve = Binary::new()
        .config(&config)
        .arg("serve")
        .env("CUSTOMER_AREA_SERVER_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(1));
    assert!(
        text(&serve.stderr).contains(message),
        "{}",
        text(&serve.stderr)
    );
}

/// The value of `customer_area_emails_suppressed_total` for `kind` and `reason`, if present.
async fn suppressed(app: &crate::common::TestApp, kind: &str, reason: &str) -> Option<u64> {
    let text = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series =
        format!("customer_area_emails_suppressed_total{{kind=\"{kind}\",reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .map(|value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn reset_emails_held_back_by_the_address_allowance_or_a_pending_account_are_counted() {
    let app = crate::common::spawn_app().await;
    app.active_customer("busy@example.com").await;
    app.create_customer("pending@example.com", "Pending").await;
    assert_eq!(
        suppressed(&app, "password_reset", "address_allowance").await,
        None
    );

    app.ask_reset("busy@example.com").await;
    app.ask_reset("busy@example.com").await;
    crate::common::eventually(PATIENCE, "the allowance suppression counted", || async {
        (suppressed(&app, "password_reset", "address_allowance").await == Some(1)).then_some(())
    })
    .await;
    app.ask_reset("pending@example.com").await;
    crate::common::eventually(
        PATIENCE,
        "the pending account's suppression counted",
        || async {
            (suppressed(&app, "password_reset", "account_pending").await == Some(1)).then_some(())
        },
    )
    .await;
    assert_eq!(
        app.queued("password_reset"),
        1,
        "one reset email, for the first request"
    );
}

#[tokio::test]
async fn sign_up_emails_held_back_by_the_address_allowance_are_counted() {
    let app = crate::common::spawn_app_with(|c| c.auth.allow_signup = true).await;
    let signup = || {
        app.post(
            "/customers/signup",
            serde_json::json!({"email": "eager@example.com", "name": "Eager"}),
        )
    };
    assert_eq!(signup().await.0, reqwest::StatusCode::OK);
    assert_eq!(signup().await.0, reqwest::StatusCode::OK);
    crate::common::eventually(PATIENCE, "the sign-up suppression counted", || async {
        (suppressed(&app, "signup", "address_allowance").await == Some(1)).then_some(())
    })
    .await;
    assert_eq!(
        app.queued("activation"),
        1,
        "one activation email, for the first sign-up"
    );
}

/// `serve` run as `nobody` from a copy of the binary in `dir` (which nobody can reach), on
/// `dir/area.db`.
fn serve_as_nobody(dir: &Path) -> Output {
    use std::os::unix::process::CommandExt;
    let binary = dir.join("customer-area");
    std::fs::copy(crate::common::binary::PATH, &binary).unwrap();
    std::process::Command::new(&binary)
        .args(["serve", "--config"])
        .arg(dir.join("area.toml"))
        .env("CUSTOMER_AREA_SERVER_BIND", "127.0.0.1:0")
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap()
}

#[test]
fn serve_as_a_user_who_may_not_write_the_database_says_permission_denied_in_one_line() {
    use std::os::unix::fs::PermissionsExt;
    crate::sqlite_only!("file permissions on the SQLite database and its directory");
    if !rustix::process::geteuid().is_root() {
        assert!(
            std::env::var("CI").is_err(),
            "CI runs as root: the permission test must run"
        );
        eprintln!("\n!!! SKIPPED: the permission-denied test needs root to run serve as nobody\n");
        return;
    }
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    // A file restored as root into the service's directory; then a directory the service's
    // user may not create the -wal and -shm files in.
    for (dir_mode, file_mode) in [(0o777, 0o644), (0o755, 0o666)] {
        let dir = tempfile::tempdir().unwrap();
        let config = config_file(dir.path(), "area.toml", "[database]\npath = \"area.db\"\n");
        assert!(run(&config, &["migrate"]).status.success());
        let database = dir.path().join("area.db");
        mode(dir.path(), dir_mode);
        mode(&database, file_mode);

        let output = serve_as_nobody(dir.path());
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let stderr = text(&output.stderr);
        assert_eq!(
            stderr.lines().count(),
            1,
            "one line, no pool retrying first: {stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "the database {} cannot be written",
                database.display()
            )),
            "{stderr}"
        );
        assert!(stderr.contains("permission denied"), "{stderr}");
    }
}
