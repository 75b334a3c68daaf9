//! Deleting accounts: the customer's own deletion, the retailer's, and housekeeping's of
//! sign-ups nobody activated.

use super::{Event, Session};
use crate::domain::CustomerId;
use crate::error::AppError;
use crate::mail::{Kind, Vars};
use crate::store::sql::Db;
use crate::store::{StoreResult, customers, outbox, sign_ups};

flow_handle!(
    /// Deleting accounts.
    Accounts,
    accounts
);

impl Accounts<'_> {
    /// Deletes the caller's account and everything tied to it (a recently authenticated
    /// session only); their tokens die at once.
    pub async fn delete_account(&self, session: Session) -> Result<(), AppError> {
        self.sessions().require_recent(&session)?;
        if self.delete_customer(session.customer).await? {
            Ok(())
        } else {
            Err(AppError::Unauthenticated)
        }
    }

    /// Deletes a customer (sessions, codes and subscriptions go with them, by cascade) and
    /// queues a goodbye email, unless they never activated (they never had an account to say
    /// goodbye to). Returns whether there was such a customer.
    pub async fn delete_customer(&self, id: CustomerId) -> Result<bool, AppError> {
        let services = self.0.clone();
        let deleted = self
            .store
            .write(move |tx| services.accounts().delete_in(tx, &id))
            .await?;
        if deleted {
            self.mailer.wake_worker();
            self.announcer.wake();
        }
        Ok(deleted)
    }

    /// Deletes up to `limit` self sign-ups whose activation expired: nobody proved the address
    /// was theirs. Answers how many went.
    pub(super) fn delete_expired_sign_ups(&self, tx: &Db, limit: usize) -> StoreResult<usize> {
        let expired = sign_ups::expired(tx, crate::store::now(), limit)?;
        for id in &expired {
            self.delete_in(tx, id)?;
        }
        Ok(expired.len())
    }

    /// [`Accounts::delete_customer`] inside the caller's transaction.
    fn delete_in(&self, tx: &Db, id: &CustomerId) -> StoreResult<bool> {
        let Some((email, name)) = customers::contact(tx, id)? else {
            return Ok(false);
        };
        let language = customers::language_of(tx, id)?;
        let never_activated = customers::is_pending(tx, id)?;
        customers::delete(tx, id)?;
        self.announcer.announce(tx, Event::Deleted, id)?;
        // Nothing queued for the account outlives it, except the receipt below.
        outbox::drop_queued_for(tx, &email)?;
        if never_activated {
            return Ok(true);
        }
        let vars = Vars {
            name,
            email: email.clone(),
            ..Vars::default()
        };
        let deleted = self
            .mailer
            .compose(Kind::AccountDeleted, language.as_ref(), &email, &vars);
        outbox::enqueue(tx, id, &deleted)?;
        Ok(true)
    }
}
