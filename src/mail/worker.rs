//! The outbox worker: leases due emails, delivers them, and records the outcome, retrying
//! transient failures with capped exponential backoff.

use crate::store::sql::Db;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::Mailer;
use super::transport::{DeliveryError, Sender, Transport};
use crate::config::Mail;
use crate::store::{Store, StoreResult, now, outbox};

/// Even without a wake-up, look for due emails this often (emails queued by other processes).
const POLL: Duration = Duration::from_secs(5);

/// How long an email's lease lasts: renewed every [`RENEW_EVERY`] while its attempt goes on,
/// it runs out this long after a worker dies (a killed instance sharing a PostgreSQL
/// database), and another worker sends the email then.
const LEASE_SECONDS: i64 = 30;

/// How often a lease is renewed during an attempt: a third of it, so that a renewal delayed
/// by a busy database still comes in time.
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// What one pass over the outbox did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    /// The pass stopped at a transient failure, leaving due emails for later.
    pub interrupted: bool,
}

/// Delivers the outbox's emails.
#[derive(Clone)]
pub struct Worker {
    store: Store,
    transport: Transport,
    from: String,
    /// `mail.bounce_address`, and the key of its tokens once read from the database.
    bounce: Option<(String, Arc<tokio::sync::OnceCell<[u8; 32]>>)>,
    max_age_seconds: i64,
    backoff: Backoff,
    wake: Arc<Notify>,
    /// Outcomes of attempts that could not be written yet (a full disk): written before the
    /// next email is leased, so that a sent email is not sent again and none is lost.
    unrecorded: Arc<Mutex<Vec<Outcome>>>,
}

/// What became of one attempt, as the outbox records it.
#[derive(Clone, Debug)]
enum Outcome {
    Sent(i64),
    Retry { id: i64, error: String, at: i64 },
    Failed { id: i64, error: String },
}

impl Outcome {
    fn write(&self, conn: &Db) -> StoreResult<()> {
        match self {
            Outcome::Sent(id) => outbox::mark_sent(conn, *id),
            Outcome::Retry { id, error, at } => outbox::mark_retry(conn, *id, error, *at),
            Outcome::Failed { id, error } => outbox::mark_failed(conn, *id, error),
        }
    }
}

impl Worker {
    /// A worker delivering through `transport` with the retry rules of `settings`.
    pub fn new(store: Store, transport: Transport, mailer: &Mailer, settings: &Mail) -> Worker {
        Worker {
            store,
            transport,
            from: mailer.from_address().to_owned(),
            bounce: settings
                .bounce_address
                .clone()
                .map(|address| (address, Arc::default())),
            max_age_seconds: (settings.max_age_hours.get() * 3600) as i64,
            backoff: Backoff {
                first: settings.retry_first_seconds.get() as i64,
                max: settings.retry_max_seconds.get() as i64,
            },
            wake: mailer.wake_signal(),
            unrecorded: Arc::default(),
        }
    }

    /// Runs until `shutdown` turns true, finishing the email in hand first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        // A server killed mid-delivery leaves its leases behind, and their emails would wait
        // out the whole lease (minutes) before anyone tried them again. Sending one of them
        // twice (if it did go out, or if an admin command is delivering it right now) is the
        // lesser harm than holding back a reset code. Not so on PostgreSQL, where the leases
        // may be another running instance's: there they run out, and are taken over then.
        let shared = self.store.dialect() == crate::store::sql::Dialect::Postgres;
        match if shared {
            Ok(0)
        } else {
            self.store.write(outbox::release_leases).await
        } {
            Ok(0) => {}
            Ok(released) => tracing::warn!(
                released,
                "emails leased by an earlier process are due again"
            ),
            Err(e) => {
                tracing::error!(error = %e, "leases of an earlier process could not be ended")
            }
        }
        loop {
            let pause = match self.deliver_due().await {
                // The transport is failing: let it recover before trying the next email.
                Ok(pass) if pass.interrupted => {
                    Duration::from_secs(self.backoff.first.clamp(1, POLL.as_secs() as i64) as u64)
                }
                Ok(_) => self.until_next_due().await,
                Err(e) => {
                    tracing::error!(error = %e, "outbox pass failed");
                    POLL
                }
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                tracing::debug!("outbox worker stopped");
                return;
            }
        }
    }

    /// How long to sleep: until the next retry falls due, at most [`POLL`].
    async fn until_next_due(&self) -> Duration {
        match self.store.read(outbox::next_due).await {
            Ok(Some(due)) => {
                Duration::from_secs((due - now()).clamp(0, POLL.as_secs() as i64) as u64)
            }
            _ => POLL,
        }
    }

    /// Delivers every email that is due now, one after another on one SMTP session.
    pub async fn deliver_due(&self) -> StoreResult<Pass> {
        let mut sender = self.transport.sender();
        let pass = self.deliver_due_with(&mut sender).await;
        sender.close().await;
        pass
    }

    async fn deliver_due_with(&self, sender: &mut Sender<'_>) -> StoreResult<Pass> {
        let mut pass = Pass::default();
        self.record_left_over().await?;
        loop {
            // One at a time: an email is leased right before its own attempt.
            let batch = self
                .store
                .write(|tx| outbox::lease_due(tx, 1, LEASE_SECONDS))
                .await?;
            if batch.is_empty() {
                return Ok(pass);
            }
            for email in batch {
                let outcome = self.send_holding_lease(sender, &email).await;
                let id = email.id;
                match outcome {
                    Ok(answer) => {
                        tracing::info!(outbox_id = id, %answer, "email delivered");
                        self.record(Outcome::Sent(id)).await?;
                        pass.sent += 1;
                    }
                    Err(error) => {
                        let too_old = now() - email.created_at > self.max_age_seconds;
                        let message = error.message;
                        if error.permanent || too_old {
                            tracing::error!(outbox_id = id, error = %message, "email failed for good");
                            self.record(Outcome::Failed { id, error: message }).await?;
                            pass.failed += 1;
                        } else {
                            let delay = self.backoff.after(email.attempts);
                            tracing::warn!(outbox_id = id, error = %message, retry_in = delay, "email delivery failed");
                            let at = now() + delay;
                            self.record(Outcome::Retry {
                                id,
                                error: message,
                                at,
                            })
                            .await?;
                            pass.retried += 1;
                            // The server is down or deferring: the other due emails would
                            // only wait out the same timeout one after another.
                            pass.interrupted = true;
                            return Ok(pass);
                        }
                    }
                }
            }
        }
    }
}

