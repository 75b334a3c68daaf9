//! The benchmark's yardstick: one warp route answering a small JSON object, with nothing
//! else (no database, no auth, no logging). `bench/run` compares `GET /customers/self` to it.
//!
//! Usage: `bare_warp [ADDR]` (default `127.0.0.1:8091`).

use std::net::SocketAddr;

use warp::Filter;

#[tokio::main]
async fn main() {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8091".to_owned())
        .parse()
        .expect("ADDR must be host:port");
    // GET /customers/self
    let route = warp::path!("customers" / "self")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"id": "12345678901234", "name": "Bare"})));
    println!("bare warp on http://{addr}");
    warp::serve(route).run(addr).await;
}
