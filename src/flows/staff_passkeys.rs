//! Staff passkeys: a staff member adds, lists and removes their own, and signs in to the
//! console with one. The WebAuthn ceremonies are the customers' (`flows::passkeys`); the
//! credentials are stored apart (`store::staff_passkeys`) and each ceremony is finished only
//! for the purpose it was begun for, so a customer's passkey never signs a staff member in,
//! nor the other way round. A passkey is both factors: adding one enrolls a second factor
//! (the enrolling session may then do everything its role may), and signing in with one opens
//! a full session. Every change and sign-in is in the audit log.

use std::net::IpAddr;

use serde_json::Value;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::audit::AuditLine;
use super::hours;
use super::passkeys::{
    Begun, NewPasskey, asserted, refused_credential, registered, registration_options,
};
use super::staff::StaffSession;
use super::staff::actions::{PASSKEY_ADDED, PASSKEY_REMOVED, STAFF_LOGIN};
use crate::auth;
use crate::domain::{Client, PasskeyId, PasskeyName};
use crate::error::AppError;
use crate::store::passkeys::{self, BegunBy, PasskeyView, Purpose};
use crate::store::{Outcome, StoreError, staff, staff_passkeys};
use crate::throttle::IpBudget;

flow_handle!(
    /// Staff members' passkeys: adding, listing and removing them, and signing in with one.
    StaffPasskeys,
    staff_passkeys
);

