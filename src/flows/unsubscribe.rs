//! The shop's newsletters: the members of a list, each with a one-click unsubscribe link
//! (RFC 8058) whose token is an HMAC under a key kept in the database, so it needs no row per
//! member and survives restarts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde::Serialize;

use super::{Announcer, Event, MAX_PAGE};
use crate::domain::{ActivityKind, Client, CustomerId, rfc3339_field};
use crate::error::AppError;
use crate::store::sql::Db;
use crate::store::subscriptions::{self, ConsentSource, MemberRow};
use crate::store::{Scope, Start, StoreResult, activity, keys};

/// Members the CSV export reads per database round.
const EXPORT_BATCH: u32 = 500;

/// One member of a list, as the shop's newsletter tool gets it.
#[derive(Clone, Debug, Serialize)]
pub struct Member {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    #[serde(serialize_with = "rfc3339_field")]
    pub subscribed_at: i64,
    pub unsubscribe_url: String,
}

/// One page of a list's members, with how many there are in all: `next` is the `after` of
/// the page that follows (`null` on the last).
#[derive(Clone, Debug, Serialize)]
pub struct MembersPage {
    pub members: Vec<Member>,
    pub total: i64,
    pub limit: u32,
    #[serde(flatten)]
    pub start: Start<CustomerId>,
    pub next: Option<CustomerId>,
}

/// What an unsubscribe link did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsubscribed {
    /// The subscription ended now.
    Now,
    /// There was nothing to end (already unsubscribed, or subscribed anew since the link).
    Already,
}

/// What a token names: a customer's subscription to a list that began at a given time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Claim {
    pub(super) customer: CustomerId,
    pub(super) list: String,
    pub(super) since: i64,
}

impl Claim {
    fn payload(&self) -> String {
        format!("{}.{}.{}", self.customer.as_str(), self.since, self.list)
    }

    /// `<base64url payload>.<base64url HMAC-SHA256 of it>`.
    fn token(&self, key: &[u8; 32]) -> String {
        let payload = self.payload();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(mac(key, &payload).finalize().into_bytes())
        )
    }

    /// The claim of a token signed with `key`; `None` for anything else.
    pub(super) fn verify(token: &str, key: &[u8; 32]) -> Option<Claim> {
        let (payload, tag) = token.split_once('.')?;
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        mac(key, &payload).verify_slice(&tag).ok()?;
        let mut parts = payload.splitn(3, '.');
        let customer = CustomerId::parse(parts.next()?).ok()?;
        let since = parts.next()?.parse().ok()?;
        let list = parts.next()?.to_owned();
        Some(Claim {
            customer,
            list,
            since,
        })
    }
}

fn mac(key: &[u8; 32], payload: &str) -> hmac::Hmac<sha2::Sha256> {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(b"unsubscribe.");
    mac.update(payload.as_bytes());
    mac
}

flow_handle!(
    /// List members for the shop's newsletters, and the one-click way out.
    Unsubscribes,
    unsubscribes
);

impl Unsubscribes<'_> {
    /// The key of unsubscribe tokens, made on first use and kept in the database.
    pub(super) async fn key(&self) -> Result<[u8; 32], AppError> {
        Ok(keys::cached(&self.store, &self.unsubscribe_key, "unsubscribe").await?)
    }

    fn member(&self, key: &[u8; 32], list: &str, row: MemberRow) -> Member {
        let claim = Claim {
            customer: row.customer_id.clone(),
            list: list.to_owned(),
            since: row.subscribed_at,
        };
        let mut url = self.config.public_url();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}/unsubscribe/{}", claim.token(key)));
        Member {
            id: row.customer_id.as_str().to_owned(),
            email: row.email,
            name: row.name,
            subscribed_at: row.subscribed_at,
            unsubscribe_url: url.to_string(),
        }
    }

    /// Fails with 404 unless the list exists.
    async fn known_list(&self, list: &str) -> Result<(), AppError> {
        let id = list.to_owned();
        if self
            .store
            .read(move |c| subscriptions::list_exists(c, &id))
            .await?
        {
            Ok(())
        } else {
            Err(AppError::NotFound(format!(
                "there is no subscription list `{list}`"
            )))
        }
    }

    /// One page of the members of `list`, in customer id order.
    pub async fn members_page(
        &self,
        list: &str,
        limit: u32,
        start: Start<CustomerId>,
    ) -> Result<MembersPage, AppError> {
        self.known_list(list).await?;
        let key = self.key().await?;
        let limit = limit.min(MAX_PAGE);
        let (id, from) = (list.to_owned(), start.clone());
        let page = self
            .store
            .read(move |c| subscriptions::members_page(c, &id, &from, limit))
            .await?;
        Ok(MembersPage {
            members: page
                .rows
                .into_iter()
                .map(|r| self.member(&key, list, r))
                .collect(),
            total: page.total,
            limit,
            start,
            next: page.next,
        })
    }

    /// The next batch of members of `list` after the customer id `after` (empty: from the
    /// start), in id order; an empty batch is the end. An export reads a list of any length
    /// this way, holding one batch in memory.
    pub async fn members_after(&self, list: &str, after: &str) -> Result<Vec<Member>, AppError> {
        if after.is_empty() {
            self.known_list(list).await?;
        }
        let key = self.key().await?;
        let (id, from) = (list.to_owned(), after.to_owned());
        let rows = self
            .store
            .read(move |c| subscriptions::members_after(c, &id, &from, EXPORT_BATCH))
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| self.member(&key, list, r))
            .collect())
    }

    /// Whether `token` is one this server issued (the unsubscribe page shows only for those).
    pub async fn check_token(&self, token: &str) -> Result<(), AppError> {
        let key = self.key().await?;
        Claim::verify(token, &key)
            .map(|_| ())
            .ok_or_else(not_a_link)
    }

    /// Ends the subscription the token names, without a login, recording the opt-out (source
    /// `unsubscribe_link`, with `client`) and announcing it. A token this server did not
    /// issue, or that was altered, is 404; one whose subscription has already ended does
    /// nothing and says so.
    pub async fn unsubscribe(
        &self,
        token: &str,
        client: &Client,
    ) -> Result<Unsubscribed, AppError> {
        let key = self.key().await?;
        let claim = Claim::verify(token, &key).ok_or_else(not_a_link)?;
        let (client, announcer) = (client.clone(), self.announcer.clone());
        // Customer-scoped (on PostgreSQL, beside other customers' writes): it ends one
        // subscription of the link's customer, reads their row and subscriptions for the
        // announcement, and inserts a consent record, activity and webhook events.
        let scope = Scope::Customer(claim.customer.clone());
        let ended = self
            .store
            .write_in(scope, move |tx| {
                let ended = subscriptions::unsubscribe(
                    tx,
                    &claim.customer,
                    &claim.list,
                    claim.since,
                    ConsentSource::UnsubscribeLink,
                    Some(&client),
                )?;
                if ended {
                    changed_by_link(tx, &announcer, &claim.customer, &client)?;
                }
                Ok(ended)
            })
            .await?;
        if ended {
            self.announcer.wake();
            Ok(Unsubscribed::Now)
        } else {
            Ok(Unsubscribed::Already)
        }
    }
}

