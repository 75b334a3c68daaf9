//! Passkeys (WebAuthn): adding one to a signed-in account, listing and removing them, and
//! signing in with one; the ceremonies' challenges are kept in the database. The ceremonies
//! themselves (the options handed to the browser, the checks of its answers) are written once
//! here and used for staff passkeys too (`flows::staff_passkeys`).

use std::sync::Arc;

use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Uuid, Webauthn, WebauthnBuilder,
};

use super::Session;
use crate::auth;
use crate::config::RelyingParty;
use crate::domain::{ActivityKind, Client, CustomerId, PasskeyId, PasskeyName};
use crate::error::AppError;
use crate::mail::Kind;
use crate::store::passkeys::{self, BegunBy, NewChallenge, PasskeyView, Purpose};
use crate::store::{Outcome, StoreError, StoreResult, activity, customers, sessions};
use crate::throttle::IpBudget;

/// How long a begun ceremony can be finished, in seconds.
pub const CHALLENGE_TTL_SECONDS: i64 = 300;
/// The most unfinished ceremonies kept per client (an IPv4 address or an IPv6 /64, as the
/// throttles count clients); past it the oldest are dropped.
pub const CHALLENGES_PER_IP: usize = 16;
/// The most unfinished ceremonies kept in all.
pub const MAX_CHALLENGES: usize = 10_000;

/// A ceremony begun: the id to finish it with, and the options for the browser's
/// `navigator.credentials.create()` or `.get()`.
#[derive(Clone, Debug)]
pub struct Begun {
    pub challenge_id: String,
    pub options: Value,
}

/// A passkey being added: the ceremony it finishes, the browser's answer and its name.
#[derive(Clone, Debug)]
pub struct NewPasskey {
    pub challenge_id: String,
    pub credential: Value,
    pub name: Option<PasskeyName>,
}

/// A session opened with a passkey: its token, and the email of the account (for the audit
/// line, which names the account as a password login's does).
#[derive(Clone, Debug)]
pub struct PasskeySignIn {
    pub token: String,
    pub email: String,
}

/// The WebAuthn relying party of `rp`, for the services.
pub fn relying_party(rp: &RelyingParty) -> Result<Webauthn, AppError> {
    let (first, others) = rp
        .origins
        .split_first()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the relying party has no origin")))?;
    let mut builder = WebauthnBuilder::new(&rp.id, first)
        .map_err(|e| AppError::internal(anyhow::anyhow!("passkey relying party: {e}")))?
        .rp_name(&rp.name)
        .timeout(std::time::Duration::from_secs(CHALLENGE_TTL_SECONDS as u64))
        // A local demo runs on whatever port it is given.
        .allow_any_port(rp.id == "localhost");
    for origin in others {
        builder = builder.append_allowed_origin(origin);
    }
    builder
        .build()
        .map_err(|e| AppError::internal(anyhow::anyhow!("passkey relying party: {e}")))
}

flow_handle!(
    /// Passkeys: adding, listing and removing them, and signing in with one.
    Passkeys,
    passkeys
);

