//! Creating customers (by an admin, an import or a sign-up) with their activation email, and
//! activating an account with the emailed secret and a first password.

use crate::store::sql::Db;
use url::Url;

use super::{Event, hours};
use crate::auth::{self, Requester};
use crate::domain::{
    ActivationSecret, ActivityKind, Client, CustomerId, EmailAddress, Identifier, Language,
    ProfileChanges, ProfileField, Status,
};
use crate::error::AppError;
use crate::mail::{Kind, Vars};
use crate::store::codes::{self, CodeCheck, Purpose};
use crate::store::{Outcome, StoreError, activity, customers, outbox, sign_ups, subscriptions};
use crate::throttle::IpBudget;

/// A customer to create (by an admin, an import or a sign-up).
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub email: EmailAddress,
    pub name: Option<String>,
    pub identifier: Option<Identifier>,
    pub profile: ProfileChanges,
    /// Queue the activation email (otherwise the customer stays pending until one is sent).
    pub send_activation: bool,
    /// Where the activation link points, instead of `links.activate_uri`.
    pub activate_uri: Option<Url>,
    /// The language of the customer's emails; `None`: `mail.default_language`.
    pub language: Option<Language>,
    /// Pending and created now, or moved in from another shop (an import).
    pub arrival: customers::Arrival,
}

/// A freshly created customer.
#[derive(Clone, Debug)]
pub struct Created {
    pub id: CustomerId,
    pub identifier: Identifier,
    pub activation_queued: bool,
}

flow_handle!(
    /// Creating accounts and activating them.
    Activations,
    activations
);

