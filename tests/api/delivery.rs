//! The outbox: mail survives SMTP outages and restarts, keeps its Message-ID across retries,
//! and is given up on only for 5xx answers or old age.

use crate::common;
use crate::common::smtp::{Mode, SmtpSink};
use crate::common::{PATIENCE, Stopped, TestApp, TestDb, spawn_app, spawn_app_with, wait_until};
use customer_area::config::MailTransport;
use customer_area::store::sql::{OptionalRow, params};
use std::num::NonZero;

/// `(status, attempts, last_error, message_id)` of the newest outbox row of `kind`.
fn outbox_row(app: &TestApp, kind: &str) -> Option<(String, i64, Option<String>, String)> {
    app.db()
        .query_row(
            "SELECT status, attempts, last_error, message_id FROM outbox WHERE kind = ?1
             ORDER BY id DESC LIMIT 1",
            params![kind],
            |r| {
                Ok((
                    r.get("status")?,
                    r.get("attempts")?,
                    r.get("last_error")?,
                    r.get("message_id")?,
                ))
            },
        )
        .optional()
        .unwrap()
}

#[tokio::test]
async fn mail_asked_for_during_an_smtp_outage_goes_out_once_the_server_is_back() {
    let app = spawn_app().await;
    app.active_customer("outage@example.com").await;
    app.smtp.set_mode(Mode::Down);
    let before = app.smtp.connections();
    app.ask_reset("outage@example.com").await;
    wait_until(PATIENCE, "a delivery attempt failed", || {
        outbox_row(&app, "password_reset")
            .is_some_and(|(status, attempts, _, _)| status == "queued" && attempts >= 1)
    })
    .await;
    assert!(app.smtp.connections() > before);

    app.smtp.set_mode(Mode::Accept);
    let mail = app.wait_for_email("outage@example.com", "Reset your").await;
    mail.link("https://shop.example.com/reset/");
    wait_until(PATIENCE, "the row is marked sent", || {
        outbox_row(&app, "password_reset").is_some_and(|(status, ..)| status == "sent")
    })
    .await;
}

#[tokio::test]
async fn queued_mail_is_delivered_after_a_restart() {
    // An SMTP port where nothing listens yet: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(|c| c.mail.smtp.port = port).await;
    app.create_customer("restart@example.com", "Restart").await;
    wait_until(PATIENCE, "a delivery attempt failed", || {
        outbox_row(&app, "activation").is_some_and(|(status, attempts, error, _)| {
            status == "queued" && attempts >= 1 && error.is_some()
        })
    })
    .await;
    // Stopped before the server comes up: only the restarted process can deliver it.
    let Stopped { config, dir, .. } = app.stop().await;
    let smtp = SmtpSink::start_on(port).await;
    let app = common::boot(config, dir, smtp).await;
    let mail = app.wait_for_email("restart@example.com", "Activate").await;
    mail.link_param("https://shop.example.com/activate", "secret");
    assert_eq!(app.smtp.accepted().len(), 1);
}

#[tokio::test]
async fn a_deferred_email_is_retried_with_the_same_message_id() {
    let app = spawn_app().await;
    app.active_customer("defer@example.com").await;
    app.smtp.set_mode(Mode::Defer);
    app.ask_reset("defer@example.com").await;
    wait_until(PATIENCE, "the server deferred the email", || {
        !app.smtp.deferred().is_empty()
    })
    .await;
    app.smtp.set_mode(Mode::Accept);
    let delivered = app.wait_for_email("defer@example.com", "Reset your").await;
    let deferred = common::Email::parse(&app.smtp.deferred()[0].data);
    assert_eq!(deferred.message_id, delivered.message_id);
    let (_, _, _, stored) = outbox_row(&app, "password_reset").unwrap();
    assert_eq!(stored, delivered.message_id);
}

#[tokio::test]
async fn a_refused_email_is_marked_failed_with_the_servers_answer() {
    let app = spawn_app().await;
    app.active_customer("refused@example.com").await;
    app.smtp.set_mode(Mode::Refuse);
    app.ask_reset("refused@example.com").await;
    wait_until(PATIENCE, "the email is marked failed", || {
        outbox_row(&app, "password_reset").is_some_and(|(status, ..)| status == "failed")
    })
    .await;
    let (_, attempts, error, _) = outbox_row(&app, "password_reset").unwrap();
    assert_eq!(attempts, 1, "a 5xx answer is not retried");
    assert!(error.unwrap().contains("550"));
}

#[tokio::test]
async fn an_email_older_than_the_limit_is_given_up() {
    let app = spawn_app_with(|c| c.mail.max_age_hours = NonZero::new(1).unwrap()).await;
    app.active_customer("old@example.com").await;
    app.smtp.set_mode(Mode::Down);
    app.ask_reset("old@example.com").await;
    wait_until(PATIENCE, "a delivery attempt failed", || {
        outbox_row(&app, "password_reset").is_some_and(|(_, attempts, ..)| attempts >= 1)
    })
    .await;
    app.db()
        .execute(
            "UPDATE outbox SET created_at = created_at - 7200 WHERE kind = 'password_reset'",
            params![],
        )
        .unwrap();
    wait_until(PATIENCE, "the email is marked failed", || {
        outbox_row(&app, "password_reset").is_some_and(|(status, ..)| status == "failed")
    })
    .await;
}

