//! Bounces and complaints in: `customer-area mail inbound` fed real-format reports (Postfix's
//! own bounce and delay notices, captured from a running Postfix, and RFC 5965's example
//! abuse report) about emails the server really sent, and what follows: the undeliverable
//! mark, the lists left with their ledger entries, the webhook, and the exit status of every
//! report that changes nothing.

use std::num::NonZero;
use std::process::Output;

use crate::common::binary::Binary;
use crate::common::receiver::Receiver;
use crate::common::{Email, TestApp, spawn_app_with};
use customer_area::config::{Config, Secret, Webhook};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "admin-token-for-tests-0123456789";
const BOUNCES: &str = "bounces@shop.example.com";

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/reports/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn with_bounces(config: &mut Config, receiver: Option<&Receiver>) {
    config.admin.api_token = Secret::new(TOKEN);
    config.mail.bounce_address = Some(BOUNCES.into());
    config.mail.soft_bounce_limit = NonZero::new(2).unwrap();
    if let Some(receiver) = receiver {
        config.webhook_delivery.retry_first_seconds = NonZero::new(1).unwrap();
        config.webhooks = vec![Webhook {
            url: receiver.url(),
            secret: Secret::new(receiver.secret.clone()),
            events: vec!["customer.email_undeliverable".into()],
        }];
    }
}