impl Worker {
    /// Sends `email`, renewing its lease while the attempt lasts (an SMTP server may take
    /// minutes within its timeouts), so that no other worker takes it meanwhile.
    async fn send_holding_lease(
        &self,
        sender: &mut Sender<'_>,
        email: &outbox::Leased,
    ) -> Result<String, DeliveryError> {
        let from = self.envelope_sender(email.id).await;
        let send = sender.send(&from, email);
        tokio::pin!(send);
        let first = tokio::time::Instant::now() + RENEW_EVERY;
        let mut renew = tokio::time::interval_at(first, RENEW_EVERY);
        loop {
            tokio::select! {
                outcome = &mut send => return outcome,
                _ = renew.tick() => {
                    let id = email.id;
                    let renewed = self
                        .store
                        .write(move |tx| outbox::renew_lease(tx, id, LEASE_SECONDS))
                        .await;
                    if let Err(e) = renewed {
                        tracing::warn!(outbox_id = id, error = %e, "an email's lease could not be renewed");
                    }
                }
            }
        }
    }

    /// The envelope sender of the outbox email `id`: the bounce address with the email's token
    /// when `mail.bounce_address` is set, else the From address. Should the token's key not be
    /// readable (the database failing), the email goes out from the bounce address untokened,
    /// rather than not at all: a bounce to it then names its email by Message-ID.
    async fn envelope_sender(&self, id: i64) -> String {
        let Some((address, key)) = &self.bounce else {
            return self.from.clone();
        };
        match crate::store::keys::cached(&self.store, key, super::bounce::KEY_NAME).await {
            Ok(key) => super::bounce::envelope_sender(address, &key, id),
            Err(e) => {
                tracing::warn!(error = %e, "the bounce token key could not be read");
                address.clone()
            }
        }
    }

    /// Writes what became of an attempt; if it cannot be written now, keeps it for the next
    /// pass, which writes it before leasing anything. The email stays leased for the rest of
    /// its lease; past that, another instance on a shared PostgreSQL database (which could not
    /// record it either, the database being what failed) may send it once more.
    async fn record(&self, outcome: Outcome) -> StoreResult<()> {
        let kept = outcome.clone();
        let written = self.store.write(move |tx| outcome.write(tx)).await;
        if written.is_err() {
            self.unrecorded.lock().expect("unpoisoned").push(kept);
        }
        written
    }

    /// Writes the outcomes earlier passes could not write.
    async fn record_left_over(&self) -> StoreResult<()> {
        let left: Vec<Outcome> = std::mem::take(&mut *self.unrecorded.lock().expect("unpoisoned"));
        if left.is_empty() {
            return Ok(());
        }
        let outcomes = left.clone();
        let written = self
            .store
            .write(move |tx| outcomes.iter().try_for_each(|o| o.write(tx)))
            .await;
        if written.is_err() {
            self.unrecorded
                .lock()
                .expect("unpoisoned")
                .splice(0..0, left);
        }
        written
    }
}

/// Capped exponential backoff, in seconds.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    first: i64,
    max: i64,
}

impl Backoff {
    /// Seconds to wait before the next try after `attempts` earlier failed ones.
    fn after(self, attempts: i64) -> i64 {
        self.first
            .saturating_mul(1 << attempts.clamp(0, 30))
            .min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let backoff = Backoff {
            first: 10,
            max: 3600,
        };
        assert_eq!(backoff.after(0), 10);
        assert_eq!(backoff.after(1), 20);
        assert_eq!(backoff.after(3), 80);
        assert_eq!(backoff.after(40), 3600);
    }
}
