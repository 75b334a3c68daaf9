//! Several instances on one PostgreSQL database, as behind a load balancer: what one instance
//! writes (a session, a one-time code, a failed login) holds on the other; the two mail workers
//! share one outbox and send each email once; a killed instance's leased email waits out its
//! lease and is sent by the survivor; and a SQLite customer area copied with `db copy` keeps
//! its passwords, sessions, queued emails and staff passkeys.
//!
//! These need PostgreSQL whatever the suite runs on: without `CUSTOMER_AREA_TEST_POSTGRES` they
//! say loudly that they checked nothing (`.ci/run` runs the suite on PostgreSQL too).

use std::collections::BTreeMap;
use std::num::NonZero;
use std::time::Duration;

use crate::common::binary::Binary;
use crate::common::db::TestDb;
use crate::common::passkey::{SHOP_ORIGIN, STAFF, SoftAuthenticator};
use crate::common::smtp::{Mode, SmtpSink};
use crate::common::{
    PASSWORD, PATIENCE, Stopped, TestApp, boot, eventually, fresh_postgres_database,
    postgres_or_skip, spawn_app_with, wait_until,
};
use customer_area::config::{Config, Secret};
use customer_area::domain::Role;
use customer_area::store::now;
use customer_area::store::sql::params;
use reqwest::StatusCode;
use serde_json::json;

/// Two instances on one fresh PostgreSQL database, both mailing one sink: the first logs in to
/// it as `first`, the second as `second`, so that each email says which instance sent it.
async fn two_instances(adjust: impl Fn(&mut Config)) -> (TestApp, TestApp) {
    let first = spawn_app_with(|c| {
        c.mail.smtp.username = "first".into();
        c.mail.smtp.password = Secret::new("secret".to_owned());
        adjust(c);
    })
    .await;
    let second = another_instance(&first, "second").await;
    (first, second)
}

/// Another instance on `of`'s database and sink, with a directory and a port of its own,
/// logging in to the sink as `user`.
async fn another_instance(of: &TestApp, user: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = of.config.clone();
    config.database.path = dir.path().join("customer-area.db");
    config.mail.dir = dir.path().join("outbox");
    config.mail.smtp.username = user.into();
    boot(config, dir, of.smtp.clone()).await
}

/// Which instance (SMTP user) delivered each email the sink accepted, counted.
fn senders(smtp: &SmtpSink) -> BTreeMap<String, usize> {
    let mut senders = BTreeMap::new();
    for received in smtp.accepted() {
        let login = received.login.unwrap_or_default();
        let user = login.split('\0').next().unwrap_or_default().to_owned();
        *senders.entry(user).or_default() += 1;
    }
    senders
}

