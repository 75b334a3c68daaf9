//! The retailer's staff: invitations (`customer-area staff add|reset`), their activation,
//! signing in and out, and the check of a staff token on `/admin`. Staff sign-in is throttled
//! like a customer's (the same per-IP and per-account budgets, the same hashing lane) and a
//! member is locked after `limits.login_lockout_failures` wrong passwords in a row, until
//! `staff reset`.

use std::net::IpAddr;

use subtle::ConstantTimeEq;
use url::Url;

use super::audit::AuditLine;
use super::hours;
use crate::auth::{self, Requester};
use crate::config::SecondFactorRule;
use crate::domain::{ActivationSecret, Client, EmailAddress, Identifier, PasswordPolicy, Role};
use crate::error::AppError;
use crate::mail::{Kind, Vars};
use crate::store::outbox;
use crate::store::staff::{self, Invitation, Member, Removal, RoleChange};
use crate::throttle::IpBudget;

/// A signed-in staff member: who, the digest of their token, and whether the session passed
/// the second factor (otherwise it may only enroll one).
#[derive(Clone, Debug)]
pub struct StaffSession {
    pub member: Member,
    pub token_hash: Vec<u8>,
    pub second_factor: bool,
}

/// Who calls `/admin`: the machine token or a staff member.
#[derive(Clone, Debug)]
pub enum Actor {
    /// `admin.api_token`: every right.
    ApiToken,
    Staff(StaffSession),
}

/// An authenticated caller of `/admin` and the address they call from.
#[derive(Clone, Debug)]
pub struct Caller {
    pub actor: Actor,
    pub ip: IpAddr,
}

impl Caller {
    /// How the audit log names the caller: `api_token` or `staff:<email>`.
    pub fn name(&self) -> String {
        match &self.actor {
            Actor::ApiToken => "api_token".to_owned(),
            Actor::Staff(session) => format!("staff:{}", session.member.email),
        }
    }

    /// The caller's role; the machine token has every right.
    pub fn role(&self) -> Role {
        match &self.actor {
            Actor::ApiToken => Role::Owner,
            Actor::Staff(session) => session.member.role,
        }
    }
}

/// The audit log's names of what is done to and by staff.
pub mod actions {
    /// The staff's changes, also the operation ids of their `/admin` routes, so that a change
    /// reads the same in the log whether the console or the CLI made it.
    pub const ADD_STAFF: &str = "addStaff";
    pub const REMOVE_STAFF: &str = "removeStaff";
    pub const RESET_STAFF: &str = "resetStaff";
    pub const CHANGE_STAFF_ROLE: &str = "changeStaffRole";
    /// A staff member's own account.
    pub const STAFF_LOGIN: &str = "staff.login";
    pub const STAFF_LOGOUT: &str = "staff.logout";
    pub const SECOND_FACTOR_ENROLLED: &str = "staff.second_factor_enrolled";
    /// A staff member's passkeys (signing in with one is a `staff.login`).
    pub const PASSKEY_ADDED: &str = "staff.passkey_added";
    pub const PASSKEY_REMOVED: &str = "staff.passkey_removed";
}
use actions::{STAFF_LOGIN, STAFF_LOGOUT};

/// An invitation just written: the link it carries (printed by the CLI, emailed too).
#[derive(Clone, Debug)]
pub struct Invited {
    pub email: String,
    pub link: String,
}

flow_handle!(
    /// The retailer's staff and their sessions.
    Staff,
    staff
);

