//! The built binary's mail commands against the SMTP sink: `mail test`, `outbox list`, `outbox retry`.

use std::path::{Path, PathBuf};

use crate::common;
use crate::common::binary::Binary;
use crate::common::smtp::{Mode, SmtpSink};
use crate::common::{PATIENCE, TestApp, eventually, spawn_app, spawn_app_with};
use customer_area::store::sql::params;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A config file for the binary: this database (the SQLite file `database`, or the PostgreSQL
/// database `url` when not empty), plain SMTP to the sink on `port`.
fn write_config(dir: &Path, database: &Path, url: &str, port: u16) -> PathBuf {
    let path = dir.join("cli.toml");
    let text = format!(
        "[database]\npath = {database:?}\nurl = {url:?}\n\n[auth]\npbkdf2_iterations = 1000\n\n\
         [mail]\ntransport = \"smtp\"\nfrom = \"Test Shop <shop@shop.example.com>\"\n\
         shop_name = \"Test Shop\"\n\n\
         [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n",
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the binary; returns whether it succeeded, and its stdout and stderr.
async fn run(config: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = Binary::new()
        .config(config)
        .args(args)
        .envs(env)
        .env("RUST_LOG", "warn")
        .output_async()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn mail_test_sends_one_email_and_prints_the_servers_answer() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start().await;
    // `mail test` opens no database.
    let config = write_config(dir.path(), &dir.path().join("db.sqlite"), "", smtp.port());
    let (ok, stdout, stderr) =
        run(&config, &["mail", "test", "--to", "Ops@Example.com"], &[]).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("250 2.0.0 Ok: queued as SINK1"), "{stdout}");
    let received = smtp.accepted();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt_to, vec!["ops@example.com"]);
    assert_eq!(received[0].mail_from, "shop@shop.example.com");
    let mail = common::Email::parse(&received[0].data);
    assert_eq!(mail.subject, "Test email from Test Shop");
}

#[tokio::test]
async fn mail_test_logs_in_with_the_password_from_the_environment_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start().await;
    // `mail test` opens no database.
    let config = write_config(dir.path(), &dir.path().join("db.sqlite"), "", smtp.port());
    let env = [
        ("CUSTOMER_AREA_MAIL_SMTP_USERNAME", "mailer"),
        ("CUSTOMER_AREA_MAIL_SMTP_PASSWORD", "s3cret-pw"),
    ];
    let (ok, stdout, stderr) =
        run(&config, &["mail", "test", "--to", "ops@example.com"], &env).await;
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(
        smtp.accepted()[0].login.as_deref(),
        Some("mailer\0s3cret-pw")
    );
    assert!(!stdout.contains("s3cret") && !stderr.contains("s3cret"));
}

#[tokio::test]
async fn mail_test_reports_a_refusal_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start().await;
    smtp.set_mode(Mode::Refuse);
    // `mail test` opens no database.
    let config = write_config(dir.path(), &dir.path().join("db.sqlite"), "", smtp.port());
    let (ok, _, stderr) = run(&config, &["mail", "test", "--to", "ops@example.com"], &[]).await;
    assert!(!ok);
    assert!(stderr.contains("550"), "{stderr}");
    let (ok, _, stderr) = run(&config, &["mail", "test", "--to", "not an address"], &[]).await;
    assert!(!ok);
    assert!(stderr.contains("--to"), "{stderr}");
}

#[tokio::test]
async fn outbox_list_shows_a_failed_email_and_retry_sends_it() {
    let app = spawn_app_with(|c| c.auth.allow_signup = true).await;
    app.active_customer("cli@example.com").await;
    app.smtp.set_mode(Mode::Refuse);
    // Signing up again with a taken address sends the "account exists" email: no code in it.
    let (status, _) = app
        .post(
            "/customers/signup",
            json!({"email": "cli@example.com", "name": "Again"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let config = write_config(
        app.dir.path(),
        &app.config.database.path,
        app.config.database.url.expose(),
        app.smtp.port(),
    );

    let failed = wait_for_failed(&app, &config, "account_exists").await;
    assert_eq!(failed["recipient"], "cli@example.com");
    assert_eq!(failed["attempts"], 1);
    assert!(failed["last_error"].as_str().unwrap().contains("550"));
    let (ok, table, _) = run(&config, &["outbox", "list"], &[]).await;
    assert!(
        ok && table.contains("account_exists") && table.contains("failed"),
        "{table}"
    );

    app.smtp.set_mode(Mode::Accept);
    let id = failed["id"].to_string();
    let (ok, stdout, stderr) = run(&config, &["outbox", "retry", &id], &[]).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("requeued 1"), "{stdout}");
    app.wait_for_email("cli@example.com", "already have").await;
    let (ok, _, stderr) = run(&config, &["outbox", "retry", &id], &[]).await;
    assert!(!ok, "a sent email cannot be retried");
    assert!(stderr.contains("not a failed email"), "{stderr}");
}

#[tokio::test]
async fn a_failed_reset_email_keeps_no_code_and_retry_says_why_it_cannot_resend_it() {
    let app = spawn_app().await;
    app.active_customer("gone@example.com").await;
    app.smtp.set_mode(Mode::Refuse);
    let (status, _) = app
        .post(
            "/customers/password_reset",
            json!({"email": "gone@example.com", "reset_uri": "/reset"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let config = write_config(
        app.dir.path(),
        &app.config.database.path,
        app.config.database.url.expose(),
        app.smtp.port(),
    );
    let failed = wait_for_failed(&app, &config, "password_reset").await;
    let id = failed["id"].as_i64().unwrap();
    let raw: Option<Vec<u8>> = app
        .db()
        .query_row("SELECT raw FROM outbox WHERE id = ?1", params![id], |r| {
            r.only()
        })
        .unwrap();
    assert_eq!(raw, None, "the reset link is not kept in a failed email");

    app.smtp.set_mode(Mode::Accept);
    let (ok, stdout, stderr) = run(&config, &["outbox", "retry", &id.to_string()], &[]).await;
    assert!(!ok, "{stdout}{stderr}");
    assert!(
        stderr.contains("carried a one-time code") && stderr.contains("asks for a new one"),
        "{stderr}"
    );
    assert!(
        app.smtp
            .accepted()
            .iter()
            .all(|m| { !common::Email::parse(&m.data).subject.contains("Reset your") })
    );
}

async fn wait_for_failed(app: &TestApp, config: &Path, kind: &str) -> Value {
    let what = format!("a failed {kind} email in {:?}", app.config.database.path);
    eventually(PATIENCE, &what, || async {
        let (ok, stdout, stderr) = run(
            config,
            &["outbox", "list", "--status", "failed", "--json"],
            &[],
        )
        .await;
        assert!(ok, "{stderr}");
        let list: Vec<Value> = serde_json::from_str(&stdout).unwrap();
        list.into_iter().find(|r| r["kind"] == kind)
    })
    .await
}