#[tokio::test]
async fn instances_starting_together_on_an_empty_database_migrate_it_once() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let url = fresh_postgres_database(&server);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let smtp = SmtpSink::start().await;
    let configs: Vec<Config> = dirs
        .iter()
        .map(|dir| {
            let mut config = crate::common::test_config(dir.path(), smtp.port());
            config.database.url = Secret::new(url.clone());
            config
        })
        .collect();
    let (a, b) = tokio::join!(
        customer_area::app::App::build(configs[0].clone()),
        customer_area::app::App::build(configs[1].clone()),
    );
    let (a, b) = (
        a.expect("the first instance starts"),
        b.expect("the second"),
    );
    // One of them applied every migration, the other found them applied.
    let applied = a.applied_migrations().len() + b.applied_migrations().len();
    let versions: i64 = TestDb::Postgres(url.clone())
        .query_row("SELECT count(*) FROM schema_migrations", params![], |row| {
            row.only()
        })
        .unwrap();
    assert_eq!(applied as i64, versions);
    assert!(
        a.applied_migrations().is_empty() || b.applied_migrations().is_empty(),
        "only one instance migrates"
    );
    let (a, b) = (a.spawn(), b.spawn());
    for running in [&a, &b] {
        let health: serde_json::Value = reqwest::get(format!("http://{}/healthz", running.addr))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["store"], "postgres", "{health}");
    }
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test]
async fn a_session_made_on_one_instance_holds_on_the_other_and_ends_on_both() {
    if postgres_or_skip().is_none() {
        return;
    }
    let (first, second) = two_instances(|_| {}).await;
    let token = first.active_customer("ann@example.com").await;

    let (status, body) = second.get_self(&token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["email"], "ann@example.com");

    // A change through one instance is what the other reads next.
    let (status, body) = second.patch_self(&token, json!({"name": "Ann B."})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = first.get_self(&token).await;
    assert_eq!(body["name"], "Ann B.");

    // Logging out on one instance ends the token on both.
    let (status, body) = second
        .call(
            reqwest::Method::POST,
            "/customers/logout",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for instance in [&first, &second] {
        let (status, _) = instance.get_self(&token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_code_issued_by_one_instance_is_spent_on_the_other_once() {
    if postgres_or_skip().is_none() {
        return;
    }
    let (first, second) = two_instances(|_| {}).await;

    // Activation: the account is made on the first, the emailed secret used on the second.
    first.create_customer("bo@example.com", "Bo").await;
    let mail = first.wait_for_email("bo@example.com", "Activate").await;
    let activate = json!({
        "identifier": mail.link_param("https://shop.example.com/activate", "identifier"),
        "secret": mail.link_param("https://shop.example.com/activate", "secret"),
        "password": PASSWORD,
        "password_check": PASSWORD,
    });
    let (status, body) = second.post("/customers/activate", activate.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = first.post("/customers/activate", activate).await;
    assert_ne!(status, StatusCode::OK, "the secret works once: {body}");
    second.token("bo@example.com", PASSWORD).await;

    // Password reset: asked on the second, the code spent on the first, refused again on the
    // second.
    second.ask_reset("bo@example.com").await;
    let mail = first.wait_for_email("bo@example.com", "Reset your").await;
    const LINK: &str = "https://shop.example.com/reset/";
    let code = mail.link(LINK)[LINK.len()..].to_owned();
    let reset = json!({"email": "bo@example.com", "code": code});
    let (status, body) = first.post("/customers/do_reset", reset.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = second.post("/customers/do_reset", reset).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // The old password died with the reset, on both.
    for instance in [&first, &second] {
        let (status, _) = instance.login("bo@example.com", PASSWORD).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn failed_logins_on_both_instances_count_toward_one_lockout() {
    if postgres_or_skip().is_none() {
        return;
    }
    let (first, second) = two_instances(|c| {
        c.limits.login_free_failures = 100_000;
        c.limits.login_per_ip_per_minute = NonZero::new(100_000).unwrap();
        c.limits.login_lockout_failures = NonZero::new(6).unwrap();
    })
    .await;
    first.active_customer("cy@example.com").await;
    for instance in [&first, &second, &first, &second, &first, &second] {
        let (status, _) = instance.login("cy@example.com", "wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // A failure is recorded right after its answer.
    let db = first.db();
    let state = || -> (i64, bool) {
        db.query_row(
            "SELECT failed_logins, locked_at IS NOT NULL AS locked FROM customers WHERE email = ?1",
            params!["cy@example.com"],
            |row| Ok((row.get("failed_logins")?, row.get("locked")?)),
        )
        .unwrap()
    };
    wait_until(
        PATIENCE,
        "six failures over two instances lock the account",
        || state() == (6, true),
    )
    .await;
    for instance in [&first, &second] {
        let (status, _) = instance.login("cy@example.com", PASSWORD).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "locked on both");
    }
}

/// Creates the customers `c{from}`, `c{from + 2}`, ... below `EMAILS` through `instance`, each
/// with an activation email.
async fn queue(instance: &TestApp, from: usize, emails: usize) {
    for n in (from..emails).step_by(2) {
        instance
            .create_customer(&format!("c{n}@example.com"), "C")
            .await;
    }
}

#[tokio::test]
async fn requests_on_both_instances_draw_from_one_allowance_per_address() {
    if postgres_or_skip().is_none() {
        return;
    }
    let (first, second) = two_instances(|c| {
        c.limits.emails_per_address_per_minute = NonZero::new(2).unwrap();
        c.limits.emails_per_address_per_hour = NonZero::new(100).unwrap();
    })
    .await;
    first.active_customer("di@example.com").await;
    for instance in [&first, &second, &first, &second] {
        instance.ask_reset("di@example.com").await;
    }
    // Every journaled request resolved (by either instance, each once): two emails, not the
    // four that two allowances of two would let through.
    let db = first.db();
    wait_until(PATIENCE, "every request is resolved", || {
        db.query_row("SELECT count(*) FROM email_requests", params![], |row| {
            row.only::<i64>()
        })
        .unwrap()
            == 0
    })
    .await;
    assert_eq!(first.queued("password_reset"), 2);
}

#[tokio::test]
async fn an_unsubscribe_link_made_by_one_instance_works_on_the_other() {
    if postgres_or_skip().is_none() {
        return;
    }
    const ADMIN: &str = "admin-token-for-tests-0123456789";
    let (first, second) = two_instances(|c| {
        c.admin.api_token = Secret::new(ADMIN);
        c.links.public_url = "https://ca.example.com".into();
    })
    .await;
    first.add_newsletter(ADMIN).await;
    let token = first.active_customer("ed@example.com").await;
    let (status, body) = first
        .patch_self(&token, json!({"subscriptions": ["newsletter"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, members) = first
        .call(
            reqwest::Method::GET,
            "/admin/subscriptions/newsletter/members",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{members}");
    let url = members["members"][0]["unsubscribe_url"].as_str().unwrap();
    let path = url.strip_prefix("https://ca.example.com").unwrap();
    let response = second
        .client
        .post(second.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "signed by the one key both share"
    );
    let (_, body) = first.get_self(&token).await;
    assert_eq!(body["subscriptions"], json!([]));
}

#[tokio::test]
async fn with_both_mail_workers_running_five_hundred_emails_are_each_delivered_once() {
    if postgres_or_skip().is_none() {
        return;
    }
    const EMAILS: usize = 500;
    let (first, second) = two_instances(|_| {}).await;
    // Each instance queues half (and wakes its own worker); both workers lease from one outbox.
    tokio::join!(queue(&first, 0, EMAILS), queue(&second, 1, EMAILS));

    let db = first.db();
    eventually(Duration::from_secs(120), "every email is sent", || {
        let sent: i64 = db
            .query_row(
                "SELECT count(*) FROM outbox WHERE status = 'sent'",
                params![],
                |row| row.only(),
            )
            .unwrap();
        std::future::ready((sent == EMAILS as i64).then_some(()))
    })
    .await;
    // Stopped, each worker has finished the email in hand: nothing more can arrive.
    let smtp = first.smtp.clone();
    first.running.stop().await.unwrap();
    second.running.stop().await.unwrap();

    let accepted = smtp.accepted();
    let mut per_recipient: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    let mut message_ids = std::collections::BTreeSet::new();
    for received in &accepted {
        *per_recipient.entry(received.rcpt_to.clone()).or_default() += 1;
        message_ids.insert(crate::common::Email::parse(&received.data).message_id);
    }
    assert_eq!(accepted.len(), EMAILS, "each email once");
    assert_eq!(per_recipient.len(), EMAILS, "every customer got one");
    assert_eq!(message_ids.len(), EMAILS, "no Message-ID twice");
    let senders = senders(&smtp);
    assert_eq!(senders.len(), 2, "both workers delivered: {senders:?}");
    eprintln!("delivered per instance: {senders:?}");
}

#[tokio::test]
async fn a_killed_instance_holding_a_lease_delays_that_email_and_loses_none() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    const EMAILS: usize = 5;
    let url = fresh_postgres_database(&server);
    // The doomed instance's SMTP server accepts connections and never answers, so that its
    // worker sits on a leased email (for up to the 60 s connect timeout, renewing the 30 s
    // lease) when it is killed.
    let tarpit = SmtpSink::start().await;
    tarpit.set_mode(Mode::Tarpit);
    let tarpit_port = tarpit.port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut doomed = Binary::new()
        .in_dir(dir.path())
        .envs(&[
            ("CUSTOMER_AREA_DATABASE_URL", url.as_str()),
            ("CUSTOMER_AREA_AUTH_PBKDF2_ITERATIONS", "1000"),
            ("CUSTOMER_AREA_AUTH_ALLOW_SIGNUP", "true"),
            (
                "CUSTOMER_AREA_LINKS_RETAILER_URL",
                "https://shop.example.com",
            ),
            ("CUSTOMER_AREA_MAIL_TRANSPORT", "smtp"),
            ("CUSTOMER_AREA_MAIL_SMTP_HOST", "127.0.0.1"),
            ("CUSTOMER_AREA_MAIL_SMTP_PORT", &tarpit_port),
            ("CUSTOMER_AREA_MAIL_SMTP_TLS", "none"),
            ("CUSTOMER_AREA_MAIL_SMTP_CONNECT_TIMEOUT_SECONDS", "60"),
            ("CUSTOMER_AREA_MAIL_SMTP_COMMAND_TIMEOUT_SECONDS", "1"),
            ("CUSTOMER_AREA_MAIL_RETRY_FIRST_SECONDS", "1"),
            ("CUSTOMER_AREA_MAIL_RETRY_MAX_SECONDS", "1"),
        ])
        .quiet()
        .serve();
    let base = format!("http://127.0.0.1:{}", doomed.port);
    let client = reqwest::Client::new();
    for n in 0..EMAILS {
        let response = client
            .post(format!("{base}/customers/signup"))
            .json(&json!({"email": format!("k{n}@example.com"), "name": "K"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let db = TestDb::Postgres(url.clone());
    let leased = || -> Vec<(i64, i64)> {
        db.query_map(
            "SELECT id, locked_until FROM outbox WHERE status = 'queued' AND locked_until > ?1",
            params![now()],
            |row| Ok((row.get("id")?, row.get("locked_until")?)),
        )
        .unwrap()
    };
    let first: Vec<(i64, i64)> =
        eventually(PATIENCE, "the doomed instance leases an email", || {
            let held = leased();
            std::future::ready((!held.is_empty()).then_some(held))
        })
        .await;
    // An attempt that outlasts the first lease renews it.
    eventually(PATIENCE * 2, "the attempt renews its lease", || {
        let renewed = leased()
            .iter()
            .any(|&(id, until)| id == first[0].0 && until > first[0].1);
        std::future::ready(renewed.then_some(()))
    })
    .await;
    let killed_at = now();
    doomed.child.kill().unwrap(); // SIGKILL: no graceful stop gives the lease back.
    doomed.child.wait().unwrap();
    let held = leased();
    assert_eq!(
        held.len(),
        1,
        "the worker leases one email at a time: {held:?}"
    );
    let (held_id, held_until) = held[0];

    // The survivor mails a working sink.
    let smtp = SmtpSink::start().await;
    let survivor_dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(survivor_dir.path(), smtp.port());
    config.database.url = Secret::new(url.clone());
    let survivor = boot(config, survivor_dir, smtp.clone()).await;

    // The emails nobody held go out at once; the held one stays queued until its lease ends.
    eventually(PATIENCE, "the emails no one held are sent", || {
        std::future::ready((smtp.accepted().len() == EMAILS - 1).then_some(()))
    })
    .await;
    let status: String = db
        .query_row(
            "SELECT status FROM outbox WHERE id = ?1",
            params![held_id],
            |row| row.only(),
        )
        .unwrap();
    if now() < held_until {
        assert_eq!(status, "queued", "the lease is respected while it lasts");
    }
    let wait = Duration::from_secs((held_until - now()).max(0) as u64) + PATIENCE * 3;
    eventually(
        wait,
        "the held email is sent once its lease runs out",
        || std::future::ready((smtp.accepted().len() == EMAILS).then_some(())),
    )
    .await;
    let sent_at: i64 = db
        .query_row(
            "SELECT sent_at FROM outbox WHERE id = ?1 AND status = 'sent'",
            params![held_id],
            |row| row.only(),
        )
        .unwrap();
    assert!(
        sent_at >= held_until,
        "sent at {sent_at}, leased until {held_until}"
    );
    // The lease outlives its last renewal by 30 s at most: the takeover is that quick.
    assert!(
        held_until - killed_at <= 31,
        "leased until {held_until}, killed at {killed_at}"
    );
    survivor.running.stop().await.unwrap();
    let mut recipients: Vec<Vec<String>> = smtp.accepted().into_iter().map(|r| r.rcpt_to).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), EMAILS, "each once, none lost");
    assert!(tarpit.accepted().is_empty());
}

#[tokio::test]
async fn a_sqlite_customer_area_copied_to_postgresql_keeps_passwords_sessions_queued_emails_and_staff_passkeys()
 {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    // The source runs on SQLite, whatever the suite runs on.
    let source = spawn_app_with(|c| c.database.url = Secret::default()).await;
    let tokens = [
        source.active_customer("dee@example.com").await,
        source.active_customer("eli@example.com").await,
    ];
    // A pending customer of long ago, for the counters, which are made again from the copy.
    source.create_customer("pat@example.com", "Pat").await;
    source
        .db()
        .execute(
            "UPDATE customers SET created_at = created_at - 400 * 86400 WHERE email = ?1",
            params!["pat@example.com"],
        )
        .unwrap();
    let counted = crate::counters::counted(&source.db());
    assert_eq!(crate::counters::kept(&source.db()), counted);
    // A staff member whose second factor is a passkey, kept in a table of its own.
    let mut office_key = SoftAuthenticator::new(SHOP_ORIGIN);
    let staff_token = source
        .staff_token("owner@shop.example.com", Role::Owner)
        .await;
    let (status, added) = source
        .add_passkey_on(STAFF, &staff_token, &mut office_key, Some("Office key"))
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    // A reset asked while the mail server is down stays queued through the move.
    source.smtp.set_mode(Mode::Down);
    source.ask_reset("eli@example.com").await;
    wait_until(PATIENCE, "the reset is queued", || {
        source.queued("password_reset") == 1
    })
    .await;

    // Copied live (through the backup API), then the source stops.
    let url = fresh_postgres_database(&server);
    let config = source.dir.path().join("copy.toml");
    std::fs::write(
        &config,
        format!("[database]\npath = {:?}\n", source.config.database.path),
    )
    .unwrap();
    let output = Binary::new()
        .config(&config)
        .args(["db", "copy", "--to", &url])
        .output_async()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("every table has as many rows there"),
        "{stdout}"
    );
    assert!(stdout.contains("systemctl start customer-area"), "{stdout}");
    let Stopped {
        mut config,
        dir,
        smtp,
    } = source.stop().await;

    // The same customer area on PostgreSQL.
    config.database.url = Secret::new(url);
    smtp.set_mode(Mode::Accept);
    let moved = boot(config, dir, smtp).await;
    assert_eq!(
        crate::counters::kept(&moved.db()),
        counted,
        "counted once each"
    );
    for token in &tokens {
        let (status, body) = moved.get_self(token).await;
        assert_eq!(status, StatusCode::OK, "the session survived: {body}");
    }
    moved.token("dee@example.com", PASSWORD).await;
    let (status, body) = moved.passkey_login_on(STAFF, &mut office_key).await;
    assert_eq!(status, StatusCode::OK, "the staff passkey signs in: {body}");
    let mail = moved.wait_for_email("eli@example.com", "Reset your").await;
    const LINK: &str = "https://shop.example.com/reset/";
    let code = mail.link(LINK)[LINK.len()..].to_owned();
    let (status, body) = moved
        .post(
            "/customers/do_reset",
            json!({"email": "eli@example.com", "code": code}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the queued code still works: {body}"
    );
}

#[tokio::test]
async fn over_tls_the_servers_certificate_is_checked_against_ca_file() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let url = fresh_postgres_database(&server);
    let db = TestDb::Postgres(url.clone());
    let setting = |name: &str| -> String {
        db.query_row(&format!("SHOW {name}"), params![], |row| row.only())
            .unwrap()
    };
    if setting("ssl") != "on" {
        assert!(
            std::env::var("CI").is_ok_and(|ci| ci != "true") || std::env::var("CI").is_err(),
            "the test PostgreSQL has no TLS (CI=true): start it with .ci/postgres"
        );
        eprintln!("SKIPPED: the test PostgreSQL has no TLS; .ci/postgres starts one that has");
        return;
    }
    // .ci/postgres puts its certificate authority beside the server's certificate.
    let ca = std::path::Path::new(&setting("ssl_cert_file")).with_file_name("ca.crt");
    let mut tls_url = url::Url::parse(&url).unwrap();
    tls_url
        .query_pairs_mut()
        .clear()
        .append_pair("sslmode", "require");
    let smtp = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(dir.path(), smtp.port());
    config.database.url = Secret::new(tls_url.to_string());

    // Without the authority, the server's certificate is not trusted: no start.
    let refused = customer_area::app::App::build(config.clone()).await;
    let error = format!(
        "{:#}",
        refused.err().expect("an untrusted server is refused")
    );
    assert!(error.to_lowercase().contains("certificate"), "{error}");

    // With it, every connection of the customer area is encrypted.
    config.database.ca_file = ca;
    let app = boot(config, dir, smtp).await;
    let token = app.active_customer("tls@example.com").await;
    let (status, _) = app.get_self(&token).await;
    assert_eq!(status, StatusCode::OK);
    let (encrypted, all): (i64, i64) = db
        .query_row(
            "SELECT count(*) FILTER (WHERE s.ssl) AS encrypted, count(*) AS all_connections
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.datname = current_database() AND a.application_name = 'customer-area'",
            params![],
            |row| Ok((row.get("encrypted")?, row.get("all_connections")?)),
        )
        .unwrap();
    assert!(all > 0, "the app holds connections");
    assert_eq!(encrypted, all, "every one over TLS");
}

#[tokio::test]
async fn concurrent_writes_share_commits_and_a_failing_one_is_undone_alone() {
    use customer_area::store::{Store, StoreError};
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let settings = customer_area::config::Database {
        url: Secret::new(fresh_postgres_database(&server)),
        ..Default::default()
    };
    let store = tokio::task::spawn_blocking(move || Store::open(&settings))
        .await
        .unwrap()
        .unwrap();
    store
        .write(|tx| {
            tx.execute_batch(
                "CREATE TABLE t (n BIGINT PRIMARY KEY);
                 INSERT INTO t (n) SELECT generate_series(10000, 10049)",
            )
        })
        .await
        .unwrap();
    // 200 writes at once: every fourth breaks a constraint (a row stored before),
    // every tenth fails after writing, the rest insert and answer their transaction's id.
    let writes = (0..200i64).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write(move |tx| {
                    let n = if i % 4 == 3 { 10000 + i / 4 } else { i };
                    tx.execute("INSERT INTO t (n) VALUES (?1)", params![n])?;
                    if i % 10 == 9 {
                        return Err(StoreError::Inconsistent("refused after writing".into()));
                    }
                    tx.query_row("SELECT CAST(txid_current() AS BIGINT)", params![], |row| {
                        row.only::<i64>()
                    })
                })
                .await
        })
    });
    let results = futures::future::join_all(writes).await;
    let mut transactions = std::collections::BTreeSet::new();
    let mut expected = Vec::new();
    for (i, result) in results.into_iter().enumerate() {
        let i = i as i64;
        match result.unwrap() {
            Ok(txid) => {
                assert!(i % 4 != 3 && i % 10 != 9, "write {i} should have failed");
                transactions.insert(txid);
                expected.push(i);
            }
            Err(StoreError::Postgres(_)) => assert_eq!(i % 4, 3, "write {i}: its own error"),
            Err(StoreError::Inconsistent(_)) => assert_eq!(i % 10, 9, "write {i}"),
            Err(other) => panic!("write {i} failed with {other}"),
        }
    }
    let stored: Vec<i64> = store
        .read(|db| {
            db.prepare_cached("SELECT n FROM t WHERE n < 10000 ORDER BY n")?
                .query_map(params![], |row| row.only())?
                .collect()
        })
        .await
        .unwrap();
    assert_eq!(
        stored, expected,
        "what was answered OK is stored, nothing else"
    );
    assert!(
        transactions.len() < expected.len(),
        "{} writes in {} transactions: queued writes share one",
        expected.len(),
        transactions.len()
    );
    eprintln!(
        "{} writes committed in {} transactions",
        expected.len(),
        transactions.len()
    );
}

#[tokio::test]
async fn connections_the_database_ends_are_replaced_without_failing_a_request() {
    if postgres_or_skip().is_none() {
        return;
    }
    let app = spawn_app_with(|_| {}).await;
    let token = app.active_customer("fay@example.com").await;
    let db = app.db();
    // What a PostgreSQL restart or a fail-over does to every open connection.
    let ended: i64 = db
        .query_row(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'customer-area') AS t",
            params![],
            |row| row.only(),
        )
        .unwrap();
    assert!(ended > 0, "the app held connections");
    // Reads and writes that meet a dead connection are run again on the next one: nothing the
    // customer does fails.
    for n in 0..20 {
        let (status, body) = app.get_self(&token).await;
        assert_eq!(status, StatusCode::OK, "read {n}: {body}");
    }
    for n in 0..5 {
        let (status, body) = app
            .patch_self(&token, json!({"name": format!("Fay {n}")}))
            .await;
        assert_eq!(status, StatusCode::OK, "write {n}: {body}");
    }
}