impl Staff<'_> {
    /// Adds a staff member with `role` (and a `name` already checked as a profile name) and
    /// emails them an invitation to choose a password; `line` (of [`ADD_STAFF`]) records who
    /// did, in the same transaction. A taken address is a `conflict` on `email`.
    pub async fn add(
        &self,
        email: EmailAddress,
        role: Role,
        name: Option<String>,
        line: AuditLine,
    ) -> Result<(Invited, Member), AppError> {
        let (identifier, secret) = (Identifier::random(), ActivationSecret::generate());
        let link = self.invitation_link(&identifier, &secret);
        let vars = Vars {
            name: name.clone(),
            email: email.as_str().to_owned(),
            link: Some(link.clone()),
            ..Vars::default()
        };
        let message = self
            .mailer
            .compose(Kind::StaffInvitation, None, email.as_str(), &vars);
        let expires_at = self.invitation_expiry();
        let line = line.saying(format!("invited {} as {role}", email.as_str()));
        let member = self
            .store
            .write(move |tx| {
                let digest = auth::digest(secret.as_str());
                let invitation = Invitation {
                    identifier: &identifier,
                    secret_hash: &digest,
                    expires_at,
                };
                let id = staff::add(tx, &email, name.as_deref(), role, &invitation)?;
                outbox::enqueue_for_no_customer(tx, &message)?;
                line.write(tx, None)?;
                staff::find(tx, id)
            })
            .await?
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("a staff member just added")))?;
        self.mailer.wake_worker();
        let invited = Invited {
            email: vars.email,
            link,
        };
        Ok((invited, member))
    }

    /// Every staff member.
    pub async fn list(&self) -> Result<Vec<Member>, AppError> {
        Ok(self.store.read(staff::list).await?)
    }

    /// Removes a staff member; their sessions end at once. The shop's last owner is not
    /// removed (`LastOwner`). `line` (of [`actions::REMOVE_STAFF`]) records who did, in the same
    /// transaction.
    pub async fn remove(&self, email: &str, line: AuditLine) -> Result<Member, AppError> {
        let email = email.trim().to_lowercase();
        let shown = email.clone();
        let line = line.saying(format!("removed {email}; their sessions ended"));
        let removal = self
            .store
            .write(move |tx| {
                let removal = staff::remove(tx, &email)?;
                if let Removal::Removed(_) = removal {
                    line.write(tx, None)?;
                }
                Ok(removal)
            })
            .await?;
        match removal {
            Removal::Removed(member) => Ok(member),
            Removal::NoSuchMember => Err(no_such_member(&shown)),
            Removal::LastOwner => Err(AppError::LastOwner(shown)),
        }
    }

    /// Gives a staff member another role; their sessions end at once, so that the new role
    /// applies to their next request. Answers the member and whether the role changed: the
    /// role they have already changes nothing and is not recorded; a change is, by `line` (of
    /// [`actions::CHANGE_STAFF_ROLE`]) in the same transaction. The shop's last owner stays an
    /// owner (`LastOwner`).
    pub async fn change_role(
        &self,
        email: &str,
        role: Role,
        line: AuditLine,
    ) -> Result<(Member, bool), AppError> {
        let email = email.trim().to_lowercase();
        let shown = email.clone();
        let change = self
            .store
            .write(move |tx| {
                let change = staff::change_role(tx, &email, role)?;
                if let RoleChange::Changed(member) = &change {
                    line.saying(format!(
                        "made {} {role}; their sessions ended",
                        member.email
                    ))
                    .write(tx, None)?;
                }
                Ok(change)
            })
            .await?;
        match change {
            RoleChange::Changed(member) => Ok((member, true)),
            RoleChange::Unchanged(member) => Ok((member, false)),
            RoleChange::NoSuchMember => Err(no_such_member(&shown)),
            RoleChange::LastOwner => Err(AppError::LastOwner(shown)),
        }
    }

    /// A new invitation for a staff member: password and second factor cleared, the lockout
    /// lifted, sessions ended; emailed like the first. `line` (of [`actions::RESET_STAFF`]) records who
    /// did, in the same transaction.
    pub async fn reset(&self, email: &str, line: AuditLine) -> Result<Invited, AppError> {
        let email = email.trim().to_lowercase();
        let lookup = email.clone();
        let member = self
            .store
            .read(move |c| staff::find_by_email(c, &lookup))
            .await?
            .ok_or_else(|| no_such_member(&email))?;
        let (identifier, secret) = (Identifier::random(), ActivationSecret::generate());
        let link = self.invitation_link(&identifier, &secret);
        let vars = Vars {
            name: member.name.clone(),
            email: member.email.clone(),
            link: Some(link.clone()),
            ..Vars::default()
        };
        let message = self
            .mailer
            .compose(Kind::StaffInvitation, None, &member.email, &vars);
        let expires_at = self.invitation_expiry();
        let line = line.saying(format!(
            "sent {} a new invitation; password and second factor cleared, sessions ended",
            member.email
        ));
        let found = self
            .store
            .write(move |tx| {
                let digest = auth::digest(secret.as_str());
                let invitation = Invitation {
                    identifier: &identifier,
                    secret_hash: &digest,
                    expires_at,
                };
                if !staff::reset(tx, &member.email, &invitation)? {
                    return Ok(false);
                }
                outbox::enqueue_for_no_customer(tx, &message)?;
                line.write(tx, None)?;
                Ok(true)
            })
            .await?;
        if !found {
            return Err(no_such_member(&email));
        }
        self.mailer.wake_worker();
        Ok(Invited {
            email: vars.email,
            link,
        })
    }

    /// `POST /admin/staff/activate`: chooses the password of an invitation. A wrong, used or
    /// expired invitation is `invalid_code` on `secret`; the password rules speak only once it
    /// is right. Draws on the per-IP budget of codes.
    pub async fn activate(
        &self,
        identifier: &str,
        secret: &str,
        password: &str,
        password_check: &str,
        client: &Client,
    ) -> Result<(), AppError> {
        self.throttles.check_ip(IpBudget::Codes, client.ip)?;
        let invalid = AppError::InvalidCode { field: "secret" };
        let (Ok(secret), Ok(identifier)) = (
            ActivationSecret::parse(secret),
            Identifier::parse(identifier),
        ) else {
            return Err(invalid);
        };
        let digest = auth::digest(secret.as_str());
        let (lookup, check) = (identifier.as_str().to_owned(), digest.clone());
        let live = self
            .store
            .read(move |c| staff::invitation_is_live(c, &lookup, &check))
            .await?;
        if !live {
            return Err(invalid);
        }
        let password = self
            .profiles()
            .new_password(password, password_check, None)?;
        let hash = self
            .hasher
            .hash(&password, Requester::Client(client.ip))
            .await?;
        let identifier = identifier.as_str().to_owned();
        // Of concurrent attempts with the same secret, exactly one closes the invitation.
        let accepted = self
            .store
            .write(move |tx| staff::accept_invitation(tx, &identifier, &digest, &hash))
            .await?;
        if accepted { Ok(()) } else { Err(invalid) }
    }

    /// `POST /admin/staff/login`: checks email and password and opens a staff session,
    /// answering its token; a member with a second factor gets `SecondFactorRequired` with a
    /// challenge to answer instead. Unknown address, wrong password, a member not yet activated or
    /// locked all fail alike after the same work, throttled as a customer's login is.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: &Client,
    ) -> Result<String, AppError> {
        self.throttles.check_ip(IpBudget::Login, client.ip)?;
        let account = format!("staff:{}", email.trim().to_lowercase());
        self.throttles.reserve_login(&account)?;
        if password.chars().count() > PasswordPolicy::MAX_CHARS {
            return Err(AppError::InvalidCredentials);
        }
        let lookup = email.trim().to_lowercase();
        let member = self
            .store
            .read(move |c| staff::find_by_email(c, &lookup))
            .await?;
        let stored = member.as_ref().and_then(|m| m.password_hash.clone());
        let verdict = self
            .hasher
            .verify(password, stored.clone(), Requester::Client(client.ip))
            .await?;
        let Some(member) = member else {
            self.audit_refusal(AuditLine::of_visitor(
                client.ip,
                STAFF_LOGIN,
                "sign-in refused: no staff member has the address given",
            ));
            return Err(AppError::InvalidCredentials);
        };
        let refused = |why: &str| {
            AuditLine::of_staff_member(
                &member.email,
                client.ip,
                STAFF_LOGIN,
                format!("sign-in refused: {why}"),
            )
        };
        let Some(checked) = stored else {
            self.audit_refusal(refused("the invitation is not yet accepted"));
            return Err(AppError::InvalidCredentials);
        };
        if member.locked {
            self.audit_refusal(refused("locked after repeated wrong passwords"));
            return Err(AppError::InvalidCredentials);
        }
        if !verdict.matches {
            self.count_failed_password(member.id, checked, refused("wrong password"));
            return Err(AppError::InvalidCredentials);
        }
        self.throttles.login_succeeded(&account);
        if member.has_passkey && !member.has_totp {
            // The member's second factor is a passkey, which signs in alone.
            self.audit_refusal(refused(
                "the password is right; this member signs in with their passkey",
            ));
            return Err(AppError::PasskeyRequired);
        }
        if member.has_second_factor {
            let challenge = self.second_factors().challenge(member.id, client).await?;
            return Err(AppError::SecondFactorRequired { challenge });
        }
        let second_factor = !self.second_factor_required(&member);
        let token = auth::new_session_token();
        let digest = auth::digest(&token);
        let ttl = hours(self.config.console.session_hours.get());
        let ip = client.ip.to_string();
        let detail = if second_factor {
            "signed in with a password"
        } else {
            "signed in with a password; the session may only enroll a second factor"
        };
        let line = AuditLine::of_staff_member(&member.email, client.ip, STAFF_LOGIN, detail);
        let opened = self
            .store
            .write(move |tx| {
                if !staff::still_current(tx, member.id, &checked)? {
                    return Ok(false);
                }
                staff::open_session(tx, &digest, member.id, ttl, second_factor, &ip)?;
                line.write(tx, None)?;
                Ok(true)
            })
            .await?;
        if opened {
            Ok(token)
        } else {
            Err(AppError::InvalidCredentials)
        }
    }

    /// Whether `console.second_factor` asks one of this member.
    fn second_factor_required(&self, member: &Member) -> bool {
        match self.config.console.second_factor {
            SecondFactorRule::Required => true,
            SecondFactorRule::Owner => member.role == Role::Owner,
            SecondFactorRule::Optional => false,
        }
    }

    /// Records a refused sign-in after the answer, so that writing it costs the caller no
    /// time that could tell one refusal from another.
    fn audit_refusal(&self, line: AuditLine) {
        let services = self.0.clone();
        self.background.spawn(async move {
            let written = services.store.write(move |tx| line.write(tx, None)).await;
            if let Err(e) = written {
                tracing::warn!(error = %e, "a refused staff sign-in could not be audited");
            }
        });
    }

    /// Counts a wrong password after the answer, with its audit line; the failure that
    /// reaches the limit locks the member.
    fn count_failed_password(&self, id: i64, checked: String, line: AuditLine) {
        let services = self.0.clone();
        let limit = self.config.limits.login_lockout_failures.get();
        self.background.spawn(async move {
            let locked = services
                .store
                .write(move |tx| {
                    line.write(tx, None)?;
                    staff::count_failed_login(tx, id, Some(&checked), limit)
                })
                .await;
            match locked {
                Ok(true) => {
                    tracing::warn!(target: "customer_area::audit", staff = id, "staff member locked after repeated failed logins");
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "a failed staff login could not be counted"),
            }
        });
    }

    /// Who presents `token` on `/admin` from `ip`: the machine token (when `admin.api_token` is
    /// set) or a live staff session; `Unauthenticated` for anything else (a customer's token
    /// too). Wrong tokens are throttled per client, as wrong admin tokens always were.
    pub async fn identify(&self, token: &str, ip: IpAddr) -> Result<Caller, AppError> {
        let configured = self.config.admin.api_token.expose();
        let is_api_token = !configured.is_empty()
            && bool::from(auth::digest(token).ct_eq(&auth::digest(configured)));
        match self.throttles.check_admin_token(ip, || is_api_token) {
            Ok(()) => {
                return Ok(Caller {
                    actor: Actor::ApiToken,
                    ip,
                });
            }
            Err(AppError::Unauthenticated) => {}
            Err(refused) => return Err(refused),
        }
        let session = self
            .authenticate(token)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        self.throttles.admin_caller_known(ip);
        Ok(Caller {
            actor: Actor::Staff(session),
            ip,
        })
    }

    /// The staff session of a bearer token, if it is live and has not been idle for
    /// `console.idle_minutes`; `None` for anything else.
    pub async fn authenticate(&self, token: &str) -> Result<Option<StaffSession>, AppError> {
        if !auth::looks_like_session_token(token) {
            return Ok(None);
        }
        let token_hash = auth::digest(token);
        let lookup = token_hash.clone();
        let idle = (self.config.console.idle_minutes.get() * 60) as i64;
        let Some(holder) = self
            .store
            .read(move |c| staff::session_holder(c, &lookup, idle))
            .await?
        else {
            return Ok(None);
        };
        if crate::store::sessions::due_for_touch(holder.last_used_at) {
            let (services, token_hash) = (self.0.clone(), token_hash.clone());
            self.background.spawn(async move {
                let touched = services
                    .store
                    .write(move |tx| staff::touch_session(tx, &token_hash))
                    .await;
                if let Err(e) = touched {
                    tracing::debug!(error = %e, "a staff session's last use could not be recorded");
                }
            });
        }
        Ok(Some(StaffSession {
            member: holder.member,
            token_hash,
            second_factor: holder.second_factor,
        }))
    }

    /// Ends the caller's staff session (signed out from `ip`), and records it.
    pub async fn logout(&self, session: &StaffSession, ip: IpAddr) -> Result<(), AppError> {
        let token_hash = session.token_hash.clone();
        let line =
            AuditLine::of_staff_member(&session.member.email, ip, STAFF_LOGOUT, "signed out");
        self.store
            .write(move |tx| {
                staff::end_session(tx, &token_hash)?;
                line.write(tx, None)
            })
            .await?;
        Ok(())
    }

    /// `<public_url>/console/activate?identifier=&secret=`.
    fn invitation_link(&self, identifier: &Identifier, secret: &ActivationSecret) -> String {
        let mut url: Url = self.config.public_url();
        let path = format!("{}/console/activate", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.query_pairs_mut()
            .append_pair("identifier", identifier.as_str())
            .append_pair("secret", secret.as_str());
        url.to_string()
    }

    /// When an invitation written now ends (`auth.activation_ttl_hours`, as a customer's).
    fn invitation_expiry(&self) -> i64 {
        crate::store::now() + hours(self.config.auth.activation_ttl_hours.get())
    }
}

fn no_such_member(email: &str) -> AppError {
    AppError::NotFound(format!("no staff member has the address {email}"))
}
