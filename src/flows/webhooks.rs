//! Announcing customer changes to the shop: events queued in the transaction of the change,
//! and the admin commands over the webhook outbox.

use std::sync::Arc;

use crate::store::sql::Db;
use serde_json::json;
use tokio::sync::Notify;

use super::AuditLine;
use crate::domain::{CustomerId, format_time};
use crate::error::AppError;
use crate::store::webhooks::{self, Entry, NewEvent};
use crate::store::{Outcome, StoreResult, customers, now, subscriptions};
use crate::webhooks::worker::{Attempt, Sender};
use crate::webhooks::{Endpoint, PING, new_webhook_id};

/// A change the shop hears about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Created,
    Activated,
    Updated,
    EmailChanged,
    Deleted,
    SubscriptionsChanged,
    EmailUndeliverable,
}

impl Event {
    /// The event's `type`.
    pub fn type_name(self) -> &'static str {
        match self {
            Event::Created => "customer.created",
            Event::Activated => "customer.activated",
            Event::Updated => "customer.updated",
            Event::EmailChanged => "customer.email_changed",
            Event::Deleted => "customer.deleted",
            Event::SubscriptionsChanged => "subscriptions.changed",
            Event::EmailUndeliverable => "customer.email_undeliverable",
        }
    }
}

/// Queues events for the configured endpoints and wakes their worker.
#[derive(Clone)]
pub struct Announcer {
    endpoints: Arc<[Endpoint]>,
    wake: Arc<Notify>,
}