/// What follows a change the customer made by a link in an email (unsubscribe, preference
/// page), in its transaction: the change in their activity, seen from `client`, and the event
/// `subscriptions.changed` queued for the webhooks (the caller wakes their worker once it
/// commits).
pub(super) fn changed_by_link(
    tx: &Db,
    announcer: &Announcer,
    customer: &CustomerId,
    client: &Client,
) -> StoreResult<()> {
    activity::record(
        tx,
        customer,
        ActivityKind::SubscriptionsChanged,
        Some(client),
    )?;
    announcer.announce(tx, Event::SubscriptionsChanged, customer)
}

/// The CSV header row of a members export.
pub const CSV_HEADER: &str = "id,email,name,subscribed_at,unsubscribe_url\r\n";

/// Members as CSV rows (RFC 4180, CRLF). A value that a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`.
pub fn csv_rows(members: &[Member]) -> Vec<u8> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(members.len() * 160));
    for m in members {
        let since = crate::domain::format_time(m.subscribed_at);
        let name = m.name.as_deref().unwrap_or("");
        let row = [&m.id, &m.email, name, &since, &m.unsubscribe_url].map(|v| defused(v));
        // Writing to a Vec cannot fail.
        let _ = out.write_record(row.iter().map(|v| v.as_bytes()));
    }
    out.into_inner().unwrap_or_default()
}

/// `value`, with a `'` in front if a spreadsheet would take it for a formula.
fn defused(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

/// The answer to a token this server did not issue, or that was altered.
pub(super) fn not_a_link() -> AppError {
    AppError::NotFound("there is no such unsubscribe link".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> Claim {
        Claim {
            customer: CustomerId::parse("12345678901234").unwrap(),
            list: "news.letter".into(),
            since: 1_700_000_000,
        }
    }

    #[test]
    fn formula_looking_values_are_defused_and_quoting_kept() {
        let member = Member {
            id: "12345678901234".into(),
            email: "-x@example.com".into(),
            name: Some("=HYPERLINK(\"http://evil\",\"a,b\")".into()),
            subscribed_at: 0,
            unsubscribe_url: "https://shop.example/unsubscribe/t".into(),
        };
        let text = String::from_utf8(csv_rows(&[member])).unwrap();
        assert_eq!(
            text,
            "12345678901234,'-x@example.com,\"'=HYPERLINK(\"\"http://evil\"\",\"\"a,b\"\")\",\
             1970-01-01T00:00:00Z,https://shop.example/unsubscribe/t\r\n"
        );
        assert_eq!(defused("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(defused("+1"), "'+1");
        assert_eq!(defused("plain"), "plain");
    }

    #[test]
    fn a_token_names_its_claim_under_its_key_only() {
        let key = [3u8; 32];
        let token = claim().token(&key);
        assert_eq!(Claim::verify(&token, &key), Some(claim()));
        assert_eq!(Claim::verify(&token, &[4u8; 32]), None);
    }

    #[test]
    fn an_altered_token_names_nothing() {
        let key = [3u8; 32];
        let token = claim().token(&key);
        let (payload, tag) = token.split_once('.').unwrap();
        let mut other = claim();
        other.list = "other".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(other.payload());
        assert_eq!(
            Claim::verify(&format!("{forged_payload}.{tag}"), &key),
            None
        );
        let mut flipped = tag.to_owned().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(Claim::verify(&format!("{payload}.{flipped}"), &key), None);
        assert_eq!(Claim::verify("garbage", &key), None);
    }
}