impl Passkeys<'_> {
    /// Whether passkeys are on (a relying party is configured).
    pub fn enabled(&self) -> bool {
        self.webauthn.is_some()
    }

    pub(super) fn relying(&self) -> Result<Arc<Webauthn>, AppError> {
        self.webauthn
            .clone()
            .ok_or_else(|| AppError::NotFound("passkeys are not enabled".into()))
    }

    /// Begins adding a passkey to the caller's account (a recently authenticated session
    /// only): a discoverable credential, bound to the customer's user handle, none of their
    /// passkeys again.
    pub async fn begin_registration(&self, session: &Session) -> Result<Begun, AppError> {
        self.throttles
            .check_ip(IpBudget::Login, session.client.ip)?;
        self.sessions().require_recent(session)?;
        let webauthn = self.relying()?;
        let customer = session.customer.clone();
        let (handle, exclude, contact) = self
            .store
            .write(move |tx| {
                Ok((
                    passkeys::user_handle(tx, &customer)?,
                    passkeys::credential_ids(tx, &customer)?,
                    customers::contact(tx, &customer)?,
                ))
            })
            .await?;
        let (email, name) = contact.ok_or(AppError::Unauthenticated)?;
        let display = name.unwrap_or_else(|| email.clone());
        let (options, state) = registration_options(&webauthn, &handle, &email, &display, exclude)?;
        let challenge_id = self
            .save_challenge(
                Purpose::Register,
                BegunBy::Customer(session.customer.clone()),
                session.client.ip,
                state,
            )
            .await?;
        Ok(Begun {
            challenge_id,
            options,
        })
    }

    /// Finishes adding a passkey: the ceremony must be one the caller began, unexpired and
    /// unused (it is used up either way), and the credential must verify and belong to no
    /// one yet. Recorded in the activity, and the customer is told by email.
    pub async fn finish_registration(
        &self,
        session: &Session,
        new: NewPasskey,
    ) -> Result<PasskeyView, AppError> {
        self.throttles
            .check_ip(IpBudget::Login, session.client.ip)?;
        let webauthn = self.relying()?;
        let credential: Option<RegisterPublicKeyCredential> =
            serde_json::from_value(new.credential).ok();
        let id_hash = auth::digest(&new.challenge_id);
        let name = new.name.unwrap_or_else(PasskeyName::unnamed);
        let (customer, client) = (session.customer.clone(), session.client.clone());
        let registrar = session.token_hash.clone();
        let services = self.0.clone();
        let added = self
            .store
            .write(move |tx| {
                let invalid = || AppError::InvalidCode {
                    field: "challenge_id",
                };
                let Some(taken) = passkeys::take_challenge(tx, &id_hash, Purpose::Register)? else {
                    return Ok(Outcome::Refused(invalid()));
                };
                if taken.by != BegunBy::Customer(customer.clone()) {
                    return Ok(Outcome::Refused(invalid()));
                }
                let Some(passkey) = registered(&webauthn, credential.as_ref(), &taken.state)?
                else {
                    return Ok(Outcome::Refused(refused_credential()));
                };
                let stored = serde_json::to_string(&passkey)
                    .map_err(|e| StoreError::BadValue(e.to_string()))?;
                // Which session added it: "this wasn't me" about that sign-in removes it.
                let session_id = sessions::public_id_of(tx, &registrar)?;
                let credential_id = passkey.cred_id();
                let view = match passkeys::insert(
                    tx,
                    &customer,
                    credential_id,
                    &name,
                    &stored,
                    session_id.as_deref(),
                ) {
                    Ok(view) => view,
                    Err(StoreError::Duplicate { .. }) => {
                        return Ok(Outcome::Refused(AppError::Conflict {
                            message: "this passkey is already registered".into(),
                            fields: [("credential".to_owned(), "is already registered".to_owned())]
                                .into(),
                        }));
                    }
                    Err(e) => return Err(e),
                };
                activity::record(tx, &customer, ActivityKind::PasskeyAdded, Some(&client))?;
                services
                    .profiles()
                    .queue_notice(tx, &customer, Kind::PasskeyAdded)?;
                Ok(Outcome::Done(view))
            })
            .await?
            .into_result()?;
        self.mailer.wake_worker();
        Ok(added)
    }

    /// The caller's passkeys, oldest first.
    pub async fn list(&self, session: &Session) -> Result<Vec<PasskeyView>, AppError> {
        self.throttles
            .check_ip(IpBudget::Codes, session.client.ip)?;
        let customer = session.customer.clone();
        Ok(self
            .store
            .read(move |c| passkeys::list(c, &customer))
            .await?)
    }

    /// Removes one of the caller's passkeys (a recently authenticated session only); it signs
    /// no one in from then on. Another customer's passkey, an unknown id and a string that is
    /// no passkey id answer the same "not found". The customer is told by email.
    pub async fn remove(&self, session: &Session, id: &str) -> Result<(), AppError> {
        self.throttles
            .check_ip(IpBudget::Codes, session.client.ip)?;
        self.sessions().require_recent(session)?;
        let not_found = || AppError::NotFound("there is no such passkey".into());
        let id = PasskeyId::parse(id).map_err(|_| not_found())?;
        let (customer, client) = (session.customer.clone(), session.client.clone());
        let services = self.0.clone();
        let removed = self
            .store
            .write(move |tx| {
                let removed = passkeys::delete(tx, &customer, &id)?;
                if removed {
                    activity::record(tx, &customer, ActivityKind::PasskeyRemoved, Some(&client))?;
                    services
                        .profiles()
                        .queue_notice(tx, &customer, Kind::PasskeyRemoved)?;
                }
                Ok(removed)
            })
            .await?;
        if !removed {
            return Err(not_found());
        }
        self.mailer.wake_worker();
        Ok(())
    }

    /// Begins a sign-in with whichever passkey of this site the browser offers. Draws on the
    /// login budget of the client's address.
    pub async fn begin_login(&self, client: &Client) -> Result<Begun, AppError> {
        self.begin_discoverable_login(client, Purpose::Login).await
    }

    /// Begins a sign-in of the kind `purpose` names (a customer's or a staff member's) with
    /// whichever passkey the browser offers; the finish checks whose it is.
    pub(super) async fn begin_discoverable_login(
        &self,
        client: &Client,
        purpose: Purpose,
    ) -> Result<Begun, AppError> {
        self.throttles.check_ip(IpBudget::Login, client.ip)?;
        let (options, state) = login_options(&*self.relying()?)?;
        let challenge_id = self
            .save_challenge(purpose, BegunBy::Nobody, client.ip, state)
            .await?;
        Ok(Begun {
            challenge_id,
            options,
        })
    }

    /// Finishes a sign-in with a passkey and opens a session exactly as a password login
    /// does. Every failure (unknown, used or expired challenge, unknown or removed passkey,
    /// a user handle that is not its owner's, a bad signature, a counter gone backwards)
    /// answers the same `InvalidCredentials`.
    pub async fn finish_login(
        &self,
        client: &Client,
        challenge_id: &str,
        credential: Value,
    ) -> Result<PasskeySignIn, AppError> {
        self.throttles.check_ip(IpBudget::Login, client.ip)?;
        let webauthn = self.relying()?;
        let credential: Option<PublicKeyCredential> = serde_json::from_value(credential).ok();
        let id_hash = auth::digest(challenge_id);
        let token = auth::new_session_token();
        let digest = auth::digest(&token);
        let (services, opener) = (self.0.clone(), client.clone());
        let email = self
            .store
            .write(move |tx| {
                let Some(owner) = verify_assertion(tx, &webauthn, &id_hash, credential)? else {
                    return Ok(Outcome::Refused(AppError::InvalidCredentials));
                };
                services
                    .sessions()
                    .open_session(tx, &owner, &digest, &opener, "passkey")?;
                let email = customers::contact(tx, &owner)?
                    .map(|(email, _)| email)
                    .unwrap_or_default();
                Ok(Outcome::Done(email))
            })
            .await?
            .into_result()?;
        self.mailer.wake_worker();
        Ok(PasskeySignIn { token, email })
    }

    /// `POST /customers/reauthenticate` with a passkey: an assertion from a ceremony begun
    /// with `POST /customers/passkey_login`, made by one of the caller's own passkeys. Every
    /// failure answers `InvalidCredentials`.
    pub async fn reauthenticate(
        &self,
        session: &Session,
        challenge_id: &str,
        credential: Value,
    ) -> Result<(), AppError> {
        self.throttles
            .check_ip(IpBudget::Login, session.client.ip)?;
        let webauthn = self.relying()?;
        let credential: Option<PublicKeyCredential> = serde_json::from_value(credential).ok();
        let id_hash = auth::digest(challenge_id);
        let (customer, token) = (session.customer.clone(), session.token_hash.clone());
        self.store
            .write(move |tx| {
                let owner = verify_assertion(tx, &webauthn, &id_hash, credential)?;
                if owner.as_ref() != Some(&customer) || !sessions::mark_authenticated(tx, &token)? {
                    return Ok(Outcome::Refused(AppError::InvalidCredentials));
                }
                Ok(Outcome::Done(()))
            })
            .await?
            .into_result()
    }

    /// Stores a begun ceremony under the digest of a fresh random id, and answers the id.
    pub(super) async fn save_challenge(
        &self,
        purpose: Purpose,
        by: BegunBy,
        ip: std::net::IpAddr,
        state: String,
    ) -> Result<String, AppError> {
        let challenge_id = auth::new_session_token();
        let id_hash = auth::digest(&challenge_id);
        let client_net = crate::throttle::client_net(ip).to_string();
        self.store
            .write(move |tx| {
                passkeys::save_challenge(
                    tx,
                    &NewChallenge {
                        id_hash: &id_hash,
                        purpose,
                        by: &by,
                        client_net: &client_net,
                        state: &state,
                        ttl_seconds: CHALLENGE_TTL_SECONDS,
                    },
                    CHALLENGES_PER_IP,
                    MAX_CHALLENGES,
                )
            })
            .await?;
        Ok(challenge_id)
    }
}

