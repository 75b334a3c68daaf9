//! The outbox against an SMTP server that refuses the whole session or never answers: the
//! worker pauses and retries later, never failing the queue in one pass; and addresses the
//! server echoes in its errors are stored masked.

use crate::common::smtp::Mode;
use crate::common::{TestApp, spawn_app, spawn_app_with, wait_until};
use customer_area::config::Secret;
use customer_area::store::sql::params;
use std::num::NonZero;

/// Retries after refusals back off: give them longer than the usual patience.
const REFUSALS_PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

const CUSTOMERS: [&str; 3] = [
    "first@example.com",
    "second@example.com",
    "third@example.com",
];

/// `(status, attempts, last_error)` of every password reset email, oldest first.
fn resets(app: &TestApp) -> Vec<(String, i64, Option<String>)> {
    app.db()
        .query_map(
            "SELECT status, attempts, last_error FROM outbox WHERE kind = 'password_reset'
             ORDER BY id",
            params![],
            |r| Ok((r.get("status")?, r.get("attempts")?, r.get("last_error")?)),
        )
        .unwrap()
}

/// Three resets are asked for while the server is in `mode`: after several failed sessions
/// none is failed, and once the server accepts again each is delivered.
async fn refused_sessions_are_retried(app: TestApp, mode: Mode, expected_error: &str) {
    for email in CUSTOMERS {
        app.active_customer(email).await;
    }
    app.smtp.set_mode(mode);
    let before = app.smtp.connections();
    for email in CUSTOMERS {
        app.ask_reset(email).await;
    }
    wait_until(
        REFUSALS_PATIENCE,
        "the server was tried again after a refusal",
        || {
            app.smtp.connections() >= before + 3
                && resets(&app).iter().any(|(_, attempts, _)| *attempts >= 2)
        },
    )
    .await;
    let rows = resets(&app);
    assert_eq!(rows.len(), 3);
    for (status, _, error) in &rows {
        assert_eq!(
            status, "queued",
            "a refused session fails no email: {rows:?}"
        );
        if let Some(error) = error {
            assert!(error.contains(expected_error), "{error}");
        }
    }
    app.smtp.set_mode(Mode::Accept);
    for email in CUSTOMERS {
        app.wait_for_email(email, "Reset your").await;
    }
}

#[tokio::test]
async fn a_554_greeting_pauses_the_outbox_and_every_email_goes_out_later() {
    refused_sessions_are_retried(spawn_app().await, Mode::Greet554, "554").await;
}

#[tokio::test]
async fn a_refused_login_pauses_the_outbox_and_every_email_goes_out_later() {
    let app = spawn_app_with(|c| {
        c.mail.smtp.username = "mailer".into();
        c.mail.smtp.password = Secret::new("wrong");
    })
    .await;
    refused_sessions_are_retried(app, Mode::AuthFail, "535").await;
}

#[tokio::test]
async fn a_refused_sender_pauses_the_outbox_and_every_email_goes_out_later() {
    refused_sessions_are_retried(spawn_app().await, Mode::RefuseSender, "550").await;
}

#[tokio::test]
async fn a_server_that_never_answers_is_cut_by_the_timeout_and_retried() {
    let app =
        spawn_app_with(|c| c.mail.smtp.connect_timeout_seconds = NonZero::new(1).unwrap()).await;
    app.active_customer(CUSTOMERS[0]).await;
    app.smtp.set_mode(Mode::Tarpit);
    app.ask_reset(CUSTOMERS[0]).await;
    wait_until(
        REFUSALS_PATIENCE,
        "an attempt was cut by the timeout",
        || {
            resets(&app).iter().any(|(status, attempts, error)| {
                status == "queued"
                    && *attempts >= 1
                    && error
                        .as_deref()
                        .is_some_and(|e| e.contains("no SMTP session"))
            })
        },
    )
    .await;
    app.smtp.set_mode(Mode::Accept);
    app.wait_for_email(CUSTOMERS[0], "Reset your").await;
}

#[tokio::test]
async fn an_address_the_server_echoes_in_its_refusal_is_stored_masked() {
    let app = spawn_app().await;
    app.active_customer("echo.me@example.com").await;
    app.smtp.set_mode(Mode::Refuse);
    app.ask_reset("echo.me@example.com").await;
    wait_until(REFUSALS_PATIENCE, "the email is marked failed", || {
        resets(&app).iter().any(|(status, ..)| status == "failed")
    })
    .await;
    let error = resets(&app)[0].2.clone().unwrap();
    assert!(error.contains("550"), "{error}");
    assert!(error.contains("e***@example.com"), "{error}");
    assert!(!error.contains("echo.me"), "{error}");
}
