//! The reset JWT: the answer of `POST /customers/do_reset`, carrying the new passphrase and
//! signed with the reset code.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde::Serialize;

use crate::error::AppError;

#[derive(Serialize)]
struct ResetClaims<'a> {
    passphrase: &'a str,
}

/// The answer of a successful password reset: a JWT with header exactly `{"alg":"HS256"}` (as
/// the seed has it, no `typ`) and claims `{"passphrase": <the new password>}`, signed with the
/// reset code's bytes. Signed, not encrypted: whoever holds the token reads the passphrase; the
/// code only proves that the answer is genuine.
pub fn reset_token(passphrase: &str, code: &str) -> Result<String, AppError> {
    let header = Header {
        typ: None,
        ..Header::new(Algorithm::HS256)
    };
    encode(
        &header,
        &ResetClaims { passphrase },
        &EncodingKey::from_secret(code.as_bytes()),
    )
    .map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode};

    #[derive(serde::Deserialize)]
    struct Claims {
        passphrase: String,
    }

    #[test]
    fn the_header_is_exactly_the_seeds() {
        use base64::Engine;
        let token = reset_token("k7rm-x2ad", "ABCDE12345").unwrap();
        let header = token.split('.').next().unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap();
        assert_eq!(bytes, br#"{"alg":"HS256"}"#);
    }

    #[test]
    fn the_code_verifies_and_decodes_the_token() {
        let token = reset_token("k7rm-x2ad", "ABCDE12345").unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let data = decode::<Claims>(
            &token,
            &DecodingKey::from_secret(b"ABCDE12345"),
            &validation,
        )
        .unwrap();
        assert_eq!(data.claims.passphrase, "k7rm-x2ad");
        assert!(
            decode::<Claims>(
                &token,
                &DecodingKey::from_secret(b"ABCDE12346"),
                &validation
            )
            .is_err()
        );
    }
}
