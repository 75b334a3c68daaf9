//! The audit of `/admin`: every action recorded with who did it, on which customer and from
//! where; what staff did to a customer told to that customer too (never who); and the log
//! read back, whole for owners and the machine token, for a support agent only about the
//! customers they acted on.

use super::staff::{Actor, Caller};
use crate::domain::{CustomerId, Role};
use crate::error::AppError;
use crate::store::audit::{self, Entry, Filter, NewEntry};

/// Entries per page when the query does not say, and the most one page holds.
pub const DEFAULT_AUDIT_PAGE: u32 = 50;
pub const MAX_AUDIT_PAGE: u32 = 200;

/// One action to record: the route's operation, its summary, the customer it was about.
#[derive(Clone, Debug)]
pub struct Action {
    pub name: &'static str,
    pub summary: &'static str,
    pub customer: Option<CustomerId>,
}

flow_handle!(
    /// The audit log of `/admin`.
    Audits,
    audits
);

impl Audits<'_> {
    /// The customer an admin path names by id, identifier or email, looked up before the
    /// action (a deletion removes it).
    pub async fn customer_named(&self, key: &str) -> Result<Option<CustomerId>, AppError> {
        let key = key.to_owned();
        Ok(self
            .store
            .read(move |c| audit::customer_named(c, &key))
            .await?)
    }

    /// Records an action done; a staff member's action on a customer also goes into that
    /// customer's activity as `support_action`, in words for the customer.
    pub async fn record(&self, caller: &Caller, action: Action) -> Result<(), AppError> {
        let told = match (&caller.actor, &action.customer) {
            (Actor::Staff(_), Some(customer)) => {
                customer_words(action.name).map(|words| (customer.clone(), words))
            }
            _ => None,
        };
        let entry = NewEntry {
            actor: caller.name(),
            action: action.name,
            customer: action.customer,
            ip: caller.ip.to_string(),
            detail: action.summary.to_owned(),
        };
        self.store
            .write(move |tx| {
                audit::record(tx, &entry)?;
                if let Some((customer, words)) = &told {
                    audit::tell_customer(tx, customer, words)?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// A page of the log, newest first: everything for an owner or the machine token; for a
    /// support agent, only entries about customers they acted on.
    pub async fn page(
        &self,
        caller: &Caller,
        mut filter: Filter,
        limit: u32,
    ) -> Result<Vec<Entry>, AppError> {
        if caller.role() < Role::Owner {
            filter.touched_by = Some(caller.name());
        }
        Ok(self
            .store
            .read(move |c| audit::page(c, &filter, limit))
            .await?)
    }
}

/// What a customer reads in their own activity when staff did `action` to their account;
/// `None` for what they need not be told (a staff member looking at the account).
fn customer_words(action: &str) -> Option<&'static str> {
    Some(match action {
        "updateCustomer" => "your account's details were changed by the shop",
        "resendActivation" => "a new activation link was sent to you",
        "setSubscriptions" => "your subscriptions were changed by the shop",
        "removeSecondFactor" => "your second factor was removed by the shop",
        "showCustomer" | "consents" => return None,
        _ => "the shop's staff acted on your account",
    })
}
