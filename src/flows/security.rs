//! What the customer sees of their account's security: sessions and their revocation, the
//! activity, the data export (also for the retailer), and "this wasn't me".

use serde::Serialize;

use super::Session;
use super::links::{KeyUse, invalid_key, use_link_key};
use crate::domain::{
    ActivityKind, Client, EmailAddress, LinkKey, SessionId, device_name, rfc3339_field,
};
use crate::error::AppError;
use crate::store::activity::{self, Event};
use crate::store::codes::{self, Purpose};
use crate::store::export::{self, Export};
use crate::store::{Outcome, StoreError, customers, devices, passkeys, sessions};
use crate::throttle::IpBudget;

/// The most activity events one page holds.
pub const MAX_ACTIVITY_PAGE: u32 = 100;

/// A live session as its customer sees it.
#[derive(Clone, Debug, Serialize)]
pub struct SessionView {
    pub id: SessionId,
    #[serde(serialize_with = "rfc3339_field")]
    pub created_at: i64,
    #[serde(serialize_with = "rfc3339_field")]
    pub last_used_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The device as its customer knows it ("Firefox on Windows"), named from `user_agent`.
    pub device: String,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// The sessions as their customer sees them, the one whose token digest is `own` marked
/// `current`. Named on the store's thread: the first name compiles the rules (blocking work).
pub(super) fn session_views(
    rows: Vec<sessions::SessionInfo>,
    own: Option<&[u8]>,
) -> Vec<SessionView> {
    rows.into_iter()
        .map(|row| SessionView {
            current: own == Some(row.token_hash.as_slice()),
            id: row.id,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            ip: row.ip,
            device: device_name(row.user_agent.as_deref()),
            user_agent: row.user_agent,
        })
        .collect()
}

flow_handle!(
    /// What the customer sees of their account's security: sessions, activity, export.
    Security,
    security
);

impl Security<'_> {
    /// The caller's live sessions, most recently used first, theirs marked `current`.
    pub async fn sessions(&self, session: &Session) -> Result<Vec<SessionView>, AppError> {
        self.throttles
            .check_ip(IpBudget::Codes, session.client.ip)?;
        let (id, own) = (session.customer.clone(), session.token_hash.clone());
        // Named on the store's thread: the first name compiles the rules (blocking work).
        let views = self
            .store
            .read(move |c| Ok(session_views(sessions::list(c, &id)?, Some(&own[..]))));
        Ok(views.await?)
    }

    /// Ends one of the caller's sessions. Another customer's session, an unknown id and a
    /// string that is no session id at all answer the same "not found".
    pub async fn revoke_session(&self, session: &Session, id: &str) -> Result<(), AppError> {
        self.throttles
            .check_ip(IpBudget::Codes, session.client.ip)?;
        let not_found = || AppError::NotFound("there is no such session".into());
        let id = SessionId::parse(id).map_err(|_| not_found())?;
        let (customer, client) = (session.customer.clone(), session.client.clone());
        let ended = self
            .store
            .write(move |tx| {
                let ended = sessions::end_by_id(tx, &customer, &id)?;
                if ended {
                    activity::record(tx, &customer, ActivityKind::SessionRevoked, Some(&client))?;
                }
                Ok(ended)
            })
            .await?;
        if ended { Ok(()) } else { Err(not_found()) }
    }

    /// Ends every session of the caller but their own, and any email change asked that has
    /// not been confirmed (whoever held another session may have asked it); answers how many
    /// sessions ended.
    pub async fn revoke_other_sessions(&self, session: &Session) -> Result<usize, AppError> {
        self.throttles
            .check_ip(IpBudget::Codes, session.client.ip)?;
        let (customer, keep, client) = (
            session.customer.clone(),
            session.token_hash.clone(),
            session.client.clone(),
        );
        Ok(self
            .store
            .write(move |tx| {
                let ended = sessions::end_all(tx, &customer, Some(&keep))?;
                codes::revoke(tx, &customer, Purpose::EmailChange)?;
                if ended > 0 {
                    activity::record(tx, &customer, ActivityKind::SessionRevoked, Some(&client))?;
                }
                Ok(ended)
            })
            .await?)
    }

    /// "This wasn't me", with the key of a new-device notice: the account is taken back from
    /// whoever signed in. Every session ends, pending email-change keys die, the passkeys that
    /// sign-in's session registered are removed, its device is forgotten, the password becomes
    /// unusable and a reset link goes to the account's address. Each key works once (all of
    /// the customer's die with it); a wrong, used or expired one is `InvalidCode`.
    pub async fn secure_account(
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
                let Some(reported) = devices::take_not_me(tx, &id, digest)? else {
                    return Ok(Outcome::Refused(invalid_key()));
                };
                passkeys::delete_registered_by(tx, &id, &reported.session_id)?;
                devices::forget(tx, &id, &reported.device)?;
                activity::record(tx, &id, ActivityKind::AccountSecured, Some(client))?;
                let (email, _) = customers::contact(tx, &id)?
                    .ok_or_else(|| StoreError::Inconsistent(format!("customer {id} vanished")))?;
                let email = EmailAddress::parse(&email).map_err(StoreError::BadValue)?;
                services
                    .resets()
                    .take_account_back(tx, &id, &email, client)?;
                Ok(Outcome::Done(()))
            },
        )
        .await?;
        self.mailer.wake_worker();
        Ok(())
    }

    /// Everything stored about the caller, for their download (a recently authenticated
    /// session only).
    pub async fn export_own_data(&self, session: &Session) -> Result<Export, AppError> {
        self.throttles
            .check_ip(IpBudget::Codes, session.client.ip)?;
        self.0.sessions().require_recent(session)?;
        let id = session.customer.clone();
        self.store
            .read(move |c| export::of_customer(c, &id))
            .await?
            .ok_or(AppError::Unauthenticated)
    }

    /// Everything stored about the customer found by id, identifier or email (for the
    /// retailer, who answers the customer's request).
    pub async fn export_customer(&self, key: &str) -> Result<Export, AppError> {
        let id = self.back_office().customer_view(key).await?.customer.id;
        self.store
            .read(move |c| export::of_customer(c, &id))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("there is no customer `{key}`")))
    }

    /// Up to `limit` events of the caller's activity, newest first, older than `before`.
    pub async fn activity(
        &self,
        session: &Session,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, AppError> {
        self.throttles
            .check_ip(IpBudget::Codes, session.client.ip)?;
        let id = session.customer.clone();
        let limit = limit.clamp(1, MAX_ACTIVITY_PAGE);
        Ok(self
            .store
            .read(move |c| activity::page(c, &id, before, limit))
            .await?)
    }
}
