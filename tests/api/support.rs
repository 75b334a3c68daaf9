//! One customer as the shop's staff see them over real HTTP (`/admin/customers/{id}/...`):
//! sessions, activity, emails and passkeys, and the actions support may take (end sessions,
//! send a password reset, unlock, edit with a reason), each audited with the agent and shown
//! to the customer without them.

use std::num::NonZero;

use crate::common::{PASSWORD, PATIENCE, TestApp, eventually, spawn_app_with};
use customer_area::config::{SecondFactorRule, Secret};
use customer_area::domain::Role;
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const API_TOKEN: &str = "admin-token-for-tests-0123456789";
const AGENT: &str = "agent@shop.example.com";
const RESET_LINK: &str = "https://shop.example.com/reset/";

async fn support_app() -> (TestApp, String) {
    let app = spawn_app_with(|c| {
        c.admin.api_token = Secret::new(API_TOKEN);
        c.console.second_factor = SecondFactorRule::Optional;
        c.limits.login_free_failures = 100_000;
        c.limits.login_per_ip_per_minute = NonZero::new(100_000).unwrap();
        c.limits.login_lockout_failures = NonZero::new(3).unwrap();
    })
    .await;
    let agent = app.staff_token(AGENT, Role::Support).await;
    (app, agent)
}

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let (status, answer) = app.call(method.clone(), path, Some(token), body).await;
    assert_eq!(status, StatusCode::OK, "{method} {path}: {answer}");
    answer
}

