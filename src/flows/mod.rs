//! The rules of the customer area: each operation a customer, the shop or the retailer can
//! perform, written once and used by the HTTP handlers, the admin API and the CLI alike.
//! Operations take parsed domain values and answer with values or an [`AppError`].
//!
//! [`Services`] holds what the operations share (settings, database, hasher, mailer...), in
//! fields only the flows can reach. Each flow module declares a handle on it with
//! [`flow_handle!`] and adds its operations there: `services.sessions().login(..)`,
//! `services.resets().request_password_reset(..)`. A handle is one borrowed reference: taking
//! it costs nothing.

/// Declares a flow's handle `$name<'a>` (a borrow of the [`Services`]) and the method
/// `Services::$accessor` that hands it out; the handle reaches the shared parts through `Deref`.
macro_rules! flow_handle {
    ($(#[$doc:meta])* $name:ident, $accessor:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name<'a>(&'a $crate::flows::Services);

        impl $crate::flows::Services {
            $(#[$doc])*
            pub fn $accessor(&self) -> $name<'_> {
                $name(self)
            }
        }

        impl std::ops::Deref for $name<'_> {
            type Target = $crate::flows::Services;

            fn deref(&self) -> &$crate::flows::Services {
                self.0
            }
        }
    };
}

mod account;
mod activation;
mod admin;
mod audit;
mod customer_totp;
mod deliverability;
mod email_change;
mod import;
mod links;
mod lockout;
mod login_code;
mod operations;
mod outbox;
mod passkeys;
mod preferences;
mod profile;
mod requests;
mod reset;
mod second_factor;
mod security;
mod session;
mod signup;
mod staff;
mod staff_passkeys;
mod support;
mod unsubscribe;
mod webhooks;

pub use crate::auth::totp::Enrollment;
pub use account::Accounts;
pub use activation::{Activations, Created, NewAccount};
pub use admin::{BackOffice, CustomerPage, MAX_PAGE, NewList};
pub use audit::{
    Action, AuditLine, Audits, COMMAND_LINE, DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE, VISITOR,
};
pub use customer_totp::{SecondFactorCode, Totps};
pub use deliverability::{
    Deliverability, EventError, EventKind, MailEvent, Outcome as MailOutcome,
};
pub use email_change::EmailChanges;
pub use import::{
    ImportError, ImportFile, ImportOptions, ImportProblem, ImportSummary, Imported, Imports,
    Progress as ImportProgress,
};
pub use links::Links;
pub use lockout::Lockouts;
pub use login_code::{LoginCodes, method_switched_off};
pub use operations::{Operations, SWEEP_BATCH};
pub use outbox::Outbox;
pub use passkeys::{
    Begun, CHALLENGE_TTL_SECONDS, CHALLENGES_PER_IP, NewPasskey, PasskeySignIn, Passkeys,
};
pub use preferences::{PauseDays, Paused, PreferenceView, Preferences, Resumed};
pub use profile::{PasswordChange, ProfileUpdate, Profiles};
pub use requests::{Requests, resolve_until};
pub use reset::Resets;
pub use second_factor::SecondFactors;
pub use security::{MAX_ACTIVITY_PAGE, Security, SessionView};
pub use session::{Session, Sessions};
pub use signup::{SignUp, SignUps, switched_off as signup_switched_off};
pub use staff::{Actor, Caller, Invited, Staff, StaffSession, actions as staff_actions};
pub use staff_passkeys::StaffPasskeys;
pub use support::{Support, SupportEdit};
pub use unsubscribe::{CSV_HEADER, Member, MembersPage, Unsubscribed, Unsubscribes, csv_rows};
pub use webhooks::{Announcer, Event, Webhooks};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

use crate::auth::PasswordHasher;
use crate::config::Config;
use crate::domain::PasswordPolicy;
use crate::error::AppError;
use crate::mail::Mailer;
use crate::mail::transport::Transport;
use crate::mail::worker::Worker;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::throttle::Throttles;

