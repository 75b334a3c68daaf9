//! Times password verification on one thread with the product's own hasher, as login does
//! it, so that `bench/run` can compute the hashing ceiling: cores ÷ time of one hash.
//!
//! Usage: `hash_once [ITERATIONS] [COUNT]` (defaults 600000 and 8). Prints the seconds per
//! hash (the median of COUNT runs) on stdout.

use std::time::{Duration, Instant};

use customer_area::auth::{PasswordHasher, Requester};
use customer_area::domain::NewPassword;

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: u32 = args
        .next()
        .map_or(600_000, |a| a.parse().expect("ITERATIONS"));
    let count: usize = args.next().map_or(8, |a| a.parse().expect("COUNT"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // One permit: hashes run one after another, each on one blocking thread.
    let hasher =
        PasswordHasher::new(iterations, 1, 16, Duration::from_secs(600)).expect("hashing thread");
    let password = NewPassword::trusted("correct horse battery".to_owned());
    let stored = runtime
        .block_on(hasher.hash(&password, Requester::Server))
        .expect("hash");
    let mut times: Vec<f64> = (0..count)
        .map(|_| {
            let started = Instant::now();
            let verdict = runtime
                .block_on(hasher.verify(
                    "correct horse battery",
                    Some(stored.clone()),
                    Requester::Server,
                ))
                .expect("verify");
            assert!(verdict.matches);
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("{:.6}", times[times.len() / 2]);
}
