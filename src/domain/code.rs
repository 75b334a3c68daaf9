//! The secrets sent by email: one-time codes (activation secret, reset code, sign-in code) and
//! the key of an email-change link. Each parses once, where it enters, so that junk never
//! reaches the database.

use std::fmt;

use crate::random::random_below;

/// The alphabet of one-time codes sent by email: `[0-9A-Z]`.
const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Length of one-time codes: 10 characters, about 51.7 bits.
const CODE_LEN: usize = 10;

fn new_code() -> String {
    random_code(CODE_LEN)
}

fn random_code(len: usize) -> String {
    (0..len)
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

/// The key of an email link that changes the address (a confirmation, an undo): 16 characters
/// of `[0-9A-Z]` (about 82.7 bits, ample for a single-use key with 5 tries). Keys of the
/// earlier form (22 characters of URL-safe base64) still parse, so that links sent before
/// keep working until they expire.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkKey(String);

/// Length of a link key.
const LINK_KEY_LEN: usize = 16;
/// Length of the earlier, base64 link keys.
const LEGACY_LINK_KEY_LEN: usize = 22;

impl LinkKey {
    /// A fresh random key.
    pub fn generate() -> LinkKey {
        LinkKey(random_code(LINK_KEY_LEN))
    }

    /// The key if `raw` has its shape (or the earlier one).
    pub fn parse(raw: &str) -> Result<LinkKey, String> {
        let current = raw.len() == LINK_KEY_LEN && raw.bytes().all(|b| CODE_ALPHABET.contains(&b));
        let legacy = raw.len() == LEGACY_LINK_KEY_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if current || legacy {
            Ok(LinkKey(raw.to_owned()))
        } else {
            Err(format!("must be {LINK_KEY_LEN} characters of 0-9 and A-Z"))
        }
    }

    /// The key if `raw` has the current shape only (keys issued after the earlier form was
    /// retired, such as undo keys).
    pub fn parse_current(raw: &str) -> Result<LinkKey, String> {
        if raw.len() == LINK_KEY_LEN && raw.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
            Ok(LinkKey(raw.to_owned()))
        } else {
            Err(format!("must be {LINK_KEY_LEN} characters of 0-9 and A-Z"))
        }
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An emailed sign-in code: 6 decimal digits, typed by hand (about 20 bits: it dies after 5
/// wrong tries and lives minutes).
#[derive(Clone, PartialEq, Eq)]
pub struct LoginCode(String);

/// Length of a sign-in code.
const LOGIN_CODE_LEN: usize = 6;

impl LoginCode {
    /// A fresh random code.
    pub fn generate() -> LoginCode {
        LoginCode(format!("{:06}", random_below(1_000_000)))
    }

    /// The code if `raw` has its shape: exactly 6 digits, nothing around them.
    pub fn parse(raw: &str) -> Result<LoginCode, String> {
        if raw.len() == LOGIN_CODE_LEN && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(LoginCode(raw.to_owned()))
        } else {
            Err(format!("must be {LOGIN_CODE_LEN} digits"))
        }
    }

    /// The code as sent.
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

secret_str!(ActivationSecret, ResetCode, LinkKey, LoginCode);

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
    fn link_keys_are_16_characters_of_digits_and_capitals() {
        for _ in 0..200 {
            let key = LinkKey::generate();
            assert_eq!(key.as_str().len(), 16);
            assert!(key.as_str().bytes().all(|b| CODE_ALPHABET.contains(&b)));
            assert!(LinkKey::parse(key.as_str()).is_ok());
            assert!(LinkKey::parse_current(key.as_str()).is_ok());
        }
        assert!(LinkKey::parse("J32NA974R4F7N1HB").is_ok());
        assert!(LinkKey::parse("j32na974r4f7n1hb").is_err());
        assert!(LinkKey::parse("J32NA974R4F7N1H").is_err());
        assert_ne!(LinkKey::generate(), LinkKey::generate());
    }

    #[test]
    fn earlier_base64_link_keys_still_parse_but_not_as_current_keys() {
        let legacy = "AbCdEfGhIjKlMnOpQrSt-_";
        assert!(LinkKey::parse(legacy).is_ok());
        assert!(LinkKey::parse_current(legacy).is_err());
        assert!(LinkKey::parse(&legacy[1..]).is_err());
        assert!(LinkKey::parse(&format!("{}=", &legacy[1..])).is_err());
    }

    #[test]
    fn login_codes_are_six_digits_and_nothing_else() {
        for _ in 0..200 {
            let code = LoginCode::generate();
            assert_eq!(code.as_str().len(), 6);
            assert!(LoginCode::parse(code.as_str()).is_ok());
        }
        for bad in [
            "12345",
            "1234567",
            "12345a",
            " 123456",
            "１２３４５６",
            "-12345",
            "",
        ] {
            assert!(LoginCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(
            format!("{:?}", ResetCode::parse("ABCDE12345").unwrap()),
            "ResetCode(***)"
        );
    }
}
