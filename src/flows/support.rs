//! What the shop's staff see of one customer and do for them (`/admin/customers/{id}/...`):
//! the customer's sessions, activity, emails and passkeys as the customer sees them (emails by
//! kind, status and time only), and the actions that need no shell: end every session, send a
//! password reset, lift a lockout, edit the profile with a reason. Each action writes its
//! [`AuditLine`] in its own transaction, so that it is never done without its record.

use std::collections::BTreeSet;

use url::Url;

use super::audit::AuditLine;
use super::reset::ResetQueued;
use super::security::session_views;
use super::{Event, SessionView};
use crate::domain::{CustomerId, EmailAddress, Language, ListId, ProfileChanges};
use crate::error::AppError;
use crate::store::activity;
use crate::store::codes::{self, Purpose};
use crate::store::customers::{self, AdminView};
use crate::store::outbox::{self, SentEmail};
use crate::store::passkeys::{self, PasskeyView};
use crate::store::sql::Db;
use crate::store::subscriptions::ConsentSource;
use crate::store::{Outcome, StoreError, StoreResult, sessions};

/// A customer's edit by staff (`PATCH /admin/customers/{id}`): every part optional, and why.
#[derive(Clone, Debug, Default)]
pub struct SupportEdit {
    pub profile: ProfileChanges,
    pub language: Option<Language>,
    pub subscriptions: Option<BTreeSet<ListId>>,
    /// Why, in the staff member's words: kept in the audit log's detail.
    pub reason: Option<String>,
}

flow_handle!(
    /// What the shop's staff see of one customer and do for them.
    Support,
    support
);