/// The services every operation runs on: settings, the database, the hasher, the mailer, the
/// throttles. Cloning is one reference-count increment: the HTTP filters clone it on every
/// request. Its operations are grouped per flow, behind handles such as [`Services::sessions`].
#[derive(Clone)]
pub struct Services(Arc<Parts>);

/// What the [`Services`] share; its fields are private to the flows.
pub struct Parts {
    config: Arc<Config>,
    store: Store,
    hasher: PasswordHasher,
    mailer: Mailer,
    links: Links,
    metrics: Metrics,
    throttles: Arc<Throttles>,
    /// Work started by a request and finished after its answer (a password re-hash); a clean
    /// shutdown waits for it.
    background: TaskTracker,
    /// Wakes the resolver of stored password-reset and sign-up requests.
    resolver_wake: Notify,
    /// Queues the events the shop's webhook endpoints receive.
    announcer: Announcer,
    /// The key of unsubscribe tokens, read from the database once.
    unsubscribe_key: tokio::sync::OnceCell<[u8; 32]>,
    /// The key of bounce tokens, read from the database once.
    bounce_key: tokio::sync::OnceCell<[u8; 32]>,
    /// The WebAuthn relying party of passkeys; `None` when passkeys are off.
    webauthn: Option<Arc<webauthn_rs::Webauthn>>,
}

impl std::ops::Deref for Services {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl Services {
    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Builds the services from a loaded config and an opened, migrated store; fails with a
    /// message for the operator (e.g. naming a bad email template file).
    pub fn new(config: Config, store: Store) -> anyhow::Result<Services> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let hasher = PasswordHasher::new(
            config.auth.pbkdf2_iterations,
            cores,
            config.limits.hashing_queue,
            Duration::from_secs(5),
        )
        .map_err(AppError::internal)?;
        let mailer = Mailer::new(&config).map_err(anyhow::Error::msg)?;
        let links = Links::new(&config);
        let throttles = Arc::new(Throttles::new(&config.limits));
        let announcer = Announcer::new(config.webhook_endpoints());
        let webauthn = match config
            .relying_party()
            .map_err(|e| AppError::internal(anyhow::anyhow!(e)))?
        {
            Some(rp) => Some(Arc::new(passkeys::relying_party(&rp)?)),
            None => None,
        };
        Ok(Services(Arc::new(Parts {
            config: Arc::new(config),
            store,
            hasher,
            mailer,
            links,
            metrics: Metrics::new(),
            throttles,
            background: TaskTracker::new(),
            resolver_wake: Notify::new(),
            announcer,
            unsubscribe_key: tokio::sync::OnceCell::new(),
            bounce_key: tokio::sync::OnceCell::new(),
            webauthn,
        })))
    }

    /// The mail worker that delivers what these services queue, through `transport`.
    pub fn mail_worker(&self, transport: Transport) -> Worker {
        Worker::new(
            self.store.clone(),
            transport,
            &self.mailer,
            &self.config.mail,
        )
    }

    /// Composes emails (and knows the languages they exist in).
    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// The worker that delivers what these services queue for the webhook endpoints.
    pub fn webhook_worker(&self) -> anyhow::Result<crate::webhooks::worker::Worker> {
        crate::webhooks::worker::Worker::new(
            self.store.clone(),
            self.announcer.endpoints(),
            self.config.webhook_delivery.clone(),
            self.metrics.clone(),
            self.announcer.wake_signal(),
        )
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The links that go out in emails, and the check of the ones a client sends.
    pub fn links(&self) -> &Links {
        &self.links
    }

    /// The counters `/metrics` reports; the server records requests in them.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The in-memory throttles (the admin gate checks tokens through them; tests move their
    /// clock).
    pub fn throttles(&self) -> &Arc<Throttles> {
        &self.throttles
    }

    /// The password hasher (tests occupy its threads).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// What a new password must satisfy.
    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_chars: self.config.auth.min_password_length,
        }
    }
}

/// `hours` in seconds, as the store's expiry times count them.
fn hours(hours: u64) -> i64 {
    (hours * 3600) as i64
}
