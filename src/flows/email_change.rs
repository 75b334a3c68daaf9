//! Changing a customer's email address: the confirmation link to the new address, its use, and
//! the undo link the old address gets, which takes the account back.

use super::Event;
use super::hours;
use super::links::{KeyUse, invalid_key, use_link_key};
use crate::auth;
use crate::domain::{ActivityKind, Client, CustomerId, EmailAddress, LinkKey};
use crate::error::AppError;
use crate::mail::{Kind, Vars};
use crate::store::codes::{self, CodeCheck, Purpose};
use crate::store::sql::Db;
use crate::store::undo::{self, UndoCheck};
use crate::store::{Outcome, StoreError, StoreResult, activity, customers, outbox, passkeys};

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
        tx: &Db,
        id: &CustomerId,
        new_email: &EmailAddress,
        client: &Client,
    ) -> StoreResult<()> {
        activity::record(tx, id, ActivityKind::EmailChangeRequested, Some(client))?;
        // Read here, in the transaction, so that a name changed by the same PATCH is used.
        let (current_email, name) = customers::contact(tx, id)?
            .ok_or_else(|| StoreError::Inconsistent(format!("customer {id} vanished")))?;
        let language = customers::language_of(tx, id)?;
        if let Some(owner) = customers::find_for_login(tx, new_email)? {
            codes::revoke(tx, id, Purpose::EmailChange)?;
            let vars = Vars {
                email: new_email.to_string(),
                ..Vars::default()
            };
            // Written to the owner of that address, in their language, and theirs: the
            // asker's export must not say that the address has an account.
            let language = customers::language_of(tx, &owner.id)?;
            let notice = self.mailer.compose(
                Kind::AccountExists,
                language.as_ref(),
                new_email.as_str(),
                &vars,
            );
            outbox::enqueue(tx, &owner.id, &notice)?;
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
                ..Vars::default()
            };
            let confirmation = self.mailer.compose(
                Kind::EmailChangeNew,
                language.as_ref(),
                new_email.as_str(),
                &vars,
            );
            outbox::enqueue(tx, id, &confirmation)?;
        }
        let vars = Vars {
            name,
            email: current_email.clone(),
            new_email: Some(new_email.to_string()),
            ..Vars::default()
        };
        let notice = self.mailer.compose(
            Kind::EmailChangeOld,
            language.as_ref(),
            &current_email,
            &vars,
        );
        outbox::enqueue(tx, id, &notice)?;
        Ok(())
    }

    /// Applies a pending email change whose key is right. Every code sent to the old address
    /// dies with it. If the address was taken meanwhile, the key is used up and the answer is
    /// a conflict. The new address is told; the old one gets a link that undoes the change.
    pub async fn confirm_new_email(
        &self,
        identifier: &str,
        key: &str,
        client: &Client,
    ) -> Result<(), AppError> {
        use_link_key(self.0, identifier, key, LinkKey::parse, client, |used| {
            let KeyUse {
                tx,
                id,
                identifier,
                digest,
                services,
                client,
            } = used;
            let (new_email, asked_at) =
                match codes::check(tx, &id, Purpose::EmailChange, digest, true)? {
                    CodeCheck::Valid {
                        new_email: Some(new_email),
                        issued_at,
                    } => (
                        EmailAddress::parse(&new_email).map_err(StoreError::BadValue)?,
                        issued_at,
                    ),
                    _ => return Ok(Outcome::Refused(invalid_key())),
                };
            // Writers run one at a time (BEGIN IMMEDIATE), so this check cannot race; the
            // unique index stays the last word all the same.
            if customers::email_taken(tx, &new_email)? {
                return Ok(Outcome::Refused(taken()));
            }
            let (old_email, name) = customers::contact(tx, &id)?
                .ok_or_else(|| StoreError::Inconsistent(format!("customer {id} vanished")))?;
            apply_new_email(tx, &id, &new_email)?;
            activity::record(tx, &id, ActivityKind::EmailChanged, Some(client))?;
            services.announcer.announce(tx, Event::EmailChanged, &id)?;
            let change = undo::Change {
                old_email: &old_email,
                new_email: new_email.as_str(),
                asked_at,
            };
            services
                .email_changes()
                .queue_change_notices(tx, &id, identifier, &change, name)?;
            Ok(Outcome::Done(()))
        })
        .await?;
        self.mailer.wake_worker();
        self.announcer.wake();
        Ok(())
    }

    /// Tells both addresses of a confirmed change; the old one gets the key that undoes it.
    fn queue_change_notices(
        &self,
        tx: &Db,
        id: &CustomerId,
        identifier: &str,
        change: &undo::Change<'_>,
        name: Option<String>,
    ) -> StoreResult<()> {
        let (old_email, new_email) = (change.old_email, change.new_email);
        let key = LinkKey::generate();
        let ttl = (self.config.auth.email_undo_ttl_days.get() * 24 * 3600) as i64;
        undo::issue(tx, id, &auth::digest(key.as_str()), change, ttl)?;
        let to_new = Vars {
            name: name.clone(),
            email: new_email.to_string(),
            ..Vars::default()
        };
        let language = customers::language_of(tx, id)?;
        let notice =
            self.mailer
                .compose(Kind::EmailChangedNew, language.as_ref(), new_email, &to_new);
        outbox::enqueue(tx, id, &notice)?;
        let to_old = Vars {
            name,
            email: old_email.to_owned(),
            new_email: Some(new_email.to_string()),
            link: Some(self.links.email_undo(identifier, key.as_str())),
            ..Vars::default()
        };
        let notice =
            self.mailer
                .compose(Kind::EmailChangedOld, language.as_ref(), old_email, &to_old);
        outbox::enqueue(tx, id, &notice)?;
        Ok(())
    }

    /// Undoes a confirmed email change with the key mailed to the address it replaced: that
    /// address is restored and the account taken back from whoever changed it: every session
    /// and code ends, the password becomes unusable, the passkeys registered since the change
    /// was asked for are removed, and the restored address is told and sent a reset link. A
    /// key of the wrong shape never reaches the database. 409 if another account took the
    /// address meanwhile (the key is used up).
    pub async fn undo_email_change(
        &self,
        identifier: &str,
        key: &str,
        client: &Client,
    ) -> Result<(), AppError> {
        use_link_key(
            self.0,
            identifier,
            key,
            LinkKey::parse_current,
            client,
            |used| {
                let KeyUse {
                    tx,
                    id,
                    digest,
                    services,
                    client,
                    ..
                } = used;
                let UndoCheck::Valid {
                    old_email,
                    asked_at,
                } = undo::check(tx, &id, digest)?
                else {
                    return Ok(Outcome::Refused(invalid_key()));
                };
                let old_email = EmailAddress::parse(&old_email).map_err(StoreError::BadValue)?;
                let (current, _) = customers::contact(tx, &id)?
                    .ok_or_else(|| StoreError::Inconsistent(format!("customer {id} vanished")))?;
                if current != old_email.as_str() {
                    if customers::email_taken(tx, &old_email)? {
                        return Ok(Outcome::Refused(taken()));
                    }
                    customers::set_email(tx, &id, &old_email)?;
                    services.announcer.announce(tx, Event::EmailChanged, &id)?;
                }
                // Whoever changed the address loses every way in: sessions, codes sent to the
                // other address, the other undo keys, the password (they may have known or
                // reset it) and the passkeys added since the change was asked for.
                undo::revoke_all(tx, &id)?;
                if let Some(asked_at) = asked_at {
                    passkeys::delete_registered_since(tx, &id, asked_at)?;
                }
                activity::record(tx, &id, ActivityKind::EmailChangeUndone, Some(client))?;
                services
                    .profiles()
                    .queue_notice(tx, &id, Kind::EmailChangeUndone)?;
                services
                    .resets()
                    .take_account_back(tx, &id, &old_email, client)?;
                Ok(Outcome::Done(()))
            },
        )
        .await?;
        self.mailer.wake_worker();
        self.announcer.wake();
        Ok(())
    }
}

fn apply_new_email(tx: &Db, id: &CustomerId, new_email: &EmailAddress) -> StoreResult<()> {
    customers::set_email(tx, id, new_email)?;
    codes::revoke_all(tx, id)
}

fn taken() -> AppError {
    AppError::Conflict {
        message: "this email address is now used by another account".into(),
        fields: [("email".to_owned(), "is already in use".to_owned())].into(),
    }
}
