//! The preference page behind an unsubscribe link: rather than only leaving, the customer
//! pauses a list for 30 or 90 days, ends a pause early, or leaves every list. The link's token
//! is the only credential, as for the one-click unsubscribe, and it speaks for its customer
//! only while the subscription it names lasts. Every choice goes into the consent ledger with
//! the source `preference_page` (actions `pause`, `resume`, `out`).

use serde::Serialize;

use super::unsubscribe::{Claim, changed_by_link, not_a_link};
use crate::domain::{Client, Subscription, rfc3339_field};
use crate::error::AppError;
use crate::store::sql::Db;
use crate::store::subscriptions::{self, ConsentSource};
use crate::store::{Scope, StoreResult, now};

/// How long a list may be paused: the page offers these and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseDays {
    Thirty,
    Ninety,
}

impl PauseDays {
    /// 30 or 90; anything else is refused with the reason.
    pub fn parse(days: i64) -> Result<PauseDays, String> {
        match days {
            30 => Ok(PauseDays::Thirty),
            90 => Ok(PauseDays::Ninety),
            _ => Err("must be 30 or 90".into()),
        }
    }

    fn seconds(self) -> i64 {
        let days = match self {
            PauseDays::Thirty => 30,
            PauseDays::Ninety => 90,
        };
        days * 24 * 3600
    }
}

/// What the page shows: the list the link came from and every subscription of its customer.
#[derive(Clone, Debug, Serialize)]
pub struct PreferenceView {
    pub list: String,
    pub subscriptions: Vec<Subscription>,
}

/// A pause taken.
#[derive(Clone, Debug, Serialize)]
pub struct Paused {
    pub result: &'static str,
    pub list: String,
    #[serde(serialize_with = "rfc3339_field")]
    pub paused_until: i64,
}

/// What a resumption did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resumed {
    /// The pause ended now: the list's emails start again.
    Resumed,
    /// The list was not paused (or the pause had run out): nothing changed.
    NotPaused,
}

/// Why a choice on the page changed nothing.
enum Refusal {
    /// The subscription the link names has ended (or begun anew since the link).
    LinkEnded,
    /// The customer is not subscribed to the list chosen.
    NotSubscribed,
}

flow_handle!(
    /// The preference page of an unsubscribe link: pauses, their end, every list left.
    Preferences,
    preferences
);

