//! Account security the customer can see: their sessions, their activity, the notices of
//! changes, and the undo of an email change.

use std::num::NonZero;

use crate::common::{PASSWORD, PATIENCE, TestApp, eventually, spawn_app, spawn_app_with};
use customer_area::config::Secret;
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "admin-token-for-security-tests-01";
const CONFIRM_LINK: &str = "https://shop.example.com/confirm-email";
const UNDO_LINK: &str = "https://shop.example.com/undo-email";

/// An app whose per-IP budgets do not get in the way of one test's many calls from loopback.
async fn app() -> TestApp {
    spawn_app_with(|c| {
        c.limits.codes_per_ip_per_minute = NonZero::new(10_000).unwrap();
        c.limits.login_per_ip_per_minute = NonZero::new(10_000).unwrap();
        c.limits.emails_per_ip_per_hour = NonZero::new(10_000).unwrap();
        c.limits.emails_per_address_per_minute = NonZero::new(100).unwrap();
        c.limits.emails_per_address_per_hour = NonZero::new(100).unwrap();
        c.admin.api_token = Secret::new(ADMIN);
    })
    .await
}

/// Logs in with a given User-Agent; returns the token.
async fn login_as(app: &TestApp, email: &str, password: &str, user_agent: &str) -> String {
    app.token_as(email, password, user_agent).await
}

