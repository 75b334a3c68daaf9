//! The secrets sent by email: one-time codes (activation secret, reset code) and the key of an
//! email-change link. Each parses once, where it enters, so that junk never reaches the database.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::random::{random_below, random_bytes};

/// The alphabet of one-time codes sent by email: `[0-9A-Z]`.
const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Length of one-time codes: 10 characters, about 51.7 bits.
const CODE_LEN: usize = 10;

fn new_code() -> String {
    (0..CODE_LEN)
        .map(|_| char::from(CODE_ALPHABET[random_below(CODE_ALPHABET.len() as u32) as usize]))
        .collect()
}

/// Lower case is not accepted: codes are compared exactly, as the HMAC key of the reset JWT
/// depends on the exact bytes.
fn parse_code(raw: &str) -> Result<String, String> {
    if raw.len() == CODE_LEN && raw.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
        Ok(raw.to_owned())
    } else {
        Err(format!("must be {CODE_LEN} characters of 0-9 and A-Z"))
    }
}

/// The secret of an activation link: 10 characters of `[0-9A-Z]`.
#[derive(Clone, PartialEq, Eq)]
pub struct ActivationSecret(String);

impl ActivationSecret {
    /// A fresh random secret.
    pub fn generate() -> ActivationSecret {
        ActivationSecret(new_code())
    }

    /// The secret if `raw` has its shape.
    pub fn parse(raw: &str) -> Result<ActivationSecret, String> {
        parse_code(raw).map(ActivationSecret)
    }

    /// The secret as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The code of a password reset: 10 characters of `[0-9A-Z]`.
#[derive(Clone, PartialEq, Eq)]
pub struct ResetCode(String);

impl ResetCode {
    /// A fresh random code.
    pub fn generate() -> ResetCode {
        ResetCode(new_code())
    }

    /// The code if `raw` has its shape.
    pub fn parse(raw: &str) -> Result<ResetCode, String> {
        parse_code(raw).map(ResetCode)
    }

    /// The code as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key of an email-change confirmation link: 128 random bits, URL-safe base64 (22
/// characters).
#[derive(Clone, PartialEq, Eq)]
pub struct LinkKey(String);

impl LinkKey {
    /// A fresh random key.
    pub fn generate() -> LinkKey {
        let mut bytes = [0u8; 16];
        random_bytes(&mut bytes);
        LinkKey(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The key if `raw` has its shape.
    pub fn parse(raw: &str) -> Result<LinkKey, String> {
        let ok = raw.len() == 22
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(LinkKey(raw.to_owned()))
        } else {
            Err("must be 22 characters of URL-safe base64".into())
        }
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! secret_str {
    ($($name:ident),*) => {$(
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Secrets never print: a stray `{:?}` in a log line shows only the type.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(***)", stringify!($name))
            }
        }
    )*};
}

secret_str!(ActivationSecret, ResetCode, LinkKey);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_documented_shape() {
        for _ in 0..200 {
            assert!(ResetCode::parse(ResetCode::generate().as_str()).is_ok());
            assert!(ActivationSecret::parse(ActivationSecret::generate().as_str()).is_ok());
        }
        assert!(ResetCode::parse("abcdefghij").is_err());
        assert!(ActivationSecret::parse("ABCDEFGHI").is_err());
    }

    #[test]
    fn link_keys_carry_128_bits() {
        let key = LinkKey::generate();
        assert!(LinkKey::parse(key.as_str()).is_ok());
        assert!(LinkKey::parse(&key.as_str()[1..]).is_err());
        assert!(LinkKey::parse(&format!("{}=", &key.as_str()[1..])).is_err());
        assert_ne!(key, LinkKey::generate());
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(
            format!("{:?}", ResetCode::parse("ABCDE12345").unwrap()),
            "ResetCode(***)"
        );
    }
}
