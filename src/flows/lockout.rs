//! Lockout: after `limits.login_lockout_failures` failed password checks in a row (logins and
//! `current_password` on a profile update), an account accepts no password until a password
//! reset, and its owner is emailed once. The count lives in the database, so a restart keeps it.

use crate::domain::{ActivityKind, Client, CustomerId};
use crate::mail::{Kind, Vars};
use crate::store::{activity, customers, outbox};

flow_handle!(
    /// The lockout after repeated failed password checks.
    Lockouts,
    lockouts
);

impl Lockouts<'_> {
    /// Counts a failed check of the password `checked` against the account, after the answer:
    /// the caller's answer and its timing are those of an unknown address, which writes nothing.
    /// The failure that reaches the limit locks the account and queues the owner's notice in
    /// the same transaction, so the notice goes out once.
    /// With the `client` of a login, the failure is also recorded as `login_failed` in the
    /// account's activity, in the same transaction.
    pub(super) fn count_failed_password(
        &self,
        id: CustomerId,
        checked: Option<String>,
        client: Option<Client>,
    ) {
        let services = self.0.clone();
        let limit = self.config.limits.login_lockout_failures.get();
        let customer = id.to_string();
        self.background.spawn(async move {
            let mailer = services.mailer.clone();
            let locked = services
                .store
                .write(move |tx| {
                    // The account may be gone by now.
                    if let Some(client) = &client
                        && customers::contact(tx, &id)?.is_some()
                    {
                        activity::record(tx, &id, ActivityKind::LoginFailed, Some(client))?;
                    }
                    if !customers::count_failed_login(tx, &id, checked.as_deref(), limit)? {
                        return Ok(false);
                    }
                    if let Some((email, name)) = customers::contact(tx, &id)? {
                        let vars = Vars {
                            name,
                            email: email.clone(),
                            ..Vars::default()
                        };
                        let language = customers::language_of(tx, &id)?;
                        let notice =
                            mailer.compose(Kind::AccountLocked, language.as_ref(), &email, &vars);
                        outbox::enqueue(tx, &id, &notice)?;
                    }
                    Ok(true)
                })
                .await;
            match locked {
                Ok(true) => {
                    tracing::warn!(target: "customer_area::audit", %customer, "account locked after repeated failed logins");
                    services.mailer.wake_worker();
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "a failed login could not be counted"),
            }
        });
    }
}
