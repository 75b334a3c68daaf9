//! New passwords and the rules they must meet: length in characters, no common password (a
//! list compiled in), not the account's email.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use super::EmailAddress;

/// The rules a new password must meet.
#[derive(Clone, Copy, Debug)]
pub struct PasswordPolicy {
    pub min_chars: usize,
}

impl PasswordPolicy {
    /// The longest password accepted, in characters; checked before any hashing.
    pub const MAX_CHARS: usize = 1024;
}

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// A password that meets the policy: long enough, not absurdly long, not a common password,
/// not the account's email. Its `Debug` form never shows the password.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    /// Checks `raw` as typed (no trimming: every character counts), for the account `email`.
    pub fn parse(
        raw: &str,
        policy: PasswordPolicy,
        email: Option<&EmailAddress>,
    ) -> Result<NewPassword, String> {
        let chars = raw.chars().count();
        if chars > PasswordPolicy::MAX_CHARS {
            return Err(format!(
                "must be at most {} characters",
                PasswordPolicy::MAX_CHARS
            ));
        }
        if chars < policy.min_chars {
            return Err(format!("must be at least {} characters", policy.min_chars));
        }
        if raw.contains('\0') {
            return Err("must not contain NUL characters".into());
        }
        let lower = raw.to_lowercase();
        if COMMON_PASSWORDS.contains(lower.as_str()) {
            return Err("is too common; choose a less guessable password".into());
        }
        if email.is_some_and(|e| {
            lower == e.as_str() || lower == e.as_str().split('@').next().unwrap_or("")
        }) {
            return Err("must not be your email address".into());
        }
        Ok(NewPassword(raw.to_owned()))
    }

    /// Wraps a password that needs no checking: one the system generated (a reset
    /// passphrase), or one that was accepted before (being re-hashed).
    pub fn trusted(value: String) -> NewPassword {
        NewPassword(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: PasswordPolicy = PasswordPolicy { min_chars: 8 };

    #[test]
    fn length_is_counted_in_characters() {
        assert!(NewPassword::parse("ééééééé", POLICY, None).is_err()); // 7 chars, 14 bytes
        assert!(NewPassword::parse("éééééééé", POLICY, None).is_ok());
        assert!(NewPassword::parse(&"é".repeat(1024), POLICY, None).is_ok());
        assert!(NewPassword::parse(&"é".repeat(1025), POLICY, None).is_err());
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        assert!(NewPassword::parse("Password123", POLICY, None).is_err());
        assert!(NewPassword::parse("QWERTYUIOP", POLICY, None).is_err());
        assert!(NewPassword::parse("correct horse battery", POLICY, None).is_ok());
    }

    #[test]
    fn the_email_is_not_a_password() {
        let email = EmailAddress::parse("ada.lovelace@example.com").unwrap();
        assert!(NewPassword::parse("Ada.Lovelace@example.com", POLICY, Some(&email)).is_err());
        assert!(NewPassword::parse("ada.lovelace", POLICY, Some(&email)).is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        let p = NewPassword::parse("correct horse", POLICY, None).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