impl Preferences<'_> {
    /// The claim of a token this server issued; 404 for any other.
    async fn claim(&self, token: &str) -> Result<Claim, AppError> {
        let key = self.unsubscribes().key().await?;
        Claim::verify(token, &key).ok_or_else(not_a_link)
    }

    /// The customer's subscriptions, for the page; the link must still be current.
    pub async fn show(&self, token: &str) -> Result<PreferenceView, AppError> {
        let claim = self.claim(token).await?;
        let list = claim.list.clone();
        let shown = self
            .store
            .read(move |c| {
                if !current(c, &claim)? {
                    return Ok(None);
                }
                subscriptions::of_customer(c, &claim.customer).map(Some)
            })
            .await?;
        match shown {
            Some(subscriptions) => Ok(PreferenceView {
                list,
                subscriptions,
            }),
            None => Err(link_ended()),
        }
    }

    /// Pauses the customer's subscription to `list` for `days` from now (a running pause is
    /// replaced), recording it with its end.
    pub async fn pause(
        &self,
        token: &str,
        list: &str,
        days: PauseDays,
        client: &Client,
    ) -> Result<Paused, AppError> {
        let claim = self.claim(token).await?;
        let until = now() + days.seconds();
        let chosen = list.to_owned();
        self.choose(claim, client, move |tx, claim, client| {
            let paused = subscriptions::pause(
                tx,
                &claim.customer,
                &chosen,
                until,
                ConsentSource::PreferencePage,
                Some(client),
            )?;
            Ok(if paused {
                Ok(((), true))
            } else {
                Err(Refusal::NotSubscribed)
            })
        })
        .await?;
        Ok(Paused {
            result: "paused",
            list: list.to_owned(),
            paused_until: until,
        })
    }

    /// Ends a running pause of the customer's subscription to `list`.
    pub async fn resume(
        &self,
        token: &str,
        list: &str,
        client: &Client,
    ) -> Result<Resumed, AppError> {
        let claim = self.claim(token).await?;
        let chosen = list.to_owned();
        let resumed = self
            .choose(claim, client, move |tx, claim, client| {
                if subscriptions::subscribed_since(tx, &claim.customer, &chosen)?.is_none() {
                    return Ok(Err(Refusal::NotSubscribed));
                }
                let resumed = subscriptions::resume(
                    tx,
                    &claim.customer,
                    &chosen,
                    ConsentSource::PreferencePage,
                    Some(client),
                )?;
                Ok(Ok((resumed, resumed)))
            })
            .await?;
        Ok(if resumed {
            Resumed::Resumed
        } else {
            Resumed::NotPaused
        })
    }

    /// Ends every subscription of the link's customer; answers the lists left, in id order.
    pub async fn leave_all(&self, token: &str, client: &Client) -> Result<Vec<String>, AppError> {
        let claim = self.claim(token).await?;
        self.choose(claim, client, |tx, claim, client| {
            let lists = subscriptions::leave_all(
                tx,
                &claim.customer,
                ConsentSource::PreferencePage,
                Some(client),
            )?;
            let changed = !lists.is_empty();
            Ok(Ok((lists, changed)))
        })
        .await
    }

    /// Runs `change` in one transaction if the link is still current; when it says it changed
    /// something, records the customer's activity and announces `subscriptions.changed`.
    /// Answers what `change` answered.
    async fn choose<T, F>(&self, claim: Claim, client: &Client, change: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Db, &Claim, &Client) -> StoreResult<Result<(T, bool), Refusal>> + Send + 'static,
    {
        let (client, announcer) = (client.clone(), self.announcer.clone());
        // Customer-scoped (on PostgreSQL, beside other customers' writes): the link's check,
        // every `change` this page makes (a pause, its end, every list left) and the activity
        // and announcement read and change the subscriptions and the row of the link's
        // customer only, and insert consent records, activity and webhook events.
        let scope = Scope::Customer(claim.customer.clone());
        let outcome = self
            .store
            .write_in(scope, move |tx| {
                if !current(tx, &claim)? {
                    return Ok(Err(Refusal::LinkEnded));
                }
                let (answer, changed) = match change(tx, &claim, &client)? {
                    Ok(done) => done,
                    Err(refused) => return Ok(Err(refused)),
                };
                if changed {
                    changed_by_link(tx, &announcer, &claim.customer, &client)?;
                }
                Ok(Ok((answer, changed)))
            })
            .await?;
        match outcome {
            Ok((answer, changed)) => {
                if changed {
                    self.announcer.wake();
                }
                Ok(answer)
            }
            Err(Refusal::LinkEnded) => Err(link_ended()),
            Err(Refusal::NotSubscribed) => Err(AppError::field(
                "list",
                "is not one of the lists this address is subscribed to",
            )),
        }
    }
}

/// Whether the subscription the claim names is still the customer's.
fn current(conn: &crate::store::sql::ReadDb, claim: &Claim) -> StoreResult<bool> {
    Ok(subscriptions::subscribed_since(conn, &claim.customer, &claim.list)? == Some(claim.since))
}

/// The answer to a link whose subscription has ended: it no longer speaks for its customer.
fn link_ended() -> AppError {
    AppError::InvalidCode { field: "token" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_lasts_30_or_90_days_and_nothing_else() {
        assert_eq!(PauseDays::parse(30).unwrap().seconds(), 30 * 86_400);
        assert_eq!(PauseDays::parse(90).unwrap().seconds(), 90 * 86_400);
        for refused in [0, -30, 29, 31, 60, 365] {
            assert!(PauseDays::parse(refused).is_err(), "{refused}");
        }
    }
}
