//! Bounces and complaints, and what follows from them: an address that cannot receive mail is
//! marked undeliverable and leaves every list (the ledger says `bounce`), temporary failures
//! count until they make it so, and a complaint takes the customer off every list (the ledger
//! says `complaint`). Transactional emails (resets, codes) still go to a marked address: the
//! mark keeps newsletters from a dead address, it never locks a customer out.
//!
//! Reports come from `customer-area mail inbound` (a mail server's pipe) and from
//! `POST /admin/mail/events` (a mail provider's relay).

use std::str::FromStr;

use crate::domain::CustomerId;
use crate::error::AppError;
use crate::mail::bounce::{self, Token};
use crate::mail::inbound::{Report, ReportKind};
use crate::store::deliverability::{self as store, AddressState, SentEmail};
use crate::store::keys;
use crate::store::sql::ReadDb;
use crate::store::subscriptions::{self, ConsentSource};

use super::Event;

/// A report about one email, however it came in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailEvent {
    pub kind: EventKind,
    /// The address the email went to, as the report names it.
    pub email: Option<String>,
    /// The email it is about, when a bounce token or a quoted Message-ID named it.
    pub sent: Option<SentEmail>,
    /// In the reporter's words.
    pub reason: String,
}

/// What a report says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Bounce { permanent: bool },
    Complaint,
}

impl FromStr for EventKind {
    type Err = ();

    /// The `type` of `POST /admin/mail/events`, without `permanent`.
    fn from_str(kind: &str) -> Result<EventKind, ()> {
        match kind {
            "bounce" => Ok(EventKind::Bounce { permanent: true }),
            "complaint" => Ok(EventKind::Complaint),
            _ => Err(()),
        }
    }
}

/// What a report changed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// The address is marked undeliverable now, and left these lists.
    MarkedUndeliverable { lists_left: Vec<String> },
    /// The address was marked already: nothing changed.
    AlreadyUndeliverable,
    /// One more temporary failure; the address is marked at `limit`.
    SoftBounceCounted { count: i64, limit: u64 },
    /// A complaint: the customer left these lists (none if they were on none).
    Unsubscribed { lists_left: Vec<String> },
    /// The report is about an address the customer no longer has: nothing changed.
    AddressChanged,
}

/// Why a report changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("no account has the address {0}")]
    NoAccount(String),
    #[error("the report names no recipient")]
    NoRecipient,
    #[error("the bounce token {0} was not made by this server")]
    ForgedToken(String),
    #[error(
        "the report names none of this server's emails (no bounce token, no known Message-ID), \
         and with mail.bounce_address set only those are acted on"
    )]
    Unidentified,
    #[error(transparent)]
    Failed(#[from] AppError),
}

impl From<crate::store::StoreError> for EventError {
    fn from(e: crate::store::StoreError) -> EventError {
        EventError::Failed(e.into())
    }
}

flow_handle!(
    /// Bounces and complaints.
    Deliverability,
    deliverability
);

