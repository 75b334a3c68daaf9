//! The outbox worker: leases due emails, delivers them, and records the outcome, retrying
//! transient failures with capped exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::Mailer;
use super::transport::Transport;
use crate::store::{Store, StoreResult, now, outbox};

/// The first retry waits this long; each further one doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: i64 = 10;
const MAX_BACKOFF: i64 = 3600;
/// A worker that dies mid-delivery loses its lease after this long.
const LEASE_SECONDS: i64 = 120;
/// Even without a wake-up, look for due emails this often (retries, other processes).
const POLL: Duration = Duration::from_secs(5);

/// What one pass over the outbox did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// Delivers the outbox's emails.
#[derive(Clone)]
pub struct Worker {
    store: Store,
    transport: Transport,
    from: String,
    max_age_seconds: i64,
    wake: Arc<Notify>,
}

impl Worker {
    pub fn new(store: Store, transport: Transport, mailer: &Mailer, max_age_hours: u64) -> Worker {
        Worker {
            store,
            transport,
            from: mailer.from_address().to_owned(),
            max_age_seconds: (max_age_hours * 3600) as i64,
            wake: mailer.wake_signal(),
        }
    }

    /// Runs until `shutdown` turns true, finishing the email in hand first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.deliver_due().await {
                tracing::error!(error = %e, "outbox pass failed");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                tracing::debug!("outbox worker stopped");
                return;
            }
        }
    }

    /// Delivers every email that is due now.
    pub async fn deliver_due(&self) -> StoreResult<Pass> {
        let mut pass = Pass::default();
        loop {
            let batch = self
                .store
                .write(|tx| outbox::lease_due(tx, 16, LEASE_SECONDS))
                .await?;
            if batch.is_empty() {
                return Ok(pass);
            }
            for email in batch {
                let outcome = self.transport.deliver(&self.from, &email).await;
                let id = email.id;
                match outcome {
                    Ok(answer) => {
                        tracing::info!(outbox_id = id, %answer, "email delivered");
                        self.store
                            .write(move |tx| outbox::mark_sent(tx, id))
                            .await?;
                        pass.sent += 1;
                    }
                    Err(error) => {
                        let too_old = now() - email.created_at > self.max_age_seconds;
                        let message = error.message;
                        if error.permanent || too_old {
                            tracing::error!(outbox_id = id, error = %message, "email failed for good");
                            self.store
                                .write(move |tx| outbox::mark_failed(tx, id, &message))
                                .await?;
                            pass.failed += 1;
                        } else {
                            let delay = backoff(email.attempts);
                            tracing::warn!(outbox_id = id, error = %message, retry_in = delay, "email delivery failed");
                            self.store
                                .write(move |tx| {
                                    outbox::mark_retry(tx, id, &message, now() + delay)
                                })
                                .await?;
                            pass.retried += 1;
                        }
                    }
                }
            }
        }
    }
}

/// Seconds to wait before the next try after `attempts` failed ones.
fn backoff(attempts: i64) -> i64 {
    FIRST_BACKOFF
        .saturating_mul(1 << attempts.clamp(0, 20))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(0), 10);
        assert_eq!(backoff(1), 20);
        assert_eq!(backoff(3), 80);
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
