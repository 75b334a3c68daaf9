//! A webhook receiver running in the test process: a real HTTP/1.1 server on a loopback port
//! that verifies every request's Standard Webhooks signature, keeps what it received, and can
//! be taken down (connections closed unanswered) or told which statuses to answer next.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request the receiver answered.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    /// Whether the signature verified (a request that did not was answered 400).
    pub verified: bool,
    /// The status it was answered with.
    pub status: u16,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap().to_owned()
    }
}

#[derive(Default)]
struct State {
    deliveries: Vec<Delivery>,
    /// Statuses to answer before the default 200.
    plan: VecDeque<u16>,
    /// A `Retry-After` value (seconds) sent with every answer that is not 2xx.
    retry_after: Option<u32>,
    down: bool,
    /// Connections refused while down.
    refused: usize,
}

/// The receiver; it stops when dropped.
pub struct Receiver {
    pub port: u16,
    pub secret: String,
    key: Vec<u8>,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fresh `whsec_` secret.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    format!("whsec_{}", STANDARD.encode(key))
}

/// Whether `signatures` (space-separated `v1,<base64>`) holds the HMAC of `id.timestamp.body`.
pub fn verify(key: &[u8], id: &str, timestamp: &str, body: &str, signatures: &str) -> bool {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected)
}

impl Receiver {
    /// Starts a receiver for events signed with a new secret.
    pub async fn start() -> Receiver {
        Self::start_on(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            new_secret(),
        )
    }

    fn start_on(listener: TcpListener, secret: String) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let (task_state, task_key) = (state.clone(), key.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (state, key) = (task_state.clone(), task_key.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, state, key).await;
                });
            }
        });
        Receiver {
            port,
            secret,
            key,
            state,
            task,
        }
    }

    /// The URL events go to.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    /// Down: every connection is closed without an answer. Up again with `false`.
    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    /// Connections closed unanswered while down.
    pub fn refused(&self) -> usize {
        self.state.lock().unwrap().refused
    }

    /// Answer the next requests with these statuses, then 200 again.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.state.lock().unwrap().plan.extend(statuses);
    }

    /// Send `Retry-After: seconds` with every answer that is not 2xx.
    pub fn ask_retry_after(&self, seconds: u32) {
        self.state.lock().unwrap().retry_after = Some(seconds);
    }

    /// Every request answered so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.lock().unwrap().deliveries.clone()
    }

    /// The requests answered 2xx, in arrival order.
    pub fn delivered(&self) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| (200..300).contains(&d.status))
            .collect()
    }

    /// Whether `body` under this delivery's id, timestamp and signature verifies.
    pub fn verifies(&self, delivery: &Delivery, body: &str) -> bool {
        verify(
            &self.key,
            &delivery.id,
            &delivery.timestamp,
            body,
            &delivery.signature,
        )
    }
}

/// Answers the requests of one connection (keep-alive) until it closes.
async fn serve(
    mut stream: TcpStream,
    state: Arc<Mutex<State>>,
    key: Vec<u8>,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    loop {
        if state.lock().unwrap().down {
            state.lock().unwrap().refused += 1;
            return Ok(());
        }
        let head_end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
        let header = |name: &str| {
            head.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        let length: usize = header("content-length").parse().unwrap_or(0);
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).to_string();
        buffer.drain(..head_end + length);
        let (id, timestamp, signature) = (
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        );
        let verified = verify(&key, &id, &timestamp, &body, &signature);
        let (status, retry_after) = {
            let mut state = state.lock().unwrap();
            if state.down {
                state.refused += 1;
                return Ok(());
            }
            let status = if verified {
                state.plan.pop_front().unwrap_or(200)
            } else {
                400
            };
            state.deliveries.push(Delivery {
                id,
                timestamp,
                signature,
                body,
                verified,
                status,
                at: std::time::Instant::now(),
            });
            (status, state.retry_after.filter(|_| status >= 300))
        };
        let retry_after = retry_after
            .map(|seconds| format!("retry-after: {seconds}\r\n"))
            .unwrap_or_default();
        let answer = format!("HTTP/1.1 {status} X\r\n{retry_after}content-length: 0\r\n\r\n");
        stream.write_all(answer.as_bytes()).await?;
    }
}
