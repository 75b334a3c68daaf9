//! The retailer's back office, for the admin API and the CLI: customers (list, search, show,
//! create, delete, their subscriptions and language, their consent trail) and subscription
//! lists.

use crate::store::sql::Db;
use std::collections::BTreeSet;

use serde::Serialize;

use super::{AuditLine, Created, Event, NewAccount};
use crate::domain::{ListId, clean_text};
use crate::error::{AppError, FieldErrors};
use crate::store::customers::{self, AdminView, Cursor};
use crate::store::subscriptions::{self, ConsentRecord, ConsentSource, SubscriptionList};
use crate::store::{Outcome, Start, StoreError, StoreResult};

/// The most customers one page of the back-office list holds.
pub const MAX_PAGE: u32 = 500;

/// A page of the back-office customer list, as the API and `customers list --json` give it:
/// `next` is the `after` of the page that follows (`null` on the last).
#[derive(Debug, Serialize)]
pub struct CustomerPage {
    pub customers: Vec<AdminView>,
    /// With a search, counted up to [`customers::COUNT_UP_TO`]: see `total_exact`.
    pub total: i64,
    /// `false` when more than `total` customers match the search.
    pub total_exact: bool,
    pub limit: u32,
    #[serde(flatten)]
    pub start: Start<Cursor>,
    pub next: Option<Cursor>,
}

/// A subscription list to add, parsed.
#[derive(Clone, Debug)]
pub struct NewList {
    pub id: ListId,
    pub name: String,
    pub description: Option<String>,
}

impl NewList {
    /// Parses a list's id, name (required, one line) and description; every problem is named.
    pub fn parse(id: &str, name: &str, description: Option<&str>) -> Result<NewList, AppError> {
        let mut problems = FieldErrors::new();
        let id = ListId::parse(id)
            .map_err(|p| problems.insert("id".into(), p))
            .ok();
        let name = match clean_text(name, 200, false) {
            Ok(Some(name)) => Some(name),
            Ok(None) => {
                problems.insert("name".into(), "is required".into());
                None
            }
            Err(p) => {
                problems.insert("name".into(), p);
                None
            }
        };
        let description = clean_text(description.unwrap_or(""), 2000, true)
            .map_err(|p| problems.insert("description".into(), p))
            .ok()
            .flatten();
        match (AppError::fields(problems), id, name) {
            (None, Some(id), Some(name)) => Ok(NewList {
                id,
                name,
                description,
            }),
            (error, _, _) => Err(error.unwrap_or_else(|| AppError::field("id", "is required"))),
        }
    }
}

flow_handle!(
    /// The retailer's back office: customers and subscription lists, for the admin API and
    /// the CLI.
    BackOffice,
    back_office
);

