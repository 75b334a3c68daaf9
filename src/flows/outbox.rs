//! The outbox as the retailer sees it: what was queued, sent or failed, and retrying failures.

use crate::error::AppError;
use crate::store::outbox::{self, Entry};

flow_handle!(
    /// The outbox for the retailer: listing emails and retrying failed ones.
    Outbox,
    outbox
);

impl Outbox<'_> {
    /// The newest `limit` emails, of one `status` or of all.
    pub async fn list(&self, status: Option<String>, limit: u32) -> Result<Vec<Entry>, AppError> {
        Ok(self
            .store
            .read(move |c| outbox::list(c, status.as_deref(), limit))
            .await?)
    }

    /// Puts failed emails (all, or the one with `id`) back in the queue; answers how many were
    /// requeued and which failed ones cannot be (their one-time code was erased), by id and kind.
    pub async fn retry_failed(
        &self,
        id: Option<i64>,
    ) -> Result<(usize, Vec<(i64, String)>), AppError> {
        Ok(self
            .store
            .write(move |tx| {
                Ok((
                    outbox::requeue_failed(tx, id)?,
                    outbox::erased_failed(tx, id)?,
                ))
            })
            .await?)
    }
}
