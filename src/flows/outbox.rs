//! The outbox as the retailer sees it: what was queued, sent or failed, and retrying failures.

use super::AuditLine;
use crate::error::AppError;
use crate::store::Outcome;
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

    /// Up to `limit` emails of `statuses`, newest first, older than `before`: no body.
    pub async fn page(
        &self,
        statuses: &'static [&'static str],
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Entry>, AppError> {
        Ok(self
            .store
            .read(move |c| outbox::page(c, statuses, before, limit))
            .await?)
    }

    /// Puts the failed email `id` back in the queue, with its audit line. No such email is
    /// 404; one that is not failed (queued or sent), or whose one-time code was erased, 409.
    pub async fn retry(&self, id: i64, line: AuditLine) -> Result<(), AppError> {
        self.store
            .write(move |tx| {
                if outbox::requeue_failed(tx, Some(id))? == 1 {
                    line.write(tx, None)?;
                    return Ok(Outcome::Done(()));
                }
                Ok(Outcome::Refused(match outbox::state_of(tx, id)? {
                    None => AppError::NotFound(format!("there is no email {id}")),
                    Some((status, _)) if status != "failed" => AppError::conflict(format!(
                        "email {id} is {status}, not failed: there is nothing to retry"
                    )),
                    Some(_) => AppError::conflict(format!(
                        "email {id} carried a one-time code that has been erased: it cannot be sent again"
                    )),
                }))
            })
            .await?
            .into_result()?;
        self.mailer.wake_worker();
        Ok(())
    }
}