/// Uses up the sign-in ceremony `id_hash` and verifies the browser's assertion against it;
/// answers the customer whose passkey made it, or `None` for any failure (unknown, used or
/// expired challenge, unknown or removed passkey, a user handle that is not its owner's, a bad
/// signature, a counter gone backwards). The passkey's new counter is stored.
fn verify_assertion(
    tx: &crate::store::sql::Db,
    webauthn: &Webauthn,
    id_hash: &[u8],
    credential: Option<PublicKeyCredential>,
) -> StoreResult<Option<CustomerId>> {
    let Some(taken) = passkeys::take_challenge(tx, id_hash, Purpose::Login)? else {
        return Ok(None);
    };
    let Some(credential) = credential else {
        return Ok(None);
    };
    let mut owner = None;
    let Some(stored) = asserted(webauthn, &taken.state, &credential, |credential_id| {
        let found = passkeys::find_by_credential(tx, credential_id)?;
        Ok(found.map(|owned| {
            let known = (owned.handle.clone(), owned.credential.clone());
            owner = Some(owned);
            known
        }))
    })?
    else {
        return Ok(None);
    };
    let Some(owned) = owner else {
        return Ok(None);
    };
    passkeys::record_use(tx, &owned.id, &stored)?;
    Ok(Some(owned.customer))
}

