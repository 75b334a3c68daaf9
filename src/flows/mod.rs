//! The rules of the customer area: each operation a customer, the shop or the retailer can
//! perform, written once and used by the HTTP handlers, the admin API and the CLI alike.
//! Operations take parsed domain values and answer with values or an [`AppError`].

mod account;
mod activation;
mod admin;
mod import;
mod links;
mod profile;
mod session;

pub use activation::{Created, NewAccount};
pub use admin::{MAX_PAGE, NewList};
pub use import::{ImportError, ImportFile, ImportProblem, ImportSummary, Imported};
pub use links::Links;
pub use profile::{PasswordChange, ProfileUpdate};
pub use session::Session;

use std::sync::Arc;
use std::time::Duration;

use crate::auth::PasswordHasher;
use crate::config::Config;
use crate::domain::PasswordPolicy;
use crate::error::AppError;
use crate::mail::Mailer;
use crate::store::Store;

/// Everything an operation needs: settings, the database, the hasher and the mailer.
#[derive(Clone)]
pub struct Area {
    pub config: Arc<Config>,
    pub store: Store,
    pub hasher: PasswordHasher,
    pub mailer: Mailer,
    pub links: Links,
}

impl Area {
    /// Builds the area from a loaded config and an opened, migrated store.
    pub fn new(config: Config, store: Store) -> Result<Area, AppError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let hasher =
            PasswordHasher::new(config.auth.pbkdf2_iterations, cores, Duration::from_secs(5));
        let mailer = Mailer::new(&config).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?;
        let links = Links::new(&config);
        Ok(Area {
            config: Arc::new(config),
            store,
            hasher,
            mailer,
            links,
        })
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
