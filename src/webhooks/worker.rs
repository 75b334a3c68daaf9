//! The webhook worker: one task per endpoint delivers that endpoint's events in the order they
//! were committed, at least once, retrying with jittered exponential backoff, so that one
//! endpoint's outage never holds back another's.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::{Endpoint, PING};
use crate::config::WebhookDelivery;
use crate::metrics::Metrics;
use crate::store::sql::Dialect;
use crate::store::webhooks::{self, Due, now_ms};
use crate::store::{Store, leases, now};

/// Even without a wake-up, look for events this often (queued by an admin command, or made
/// due again by `webhooks retry`).
const POLL: Duration = Duration::from_secs(1);
/// Events of one endpoint read, delivered and recorded together.
const BATCH: u32 = 64;

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx answer.
    Delivered(u16),
    /// A connection error, a timeout, 5xx, 408 or 429: try again, after `retry_after` if the
    /// endpoint said so.
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Any other answer (other 4xx, a redirect, which is never followed): give up.
    Failed(String),
}

impl Attempt {
    /// The outcome label of the metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Attempt::Delivered(_) => "delivered",
            Attempt::Retry { .. } => "retry",
            Attempt::Failed(_) => "failed",
        }
    }
}

/// Sends signed events over HTTP: no redirects followed, a timeout on every attempt.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
}

impl Sender {
    /// A sender whose attempts each end within `timeout`.
    pub fn new(timeout: Duration) -> anyhow::Result<Sender> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!(
                "customer-area/",
                env!("CARGO_PKG_VERSION"),
                " webhooks"
            ))
            .build()?;
        Ok(Sender { client })
    }

    /// POSTs `body` to `endpoint`, signed now under `webhook_id`.
    pub async fn attempt(&self, endpoint: &Endpoint, webhook_id: &str, body: &str) -> Attempt {
        let timestamp = now();
        let signature = endpoint.key.sign(webhook_id, timestamp, body);
        let sent = self
            .client
            .post(endpoint.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return retry("timed out".into(), None),
            Err(e) => return retry(format!("cannot reach the endpoint: {}", cause(&e)), None),
        };
        let status = response.status();
        let code = status.as_u16();
        if status.is_success() {
            return Attempt::Delivered(code);
        }
        if status.is_server_error() || code == 408 || code == 429 {
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            return retry(format!("answered {status}"), retry_after);
        }
        if status.is_redirection() {
            return Attempt::Failed(format!("answered {status} (redirects are not followed)"));
        }
        Attempt::Failed(format!("answered {status}"))
    }

    /// Sends a signed `ping` event at once (`webhooks test`), outside the outbox.
    pub async fn ping(&self, endpoint: &Endpoint) -> Attempt {
        let body = serde_json::json!({
            "type": PING,
            "timestamp": crate::domain::format_time(now()),
            "data": {},
        })
        .to_string();
        self.attempt(endpoint, &super::new_webhook_id(), &body)
            .await
    }
}

fn retry(error: String, retry_after: Option<Duration>) -> Attempt {
    Attempt::Retry { error, retry_after }
}

/// The innermost cause of a client error (reqwest's own message only says "error sending
/// request").
fn cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = err;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

/// `Retry-After` as seconds or as an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = at.unix_timestamp() - now();
    Some(Duration::from_secs(wait.max(0) as u64))
}

/// Delivers the webhook outbox to the configured endpoints.
pub struct Worker {
    store: Store,
    endpoints: Vec<Endpoint>,
    sender: Sender,
    settings: WebhookDelivery,
    metrics: Metrics,
    wake: Arc<Notify>,
}

impl Worker {
    /// A worker for `endpoints`, woken by `wake` when events are committed.
    pub fn new(
        store: Store,
        endpoints: Vec<Endpoint>,
        settings: WebhookDelivery,
        metrics: Metrics,
        wake: Arc<Notify>,
    ) -> anyhow::Result<Worker> {
        let sender = Sender::new(Duration::from_secs(settings.timeout_seconds.get()))?;
        Ok(Worker {
            store,
            endpoints,
            sender,
            settings,
            metrics,
            wake,
        })
    }

