//! Customers signing themselves up (with `auth.allow_signup`): answered alike for every
//! address, the lists chosen kept until the address is proven by activation.

use crate::store::sql::Db;
use std::collections::BTreeSet;

use url::Url;

use crate::domain::{
    Client, CustomerId, EmailAddress, Language, ListId, ProfileChanges, ProfileField, Status,
};
use crate::error::AppError;
use crate::mail::{Kind, Vars};
use crate::store::requests::{Request, RequestKind};
use crate::store::subscriptions::{self, ConsentSource};
use crate::store::{StoreError, StoreResult, customers, outbox, sign_ups};
use crate::throttle::IpBudget;

/// A parsed `POST /customers/signup`.
#[derive(Clone, Debug)]
pub struct SignUp {
    pub email: EmailAddress,
    pub name: Option<String>,
    /// Where the activation link points, instead of `links.activate_uri`.
    pub activate_uri: Option<Url>,
    /// The language the visitor's browser prefers among those the emails exist in.
    pub language: Option<Language>,
    /// The lists the visitor opted in to on the sign-up form.
    pub subscriptions: BTreeSet<ListId>,
}

/// The answer to a sign-up while `auth.allow_signup` is off: a 404 that names the setting.
pub fn switched_off() -> AppError {
    AppError::NotFound(
        "sign-up is switched off: the retailer has not set auth.allow_signup = true".into(),
    )
}

flow_handle!(
    /// Customers signing themselves up (with `auth.allow_signup`).
    SignUps,
    sign_ups
);

impl SignUps<'_> {
    /// Creates a pending customer and emails the activation link. The answer never says
    /// whether the address already had an account: an active owner is told by email that they
    /// have one (with a hint to reset the password), a pending one gets a fresh activation link.
    /// Like a password reset, the request is stored and answered alike for every address and
    /// resolved in the background, within the IP's budget and the address's email allowance.
    ///
    /// Lists opted in to must exist (422 naming the first that does not, for every address
    /// alike). They are kept only with an account this sign-up creates (a sign-up for an
    /// address that already has one changes nothing) and joined, with a consent record of
    /// source `signup`, when the owner of the address activates ([`SignUps::join_chosen_lists`]).
    pub async fn sign_up(&self, signup: SignUp, client: &Client) -> Result<(), AppError> {
        if !self.config.auth.allow_signup {
            return Err(switched_off());
        }
        self.throttles.check_ip(IpBudget::Emails, client.ip)?;
        let subscriptions: BTreeSet<String> =
            signup.subscriptions.iter().map(|l| l.to_string()).collect();
        if !subscriptions.is_empty() {
            let wanted = subscriptions.clone();
            let unknown = self
                .store
                .read(move |conn| super::profile::first_unknown_list(conn, &wanted))
                .await?;
            if let Some(unknown) = unknown {
                return Err(AppError::field(
                    "subscriptions",
                    format!("there is no subscription list `{unknown}`"),
                ));
            }
        }
        self.requests()
            .journal_request(Request {
                kind: RequestKind::SignUp,
                email: signup.email.as_str().to_owned(),
                name: signup.name,
                link_base: signup.activate_uri.map(|u| u.to_string()),
                ip: Some(client.ip.to_string()),
                user_agent: client.user_agent.clone(),
                language: signup.language.map(String::from),
                subscriptions: subscriptions.into_iter().collect(),
            })
            .await
    }

    /// Resolves a sign-up in the resolver's transaction: a new pending customer, a fresh
    /// activation link for a pending one, or an "account exists" notice for an active one.
    /// Always queues an email.
    pub(super) fn register(
        &self,
        tx: &Db,
        email: &EmailAddress,
        name: Option<String>,
        activate_uri: Option<&Url>,
        language: Option<Language>,
        lists: &[String],
    ) -> StoreResult<bool> {
        match customers::find_for_login(tx, email)? {
            Some(existing) if existing.status == Status::Active => {
                // Only what is stored goes into this email, never what the visitor typed.
                let (stored, _) = customers::contact(tx, &existing.id)?.ok_or_else(|| {
                    StoreError::Inconsistent(format!("customer {} has no contact", existing.id))
                })?;
                let vars = Vars {
                    email: stored.clone(),
                    ..Vars::default()
                };
                let language = customers::language_of(tx, &existing.id)?;
                let notice =
                    self.mailer
                        .compose(Kind::AccountExists, language.as_ref(), &stored, &vars);
                outbox::enqueue(tx, &existing.id, &notice)?;
            }
            Some(pending) => {
                let identifier = customers::identifier_of(tx, &pending.id)?.ok_or_else(|| {
                    StoreError::Inconsistent(format!("customer {} has no identifier", pending.id))
                })?;
                let known_name = customers::contact(tx, &pending.id)?.and_then(|(_, n)| n);
                self.activations().queue_activation(
                    tx,
                    &pending.id,
                    &identifier,
                    email,
                    known_name.as_deref(),
                    activate_uri,
                )?;
            }
            None => {
                let profile = ProfileChanges {
                    fields: vec![(ProfileField::Name, name.clone())],
                };
                let new = customers::NewCustomer {
                    arrival: customers::Arrival::Pending,
                    id: None,
                    email: email.clone(),
                    identifier: None,
                    profile,
                    language: Some(
                        language.unwrap_or_else(|| self.config.mail.default_language.clone()),
                    ),
                };
                let (id, identifier) = customers::insert(tx, &new)?;
                // Marked before the activation is queued: its email leaves out what a visitor
                // typed (here the name), for whoever filled in the form may not own the address.
                sign_ups::begin(tx, &id, &existing_lists(tx, lists)?)?;
                self.announcer.announce(tx, super::Event::Created, &id)?;
                self.activations().queue_activation(
                    tx,
                    &id,
                    &identifier,
                    email,
                    None,
                    activate_uri,
                )?;
            }
        }
        Ok(true)
    }

    /// At the activation of a self sign-up, inside its transaction: joins the lists chosen on
    /// the form that still exist, recording the consent with the activating `client` (who
    /// proved the address, unlike whoever filled in the form). Nothing for anyone else.
    pub(super) fn join_chosen_lists(
        &self,
        tx: &Db,
        id: &CustomerId,
        client: &Client,
    ) -> StoreResult<()> {
        let Some(chosen) = sign_ups::finish(tx, id)? else {
            return Ok(());
        };
        let mut wanted: BTreeSet<String> = subscriptions::of_customer(tx, id)?
            .into_iter()
            .map(|s| s.id)
            .collect();
        wanted.extend(existing_lists(tx, &chosen)?);
        subscriptions::replace(tx, id, &wanted, ConsentSource::Signup, Some(client))?;
        Ok(())
    }
}

/// The lists of `lists` that exist: those removed since the visitor chose them are left out.
fn existing_lists(tx: &Db, lists: &[String]) -> StoreResult<BTreeSet<String>> {
    let mut existing = BTreeSet::new();
    for list in lists {
        if subscriptions::list_exists(tx, list)? {
            existing.insert(list.clone());
        }
    }
    Ok(existing)
}
