//! The operator's side: health, metrics, housekeeping and what a clean shutdown finishes.

use std::time::Duration;

use crate::store::sql::Db;

use crate::error::AppError;
use crate::metrics::Snapshot;
use crate::store::codes::AddressCode;
use crate::store::{self, Unwritable, outbox};

/// How long the record of a sent email (its recipient, kind and time) is kept.
const KEEP_SENT_EMAILS: Duration = Duration::from_secs(30 * 86_400);

/// Rows one housekeeping transaction deletes at most: 250 expired sessions of a table of four
/// million took 6-8 ms (1,000 took 30-50 ms; docs/performance.md).
pub const SWEEP_BATCH: usize = 250;

flow_handle!(
    /// Health, metrics, housekeeping and the end of the work left behind by requests.
    Operations,
    operations
);

impl Operations<'_> {
    /// Which store the database is: `sqlite` or `postgres`.
    pub fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    /// Whether the database answers.
    pub async fn health(&self) -> Result<(), AppError> {
        Ok(self.store.read(store::ping).await?)
    }

    /// Why the database takes no writes (a full disk, a read-only file system), or `None`
    /// when it does; after a write failed so, this tries a one-page write to see whether the
    /// cause has passed.
    pub async fn unwritable(&self) -> Option<Unwritable> {
        self.store.unwritable().await
    }

    /// The metrics page in the OpenMetrics text format.
    pub async fn metrics_text(&self) -> Result<String, AppError> {
        let (queued, sent, failed) = self.store.read(outbox::counts).await?;
        let (in_use, size) = self.store.pool_usage();
        Ok(self.metrics.render(Snapshot {
            store: self.store.kind(),
            emails_queued: queued,
            emails_sent: sent,
            emails_failed: failed,
            pool_in_use: i64::from(in_use),
            pool_size: i64::from(size),
            hashing_queue: self.hasher.queue_depth() as i64,
            longest_write: self.store.longest_write().as_secs_f64(),
        }))
    }

    /// Sweeps self sign-ups whose activation expired (customers nobody proved the address
    /// of), expired sessions, codes, counts of wrong reset codes older than any live code,
    /// undo keys, "this wasn't me" keys and passkey challenges, staff sessions that expired or
    /// went unused for `console.idle_minutes` and staff sign-ins left waiting for their second
    /// factor, activity older than
    /// `auth.activity_retention_days`, and sent emails and delivered webhook events older than
    /// [`KEEP_SENT_EMAILS`] (they carry personal data); answers how many rows went. The
    /// throttles need no sweeping: their tables are bounded.
    pub async fn sweep_expired(&self) -> Result<usize, AppError> {
        let retention = (self.config.auth.activity_retention_days.get() * 24 * 3600) as i64;
        let active_since = store::now() - retention;
        let sent_since = store::now() - KEEP_SENT_EMAILS.as_secs() as i64;
        // A count of wrong codes matters as long as the code it counts for can live.
        let guessed_since =
            store::now() - (self.config.auth.reset_code_ttl_minutes.get() * 60) as i64;
        let code_guessed_since =
            store::now() - (self.config.auth.login_code_ttl_minutes.get() * 60) as i64;
        let staff_idle = (self.config.console.idle_minutes.get() * 60) as i64;
        // Before the codes: an expired sign-up is found by its expired activation code.
        let services = self.0.clone();
        let sign_ups = self
            .purge(move |tx, n| services.accounts().delete_expired_sign_ups(tx, n))
            .await?;
        if sign_ups > 0 {
            self.announcer.wake();
        }
        Ok(sign_ups
            + self.purge(store::sessions::purge_expired).await?
            + self.purge(store::codes::purge_expired).await?
            + self
                .purge(move |tx, n| {
                    store::codes::purge_guesses(tx, AddressCode::PasswordReset, guessed_since, n)
                })
                .await?
            + self
                .purge(move |tx, n| {
                    store::codes::purge_guesses(tx, AddressCode::LoginCode, code_guessed_since, n)
                })
                .await?
            + self.purge(store::totp::purge_expired_challenges).await?
            // The staff's tables hold a few rows per staff member: one statement each.
            + self
                .purge(move |tx, _| store::staff::sweep(tx, staff_idle))
                .await?
            + self.purge(store::undo::purge_expired).await?
            + self.purge(store::devices::purge_expired).await?
            + self
                .purge(store::passkeys::purge_expired_challenges)
                .await?
            + self
                .purge(move |tx, n| store::activity::purge_before(tx, active_since, n))
                .await?
            + self.purge(store::requests::purge_allowance).await?
            + self
                .purge(move |tx, n| store::outbox::purge_sent_before(tx, sent_since, n))
                .await?
            + self
                .purge(move |tx, n| store::webhooks::purge_sent_before(tx, sent_since, n))
                .await?)
    }

    /// Runs `purge` in write transactions of at most [`SWEEP_BATCH`] rows each until it finds
    /// fewer: other writes queue between the batches, so a million expired rows never hold the
    /// writer in one long transaction. After each full batch the sweep rests as long as the
    /// batch took, so that it holds the writer and the disk at most half the time. Answers how
    /// many rows went.
    async fn purge<F>(&self, purge: F) -> Result<usize, AppError>
    where
        F: Fn(&Db, usize) -> store::StoreResult<usize> + Clone + Send + 'static,
    {
        let mut total = 0;
        loop {
            let started = std::time::Instant::now();
            let batch = purge.clone();
            let gone = self.store.write(move |tx| batch(tx, SWEEP_BATCH)).await?;
            total += gone;
            if gone < SWEEP_BATCH {
                return Ok(total);
            }
            tokio::time::sleep(started.elapsed()).await;
        }
    }

    /// Waits up to `grace` for the work requests left behind (password re-hashes); answers
    /// whether it all finished.
    pub async fn finish_background_work(&self, grace: Duration) -> bool {
        self.background.close();
        tokio::time::timeout(grace, self.background.wait())
            .await
            .is_ok()
    }

    /// Moves the write-ahead log into the database file, once every queued write has ended.
    pub async fn checkpoint(&self) -> Result<(), AppError> {
        Ok(self.store.after_writes(store::checkpoint).await?)
    }

    /// Takes one connection out of the pool until it is dropped (to see how a full pool
    /// answers).
    pub fn hold_connection(&self) -> Result<store::Pooled, AppError> {
        Ok(self.store.connection()?)
    }
}