    /// Delivers until `stopped`: an attempt under way when it stops is abandoned and made again
    /// at the next start, with the same `webhook-id`.
    pub async fn run(self, stopped: watch::Receiver<bool>) {
        let configured: Vec<String> = self.endpoints.iter().map(Endpoint::label).collect();
        match self
            .store
            .write(move |tx| webhooks::fail_unconfigured(tx, &configured))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                events = n,
                "webhook events for endpoints no longer configured were marked failed"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot check the webhook outbox"),
        }
        let worker = Arc::new(self);
        let tasks: Vec<_> = worker
            .endpoints
            .iter()
            .cloned()
            .map(|endpoint| tokio::spawn(worker.clone().serve(endpoint, stopped.clone())))
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Delivers one endpoint's events, oldest first, until `stopped`. Instances sharing a
    /// PostgreSQL database deliver an endpoint's events one at a time, in order: the one that
    /// holds the endpoint's lease ([`Worker::lease`]); the others wait for it to run out.
    async fn serve(self: Arc<Self>, endpoint: Endpoint, mut stopped: watch::Receiver<bool>) {
        let label = endpoint.label();
        let lease_name = format!("webhook:{label}");
        let holder = leases::new_holder();
        let shared = self.store.dialect() == Dialect::Postgres;
        loop {
            if *stopped.borrow() {
                if shared {
                    let (name, holder) = (lease_name.clone(), holder.clone());
                    let _ = self
                        .store
                        .write(move |tx| leases::release(tx, &name, &holder))
                        .await;
                }
                return;
            }
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let lease_until = if shared {
                let (name, holder) = (lease_name.clone(), holder.clone());
                let now = now_ms();
                let until = now + self.lease().as_millis() as i64;
                match self
                    .store
                    .write(move |tx| leases::claim(tx, &name, &holder, now, until))
                    .await
                {
                    Ok(true) => Some(until),
                    Ok(false) | Err(_) => {
                        // Another instance delivers this endpoint's events (or the database
                        // is away): look again shortly.
                        tokio::select! {
                            _ = tokio::time::sleep(POLL) => {}
                            _ = stopped.wait_for(|s| *s) => {}
                        }
                        continue;
                    }
                }
            } else {
                None
            };
            let key = label.clone();
            let wait = match self
                .store
                .read(move |c| webhooks::next_for(c, &key, BATCH))
                .await
            {
                Ok(batch) => match batch.first() {
                    Some(first) if first.next_attempt_ms <= now_ms() => {
                        self.deliver(&endpoint, &label, batch, lease_until, &mut stopped)
                            .await;
                        continue;
                    }
                    Some(first) => {
                        Duration::from_millis((first.next_attempt_ms - now_ms()).max(0) as u64)
                            .min(POLL)
                    }
                    None => POLL,
                },
                Err(e) => {
                    tracing::warn!(endpoint = %label, error = %e, "cannot read the webhook outbox");
                    POLL
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut notified => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    }

    /// Attempts the events of `batch` in order while they are due, up to the first that is not
    /// delivered, and records every outcome in one write: a run of deliveries costs the writer
    /// one commit, not one each. An attempt under way when `stopped` is abandoned (made again
    /// at the next start, with the same `webhook-id`); those delivered before it are recorded.
    async fn deliver(
        &self,
        endpoint: &Endpoint,
        label: &str,
        batch: Vec<Due>,
        lease_until: Option<i64>,
        stopped: &mut watch::Receiver<bool>,
    ) {
        let mut sent = Vec::new();
        let mut failed = None;
        let attempt_ms = (self.settings.timeout_seconds.get() * 1000) as i64;
        for due in batch {
            if due.next_attempt_ms > now_ms() {
                break;
            }
            // An attempt must end while the lease is held: past it, another instance may
            // already be sending this event. The lease is renewed before the next batch.
            if lease_until.is_some_and(|until| now_ms() + attempt_ms >= until) {
                break;
            }
            let attempt = tokio::select! {
                attempt = self.sender.attempt(endpoint, &due.webhook_id, &due.body) => attempt,
                _ = stopped.wait_for(|s| *s) => break,
            };
            self.metrics.observe_webhook(label, attempt.label());
            match attempt {
                Attempt::Delivered(_) => sent.push(due.id),
                Attempt::Retry { error, retry_after } => {
                    let max_age = (self.settings.max_age_hours.get() * 3600) as i64;
                    let retry_at = (now() - due.created_at < max_age)
                        .then(|| now_ms() + self.delay(due.attempts, retry_after));
                    let error = match retry_at {
                        Some(_) => error,
                        None => format!("gave up after {} attempts: {error}", due.attempts + 1),
                    };
                    tracing::info!(endpoint = %label, webhook_id = %due.webhook_id, %error, "webhook not delivered");
                    failed = Some((due.id, error, retry_at));
                    break;
                }
                Attempt::Failed(error) => {
                    tracing::warn!(endpoint = %label, webhook_id = %due.webhook_id, %error, "webhook refused; not retried");
                    failed = Some((due.id, error, None));
                    break;
                }
            }
        }
        if sent.is_empty() && failed.is_none() {
            return;
        }
        let recorded = self
            .store
            .write(move |tx| {
                webhooks::mark_sent(tx, &sent)?;
                if let Some((id, error, retry_at)) = &failed {
                    webhooks::mark_attempt_failed(tx, *id, error, *retry_at)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = recorded {
            // The attempts are made again: at least once, with the same webhook-id.
            tracing::warn!(endpoint = %label, error = %e, "cannot record webhook attempts");
            tokio::time::sleep(POLL).await;
        }
    }

    /// How long an endpoint's lease lasts from each renewal: a batch of attempts, each ending
    /// within the timeout, and the write that records them.
    fn lease(&self) -> Duration {
        Duration::from_secs(self.settings.timeout_seconds.get() * 3 + 30)
    }

    /// Milliseconds until the next attempt after `attempts` failed ones: what `Retry-After`
    /// asked, else the doubling backoff, jittered between half and all of it; both capped.
    fn delay(&self, attempts: i64, retry_after: Option<Duration>) -> i64 {
        let max_ms = (self.settings.retry_max_seconds.get() * 1000) as i64;
        if let Some(asked) = retry_after {
            return (asked.as_millis() as i64).min(max_ms);
        }
        let first_ms = (self.settings.retry_first_seconds.get() * 1000) as i64;
        let backoff = first_ms
            .saturating_mul(1i64 << attempts.clamp(0, 30))
            .min(max_ms);
        let half = (backoff / 2).max(1);
        half + i64::from(crate::random::random_below(
            half.min(u32::MAX as i64) as u32 + 1,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