/// The options of `navigator.credentials.create()` for a discoverable passkey of the account
/// with WebAuthn user handle `handle`, none of the credentials `exclude` again; and the
/// ceremony's state to store.
pub(super) fn registration_options(
    webauthn: &Webauthn,
    handle: &[u8],
    account: &str,
    display: &str,
    exclude: Vec<Vec<u8>>,
) -> Result<(Value, String), AppError> {
    let handle = Uuid::from_slice(handle).map_err(AppError::internal)?;
    let (creation, state) = webauthn
        .start_passkey_registration(handle, account, display, Some(exclude))
        .map_err(|e| AppError::internal(anyhow::anyhow!("passkey registration: {e}")))?;
    let mut options = serde_json::to_value(&creation).map_err(AppError::internal)?;
    // A passkey must be discoverable: sign-in asks for no email, so the authenticator has
    // to find the credential (and the account's handle) by itself.
    if let Some(selection) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(Value::as_object_mut)
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
    let state = serde_json::to_string(&state).map_err(AppError::internal)?;
    Ok((options, state))
}

/// The passkey a registration ceremony in `state` made, if the browser's `credential` is
/// well-formed and verifies.
pub(super) fn registered(
    webauthn: &Webauthn,
    credential: Option<&RegisterPublicKeyCredential>,
    state: &str,
) -> StoreResult<Option<Passkey>> {
    let Some(credential) = credential else {
        return Ok(None);
    };
    let state: PasskeyRegistration =
        serde_json::from_str(state).map_err(|e| StoreError::BadValue(e.to_string()))?;
    match webauthn.finish_passkey_registration(credential, &state) {
        Ok(passkey) => Ok(Some(passkey)),
        Err(e) => {
            tracing::info!(error = %e, "a passkey registration did not verify");
            Ok(None)
        }
    }
}

/// The options of `navigator.credentials.get()` for a sign-in with whichever passkey of this
/// site the browser offers, and the ceremony's state to store.
fn login_options(webauthn: &Webauthn) -> Result<(Value, String), AppError> {
    let (mut request, state) = webauthn
        .start_discoverable_authentication()
        .map_err(|e| AppError::internal(anyhow::anyhow!("passkey sign-in: {e}")))?;
    // The options serve a "Sign in with a passkey" button (the browser's own dialog); a
    // page that wants the autofill list adds `mediation: "conditional"` itself.
    request.mediation = None;
    let options = serde_json::to_value(&request).map_err(AppError::internal)?;
    let state = serde_json::to_string(&state).map_err(AppError::internal)?;
    Ok((options, state))
}

/// Verifies a sign-in assertion against the ceremony in `state`: `find` answers the stored
/// passkey of the credential id the browser names (its account's user handle and the
/// credential as stored), from the table of whoever may sign in here. Answers the credential
/// to store back (new counter and backup flags), or `None` for any failure: an unknown
/// credential, a user handle that is not its owner's, a bad signature, a counter gone
/// backwards.
pub(super) fn asserted(
    webauthn: &Webauthn,
    state: &str,
    credential: &PublicKeyCredential,
    find: impl FnOnce(&[u8]) -> StoreResult<Option<(Vec<u8>, String)>>,
) -> StoreResult<Option<String>> {
    let state: DiscoverableAuthentication =
        serde_json::from_str(state).map_err(|e| StoreError::BadValue(e.to_string()))?;
    let Ok((handle, credential_id)) = webauthn.identify_discoverable_authentication(credential)
    else {
        return Ok(None);
    };
    let Some((owner_handle, stored)) = find(credential_id)? else {
        return Ok(None);
    };
    // The authenticator names the account; it must be the credential's owner.
    if owner_handle != handle.as_bytes() {
        return Ok(None);
    }
    let mut passkey: Passkey =
        serde_json::from_str(&stored).map_err(|e| StoreError::BadValue(e.to_string()))?;
    let result = match webauthn.finish_discoverable_authentication_v2(credential, state, &passkey) {
        Ok(result) => result,
        Err(e) => {
            tracing::info!(error = %e, "a passkey sign-in did not verify");
            return Ok(None);
        }
    };
    // The library refused a counter that did not grow; keep the new one and the backup
    // flags, as it advises.
    passkey.update_credential(&result);
    let stored =
        serde_json::to_string(&passkey).map_err(|e| StoreError::BadValue(e.to_string()))?;
    Ok(Some(stored))
}

/// The answer to a credential that is malformed or does not verify.
pub(super) fn refused_credential() -> AppError {
    AppError::field("credential", "is not a valid passkey for this ceremony")
}
