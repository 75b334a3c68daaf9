//! No account enumeration through login: identical answers, and times that say nothing.

mod common;

use std::time::{Duration, Instant};

use common::{PASSWORD, spawn_app_with};

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64()
}

#[tokio::test]
async fn login_takes_as_long_for_unknown_pending_and_active_accounts() {
    let app = spawn_app_with(|c| {
        // Enough hashing work that it, not noise, decides the time.
        c.auth.pbkdf2_iterations = 5_000;
        c.limits.login_free_failures = 10_000;
        c.limits.login_per_ip_per_minute = 10_000;
    })
    .await;
    app.active_customer("active@example.com").await;
    app.create_customer("pending@example.com", "Pending").await;
    let cases = [
        ("active@example.com", "not the password"),
        ("pending@example.com", PASSWORD),
        ("unknown@example.com", PASSWORD),
    ];
    // Warm up connections and caches, then interleave the trials so drift hits all alike.
    for (email, password) in cases {
        app.login(email, password).await;
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    let mut answers = Vec::new();
    for _ in 0..31 {
        for (i, (email, password)) in cases.iter().enumerate() {
            let started = Instant::now();
            let answer = app.login(email, password).await;
            times[i].push(started.elapsed());
            answers.push(answer);
        }
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "answers differ");
    let medians: Vec<f64> = times.into_iter().map(median).collect();
    let slowest = medians.iter().cloned().fold(f64::MIN, f64::max);
    let fastest = medians.iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        (slowest - fastest) / fastest < 0.10,
        "median login times (active, pending, unknown) differ by 10% or more: {medians:?}"
    );
}
