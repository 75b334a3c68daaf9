//! Credentials: password hashing (this product's own PBKDF2, and the schemes of imported
//! hashes until their first sign-in replaces them), session tokens, one-time codes and the
//! reset JWT. Tokens and codes are stored only as SHA-256 digests.

mod hasher;
mod jwt;
mod schemes;
pub mod totp;

pub use hasher::{PasswordHasher, PasswordVerdict, Requester};
pub use jwt::reset_token;
pub use schemes::Scheme;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::random::{random_below, random_bytes};

/// SHA-256 of a secret: what the database keeps instead of the secret.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A short, stable pseudonym of an email address for logs: the first 16 hex digits of the
/// SHA-256 of its trimmed, lower-cased form. Lets an operator follow one account's attempts
/// without the log holding the address.
pub fn log_hash(email: &str) -> String {
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh session token: 256 random bits, URL-safe base64 (43 characters).
pub fn new_session_token() -> String {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `token` has the shape of a session token, so junk never reaches the database.
pub fn looks_like_session_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Letters and digits that cannot be mistaken for one another when read or typed.
const PASSPHRASE_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A random passphrase of five groups of four characters, e.g. `k7rm-x2ad-9qpe-hw3n-fb8t`:
/// 20 characters of a 31-letter alphabet, 99 bits.
pub fn new_passphrase() -> String {
    let groups: Vec<String> = (0..5)
        .map(|_| {
            (0..4)
                .map(|_| {
                    let i = random_below(PASSPHRASE_ALPHABET.len() as u32) as usize;
                    char::from(PASSPHRASE_ALPHABET[i])
                })
                .collect()
        })
        .collect();
    groups.join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_carry_256_bits() {
        let token = new_session_token();
        assert!(looks_like_session_token(&token));
        assert_ne!(token, new_session_token());
    }

    #[test]
    fn passphrases_carry_at_least_80_bits() {
        let passphrase = new_passphrase();
        let letters = passphrase.chars().filter(|c| *c != '-').count() as f64;
        let bits = letters * (PASSPHRASE_ALPHABET.len() as f64).log2();
        assert!(bits >= 80.0, "{bits}");
        assert_ne!(passphrase, new_passphrase());
    }
}
