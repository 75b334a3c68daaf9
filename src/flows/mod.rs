//! The rules of the customer area: each operation a customer, the shop or the retailer can
//! perform, written once and used by the HTTP handlers, the admin API and the CLI alike.
//! Operations take parsed domain values and answer with values or an [`AppError`].

mod account;
mod activation;
mod admin;
mod email_change;
mod import;
mod links;
mod lockout;
mod profile;
mod requests;
mod reset;
mod session;
mod signup;

pub use activation::{Created, NewAccount};
pub use admin::{MAX_PAGE, NewList};
pub use import::{ImportError, ImportFile, ImportProblem, ImportSummary, Imported};
pub use links::Links;
pub use profile::{PasswordChange, ProfileUpdate};
pub use requests::resolve_until;
pub use session::Session;
pub use signup::SignUp;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

use crate::auth::PasswordHasher;
use crate::config::Config;
use crate::domain::PasswordPolicy;
use crate::error::AppError;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::throttle::Throttles;

/// Everything an operation needs: settings, the database, the hasher and the mailer.
/// Cloning is one reference-count increment: the HTTP filters clone it on every request.
#[derive(Clone)]
pub struct Area(Arc<Parts>);

/// What an [`Area`] shares; reached through `Deref`, as `area.store`, `area.config`...
pub struct Parts {
    pub config: Arc<Config>,
    pub store: Store,
    pub hasher: PasswordHasher,
    pub mailer: Mailer,
    pub links: Links,
    pub metrics: Metrics,
    pub throttles: Arc<Throttles>,
    /// Work started by a request and finished after its answer (a password re-hash); a clean
    /// shutdown waits for it.
    pub background: TaskTracker,
    /// Wakes the resolver of stored password-reset and sign-up requests.
    pub resolver_wake: Arc<Notify>,
}

impl std::ops::Deref for Area {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl Area {
    /// Builds the area from a loaded config and an opened, migrated store.
    pub fn new(config: Config, store: Store) -> Result<Area, AppError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let hasher = PasswordHasher::new(
            config.auth.pbkdf2_iterations,
            cores,
            config.limits.hashing_queue,
            Duration::from_secs(5),
        )
        .map_err(AppError::internal)?;
        let mailer = Mailer::new(&config).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?;
        let links = Links::new(&config);
        let throttles = Arc::new(Throttles::new(&config.limits));
        Ok(Area(Arc::new(Parts {
            config: Arc::new(config),
            store,
            hasher,
            mailer,
            links,
            metrics: Metrics::new(),
            throttles,
            background: TaskTracker::new(),
            resolver_wake: Arc::new(Notify::new()),
        })))
    }

    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_chars: self.config.auth.min_password_length,
        }
    }

    fn hours(hours: u64) -> i64 {
        (hours * 3600) as i64
    }
}
