use super::{Event, Session};
use crate::domain::CustomerId;
use crate::error::AppError;
use crate::mail::{Kind, Vars};
use crate::store::{customers, outbox};

flow_handle!(
    /// Deleting accounts.
    Accounts,
    accounts
);

impl Accounts<'_> {
    /// Deletes the caller's account and everything tied to it; their tokens die at once.
    pub async fn delete_account(&self, session: Session) -> Result<(), AppError> {
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
        let mailer = self.mailer.clone();
        let announcer = self.announcer.clone();
        let deleted = self
            .store
            .write(move |tx| {
                let Some((email, name)) = customers::contact(tx, &id)? else {
                    return Ok(false);
                };
                let language = customers::language_of(tx, &id)?;
                let never_activated = customers::is_pending(tx, &id)?;
                customers::delete(tx, &id)?;
                announcer.announce(tx, Event::Deleted, &id)?;
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
                let deleted =
                    mailer.compose(Kind::AccountDeleted, language.as_ref(), &email, &vars);
                outbox::enqueue(tx, &id, &deleted)?;
                Ok(true)
            })
            .await?;
        if deleted {
            self.mailer.wake_worker();
            self.announcer.wake();
        }
        Ok(deleted)
    }
}
