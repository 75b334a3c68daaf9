//! The webhook benchmark's receiver: answers every POST with 204 at once and counts them, as a
//! shop's endpoint that does no work would. `bench/run webhooks` sends customer-area's events
//! to it. `GET /count` answers how many POSTs arrived so far.
//!
//! Usage: `webhook_sink [ADDR]` (default `127.0.0.1:8092`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use warp::Filter;

#[tokio::main]
async fn main() {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8092".to_owned())
        .parse()
        .expect("ADDR must be host:port");
    let count = Arc::new(AtomicU64::new(0));
    let posts = count.clone();
    let receive = warp::post()
        .and(warp::body::bytes())
        .map(move |_body: bytes::Bytes| {
            posts.fetch_add(1, Ordering::Relaxed);
            warp::reply::with_status(warp::reply(), warp::http::StatusCode::NO_CONTENT)
        });
    let counted = warp::path!("count")
        .and(warp::get())
        .map(move || count.load(Ordering::Relaxed).to_string());
    println!("webhook sink on http://{addr}");
    warp::serve(receive.or(counted)).run(addr).await;
}
