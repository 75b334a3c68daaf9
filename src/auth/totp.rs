//! The second factor of staff and customers alike: TOTP (RFC 6238: HMAC-SHA-1, six digits,
//! 30-second steps, one step of drift either way; the caller keeps the last step accepted so
//! that no code works twice) and ten single-use recovery codes, kept as SHA-256 digests.

use totp_rs::{Algorithm, TOTP};

use crate::error::AppError;

/// How long a sign-in waits for its second factor, in seconds.
pub const CHALLENGE_TTL_SECONDS: i64 = 5 * 60;
/// Wrong codes one challenge takes before it dies.
pub const CHALLENGE_FAILURES: i64 = 5;
/// Recovery codes handed out at enrollment.
pub const RECOVERY_CODES: usize = 10;
/// The length of a TOTP time step, in seconds.
const STEP: u64 = 30;

/// An enrollment begun: the secret (base32) and the `otpauth://` URI an authenticator app
/// reads from a QR code.
#[derive(Clone, Debug)]
pub struct Enrollment {
    pub secret: String,
    pub otpauth_uri: String,
}

/// A fresh random secret (160 bits) for `account` at `issuer` (the shop's name).
pub fn enroll(issuer: &str, account: &str) -> Result<Enrollment, AppError> {
    let mut bytes = [0u8; 20];
    crate::random::random_bytes(&mut bytes);
    let totp = totp(bytes.to_vec(), issuer, account)?;
    Ok(Enrollment {
        secret: totp.get_secret_base32(),
        otpauth_uri: totp.get_url(),
    })
}

/// The time step (the previous, this or the next one) whose code `code` is for the base32
/// `secret`, if any. Anything but six ASCII digits matches none.
pub fn matching_step(secret: &str, code: &str) -> Result<Option<i64>, AppError> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .map_err(|e| AppError::internal(anyhow::anyhow!("a stored TOTP secret: {e:?}")))?;
    let totp = totp(bytes, "", "account")?;
    let now = crate::store::now().max(0) as u64;
    let current = now / STEP;
    Ok([current.saturating_sub(1), current, current + 1]
        .into_iter()
        .find(|step| {
            let expected = totp.generate(step * STEP);
            bool::from(subtle::ConstantTimeEq::ct_eq(
                expected.as_bytes(),
                code.as_bytes(),
            ))
        })
        .map(|step| step as i64))
}

/// Ten fresh recovery codes, and their digests as they are stored.
pub fn recovery_codes() -> (Vec<String>, Vec<Vec<u8>>) {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let digests = codes.iter().map(|c| recovery_digest(c)).collect();
    (codes, digests)
}

/// The digest a recovery code is stored as (typed with spaces around it or in capitals, it is
/// the same code).
pub fn recovery_digest(code: &str) -> Vec<u8> {
    super::digest(&code.trim().to_lowercase())
}

/// A recovery code: three groups of four letters and digits that cannot be mistaken for one
/// another (60 bits), e.g. `k7rm-x2ad-9qpe`.
fn recovery_code() -> String {
    super::new_passphrase()
        .split('-')
        .take(3)
        .collect::<Vec<_>>()
        .join("-")
}

/// The TOTP of a secret, for `account` at `issuer`.
fn totp(secret: Vec<u8>, issuer: &str, account: &str) -> Result<TOTP, AppError> {
    let issuer = (!issuer.is_empty()).then(|| issuer.replace(':', " "));
    TOTP::new(
        Algorithm::SHA1,
        6,
        0,
        STEP,
        secret,
        issuer,
        account.replace(':', " "),
    )
    .map_err(|e| AppError::internal(anyhow::anyhow!("TOTP: {e:?}")))
}
