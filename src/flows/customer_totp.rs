//! The customers' second factor (`auth::totp`, as the staff's): enrolled and removed on a
//! recently authenticated session (or removed by support), with activity lines and notices by
//! email. With it on, a right password or emailed code opens no session but a challenge, which
//! a TOTP code or an unused recovery code answers; a passkey needs none.

use super::session::Session;
use crate::auth;
use crate::auth::totp::{self, CHALLENGE_FAILURES, CHALLENGE_TTL_SECONDS, Enrollment};
use crate::domain::{ActivityKind, Client, CustomerId};
use crate::error::AppError;
use crate::mail::Kind;
use crate::store::sql::Db;
use crate::store::{Outcome, StoreResult, activity, customers, totp as stored};
use crate::throttle::IpBudget;

/// What answers a second-factor challenge.
#[derive(Clone, Debug)]
pub enum SecondFactorCode {
    /// The six digits of the authenticator app.
    Totp(String),
    /// One of the ten recovery codes.
    Recovery(String),
}

flow_handle!(
    /// The customers' TOTP second factor.
    Totps,
    totps
);

impl Totps<'_> {
    /// `GET /customers/totp`: the caller's second factor, if one is on (since when, and how
    /// many recovery codes are left); never its secret.
    pub async fn status(&self, session: &Session) -> Result<Option<stored::TotpStatus>, AppError> {
        self.throttles
            .check_ip(IpBudget::Codes, session.client.ip)?;
        let id = session.customer.clone();
        Ok(self.store.read(move |c| stored::status(c, &id)).await?)
    }

    /// `POST /customers/totp`: a new secret for the caller, unconfirmed until a code made with
    /// it comes back (an earlier unconfirmed one is replaced). Needs a recently authenticated
    /// session; a confirmed second factor is a conflict (remove it first).
    pub async fn begin(&self, session: &Session) -> Result<Enrollment, AppError> {
        self.sessions().require_recent(session)?;
        let id = session.customer.clone();
        let lookup = id.clone();
        let (email, _) = self
            .store
            .read(move |c| customers::contact(c, &lookup))
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let enrollment = totp::enroll(&self.config.mail.shop_name, &email)?;
        let secret = enrollment.secret.clone();
        let begun = self
            .store
            .write(move |tx| stored::begin(tx, &id, &secret))
            .await?;
        if !begun {
            return Err(AppError::Conflict {
                message: "a second factor is on already: remove it first (DELETE /customers/totp)"
                    .into(),
                fields: Default::default(),
            });
        }
        Ok(enrollment)
    }

    /// `POST /customers/totp/confirm`: a code of the enrolled secret turns the second factor on;
    /// answers the ten recovery codes (shown once, stored as digests). The customer is told by
    /// email and the activity says `second_factor_added`.
    pub async fn confirm(&self, session: &Session, code: &str) -> Result<Vec<String>, AppError> {
        self.throttles
            .check_ip(IpBudget::Codes, session.client.ip)?;
        let id = session.customer.clone();
        let lookup = id.clone();
        let state = self
            .store
            .read(move |c| stored::of_customer(c, &lookup))
            .await?
            .filter(|t| !t.confirmed)
            .ok_or_else(|| AppError::field("code", "begin with POST /customers/totp"))?;
        let invalid = || AppError::InvalidCode { field: "code" };
        let step = totp::matching_step(&state.secret, code)?.ok_or_else(invalid)?;
        let (codes, hashes) = totp::recovery_codes();
        let (services, client) = (self.0.clone(), session.client.clone());
        self.store
            .write(move |tx| {
                // The secret checked must still be the one enrolled, unconfirmed.
                let current = stored::of_customer(tx, &id)?;
                if current.is_none_or(|t| t.confirmed || t.secret != state.secret)
                    || !stored::use_step(tx, &id, step)?
                {
                    return Ok(Outcome::Refused(invalid()));
                }
                stored::confirm(tx, &id, &hashes)?;
                activity::record(tx, &id, ActivityKind::SecondFactorAdded, Some(&client))?;
                services
                    .profiles()
                    .queue_notice(tx, &id, Kind::SecondFactorAdded)?;
                Ok(Outcome::Done(()))
            })
            .await?
            .into_result()?;
        self.mailer.wake_worker();
        Ok(codes)
    }

    /// `DELETE /customers/totp`: the caller's second factor goes (needs a recently
    /// authenticated session); 404 when there is none.
    pub async fn remove(&self, session: &Session) -> Result<(), AppError> {
        self.sessions().require_recent(session)?;
        let (id, client) = (session.customer.clone(), session.client.clone());
        let services = self.0.clone();
        let removed = self
            .store
            .write(move |tx| services.totps().remove_in(tx, &id, Some(&client)))
            .await?;
        self.finish_removal(removed)
    }

    /// `DELETE /admin/customers/{id}/second_factor`: support removes a customer's second factor
    /// (one who lost their phone and their recovery codes); the customer is told by email.
    /// 404 for an unknown customer or one without a second factor.
    pub async fn remove_by_support(&self, key: &str) -> Result<(), AppError> {
        let (key, services) = (key.to_owned(), self.0.clone());
        let removed = self
            .store
            .write(move |tx| {
                let Some(view) = customers::admin_view(tx, &key)? else {
                    return Ok(false);
                };
                services.totps().remove_in(tx, &view.customer.id, None)
            })
            .await?;
        self.finish_removal(removed)
    }

    fn finish_removal(&self, removed: bool) -> Result<(), AppError> {
        if !removed {
            return Err(AppError::NotFound("no second factor is on".into()));
        }
        self.mailer.wake_worker();
        Ok(())
    }

    /// Removes the second factor in the caller's transaction, with its activity line and
    /// notice; false when none was on.
    fn remove_in(&self, tx: &Db, id: &CustomerId, client: Option<&Client>) -> StoreResult<bool> {
        if !stored::remove(tx, id)? {
            return Ok(false);
        }
        activity::record(tx, id, ActivityKind::SecondFactorRemoved, client)?;
        self.profiles()
            .queue_notice(tx, id, Kind::SecondFactorRemoved)?;
        Ok(true)
    }

    /// In the write of a sign-in whose first factor (`method`) was right: when the customer has
    /// a second factor, a challenge for it (valid [`CHALLENGE_TTL_SECONDS`]) instead of a
    /// session.
    pub(super) fn challenge_if_on(
        &self,
        tx: &Db,
        id: &CustomerId,
        method: &str,
    ) -> StoreResult<Option<String>> {
        if !stored::is_on(tx, id)? {
            return Ok(None);
        }
        let challenge = auth::new_session_token();
        let digest = auth::digest(&challenge);
        stored::open_challenge(tx, &digest, id, CHALLENGE_TTL_SECONDS, method)?;
        Ok(Some(challenge))
    }

    /// `POST /customers/login/second_factor`: a TOTP code (each accepted once) or an unused
    /// recovery code answers the challenge and opens the session. A wrong code counts against
    /// the challenge (it dies at the fifth) and the client's budget of codes; an unknown,
    /// expired or spent challenge is `invalid_code` on `challenge`, a wrong code on its field.
    /// Codes of the wrong shape are refused before the database.
    pub async fn finish_sign_in(
        &self,
        challenge: &str,
        code: SecondFactorCode,
        client: &Client,
    ) -> Result<String, AppError> {
        self.throttles.check_ip(IpBudget::Codes, client.ip)?;
        let gone = || AppError::InvalidCode { field: "challenge" };
        let field = match &code {
            SecondFactorCode::Totp(_) => "code",
            SecondFactorCode::Recovery(_) => "recovery_code",
        };
        let wrong = move || AppError::InvalidCode { field };
        let well_formed = match &code {
            SecondFactorCode::Totp(c) => c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()),
            SecondFactorCode::Recovery(c) => {
                let c = c.trim();
                c.len() == 14 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }
        };
        if !auth::looks_like_session_token(challenge) {
            return Err(gone());
        }
        if !well_formed {
            return Err(wrong());
        }
        let hash = auth::digest(challenge);
        let token = auth::new_session_token();
        let digest = auth::digest(&token);
        let (services, client) = (self.0.clone(), client.clone());
        // Checking the challenge and the code, using them up and opening the session happen in
        // one write: of concurrent answers, one signs in.
        self.store
            .write(move |tx| {
                let Some((id, method)) = stored::challenged(tx, &hash, CHALLENGE_FAILURES)? else {
                    return Ok(Outcome::Refused(gone()));
                };
                let accepted = match &code {
                    SecondFactorCode::Totp(code) => {
                        let step = match stored::of_customer(tx, &id)? {
                            Some(t) if t.confirmed => totp::matching_step(&t.secret, code)
                                .map_err(|e| {
                                    crate::store::StoreError::Inconsistent(e.to_string())
                                })?,
                            _ => None,
                        };
                        match step {
                            Some(step) => stored::use_step(tx, &id, step)?,
                            None => false,
                        }
                    }
                    SecondFactorCode::Recovery(code) => {
                        stored::use_recovery_code(tx, &id, &totp::recovery_digest(code))?
                    }
                };
                if !accepted {
                    stored::fail_challenge(tx, &hash)?;
                    return Ok(Outcome::Refused(wrong()));
                }
                stored::end_challenge(tx, &hash)?;
                services
                    .sessions()
                    .open_session(tx, &id, &digest, &client, &method)?;
                Ok(Outcome::Done(()))
            })
            .await?
            .into_result()?;
        self.mailer.wake_worker();
        Ok(token)
    }
}