impl StaffPasskeys<'_> {
    /// `POST /admin/staff/passkeys/register`: begins adding a passkey to the caller (a session
    /// that may only enroll a second factor too): discoverable, bound to the member's own user
    /// handle, none of their passkeys again.
    pub async fn begin_registration(
        &self,
        session: &StaffSession,
        ip: IpAddr,
    ) -> Result<Begun, AppError> {
        self.throttles.check_ip(IpBudget::Login, ip)?;
        let webauthn = self.passkeys().relying()?;
        let id = session.member.id;
        let (handle, exclude) = self
            .store
            .write(move |tx| {
                Ok((
                    staff_passkeys::user_handle(tx, id)?,
                    staff_passkeys::credential_ids(tx, id)?,
                ))
            })
            .await?;
        let member = &session.member;
        let display = member.name.clone().unwrap_or_else(|| member.email.clone());
        let (options, state) =
            registration_options(&webauthn, &handle, &member.email, &display, exclude)?;
        let challenge_id = self
            .passkeys()
            .save_challenge(Purpose::StaffRegister, BegunBy::Staff(id), ip, state)
            .await?;
        Ok(Begun {
            challenge_id,
            options,
        })
    }

    /// `POST /admin/staff/passkeys/register/finish`: the ceremony must be one the caller began,
    /// unexpired and unused (it is used up either way), and the credential must verify and be
    /// registered to no one yet. The passkey counts as the member's second factor at once.
    pub async fn finish_registration(
        &self,
        session: &StaffSession,
        ip: IpAddr,
        new: NewPasskey,
    ) -> Result<PasskeyView, AppError> {
        self.throttles.check_ip(IpBudget::Login, ip)?;
        let webauthn = self.passkeys().relying()?;
        let credential: Option<RegisterPublicKeyCredential> =
            serde_json::from_value(new.credential).ok();
        let id_hash = auth::digest(&new.challenge_id);
        let name = new.name.unwrap_or_else(PasskeyName::unnamed);
        let (id, token_hash) = (session.member.id, session.token_hash.clone());
        let line = AuditLine::of_staff_member(
            &session.member.email,
            ip,
            PASSKEY_ADDED,
            format!("added the passkey “{}”", name.as_str()),
        );
        self.store
            .write(move |tx| {
                let invalid = || AppError::InvalidCode {
                    field: "challenge_id",
                };
                let Some(taken) = passkeys::take_challenge(tx, &id_hash, Purpose::StaffRegister)?
                else {
                    return Ok(Outcome::Refused(invalid()));
                };
                if taken.by != BegunBy::Staff(id) {
                    return Ok(Outcome::Refused(invalid()));
                }
                let Some(passkey) = registered(&webauthn, credential.as_ref(), &taken.state)?
                else {
                    return Ok(Outcome::Refused(refused_credential()));
                };
                let stored = serde_json::to_string(&passkey)
                    .map_err(|e| StoreError::BadValue(e.to_string()))?;
                let view = match staff_passkeys::insert(tx, id, passkey.cred_id(), &name, &stored) {
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
                staff::pass_second_factor(tx, id, &token_hash)?;
                line.write(tx, None)?;
                Ok(Outcome::Done(view))
            })
            .await?
            .into_result()
    }

    /// `GET /admin/staff/passkeys`: the caller's passkeys, oldest first.
    pub async fn list(&self, session: &StaffSession) -> Result<Vec<PasskeyView>, AppError> {
        let id = session.member.id;
        Ok(self
            .store
            .read(move |c| staff_passkeys::list(c, id))
            .await?)
    }

    /// `DELETE /admin/staff/passkeys/{id}`: removes one of the caller's passkeys; it signs no
    /// one in from then on. Another member's passkey, an unknown id and a string that is no
    /// passkey id answer the same "not found".
    pub async fn remove(
        &self,
        session: &StaffSession,
        ip: IpAddr,
        id: &str,
    ) -> Result<(), AppError> {
        self.throttles.check_ip(IpBudget::Codes, ip)?;
        let not_found = || AppError::NotFound("there is no such passkey".into());
        let passkey = PasskeyId::parse(id).map_err(|_| not_found())?;
        let (member, email) = (session.member.id, session.member.email.clone());
        let removed = self
            .store
            .write(move |tx| {
                let Some(name) = staff_passkeys::delete(tx, member, &passkey)? else {
                    return Ok(false);
                };
                AuditLine::of_staff_member(
                    &email,
                    ip,
                    PASSKEY_REMOVED,
                    format!("removed the passkey “{name}”"),
                )
                .write(tx, None)?;
                Ok(true)
            })
            .await?;
        if removed { Ok(()) } else { Err(not_found()) }
    }

    /// `POST /admin/staff/passkey_login`: begins a sign-in with whichever staff passkey of this
    /// site the browser offers. Draws on the login budget of the client's address.
    pub async fn begin_login(&self, client: &Client) -> Result<Begun, AppError> {
        self.passkeys()
            .begin_discoverable_login(client, Purpose::StaffLogin)
            .await
    }

    /// `POST /admin/staff/passkey_login/finish`: a staff passkey's assertion opens a full staff
    /// session (a passkey is both factors), lasting as a password sign-in's does. Every failure
    /// (unknown, used or expired challenge, a customer's passkey or an unknown one, a user
    /// handle that is not its owner's, a bad signature, a counter gone backwards, a member
    /// locked after wrong passwords) answers the same `InvalidCredentials`, and is audited.
    pub async fn finish_login(
        &self,
        client: &Client,
        challenge_id: &str,
        credential: Value,
    ) -> Result<String, AppError> {
        self.throttles.check_ip(IpBudget::Login, client.ip)?;
        let webauthn = self.passkeys().relying()?;
        let credential: Option<PublicKeyCredential> = serde_json::from_value(credential).ok();
        let id_hash = auth::digest(challenge_id);
        let token = auth::new_session_token();
        let digest = auth::digest(&token);
        let ttl = hours(self.config.console.session_hours.get());
        let ip = client.ip;
        self.store
            .write(move |tx| {
                let refused = |email: Option<&str>, why: &str| {
                    let detail = format!("passkey sign-in refused: {why}");
                    match email {
                        Some(email) => AuditLine::of_staff_member(email, ip, STAFF_LOGIN, detail),
                        None => AuditLine::of_visitor(ip, STAFF_LOGIN, detail),
                    }
                };
                let Some(taken) = passkeys::take_challenge(tx, &id_hash, Purpose::StaffLogin)?
                else {
                    refused(None, "an unknown, used or expired challenge").write(tx, None)?;
                    return Ok(Outcome::Refused(AppError::InvalidCredentials));
                };
                let Some(credential) = credential else {
                    refused(None, "a malformed credential").write(tx, None)?;
                    return Ok(Outcome::Refused(AppError::InvalidCredentials));
                };
                let mut owner = None;
                let stored = asserted(&webauthn, &taken.state, &credential, |credential_id| {
                    let found = staff_passkeys::find_by_credential(tx, credential_id)?;
                    Ok(found.map(|owned| {
                        let known = (owned.handle.clone(), owned.credential.clone());
                        owner = Some(owned);
                        known
                    }))
                })?;
                let (owned, stored) = match (owner, stored) {
                    (Some(owned), Some(stored)) => (owned, stored),
                    (Some(owned), None) => {
                        refused(Some(&owned.email), "the passkey's answer did not verify")
                            .write(tx, None)?;
                        return Ok(Outcome::Refused(AppError::InvalidCredentials));
                    }
                    (None, _) => {
                        refused(None, "no staff member has this passkey").write(tx, None)?;
                        return Ok(Outcome::Refused(AppError::InvalidCredentials));
                    }
                };
                if owned.locked {
                    refused(Some(&owned.email), "locked after repeated wrong passwords")
                        .write(tx, None)?;
                    return Ok(Outcome::Refused(AppError::InvalidCredentials));
                }
                staff_passkeys::record_use(tx, &owned.id, &stored)?;
                staff::open_session(tx, &digest, owned.staff_id, ttl, true, &ip.to_string())?;
                AuditLine::of_staff_member(
                    &owned.email,
                    ip,
                    STAFF_LOGIN,
                    "signed in with a passkey",
                )
                .write(tx, None)?;
                Ok(Outcome::Done(()))
            })
            .await?
            .into_result()?;
        Ok(token)
    }
}
