//! Signing in and out: the password login with its throttles, lockout and new-device notice,
//! reauthentication with the password, the bearer token check, and logout.

use super::hours;
use crate::auth::{self, Requester};
use crate::domain::{
    ActivityKind, Client, CustomerId, EmailAddress, LinkKey, PasswordPolicy, SessionId, Status,
};
use crate::error::AppError;
use crate::mail::{Kind, Vars};
use crate::store::devices::{self, Reported};
use crate::store::sql::Db;
use crate::store::{StoreError, StoreResult, activity, customers, outbox, sessions};
use crate::throttle::IpBudget;

/// In the transaction that relies on a password check: whether the hash `checked` is still the
/// stored one and the account not locked (a reset, a change or a lockout since the check wins);
/// if so, the success clears the count of failures.
fn still_current(tx: &Db, id: &CustomerId, checked: &Option<String>) -> StoreResult<bool> {
    let (hash, locked) = customers::login_state(tx, id)?;
    if &hash != checked || locked {
        return Ok(false);
    }
    customers::clear_failed_logins(tx, id)?;
    Ok(true)
}

/// What a sign-in whose first factor was right opened.
pub(super) enum Opened {
    Session,
    /// A challenge for the customer's second factor.
    Challenge(String),
}

/// How long the "this wasn't me" link of a new-device notice works, in seconds (7 days).
pub const NOT_ME_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// An authenticated caller: the customer, the digest of the token they presented, the client
/// presenting it, and when the session last proved a credential (`None`: never recorded).
#[derive(Clone, Debug)]
pub struct Session {
    pub customer: CustomerId,
    pub token_hash: Vec<u8>,
    pub client: Client,
    pub authenticated_at: Option<i64>,
}

flow_handle!(
    /// Logging in and out, and checking a bearer token.
    Sessions,
    sessions
);

