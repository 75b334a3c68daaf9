//! What the customer sees of their account's security: who called (IP and User-Agent), the
//! public ids of sessions, and the kinds of activity recorded.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use crate::random::random_bytes;

/// The longest User-Agent kept, in characters.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// Who made a request: the client's IP (after trusted proxies) and its User-Agent, cleaned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl Client {
    /// The client at `ip` that sent `user_agent`: control characters removed, at most
    /// [`MAX_USER_AGENT_CHARS`] characters kept, nothing kept if nothing is left.
    pub fn new(ip: IpAddr, user_agent: Option<&str>) -> Client {
        let user_agent = user_agent
            .map(|raw| {
                raw.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_USER_AGENT_CHARS)
                    .collect::<String>()
                    .trim()
                    .to_owned()
            })
            .filter(|ua| !ua.is_empty());
        Client { ip, user_agent }
    }

    /// A client known only by its IP (the CLI, requests without headers).
    pub fn at(ip: IpAddr) -> Client {
        Client {
            ip,
            user_agent: None,
        }
    }

    /// The device this client counts as for new-device notices: its User-Agent and its network
    /// (an IPv4 /24, an IPv6 /64), so that a new address from the same line is the same device.
    pub fn device(&self) -> String {
        let network = match self.ip {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                format!("{a}.{b}.{c}.0/24")
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", std::net::Ipv6Addr::from(bits))
            }
        };
        format!("{network} {}", self.user_agent.as_deref().unwrap_or(""))
    }
}

/// The public id of a session: 16 lower-case hex digits (64 random bits), unrelated to its
/// token, so that listing sessions reveals nothing that opens them.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh random id.
    pub fn random() -> SessionId {
        let mut bytes = [0u8; 8];
        random_bytes(&mut bytes);
        SessionId(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The id if `raw` has its shape.
    pub fn parse(raw: &str) -> Result<SessionId, String> {
        if raw.len() == 16 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(SessionId(raw.to_owned()))
        } else {
            Err("is not a session id".into())
        }
    }

    /// The id as shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

/// What happened to an account, as its activity list names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivityKind {
    LoginSucceeded,
    LoginFailed,
    Logout,
    SessionRevoked,
    PasswordChanged,
    PasswordResetRequested,
    PasswordResetCompleted,
    EmailChangeRequested,
    EmailChanged,
    EmailChangeUndone,
    ProfileUpdated,
    SubscriptionsChanged,
    AccountActivated,
    PasskeyAdded,
    PasskeyRemoved,
    /// "This wasn't me": every session ended, the password made unusable, a reset link sent.
    AccountSecured,
    /// A TOTP second factor was turned on.
    SecondFactorAdded,
    /// The second factor was removed (by the customer, or by support).
    SecondFactorRemoved,
    /// The shop's staff acted on the account (the event's `detail` says what, never who).
    SupportAction,
}

impl ActivityKind {
    /// The kind's name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::LoginSucceeded => "login_succeeded",
            ActivityKind::LoginFailed => "login_failed",
            ActivityKind::Logout => "logout",
            ActivityKind::SessionRevoked => "session_revoked",
            ActivityKind::PasswordChanged => "password_changed",
            ActivityKind::PasswordResetRequested => "password_reset_requested",
            ActivityKind::PasswordResetCompleted => "password_reset_completed",
            ActivityKind::EmailChangeRequested => "email_change_requested",
            ActivityKind::EmailChanged => "email_changed",
            ActivityKind::EmailChangeUndone => "email_change_undone",
            ActivityKind::ProfileUpdated => "profile_updated",
            ActivityKind::SubscriptionsChanged => "subscriptions_changed",
            ActivityKind::AccountActivated => "account_activated",
            ActivityKind::PasskeyAdded => "passkey_added",
            ActivityKind::PasskeyRemoved => "passkey_removed",
            ActivityKind::AccountSecured => "account_secured",
            ActivityKind::SecondFactorAdded => "second_factor_added",
            ActivityKind::SecondFactorRemoved => "second_factor_removed",
            ActivityKind::SupportAction => "support_action",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_lose_control_characters_and_stop_at_256_characters() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let client = Client::new(ip, Some("Mozilla\r\n/5.0\u{0}\u{7f} x"));
        assert_eq!(client.user_agent.as_deref(), Some("Mozilla/5.0 x"));
        let long = "é".repeat(300);
        let client = Client::new(ip, Some(&long));
        assert_eq!(client.user_agent.unwrap().chars().count(), 256);
        assert_eq!(Client::new(ip, Some("\r\n")).user_agent, None);
    }

    #[test]
    fn session_ids_are_16_hex_digits() {
        let id = SessionId::random();
        assert!(SessionId::parse(id.as_str()).is_ok());
        for bad in [
            "",
            "12345",
            "ABCDEF0123456789",
            "0123456789abcdeg",
            "1; DROP TABLE",
        ] {
            assert!(SessionId::parse(bad).is_err(), "{bad}");
        }
    }
}
