//! Reports that come back about the emails this product sent: RFC 3464 delivery status
//! notifications (a mailbox that does not exist, a full one) and RFC 5965 abuse reports (a
//! recipient who pressed "this is spam"), as a mail server's pipe for the bounce address hands
//! them to `customer-area mail inbound`.
//!
//! Reading a report only says what it claims; whose email it was is decided by the caller,
//! from the bounce token of the envelope ([`super::bounce`]) or a quoted Message-ID, which
//! only this product's own emails carry.

use std::borrow::Cow;

use mail_auth::report::{Feedback, FeedbackType};
use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};

/// The largest report read: a bounce quotes the email it is about, and no email of this
/// product comes near this.
pub const MAX_REPORT_BYTES: usize = 10 * 1024 * 1024;

/// What a report says about one email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub kind: ReportKind,
    /// The address the email was sent to, as the report names it (lower case).
    pub recipient: Option<String>,
    /// Addresses the report arrived at or names as the email's envelope sender: where a bounce
    /// token may be.
    pub envelope: Vec<String>,
    /// The Message-ID of the email the report is about, if it quotes it (without `<>`).
    pub message_id: Option<String>,
    /// The reason in the reporter's words: the status and the server's answer, or the
    /// feedback type.
    pub reason: String,
}

/// What happened to the email.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    /// It cannot be delivered to that address, ever (status 5.x.x).
    PermanentFailure,
    /// It could not be delivered yet (status 4.x.x, or a delay warning).
    TemporaryFailure,
    /// It was delivered or relayed: nothing to do.
    Delivered,
    /// The recipient reported it as abuse (or unwanted).
    Complaint,
}

/// Why a message is not a report this product acts on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("the message is larger than {MAX_REPORT_BYTES} bytes")]
    TooLarge,
    #[error("the message is not a delivery status notification or an abuse report")]
    NotAReport,
    #[error("the report names no final recipient")]
    NoRecipient,
}

