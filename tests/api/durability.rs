//! Nothing acknowledged is lost to a crash: trials of SIGKILL against the built binary. In each
//! trial profile writers, sign-ups and password-reset requests run in parallel until the
//! process is killed at a random moment; after a restart on the same database every write that
//! was answered 200 is stored, and every answered sign-up and reset gets its email.
//!
//! `cargo test` runs 3 trials; `CUSTOMER_AREA_KILL_TRIALS=N` runs N.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::binary::{Binary, Serving, sigterm};
use crate::common::smtp::SmtpSink;
use crate::common::{Email, PASSWORD, PATIENCE, eventually};
use customer_area::random::random_below;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Profile writers, each with an account of its own.
const WRITERS: usize = 3;
/// Parallel sign-up and reset requesters.
const REQUESTERS: usize = 2;
/// Each requester's pause between requests: the worker sends one email at a time (about ten a
/// second here), and a trial should leave no more than it sends in a few seconds.
const PACE: Duration = Duration::from_millis(100);

/// What the server answered 200 to, across all trials.
#[derive(Default)]
struct Acknowledged {
    /// Each writer's last acknowledged name number.
    names: Mutex<BTreeMap<usize, u64>>,
    /// Addresses whose sign-up was answered 200.
    signups: Mutex<Vec<String>>,
    /// How many resets were answered 200, per address.
    resets: Mutex<BTreeMap<String, usize>>,
}

/// `serve` on the database in `dir`, mailing the sink, with budgets no trial reaches.
fn serve(dir: &Path, smtp: &SmtpSink) -> Server {
    let port = smtp.port().to_string();
    let serving = Binary::new()
        .in_dir(dir)
        .envs(&[
            ("CUSTOMER_AREA_AUTH_PBKDF2_ITERATIONS", "1000"),
            ("CUSTOMER_AREA_AUTH_ALLOW_SIGNUP", "true"),
            (
                "CUSTOMER_AREA_LINKS_RETAILER_URL",
                "https://shop.example.com",
            ),
            ("CUSTOMER_AREA_MAIL_TRANSPORT", "smtp"),
            ("CUSTOMER_AREA_MAIL_SMTP_HOST", "127.0.0.1"),
            ("CUSTOMER_AREA_MAIL_SMTP_PORT", &port),
            ("CUSTOMER_AREA_MAIL_SMTP_TLS", "none"),
            ("CUSTOMER_AREA_MAIL_RETRY_FIRST_SECONDS", "1"),
            ("CUSTOMER_AREA_MAIL_RETRY_MAX_SECONDS", "2"),
            ("CUSTOMER_AREA_LIMITS_LOGIN_PER_IP_PER_MINUTE", "100000"),
            ("CUSTOMER_AREA_LIMITS_CODES_PER_IP_PER_MINUTE", "100000"),
            ("CUSTOMER_AREA_LIMITS_EMAILS_PER_IP_PER_HOUR", "100000"),
            (
                "CUSTOMER_AREA_LIMITS_EMAILS_PER_ADDRESS_PER_MINUTE",
                "100000",
            ),
            ("CUSTOMER_AREA_LIMITS_EMAILS_PER_ADDRESS_PER_HOUR", "100000"),
        ])
        // The trial count is the test's, not a config key the server should warn about.
        .env_remove("CUSTOMER_AREA_KILL_TRIALS")
        .quiet()
        .serve();
    Server(serving)
}

/// A `serve` process, killed when dropped: a failing trial leaves no server behind.
struct Server(Serving);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

