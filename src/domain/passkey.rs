//! Passkeys as the customer sees them: a public id for each and a name they chose.

use std::fmt;

use serde::Serialize;

use super::text::clean_text;
use crate::random::random_bytes;

/// The public id of a passkey: 16 lower-case hex digits (64 random bits), unrelated to the
/// credential id the authenticator keeps.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PasskeyId(String);

impl PasskeyId {
    /// A fresh random id.
    pub fn random() -> PasskeyId {
        let mut bytes = [0u8; 8];
        random_bytes(&mut bytes);
        PasskeyId(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The id if `raw` has its shape.
    pub fn parse(raw: &str) -> Result<PasskeyId, String> {
        if raw.len() == 16 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(PasskeyId(raw.to_owned()))
        } else {
            Err("is not a passkey id".into())
        }
    }

    /// The id as shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasskeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PasskeyId({})", self.0)
    }
}

/// What a customer calls one of their passkeys: one line of printable text, at most
/// [`PasskeyName::MAX_CHARS`] characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PasskeyName(String);

impl PasskeyName {
    /// The longest name kept, in characters.
    pub const MAX_CHARS: usize = 64;

    /// The name of a passkey added without one.
    pub fn unnamed() -> PasskeyName {
        PasskeyName("Passkey".into())
    }

    /// The name if `raw`, trimmed, is one line of 1 to [`PasskeyName::MAX_CHARS`] characters.
    pub fn parse(raw: &str) -> Result<PasskeyName, String> {
        match clean_text(raw, Self::MAX_CHARS, false)? {
            Some(name) => Ok(PasskeyName(name)),
            None => Err("must not be empty".into()),
        }
    }

    /// A name as stored.
    pub fn stored(raw: String) -> PasskeyName {
        PasskeyName(raw)
    }

    /// The name as shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passkey_names_are_one_trimmed_line_of_at_most_64_characters() {
        assert_eq!(PasskeyName::parse("  Laptop ").unwrap().as_str(), "Laptop");
        assert!(PasskeyName::parse("   ").is_err());
        assert!(PasskeyName::parse("a\nb").is_err());
        assert!(PasskeyName::parse(&"é".repeat(64)).is_ok());
        assert!(PasskeyName::parse(&"é".repeat(65)).is_err());
    }

    #[test]
    fn passkey_ids_are_16_hex_digits() {
        assert!(PasskeyId::parse(PasskeyId::random().as_str()).is_ok());
        for bad in ["", "0123", "ABCDEF0123456789", "../../etc/passwd"] {
            assert!(PasskeyId::parse(bad).is_err(), "{bad}");
        }
    }
}
