//! The staff's second factor (`auth::totp`, which customers' use too): enrolling is two calls
//! (a secret, then a code that proves the app has it); signing in with one is a password, then
//! a challenge answered with a code.

use super::audit::AuditLine;
use super::hours;
use super::staff::StaffSession;
use super::staff::actions::{SECOND_FACTOR_ENROLLED, STAFF_LOGIN};
use crate::auth;
use crate::auth::totp::{self, CHALLENGE_FAILURES, CHALLENGE_TTL_SECONDS, Enrollment};
use crate::domain::Client;
use crate::error::AppError;
use crate::store::staff;
use crate::throttle::IpBudget;

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
        let enrollment = totp::enroll(&self.config.mail.shop_name, &session.member.email)?;
        let (id, stored) = (session.member.id, enrollment.secret.clone());
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
        Ok(enrollment)
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
        let step = totp::matching_step(&state.secret, code)?.ok_or(invalid)?;
        let (codes, hashes) = totp::recovery_codes();
        let token_hash = session.token_hash.clone();
        let line = AuditLine::of_staff_member(
            &session.member.email,
            ip,
            SECOND_FACTOR_ENROLLED,
            "enrolled a TOTP second factor; ten new recovery codes",
        );
        let confirmed = self
            .store
            .write(move |tx| {
                if !staff::use_totp_step(tx, id, step)? {
                    return Ok(false);
                }
                staff::confirm_totp(tx, id, &hashes, &token_hash)?;
                line.write(tx, None)?;
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
            Some(t) if t.confirmed => totp::matching_step(&t.secret, code)?,
            _ => None,
        };
        let recovery = totp::recovery_digest(code);
        let token = auth::new_session_token();
        let digest = auth::digest(&token);
        let ttl = hours(self.config.console.session_hours.get());
        let ip = client.ip;
        let opened = self
            .store
            .write(move |tx| {
                let used = if step.is_some() {
                    "an authenticator code"
                } else {
                    "a recovery code"
                };
                let accepted = match step {
                    Some(step) => staff::use_totp_step(tx, id, step)?,
                    None => staff::use_recovery_code(tx, id, &recovery)?,
                };
                let email = staff::find(tx, id)?.map(|m| m.email).unwrap_or_default();
                let line =
                    |detail: String| AuditLine::of_staff_member(&email, ip, STAFF_LOGIN, detail);
                if !accepted {
                    staff::fail_challenge(tx, &hash)?;
                    line("sign-in refused: a wrong second-factor code".into()).write(tx, None)?;
                    return Ok(false);
                }
                if !staff::end_challenge(tx, &hash)? {
                    return Ok(false);
                }
                staff::open_session(tx, &digest, id, ttl, true, &ip.to_string())?;
                line(format!("signed in with a password and {used}")).write(tx, None)?;
                Ok(true)
            })
            .await?;
        if opened {
            Ok(token)
        } else {
            Err(AppError::InvalidCode { field: "code" })
        }
    }
}
