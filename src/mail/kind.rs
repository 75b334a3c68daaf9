//! Every kind of email the customer area sends, by the name its texts are filed under.

/// Every kind of email the customer area sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Activation,
    PasswordReset,
    PasswordResetDone,
    EmailChangeNew,
    EmailChangeOld,
    AccountExists,
    AccountDeleted,
    PasswordChanged,
    EmailChangedNew,
    EmailChangedOld,
    EmailChangeUndone,
    AccountLocked,
    PasskeyAdded,
    PasskeyRemoved,
    NewSignIn,
    LoginCode,
    SecondFactorAdded,
    SecondFactorRemoved,
    StaffInvitation,
    Test,
}

impl Kind {
    pub const ALL: [Kind; 20] = [
        Kind::Activation,
        Kind::PasswordReset,
        Kind::PasswordResetDone,
        Kind::EmailChangeNew,
        Kind::EmailChangeOld,
        Kind::AccountExists,
        Kind::AccountDeleted,
        Kind::PasswordChanged,
        Kind::EmailChangedNew,
        Kind::EmailChangedOld,
        Kind::EmailChangeUndone,
        Kind::AccountLocked,
        Kind::PasskeyAdded,
        Kind::PasskeyRemoved,
        Kind::NewSignIn,
        Kind::LoginCode,
        Kind::SecondFactorAdded,
        Kind::SecondFactorRemoved,
        Kind::StaffInvitation,
        Kind::Test,
    ];

    /// The kind's name: the outbox's `kind` column and the template files' stem.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Activation => "activation",
            Kind::PasswordReset => "password_reset",
            Kind::PasswordResetDone => "password_reset_done",
            Kind::EmailChangeNew => "email_change_new",
            Kind::EmailChangeOld => "email_change_old",
            Kind::AccountExists => "account_exists",
            Kind::AccountDeleted => "account_deleted",
            Kind::PasswordChanged => "password_changed",
            Kind::EmailChangedNew => "email_changed_new",
            Kind::EmailChangedOld => "email_changed_old",
            Kind::EmailChangeUndone => "email_change_undone",
            Kind::AccountLocked => "account_locked",
            Kind::PasskeyAdded => "passkey_added",
            Kind::PasskeyRemoved => "passkey_removed",
            Kind::NewSignIn => "new_sign_in",
            Kind::LoginCode => "login_code",
            Kind::SecondFactorAdded => "second_factor_added",
            Kind::SecondFactorRemoved => "second_factor_removed",
            Kind::StaffInvitation => "staff_invitation",
            Kind::Test => "test",
        }
    }

    /// The kind called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}