/// Reads one report.
pub fn read(raw: &[u8]) -> Result<Report, ReadError> {
    if raw.len() > MAX_REPORT_BYTES {
        return Err(ReadError::TooLarge);
    }
    let message = MessageParser::new()
        .parse(raw)
        .ok_or(ReadError::NotAReport)?;
    let report_type = message
        .content_type()
        .filter(|ct| ct.ctype().eq_ignore_ascii_case("multipart"))
        .filter(|ct| {
            ct.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
        .and_then(|ct| ct.attribute("report-type"))
        .map(str::to_ascii_lowercase);
    let arrived_at = arrival_addresses(&message);
    match report_type.as_deref() {
        Some("delivery-status") => read_dsn(&message, arrived_at),
        Some("feedback-report") => read_arf(raw, &message, arrived_at),
        _ => Err(ReadError::NotAReport),
    }
}

/// Where the report was delivered: the headers a receiving server adds, then `To`.
fn arrival_addresses(message: &Message<'_>) -> Vec<String> {
    let mut found = Vec::new();
    for name in ["X-Original-To", "Delivered-To"] {
        for value in message.header_values(name) {
            if let Some(text) = header_text(value) {
                found.push(text.trim().to_owned());
            }
        }
    }
    if let Some(to) = message.to() {
        found.extend(addresses(to));
    }
    found
}

fn addresses(address: &Address<'_>) -> Vec<String> {
    address
        .iter()
        .filter_map(|a| a.address())
        .filter(|a| a.contains('@'))
        .map(str::to_owned)
        .collect()
}

/// An RFC 3464 report: the `message/delivery-status` part, its per-message fields, then one
/// block per recipient. The first failed recipient counts (this product sends each email to
/// one address), else the first delayed one, else the first at all.
fn read_dsn(message: &Message<'_>, mut envelope: Vec<String>) -> Result<Report, ReadError> {
    let status = message
        .parts
        .iter()
        .find(|part| is_content_type(part, "message", "delivery-status"))
        .ok_or(ReadError::NotAReport)?;
    let body = part_text(&status.body).ok_or(ReadError::NotAReport)?;
    let mut blocks = field_blocks(&body);
    if blocks.is_empty() {
        return Err(ReadError::NotAReport);
    }
    let per_message = blocks.remove(0);
    // Postfix names the bounced email's envelope sender (with its token) here.
    for name in ["x-postfix-sender", "original-envelope-id"] {
        if let Some(value) = field(&per_message, name) {
            envelope.push(strip_address_type(value).to_owned());
        }
    }
    let recipients: Vec<Recipient> = blocks.iter().filter_map(|b| Recipient::of(b)).collect();
    let chosen = recipients
        .iter()
        .find(|r| r.kind == ReportKind::PermanentFailure)
        .or_else(|| {
            recipients
                .iter()
                .find(|r| r.kind == ReportKind::TemporaryFailure)
        })
        .or(recipients.first());
    let message_id = quoted_message(message).and_then(|quoted| message_id_of(&quoted));
    let Some(chosen) = chosen else {
        return Err(ReadError::NoRecipient);
    };
    Ok(Report {
        kind: chosen.kind,
        recipient: chosen.address.clone(),
        envelope,
        message_id,
        reason: chosen.reason.clone(),
    })
}

/// One per-recipient block of a delivery status notification.
struct Recipient {
    kind: ReportKind,
    address: Option<String>,
    reason: String,
}

impl Recipient {
    fn of(block: &[(String, String)]) -> Option<Recipient> {
        let action = field(block, "action")?.to_ascii_lowercase();
        let status = field(block, "status").unwrap_or("").trim().to_owned();
        let kind = match (action.as_str(), status.chars().next()) {
            ("failed", Some('4')) => ReportKind::TemporaryFailure,
            ("failed", _) => ReportKind::PermanentFailure,
            ("delayed", _) => ReportKind::TemporaryFailure,
            _ => ReportKind::Delivered,
        };
        let address = field(block, "final-recipient")
            .or_else(|| field(block, "original-recipient"))
            .map(|value| strip_address_type(value).to_ascii_lowercase())
            .filter(|address| address.contains('@'));
        let diagnostic = field(block, "diagnostic-code")
            .map(strip_address_type)
            .unwrap_or("");
        let reason = [status.as_str(), diagnostic]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        Some(Recipient {
            kind,
            address,
            reason,
        })
    }
}

/// An RFC 5965 report, read by mail-auth's ARF parser.
fn read_arf(raw: &[u8], message: &Message<'_>, envelope: Vec<String>) -> Result<Report, ReadError> {
    let feedback = Feedback::parse_rfc5322(raw).map_err(|_| ReadError::NotAReport)?;
    let quoted = quoted_message(message);
    let recipient = feedback
        .original_rcpt_to()
        .map(|to| to.trim().trim_matches(['<', '>']).to_ascii_lowercase())
        .filter(|to| to.contains('@'))
        .or_else(|| {
            quoted
                .as_ref()
                .and_then(|q| q.to())
                .and_then(|to| addresses(to).into_iter().next())
                .map(|to| to.to_ascii_lowercase())
        });
    let mut envelope = envelope;
    if let Some(from) = feedback.original_mail_from() {
        envelope.push(from.trim().trim_matches(['<', '>']).to_owned());
    }
    if let Some(path) = quoted.as_ref().and_then(|q| header_text(q.return_path())) {
        envelope.push(path.trim().trim_matches(['<', '>']).to_owned());
    }
    Ok(Report {
        kind: ReportKind::Complaint,
        recipient,
        envelope,
        message_id: quoted.as_ref().and_then(message_id_of),
        reason: format!(
            "complaint: {}",
            feedback_type_name(feedback.feedback_type())
        ),
    })
}

fn feedback_type_name(kind: FeedbackType) -> &'static str {
    match kind {
        FeedbackType::Abuse => "abuse",
        FeedbackType::AuthFailure => "auth-failure",
        FeedbackType::Fraud => "fraud",
        FeedbackType::NotSpam => "not-spam",
        FeedbackType::Other => "other",
        FeedbackType::Virus => "virus",
    }
}

/// The email a report quotes: a `message/rfc822` part, or a `text/rfc822-headers` part (its
/// headers only).
fn quoted_message<'x>(message: &'x Message<'x>) -> Option<Message<'x>> {
    message.parts.iter().find_map(|part| match &part.body {
        PartType::Message(quoted) => Some(quoted.clone()),
        body if is_content_type(part, "text", "rfc822-headers") => {
            let text = part_text(body)?.into_owned();
            MessageParser::new()
                .parse_headers(text.as_bytes())
                .map(Message::into_owned)
        }
        _ => None,
    })
}

fn message_id_of(message: &Message<'_>) -> Option<String> {
    message
        .message_id()
        .map(|id| id.trim().trim_matches(['<', '>']).to_owned())
        .filter(|id| !id.is_empty())
}

fn is_content_type(part: &mail_parser::MessagePart<'_>, ctype: &str, subtype: &str) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(ctype)
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case(subtype))
    })
}

fn part_text<'a>(body: &'a PartType<'_>) -> Option<Cow<'a, str>> {
    match body {
        PartType::Text(text) | PartType::Html(text) => Some(Cow::Borrowed(text.as_ref())),
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
            Some(String::from_utf8_lossy(bytes))
        }
        _ => None,
    }
}

