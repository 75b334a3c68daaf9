use std::net::IpAddr;

use url::Url;

use super::Area;
use crate::domain::{EmailAddress, ProfileChanges, ProfileField, Status};
use crate::error::AppError;
use crate::mail::{Kind, Vars};
use crate::store::{StoreError, customers, outbox};
use crate::throttle::IpBudget;

/// A parsed `POST /customers/signup`.
#[derive(Clone, Debug)]
pub struct SignUp {
    pub email: EmailAddress,
    pub name: Option<String>,
    /// Where the activation link points, instead of `links.activate_uri`.
    pub activate_uri: Option<Url>,
}

impl Area {
    /// Creates a pending customer and emails the activation link. The answer never says
    /// whether the address already had an account: an active owner is told by email that they
    /// have one (with a hint to reset the password), a pending one gets a fresh activation link.
    /// Like a password reset, it answers before the database work (which differs between
    /// new and known addresses), within the IP's budget and the address's email allowance.
    pub async fn sign_up(&self, signup: SignUp, ip: IpAddr) -> Result<(), AppError> {
        if !self.config.auth.allow_signup {
            return Err(AppError::NotFound("there is no such endpoint".into()));
        }
        self.throttles.check_ip(IpBudget::Emails, ip)?;
        if !self.throttles.email_allowed(signup.email.as_str()) {
            return Ok(());
        }
        let area = self.clone();
        self.after_answer("sign-up", async move { area.register(signup).await });
        Ok(())
    }

    async fn register(&self, signup: SignUp) -> Result<(), AppError> {
        let area = self.clone();
        self.store
            .write(move |tx| {
                let SignUp {
                    email,
                    name,
                    activate_uri,
                } = signup;
                match customers::find_for_login(tx, &email)? {
                    Some(existing) if existing.status == Status::Active => {
                        let vars = Vars {
                            email: email.to_string(),
                            ..Vars::default()
                        };
                        let notice =
                            area.mailer
                                .compose(Kind::AccountExists, email.as_str(), &vars);
                        outbox::enqueue(tx, &notice)?;
                    }
                    Some(pending) => {
                        let identifier =
                            customers::identifier_of(tx, &pending.id)?.ok_or_else(|| {
                                StoreError::Corrupt(format!(
                                    "customer {} has no identifier",
                                    pending.id
                                ))
                            })?;
                        let known_name = customers::contact(tx, &pending.id)?.and_then(|(_, n)| n);
                        area.queue_activation(
                            tx,
                            &pending.id,
                            &identifier,
                            &email,
                            known_name.as_deref(),
                            activate_uri.as_ref(),
                        )?;
                    }
                    None => {
                        let profile = ProfileChanges {
                            fields: vec![(ProfileField::Name, name.clone())],
                        };
                        let new = customers::NewCustomer {
                            email: email.clone(),
                            identifier: None,
                            profile,
                        };
                        let (id, identifier) = customers::insert_pending(tx, &new)?;
                        area.queue_activation(
                            tx,
                            &id,
                            &identifier,
                            &email,
                            name.as_deref(),
                            activate_uri.as_ref(),
                        )?;
                    }
                }
                Ok(())
            })
            .await?;
        self.mailer.wake_worker();
        Ok(())
    }
}