/// Every email the sink accepted, parsed.
fn delivered(smtp: &SmtpSink) -> Vec<Email> {
    smtp.accepted()
        .iter()
        .map(|received| Email::parse(&received.data))
        .collect()
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Option<(StatusCode, Value)> {
    let response = client.post(url).json(&body).send().await.ok()?;
    let status = response.status();
    Some((status, response.json().await.ok()?))
}

/// Signs `email` up, activates it through its email and logs in; returns the token.
async fn account(base: &str, smtp: &SmtpSink, email: &str) -> String {
    let client = reqwest::Client::new();
    let (status, body) = post(
        &client,
        format!("{base}/customers/signup"),
        json!({"email": email, "name": "Writer"}),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let mail = eventually(PATIENCE, "the activation email arrives", || {
        std::future::ready(delivered(smtp).into_iter().find(|e| e.to == email))
    })
    .await;
    let link = "https://shop.example.com/activate";
    let (status, body) = post(
        &client,
        format!("{base}/customers/activate"),
        json!({
            "identifier": mail.link_param(link, "identifier"),
            "secret": mail.link_param(link, "secret"),
            "password": PASSWORD,
            "password_check": PASSWORD,
        }),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = post(
        &client,
        format!("{base}/customers/login"),
        json!({"email": email, "password": PASSWORD}),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// Renames writer `writer` again and again, noting each name answered 200.
async fn write_profile(base: String, token: String, writer: usize, acked: Arc<Acknowledged>) {
    let client = reqwest::Client::new();
    let mut number = acked
        .names
        .lock()
        .unwrap()
        .get(&writer)
        .copied()
        .unwrap_or(0);
    loop {
        number += 1;
        let answer = client
            .patch(format!("{base}/customers/self"))
            .bearer_auth(&token)
            .json(&json!({ "name": format!("Writer {writer} #{number}") }))
            .send()
            .await;
        match answer {
            Ok(response) if response.status() == StatusCode::OK => {
                acked.names.lock().unwrap().insert(writer, number);
            }
            // Killed mid-request: not acknowledged.
            _ => return,
        }
    }
}

/// Asks sign-ups for fresh addresses and resets for the writers' addresses, alternately,
/// noting each one answered 200.
async fn request_emails(base: String, trial: usize, requester: usize, acked: Arc<Acknowledged>) {
    let client = reqwest::Client::new();
    for n in 0.. {
        let (path, email, body) = if n % 2 == 0 {
            let email = format!("signup-{trial}-{requester}-{n}@example.com");
            let body = json!({"email": email, "name": "New"});
            ("signup", email, body)
        } else {
            let email = writer_email(n % WRITERS);
            let body = json!({"email": email, "reset_uri": "/reset"});
            ("password_reset", email, body)
        };
        match post(&client, format!("{base}/customers/{path}"), body).await {
            Some((StatusCode::OK, _)) if path == "signup" => {
                acked.signups.lock().unwrap().push(email);
            }
            Some((StatusCode::OK, _)) => {
                *acked.resets.lock().unwrap().entry(email).or_default() += 1;
            }
            _ => return,
        }
        tokio::time::sleep(PACE).await;
    }
}

fn writer_email(writer: usize) -> String {
    format!("writer-{writer}@example.com")
}

/// Checks, on a freshly started server, that everything acknowledged so far is there.
async fn check_nothing_lost(base: &str, tokens: &[String], smtp: &SmtpSink, acked: &Acknowledged) {
    let client = reqwest::Client::new();
    let names = acked.names.lock().unwrap().clone();
    for (writer, token) in tokens.iter().enumerate() {
        let body: Value = client
            .get(format!("{base}/customers/self"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let stored: u64 = body["name"]
            .as_str()
            .and_then(|n| n.rsplit('#').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let answered = names.get(&writer).copied().unwrap_or(0);
        // A write answered 200 is stored; one in flight at the kill may be stored too.
        assert!(
            stored >= answered,
            "writer {writer}: name #{answered} was acknowledged, the database holds #{stored}"
        );
    }
    let signups = acked.signups.lock().unwrap().clone();
    let resets = acked.resets.lock().unwrap().clone();
    let missing_now = || -> Vec<String> {
        let emails = delivered(smtp);
        let mut missing: Vec<String> = signups
            .iter()
            .filter(|a| !emails.iter().any(|e| &e.to == *a))
            .map(|a| format!("the sign-up email to {a}"))
            .collect();
        for (address, asked) in &resets {
            let got = emails
                .iter()
                .filter(|e| &e.to == address && e.subject.starts_with("Reset"))
                .count();
            if got < *asked {
                missing.push(format!("{asked} reset emails to {address}, {got} arrived"));
            }
        }
        missing
    };
    // The worker sends one email at a time: wait while emails keep arriving, and give up
    // only once none has arrived for PATIENCE while some are still missing.
    let mut arrived = smtp.accepted().len();
    let mut progress = tokio::time::Instant::now();
    let mut missing = missing_now();
    while !missing.is_empty() && progress.elapsed() < PATIENCE {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if smtp.accepted().len() > arrived {
            arrived = smtp.accepted().len();
            progress = tokio::time::Instant::now();
        }
        missing = missing_now();
    }
    assert!(missing.is_empty(), "acknowledged, never sent: {missing:#?}");
}

/// How many trials to run: `CUSTOMER_AREA_KILL_TRIALS`, else 3.
fn trials() -> usize {
    std::env::var("CUSTOMER_AREA_KILL_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_when_the_server_is_killed_at_a_random_moment() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start().await;
    let acked = Arc::new(Acknowledged::default());
    let mut server = serve(dir.path(), &smtp);
    let mut base = format!("http://127.0.0.1:{}", server.0.port);
    let mut tokens = Vec::new();
    for writer in 0..WRITERS {
        tokens.push(account(&base, &smtp, &writer_email(writer)).await);
    }
    let trials = trials();
    for trial in 0..trials {
        let mut load = tokio::task::JoinSet::new();
        for (writer, token) in tokens.iter().enumerate() {
            load.spawn(write_profile(
                base.clone(),
                token.clone(),
                writer,
                acked.clone(),
            ));
        }
        for requester in 0..REQUESTERS {
            load.spawn(request_emails(
                base.clone(),
                trial,
                requester,
                acked.clone(),
            ));
        }
        // Kill at a random moment while the load runs.
        let after = Duration::from_millis(100 + u64::from(random_below(1400)));
        tokio::time::sleep(after).await;
        server.0.child.kill().unwrap();
        server.0.child.wait().unwrap();
        // Every request in flight ends without an answer; none counts as acknowledged.
        while load.join_next().await.is_some() {}
        let names = acked.names.lock().unwrap().values().sum::<u64>();
        let signups = acked.signups.lock().unwrap().len();
        eprintln!(
            "kill trial {}/{trials}: killed after {after:?}; acknowledged so far: {names} renames, \
             {signups} sign-ups",
            trial + 1
        );

        server = serve(dir.path(), &smtp);
        base = format!("http://127.0.0.1:{}", server.0.port);
        check_nothing_lost(&base, &tokens, &smtp, &acked).await;
    }
    assert!(
        acked.signups.lock().unwrap().len() >= trials,
        "the trials acknowledged sign-ups at all"
    );
    sigterm(&server.0.child);
    assert!(server.0.child.wait().unwrap().success());
}
