//! The audit of `/admin`: every action recorded with who did it, on which customer and from
//! where; what staff did to a customer told to that customer too (never who); and the log
//! read back, whole for owners and the machine token, for a support agent only about the
//! customers they acted on.

use std::net::IpAddr;

use super::staff::{Actor, Caller};
use crate::domain::{CustomerId, Role};
use crate::error::AppError;
use crate::store::StoreResult;
use crate::store::audit::{self, Entry, Filter, NewEntry};
use crate::store::sql::Db;

/// The actor of what a `customer-area` command did.
pub const COMMAND_LINE: &str = "cli";
/// The actor of a staff sign-in attempt with an address no staff member has.
pub const VISITOR: &str = "visitor";

/// Entries per page when the query does not say, and the most one page holds.
pub const DEFAULT_AUDIT_PAGE: u32 = 50;
pub const MAX_AUDIT_PAGE: u32 = 200;

/// One action to record: the route's operation, its summary, the customer it was about, and
/// what it did when the handler says more than the summary (`detail`).
#[derive(Clone, Debug)]
pub struct Action {
    pub name: &'static str,
    pub summary: &'static str,
    pub customer: Option<CustomerId>,
    pub detail: Option<String>,
}

/// The audit line of an action not yet done, written by the action's own transaction
/// ([`AuditLine::write`]), so that the action and its record commit together or not at all.
#[derive(Clone, Debug)]
pub struct AuditLine {
    actor: String,
    ip: Option<String>,
    by_staff: bool,
    action: &'static str,
    detail: String,
}

impl AuditLine {
    /// The line `caller` leaves by doing `action` (a route's operation id), described by
    /// `summary` (the operation's summary) until [`AuditLine::because`] adds a reason.
    pub fn new(caller: &Caller, action: &'static str, summary: &str) -> AuditLine {
        AuditLine {
            actor: caller.name(),
            ip: Some(caller.ip.to_string()),
            by_staff: matches!(caller.actor, Actor::Staff(_)),
            action,
            detail: summary.to_owned(),
        }
    }

    /// The line a staff member leaves on their own account (signing in or out, enrolling a
    /// second factor): actor `staff:<email>`, `detail` saying what happened, never a secret.
    pub fn of_staff_member(
        email: &str,
        ip: IpAddr,
        action: &'static str,
        detail: impl Into<String>,
    ) -> AuditLine {
        AuditLine {
            actor: format!("staff:{email}"),
            ip: Some(ip.to_string()),
            by_staff: true,
            action,
            detail: detail.into(),
        }
    }

    /// The line of a sign-in attempt by someone no staff member is: actor `visitor`. What they
    /// typed as an address is not kept (it is sometimes a password typed in the wrong field).
    pub fn of_visitor(ip: IpAddr, action: &'static str, detail: impl Into<String>) -> AuditLine {
        AuditLine {
            actor: VISITOR.to_owned(),
            ip: Some(ip.to_string()),
            by_staff: false,
            action,
            detail: detail.into(),
        }
    }

    /// The line of a `customer-area` command run on the server: actor `cli`, no IP.
    pub fn of_command_line(action: &'static str) -> AuditLine {
        AuditLine {
            actor: COMMAND_LINE.to_owned(),
            ip: None,
            by_staff: false,
            action,
            detail: String::new(),
        }
    }

    /// Replaces the line's detail: what the action did, in words (never a secret).
    pub fn saying(mut self, detail: impl Into<String>) -> AuditLine {
        self.detail = detail.into();
        self
    }

    /// Adds why the caller did it (a staff member's `reason`) to the line's detail.
    pub fn because(mut self, reason: Option<&str>) -> AuditLine {
        if let Some(reason) = reason {
            self.detail = format!("{}; reason: {reason}", self.detail);
        }
        self
    }

    /// Writes the line in `tx`, the action's transaction; a staff member's action on a
    /// customer also goes into that customer's activity as `support_action`, in words for the
    /// customer that never name the agent.
    pub fn write(&self, tx: &Db, customer: Option<&CustomerId>) -> StoreResult<()> {
        let entry = NewEntry {
            actor: self.actor.clone(),
            action: self.action,
            customer: customer.cloned(),
            ip: self.ip.clone(),
            detail: self.detail.clone(),
        };
        audit::record(tx, &entry)?;
        if let (true, Some(customer)) = (self.by_staff, customer)
            && let Some(words) = customer_words(self.action)
        {
            audit::tell_customer(tx, customer, words)?;
        }
        Ok(())
    }
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
        let detail = action.detail.unwrap_or_else(|| action.summary.to_owned());
        let line = AuditLine::new(caller, action.name, &detail);
        self.store
            .write(move |tx| line.write(tx, action.customer.as_ref()))
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
        "revokeCustomerSessions" => "your sessions were ended by the shop",
        "sendPasswordReset" => "a password reset link was sent to you",
        "unlockCustomer" => "your account was unlocked by the shop",
        "showCustomer" | "consents" | "customerSessions" | "customerActivity"
        | "customerEmails" | "customerPasskeys" => return None,
        _ => "the shop's staff acted on your account",
    })
}