/// The audit entries of `action`, newest first, as the owner's token reads them.
async fn audited(app: &TestApp, action: &str) -> Vec<Value> {
    let log = call(app, API_TOKEN, Method::GET, "/admin/audit", None).await;
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

/// The customer's own `support_action` details, newest first.
async fn told(app: &TestApp, token: &str) -> Vec<String> {
    let activity = call(app, token, Method::GET, "/customers/activity", None).await;
    activity["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "support_action")
        .map(|e| e["detail"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn support_sees_a_customers_sessions_and_ends_them_all() {
    let (app, agent) = support_app().await;
    let first = app.active_customer("shopper@example.com").await;
    let second = app.token("shopper@example.com", PASSWORD).await;
    let path = "/admin/customers/shopper@example.com/sessions";

    let seen = call(&app, &agent, Method::GET, path, None).await;
    let sessions = seen["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{seen}");
    assert!(sessions.iter().all(|s| s["current"] == false), "{seen}");
    assert!(!seen.to_string().contains(&first) && !seen.to_string().contains(&second));

    let ended = call(&app, &agent, Method::DELETE, path, None).await;
    assert_eq!(ended, json!({"result": "revoked", "count": 2}));
    for token in [&first, &second] {
        let (status, _) = app.get_self(token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let again = call(&app, &agent, Method::DELETE, path, None).await;
    assert_eq!(again["count"], 0);

    let entries = audited(&app, "revokeCustomerSessions").await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["actor"], format!("staff:{AGENT}"));
    assert!(entries[0]["customer_id"].is_string());
    assert!(entries[0]["ip"].is_string());
    let token = app.token("shopper@example.com", PASSWORD).await;
    let words = told(&app, &token).await;
    assert_eq!(words[0], "your sessions were ended by the shop");
    let (_, activity) = app
        .call(Method::GET, "/customers/activity", Some(&token), None)
        .await;
    assert!(!activity.to_string().contains("agent@shop"), "{activity}");
}

#[tokio::test]
async fn a_reset_sent_by_support_arrives_as_a_customers_own_and_staff_never_see_its_code() {
    let (app, agent) = support_app().await;
    let token = app.active_customer("shopper@example.com").await;
    let id = call(
        &app,
        &agent,
        Method::GET,
        "/admin/customers/shopper@example.com",
        None,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let answer = call(
        &app,
        &agent,
        Method::POST,
        &format!("/admin/customers/{id}/password_reset"),
        Some(json!({"reset_uri": "/reset"})),
    )
    .await;
    assert_eq!(answer, json!({"result": "email_sent"}));
    let mail = app
        .wait_for_email("shopper@example.com", "Reset your")
        .await;
    let first_code = mail.link(RESET_LINK)[RESET_LINK.len()..].to_owned();
    // Without a body: the configured reset page; the new code replaces the first.
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/admin/customers/{id}/password_reset"),
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let resets = || {
        app.delivered()
            .into_iter()
            .filter(|m| m.to == "shopper@example.com" && m.subject.contains("Reset your"))
            .collect::<Vec<_>>()
    };
    let second = eventually(PATIENCE, "the second reset email", || {
        std::future::ready(resets().get(1).cloned())
    })
    .await;
    let code = second.link(RESET_LINK)[RESET_LINK.len()..].to_owned();

    let emails = call(
        &app,
        &agent,
        Method::GET,
        &format!("/admin/customers/{id}/emails"),
        None,
    )
    .await;
    let list = emails["emails"].as_array().unwrap();
    assert!(list.len() >= 3, "activation and two resets: {emails}");
    assert_eq!(list[0]["kind"], "password_reset", "{emails}");
    for email in list {
        let keys: Vec<&String> = email.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["at", "id", "kind", "status"], "{email}");
    }
    assert!(!emails.to_string().contains(&code), "{emails}");
    assert!(!emails.to_string().contains(&first_code), "{emails}");

    let entries = audited(&app, "sendPasswordReset").await;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["customer_id"], id.as_str());
    let words = told(&app, &token).await;
    assert_eq!(words[0], "a password reset link was sent to you");

    let (status, body) = app
        .post(
            "/customers/do_reset",
            json!({"email": "shopper@example.com", "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the emailed code works: {body}");
}

#[tokio::test]
async fn a_reset_for_an_account_never_activated_is_refused_and_not_audited() {
    let (app, agent) = support_app().await;
    app.create_customer("pending@example.com", "Pending").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/admin/customers/pending@example.com/password_reset",
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(audited(&app, "sendPasswordReset").await.is_empty());
    let (status, _) = app
        .call(
            Method::POST,
            "/admin/customers/nobody@example.com/password_reset",
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unlocking_a_locked_account_lets_its_password_in_again() {
    let (app, agent) = support_app().await;
    let token = app.active_customer("locked@example.com").await;
    for i in 0..3 {
        let (status, _) = app.login("locked@example.com", &format!("wrong {i}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let locked = || {
        app.db()
            .query_row(
                "SELECT locked_at IS NOT NULL AS locked FROM customers WHERE email = ?1",
                params!["locked@example.com"],
                |row| row.get::<bool>("locked"),
            )
            .unwrap()
    };
    eventually(PATIENCE, "the account is locked", || {
        std::future::ready(locked().then_some(()))
    })
    .await;
    let (status, _) = app.login("locked@example.com", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "locked: the right password too"
    );

    let answer = call(
        &app,
        &agent,
        Method::POST,
        "/admin/customers/locked@example.com/unlock",
        None,
    )
    .await;
    assert_eq!(answer, json!({"result": "unlocked"}));
    assert!(!locked());
    let (status, body) = app.login("locked@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(audited(&app, "unlockCustomer").await.len(), 1);
    let words = told(&app, &token).await;
    assert_eq!(words[0], "your account was unlocked by the shop");
}

#[tokio::test]
async fn an_edit_by_support_keeps_its_reason_in_the_audit_and_its_consents_as_support() {
    let (app, agent) = support_app().await;
    app.add_newsletter(API_TOKEN).await;
    let token = app.active_customer("shopper@example.com").await;
    let path = "/admin/customers/shopper@example.com";

    let changed = call(
        &app,
        &agent,
        Method::PATCH,
        path,
        Some(json!({
            "name": "Renamed Shopper",
            "language": "de",
            "subscriptions": ["newsletter"],
            "reason": "asked on the phone, ticket 4711",
        })),
    )
    .await;
    assert_eq!(changed["name"], "Renamed Shopper");
    assert_eq!(changed["language"], "de");
    let consents = app.consents(API_TOKEN, "shopper@example.com").await;
    assert_eq!(consents.len(), 1, "{consents:?}");
    assert_eq!(consents[0]["source"], "support");

    let entries = audited(&app, "updateCustomer").await;
    assert_eq!(entries.len(), 1);
    let detail = entries[0]["detail"].as_str().unwrap();
    assert!(detail.contains("ticket 4711"), "{detail}");
    let (_, activity) = app
        .call(Method::GET, "/customers/activity", Some(&token), None)
        .await;
    assert!(!activity.to_string().contains("ticket 4711"), "{activity}");
    assert!(!activity.to_string().contains("agent@shop"), "{activity}");

    // Nothing to change, an unknown key or an unknown list: 422, nothing changed or audited.
    for body in [
        json!({"reason": "nothing"}),
        json!({"name": "X", "colour": "red"}),
        json!({"subscriptions": ["no-such-list"]}),
    ] {
        let (status, answer) = app
            .call(Method::PATCH, path, Some(&agent), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
    assert_eq!(audited(&app, "updateCustomer").await.len(), 1);
    let shown = call(&app, &agent, Method::GET, path, None).await;
    assert_eq!(shown["name"], "Renamed Shopper");
}

#[tokio::test]
async fn support_reads_a_customers_activity_and_passkeys_as_the_customer_does() {
    let (app, agent) = support_app().await;
    let token = app.active_customer("shopper@example.com").await;
    let own = call(&app, &token, Method::GET, "/customers/activity", None).await;
    let seen = call(
        &app,
        &agent,
        Method::GET,
        "/admin/customers/shopper@example.com/activity",
        None,
    )
    .await;
    assert_eq!(seen, own);
    let page = call(
        &app,
        &agent,
        Method::GET,
        "/admin/customers/shopper@example.com/activity?limit=1",
        None,
    )
    .await;
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    let (status, _) = app
        .call(
            Method::GET,
            "/admin/customers/shopper@example.com/activity?limit=0",
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let passkeys = call(
        &app,
        &agent,
        Method::GET,
        "/admin/customers/shopper@example.com/passkeys",
        None,
    )
    .await;
    assert_eq!(passkeys, json!({"passkeys": []}));
    let (status, _) = app
        .call(
            Method::GET,
            "/admin/customers/nobody@example.com/sessions",
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The secrets the emails carry: every link's query value but the (public) identifier and
/// address, and the code at the end of a reset link; unsubscribe links are for the members'
/// exports, which show them by design.
fn secrets_in_mail(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for word in text.split_whitespace() {
        let word = word.trim_matches(|c: char| "<>()[].,;\"'".contains(c));
        let Ok(link) = url::Url::parse(word) else {
            continue;
        };
        if !link.scheme().starts_with("http") || link.path().contains("unsubscribe") {
            continue;
        }
        for (key, value) in link.query_pairs() {
            if key != "identifier" && key != "email" {
                found.push(value.into_owned());
            }
        }
        if link.path().contains("/reset/") {
            found.push(link.path().rsplit('/').next().unwrap().to_owned());
        }
    }
    found
}

/// Whether `body` shows `secret`; a code of digits only counts where no digit goes on either
/// side (it is not a part of a longer number, such as an id).
fn shows(body: &str, secret: &str) -> bool {
    if !secret.bytes().all(|b| b.is_ascii_digit()) {
        return body.contains(secret);
    }
    body.match_indices(secret).any(|(at, _)| {
        let before = body[..at].bytes().next_back();
        let after = body[at + secret.len()..].bytes().next();
        !before.is_some_and(|b| b.is_ascii_digit()) && !after.is_some_and(|b| b.is_ascii_digit())
    })
}

/// The ways an answer could spell `bytes`: hex either case, and base64 in its alphabets.
fn spellings(bytes: &[u8]) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        hex.to_uppercase(),
        hex,
        STANDARD.encode(bytes),
        STANDARD_NO_PAD.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
    ]
}

#[tokio::test]
async fn no_answer_staff_may_read_shows_a_customers_secret_or_its_hash() {
    use customer_area::http::openapi::Access;
    use customer_area::http::route::Verb;
    use customer_area::http::table::ROUTES;
    use sha2::Digest;
    let app = spawn_app_with(|c| {
        c.admin.api_token = Secret::new(API_TOKEN);
        c.console.second_factor = SecondFactorRule::Optional;
        c.limits.emails_per_address_per_minute = NonZero::new(20).unwrap();
        c.limits.emails_per_address_per_hour = NonZero::new(50).unwrap();
    })
    .await;
    let agent = app.staff_token(AGENT, Role::Support).await;
    let owner = app.staff_token("owner@shop.example.com", Role::Owner).await;
    app.add_list(API_TOKEN, "newsletter", "Monthly newsletter")
        .await;

    // One customer with a password, a session, a TOTP secret being enrolled, a reset code, a
    // sign-in code and a new address waiting for its confirmation; one invited guest with an
    // activation code.
    let shopper = "shopper@example.com";
    let session = app.active_customer(shopper).await;
    call(
        &app,
        API_TOKEN,
        Method::PUT,
        &format!("/admin/customers/{shopper}/subscriptions"),
        Some(json!({"subscriptions": ["newsletter"]})),
    )
    .await;
    let totp = call(&app, &session, Method::POST, "/customers/totp", None).await;
    let totp_secret = totp["secret"].as_str().unwrap().to_owned();
    app.ask_reset(shopper).await;
    let (status, body) = app
        .post("/customers/login_code", json!({"email": shopper}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .patch_self(&session, json!({"email": "moving@example.com"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.create_customer("guest@example.com", "Guest").await;
    for (to, subject) in [
        (shopper, "Reset"),
        (shopper, "sign-in code"),
        ("moving@example.com", "Confirm"),
        ("guest@example.com", "Activate"),
    ] {
        app.wait_for_email(to, subject).await;
    }

    let mut secrets: Vec<String> = vec![PASSWORD.to_owned(), session.clone(), totp_secret];
    for mail in app.delivered() {
        secrets.extend(secrets_in_mail(&mail.text));
    }
    secrets.retain(|s| s.len() >= 6);
    secrets.sort();
    secrets.dedup();
    assert!(secrets.len() >= 8, "{secrets:?}");
    let mut forbidden: Vec<String> = Vec::new();
    for secret in &secrets {
        forbidden.push(secret.clone());
        forbidden.extend(spellings(&sha2::Sha256::digest(secret.as_bytes())));
    }
    // And what the database keeps of them, however it keeps it.
    let db = app.db();
    let stored: Vec<Vec<u8>> = [
        "SELECT token_hash FROM sessions",
        "SELECT code_hash FROM one_time_codes",
    ]
    .iter()
    .flat_map(|sql| db.query_map(sql, params![], |r| r.only()).unwrap())
    .collect();
    assert!(stored.len() >= 4, "{} stored digests", stored.len());
    for bytes in &stored {
        forbidden.extend(spellings(bytes));
    }
    let texts: Vec<String> = [
        "SELECT password_hash FROM customers WHERE password_hash IS NOT NULL",
        "SELECT secret FROM customer_totp",
    ]
    .iter()
    .flat_map(|sql| db.query_map(sql, params![], |r| r.only()).unwrap())
    .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    for text in &texts {
        forbidden.push(text.clone());
        // A PHC string's salt and hash, each on its own too.
        forbidden.extend(
            text.split('$')
                .filter(|part| part.len() >= 16)
                .map(str::to_owned),
        );
    }

    // Every GET under /admin the staff may call, from the route table, for both customers.
    let ids: Vec<String> = ["shopper@example.com", "guest@example.com"]
        .iter()
        .map(|email| {
            db.query_row(
                "SELECT id FROM customers WHERE email = ?1",
                params![*email],
                |r| r.only(),
            )
            .unwrap()
        })
        .collect();
    let mut paths: Vec<(String, Role)> = Vec::new();
    for route in ROUTES
        .iter()
        .filter(|r| r.verb == Verb::Get && r.path.starts_with("/admin"))
    {
        let Some(Access::Admin(role)) = route.operation().map(|op| op.access) else {
            continue;
        };
        let mut concrete = Vec::new();
        if route.path.starts_with("/admin/customers/{id}") {
            for id in &ids {
                concrete.push(route.path.replace("{id}", id));
            }
        } else if route.path.starts_with("/admin/subscriptions/{id}") {
            let members = route.path.replace("{id}", "newsletter");
            concrete.push(format!("{members}?format=csv"));
            concrete.push(members);
        } else {
            assert!(!route.path.contains('{'), "a new parameter: {}", route.path);
            concrete.push(route.path.to_owned());
        }
        if route.path == "/admin/customers" {
            concrete.push("/admin/customers?search=shopper".into());
            concrete.push("/admin/customers?search=guest".into());
        }
        paths.extend(concrete.into_iter().map(|p| (p, role)));
    }
    assert!(paths.len() >= 20, "{paths:?}");
    let mut read = 0;
    // Twice: the agent's first walk makes them one who touched the customers, whose audit
    // entries they may then read.
    for _ in 0..2 {
        for (token, role) in [(&agent, Role::Support), (&owner, Role::Owner)] {
            for (path, needed) in &paths {
                let response = app
                    .client
                    .get(app.url(path))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let body = response.text().await.unwrap();
                if role >= *needed {
                    assert_eq!(status, StatusCode::OK, "GET {path} as {role}: {body}");
                    read += 1;
                }
                for secret in &forbidden {
                    assert!(
                        !shows(&body, secret),
                        "GET {path} as {role} shows {secret:?}: {body}"
                    );
                }
            }
        }
    }
    assert!(read >= 40, "{read} answers read");
}
