//! The bounce token: with `mail.bounce_address` set, each email leaves with the envelope
//! sender `<local>+<outbox id>-<tag>@<domain>`, so a bounce (which goes to the envelope
//! sender) names the exact email it is about, even when the report quotes nothing of it. The
//! tag is an HMAC of the outbox id under a key the server keeps in its database: a token
//! cannot be made up for an email, so a forged bounce cannot mark a customer's address.

use hmac::{KeyInit, Mac};

/// The name of the tokens' key among the server's keys.
pub const KEY_NAME: &str = "bounce";

/// Bytes of the HMAC kept in a token (hex-encoded: twice as many characters).
const TAG_BYTES: usize = 8;

/// The envelope sender for the outbox email `id`: the bounce address with the token after a
/// `+` in its local part.
pub fn envelope_sender(bounce_address: &str, key: &[u8; 32], id: i64) -> String {
    let (local, domain) = bounce_address
        .rsplit_once('@')
        .expect("mail.bounce_address is checked to hold an @ when the config is loaded");
    format!("{local}+{id}-{}@{domain}", tag(key, id))
}

/// What an address's token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    /// The token of the outbox email with this id.
    Valid(i64),
    /// A token of the bounce address's shape whose tag is not this server's.
    Forged,
}

/// The token in `address`, if `address` is the bounce address with one.
pub fn token_in(bounce_address: &str, key: &[u8; 32], address: &str) -> Option<Token> {
    let (local, domain) = bounce_address.rsplit_once('@')?;
    let (their_local, their_domain) = address.trim().rsplit_once('@')?;
    if !their_domain.eq_ignore_ascii_case(domain) {
        return None;
    }
    let token = their_local.strip_prefix(local)?.strip_prefix('+')?;
    let (id, their_tag) = token.split_once('-')?;
    let Ok(id) = id.parse::<i64>() else {
        return Some(Token::Forged);
    };
    let expected = tag(key, id);
    // Compared in constant time: the tag is a secret until it has matched.
    let matches = their_tag.len() == expected.len()
        && their_tag
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a.to_ascii_lowercase() ^ b))
            == 0;
    Some(if matches {
        Token::Valid(id)
    } else {
        Token::Forged
    })
}

fn tag(key: &[u8; 32], id: i64) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(b"bounce.");
    mac.update(id.to_string().as_bytes());
    mac.finalize().into_bytes()[..TAG_BYTES]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn a_token_names_its_email_and_only_its_own() {
        let sender = envelope_sender("bounces@shop.example", &KEY, 42);
        assert!(sender.starts_with("bounces+42-") && sender.ends_with("@shop.example"));
        assert_eq!(
            token_in("bounces@shop.example", &KEY, &sender),
            Some(Token::Valid(42))
        );
        // Upper case survives: some servers fold the local part.
        assert_eq!(
            token_in("bounces@shop.example", &KEY, &sender.to_uppercase()),
            None,
            "the local part before the token is compared as configured"
        );
        let other_id = sender.replacen("+42-", "+43-", 1);
        assert_eq!(
            token_in("bounces@shop.example", &KEY, &other_id),
            Some(Token::Forged)
        );
        assert_eq!(
            token_in("bounces@shop.example", &[8; 32], &sender),
            Some(Token::Forged)
        );
        assert_eq!(
            token_in("bounces@shop.example", &KEY, "bounces+x-00@shop.example"),
            Some(Token::Forged)
        );
    }

    #[test]
    fn addresses_that_carry_no_token_are_not_forgeries() {
        for address in [
            "bounces@shop.example",
            "someone@shop.example",
            "bounces+42-abc@elsewhere.example",
            "not an address",
        ] {
            assert_eq!(
                token_in("bounces@shop.example", &KEY, address),
                None,
                "{address}"
            );
        }
    }
}
