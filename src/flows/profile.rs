//! The customer's own profile: reading it (the token check and the read in one statement) and
//! `PATCH /customers/self`, with its password change and email change.

use crate::store::sql::{Db, ReadDb};
use std::collections::BTreeSet;

use super::{Event, Session};
use crate::auth::{self, Requester};
use crate::domain::ActivityKind;
use crate::domain::{Customer, EmailAddress, NewPassword, ProfileChanges};
use crate::error::{AppError, FieldErrors};
use crate::mail::{Kind, Vars};
use crate::store::codes::{self, Purpose};
use crate::store::subscriptions::{self, ConsentSource};
use crate::store::{Outcome, Scope, activity, customers, outbox, sessions};

/// A password change asked within a profile update.
#[derive(Clone, Debug)]
pub struct PasswordChange {
    pub password: String,
    pub password_check: String,
    pub current_password: String,
}

/// A parsed `PATCH /customers/self`: every part optional.
#[derive(Clone, Debug, Default)]
pub struct ProfileUpdate {
    /// The `id` the caller sent back, if any: accepted only when it is their own.
    pub id: Option<String>,
    pub email: Option<EmailAddress>,
    pub profile: ProfileChanges,
    pub subscriptions: Option<BTreeSet<String>>,
    pub password: Option<PasswordChange>,
    /// `current_password` sent without a new password: a proof of the password, which lets a
    /// session that is not recently authenticated change the email.
    pub current_password: Option<String>,
}

impl ProfileUpdate {
    /// The current password the update proves, with or without a password change.
    fn proof(&self) -> Option<&str> {
        self.password
            .as_ref()
            .map(|change| change.current_password.as_str())
            .or(self.current_password.as_deref())
    }
}

flow_handle!(
    /// Reading and editing the caller's own profile.
    Profiles,
    profiles
);

