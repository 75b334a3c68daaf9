//! Forgotten passwords: asking for a reset code (answered alike for every address, resolved
//! in the background) and using it for a random passphrase, returned as the reset JWT.

use crate::store::sql::Db;
use url::Url;

use crate::auth::{self, Requester};
use crate::domain::{
    ActivityKind, Client, CustomerId, EmailAddress, NewPassword, ResetCode, Status,
};
use crate::error::AppError;
use crate::mail::{Kind, Vars};
use crate::store::codes::{self, AddressCode, CodeCheck, Purpose};
use crate::store::requests::{Request, RequestKind};
use crate::store::{StoreResult, activity, customers, devices, outbox, sessions};
use crate::throttle::IpBudget;

flow_handle!(
    /// Forgotten passwords: asking for a reset code and using it.
    Resets,
    resets
);

impl Resets<'_> {
    /// Emails an active customer a link `<reset_uri>/<code>` to reset their password. Unknown
    /// and pending addresses get no email, and the caller cannot tell the difference: the
    /// request is stored (the same write for every address) and answered, then resolved in the
    /// background. The client IP has a budget (429 past it); an address gets at most 1 email a
    /// minute and 5 an hour, silently.
    pub async fn request_password_reset(
        &self,
        email: EmailAddress,
        reset_uri: Url,
        client: &Client,
    ) -> Result<(), AppError> {
        self.throttles.check_ip(IpBudget::Emails, client.ip)?;
        self.requests()
            .journal_request(Request {
                kind: RequestKind::PasswordReset,
                email: email.as_str().to_owned(),
                name: None,
                link_base: Some(reset_uri.to_string()),
                ip: Some(client.ip.to_string()),
                user_agent: client.user_agent.clone(),
                language: None,
                subscriptions: Vec::new(),
            })
            .await
    }

    /// Issues a reset code to the active customer with this address and queues its email, in
    /// the resolver's transaction, recording the request (with who asked) in the account's
    /// activity; false when there is no such customer.
    pub(super) fn queue_password_reset(
        &self,
        tx: &Db,
        email: &EmailAddress,
        reset_uri: &Url,
        asker: (Option<String>, Option<String>),
    ) -> StoreResult<ResetQueued> {
        let Some(record) = customers::find_for_login(tx, email)? else {
            return Ok(ResetQueued::NoAccount);
        };
        if record.status != Status::Active {
            return Ok(ResetQueued::AccountPending);
        }
        let code = ResetCode::generate();
        let ttl = (self.config.auth.reset_code_ttl_minutes.get() * 60) as i64;
        codes::issue(
            tx,
            &record.id,
            Purpose::PasswordReset,
            &auth::digest(code.as_str()),
            None,
            ttl,
        )?;
        // The new code's wrong tries start from none (they are counted per address).
        codes::clear_guesses(
            tx,
            AddressCode::PasswordReset,
            &auth::digest(email.as_str()),
        )?;
        let name = customers::contact(tx, &record.id)?.and_then(|(_, name)| name);
        let vars = Vars {
            name,
            email: email.to_string(),
            link: Some(self.links.password_reset(reset_uri, code.as_str())),
            ..Vars::default()
        };
        let language = customers::language_of(tx, &record.id)?;
        let message = self.mailer.compose(
            Kind::PasswordReset,
            language.as_ref(),
            email.as_str(),
            &vars,
        );
        outbox::enqueue(tx, &record.id, &message)?;
        let (ip, user_agent) = asker;
        activity::record_from(
            tx,
            &record.id,
            ActivityKind::PasswordResetRequested,
            ip,
            user_agent,
        )?;
        Ok(ResetQueued::Queued)
    }

    /// Takes an account back from whoever else may hold it, in the caller's transaction: every
    /// session ends, every code dies (pending email-change keys included), the password
    /// becomes unusable, and `email` (the owner's address) is sent a reset link to
    /// `links.reset_uri`. The sign-in that follows the reset sends no new-device notice.
    pub(super) fn take_account_back(
        &self,
        tx: &Db,
        id: &CustomerId,
        email: &EmailAddress,
        client: &Client,
    ) -> StoreResult<()> {
        sessions::end_all(tx, id, None)?;
        codes::revoke_all(tx, id)?;
        customers::disable_password(tx, id)?;
        devices::exempt_next_sign_in(tx, id)?;
        let asker = (Some(client.ip.to_string()), client.user_agent.clone());
        let reset_uri = self.links.configured_reset();
        self.queue_password_reset(tx, email, &reset_uri, asker)?;
        Ok(())
    }

    /// Resets the password of the customer whose reset code is right: a new random passphrase
    /// becomes the password, every session ends, every other code dies, and the customer is
    /// told by email. Answers the reset JWT: the passphrase, signed with the code as HMAC key.
    pub async fn reset_password(
        &self,
        email: &str,
        code: &str,
        client: &Client,
    ) -> Result<String, AppError> {
        self.throttles.check_ip(IpBudget::Codes, client.ip)?;
        let invalid = || AppError::InvalidCode { field: "code" };
        let Ok(email) = EmailAddress::parse(email) else {
            return Err(invalid());
        };
        let Ok(code) = ResetCode::parse(code) else {
            return Err(invalid());
        };
        let digest = auth::digest(code.as_str());
        let (lookup, check_digest) = (email.clone(), digest.clone());
        // A first look counts a wrong guess (in its own write transaction, so concurrent
        // guesses are counted one by one) before any hashing work is spent. It makes the same
        // read and the same write whether or not an account has the address, so that the time
        // of the answer tells nothing.
        let id = self
            .store
            .write(move |tx| {
                let address = auth::digest(lookup.as_str());
                codes::check_for_address(
                    tx,
                    AddressCode::PasswordReset,
                    &lookup,
                    &address,
                    &check_digest,
                )
            })
            .await?
            .ok_or_else(invalid)?;
        let passphrase = NewPassword::trusted(auth::new_passphrase());
        let hash = self
            .hasher
            .hash(&passphrase, Requester::Client(client.ip))
            .await?;
        let mailer = self.mailer.clone();
        let client = client.clone();
        // Consuming the code and setting the password happen in one transaction: of concurrent
        // resets with one code, exactly one finds the code still there.
        let reset = self
            .store
            .write(move |tx| {
                let check = codes::check(tx, &id, Purpose::PasswordReset, &digest, true)?;
                if check == CodeCheck::Invalid {
                    return Ok(false);
                }
                customers::set_password(tx, &id, &hash)?;
                sessions::end_all(tx, &id, None)?;
                codes::revoke_all(tx, &id)?;
                devices::exempt_next_sign_in(tx, &id)?;
                activity::record(tx, &id, ActivityKind::PasswordResetCompleted, Some(&client))?;
                let name = customers::contact(tx, &id)?.and_then(|(_, name)| name);
                let vars = Vars {
                    name,
                    email: email.to_string(),
                    ..Vars::default()
                };
                let language = customers::language_of(tx, &id)?;
                let notice = mailer.compose(
                    Kind::PasswordResetDone,
                    language.as_ref(),
                    email.as_str(),
                    &vars,
                );
                outbox::enqueue(tx, &id, &notice)?;
                Ok(true)
            })
            .await?;
        if !reset {
            return Err(invalid());
        }
        self.mailer.wake_worker();
        auth::reset_token(passphrase.expose(), code.as_str())
    }
}

/// What a password reset request for an address came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ResetQueued {
    Queued,
    /// No account has the address: nothing is sent, and nothing is said.
    NoAccount,
    /// The account was never activated: it has no password to reset.
    AccountPending,
}
