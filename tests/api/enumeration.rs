//! No account enumeration: login, password_reset, do_reset, signup and the sign-in code's
//! request and check give byte-identical answers for unknown, pending and active accounts, and
//! their median times differ by under 10%; a locked account's right password (which has a code
//! emailed) takes as long as a wrong one.

use std::future::Future;
use std::num::NonZero;
use std::time::{Duration, Instant};

use crate::common::{PASSWORD, TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Runs each case `rounds` times, interleaved in rotating order, and returns each case's
/// median time as a share of its round's mean (load drifting between rounds cancels out),
/// checking that every answer is byte-identical. Before each round it waits `settle` (so
/// work done after earlier answers is not measured) and sends one unmeasured request (so no
/// position in the round pays for a cold start).
async fn median_shares<F, Fut>(
    app: &TestApp,
    cases: usize,
    rounds: usize,
    settle: Duration,
    run: F,
) -> Vec<f64>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = (StatusCode, Value)>,
{
    let (medians, answers) = timed(app, cases, rounds, settle, run).await;
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "answers differ: {:?}",
        answers.iter().find(|a| *a != &answers[0])
    );
    medians
}

/// [`median_shares`] without the check that the answers are the same: the medians, and every
/// answer in the order they came.
async fn timed<F, Fut>(
    app: &TestApp,
    cases: usize,
    rounds: usize,
    settle: Duration,
    mut run: F,
) -> (Vec<f64>, Vec<(StatusCode, Value)>)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = (StatusCode, Value)>,
{
    let mut shares: Vec<Vec<f64>> = vec![Vec::new(); cases];
    let mut answers = Vec::new();
    for round in 0..rounds {
        tokio::time::sleep(settle).await;
        app.client.get(app.url("/healthz")).send().await.unwrap();
        let mut times = vec![Duration::ZERO; cases];
        for k in 0..cases {
            let i = (round + k) % cases;
            let started = Instant::now();
            answers.push(run(i).await);
            times[i] = started.elapsed();
        }
        let mean = times.iter().map(Duration::as_secs_f64).sum::<f64>() / cases as f64;
        for (i, time) in times.iter().enumerate() {
            shares[i].push(time.as_secs_f64() / mean);
        }
    }
    (shares.into_iter().map(median).collect(), answers)
}

/// The timing tests run one at a time: each would be the others' noise.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn assert_within_ten_percent(what: &str, medians: &[f64]) {
    let slowest = medians.iter().cloned().fold(f64::MIN, f64::max);
    let fastest = medians.iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        (slowest - fastest) / fastest < 0.10,
        "{what}: median times differ by 10% or more: {medians:?}"
    );
}

fn open_limits(c: &mut customer_area::config::Config) {
    c.limits.login_free_failures = 100_000;
    c.limits.login_per_ip_per_minute = NonZero::new(100_000).unwrap();
    c.limits.codes_per_ip_per_minute = NonZero::new(100_000).unwrap();
    c.limits.emails_per_ip_per_hour = NonZero::new(100_000).unwrap();
    c.limits.emails_per_address_per_minute = NonZero::new(100_000).unwrap();
    c.limits.emails_per_address_per_hour = NonZero::new(100_000).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "statistical: run by .ci/run in its own step"]
async fn login_takes_as_long_for_unknown_pending_active_and_locked_accounts() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let app = spawn_app_with(|c| {
        open_limits(c);
        // Enough hashing work that it, not noise, decides the time.
        c.auth.pbkdf2_iterations = 5_000;
    })
    .await;
    app.active_customer("active@example.com").await;
    app.create_customer("pending@example.com", "Pending").await;
    app.active_customer("locked@example.com").await;
    for _ in 0..app.config.limits.login_lockout_failures.get() {
        app.login("locked@example.com", "not the password").await;
    }
    app.wait_for_email("locked@example.com", "locked").await;
    let cases = [
        ("active@example.com", "not the password"),
        ("pending@example.com", PASSWORD),
        ("unknown@example.com", PASSWORD),
        ("locked@example.com", "not the password"),
    ];
    let medians = median_shares(&app, cases.len(), 41, Duration::ZERO, |i| {
        app.login(cases[i].0, cases[i].1)
    })
    .await;
    assert_within_ten_percent("login (active, pending, unknown, locked)", &medians);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "statistical: run by .ci/run in its own step"]
