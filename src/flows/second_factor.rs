//! The staff's second factor: TOTP (RFC 6238: HMAC-SHA-1, six digits, 30-second steps, one
//! step of drift either way, no code accepted twice) with ten single-use recovery codes kept
//! as SHA-256 digests. Enrolling is two calls (a secret, then a code that proves the app has
//! it); signing in with one is a password, then a challenge answered with a code.

use totp_rs::{Algorithm, TOTP};

use super::hours;
use super::staff::StaffSession;
use crate::auth;
use crate::domain::Client;
use crate::error::AppError;
use crate::store::staff;
use crate::throttle::IpBudget;

/// How long a sign-in waits for its second factor, in seconds.
const CHALLENGE_TTL_SECONDS: i64 = 5 * 60;
/// Wrong codes one challenge takes before it dies.
const CHALLENGE_FAILURES: i64 = 5;
/// Recovery codes handed out at enrollment.
const RECOVERY_CODES: usize = 10;
/// The length of a TOTP time step, in seconds.
const STEP: u64 = 30;

/// An enrollment begun: the secret (base32) and the `otpauth://` URI an authenticator app
/// reads from a QR code.
#[derive(Clone, Debug)]
pub struct Enrollment {
    pub secret: String,
    pub otpauth_uri: String,
}

flow_handle!(
    /// The staff's second factor.
    SecondFactors,
    second_factors
);

impl SecondFactors<'_> {
    /// `POST /admin/staff/totp`: a new TOTP secret for the caller, unconfirmed until a code
    /// made with it comes back. A confirmed second factor is replaced only through
    /// `staff reset` (409 here).
    pub async fn begin(&self, session: &StaffSession) -> Result<Enrollment, AppError> {
        let mut bytes = [0u8; 20];
        crate::random::random_bytes(&mut bytes);
        let totp = self.totp(bytes.to_vec(), &session.member.email)?;
        let (secret, otpauth_uri) = (totp.get_secret_base32(), totp.get_url());
        let (id, stored) = (session.member.id, secret.clone());
        let begun = self
            .store
            .write(move |tx| staff::begin_totp(tx, id, &stored))
            .await?;
        if !begun {
            return Err(AppError::Conflict {
                message:
                    "a second factor is enrolled already; `customer-area staff reset` clears it"
                        .into(),
                fields: Default::default(),
            });
        }
        Ok(Enrollment {
            secret,
            otpauth_uri,
        })
    }

    /// `POST /admin/staff/totp/confirm`: a code of the enrolled secret confirms it; answers
    /// the ten recovery codes (shown once, stored as digests), and the calling session may
    /// then do everything its role may.
    pub async fn confirm(
        &self,
        session: &StaffSession,
        ip: std::net::IpAddr,
        code: &str,
    ) -> Result<Vec<String>, AppError> {
        self.throttles.check_ip(IpBudget::Codes, ip)?;
        let invalid = AppError::InvalidCode { field: "code" };
        let id = session.member.id;
        let state = self
            .store
            .read(move |c| staff::totp(c, id))
            .await?
            .filter(|t| !t.confirmed)
            .ok_or_else(|| AppError::field("code", "begin with POST /admin/staff/totp"))?;
        let step = self.matching_step(&state.secret, code)?.ok_or(invalid)?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
        let hashes: Vec<Vec<u8>> = codes.iter().map(|c| auth::digest(c)).collect();
        let token_hash = session.token_hash.clone();
        let confirmed = self
            .store
            .write(move |tx| {
                if !staff::use_totp_step(tx, id, step)? {
                    return Ok(false);
                }
                staff::confirm_totp(tx, id, &hashes, &token_hash)?;
                Ok(true)
            })
            .await?;
        if confirmed {
            Ok(codes)
        } else {
            Err(AppError::InvalidCode { field: "code" })
        }
    }

    /// After a right password of a member with a second factor: a challenge to answer with a
    /// code, for a few minutes.
    pub(super) async fn challenge(&self, id: i64, client: &Client) -> Result<String, AppError> {
        let challenge = auth::new_session_token();
        let digest = auth::digest(&challenge);
        let ip = client.ip.to_string();
        self.store
            .write(move |tx| staff::open_challenge(tx, &digest, id, CHALLENGE_TTL_SECONDS, &ip))
            .await?;
        Ok(challenge)
    }

    /// `POST /admin/staff/login/second_factor`: a TOTP code or an unused recovery code
    /// answers the challenge and opens a full session. A wrong code counts against the
    /// challenge (it dies at the fifth) and the client's budget of codes.
    pub async fn finish_login(
        &self,
        challenge: &str,
        code: &str,
        client: &Client,
    ) -> Result<String, AppError> {
        self.throttles.check_ip(IpBudget::Codes, client.ip)?;
        let gone = AppError::InvalidCode { field: "challenge" };
        if !auth::looks_like_session_token(challenge) {
            return Err(gone);
        }
        let hash = auth::digest(challenge);
        let lookup = hash.clone();
        let id = self
            .store
            .read(move |c| staff::challenged(c, &lookup, CHALLENGE_FAILURES))
            .await?
            .ok_or(gone)?;
        let totp = self.store.read(move |c| staff::totp(c, id)).await?;
        let step = match &totp {
            Some(t) if t.confirmed => self.matching_step(&t.secret, code)?,
            _ => None,
        };
        let recovery = auth::digest(code.trim());
        let token = auth::new_session_token();
        let digest = auth::digest(&token);
        let ttl = hours(self.config.console.session_hours.get());
        let ip = client.ip.to_string();
        let opened = self
            .store
            .write(move |tx| {
                let accepted = match step {
                    Some(step) => staff::use_totp_step(tx, id, step)?,
                    None => staff::use_recovery_code(tx, id, &recovery)?,
                };
                if !accepted {
                    staff::fail_challenge(tx, &hash)?;
                    return Ok(false);
                }
                if !staff::end_challenge(tx, &hash)? {
                    return Ok(false);
                }
                staff::open_session(tx, &digest, id, ttl, true, &ip)?;
                Ok(true)
            })
            .await?;
        if opened {
            Ok(token)
        } else {
            Err(AppError::InvalidCode { field: "code" })
        }
    }

    /// The time step (of the previous, this or the next) whose code `code` is, if any.
    fn matching_step(&self, secret: &str, code: &str) -> Result<Option<i64>, AppError> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let bytes = totp_rs::Secret::Encoded(secret.to_owned())
            .to_bytes()
            .map_err(|e| AppError::internal(anyhow::anyhow!("a stored TOTP secret: {e:?}")))?;
        let totp = self.totp(bytes, "staff")?;
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

    /// The TOTP of a secret, for `account` at this shop.
    fn totp(&self, secret: Vec<u8>, account: &str) -> Result<TOTP, AppError> {
        TOTP::new(
            Algorithm::SHA1,
            6,
            0,
            STEP,
            secret,
            Some(self.config.mail.shop_name.replace(':', " ")),
            account.replace(':', " "),
        )
        .map_err(|e| AppError::internal(anyhow::anyhow!("TOTP: {e:?}")))
    }
}

/// A recovery code: three groups of four letters and digits that cannot be mistaken for one
/// another (60 bits), e.g. `k7rm-x2ad-9qpe`.
fn recovery_code() -> String {
    auth::new_passphrase()
        .split('-')
        .take(3)
        .collect::<Vec<_>>()
        .join("-")
}