impl Support<'_> {
    /// The customer's live sessions, most recently used first (none is `current`).
    pub async fn sessions(&self, key: &str) -> Result<Vec<SessionView>, AppError> {
        let id = self.customer_id(key).await?;
        Ok(self
            .store
            .read(move |c| Ok(session_views(sessions::list(c, &id)?, None)))
            .await?)
    }

    /// Up to `limit` events of the customer's activity, newest first, older than `before`.
    pub async fn activity(
        &self,
        key: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<activity::Event>, AppError> {
        let id = self.customer_id(key).await?;
        Ok(self
            .store
            .read(move |c| activity::page(c, &id, before, limit))
            .await?)
    }

    /// Up to `limit` emails sent for the customer, newest first, older than `before`: kind,
    /// status and time, never a body, a link or a code.
    pub async fn emails(
        &self,
        key: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SentEmail>, AppError> {
        let id = self.customer_id(key).await?;
        Ok(self
            .store
            .read(move |c| outbox::of_customer(c, &id, before, limit))
            .await?)
    }

    /// The customer's passkeys, oldest first, as the customer sees them.
    pub async fn passkeys(&self, key: &str) -> Result<Vec<PasskeyView>, AppError> {
        let id = self.customer_id(key).await?;
        Ok(self.store.read(move |c| passkeys::list(c, &id)).await?)
    }

    /// Ends every session of the customer, and any email change asked that has not been
    /// confirmed (whoever held a session may have asked it); answers how many sessions ended.
    pub async fn revoke_sessions(&self, key: &str, line: AuditLine) -> Result<usize, AppError> {
        self.acting_on(key, move |tx, id| {
            let ended = sessions::end_all(tx, id, None)?;
            codes::revoke(tx, id, Purpose::EmailChange)?;
            line.write(tx, Some(id))?;
            Ok(Outcome::Done(ended))
        })
        .await
    }

    /// Emails the customer a password reset link `<reset_uri>/<code>`, through the outbox as
    /// when they ask themselves; staff never see the code. An account never activated has no
    /// password to reset (409).
    pub async fn send_password_reset(
        &self,
        key: &str,
        reset_uri: Option<Url>,
        line: AuditLine,
    ) -> Result<(), AppError> {
        let services = self.0.clone();
        let reset_uri = reset_uri.unwrap_or_else(|| self.links.configured_reset());
        self.acting_on(key, move |tx, id| {
            let (email, _) = customers::contact(tx, id)?
                .ok_or_else(|| StoreError::Inconsistent(format!("customer {id} vanished")))?;
            let email = EmailAddress::parse(&email).map_err(StoreError::BadValue)?;
            // The request is the shop's: the customer's activity shows no staff address.
            match services
                .resets()
                .queue_password_reset(tx, &email, &reset_uri, (None, None))?
            {
                ResetQueued::Queued => {
                    line.write(tx, Some(id))?;
                    Ok(Outcome::Done(()))
                }
                ResetQueued::NoAccount | ResetQueued::AccountPending => {
                    Ok(Outcome::Refused(AppError::conflict(
                        "the account is not activated yet: resend the activation instead",
                    )))
                }
            }
        })
        .await?;
        self.mailer.wake_worker();
        Ok(())
    }

    /// Lifts whatever the lockout holds against the customer: the failed password checks
    /// counted in the database (and the lock they set) and the back-off of sign-ins.
    pub async fn unlock(&self, key: &str, line: AuditLine) -> Result<(), AppError> {
        let email = self
            .acting_on(key, move |tx, id| {
                customers::unlock(tx, id)?;
                line.write(tx, Some(id))?;
                Ok(Outcome::Done(
                    customers::contact(tx, id)?.map(|(email, _)| email),
                ))
            })
            .await?;
        if let Some(email) = email {
            self.throttles.login_succeeded(&email);
        }
        Ok(())
    }

    /// Applies a staff member's edit: profile fields, the language of the customer's emails,
    /// the subscriptions (recorded in the consent ledger with source `support`), with the
    /// reason in the audit line. An unknown list changes nothing (422).
    pub async fn edit(
        &self,
        key: &str,
        edit: SupportEdit,
        line: AuditLine,
    ) -> Result<AdminView, AppError> {
        let services = self.0.clone();
        let line = line.because(edit.reason.as_deref());
        let view = self
            .acting_on(key, move |tx, id| {
                let wanted = edit
                    .subscriptions
                    .as_ref()
                    .map(|lists| lists.iter().map(|l| l.as_str().to_owned()).collect());
                if let Some(wanted) = &wanted
                    && let Some(unknown) = super::profile::first_unknown_list(tx, wanted)?
                {
                    return Ok(Outcome::Refused(AppError::field(
                        "subscriptions",
                        format!("there is no subscription list `{unknown}`"),
                    )));
                }
                if let Some(language) = &edit.language {
                    customers::set_language(tx, id, language)?;
                }
                if !edit.profile.is_empty() {
                    customers::update_profile(tx, id, &edit.profile)?;
                    services.announcer.announce(tx, Event::Updated, id)?;
                }
                if let Some(wanted) = &wanted {
                    services.replace_subscriptions(tx, id, wanted, ConsentSource::Support)?;
                }
                line.write(tx, Some(id))?;
                Ok(match customers::admin_view(tx, id.as_str())? {
                    Some(view) => Outcome::Done(view),
                    None => Outcome::Refused(no_such_customer(id.as_str())),
                })
            })
            .await?;
        self.announcer.wake();
        Ok(view)
    }

    /// The id of the customer named by id, identifier or email; 404 when there is none.
    async fn customer_id(&self, key: &str) -> Result<CustomerId, AppError> {
        Ok(self.back_office().customer_view(key).await?.customer.id)
    }

    /// Runs `action` on the customer named by id, identifier or email in one write, found in
    /// that write (404 when there is none).
    async fn acting_on<T, F>(&self, key: &str, action: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Db, &CustomerId) -> StoreResult<Outcome<T, AppError>> + Send + 'static,
    {
        let lookup = key.to_owned();
        self.store
            .write(move |tx| {
                let Some(id) = crate::store::audit::customer_named(tx, &lookup)? else {
                    return Ok(Outcome::Refused(no_such_customer(&lookup)));
                };
                action(tx, &id)
            })
            .await?
            .into_result()
    }
}

fn no_such_customer(key: &str) -> AppError {
    AppError::NotFound(format!(
        "there is no customer with id, identifier or email `{key}`"
    ))
}