async fn password_reset_answers_alike_and_as_fast_for_every_kind_of_address() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let app = spawn_app_with(open_limits).await;
    app.active_customer("active@example.com").await;
    app.create_customer("pending@example.com", "Pending").await;
    let emails = [
        "active@example.com",
        "pending@example.com",
        "unknown@example.com",
    ];
    let reset = |i: usize| {
        app.post(
            "/customers/password_reset",
            json!({"email": emails[i], "reset_uri": "/reset"}),
        )
    };
    let medians = median_shares(&app, emails.len(), 101, Duration::from_millis(40), reset).await;
    assert_within_ten_percent("password_reset (active, pending, unknown)", &medians);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "statistical: run by .ci/run in its own step"]
async fn signup_answers_alike_and_as_fast_for_new_and_existing_addresses() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let app = spawn_app_with(|c| {
        open_limits(c);
        c.auth.allow_signup = true;
    })
    .await;
    app.active_customer("active@example.com").await;
    let mut fresh = 0;
    let medians = median_shares(&app, 2, 151, Duration::from_millis(30), |i| {
        fresh += 1;
        let email = if i == 0 {
            "active@example.com".to_owned()
        } else {
            format!("new{fresh}@example.com")
        };
        let app = &app;
        async move {
            app.post(
                "/customers/signup",
                json!({"email": email, "name": "Someone"}),
            )
            .await
        }
    })
    .await;
    assert_within_ten_percent("signup (existing, new)", &medians);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "statistical: run by .ci/run in its own step"]
async fn a_wrong_reset_code_takes_as_long_for_unknown_pending_and_active_accounts() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let app = spawn_app_with(open_limits).await;
    const ROUNDS: usize = 61;
    // Each account holds a live code and takes 4 wrong guesses, one short of the 5th that
    // would delete it (an account without a code would measure less than the issue does).
    let guesses_per_code = 4;
    let accounts: Vec<String> = (0..ROUNDS.div_ceil(guesses_per_code))
        .map(|n| format!("active{n}@example.com"))
        .collect();
    for email in &accounts {
        app.active_customer(email).await;
        app.ask_reset(email).await;
        app.wait_for_email(email, "Reset").await;
    }
    app.create_customer("pending@example.com", "Pending").await;
    let mut active_guesses = 0;
    let medians = median_shares(&app, 3, ROUNDS, Duration::from_millis(20), |i| {
        let email = match i {
            0 => {
                active_guesses += 1;
                accounts[(active_guesses - 1) / guesses_per_code].clone()
            }
            1 => "pending@example.com".to_owned(),
            _ => "unknown@example.com".to_owned(),
        };
        let app = &app;
        async move {
            app.post(
                "/customers/do_reset",
                json!({"email": email, "code": "WRONG00000"}),
            )
            .await
        }
    })
    .await;
    assert_within_ten_percent("do_reset (active, pending, unknown)", &medians);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "statistical: run by .ci/run in its own step"]
