//! `customer-area mail inbound`: one bounce or abuse report on standard input, as a mail
//! server's pipe for the bounce address delivers it. The exit status tells the mail server
//! (and whoever reads its log) what became of the report:
//!
//! | status | meaning |
//! | --- | --- |
//! | 0 | applied, or nothing to do (a "delivered" notice, an address changed since) |
//! | 65 | not a delivery status notification (RFC 3464) or an abuse report (RFC 5965) |
//! | 66 | the report names no recipient |
//! | 67 | no account has the address |
//! | 68 | with `mail.bounce_address` set: the report names none of this server's emails |
//! | 74 | the message is larger than 10 MiB, or standard input could not be read |
//! | 75 | the database could not be reached: the mail server should try again later |
//! | 77 | the bounce token was not made by this server (a forgery) |
//!
//! Every status but 75 tells the mail server not to try again; none changes anything but 0.

use std::io::Read;

use super::{Exit, Loaded, open_app};
use crate::flows::EventError;
use crate::mail::inbound::{self, MAX_REPORT_BYTES, ReadError};

/// Reads, checks and applies one report.
pub async fn run(loaded: Loaded, recipient: Option<String>) -> anyhow::Result<()> {
    let raw = read_stdin()?;
    let report = inbound::read(&raw).map_err(|e| match e {
        ReadError::TooLarge => Exit::new(74, e.to_string()),
        ReadError::NotAReport => Exit::new(65, e.to_string()),
        ReadError::NoRecipient => Exit::new(66, e.to_string()),
    })?;
    let app = open_app(&loaded)
        .await
        .map_err(|e| Exit::new(75, format!("the database cannot be reached now: {e:#}")))?;
    let deliverability = app.services().deliverability();
    let event = deliverability
        .event_of_report(report, recipient)
        .await
        .map_err(refused)?;
    let Some(event) = event else {
        tracing::info!("mail inbound: a delivery notice, nothing to do");
        return Ok(());
    };
    let kind = event.kind;
    let outcome = deliverability.record(event).await.map_err(refused)?;
    tracing::info!(?kind, ?outcome, "mail inbound: report applied");
    println!("{}", serde_json::to_string(&outcome)?);
    Ok(())
}

fn read_stdin() -> Result<Vec<u8>, Exit> {
    let mut raw = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_REPORT_BYTES as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| Exit::new(74, format!("standard input could not be read: {e}")))?;
    if raw.len() > MAX_REPORT_BYTES {
        return Err(Exit::new(74, ReadError::TooLarge.to_string()));
    }
    Ok(raw)
}

fn refused(e: EventError) -> Exit {
    let code = match &e {
        EventError::NoRecipient => 66,
        EventError::NoAccount(_) => 67,
        EventError::Unidentified => 68,
        EventError::ForgedToken(_) => 77,
        EventError::Failed(_) => 75,
    };
    Exit::new(code, e.to_string())
}
