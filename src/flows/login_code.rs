//! Signing in with a code sent by email: asking for one (stored and answered alike for every
//! address, then resolved in the background, as a password reset is), the code the lockout
//! sends when the right password of a locked account is typed, and signing in with the code.
//! A pending customer (a guest the shop created) who signs in by code becomes active, with no
//! password.

use crate::auth;
use crate::config::LoginMethod;
use crate::domain::{Client, EmailAddress, LoginCode, Status};
use crate::error::AppError;
use crate::mail::{Kind, Vars};
use crate::store::codes::{self, AddressCode, Purpose};
use crate::store::requests::{self, Request, RequestKind};
use crate::store::sql::Db;
use crate::store::{Outcome, StoreResult, customers, outbox};
use crate::throttle::IpBudget;

/// How long the code of a locked account waits after the answer before it is issued.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(20);

/// The answer of an endpoint whose sign-in method `auth.login_methods` leaves out: a 404 that
/// names the setting, so that a shop's developer is not left guessing at a typo in the path.
pub fn method_switched_off(method: LoginMethod) -> AppError {
    AppError::NotFound(format!(
        "signing in by {} is switched off: auth.login_methods does not list \"{}\"",
        match method {
            LoginMethod::Password => "password",
            LoginMethod::Passkey => "passkey",
            LoginMethod::EmailCode => "emailed code",
        },
        method.name()
    ))
}

flow_handle!(
    /// Signing in with a code sent by email.
    LoginCodes,
    login_codes
);

impl LoginCodes<'_> {
    /// Whether `auth.login_methods` lists `email_code`.
    pub fn enabled(&self) -> bool {
        self.config.auth.allows(LoginMethod::EmailCode)
    }

    fn require_enabled(&self) -> Result<(), AppError> {
        if self.enabled() {
            Ok(())
        } else {
            Err(method_switched_off(LoginMethod::EmailCode))
        }
    }

    /// Emails the customer with this address (active or pending) a 6-digit sign-in code and a
    /// link that carries it. Unknown addresses get no email, and the caller cannot tell the
    /// difference: the request is stored (the same write for every address) and answered,
    /// then resolved in the background. The client IP has a budget (429 past it); an address
    /// draws on its email allowance (`limits.emails_per_address_*`), silently.
    pub async fn request_login_code(
        &self,
        email: EmailAddress,
        client: &Client,
    ) -> Result<(), AppError> {
        self.require_enabled()?;
        self.throttles.check_ip(IpBudget::Emails, client.ip)?;
        self.requests()
            .journal_request(Request {
                kind: RequestKind::LoginCode,
                email: email.as_str().to_owned(),
                name: None,
                link_base: None,
                ip: Some(client.ip.to_string()),
                user_agent: client.user_agent.clone(),
                language: None,
                subscriptions: Vec::new(),
            })
            .await
    }

    /// Issues a sign-in code to the customer with this address (replacing any earlier one, its
    /// wrong tries forgotten) and queues its email, in the caller's transaction; false when
    /// there is no such customer.
    pub(super) fn queue_login_code(&self, tx: &Db, email: &EmailAddress) -> StoreResult<bool> {
        let Some(record) = customers::find_for_login(tx, email)? else {
            return Ok(false);
        };
        let code = LoginCode::generate();
        let ttl = (self.config.auth.login_code_ttl_minutes.get() * 60) as i64;
        codes::issue(
            tx,
            &record.id,
            Purpose::LoginCode,
            &auth::digest(code.as_str()),
            None,
            ttl,
        )?;
        codes::clear_guesses(tx, AddressCode::LoginCode, &auth::digest(email.as_str()))?;
        let name = customers::contact(tx, &record.id)?.and_then(|(_, name)| name);
        let vars = Vars {
            name,
            email: email.to_string(),
            link: Some(self.links.login_code(email.as_str(), code.as_str())),
            code: Some(code.as_str().to_owned()),
            ..Vars::default()
        };
        let language = customers::language_of(tx, &record.id)?;
        let message =
            self.mailer
                .compose(Kind::LoginCode, language.as_ref(), email.as_str(), &vars);
        outbox::enqueue(tx, &record.id, &message)?;
        Ok(true)
    }

    /// After the answer (so that it takes as long as a refusal): emails a sign-in code to the
    /// owner of a locked account whose right password was just typed, within the address's
    /// email allowance.
    pub(super) fn mail_code_after_answer(&self, email: EmailAddress) {
        let services = self.0.clone();
        self.background.spawn(async move {
            // A moment later, so that its work (a write and an email) stays out of the way of
            // the answer still in flight, which must take as long as a wrong password's.
            tokio::time::sleep(SETTLE).await;
            let shared = services.clone();
            let queued = services
                .store
                .write(move |tx| {
                    let limits = &shared.config.limits;
                    let allowed = requests::take_allowance(
                        tx,
                        &auth::digest(email.as_str()),
                        limits.emails_per_address_per_minute.get(),
                        limits.emails_per_address_per_hour.get(),
                    )?;
                    if !allowed {
                        return Ok(false);
                    }
                    shared.login_codes().queue_login_code(tx, &email)
                })
                .await;
            match queued {
                Ok(true) => services.mailer.wake_worker(),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "a locked account's sign-in code could not be queued"),
            }
        });
    }

    /// Signs in the customer whose emailed code this is, answering a session token; a pending
    /// customer becomes active on the way (with no password, joining the lists chosen at
    /// sign-up). With a second factor on, the answer is its challenge
    /// (`SecondFactorRequired`) instead. The code works once; a wrong one is counted for the address, known or not,
    /// in one write (the fifth kills the code). A code of the wrong shape never reaches the
    /// database. Every refusal is 422 `invalid_code` on `code`.
    pub async fn sign_in_with_code(
        &self,
        email: &str,
        code: &str,
        client: &Client,
    ) -> Result<String, AppError> {
        self.require_enabled()?;
        self.throttles.check_ip(IpBudget::Codes, client.ip)?;
        let invalid = || AppError::InvalidCode { field: "code" };
        let (Ok(email), Ok(code)) = (EmailAddress::parse(email), LoginCode::parse(code)) else {
            return Err(invalid());
        };
        let token = auth::new_session_token();
        let token_digest = auth::digest(&token);
        let (services, client) = (self.0.clone(), client.clone());
        // Checking, consuming and signing in happen in one write: of concurrent sign-ins with
        // one code, exactly one finds it still there.
        let (opened, activated) = self
            .store
            .write(move |tx| {
                let address = auth::digest(email.as_str());
                let presented = auth::digest(code.as_str());
                let Some(id) = codes::check_for_address(
                    tx,
                    AddressCode::LoginCode,
                    &email,
                    &address,
                    &presented,
                )?
                else {
                    return Ok(Outcome::Refused(invalid()));
                };
                codes::revoke(tx, &id, Purpose::LoginCode)?;
                codes::clear_guesses(tx, AddressCode::LoginCode, &address)?;
                let pending = customers::find_for_login(tx, &email)?
                    .is_some_and(|record| record.status == Status::Pending);
                if pending {
                    services
                        .activations()
                        .finish_activation(tx, &id, None, &client)?;
                }
                let opened = services.sessions().open_session_or_challenge(
                    tx,
                    &id,
                    &token_digest,
                    &client,
                    "email_code",
                )?;
                Ok(Outcome::Done((opened, pending)))
            })
            .await?
            .into_result()?;
        if activated {
            self.announcer.wake();
        }
        self.sessions().answer(opened, token)
    }
}