async fn a_wrong_password_takes_no_less_time_for_an_imported_hash_than_for_a_native_one() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let app = spawn_app_with(|c| {
        open_limits(c);
        c.auth.pbkdf2_iterations = 5_000;
    })
    .await;
    app.active_customer("native@example.com").await;
    // Imported hashes of the vectors (tests/vectors): the cheap schemes, whose own check costs
    // far less than a native one (a Magento SHA-256 takes microseconds), and a Django PBKDF2
    // of fewer rounds than the configured ones.
    let vectors: Vec<Value> =
        serde_json::from_str(include_str!("../vectors/password_hashes.json")).unwrap();
    let hash_of = |scheme: &str, prefix: &str| {
        vectors
            .iter()
            .filter(|v| v["scheme"] == scheme)
            .map(|v| v["hash"].as_str().unwrap().to_owned())
            .find(|h| h.starts_with(prefix) || h.ends_with(prefix))
            .unwrap()
    };
    let imported = [
        ("magento@example.com", hash_of("magento2", ":1")),
        ("phpass@example.com", hash_of("phpass", "$P$B")),
        ("drupal@example.com", hash_of("drupal7", "$S$5")),
        ("bcrypt@example.com", hash_of("bcrypt", "$2y$05$")),
        (
            "django@example.com",
            hash_of("django_pbkdf2_sha256", "pbkdf2_sha256$1000$"),
        ),
    ];
    for (email, hash) in &imported {
        app.active_customer(email).await;
        app.db()
            .execute(
                "UPDATE customers SET password_hash = ?1 WHERE email = ?2",
                &[hash, email],
            )
            .unwrap();
    }
    let emails: Vec<&str> = ["native@example.com", "unknown@example.com"]
        .into_iter()
        .chain(imported.iter().map(|(email, _)| *email))
        .collect();
    let medians = median_shares(&app, emails.len(), 41, Duration::ZERO, |i| {
        app.login(emails[i], "not the password")
    })
    .await;
    // A wrong password against a Magento SHA-256 hash answers as a native one does.
    assert_within_ten_percent("login (native, unknown, magento2 sha256)", &medians[..3]);
    // No imported hash answers sooner than a native one.
    for (i, email) in emails.iter().enumerate().skip(2) {
        assert!(
            medians[i] >= 0.9 * medians[0],
            "{email} answered sooner than a native hash: {medians:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "statistical: run by .ci/run in its own step"]
async fn a_locked_account_answers_its_right_password_as_fast_as_a_wrong_one() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let app = spawn_app_with(|c| {
        open_limits(c);
        c.auth.pbkdf2_iterations = 5_000;
        c.limits.login_lockout_failures = NonZero::new(3).unwrap();
    })
    .await;
    app.active_customer("locked@example.com").await;
    for _ in 0..3 {
        app.login("locked@example.com", "not the password").await;
    }
    app.wait_for_email("locked@example.com", "locked").await;
    let passwords = [PASSWORD, "not the password"];
    // The right password has a code emailed after its answer: the pause lets that work end
    // before the next round.
    let (medians, answers) = timed(&app, 2, 41, Duration::from_millis(30), |i| {
        app.login("locked@example.com", passwords[i])
    })
    .await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::UNAUTHORIZED, "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(
            ["email_code_required", "invalid_credentials"].contains(&error),
            "{body}"
        );
    }
    assert_within_ten_percent("login of a locked account (right, wrong)", &medians);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "statistical: run by .ci/run in its own step"]
async fn a_sign_in_code_request_answers_alike_and_as_fast_for_every_kind_of_address() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let app = spawn_app_with(open_limits).await;
    app.active_customer("active@example.com").await;
    app.create_customer("pending@example.com", "Pending").await;
    let emails = [
        "active@example.com",
        "pending@example.com",
        "unknown@example.com",
    ];
    let ask = |i: usize| app.post("/customers/login_code", json!({"email": emails[i]}));
    let medians = median_shares(&app, emails.len(), 101, Duration::from_millis(40), ask).await;
    assert_within_ten_percent("login_code (active, pending, unknown)", &medians);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "statistical: run by .ci/run in its own step"]
async fn a_wrong_sign_in_code_takes_as_long_for_unknown_and_known_accounts() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let app = spawn_app_with(open_limits).await;
    const ROUNDS: usize = 61;
    // Each account holds a live code and takes 4 wrong guesses, one short of the 5th that
    // would delete it.
    let guesses_per_code = 4;
    let accounts: Vec<String> = (0..ROUNDS.div_ceil(guesses_per_code))
        .map(|n| format!("active{n}@example.com"))
        .collect();
    for email in &accounts {
        app.active_customer(email).await;
        app.post("/customers/login_code", json!({"email": email}))
            .await;
        app.wait_for_email(email, "sign-in code").await;
    }
    let mut active_guesses = 0;
    let medians = median_shares(&app, 2, ROUNDS, Duration::from_millis(20), |i| {
        let email = match i {
            0 => {
                active_guesses += 1;
                accounts[(active_guesses - 1) / guesses_per_code].clone()
            }
            _ => "unknown@example.com".to_owned(),
        };
        let app = &app;
        async move {
            // Well-formed, so that it reaches the store; an account holds it one time in a
            // million.
            app.post(
                "/customers/login_code/verify",
                json!({"email": email, "code": "000000"}),
            )
            .await
        }
    })
    .await;
    assert_within_ten_percent("login_code/verify (active, unknown)", &medians);
}