#[tokio::test]
async fn the_file_transport_writes_one_eml_file_per_email() {
    let app = spawn_app_with(|c| c.mail.transport = MailTransport::File).await;
    app.active_customer("files@example.com").await;
    app.ask_reset("files@example.com").await;
    let mail = app.wait_for_email("files@example.com", "Reset your").await;
    mail.link("https://shop.example.com/reset/");
    let files: Vec<_> = std::fs::read_dir(&app.config.mail.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(files.len(), 2, "activation and reset: {files:?}");
    assert!(app.smtp.accepted().is_empty());
}

#[tokio::test]
async fn templates_in_the_configured_directory_shape_the_email() {
    let templates = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(templates.path().join(name), text).unwrap();
    write(
        "password_reset.subject",
        "{{shop}}: a new password for {{name}}\n",
    );
    write(
        "password_reset.txt",
        "Hi {{name}}, follow {{link}} to reset. {{shop}}\n",
    );
    write(
        "password_reset.html",
        "<p>Hi {{name}}</p><a href=\"{{link}}\">reset</a>\n",
    );
    let dir = templates.path().to_owned();
    let app = spawn_app_with(move |c| c.mail.templates_dir = Some(dir)).await;
    app.active_customer("styled@example.com").await;
    app.ask_reset("styled@example.com").await;
    let mail = app
        .wait_for_email("styled@example.com", "a new password")
        .await;
    assert_eq!(mail.subject, "Test Shop: a new password for Test Customer");
    let link = mail.link("https://shop.example.com/reset/");
    assert!(
        mail.text.starts_with("Hi Test Customer, follow"),
        "{}",
        mail.text
    );
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.raw)
        .unwrap();
    let html = parsed.body_html(0).expect("an HTML part");
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
}

#[tokio::test]
async fn emails_due_together_go_out_on_one_smtp_session() {
    let app = spawn_app().await;
    let customers: Vec<String> = (0..10).map(|i| format!("queue{i}@example.com")).collect();
    for email in &customers {
        app.active_customer(email).await;
    }
    app.smtp.set_mode(Mode::Down);
    for email in &customers {
        app.ask_reset(email).await;
    }
    wait_until(
        PATIENCE,
        "every reset is queued and the server tried",
        || {
            let (queued, tried): (i64, i64) = app
                .db()
                .query_row(
                    "SELECT COUNT(*) AS queued, COALESCE(MAX(attempts), 0) AS tried FROM outbox
                 WHERE kind = 'password_reset' AND status = 'queued'",
                    params![],
                    |r| Ok((r.get("queued")?, r.get("tried")?)),
                )
                .unwrap();
            queued == 10 && tried >= 1
        },
    )
    .await;
    let before = app.smtp.connections();
    app.smtp.set_mode(Mode::Accept);
    for email in &customers {
        app.wait_for_email(email, "Reset your").await;
    }
    // The emails still due go out together; each one the outage already failed waits for its
    // own retry, which may need a session of its own.
    let sessions = app.smtp.connections() - before;
    assert!(sessions <= 5, "10 emails took {sessions} SMTP sessions");
}

#[tokio::test]
async fn a_server_that_ends_the_session_after_each_email_costs_no_email_a_retry() {
    let app = spawn_app().await;
    let customers: Vec<String> = (0..4).map(|i| format!("capped{i}@example.com")).collect();
    for email in &customers {
        app.active_customer(email).await;
    }
    app.smtp.set_mode(Mode::Down);
    for email in &customers {
        app.ask_reset(email).await;
    }
    wait_until(PATIENCE, "every reset is queued", || {
        app.queued("password_reset") == customers.len() as i64
    })
    .await;
    // Stopped with every reset due at once: the restarted worker sends them in one pass.
    let Stopped { config, dir, smtp } = app.stop().await;
    let attempts = |db: &TestDb| -> Vec<i64> {
        db.query_map(
            "SELECT attempts FROM outbox WHERE kind = 'password_reset' ORDER BY id",
            params![],
            |r| r.only(),
        )
        .unwrap()
    };
    let stopped = TestDb::of(&config);
    stopped
        .execute(
            "UPDATE outbox SET next_attempt_at = 0 WHERE status = 'queued'",
            params![],
        )
        .unwrap();
    let before = attempts(&stopped);
    smtp.set_mode(Mode::OnePerSession);
    let app = common::boot(config, dir, smtp).await;
    for email in &customers {
        app.wait_for_email(email, "Reset your").await;
    }
    wait_until(PATIENCE, "every reset is marked sent", || {
        app.db()
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE kind = 'password_reset' AND status = 'sent'",
                params![],
                |r| r.only::<i64>(),
            )
            .unwrap()
            == customers.len() as i64
    })
    .await;
    let after = attempts(&app.db());
    let expected: Vec<i64> = before.iter().map(|n| n + 1).collect();
    assert_eq!(
        after, expected,
        "an email refused only because its session was used up is sent on a new one at once"
    );
}
