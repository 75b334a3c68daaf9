use std::net::IpAddr;

use super::hours;
use crate::auth;
use crate::domain::{CustomerId, EmailAddress, Identifier, LinkKey};
use crate::error::AppError;
use crate::mail::{Kind, Vars};
use crate::store::codes::{self, CodeCheck, Purpose};
use crate::store::{Outcome, StoreError, StoreResult, customers, outbox};
use crate::throttle::IpBudget;

flow_handle!(
    /// Changing a customer's email address: the confirmation link and its use.
    EmailChanges,
    email_changes
);

impl EmailChanges<'_> {
    /// Within a profile update's transaction: records `new_email` as the customer's pending
    /// address (replacing an earlier request) and emails it the confirmation link; the current
    /// address is told that a change was asked. An address that already belongs to an account
    /// gets an "account exists" notice instead of a link, and the caller cannot tell.
    pub(super) fn queue_email_change(
        &self,
        tx: &rusqlite::Connection,
        id: &CustomerId,
        new_email: &EmailAddress,
    ) -> StoreResult<()> {
        // Read here, in the transaction, so that a name changed by the same PATCH is used.
        let (current_email, name) = customers::contact(tx, id)?
            .ok_or_else(|| StoreError::Inconsistent(format!("customer {id} vanished")))?;
        if customers::email_taken(tx, new_email)? {
            codes::revoke(tx, id, Purpose::EmailChange)?;
            let vars = Vars {
                email: new_email.to_string(),
                ..Vars::default()
            };
            let notice = self
                .mailer
                .compose(Kind::AccountExists, new_email.as_str(), &vars);
            outbox::enqueue(tx, &notice)?;
        } else {
            let key = LinkKey::generate();
            let ttl = hours(self.config.auth.email_change_ttl_hours.get());
            codes::issue(
                tx,
                id,
                Purpose::EmailChange,
                &auth::digest(key.as_str()),
                Some(new_email.as_str()),
                ttl,
            )?;
            let identifier = customers::identifier_of(tx, id)?.ok_or_else(|| {
                StoreError::Inconsistent(format!("customer {id} has no identifier"))
            })?;
            let vars = Vars {
                name: name.clone(),
                email: new_email.to_string(),
                new_email: Some(new_email.to_string()),
                link: Some(
                    self.links
                        .email_confirmation(identifier.as_str(), key.as_str()),
                ),
            };
            let confirmation = self
                .mailer
                .compose(Kind::EmailChangeNew, new_email.as_str(), &vars);
            outbox::enqueue(tx, &confirmation)?;
        }
        let vars = Vars {
            name,
            email: current_email.clone(),
            new_email: Some(new_email.to_string()),
            link: None,
        };
        let notice = self
            .mailer
            .compose(Kind::EmailChangeOld, &current_email, &vars);
        outbox::enqueue(tx, &notice)?;
        Ok(())
    }

    /// Applies a pending email change whose key is right. Every code sent to the old address
    /// dies with it. If the address was taken meanwhile, the key is used up and the answer is
    /// a conflict.
    pub async fn confirm_new_email(
        &self,
        identifier: &str,
        key: &str,
        ip: IpAddr,
    ) -> Result<(), AppError> {
        self.throttles.check_ip(IpBudget::Codes, ip)?;
        let invalid = || AppError::InvalidCode { field: "key" };
        let (Ok(key), Ok(_)) = (LinkKey::parse(key), Identifier::parse(identifier)) else {
            return Err(invalid());
        };
        let identifier = identifier.to_owned();
        let digest = auth::digest(key.as_str());
        self.store
            .write(move |tx| {
                let Some((id, _)) = customers::find_by_identifier(tx, &identifier)? else {
                    return Ok(Outcome::Refused(invalid()));
                };
                let new_email = match codes::check(tx, &id, Purpose::EmailChange, &digest, true)? {
                    CodeCheck::Valid {
                        new_email: Some(new_email),
                    } => EmailAddress::parse(&new_email).map_err(StoreError::BadValue)?,
                    _ => return Ok(Outcome::Refused(invalid())),
                };
                // Writers run one at a time (BEGIN IMMEDIATE), so this check cannot race; the
                // unique index stays the last word all the same.
                if customers::email_taken(tx, &new_email)? {
                    return Ok(Outcome::Refused(taken()));
                }
                apply_new_email(tx, &id, &new_email)?;
                Ok(Outcome::Done(()))
            })
            .await?
            .into_result()
    }
}

fn apply_new_email(
    tx: &rusqlite::Connection,
    id: &CustomerId,
    new_email: &EmailAddress,
) -> StoreResult<()> {
    customers::set_email(tx, id, new_email)?;
    codes::revoke_all(tx, id)
}

fn taken() -> AppError {
    AppError::Conflict {
        message: "this email address is now used by another account".into(),
        fields: [("email".to_owned(), "is already in use".to_owned())].into(),
    }
}
