//! The one error type of the customer area: each variant names an outcome a caller must handle.
//! Mapped to HTTP statuses in `http::error`, and to exit codes and messages in the CLI.

use std::collections::BTreeMap;

/// Per-field problems of a request, keyed by the field's JSON name.
pub type FieldErrors = BTreeMap<String, String>;

/// Everything that can go wrong in a customer-area operation.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Email or password wrong, or the account not yet activated: deliberately indistinguishable.
    #[error("the email or password is not correct")]
    InvalidCredentials,
    /// No bearer token, or one that is unknown, expired or ended.
    #[error("a valid bearer token is required")]
    Unauthenticated,
    /// The session is not recently authenticated (`auth.reauth_seconds`) and the operation
    /// needs it: the caller proves a credential again (`POST /customers/reauthenticate`).
    #[error(
        "this needs a recent sign-in: confirm your password (POST /customers/reauthenticate), then try again"
    )]
    ReauthenticationRequired,
    /// The password was right and a second factor is needed: answer `challenge` with a code
    /// (`POST /admin/staff/login/second_factor`, `POST /customers/login/second_factor`).
    #[error("a second factor is required: send a code with the challenge")]
    SecondFactorRequired { challenge: String },
    /// A staff member's password was right, and their second factor is a passkey: they sign in
    /// with it (`POST /admin/staff/passkey_login`), which needs no password.
    #[error("this staff member signs in with their passkey (POST /admin/staff/passkey_login)")]
    PasskeyRequired,
    /// The password was right but the account is locked (`limits.login_lockout_failures`): a
    /// sign-in code was emailed, and `POST /customers/login_code/verify` with it signs in.
    #[error("this account asks for a code sent by email: check your inbox")]
    EmailCodeRequired,
    /// The caller is known but their role does not have this right.
    #[error("your role does not allow this")]
    Forbidden,
    /// A staff session that may only enroll a second factor asked for anything else.
    #[error(
        "enroll a second factor first (POST /admin/staff/totp, then /admin/staff/totp/confirm; or a passkey: POST /admin/staff/passkeys/register, then …/register/finish)"
    )]
    SecondFactorEnrollmentRequired,
    /// A one-time code (activation secret, reset code, email key) that is wrong, used or expired.
    #[error("the {field} is invalid, already used or expired")]
    InvalidCode { field: &'static str },
    /// The request is well-formed JSON but its content breaks the rules.
    #[error("{message}")]
    Validation {
        message: String,
        fields: FieldErrors,
    },
    /// The body is not valid JSON (or not the JSON shape the endpoint takes).
    #[error("{0}")]
    MalformedBody(String),
    /// The thing asked for does not exist (or is not visible to this caller).
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with existing state (a duplicate email or identifier).
    #[error("{message}")]
    Conflict {
        message: String,
        fields: FieldErrors,
    },
    /// The change would leave the shop without an owner (removing or demoting the last one).
    #[error("{0} is the last owner: invite another owner first")]
    LastOwner(String),
    /// Too many attempts; try again after `retry_after` seconds.
    #[error("too many attempts; try again later")]
    Throttled { retry_after: u64 },
    /// Hashing queue or database pool saturated; try again shortly.
    #[error("the service is busy; try again shortly")]
    Overloaded,
    /// The database cannot take writes (disk full, read-only): nothing was changed.
    #[error("the service cannot store changes right now; try again later")]
    Unavailable,
    /// A bug or an infrastructure failure. The cause is logged, never shown to a client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    /// A clash with existing state that no one field of the request explains.
    pub fn conflict(message: impl Into<String>) -> AppError {
        AppError::Conflict {
            message: message.into(),
            fields: FieldErrors::new(),
        }
    }

    /// A validation error about one field.
    pub fn field(field: &str, problem: impl Into<String>) -> AppError {
        let problem = problem.into();
        AppError::Validation {
            message: format!("{field}: {problem}"),
            fields: BTreeMap::from([(field.to_owned(), problem)]),
        }
    }

    /// A validation error about several fields; `None` when there is nothing to report.
    pub fn fields(fields: FieldErrors) -> Option<AppError> {
        if fields.is_empty() {
            return None;
        }
        let message = fields
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ");
        Some(AppError::Validation { message, fields })
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> AppError {
        AppError::Internal(cause.into())
    }
}

impl From<crate::store::StoreError> for AppError {
    fn from(err: crate::store::StoreError) -> AppError {
        use crate::store::StoreError;
        match err {
            StoreError::Busy => AppError::Overloaded,
            StoreError::Unwritable(_) => AppError::Unavailable,
            StoreError::Duplicate { field } => AppError::Conflict {
                message: format!("{field} is already in use"),
                fields: BTreeMap::from([(field.to_owned(), "is already in use".to_owned())]),
            },
            other => AppError::Internal(other.into()),
        }
    }
}
