use super::hours;
use crate::auth::{self, Requester};
use crate::domain::{ActivityKind, Client, CustomerId, EmailAddress, PasswordPolicy, Status};
use crate::error::AppError;
use crate::store::sql::Db;
use crate::store::{activity, customers, sessions};
use crate::throttle::IpBudget;

/// Opens a session for `customer` in the caller's transaction, as every way of signing in
/// does: the session row, the time of the last sign-in, and the activity line saying how
/// (`method`) and from where.
pub(super) fn open_session(
    tx: &Db,
    customer: &CustomerId,
    token_digest: &[u8],
    ttl_seconds: i64,
    client: &Client,
    method: &str,
) -> crate::store::StoreResult<()> {
    sessions::create(tx, token_digest, customer, ttl_seconds, client)?;
    customers::mark_login(tx, customer)?;
    activity::record_login(tx, customer, method, client)
}

/// An authenticated caller: the customer, the digest of the token they presented, and the
/// client presenting it.
#[derive(Clone, Debug)]
pub struct Session {
    pub customer: CustomerId,
    pub token_hash: Vec<u8>,
    pub client: Client,
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
    /// after `limits.login_lockout_failures` failures in a row (see `lockout`). A wrong password
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
        let record = match EmailAddress::parse(email) {
            Ok(email) => {
                self.store
                    .read(move |c| customers::find_for_login(c, &email))
                    .await?
            }
            Err(_) => None,
        };
        let stored = record.as_ref().and_then(|r| r.password_hash.clone());
        let verdict = self
            .hasher
            .verify(password, stored.clone(), Requester::Client(client.ip))
            .await?;
        // A locked account refuses every password after the same work as any other refusal.
        let record = match record {
            Some(r) if r.status == Status::Active && !r.locked => r,
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
        let ttl = hours(self.config.auth.token_ttl_hours.get());
        let (id, checked) = (record.id.clone(), stored.clone());
        let opener = client.clone();
        // The password may have changed (a reset, a PATCH) or the account been locked while it
        // was being checked: the session opens only if the hash checked is still the stored one
        // and the account is not locked.
        let opened = self
            .store
            .write(move |tx| {
                let (hash, locked) = customers::login_state(tx, &id)?;
                if hash != checked || locked {
                    return Ok(false);
                }
                customers::clear_failed_logins(tx, &id)?;
                open_session(tx, &id, &digest, ttl, &opener, "password")?;
                Ok(true)
            })
            .await?;
        if !opened {
            return Err(AppError::InvalidCredentials);
        }
        if verdict.needs_rehash {
            self.rehash_in_background(record.id, password.to_owned(), stored.unwrap_or_default());
        }
        Ok(token)
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
