//! Everything stored about one customer, gathered for their data export (GDPR articles 15
//! and 20). Secrets (password hash, token and code digests), email bodies and the state of
//! passkey ceremonies are left out.

use super::sql::{OptionalRow, ReadDb, Row, params};
use serde::Serialize;

use super::activity::{self, Event};
use super::passkeys::{self, ChallengeRecord, PasskeyView};
use super::subscriptions::{self, ConsentRecord};
use super::{StoreResult, customers};
use crate::domain::{Customer, CustomerId, rfc3339_field};

/// The whole export of one customer.
#[derive(Clone, Debug, Serialize)]
pub struct Export {
    pub customer: Customer,
    pub account: Account,
    pub consents: Vec<ConsentRecord>,
    pub sessions: Vec<SessionRecord>,
    pub activity: Vec<Event>,
    pub pending_codes: Vec<PendingCode>,
    pub email_undo_keys: Vec<UndoRecord>,
    pub emails: Vec<EmailRecord>,
    pub passkeys: Vec<PasskeyView>,
    /// The WebAuthn user handle (hex) the customer's passkeys carry.
    pub passkey_user_handle: Option<String>,
    pub passkey_challenges: Vec<ChallengeRecord>,
    /// The events about the customer sent, or waiting to be sent, to the shop's webhooks.
    pub webhook_events: Vec<WebhookRecord>,
    /// The devices the customer signed in from (for new-device notices).
    pub known_devices: Vec<DeviceRecord>,
    /// The "this wasn't me" links of new-device notices that still work (never their keys).
    pub new_device_notices: Vec<NoticeRecord>,
    /// The TOTP second factor, if one was begun (never its secret).
    pub second_factor: Option<SecondFactorRecord>,
    /// The recovery codes not used yet (never their values).
    pub recovery_codes: Vec<RecoveryCodeRecord>,
    /// Sign-ins waiting for the second factor.
    pub second_factor_challenges: Vec<SecondFactorChallenge>,
}

/// The customer's TOTP second factor: whether a code confirmed it, and since when.
#[derive(Clone, Debug, Serialize)]
pub struct SecondFactorRecord {
    pub confirmed: bool,
    #[serde(serialize_with = "rfc3339_field")]
    pub created_at: i64,
}

/// A recovery code not used yet.
#[derive(Clone, Debug, Serialize)]
pub struct RecoveryCodeRecord {
    pub status: &'static str,
}

/// A sign-in waiting for the second factor: how its first factor was proven, until when.
#[derive(Clone, Debug, Serialize)]
pub struct SecondFactorChallenge {
    pub method: String,
    #[serde(serialize_with = "rfc3339_field")]
    pub expires_at: i64,
}

/// A device the customer signed in from: the SHA-256 (hex) of its User-Agent and network.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceRecord {
    pub device_digest: String,
    #[serde(serialize_with = "rfc3339_field")]
    pub last_seen_at: i64,
}

/// A live "this wasn't me" link: the session whose sign-in it reported.
#[derive(Clone, Debug, Serialize)]
pub struct NoticeRecord {
    pub session_id: String,
    #[serde(serialize_with = "rfc3339_field")]
    pub created_at: i64,
    #[serde(serialize_with = "rfc3339_field")]
    pub expires_at: i64,
}

/// An event about the customer in the webhook outbox (its body is the customer object).
#[derive(Clone, Debug, Serialize)]
pub struct WebhookRecord {
    #[serde(rename = "type")]
    pub event_type: String,
    pub endpoint: String,
    pub status: String,
    #[serde(serialize_with = "rfc3339_field")]
    pub created_at: i64,
    #[serde(serialize_with = "optional_time")]
    pub sent_at: Option<i64>,
}

/// The account's own record beyond the customer object.
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    pub identifier: String,
    pub status: String,
    #[serde(serialize_with = "rfc3339_field")]
    pub created_at: i64,
    #[serde(serialize_with = "rfc3339_field")]
    pub updated_at: i64,
    #[serde(serialize_with = "optional_time")]
    pub activated_at: Option<i64>,
    #[serde(serialize_with = "optional_time")]
    pub last_login_at: Option<i64>,
    /// The language of the customer's emails; `null`: the shop's default language.
    pub language: Option<String>,
}