impl Sessions<'_> {
    /// Checks email and password and opens a session, answering with its bearer token.
    /// Unknown email, wrong password and pending account fail alike, after the same work.
    /// Throttled per client IP and, after a few failures, per account (known or not); locked
    /// after `limits.login_lockout_failures` failures in a row (see `lockout`): then the right
    /// password answers `EmailCodeRequired` and has a sign-in code emailed (with sign-in codes
    /// on; otherwise `InvalidCredentials`). A wrong password
    /// of an active account is recorded in its activity after the answer, with the count.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: &Client,
    ) -> Result<String, AppError> {
        self.throttles.check_ip(IpBudget::Login, client.ip)?;
        let account = email.trim().to_lowercase();
        self.throttles.reserve_login(&account)?;
        // No stored password is longer, so a longer one cannot match; refusing it before
        // hashing says nothing about the account.
        if password.chars().count() > PasswordPolicy::MAX_CHARS {
            return Err(AppError::InvalidCredentials);
        }
        let address = EmailAddress::parse(email).ok();
        let record = match address.clone() {
            Some(email) => {
                self.store
                    .read(move |c| customers::find_for_login(c, &email))
                    .await?
            }
            None => None,
        };
        let stored = record.as_ref().and_then(|r| r.password_hash.clone());
        let verdict = self
            .hasher
            .verify(password, stored.clone(), Requester::Client(client.ip))
            .await?;
        // A locked account refuses every password after the same work as any other refusal;
        // with sign-in codes on, the right one has a code emailed, after the answer.
        let record = match (record, address) {
            (Some(r), _) if r.status == Status::Active && !r.locked => r,
            (Some(r), Some(address))
                if r.status == Status::Active
                    && verdict.matches
                    && self.login_codes().enabled() =>
            {
                self.login_codes().mail_code_after_answer(address);
                return Err(AppError::EmailCodeRequired);
            }
            _ => return Err(AppError::InvalidCredentials),
        };
        if !verdict.matches {
            self.lockouts()
                .count_failed_password(record.id, stored, Some(client.clone()));
            return Err(AppError::InvalidCredentials);
        }
        self.throttles.login_succeeded(&account);
        let token = auth::new_session_token();
        let digest = auth::digest(&token);
        let (id, checked) = (record.id.clone(), stored.clone());
        let (services, opener) = (self.0.clone(), client.clone());
        let upgrade = verdict.upgrade;
        // The password may have changed (a reset, a PATCH) or the account been locked while it
        // was being checked: the session opens only if the hash checked is still the stored one
        // and the account is not locked. An imported hash is replaced by this product's own
        // in the same transaction.
        // With a second factor on, the sign-in opens a challenge instead of the session.
        let opened = self
            .store
            .write(move |tx| {
                if !still_current(tx, &id, &checked)? {
                    return Ok(None);
                }
                if let (Some(new), Some(old)) = (&upgrade, &checked) {
                    customers::replace_password_hash(tx, &id, old, new)?;
                }
                services
                    .sessions()
                    .open_session_or_challenge(tx, &id, &digest, &opener, "password")
                    .map(Some)
            })
            .await?
            .ok_or(AppError::InvalidCredentials)?;
        if verdict.needs_rehash {
            self.rehash_in_background(record.id, password.to_owned(), stored.unwrap_or_default());
        }
        self.answer(opened, token)
    }

    /// Opens a session for `customer` in the caller's transaction, as [`Self::open_session`],
    /// unless the customer has a second factor: then a challenge for it, opened instead.
    pub(super) fn open_session_or_challenge(
        &self,
        tx: &Db,
        customer: &CustomerId,
        token_digest: &[u8],
        client: &Client,
        method: &str,
    ) -> StoreResult<Opened> {
        if let Some(challenge) = self.totps().challenge_if_on(tx, customer, method)? {
            return Ok(Opened::Challenge(challenge));
        }
        self.open_session(tx, customer, token_digest, client, method)?;
        Ok(Opened::Session)
    }

    /// The answer to a sign-in once its write committed: the session's `token`, or the
    /// second factor's challenge.
    pub(super) fn answer(&self, opened: Opened, token: String) -> Result<String, AppError> {
        match opened {
            Opened::Session => {
                self.mailer.wake_worker();
                Ok(token)
            }
            Opened::Challenge(challenge) => Err(AppError::SecondFactorRequired { challenge }),
        }
    }

    /// Opens a session for `customer` in the caller's transaction, as every way of signing in
    /// does: the session row (authenticated now), the time of the last sign-in, the activity
    /// line saying how (`method`) and from where, and the new-device notice. Answers the
    /// session's public id. The caller wakes the mail worker after the commit.
    pub(super) fn open_session(
        &self,
        tx: &Db,
        customer: &CustomerId,
        token_digest: &[u8],
        client: &Client,
        method: &str,
    ) -> StoreResult<SessionId> {
        let ttl = hours(self.config.auth.token_ttl_hours.get());
        let session = sessions::create(tx, token_digest, customer, ttl, client)?;
        customers::mark_login(tx, customer)?;
        activity::record_login(tx, customer, method, client)?;
        self.notice_new_device(tx, customer, &session, client)?;
        Ok(session)
    }

    /// Records the device of a sign-in and, when the account has not used it in
    /// `auth.known_device_days`, emails the customer when, from where and on what, with a
    /// "this wasn't me" link. Not for the first sign-in after an activation or a reset.
    fn notice_new_device(
        &self,
        tx: &Db,
        customer: &CustomerId,
        session: &SessionId,
        client: &Client,
    ) -> StoreResult<()> {
        let settings = &self.config.auth;
        let device = auth::digest(&client.device());
        let known_for = (settings.known_device_days.get() * 24 * 3600) as i64;
        let known = devices::sign_in_from(tx, customer, &device, known_for)?;
        let exempt = devices::take_notice_exemption(tx, customer)?;
        if known || exempt || !settings.new_device_notice {
            return Ok(());
        }
        let key = LinkKey::generate();
        let reported = Reported {
            session_id: session.as_str().to_owned(),
            device,
        };
        let key_hash = auth::digest(key.as_str());
        devices::issue_not_me(tx, customer, &key_hash, &reported, NOT_ME_TTL_SECONDS)?;
        let vanished = || StoreError::Inconsistent(format!("customer {customer} vanished"));
        let identifier = customers::identifier_of(tx, customer)?.ok_or_else(vanished)?;
        let (email, name) = customers::contact(tx, customer)?.ok_or_else(vanished)?;
        let vars = Vars {
            name,
            email: email.clone(),
            link: Some(self.links.not_me(identifier.as_str(), key.as_str())),
            device: Some(crate::domain::device_name(client.user_agent.as_deref())),
            ip: Some(client.ip.to_string()),
            when: Some(crate::domain::utc_minute(crate::store::now())),
            ..Vars::default()
        };
        let language = customers::language_of(tx, customer)?;
        let notice = self
            .mailer
            .compose(Kind::NewSignIn, language.as_ref(), &email, &vars);
        outbox::enqueue(tx, customer, &notice)?;
        Ok(())
    }

    /// Fails with `ReauthenticationRequired` unless the session proved a credential within
    /// `auth.reauth_seconds`.
    pub fn require_recent(&self, session: &Session) -> Result<(), AppError> {
        let window = self.config.auth.reauth_seconds.get() as i64;
        match session.authenticated_at {
            Some(at) if crate::store::now() - at < window => Ok(()),
            _ => Err(AppError::ReauthenticationRequired),
        }
    }

    /// `POST /customers/reauthenticate` with a password: the caller's session counts as
    /// recently authenticated again. A wrong password is a failed login (it counts toward the
    /// lockout and draws on the same budgets), answered `InvalidCredentials`.
    pub async fn reauthenticate(&self, session: &Session, password: &str) -> Result<(), AppError> {
        self.throttles
            .check_ip(IpBudget::Login, session.client.ip)?;
        let id = session.customer.clone();
        let (email, _) = self
            .store
            .read(move |c| customers::contact(c, &id))
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let checked = self.check_own_password(session, &email, password).await?;
        let (id, token) = (session.customer.clone(), session.token_hash.clone());
        let done = self
            .store
            .write(move |tx| {
                Ok(still_current(tx, &id, &checked)? && sessions::mark_authenticated(tx, &token)?)
            })
            .await?;
        if done {
            Ok(())
        } else {
            Err(AppError::InvalidCredentials)
        }
    }

    /// Checks the caller's own password (their account's address is `email`) as a login does:
    /// the account's budget, a locked account accepting none, a wrong one counted toward the
    /// lockout, all answered `InvalidCredentials`. Answers the stored hash it matched, for the
    /// write that relies on it to check that it is still current.
    pub(super) async fn check_own_password(
        &self,
        session: &Session,
        email: &str,
        password: &str,
    ) -> Result<Option<String>, AppError> {
        // A password guess like a login: it draws on the same budget.
        self.throttles.reserve_login(email)?;
        if password.chars().count() > PasswordPolicy::MAX_CHARS {
            return Err(AppError::InvalidCredentials);
        }
        let id = session.customer.clone();
        let (stored, locked) = self
            .store
            .read(move |c| customers::login_state(c, &id))
            .await?;
        let verdict = self
            .hasher
            .verify(
                password,
                stored.clone(),
                Requester::Client(session.client.ip),
            )
            .await?;
        if locked {
            return Err(AppError::InvalidCredentials);
        }
        if !verdict.matches {
            self.lockouts().count_failed_password(
                session.customer.clone(),
                stored,
                Some(session.client.clone()),
            );
            return Err(AppError::InvalidCredentials);
        }
        self.throttles.login_succeeded(email);
        Ok(stored)
    }

    /// Re-hashes a password with the configured iteration count, after the login answered.
    fn rehash_in_background(&self, id: CustomerId, password: String, old_hash: String) {
        let services = self.0.clone();
        self.background.spawn(async move {
            let password = crate::domain::NewPassword::trusted(password);
            let result = async {
                let hash = services.hasher.hash(&password, Requester::Server).await?;
                services
                    .store
                    .write(move |tx| customers::replace_password_hash(tx, &id, &old_hash, &hash))
                    .await?;
                Ok::<_, AppError>(())
            };
            if let Err(e) = result.await {
                tracing::warn!(error = %e, "password rehash failed");
            }
        });
    }

    /// The session a bearer token opens, if it is live, presented by `client`.
    pub async fn authenticate(&self, token: &str, client: Client) -> Result<Session, AppError> {
        if !auth::looks_like_session_token(token) {
            return Err(AppError::Unauthenticated);
        }
        let token_hash = auth::digest(token);
        let lookup = token_hash.clone();
        let holder = self
            .store
            .read(move |c| sessions::holder_of(c, &lookup))
            .await?
            .ok_or(AppError::Unauthenticated)?;
        self.mark_used(&token_hash, holder.last_used_at);
        Ok(Session {
            customer: holder.customer,
            token_hash,
            client,
            authenticated_at: holder.authenticated_at,
        })
    }

    /// Marks a session used, at most once a minute and after the answer, so that the read
    /// path stays a read.
    pub(super) fn mark_used(&self, token_hash: &[u8], last_used_at: i64) {
        if !sessions::due_for_touch(last_used_at) {
            return;
        }
        let (services, token_hash) = (self.0.clone(), token_hash.to_vec());
        self.background.spawn(async move {
            if let Err(e) = services
                .store
                .write(move |tx| sessions::touch(tx, &token_hash))
                .await
            {
                tracing::debug!(error = %e, "a session's last use could not be recorded");
            }
        });
    }

    /// Ends the caller's session.
    pub async fn logout(&self, session: Session) -> Result<(), AppError> {
        self.store
            .write(move |tx| {
                sessions::end(tx, &session.token_hash)?;
                activity::record(
                    tx,
                    &session.customer,
                    ActivityKind::Logout,
                    Some(&session.client),
                )
            })
            .await?;
        Ok(())
    }
}