/// An active customer on the newsletter, and the password reset email the server then sent
/// them, with the envelope sender it went out with.
async fn subscriber_with_an_email(app: &TestApp, email: &str) -> (String, Email, String) {
    let token = app.active_customer(email).await;
    let (status, body) = app
        .patch_self(&token, json!({ "subscriptions": ["newsletter"] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.ask_reset(email).await;
    let sent = app.wait_for_email(email, "Reset").await;
    let envelope = app
        .smtp
        .accepted()
        .into_iter()
        .rev()
        .find(|r| r.rcpt_to.iter().any(|to| to == email))
        .expect("the reset email was accepted")
        .mail_from;
    (token, sent, envelope)
}

/// The captured Postfix report `name`, made about `sent`: its sample envelope sender, recipient
/// and Message-ID replaced by the real ones.
fn report_about(name: &str, sample: (&str, &str, &str), sent: &Email, envelope: &str) -> Vec<u8> {
    let (sample_envelope, sample_recipient, sample_message_id) = sample;
    fixture(name)
        .replace(sample_envelope, envelope)
        .replace(sample_recipient, &sent.to)
        .replace(sample_message_id, sent.message_id.trim_matches(['<', '>']))
        .into_bytes()
}

fn permanent_bounce(sent: &Email, envelope: &str) -> Vec<u8> {
    report_about(
        "postfix-550-user-unknown.eml",
        (
            "bounces+5-8c1e2f3a4b5d@shop.example",
            "gone@example.net",
            "4b1f0c9e2d7a8b3c5e6f708192a3b4c5gone@shop.example",
        ),
        sent,
        envelope,
    )
}

fn delay_notice(sent: &Email, envelope: &str) -> Vec<u8> {
    report_about(
        "postfix-delayed-mailbox-full.eml",
        (
            "bounces+6-0a1b2c3d4e5f@shop.example",
            "full@example.net",
            "4b1f0c9e2d7a8b3c5e6f708192a3b4c5full@shop.example",
        ),
        sent,
        envelope,
    )
}

/// RFC 5965's example report, about `sent`: the quoted message is the email as delivered (a
/// mailbox provider's feedback loop quotes it whole), the original recipient is the customer.
fn complaint_about(sent: &Email) -> Vec<u8> {
    let example = fixture("rfc5965-example.eml");
    let quoted_at = example
        .find("Received: from mailserver.example.net")
        .unwrap();
    let end = example.rfind("--part1_13d.2e68ed54_boundary--").unwrap();
    let quoted = String::from_utf8_lossy(&sent.raw).replace("\r\n", "\n");
    format!(
        "{}{}\n{}",
        &example[..quoted_at].replace(
            "Version: 1\n",
            &format!("Version: 1\nOriginal-Rcpt-To: <{}>\n", sent.to)
        ),
        quoted.trim_end(),
        &example[end..]
    )
    .into_bytes()
}

async fn inbound(app: &TestApp, report: Vec<u8>, recipient: Option<&str>) -> Output {
    let mut binary = Binary::new()
        .env("CUSTOMER_AREA_DATABASE_PATH", &app.config.database.path)
        .in_dir(app.dir.path());
    // The command reads the server's config file: the webhooks it announces to come from
    // there.
    if let Some(hook) = app.config.webhooks.first() {
        let config = app.dir.path().join("inbound.toml");
        std::fs::write(
            &config,
            format!(
                "[[webhooks]]\nurl = \"{}\"\nsecret = \"{}\"\nevents = [\"customer.email_undeliverable\"]\n",
                hook.url,
                hook.secret.expose()
            ),
        )
        .unwrap();
        binary = binary.config(config);
    }
    binary = binary.args(["mail", "inbound"]);
    if !app.config.database.url.expose().is_empty() {
        binary = binary.env(
            "CUSTOMER_AREA_DATABASE_URL",
            app.config.database.url.expose(),
        );
    }
    if let Some(address) = &app.config.mail.bounce_address {
        binary = binary.env("CUSTOMER_AREA_MAIL_BOUNCE_ADDRESS", address);
    }
    binary = binary.env(
        "CUSTOMER_AREA_MAIL_SOFT_BOUNCE_LIMIT",
        app.config.mail.soft_bounce_limit.to_string(),
    );
    if let Some(recipient) = recipient {
        binary = binary.args(["--recipient", recipient]);
    }
    binary.output_with_input(report).await.unwrap()
}

/// Runs `mail inbound` and expects exit status `code`; returns stdout and stderr.
async fn inbound_exits(
    app: &TestApp,
    report: Vec<u8>,
    recipient: Option<&str>,
    code: i32,
) -> (String, String) {
    let output = inbound(app, report, recipient).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

async fn members(app: &TestApp) -> Vec<String> {
    let (status, body) = app
        .call(
            Method::GET,
            "/admin/subscriptions/newsletter/members",
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect()
}

fn sources(consents: &[Value]) -> Vec<(String, String)> {
    consents
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_owned(),
                c["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_email_leaves_with_a_bounce_token_of_its_own() {
    let app = spawn_app_with(|c| with_bounces(c, None)).await;
    app.add_newsletter(TOKEN).await;
    let (_, _, first) = subscriber_with_an_email(&app, "one@example.net").await;
    let (_, _, second) = subscriber_with_an_email(&app, "two@example.net").await;
    for envelope in [&first, &second] {
        assert!(
            envelope.starts_with("bounces+") && envelope.ends_with("@shop.example.com"),
            "{envelope}"
        );
    }
    assert_ne!(first, second);
}

#[tokio::test]
async fn a_permanent_bounce_marks_the_address_and_takes_it_off_every_list() {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(|c| with_bounces(c, Some(&receiver))).await;
    app.add_newsletter(TOKEN).await;
    let (token, sent, envelope) = subscriber_with_an_email(&app, "gone@example.net").await;
    let (_, _, _) = subscriber_with_an_email(&app, "fine@example.net").await;
    assert_eq!(members(&app).await.len(), 2);

    let (stdout, _) =
        inbound_exits(&app, permanent_bounce(&sent, &envelope), Some(&envelope), 0).await;
    let outcome: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        outcome,
        json!({"result": "marked_undeliverable", "lists_left": ["newsletter"]})
    );
    assert_eq!(members(&app).await, ["fine@example.net"]);
    // The customer object says so, for the account page (and the shop's own pages) to ask
    // for a working address; the back office sees since when and why.
    let (status, me) = app.get_self(&token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email_deliverable"], false, "{me}");
    let (status, view) = app
        .call(
            Method::GET,
            "/admin/customers/gone@example.net",
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["email_deliverable"], false, "{view}");
    let reason = view["email_undeliverable"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("5.1.1") && reason.contains("User unknown"),
        "{view}"
    );
    assert!(view["email_undeliverable"]["since"].is_string(), "{view}");
    // The object read by GET may be sent back whole; the flag is not the customer's to set.
    let mut echo = me.clone();
    echo["email_deliverable"] = json!(true);
    let (status, after) = app.patch_self(&token, echo).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["email_deliverable"], false, "{after}");
    let consents = app.consents(TOKEN, "gone@example.net").await;
    assert_eq!(
        sources(&consents).last().unwrap(),
        &("out".to_owned(), "bounce".to_owned())
    );
    let event = crate::common::eventually(crate::common::PATIENCE, "the webhook arrives", || {
        std::future::ready(receiver.delivered().into_iter().next())
    })
    .await;
    assert_eq!(event.event_type(), "customer.email_undeliverable");
    assert_eq!(event.json()["data"]["email"], "gone@example.net");

    // The same bounce again (a mail server may deliver a report twice) changes nothing more.
    let (stdout, _) =
        inbound_exits(&app, permanent_bounce(&sent, &envelope), Some(&envelope), 0).await;
    assert!(stdout.contains("already_undeliverable"), "{stdout}");
    assert_eq!(app.consents(TOKEN, "gone@example.net").await, consents);

    // Opting in again is the customer's right, but the dead address stays out of exports.
    let (status, body) = app
        .patch_self(&token, json!({ "subscriptions": ["newsletter"] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(members(&app).await, ["fine@example.net"]);

    // Transactional email still goes out to the marked address: asking to change it sends
    // the notice to the address in use.
    let before = app.delivered().len();
    let (status, body) = app
        .patch_self(&token, json!({"email": "working@example.net"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    crate::common::wait_until(
        crate::common::PATIENCE,
        "the notice goes to the old address",
        || {
            app.delivered()[before..]
                .iter()
                .any(|e| e.to == "gone@example.net")
        },
    )
    .await;
}

#[tokio::test]
async fn a_confirmed_new_address_clears_the_mark() {
    let app = spawn_app_with(|c| with_bounces(c, None)).await;
    app.add_newsletter(TOKEN).await;
    let (token, sent, envelope) = subscriber_with_an_email(&app, "old@example.net").await;
    inbound_exits(&app, permanent_bounce(&sent, &envelope), Some(&envelope), 0).await;
    let (status, body) = app
        .patch_self(&token, json!({ "subscriptions": ["newsletter"] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(members(&app).await.is_empty());

    let (status, body) = app
        .patch_self(&token, json!({"email": "new@example.net"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mail = app
        .wait_for_email("new@example.net", "Confirm your new email")
        .await;
    let link = "https://shop.example.com/confirm-email";
    let (status, body) = app
        .post(
            "/customers/newemail_confirm",
            json!({
                "identifier": mail.link_param(link, "identifier"),
                "key": mail.link_param(link, "key"),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(members(&app).await, ["new@example.net"]);
    let (_, me) = app.get_self(&token).await;
    assert_eq!(me["email_deliverable"], true, "{me}");

    // A late bounce about the old address changes nothing on the new one.
    let (stdout, _) =
        inbound_exits(&app, permanent_bounce(&sent, &envelope), Some(&envelope), 0).await;
    assert!(stdout.contains("address_changed"), "{stdout}");
    assert_eq!(members(&app).await, ["new@example.net"]);
}

#[tokio::test]
async fn temporary_failures_count_until_the_limit_marks_the_address() {
    let app = spawn_app_with(|c| with_bounces(c, None)).await;
    app.add_newsletter(TOKEN).await;
    let (_, sent, envelope) = subscriber_with_an_email(&app, "full@example.net").await;

    let (stdout, _) = inbound_exits(&app, delay_notice(&sent, &envelope), Some(&envelope), 0).await;
    let outcome: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        outcome,
        json!({"result": "soft_bounce_counted", "count": 1, "limit": 2})
    );
    assert_eq!(members(&app).await, ["full@example.net"]);

    // Without --recipient, the token is found in the report itself (Postfix's
    // X-Postfix-Sender, the To of the notice).
    let (stdout, _) = inbound_exits(&app, delay_notice(&sent, &envelope), None, 0).await;
    assert!(stdout.contains("marked_undeliverable"), "{stdout}");
    assert!(members(&app).await.is_empty());
}

#[tokio::test]
async fn a_complaint_unsubscribes_from_every_list_without_marking_the_address() {
    let app = spawn_app_with(|c| with_bounces(c, None)).await;
    app.add_newsletter(TOKEN).await;
    app.add_list(TOKEN, "offers", "Offers").await;
    let (token, sent, _) = subscriber_with_an_email(&app, "annoyed@example.net").await;
    let (status, body) = app
        .patch_self(&token, json!({ "subscriptions": ["newsletter", "offers"] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A feedback loop's report arrives at its own address: no token, the quoted Message-ID
    // names the email.
    let (stdout, _) = inbound_exits(&app, complaint_about(&sent), None, 0).await;
    let outcome: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        outcome,
        json!({"result": "unsubscribed", "lists_left": ["newsletter", "offers"]})
    );
    let consents = app.consents(TOKEN, "annoyed@example.net").await;
    let last_two = &sources(&consents)[consents.len() - 2..];
    assert_eq!(
        last_two,
        [
            ("out".to_owned(), "complaint".to_owned()),
            ("out".to_owned(), "complaint".to_owned())
        ]
    );
    // Not a dead address: opting in again puts it back in the export.
    let (status, body) = app
        .patch_self(&token, json!({ "subscriptions": ["newsletter"] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(members(&app).await, ["annoyed@example.net"]);
}

#[tokio::test]
async fn reports_that_change_nothing_each_have_their_exit_status() {
    let app = spawn_app_with(|c| with_bounces(c, None)).await;
    app.add_newsletter(TOKEN).await;
    let (_, sent, envelope) = subscriber_with_an_email(&app, "kept@example.net").await;
    let ledger = app.consents(TOKEN, "kept@example.net").await;
    let report = permanent_bounce(&sent, &envelope);

    // Not a report at all.
    let plain =
        b"From: a@example.net\nTo: bounces@shop.example.com\nSubject: hi\n\nhello\n".to_vec();
    let (_, stderr) = inbound_exits(&app, plain, None, 65).await;
    assert!(
        stderr.contains("not a delivery status notification"),
        "{stderr}"
    );
    inbound_exits(&app, b"\xff\xfe\x00garbage".to_vec(), None, 65).await;

    // A report with no recipient block.
    let text = String::from_utf8(report.clone()).unwrap();
    let start = text.find("Final-Recipient:").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    let no_recipient = format!("{}{}", &text[..start], &text[end + 1..]);
    inbound_exits(&app, no_recipient.into_bytes(), Some(&envelope), 66).await;

    // A forged token: the right shape, a tag this server never made.
    let (id_part, tag) = envelope
        .split_once('@')
        .unwrap()
        .0
        .rsplit_once('-')
        .unwrap();
    let flipped: String = tag
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let forged = format!("{id_part}-{flipped}@shop.example.com");
    let forged_report = String::from_utf8(report.clone())
        .unwrap()
        .replace(&envelope, &forged)
        .into_bytes();
    let (_, stderr) = inbound_exits(&app, forged_report.clone(), Some(&forged), 77).await;
    assert!(stderr.contains("not made by this server"), "{stderr}");
    inbound_exits(&app, forged_report, None, 77).await;

    // No token and a Message-ID this server never sent: with a bounce address, not acted on.
    let untokened = String::from_utf8(report.clone())
        .unwrap()
        .replace(&envelope, BOUNCES)
        .replace(
            sent.message_id.trim_matches(['<', '>']),
            "someone-else@example.org",
        )
        .into_bytes();
    inbound_exits(&app, untokened, Some(BOUNCES), 68).await;

    // Larger than 10 MiB.
    let mut huge = report.clone();
    huge.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    inbound_exits(&app, huge, Some(&envelope), 74).await;

    // Nothing of it changed anything.
    assert_eq!(app.consents(TOKEN, "kept@example.net").await, ledger);
    assert_eq!(members(&app).await, ["kept@example.net"]);

    // An account deleted since the email went out.
    let (status, body) = app
        .call(
            Method::DELETE,
            "/admin/customers/kept@example.net",
            Some(TOKEN),
            None,
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (_, stderr) = inbound_exits(&app, report, Some(&envelope), 67).await;
    assert!(stderr.contains("no account"), "{stderr}");
}

#[tokio::test]
async fn without_a_bounce_address_a_report_is_taken_by_its_address() {
    let app = spawn_app_with(|c| c.admin.api_token = Secret::new(TOKEN)).await;
    app.add_newsletter(TOKEN).await;
    let (_, sent, envelope) = subscriber_with_an_email(&app, "plain@example.net").await;
    assert_eq!(
        envelope, "shop@shop.example.com",
        "no token without a bounce address"
    );
    let report = permanent_bounce(&sent, &envelope);
    let (stdout, _) = inbound_exits(&app, report.clone(), None, 0).await;
    assert!(stdout.contains("marked_undeliverable"), "{stdout}");

    let stranger = String::from_utf8(report)
        .unwrap()
        .replace("plain@example.net", "stranger@example.net")
        .replace(
            sent.message_id.trim_matches(['<', '>']),
            "unknown@example.org",
        )
        .into_bytes();
    inbound_exits(&app, stranger, None, 67).await;
}

#[tokio::test]
async fn a_database_out_of_reach_asks_the_mail_server_to_try_again() {
    let app = spawn_app_with(|c| with_bounces(c, None)).await;
    app.add_newsletter(TOKEN).await;
    let (_, sent, envelope) = subscriber_with_an_email(&app, "later@example.net").await;
    let output = Binary::new()
        .env(
            "CUSTOMER_AREA_DATABASE_URL",
            "postgres://nobody@127.0.0.1:1/none?connect_timeout=1",
        )
        .env("CUSTOMER_AREA_MAIL_BOUNCE_ADDRESS", BOUNCES)
        .in_dir(app.dir.path())
        .args(["mail", "inbound", "--recipient", &envelope])
        .output_with_input(permanent_bounce(&sent, &envelope))
        .await
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn mail_event(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.call(Method::POST, "/admin/mail/events", Some(TOKEN), Some(body))
        .await
}

#[tokio::test]
async fn a_mail_providers_relay_reports_through_the_admin_api() {
    let app = spawn_app_with(|c| with_bounces(c, None)).await;
    app.add_newsletter(TOKEN).await;
    let (token, _, _) = subscriber_with_an_email(&app, "relay@example.net").await;
    let (_, _, _) = subscriber_with_an_email(&app, "spam@example.net").await;

    let (status, body) = mail_event(
        &app,
        json!({"type": "bounce", "email": "relay@example.net", "permanent": false, "reason": "4.2.2 mailbox full"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"result": "soft_bounce_counted", "count": 1, "limit": 2})
    );
    let (status, body) = mail_event(
        &app,
        json!({"type": "bounce", "email": "Relay@Example.NET", "permanent": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"result": "marked_undeliverable", "lists_left": ["newsletter"]})
    );
    let (status, body) = mail_event(
        &app,
        json!({"type": "complaint", "email": "spam@example.net"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"result": "unsubscribed", "lists_left": ["newsletter"]})
    );
    assert!(members(&app).await.is_empty());
    let consents = app.consents(TOKEN, "spam@example.net").await;
    assert_eq!(
        sources(&consents).last().unwrap(),
        &("out".to_owned(), "complaint".to_owned())
    );
    // The action is in the audit log.
    let (status, audit) = app
        .call(Method::GET, "/admin/audit", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    assert!(audit.to_string().contains("recordMailEvent"), "{audit}");
    drop(token);
}

#[tokio::test]
async fn bad_mail_events_are_refused_and_change_nothing() {
    let app = spawn_app_with(|c| with_bounces(c, None)).await;
    app.add_newsletter(TOKEN).await;
    let (_, _, _) = subscriber_with_an_email(&app, "steady@example.net").await;
    let ledger = app.consents(TOKEN, "steady@example.net").await;
    let long = "x".repeat(1001);
    for (body, field) in [
        (
            json!({"type": "bounce", "email": "steady@example.net"}),
            "permanent",
        ),
        (
            json!({"type": "complaint", "email": "steady@example.net", "permanent": true}),
            "permanent",
        ),
        (
            json!({"type": "unsubscribe", "email": "steady@example.net"}),
            "type",
        ),
        (
            json!({"type": "bounce", "email": "not an address", "permanent": true}),
            "email",
        ),
        (
            json!({"type": "bounce", "email": "steady@example.net", "permanent": "yes"}),
            "permanent",
        ),
        (
            json!({"type": 1, "email": "steady@example.net", "permanent": true}),
            "type",
        ),
        (
            json!({"type": "bounce", "email": "steady@example.net", "permanent": true, "reason": long}),
            "reason",
        ),
        (
            json!({"type": "bounce", "email": "steady@example.net", "permanent": true, "extra": 1}),
            "extra",
        ),
    ] {
        let (status, answer) = mail_event(&app, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(answer["fields"][field].is_string(), "{body}: {answer}");
    }
    let (status, answer) = mail_event(
        &app,
        json!({"type": "bounce", "email": "nobody@example.net", "permanent": true}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["error"], "not_found", "{answer}");
    assert_eq!(app.consents(TOKEN, "steady@example.net").await, ledger);
    assert_eq!(members(&app).await, ["steady@example.net"]);
}