/// A live session (its token is never exported).
#[derive(Clone, Debug, Serialize)]
pub struct SessionRecord {
    pub id: Option<String>,
    #[serde(serialize_with = "rfc3339_field")]
    pub created_at: i64,
    #[serde(serialize_with = "rfc3339_field")]
    pub last_used_at: i64,
    #[serde(serialize_with = "rfc3339_field")]
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A one-time code waiting to be used (its value is never exported).
#[derive(Clone, Debug, Serialize)]
pub struct PendingCode {
    pub purpose: String,
    pub new_email: Option<String>,
    #[serde(serialize_with = "rfc3339_field")]
    pub created_at: i64,
    #[serde(serialize_with = "rfc3339_field")]
    pub expires_at: i64,
}

/// A live key that undoes an email change (its value is never exported).
#[derive(Clone, Debug, Serialize)]
pub struct UndoRecord {
    pub old_email: String,
    pub new_email: String,
    #[serde(serialize_with = "rfc3339_field")]
    pub created_at: i64,
    #[serde(serialize_with = "rfc3339_field")]
    pub expires_at: i64,
}

/// An email sent (or to be sent) for the customer's account: never its body.
#[derive(Clone, Debug, Serialize)]
pub struct EmailRecord {
    pub kind: String,
    pub address: String,
    #[serde(serialize_with = "rfc3339_field")]
    pub created_at: i64,
    #[serde(serialize_with = "optional_time")]
    pub sent_at: Option<i64>,
    pub status: String,
}

fn optional_time<S: serde::Serializer>(unix: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match unix {
        Some(unix) => rfc3339_field(unix, s),
        None => s.serialize_none(),
    }
}

/// Everything stored about `id`, or `None` when there is no such customer.
pub fn of_customer(conn: &ReadDb, id: &CustomerId) -> StoreResult<Option<Export>> {
    let Some(customer) = customers::profile(conn, id)? else {
        return Ok(None);
    };
    let account = conn
        .prepare_cached(
            "SELECT identifier, status, created_at, updated_at, activated_at, last_login_at,
                    language
             FROM customers WHERE id = ?1",
        )?
        .query_row(params![id.as_str()], |row| {
            Ok(Account {
                identifier: row.get("identifier")?,
                status: row.get("status")?,
                created_at: row.get("created_at")?,
                updated_at: row.get("updated_at")?,
                activated_at: row.get("activated_at")?,
                last_login_at: row.get("last_login_at")?,
                language: row.get("language")?,
            })
        })
        .optional()?;
    let Some(account) = account else {
        return Ok(None);
    };
    let sessions = collect(
        conn,
        "SELECT public_id, created_at, last_used_at, expires_at, ip, user_agent FROM sessions
         WHERE customer_id = ?1 ORDER BY created_at, public_id",
        id,
        |row| {
            Ok(SessionRecord {
                id: row.get("public_id")?,
                created_at: row.get("created_at")?,
                last_used_at: row.get("last_used_at")?,
                expires_at: row.get("expires_at")?,
                ip: row.get("ip")?,
                user_agent: row.get("user_agent")?,
            })
        },
    )?;
    let pending_codes = collect(
        conn,
        "SELECT purpose, new_email, created_at, expires_at FROM one_time_codes
         WHERE customer_id = ?1 ORDER BY purpose",
        id,
        |row| {
            Ok(PendingCode {
                purpose: row.get("purpose")?,
                new_email: row.get("new_email")?,
                created_at: row.get("created_at")?,
                expires_at: row.get("expires_at")?,
            })
        },
    )?;
    let email_undo_keys = collect(
        conn,
        "SELECT old_email, new_email, created_at, expires_at FROM email_undo_keys
         WHERE customer_id = ?1 ORDER BY id",
        id,
        |row| {
            Ok(UndoRecord {
                old_email: row.get("old_email")?,
                new_email: row.get("new_email")?,
                created_at: row.get("created_at")?,
                expires_at: row.get("expires_at")?,
            })
        },
    )?;
    // Those sent for this account, to whichever address; never matched by address, which
    // another account may have had before.
    let emails = collect(
        conn,
        "SELECT kind, recipient, created_at, sent_at, status FROM outbox
         WHERE customer_id = ?1 ORDER BY id",
        id,
        |row| {
            Ok(EmailRecord {
                kind: row.get("kind")?,
                address: row.get("recipient")?,
                created_at: row.get("created_at")?,
                sent_at: row.get("sent_at")?,
                status: row.get("status")?,
            })
        },
    )?;
    let webhook_events = collect(
        conn,
        "SELECT event_type, endpoint, status, created_at, sent_at FROM webhook_outbox
         WHERE customer_id = ?1 ORDER BY id",
        id,
        |row| {
            Ok(WebhookRecord {
                event_type: row.get("event_type")?,
                endpoint: row.get("endpoint")?,
                status: row.get("status")?,
                created_at: row.get("created_at")?,
                sent_at: row.get("sent_at")?,
            })
        },
    )?;
    let known_devices = collect(
        conn,
        "SELECT device_hash, last_seen_at FROM known_devices WHERE customer_id = ?1
         ORDER BY last_seen_at, device_hash",
        id,
        |row| {
            let digest: Vec<u8> = row.get("device_hash")?;
            Ok(DeviceRecord {
                device_digest: digest.iter().map(|b| format!("{b:02x}")).collect(),
                last_seen_at: row.get("last_seen_at")?,
            })
        },
    )?;
    let new_device_notices = collect(
        conn,
        "SELECT session_id, created_at, expires_at FROM not_me_keys WHERE customer_id = ?1
         ORDER BY created_at, session_id",
        id,
        |row| {
            Ok(NoticeRecord {
                session_id: row.get("session_id")?,
                created_at: row.get("created_at")?,
                expires_at: row.get("expires_at")?,
            })
        },
    )?;
    let second_factor = conn
        .prepare_cached("SELECT confirmed, created_at FROM customer_totp WHERE customer_id = ?1")?
        .query_row(params![id.as_str()], |row| {
            Ok(SecondFactorRecord {
                confirmed: row.get::<i64>("confirmed")? != 0,
                created_at: row.get("created_at")?,
            })
        })
        .optional()?;
    let recovery_codes = collect(
        conn,
        "SELECT code_hash FROM customer_recovery_codes WHERE customer_id = ?1
         ORDER BY code_hash",
        id,
        |_| Ok(RecoveryCodeRecord { status: "unused" }),
    )?;
    let second_factor_challenges = collect(
        conn,
        "SELECT method, expires_at FROM customer_challenges WHERE customer_id = ?1
         ORDER BY expires_at, challenge_hash",
        id,
        |row| {
            Ok(SecondFactorChallenge {
                method: row.get("method")?,
                expires_at: row.get("expires_at")?,
            })
        },
    )?;
    Ok(Some(Export {
        second_factor,
        recovery_codes,
        second_factor_challenges,
        webhook_events,
        known_devices,
        new_device_notices,
        consents: subscriptions::consent_history(conn, id)?,
        activity: activity::page(conn, id, None, u32::MAX)?,
        customer,
        account,
        sessions,
        pending_codes,
        email_undo_keys,
        emails,
        passkeys: passkeys::list(conn, id)?,
        passkey_user_handle: passkeys::exported_handle(conn, id)?,
        passkey_challenges: passkeys::exported_challenges(conn, id)?,
    }))
}

fn collect<T>(
    conn: &ReadDb,
    sql: &str,
    id: &CustomerId,
    map: impl FnMut(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement.query_map(params![id.as_str()], map)?;
    rows.collect::<StoreResult<Vec<_>>>()
}