/// The blocks of `Name: value` fields of a delivery status body, separated by blank lines;
/// folded lines unfolded, names lower-cased.
fn field_blocks(body: &str) -> Vec<Vec<(String, String)>> {
    let mut blocks = Vec::new();
    let mut block: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        if line.trim().is_empty() {
            if !block.is_empty() {
                blocks.push(std::mem::take(&mut block));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = block.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            block.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    if !block.is_empty() {
        blocks.push(block);
    }
    blocks
}

fn field<'a>(block: &'a [(String, String)], name: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// `rfc822; someone@example.net` → `someone@example.net`; `smtp; 550 ...` → `550 ...`.
fn strip_address_type(value: &str) -> &str {
    match value.split_once(';') {
        Some((kind, rest)) if !kind.contains(['@', ' ']) => rest.trim(),
        _ => value.trim(),
    }
}

/// A header's value as text: its text, or the first address of an address header (mail-parser
/// reads `Return-Path` as an address).
fn header_text<'a>(value: &'a HeaderValue<'_>) -> Option<&'a str> {
    match value {
        HeaderValue::Address(address) => address.first().and_then(|a| a.address()),
        other => other.as_text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/reports/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn a_postfix_bounce_for_an_unknown_remote_mailbox_is_permanent() {
        let report = read(&fixture("postfix-550-user-unknown.eml")).unwrap();
        assert_eq!(report.kind, ReportKind::PermanentFailure);
        assert_eq!(report.recipient.as_deref(), Some("gone@example.net"));
        assert!(
            report
                .envelope
                .iter()
                .any(|a| a == "bounces+5-8c1e2f3a4b5d@shop.example"),
            "{:?}",
            report.envelope
        );
        assert_eq!(
            report.message_id.as_deref(),
            Some("4b1f0c9e2d7a8b3c5e6f708192a3b4c5gone@shop.example")
        );
        assert!(
            report.reason.starts_with("5.1.1 550 5.1.1"),
            "{}",
            report.reason
        );
        assert!(report.reason.contains("User unknown"), "{}", report.reason);
    }

    #[test]
    fn a_postfix_delay_warning_is_temporary_and_quotes_only_headers() {
        let report = read(&fixture("postfix-delayed-mailbox-full.eml")).unwrap();
        assert_eq!(report.kind, ReportKind::TemporaryFailure);
        assert_eq!(report.recipient.as_deref(), Some("full@example.net"));
        assert_eq!(
            report.message_id.as_deref(),
            Some("4b1f0c9e2d7a8b3c5e6f708192a3b4c5full@shop.example")
        );
        assert!(report.reason.contains("Mailbox full"), "{}", report.reason);
    }

    #[test]
    fn a_postfix_local_bounce_is_permanent() {
        let report = read(&fixture("postfix-local-unknown-user.eml")).unwrap();
        assert_eq!(report.kind, ReportKind::PermanentFailure);
        assert_eq!(report.recipient.as_deref(), Some("noone@shop.example"));
        assert!(
            report
                .envelope
                .iter()
                .any(|a| a == "bounces+7-3f9a0c1d2e4b@shop.example")
        );
    }

    #[test]
    fn the_rfc_5965_example_is_a_complaint() {
        let report = read(&fixture("rfc5965-example.eml")).unwrap();
        assert_eq!(report.kind, ReportKind::Complaint);
        assert_eq!(report.reason, "complaint: abuse");
        assert_eq!(
            report.message_id.as_deref(),
            Some("8787KJKJ3K4J3K4J3K4J3.mail@example.net")
        );
        // The example's quoted email went to "Undisclosed Recipients": no address to act on.
        assert_eq!(report.recipient, None);
    }

    #[test]
    fn what_is_not_a_report_is_refused() {
        let plain = b"From: a@example.net\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nhello\r\n";
        assert_eq!(read(plain), Err(ReadError::NotAReport));
        assert_eq!(read(b""), Err(ReadError::NotAReport));
        assert_eq!(read(&[0xff; 64]), Err(ReadError::NotAReport));
        let too_large = vec![b'a'; MAX_REPORT_BYTES + 1];
        assert_eq!(read(&too_large), Err(ReadError::TooLarge));
    }

    #[test]
    fn a_report_with_no_recipient_block_says_so() {
        let raw = String::from_utf8(fixture("postfix-550-user-unknown.eml")).unwrap();
        let start = raw.find("Final-Recipient:").unwrap();
        let end = raw[start..].find("\n\n").unwrap() + start;
        let cut = format!("{}{}", &raw[..start], &raw[end + 1..]);
        assert_eq!(read(cut.as_bytes()), Err(ReadError::NoRecipient));
    }
}