impl Deliverability<'_> {
    /// Turns a report read by `mail inbound` into an event: the email it is about is found by
    /// the bounce token of the address it arrived at (`recipient`, else the report's own
    /// headers), or by the Message-ID it quotes. With `mail.bounce_address` set, a report that
    /// names none of this server's emails is refused ([`EventError::Unidentified`]): anyone
    /// may write to the bounce address, and only a token or a Message-ID (both unguessable)
    /// shows a report to be about a real email.
    pub async fn event_of_report(
        &self,
        report: Report,
        recipient: Option<String>,
    ) -> Result<Option<MailEvent>, EventError> {
        let kind = match report.kind {
            ReportKind::Delivered => return Ok(None),
            ReportKind::PermanentFailure => EventKind::Bounce { permanent: true },
            ReportKind::TemporaryFailure => EventKind::Bounce { permanent: false },
            ReportKind::Complaint => EventKind::Complaint,
        };
        let mut sent = None;
        if let Some(address) = &self.config.mail.bounce_address {
            let key = keys::cached(&self.store, &self.bounce_key, bounce::KEY_NAME).await?;
            let tokens = recipient
                .iter()
                .chain(&report.envelope)
                .find_map(|candidate| {
                    bounce::token_in(address, &key, candidate).map(|token| (candidate, token))
                });
            match tokens {
                Some((candidate, Token::Forged)) => {
                    return Err(EventError::ForgedToken(candidate.clone()));
                }
                Some((_, Token::Valid(id))) => {
                    sent = self.store.read(move |c| store::sent_email(c, id)).await?;
                }
                None => {}
            }
        }
        if sent.is_none()
            && let Some(message_id) = report.message_id.clone()
        {
            sent = self
                .store
                .read(move |c| store::sent_email_by_message_id(c, &message_id))
                .await?;
        }
        if sent.is_none() && self.config.mail.bounce_address.is_some() {
            return Err(EventError::Unidentified);
        }
        Ok(Some(MailEvent {
            kind,
            email: report.recipient,
            sent,
            reason: report.reason,
        }))
    }

    /// Applies one event, in one transaction: the mark, the lists left with their ledger
    /// entries, and the `customer.email_undeliverable` webhook, or none of them.
    pub async fn record(&self, event: MailEvent) -> Result<Outcome, EventError> {
        let limit = self.config.mail.soft_bounce_limit.get();
        let services = self.0.clone();
        let outcome = self
            .store
            .write(move |tx| {
                let target = match target(tx, &event) {
                    Ok(target) => target,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                let Some(customer) = target else {
                    return Ok(Ok(Outcome::AddressChanged));
                };
                let outcome = match event.kind {
                    EventKind::Complaint => Outcome::Unsubscribed {
                        lists_left: services.leave_every_list(
                            tx,
                            &customer.id,
                            ConsentSource::Complaint,
                        )?,
                    },
                    EventKind::Bounce { .. } if customer.undeliverable_at.is_some() => {
                        Outcome::AlreadyUndeliverable
                    }
                    EventKind::Bounce { permanent: false } => {
                        let count = store::count_soft_bounce(tx, &customer.id)?;
                        if (count as u64) < limit {
                            Outcome::SoftBounceCounted { count, limit }
                        } else {
                            let reason = format!(
                                "{count} temporary delivery failures; the last: {}",
                                event.reason
                            );
                            services.mark_undeliverable(tx, &customer.id, &reason)?
                        }
                    }
                    EventKind::Bounce { permanent: true } => {
                        services.mark_undeliverable(tx, &customer.id, &event.reason)?
                    }
                };
                Ok(Ok(outcome))
            })
            .await??;
        self.announcer.wake();
        Ok(outcome)
    }
}

/// The customer an event is about, or `None` when the address it names is no longer theirs.
fn target(tx: &ReadDb, event: &MailEvent) -> Result<Option<AddressState>, EventError> {
    let address = event
        .sent
        .as_ref()
        .map(|sent| sent.recipient.to_ascii_lowercase())
        .or_else(|| event.email.as_ref().map(|e| e.trim().to_ascii_lowercase()))
        .ok_or(EventError::NoRecipient)?;
    let owner = match event.sent.as_ref().and_then(|s| s.customer_id.as_deref()) {
        Some(id) => store::by_id(tx, id)?,
        None => store::by_email(tx, &address)?,
    };
    let customer = owner.ok_or_else(|| EventError::NoAccount(address.clone()))?;
    Ok((customer.email.eq_ignore_ascii_case(&address)).then_some(customer))
}

impl super::Services {
    /// Marks the address undeliverable and takes it off every list (ledger source `bounce`),
    /// announcing `customer.email_undeliverable`, inside the caller's transaction.
    fn mark_undeliverable(
        &self,
        tx: &crate::store::sql::Db,
        customer: &CustomerId,
        reason: &str,
    ) -> crate::store::StoreResult<Outcome> {
        if !store::mark_undeliverable(tx, customer, reason)? {
            return Ok(Outcome::AlreadyUndeliverable);
        }
        let lists_left = self.leave_every_list(tx, customer, ConsentSource::Bounce)?;
        self.announcer
            .announce(tx, Event::EmailUndeliverable, customer)?;
        Ok(Outcome::MarkedUndeliverable { lists_left })
    }

    /// Takes the customer off every list with `source` in the ledger, announcing the change.
    fn leave_every_list(
        &self,
        tx: &crate::store::sql::Db,
        customer: &CustomerId,
        source: ConsentSource,
    ) -> crate::store::StoreResult<Vec<String>> {
        let left = subscriptions::leave_all(tx, customer, source, None)?;
        if !left.is_empty() {
            self.announcer
                .announce(tx, Event::SubscriptionsChanged, customer)?;
        }
        Ok(left)
    }
}