impl Profiles<'_> {
    /// The customer object of the session a bearer token opens: the token check and the
    /// profile read are one statement on one trip to a reader thread (see docs/performance.md).
    pub async fn own_profile(&self, token: &str) -> Result<Customer, AppError> {
        if !auth::looks_like_session_token(token) {
            return Err(AppError::Unauthenticated);
        }
        let token_hash = auth::digest(token);
        let lookup = token_hash.clone();
        let (customer, last_used_at) = self
            .store
            .read(move |c| customers::profile_of_session(c, &lookup))
            .await?
            .ok_or(AppError::Unauthenticated)?;
        self.sessions().mark_used(&token_hash, last_used_at);
        Ok(customer)
    }

    /// The caller's customer object.
    pub async fn profile(&self, session: &Session) -> Result<Customer, AppError> {
        let id = session.customer.clone();
        self.store
            .read(move |c| customers::profile(c, &id))
            .await?
            .ok_or(AppError::Unauthenticated)
    }

    /// Applies a profile update in one transaction and answers with the new customer object.
    /// A password change ends every other session of the customer and kills pending
    /// email-change keys. A new email is not applied but awaits confirmation (see
    /// `queue_email_change`), so the answer still shows the old one; asking for one needs a
    /// recently authenticated session or the current password in the same update. A refused
    /// update changes nothing.
    pub async fn update_profile(
        &self,
        session: &Session,
        mut update: ProfileUpdate,
    ) -> Result<Customer, AppError> {
        let mut problems = FieldErrors::new();
        if update
            .id
            .as_deref()
            .is_some_and(|id| id != session.customer.as_str())
        {
            problems.insert("id".into(), "cannot be changed".into());
        }
        // Only an email or a password change needs the stored profile first; a change of the
        // other fields is one trip to the writer (the busiest write of the product).
        let current = if update.email.is_some() || update.proof().is_some() {
            Some(self.profile(session).await?)
        } else {
            None
        };
        let new_email = update
            .email
            .take()
            .filter(|e| current.as_ref().is_some_and(|c| e.as_str() != c.email));
        if let Some(e) = AppError::fields(problems) {
            return Err(e);
        }
        if new_email.is_some() && update.proof().is_none() {
            self.sessions().require_recent(session)?;
        }
        // An email change mails the new address: at most 1 a minute and 5 an hour to one
        // address, whoever asks, so that no one can flood a stranger's mailbox.
        if new_email
            .as_ref()
            .is_some_and(|e| !self.throttles.email_allowed(e.as_str()))
        {
            return Err(AppError::Throttled { retry_after: 60 });
        }
        // The stored hash the current password matched, and the new password's hash.
        let (checked, new_hash) = match (&update.password, update.proof(), &current) {
            (Some(change), _, Some(current)) => {
                let (checked, hash) = self.checked_new_hash(session, current, change).await?;
                (Some(checked), Some(hash))
            }
            (None, Some(proof), Some(current)) => (
                Some(self.check_current_password(session, current, proof).await?),
                None,
            ),
            _ => (None, None),
        };
        let id = session.customer.clone();
        let keep = session.token_hash.clone();
        let services = self.0.clone();
        let mails = new_email.is_some() || new_hash.is_some();
        let client = session.client.clone();
        // Customer-scoped (on PostgreSQL, beside other customers' writes) unless it asks for a
        // new email: every other statement below reads or changes this customer's rows only
        // (their session, row, subscriptions, codes) or inserts new ones (activity, consent
        // records, a notice, webhook events), and reads the subscription lists, which only
        // global writes change. An email change reads and mails the address's owner, another
        // customer: global.
        let scope = match new_email {
            Some(_) => Scope::Global,
            None => Scope::Customer(id.clone()),
        };
        let customer = self
            .store
            .write_in(scope, move |tx| {
                // Every refusal comes before the first write, so that a refused update keeps
                // nothing of itself.
                if let Some(checked) = &checked {
                    // The session and the password checked must still be current: a reset or
                    // another change since the check wins.
                    let live = sessions::customer_of(tx, &keep)?.is_some_and(|c| c == id);
                    let (stored, locked) = customers::login_state(tx, &id)?;
                    if !live || stored.as_ref() != checked.as_ref() {
                        return Ok(Outcome::Refused(AppError::Unauthenticated));
                    }
                    if locked {
                        return Ok(Outcome::Refused(AppError::field(
                            "current_password",
                            "is not correct",
                        )));
                    }
                    sessions::mark_authenticated(tx, &keep)?;
                }
                if let Some(wanted) = &update.subscriptions {
                    if let Some(unknown) = first_unknown_list(tx, wanted)? {
                        return Ok(Outcome::Refused(AppError::field(
                            "subscriptions",
                            format!("there is no subscription list `{unknown}`"),
                        )));
                    }
                    if subscriptions::replace(
                        tx,
                        &id,
                        wanted,
                        ConsentSource::Customer,
                        Some(&client),
                    )? {
                        services
                            .announcer
                            .announce(tx, Event::SubscriptionsChanged, &id)?;
                        activity::record(
                            tx,
                            &id,
                            ActivityKind::SubscriptionsChanged,
                            Some(&client),
                        )?;
                    }
                }
                if !update.profile.is_empty() {
                    customers::update_profile(tx, &id, &update.profile)?;
                    activity::record(tx, &id, ActivityKind::ProfileUpdated, Some(&client))?;
                    services.announcer.announce(tx, Event::Updated, &id)?;
                }
                if let Some(hash) = &new_hash {
                    customers::set_password(tx, &id, hash)?;
                    // Whoever held another session loses it, and any email change they asked.
                    sessions::end_all(tx, &id, Some(&keep))?;
                    codes::revoke(tx, &id, Purpose::EmailChange)?;
                    activity::record(tx, &id, ActivityKind::PasswordChanged, Some(&client))?;
                    services
                        .profiles()
                        .queue_notice(tx, &id, Kind::PasswordChanged)?;
                }
                if let Some(new_email) = &new_email {
                    services
                        .email_changes()
                        .queue_email_change(tx, &id, new_email, &client)?;
                }
                Ok(match customers::profile(tx, &id)? {
                    Some(customer) => Outcome::Done(customer),
                    None => Outcome::Refused(AppError::Unauthenticated),
                })
            })
            .await?
            .into_result()?;
        if mails {
            self.mailer.wake_worker();
        }
        self.announcer.wake();
        Ok(customer)
    }

    /// Queues a notice of `kind` to the customer's current address, inside the caller's
    /// transaction. A notice carries no password, token or code.
    pub(super) fn queue_notice(
        &self,
        tx: &Db,
        id: &crate::domain::CustomerId,
        kind: Kind,
    ) -> crate::store::StoreResult<()> {
        let Some((email, name)) = customers::contact(tx, id)? else {
            return Ok(());
        };
        let vars = Vars {
            name,
            email: email.clone(),
            ..Vars::default()
        };
        let language = customers::language_of(tx, id)?;
        let notice = self.mailer.compose(kind, language.as_ref(), &email, &vars);
        outbox::enqueue(tx, id, &notice)?;
        Ok(())
    }

    /// Verifies the current password, then hashes the new one; answers the stored hash that
    /// was checked and the new hash.
    async fn checked_new_hash(
        &self,
        session: &Session,
        current: &Customer,
        change: &PasswordChange,
    ) -> Result<(Option<String>, String), AppError> {
        let email = EmailAddress::parse(&current.email).ok();
        let new = self.new_password(&change.password, &change.password_check, email.as_ref())?;
        let stored = self
            .check_current_password(session, current, &change.current_password)
            .await?;
        Ok((
            stored,
            self.hasher
                .hash(&new, Requester::Client(session.client.ip))
                .await?,
        ))
    }

    /// Verifies the `current_password` of an update; answers the stored hash it matched.
    async fn check_current_password(
        &self,
        session: &Session,
        current: &Customer,
        password: &str,
    ) -> Result<Option<String>, AppError> {
        self.sessions()
            .check_own_password(session, &current.email, password)
            .await
            .map_err(|e| match e {
                AppError::InvalidCredentials => {
                    AppError::field("current_password", "is not correct")
                }
                other => other,
            })
    }

    /// Checks a new password and its repetition against the policy.
    pub(super) fn new_password(
        &self,
        password: &str,
        password_check: &str,
        email: Option<&EmailAddress>,
    ) -> Result<NewPassword, AppError> {
        let parsed = NewPassword::parse(password, self.password_policy(), email);
        let mut problems = FieldErrors::new();
        if let Err(problem) = &parsed {
            problems.insert("password".into(), problem.clone());
        }
        if password != password_check {
            problems.insert("password_check".into(), "does not match password".into());
        }
        match AppError::fields(problems) {
            Some(e) => Err(e),
            None => parsed.map_err(|p| AppError::field("password", p)),
        }
    }
}

/// The first id in `wanted` that names no subscription list.
pub(super) fn first_unknown_list(
    conn: &ReadDb,
    wanted: &BTreeSet<String>,
) -> crate::store::StoreResult<Option<String>> {
    for id in wanted {
        if !subscriptions::list_exists(conn, id)? {
            return Ok(Some(id.clone()));
        }
    }
    Ok(None)
}