impl BackOffice<'_> {
    /// Every subscription list, in id order.
    pub async fn subscription_lists(&self) -> Result<Vec<SubscriptionList>, AppError> {
        Ok(self.store.read(subscriptions::lists).await?)
    }

    /// Adds a subscription list; an id already in use is a conflict.
    pub async fn add_subscription_list(&self, new: NewList) -> Result<SubscriptionList, AppError> {
        let list = SubscriptionList {
            id: new.id.as_str().to_owned(),
            name: new.name,
            description: new.description,
        };
        let added = list.clone();
        match self
            .store
            .write(move |tx| subscriptions::add_list(tx, &added))
            .await
        {
            Ok(()) => Ok(list),
            Err(StoreError::Duplicate { .. }) => Err(AppError::Conflict {
                message: format!("there is already a subscription list `{}`", list.id),
                fields: FieldErrors::from([("id".to_owned(), "is already in use".to_owned())]),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes a list's display: a new `name` (already one clean line) and, when given, its
    /// `description` (`Some(None)` clears it); `line` records the old and the new name in the
    /// same transaction. The id, the members and their consents stay.
    pub async fn change_subscription_list(
        &self,
        id: &str,
        name: Option<String>,
        description: Option<Option<String>>,
        line: AuditLine,
    ) -> Result<SubscriptionList, AppError> {
        let key = id.to_owned();
        let changed = self
            .store
            .write(move |tx| {
                let Some(old) = subscriptions::list(tx, &key)? else {
                    return Ok(None);
                };
                let new = SubscriptionList {
                    id: old.id.clone(),
                    name: name.unwrap_or_else(|| old.name.clone()),
                    description: description.unwrap_or_else(|| old.description.clone()),
                };
                subscriptions::change_list(tx, &new)?;
                let detail = if new.name == old.name {
                    format!("changed the description of list {} ({})", new.id, new.name)
                } else {
                    format!(
                        "renamed list {} from {:?} to {:?}",
                        new.id, old.name, new.name
                    )
                };
                line.saying(detail).write(tx, None)?;
                Ok(Some(new))
            })
            .await?;
        changed.ok_or_else(|| AppError::NotFound(format!("there is no subscription list `{id}`")))
    }

    /// Removes a subscription list; its subscribers are opted out (and that is recorded).
    pub async fn remove_subscription_list(&self, id: &str) -> Result<(), AppError> {
        let key = id.to_owned();
        let announcer = self.announcer.clone();
        let removed = self
            .store
            .write(move |tx| {
                let members = subscriptions::subscribers(tx, &key)?;
                if !subscriptions::remove_list(tx, &key)? {
                    return Ok(false);
                }
                for member in &members {
                    announcer.announce(tx, Event::SubscriptionsChanged, member)?;
                }
                Ok(true)
            })
            .await?;
        if removed {
            self.announcer.wake();
            Ok(())
        } else {
            Err(AppError::NotFound(format!(
                "there is no subscription list `{id}`"
            )))
        }
    }

    /// The customer with this id, identifier or email, as the back office sees them.
    pub async fn customer_view(&self, key: &str) -> Result<AdminView, AppError> {
        let lookup = key.to_owned();
        self.store
            .read(move |c| customers::admin_view(c, &lookup))
            .await?
            .ok_or_else(|| no_such_customer(key))
    }

    /// The scheme of the stored password hash of the customer with this id (SPEC §8.3's
    /// names): `None` without a password, `"unknown"` for a hash of no known shape.
    pub async fn password_scheme(
        &self,
        id: &crate::domain::CustomerId,
    ) -> Result<Option<&'static str>, AppError> {
        let id = id.clone();
        let (hash, _) = self
            .store
            .read(move |c| customers::login_state(c, &id))
            .await?;
        Ok(hash.map(|h| crate::auth::Scheme::of(&h).map_or("unknown", |s| s.name())))
    }

    /// One page of customers (optionally only those whose email or identifier contains
    /// `search`), with the number of all that match.
    pub async fn customer_page(
        &self,
        search: Option<String>,
        limit: u32,
        start: Start<Cursor>,
    ) -> Result<CustomerPage, AppError> {
        let limit = limit.min(MAX_PAGE);
        let from = start.clone();
        let page = self
            .store
            .read(move |c| customers::list(c, search.as_deref(), limit, &from))
            .await?;
        Ok(CustomerPage {
            customers: page.rows,
            total: page.total,
            total_exact: page.total_exact,
            limit,
            start,
            next: page.next,
        })
    }

    /// Creates a pending customer subscribed to `lists` (recorded as the admin's doing), in one
    /// transaction with their activation email; answers with the back-office view.
    pub async fn admin_create_customer(
        &self,
        account: NewAccount,
        lists: BTreeSet<ListId>,
    ) -> Result<AdminView, AppError> {
        let services = self.0.clone();
        let view = self
            .store
            .write(move |tx| {
                if let Some(unknown) = first_unknown_list(tx, &lists)? {
                    return Ok(Outcome::Refused(unknown_list(&unknown)));
                }
                let Created { id, .. } =
                    services.activations().insert_account(tx, &account, None)?;
                services.replace_subscriptions(
                    tx,
                    &id,
                    &as_strings(&lists),
                    ConsentSource::Admin,
                )?;
                Ok(match customers::admin_view(tx, id.as_str())? {
                    Some(view) => Outcome::Done(view),
                    None => Outcome::Refused(no_such_customer(id.as_str())),
                })
            })
            .await?
            .into_result()?;
        self.mailer.wake_worker();
        self.announcer.wake();
        Ok(view)
    }

    /// Deletes the customer with this id, identifier or email; answers with who it was.
    pub async fn admin_delete_customer(&self, key: &str) -> Result<AdminView, AppError> {
        let view = self.customer_view(key).await?;
        if self
            .accounts()
            .delete_customer(view.customer.id.clone())
            .await?
        {
            Ok(view)
        } else {
            Err(no_such_customer(key))
        }
    }

    /// Makes `lists` the customer's subscriptions, recorded as the admin's doing.
    pub async fn admin_set_subscriptions(
        &self,
        key: &str,
        lists: BTreeSet<ListId>,
    ) -> Result<AdminView, AppError> {
        let lookup = key.to_owned();
        let services = self.0.clone();
        let view = self
            .store
            .write(move |tx| {
                let Some(view) = customers::admin_view(tx, &lookup)? else {
                    return Ok(Outcome::Refused(no_such_customer(&lookup)));
                };
                if let Some(unknown) = first_unknown_list(tx, &lists)? {
                    return Ok(Outcome::Refused(unknown_list(&unknown)));
                }
                let id = view.customer.id;
                services.replace_subscriptions(
                    tx,
                    &id,
                    &as_strings(&lists),
                    ConsentSource::Admin,
                )?;
                Ok(match customers::admin_view(tx, id.as_str())? {
                    Some(view) => Outcome::Done(view),
                    None => Outcome::Refused(no_such_customer(&lookup)),
                })
            })
            .await?
            .into_result()?;
        self.announcer.wake();
        Ok(view)
    }

    /// The overview of the console: customers by status, sign-ups of the last 30 days,
    /// emails and webhook deliveries queued and failed.
    pub async fn stats(&self) -> Result<crate::store::stats::Stats, AppError> {
        let now = crate::store::now();
        Ok(self
            .store
            .read(move |c| crate::store::stats::overview(c, now))
            .await?)
    }

    /// Every opt-in and opt-out of the customer, oldest first.
    pub async fn consent_history(&self, key: &str) -> Result<Vec<ConsentRecord>, AppError> {
        let view = self.customer_view(key).await?;
        let id = view.customer.id;
        Ok(self
            .store
            .read(move |c| subscriptions::consent_history(c, &id))
            .await?)
    }
}

fn no_such_customer(key: &str) -> AppError {
    AppError::NotFound(format!(
        "there is no customer with id, identifier or email `{}`",
        key.chars().take(100).collect::<String>()
    ))
}

fn unknown_list(id: &str) -> AppError {
    AppError::field(
        "subscriptions",
        format!("there is no subscription list `{id}`"),
    )
}

fn as_strings(lists: &BTreeSet<ListId>) -> BTreeSet<String> {
    lists.iter().map(|l| l.as_str().to_owned()).collect()
}

/// The first of `lists` that does not exist.
fn first_unknown_list(conn: &Db, lists: &BTreeSet<ListId>) -> StoreResult<Option<String>> {
    super::profile::first_unknown_list(conn, &as_strings(lists))
}
