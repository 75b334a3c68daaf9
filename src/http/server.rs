//! The HTTP server: accepts TCP connections and serves warp's filter over hyper's HTTP/1
//! with a cap on open connections, deadlines for request headers and bodies (so slow or idle
//! clients cannot hold the server; see `wire`), the peer address for each request, and
//! graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_service::Service;
use warp::Filter;
use warp::reply::Response;

use super::wire::{TimedBody, Wire};
use crate::metrics::Metrics;

/// The address of the TCP peer, attached to every request.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// Limits of the transport.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub shutdown_grace: Duration,
}

/// Serves `filter` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish for up to `limits.shutdown_grace`. Every request is logged and counted in `metrics`.
pub async fn serve<F>(
    listener: TcpListener,
    filter: F,
    limits: Limits,
    metrics: Metrics,
    shutdown: impl Future<Output = ()>,
) where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let service = warp::service(filter);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Past the cap, new connections wait in the kernel's backlog until a slot frees.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // One copy of the filter per connection, not per request: cloning warp's filter tree
        // (every route's captured state) on each request was a large share of a cheap
        // request's CPU. HTTP/1 answers one request at a time, so the lock is never contended.
        let service = std::sync::Mutex::new(service.clone());
        let wire = Wire::new(stream, limits.header_timeout, metrics.clone());
        let metrics = metrics.clone();
        let body_timeout = limits.body_timeout;
        let per_request = hyper::service::service_fn(move |request: http::Request<_>| {
            let request = request.map(|body| TimedBody::new(body, body_timeout));
            observed(&service, metrics.clone(), peer, request)
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            // `Wire` enforces the header deadline and answers 408; hyper's own (which closes
            // without a word) is only a backstop.
            .header_read_timeout(limits.header_timeout * 2)
            .keep_alive(true)
            .max_buf_size(64 * 1024)
            .serve_connection(TokioIo::new(wire), per_request);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some requests were still running at the end of the shutdown grace period");
    }
}

/// Answers one request through warp, tagging it with the peer address and a request id, and
/// logs and counts it (route pattern only: no ids, emails or other personal data).
fn observed<S>(
    service: &std::sync::Mutex<S>,
    metrics: Metrics,
    peer: SocketAddr,
    mut request: http::Request<TimedBody>,
) -> impl Future<Output = Result<Response, Infallible>> + use<S>
where
    S: Service<http::Request<TimedBody>, Response = Response, Error = Infallible>,
{
    request.extensions_mut().insert(PeerAddr(peer));
    let started = Instant::now();
    let method = super::route::method_label(request.method());
    let route = super::route::route_label(request.uri().path());
    let request_id = request_id(request.headers());
    // warp's future owns what it needs, so the lock is held only while it is built.
    let answer = service.lock().expect("never poisoned").call(request);
    async move {
        let in_flight = metrics.in_flight();
        let response = answer.await?;
        drop(in_flight);
        Ok(finish(
            response,
            &metrics,
            method,
            route,
            &request_id,
            started,
        ))
    }
}

/// Counts and logs one answered request and tags it with its request id.
fn finish(
    mut response: Response,
    metrics: &Metrics,
    method: &'static str,
    route: &'static str,
    request_id: &str,
    started: Instant,
) -> Response {
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics.observe_request(method, route, status, elapsed);
    tracing::info!(
        target: "customer_area::http",
        request_id = %request_id,
        method,
        route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    if let Ok(value) = http::HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// The caller's `X-Request-Id` when it is a sane token (a proxy's correlation id), else a
/// fresh one: 16 hex digits, a random start for this process plus a counter, so unique
/// within a run and unlikely to repeat across restarts, with no system call per request.
fn request_id(headers: &http::HeaderMap) -> String {
    let given = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .filter(|v| {
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    match given {
        Some(id) => id.to_owned(),
        None => {
            static START: OnceLock<u64> = OnceLock::new();
            static COUNT: AtomicU64 = AtomicU64::new(0);
            let start = START.get_or_init(|| {
                let mut bytes = [0u8; 8];
                crate::random::random_bytes(&mut bytes);
                u64::from_le_bytes(bytes)
            });
            let id = start.wrapping_add(COUNT.fetch_add(1, Ordering::Relaxed));
            format!("{id:016x}")
        }
    }
}