async fn get(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    app.call(Method::GET, path, Some(token), None).await
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = get(app, "/customers/sessions", token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["sessions"].as_array().unwrap().clone()
}

/// The kinds of the caller's activity, newest first.
async fn kinds(app: &TestApp, token: &str) -> Vec<String> {
    let (status, body) = get(app, "/customers/activity?limit=100", token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// Reads one number from the app's database directly (what the API must not show).
fn count(app: &TestApp, sql: &str) -> i64 {
    app.db()
        .query_row(sql, params![], |row| row.only())
        .unwrap()
}

#[tokio::test]
async fn two_logins_from_different_user_agents_are_listed_and_a_revoked_one_is_dead_at_once() {
    let app = app().await;
    app.active_customer("two@example.com").await;
    let laptop = login_as(&app, "two@example.com", PASSWORD, "Laptop Browser/1.0").await;
    let phone = login_as(&app, "two@example.com", PASSWORD, "Phone\tBrowser/2.0").await;

    let listed = sessions(&app, &laptop).await;
    let agents: Vec<&str> = listed
        .iter()
        .filter_map(|s| s["user_agent"].as_str())
        .collect();
    assert!(agents.contains(&"Laptop Browser/1.0"), "{listed:?}");
    assert!(
        agents.contains(&"PhoneBrowser/2.0"),
        "control characters removed: {listed:?}"
    );
    let current: Vec<&Value> = listed.iter().filter(|s| s["current"] == true).collect();
    // A User-Agent is kept to 256 characters.
    let long = login_as(&app, "two@example.com", PASSWORD, &"x".repeat(400)).await;
    let kept = sessions(&app, &long).await;
    let kept = kept.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(kept["user_agent"].as_str().unwrap().len(), 256);
    app.call(Method::POST, "/customers/logout", Some(&long), None)
        .await;
    assert_eq!(current.len(), 1, "{listed:?}");
    assert_eq!(current[0]["user_agent"], "Laptop Browser/1.0");
    for session in &listed {
        assert_eq!(session["ip"], "127.0.0.1", "{session}");
        assert!(session["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(session["last_used_at"].as_str().unwrap().ends_with('Z'));
        let keys: Vec<&String> = session.as_object().unwrap().keys().collect();
        assert_eq!(
            keys.len(),
            7,
            "exactly id, created_at, last_used_at, ip, user_agent, device, current: {session}"
        );
    }

    let phone_id = listed
        .iter()
        .find(|s| s["user_agent"] == "PhoneBrowser/2.0")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/customers/sessions/{phone_id}"),
            Some(&laptop),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"result": "revoked"}));
    assert_eq!(app.get_self(&phone).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_self(&laptop).await.0, StatusCode::OK);
    let after = sessions(&app, &laptop).await;
    assert_eq!(after.len(), listed.len() - 1);
    assert!(after.iter().all(|s| s["id"] != phone_id.as_str()));
    // Gone means gone: a second revoke is a 404.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/customers/sessions/{phone_id}"),
            Some(&laptop),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn revoking_all_other_sessions_keeps_the_caller() {
    let app = app().await;
    let first = app.active_customer("many@example.com").await;
    let second = app.token("many@example.com", PASSWORD).await;
    let third = app.token("many@example.com", PASSWORD).await;
    let (status, body) = app
        .call(Method::DELETE, "/customers/sessions", Some(&second), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"result": "revoked", "count": 2}));
    assert_eq!(app.get_self(&first).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_self(&third).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_self(&second).await.0, StatusCode::OK);
    let left = sessions(&app, &second).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
}

#[tokio::test]
async fn another_customers_session_and_a_non_id_answer_404_like_an_unknown_id() {
    let app = app().await;
    let mine = app.active_customer("mine@example.com").await;
    let theirs = app.active_customer("theirs@example.com").await;
    let their_id = sessions(&app, &theirs).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unknown = "0123456789abcdef";
    let mut answers = Vec::new();
    for id in [
        their_id.as_str(),
        unknown,
        "not-an-id",
        "1%27%20OR%201=1",
        "ABCDEF0123456789",
    ] {
        let (status, body) = app
            .call(
                Method::DELETE,
                &format!("/customers/sessions/{id}"),
                Some(&mine),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {body}");
        answers.push(body);
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "every 404 alike: {answers:?}"
    );
    assert_eq!(app.get_self(&theirs).await.0, StatusCode::OK, "untouched");
    // Without a token, nothing at all.
    let (status, _) = app
        .call(Method::GET, "/customers/sessions", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn last_use_is_recorded_at_most_once_a_minute() {
    let app = app().await;
    let token = app.active_customer("used@example.com").await;
    let stamp = || count(&app, "SELECT last_used_at FROM sessions");
    let opened = stamp();
    // A fresh session is not written again by the requests that follow.
    for _ in 0..3 {
        assert_eq!(app.get_self(&token).await.0, StatusCode::OK);
        sessions(&app, &token).await;
    }
    assert_eq!(stamp(), opened);
    // Once a minute old, the next request marks it used (after its answer).
    app.db()
        .execute(
            "UPDATE sessions SET last_used_at = last_used_at - 120",
            params![],
        )
        .unwrap();
    assert_eq!(app.get_self(&token).await.0, StatusCode::OK);
    eventually(PATIENCE, "the session is marked used", || {
        std::future::ready((stamp() >= opened).then_some(()))
    })
    .await;
}

#[tokio::test]
async fn activity_shows_each_kind_after_the_action_that_causes_it() {
    let app = app().await;
    app.add_list(ADMIN, "news", "News").await;
    let token = app.active_customer("acts@example.com").await;
    assert_eq!(
        kinds(&app, &token).await,
        ["login_succeeded", "account_activated"]
    );

    assert_eq!(
        app.login("acts@example.com", "wrong password").await.0,
        StatusCode::UNAUTHORIZED
    );
    eventually(PATIENCE, "the failed login is recorded", || async {
        kinds(&app, &token)
            .await
            .first()
            .is_some_and(|k| k == "login_failed")
            .then_some(())
    })
    .await;

    app.patch_self(&token, json!({"name": "New Name"})).await;
    assert_eq!(kinds(&app, &token).await[0], "profile_updated");
    app.patch_self(&token, json!({"subscriptions": ["news"]}))
        .await;
    assert_eq!(kinds(&app, &token).await[0], "subscriptions_changed");
    // Setting the same set again changes nothing and records nothing.
    app.patch_self(&token, json!({"subscriptions": ["news"]}))
        .await;
    assert_eq!(kinds(&app, &token).await[1], "profile_updated");

    let new_password = "an entirely new passphrase";
    let (status, body) = app
        .patch_self(
            &token,
            json!({"password": new_password, "password_check": new_password, "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(kinds(&app, &token).await[0], "password_changed");

    let other = app.token("acts@example.com", new_password).await;
    let (status, _) = app
        .call(Method::DELETE, "/customers/sessions", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get_self(&other).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        kinds(&app, &token).await[..2],
        ["session_revoked", "login_succeeded"]
    );

    app.patch_self(&token, json!({"email": "acts-new@example.com"}))
        .await;
    assert_eq!(kinds(&app, &token).await[0], "email_change_requested");
    let mail = app
        .wait_for_email("acts-new@example.com", "Confirm your new email")
        .await;
    let (status, body) = app
        .post(
            "/customers/newemail_confirm",
            json!({"identifier": mail.link_param(CONFIRM_LINK, "identifier"),
                   "key": mail.link_param(CONFIRM_LINK, "key")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(kinds(&app, &token).await[0], "email_changed");

    let undo = app
        .wait_for_email("acts@example.com", "email address was changed")
        .await;
    let (status, body) = app
        .post(
            "/customers/email_change_undo",
            json!({"identifier": undo.link_param(UNDO_LINK, "identifier"),
                   "key": undo.link_param(UNDO_LINK, "key")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The undo ended every session and the password, and sent the restored address a reset
    // link at once.
    assert_eq!(
        app.login("acts@example.com", new_password).await.0,
        StatusCode::UNAUTHORIZED
    );
    let reset = app.wait_for_email("acts@example.com", "Reset your").await;
    let code = reset.link("https://shop.example.com/reset/");
    let code = code.rsplit('/').next().unwrap();
    let (status, body) = app
        .post(
            "/customers/do_reset",
            json!({"email": "acts@example.com", "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let passphrase = {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        jsonwebtoken::decode::<Value>(
            body["token"].as_str().unwrap(),
            &jsonwebtoken::DecodingKey::from_secret(code.as_bytes()),
            &validation,
        )
        .unwrap()
        .claims["passphrase"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let token = app.token("acts@example.com", &passphrase).await;
    let (status, _) = app
        .call(Method::POST, "/customers/logout", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let token = app.token("acts@example.com", &passphrase).await;

    let (status, body) = get(&app, "/customers/activity?limit=100", &token).await;
    assert_eq!(status, StatusCode::OK);
    let events = body["events"].as_array().unwrap();
    let seen: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        seen[..7],
        [
            "login_succeeded",
            "logout",
            "login_succeeded",
            "password_reset_completed",
            "login_failed",
            "password_reset_requested",
            "email_change_undone"
        ]
    );
    for kind in [
        "login_succeeded",
        "login_failed",
        "logout",
        "session_revoked",
        "password_changed",
        "password_reset_requested",
        "password_reset_completed",
        "email_change_requested",
        "email_changed",
        "email_change_undone",
        "profile_updated",
        "subscriptions_changed",
        "account_activated",
    ] {
        assert!(seen.contains(&kind), "{kind} missing from {seen:?}");
    }
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    for event in events {
        assert_eq!(event["ip"], "127.0.0.1", "{event}");
        assert!(event["at"].as_str().unwrap().ends_with('Z'), "{event}");
    }
}

#[tokio::test]
async fn a_failed_login_of_an_unknown_address_records_nothing() {
    let app = app().await;
    let token = app.active_customer("known@example.com").await;
    let before = count(&app, "SELECT count(*) FROM activity");
    for _ in 0..3 {
        assert_eq!(
            app.login("nobody@example.com", "whatever it is").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // A failure of the real account, recorded after it, shows that the recorder has run.
    assert_eq!(
        app.login("known@example.com", "not the password").await.0,
        StatusCode::UNAUTHORIZED
    );
    eventually(
        PATIENCE,
        "the real account's failure is recorded",
        || async { (kinds(&app, &token).await[0] == "login_failed").then_some(()) },
    )
    .await;
    assert_eq!(count(&app, "SELECT count(*) FROM activity"), before + 1);
    assert_eq!(
        count(&app, "SELECT count(*) FROM customers"),
        1,
        "nothing created for the unknown address"
    );
}

#[tokio::test]
async fn activity_pages_with_before_and_limit_and_refuses_bad_values_naming_the_field() {
    let app = app().await;
    let token = app.active_customer("pages@example.com").await;
    for n in 0..5 {
        app.patch_self(&token, json!({"name": format!("Name {n}")}))
            .await;
    }
    let (_, all) = get(&app, "/customers/activity", &token).await;
    let all: Vec<i64> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(all.len(), 7);
    let (status, page) = get(&app, "/customers/activity?limit=2", &token).await;
    assert_eq!(status, StatusCode::OK);
    let first: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(first, all[..2]);
    let (_, page) = get(
        &app,
        &format!("/customers/activity?limit=3&before={}", first[1]),
        &token,
    )
    .await;
    let next: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(next, all[2..5]);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("limit=-1", "limit"),
        ("before=abc", "before"),
        ("before=0", "before"),
        ("before=1.5", "before"),
        ("before=99999999999999999999", "before"),
        ("limit=5&limit=6", "limit"),
        ("page=2", "page"),
    ] {
        let (status, body) = get(&app, &format!("/customers/activity?{query}"), &token).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert!(body["fields"][field].is_string(), "{query}: {body}");
    }
    let (status, _) = get(&app, "/customers/activity?limit=100", &token).await;
    assert_eq!(status, StatusCode::OK, "100 is the largest page");
}

#[tokio::test]
async fn activity_older_than_the_retention_is_swept_by_housekeeping() {
    let app = spawn_app_with(|c| c.auth.activity_retention_days = NonZero::new(90).unwrap()).await;
    let token = app.active_customer("old@example.com").await;
    let id: String = app
        .db()
        .query_row("SELECT id FROM customers", params![], |row| row.only())
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    app.db()
        .execute(
            "INSERT INTO activity (customer_id, kind, at) VALUES (?1, 'logout', ?2)",
            params![id, now - 91 * 86400],
        )
        .unwrap();
    assert_eq!(kinds(&app, &token).await.len(), 3);
    // Housekeeping runs at start: a restart on the same database sweeps the old event.
    let app = app.restart().await;
    eventually(PATIENCE, "the old event is swept", || {
        std::future::ready(
            (count(&app, "SELECT count(*) FROM activity WHERE kind = 'logout'") == 0).then_some(()),
        )
    })
    .await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM activity"),
        2,
        "recent events stay"
    );
}

#[tokio::test]
async fn housekeeping_sweeps_more_expired_sessions_than_one_batch_holds_and_keeps_live_ones() {
    let app = spawn_app().await;
    let token = app.active_customer("many@example.com").await;
    let id: String = app
        .db()
        .query_row("SELECT id FROM customers", params![], |row| row.only())
        .unwrap();
    let expired = 2 * customer_area::flows::SWEEP_BATCH + 500;
    // Random token hashes and public ids, made here (neither store's SQL has a portable way),
    // inserted in one transaction.
    app.db()
        .with(|db| {
            db.execute_batch("BEGIN")?;
            let mut insert = db.prepare_cached(
                "INSERT INTO sessions (token_hash, customer_id, created_at, expires_at, public_id)
                 VALUES (?1, ?2, 0, 1, ?3)",
            )?;
            for _ in 0..expired {
                let mut token_hash = [0u8; 32];
                customer_area::random::random_bytes(&mut token_hash);
                let mut public = [0u8; 8];
                customer_area::random::random_bytes(&mut public);
                let public_id: String = public.iter().map(|b| format!("{b:02x}")).collect();
                insert.execute(params![token_hash.to_vec(), id, public_id])?;
            }
            drop(insert);
            db.execute_batch("COMMIT")
        })
        .unwrap();
    // Housekeeping runs at start: a restart on the same database sweeps them, batch by batch.
    let app = app.restart().await;
    eventually(PATIENCE, "every expired session is swept", || {
        std::future::ready(
            (count(&app, "SELECT count(*) FROM sessions WHERE expires_at = 1") == 0).then_some(()),
        )
    })
    .await;
    assert_eq!(count(&app, "SELECT count(*) FROM sessions"), 1);
    assert_eq!(
        app.get_self(&token).await.0,
        StatusCode::OK,
        "the live session stays"
    );
}

#[tokio::test]
async fn the_security_endpoints_draw_on_the_per_ip_budget_of_code_attempts() {
    let app = spawn_app_with(|c| c.limits.codes_per_ip_per_minute = NonZero::new(3).unwrap()).await;
    let token = app.active_customer("budget@example.com").await;
    // Activation spent one attempt of the budget.
    for _ in 0..2 {
        assert_eq!(
            get(&app, "/customers/sessions", &token).await.0,
            StatusCode::OK
        );
    }
    for (method, path) in [
        (Method::GET, "/customers/sessions"),
        (Method::GET, "/customers/activity"),
        (Method::GET, "/customers/self/export"),
        (Method::DELETE, "/customers/sessions"),
        (Method::DELETE, "/customers/sessions/0123456789abcdef"),
    ] {
        let (status, body) = app.call(method, path, Some(&token), None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{path}: {body}");
    }
    let (status, body) = app
        .post(
            "/customers/email_change_undo",
            json!({"identifier": "someone", "key": "J32NA974R4F7N1HB"}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

#[tokio::test]
async fn activity_records_the_user_agent_of_the_client_that_acted() {
    let app = app().await;
    app.active_customer("agent@example.com").await;
    let token = login_as(&app, "agent@example.com", PASSWORD, "Agent Smith/1.0").await;
    let (_, body) = get(&app, "/customers/activity?limit=1", &token).await;
    let event = &body["events"][0];
    assert_eq!(event["kind"], "login_succeeded");
    assert_eq!(event["user_agent"], "Agent Smith/1.0");
    assert_eq!(event["ip"], "127.0.0.1");
}

/// What current browsers send, from their release channels.
const FIREFOX_ON_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0";
const SAFARI_ON_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1";

/// The keys of a schema of the OpenAPI document.
fn documented_keys(schema: &str) -> Vec<String> {
    let doc = customer_area::http::openapi::document();
    let mut keys: Vec<String> = doc["components"]["schemas"][schema]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("the schema {schema} has properties"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn keys_of(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn sessions_name_each_device_beside_its_user_agent_as_documented() {
    let app = app().await;
    app.active_customer("devices@example.com").await;
    let laptop = login_as(&app, "devices@example.com", PASSWORD, FIREFOX_ON_WINDOWS).await;
    login_as(&app, "devices@example.com", PASSWORD, SAFARI_ON_IPHONE).await;
    login_as(&app, "devices@example.com", PASSWORD, "curl/8.14.1").await;

    let listed = sessions(&app, &laptop).await;
    let device_of = |agent: &str| {
        let session = listed
            .iter()
            .find(|s| s["user_agent"] == agent)
            .unwrap_or_else(|| panic!("a session of {agent}: {listed:?}"));
        session["device"].as_str().unwrap().to_owned()
    };
    assert_eq!(device_of(FIREFOX_ON_WINDOWS), "Firefox on Windows");
    assert_eq!(device_of(SAFARI_ON_IPHONE), "Safari on iPhone");
    assert_eq!(device_of("curl/8.14.1"), "curl");
    for session in &listed {
        assert_eq!(keys_of(session), documented_keys("Session"), "{session}");
    }

    // A client that sends no User-Agent at all (the tests' HTTP client) is still named.
    let anonymous = app.token("devices@example.com", PASSWORD).await;
    let anonymous = sessions(&app, &anonymous).await;
    let current = anonymous.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(current["user_agent"], Value::Null, "{current}");
    assert_eq!(current["device"], "Unknown device", "{current}");
}

#[tokio::test]
async fn activity_names_the_device_that_acted_beside_its_user_agent_as_documented() {
    let app = app().await;
    app.active_customer("acted@example.com").await;
    login_as(&app, "acted@example.com", PASSWORD, SAFARI_ON_IPHONE).await;
    let token = login_as(&app, "acted@example.com", PASSWORD, FIREFOX_ON_WINDOWS).await;
    let (status, body) = get(&app, "/customers/activity?limit=3", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = body["events"].as_array().unwrap();
    let devices: Vec<&str> = events
        .iter()
        .map(|e| e["device"].as_str().unwrap())
        .collect();
    // Newest first; `active_customer` signed in once without a User-Agent.
    assert_eq!(
        devices,
        ["Firefox on Windows", "Safari on iPhone", "Unknown device"],
        "{body}"
    );
    assert_eq!(events[0]["user_agent"], FIREFOX_ON_WINDOWS);
    // `method` is documented too, and only on sign-ins, `detail` only on staff actions: the
    // documented keys are the union.
    let mut documented = documented_keys("ActivityEvent");
    documented.retain(|key| key != "method" || events[0].get("method").is_some());
    documented.retain(|key| key != "detail" || events[0].get("detail").is_some());
    assert_eq!(keys_of(&events[0]), documented, "{}", events[0]);
}
