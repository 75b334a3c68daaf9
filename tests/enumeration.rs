//! No account enumeration through login: identical answers, and times that say nothing.

mod common;

use std::time::{Duration, Instant};

use common::{PASSWORD, spawn_app_with};

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
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
    // Each round runs the three cases back to back (in rotating order) and expresses each time
    // as a share of the round's mean, so that load changing between rounds cancels out.
    let mut shares: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut answers = Vec::new();
    for round in 0..41 {
        let mut times = [Duration::ZERO; 3];
        for k in 0..cases.len() {
            let i = (round + k) % cases.len();
            let (email, password) = cases[i];
            let started = Instant::now();
            answers.push(app.login(email, password).await);
            times[i] = started.elapsed();
        }
        let mean = times.iter().map(Duration::as_secs_f64).sum::<f64>() / times.len() as f64;
        for (i, time) in times.iter().enumerate() {
            shares[i].push(time.as_secs_f64() / mean);
        }
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "answers differ");
    let medians: Vec<f64> = shares.into_iter().map(median).collect();
    let slowest = medians.iter().cloned().fold(f64::MIN, f64::max);
    let fastest = medians.iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        (slowest - fastest) / fastest < 0.10,
        "median login times (active, pending, unknown; as shares of each round's mean) differ by 10% or more: {medians:?}"
    );
}