impl Activations<'_> {
    /// Creates a pending customer and, if asked, queues their activation email in the same
    /// transaction. A duplicate email or identifier is a conflict.
    pub async fn create_customer(&self, account: NewAccount) -> Result<Created, AppError> {
        let services = self.0.clone();
        let created = self
            .store
            .write(move |tx| services.activations().insert_account(tx, &account, None))
            .await?;
        if created.activation_queued {
            self.mailer.wake_worker();
        }
        Ok(created)
    }

    /// Inserts a customer (pending, unless the import says otherwise) and, if asked, queues
    /// their activation email, inside the caller's transaction (shared by single creation and
    /// the bulk import).
    pub(super) fn insert_account(
        &self,
        tx: &Db,
        account: &NewAccount,
        id: Option<CustomerId>,
    ) -> crate::store::StoreResult<Created> {
        let mut profile = account.profile.clone();
        if let Some(name) = &account.name {
            profile
                .fields
                .push((ProfileField::Name, Some(name.clone())));
        }
        let new = customers::NewCustomer {
            id,
            email: account.email.clone(),
            identifier: account.identifier.clone(),
            profile,
            language: Some(
                account
                    .language
                    .clone()
                    .unwrap_or_else(|| self.config.mail.default_language.clone()),
            ),
            arrival: account.arrival.clone(),
        };
        let (id, identifier) = customers::insert(tx, &new)?;
        self.announcer.announce(tx, Event::Created, &id)?;
        if account.send_activation {
            self.queue_activation(
                tx,
                &id,
                &identifier,
                &account.email,
                account.name.as_deref(),
                account.activate_uri.as_ref(),
            )?;
        }
        Ok(Created {
            id,
            identifier,
            activation_queued: account.send_activation,
        })
    }

    /// Issues a fresh activation secret (replacing any earlier one) and queues its email.
    pub(super) fn queue_activation(
        &self,
        tx: &Db,
        id: &CustomerId,
        identifier: &Identifier,
        email: &EmailAddress,
        name: Option<&str>,
        activate_uri: Option<&Url>,
    ) -> crate::store::StoreResult<()> {
        // A self sign-up's name was typed by whoever filled in the form, who may not own the
        // address: the email greets no one rather than carry a stranger's words to it.
        let name = if sign_ups::is_waiting(tx, id)? {
            None
        } else {
            name
        };
        let secret = ActivationSecret::generate();
        let ttl = hours(self.config.auth.activation_ttl_hours.get());
        codes::issue(
            tx,
            id,
            Purpose::Activation,
            &auth::digest(secret.as_str()),
            None,
            ttl,
        )?;
        let vars = Vars {
            name: name.map(str::to_owned),
            email: email.to_string(),
            link: Some(
                self.links
                    .activation(activate_uri, identifier.as_str(), secret.as_str()),
            ),
            ..Vars::default()
        };
        let language = customers::language_of(tx, id)?;
        let activation =
            self.mailer
                .compose(Kind::Activation, language.as_ref(), email.as_str(), &vars);
        outbox::enqueue(tx, id, &activation)?;
        Ok(())
    }

    /// Sets the first password of a pending customer whose activation secret is right.
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
        let (Ok(secret), Ok(_)) = (
            ActivationSecret::parse(secret),
            Identifier::parse(identifier),
        ) else {
            return Err(invalid);
        };
        let lookup = identifier.to_owned();
        let (id, email) = match self
            .store
            .read(move |c| {
                let found = customers::find_by_identifier(c, &lookup)?;
                Ok(match found {
                    Some((id, Status::Pending)) => {
                        customers::contact(c, &id)?.map(|(email, _)| (id, email))
                    }
                    _ => None,
                })
            })
            .await?
        {
            Some(found) => found,
            None => return Err(invalid),
        };
        let digest = auth::digest(secret.as_str());
        let (check_id, check_digest) = (id.clone(), digest.clone());
        let check = self
            .store
            .write(move |tx| codes::check(tx, &check_id, Purpose::Activation, &check_digest, false))
            .await?;
        if check == CodeCheck::Invalid {
            return Err(invalid);
        }
        // The password rules speak only once the identifier and secret are right: a weak
        // password with a wrong secret must not tell a pending identifier from any other.
        let email = EmailAddress::parse(&email).ok();
        let password = self
            .profiles()
            .new_password(password, password_check, email.as_ref())?;
        let hash = self
            .hasher
            .hash(&password, Requester::Client(client.ip))
            .await?;
        let client = client.clone();
        let services = self.0.clone();
        // Consume the secret and activate in one transaction: of concurrent attempts with the
        // same secret, exactly one gets here with the secret still in place.
        let activated = self
            .store
            .write(move |tx| {
                let check = codes::check(tx, &id, Purpose::Activation, &digest, true)?;
                if check == CodeCheck::Invalid {
                    return Ok(false);
                }
                services
                    .activations()
                    .finish_activation(tx, &id, Some(&hash), &client)?;
                Ok(true)
            })
            .await?;
        if activated {
            self.announcer.wake();
            Ok(())
        } else {
            Err(invalid)
        }
    }

    /// Makes a pending customer active, in the caller's transaction, with `password_hash` (or
    /// none, for a sign-in by emailed code): the activity line, the lists chosen at sign-up
    /// (only now, with the address proven, is the customer a member of any), the webhooks. The
    /// sign-in that follows sends no new-device notice. The caller wakes the announcer.
    pub(super) fn finish_activation(
        &self,
        tx: &Db,
        id: &CustomerId,
        password_hash: Option<&str>,
        client: &Client,
    ) -> crate::store::StoreResult<()> {
        customers::activate(tx, id, password_hash)?;
        codes::revoke(tx, id, Purpose::Activation)?;
        // The first sign-in of a new account is from a new device by nature.
        crate::store::devices::exempt_next_sign_in(tx, id)?;
        activity::record(tx, id, ActivityKind::AccountActivated, Some(client))?;
        self.sign_ups().join_chosen_lists(tx, id, client)?;
        self.announcer.announce(tx, Event::Activated, id)?;
        if !subscriptions::of_customer(tx, id)?.is_empty() {
            self.announcer
                .announce(tx, Event::SubscriptionsChanged, id)?;
        }
        Ok(())
    }

    /// Issues a new activation secret for a pending customer and queues the email again.
    pub async fn resend_activation(
        &self,
        key: &str,
        activate_uri: Option<Url>,
    ) -> Result<(), AppError> {
        let key = key.to_owned();
        let services = self.0.clone();
        self.store
            .write(move |tx| {
                let Some(view) = customers::admin_view(tx, &key)? else {
                    return Ok(Outcome::Refused(AppError::NotFound(
                        "no such customer".into(),
                    )));
                };
                if view.status != Status::Pending {
                    return Ok(Outcome::Refused(AppError::Conflict {
                        message: "the customer is already active".into(),
                        fields: Default::default(),
                    }));
                }
                let identifier =
                    Identifier::parse(&view.identifier).map_err(StoreError::BadValue)?;
                let email =
                    EmailAddress::parse(&view.customer.email).map_err(StoreError::BadValue)?;
                services.activations().queue_activation(
                    tx,
                    &view.customer.id,
                    &identifier,
                    &email,
                    view.customer.name(),
                    activate_uri.as_ref(),
                )?;
                Ok(Outcome::Done(()))
            })
            .await?
            .into_result()?;
        self.mailer.wake_worker();
        Ok(())
    }
}