impl Announcer {
    pub fn new(endpoints: Vec<Endpoint>) -> Announcer {
        Announcer {
            endpoints: endpoints.into(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The endpoints, for the worker.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.endpoints.to_vec()
    }

    /// What wakes the worker.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Queues `event` about `customer` for every endpoint that wants it, inside the caller's
    /// transaction (so it is announced if and only if the change commits). The data is the
    /// customer object as the transaction leaves it, or `{"id"}` alone for a deletion; no
    /// event carries a password, token or code.
    pub fn announce(&self, tx: &Db, event: Event, customer: &CustomerId) -> StoreResult<()> {
        let type_name = event.type_name();
        let wanting: Vec<&Endpoint> = self
            .endpoints
            .iter()
            .filter(|e| e.wants(type_name))
            .collect();
        if wanting.is_empty() {
            return Ok(());
        }
        // A customer who has not activated is no member of any list: their lists count, and
        // are announced, from the activation on.
        if event == Event::SubscriptionsChanged && customers::is_pending(tx, customer)? {
            return Ok(());
        }
        let only_id = json!({ "id": customer.as_str() });
        let data = match event {
            Event::Deleted => only_id,
            Event::SubscriptionsChanged => json!({
                "id": customer.as_str(),
                "subscriptions": subscriptions::of_customer(tx, customer)?,
            }),
            _ => match customers::profile(tx, customer)? {
                Some(profile) => serde_json::to_value(profile).unwrap_or(only_id),
                None => only_id,
            },
        };
        let body = json!({
            "type": type_name,
            "timestamp": format_time(now()),
            "data": data,
        })
        .to_string();
        for endpoint in wanting {
            webhooks::enqueue(
                tx,
                &NewEvent {
                    webhook_id: &new_webhook_id(),
                    endpoint: &endpoint.label(),
                    event_type: type_name,
                    customer_id: Some(customer.as_str()),
                    body: &body,
                },
            )?;
        }
        Ok(())
    }

    /// Tells the worker that events were committed.
    pub fn wake(&self) {
        if !self.endpoints.is_empty() {
            self.wake.notify_waiters();
        }
    }
}

impl super::Services {
    /// Makes `wanted` the customer's subscriptions on behalf of someone other than the
    /// customer (`source`), recording consent and announcing a change, inside the caller's
    /// transaction; answers whether the set changed.
    pub(super) fn replace_subscriptions(
        &self,
        tx: &Db,
        id: &CustomerId,
        wanted: &std::collections::BTreeSet<String>,
        source: subscriptions::ConsentSource,
    ) -> StoreResult<bool> {
        let changed = subscriptions::replace(tx, id, wanted, source, None)?;
        if changed {
            self.announcer
                .announce(tx, Event::SubscriptionsChanged, id)?;
        }
        Ok(changed)
    }

    /// Gives a customer created in this transaction (an import) the lists they moved in with,
    /// each consent with its own time and source, and announces the change.
    pub(super) fn subscribe_new_customer(
        &self,
        tx: &Db,
        id: &CustomerId,
        joins: &[subscriptions::MovedConsent],
    ) -> StoreResult<()> {
        if joins.is_empty() {
            return Ok(());
        }
        subscriptions::join_moved(tx, id, joins)?;
        self.announcer.announce(tx, Event::SubscriptionsChanged, id)
    }
}

flow_handle!(
    /// The webhook outbox, for the admin commands.
    Webhooks,
    webhooks
);

impl Webhooks<'_> {
    /// Events, newest first, optionally only those with `status`.
    pub async fn list(&self, status: Option<String>, limit: u32) -> Result<Vec<Entry>, AppError> {
        Ok(self
            .store
            .read(move |c| webhooks::list(c, status.as_deref(), limit))
            .await?)
    }

    /// Queues failed events again (all, or the one with `id`); answers how many.
    pub async fn retry_failed(&self, id: Option<i64>) -> Result<usize, AppError> {
        let count = self
            .store
            .write(move |tx| webhooks::retry_failed(tx, id))
            .await?;
        self.announcer.wake();
        Ok(count)
    }

    /// Up to `limit` deliveries of `statuses`, newest first, older than `before`.
    pub async fn page(
        &self,
        statuses: &'static [&'static str],
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Entry>, AppError> {
        Ok(self
            .store
            .read(move |c| webhooks::page(c, statuses, before, limit))
            .await?)
    }

    /// Queues the failed delivery `id` again, with its audit line. No such delivery is 404;
    /// one that is not failed (queued or sent), 409.
    pub async fn retry(&self, id: i64, line: AuditLine) -> Result<(), AppError> {
        self.store
            .write(move |tx| {
                if webhooks::retry_failed(tx, Some(id))? == 1 {
                    line.write(tx, None)?;
                    return Ok(Outcome::Done(()));
                }
                Ok(Outcome::Refused(match webhooks::status_of(tx, id)? {
                    None => AppError::NotFound(format!("there is no webhook delivery {id}")),
                    Some(status) => AppError::conflict(format!(
                        "webhook delivery {id} is {status}, not failed: there is nothing to retry"
                    )),
                }))
            })
            .await?
            .into_result()?;
        self.announcer.wake();
        Ok(())
    }

    /// Queues a `ping` event for every configured endpoint (whatever events it takes), with
    /// its audit line; answers how many were queued (none without endpoints).
    pub async fn queue_test(&self, line: AuditLine) -> Result<usize, AppError> {
        let labels: Vec<String> = self.announcer.endpoints.iter().map(|e| e.label()).collect();
        let body = json!({
            "type": PING,
            "timestamp": format_time(now()),
            "data": {},
        })
        .to_string();
        let count = self
            .store
            .write(move |tx| {
                for endpoint in &labels {
                    webhooks::enqueue(
                        tx,
                        &NewEvent {
                            webhook_id: &new_webhook_id(),
                            endpoint,
                            event_type: PING,
                            customer_id: None,
                            body: &body,
                        },
                    )?;
                }
                line.write(tx, None)?;
                Ok(labels.len())
            })
            .await?;
        self.announcer.wake();
        Ok(count)
    }

    /// Sends a signed `ping` to the configured endpoint at `url` at once.
    pub async fn ping(&self, url: &str) -> Result<Attempt, AppError> {
        let endpoint = self
            .announcer
            .endpoints
            .iter()
            .find(|e| {
                e.url.as_str() == url || e.label() == url || e.url.as_str() == format!("{url}/")
            })
            .cloned()
            .ok_or_else(|| {
                AppError::field(
                    "url",
                    format!("`{url}` is not a configured webhook endpoint"),
                )
            })?;
        let timeout =
            std::time::Duration::from_secs(self.config.webhook_delivery.timeout_seconds.get());
        let sender = Sender::new(timeout).map_err(AppError::internal)?;
        Ok(sender.ping(&endpoint).await)
    }
}
