//! The route table: every endpoint and page the server answers, once. The filters in `mod.rs`
//! match these entries; the `Allow` header, the CORS methods, the log and metrics labels and
//! the OpenAPI document all follow from this list. `docs/adding-an-endpoint.md` shows how to
//! add an entry.

use super::openapi::Access::{Admin, Customer, OperatorOrAdmin, Public, Staff};
use super::openapi::Content::{AnyObject, Result, Schema, Text};
use super::openapi::Failure::{
    Conflict, InvalidCredentials, NotFound, ReauthenticationRequired, Throttled,
};
use super::openapi::{Body, Failure, Operation, Param, Success, Tag};
use super::route::Route;
use super::route::Verb::{Delete, Get, Patch, Post, Put};
use crate::domain::Role;

/// Every route, in the order requests try them.
pub static ROUTES: &[Route] = &[
    LOGIN,
    REQUEST_LOGIN_CODE,
    SIGN_IN_WITH_CODE,
    CUSTOMER_SECOND_FACTOR,
    CUSTOMER_TOTP_STATUS,
    BEGIN_CUSTOMER_TOTP,
    CONFIRM_CUSTOMER_TOTP,
    REMOVE_CUSTOMER_TOTP,
    LOGOUT,
    SHOW_SELF,
    UPDATE_SELF,
    DELETE_SELF,
    ACTIVATE,
    REQUEST_PASSWORD_RESET,
    RESET_PASSWORD,
    CONFIRM_NEW_EMAIL,
    LIST_SESSIONS,
    REVOKE_SESSION,
    REVOKE_OTHER_SESSIONS,
    ACTIVITY,
    EXPORT,
    UNDO_EMAIL_CHANGE,
    REAUTHENTICATE,
    NOT_ME,
    SIGN_UP,
    BEGIN_PASSKEY_REGISTRATION,
    FINISH_PASSKEY_REGISTRATION,
    LIST_PASSKEYS,
    REMOVE_PASSKEY,
    BEGIN_PASSKEY_LOGIN,
    FINISH_PASSKEY_LOGIN,
    PUBLIC_LISTS,
    CREATE_CUSTOMER,
    LIST_CUSTOMERS,
    SHOW_CUSTOMER,
    UPDATE_CUSTOMER,
    DELETE_CUSTOMER,
    RESEND_ACTIVATION,
    REMOVE_SECOND_FACTOR,
    SET_SUBSCRIPTIONS,
    CONSENTS,
    CUSTOMER_SESSIONS,
    REVOKE_CUSTOMER_SESSIONS,
    CUSTOMER_ACTIVITY,
    CUSTOMER_EMAILS,
    CUSTOMER_PASSKEYS,
    SEND_PASSWORD_RESET,
    UNLOCK_CUSTOMER,
    ADMIN_LISTS,
    ADD_LIST,
    REMOVE_LIST,
    RENAME_LIST,
    LIST_MEMBERS,
    STATS,
    OUTBOX,
    RETRY_EMAIL,
    WEBHOOK_DELIVERIES,
    RETRY_DELIVERY,
    TEST_WEBHOOKS,
    // Moving in (SPEC 8.3).
    IMPORT_CUSTOMERS,
    AUDIT,
    MAIL_EVENT,
    STAFF_ACTIVATE,
    STAFF_LOGIN,
    STAFF_SECOND_FACTOR,
    STAFF_LOGOUT,
    STAFF_SELF,
    BEGIN_TOTP,
    CONFIRM_TOTP,
    BEGIN_STAFF_PASSKEY_REGISTRATION,
    FINISH_STAFF_PASSKEY_REGISTRATION,
    LIST_STAFF_PASSKEYS,
    REMOVE_STAFF_PASSKEY,
    BEGIN_STAFF_PASSKEY_LOGIN,
    FINISH_STAFF_PASSKEY_LOGIN,
    // After the staff's own paths, which `{email}` would match too.
    LIST_STAFF,
    ADD_STAFF,
    REMOVE_STAFF,
    RESET_STAFF,
    CHANGE_STAFF_ROLE,
    UNSUBSCRIBE,
    // The preference page behind an unsubscribe link (SPEC 8.5).
    SUBSCRIPTION_PREFERENCES,
    PAUSE_SUBSCRIPTION,
    RESUME_SUBSCRIPTION,
    UNSUBSCRIBE_ALL,
    HEALTHZ,
    METRICS,
    OPENAPI,
    // The built-in pages (`crate::web`).
    INDEX_PAGE,
    ACTIVATE_PAGE,
    FORGOT_PAGE,
    RESET_PAGE,
    CONFIRM_EMAIL_PAGE,
    UNDO_EMAIL_PAGE,
    NOT_ME_PAGE,
    SIGN_UP_PAGE,
    UNSUBSCRIBE_PAGE,
    SIGN_IN_CODE_PAGE,
    CONSOLE_PAGE,
    CONSOLE_ACTIVATE_PAGE,
    ASSET,
    DEMO_MAILBOX,
    DEMO_MAIL,
    DEMO_MAIL_HTML,
];

/// `GET /`: sign in; signed in, the whole account.
pub const INDEX_PAGE: Route = Route::page("/");
/// `GET /activate?identifier=&secret=`: choose a password.
pub const ACTIVATE_PAGE: Route = Route::page("/activate");
/// `GET /forgot`: ask for a reset link.
pub const FORGOT_PAGE: Route = Route::page("/forgot");
/// `GET /reset/<code>`: the emailed reset link; shows the new passphrase.
pub const RESET_PAGE: Route = Route::page("/reset/{code}");
/// `GET /confirm-email?identifier=&key=`: confirm a new email address.
pub const CONFIRM_EMAIL_PAGE: Route = Route::page("/confirm-email");
/// `GET /undo-email?identifier=&key=`: undo a confirmed email change.
pub const UNDO_EMAIL_PAGE: Route = Route::page("/undo-email");
/// `GET /not-me?identifier=&key=`: "this wasn't me", from a new-device notice.
pub const NOT_ME_PAGE: Route = Route::page("/not-me");
/// `GET /signup`: only with `auth.allow_signup`.
pub const SIGN_UP_PAGE: Route = Route::page("/signup");
/// `GET /unsubscribe/<token>`: a button that posts the one-click unsubscribe; never unsubscribes.
pub const UNSUBSCRIBE_PAGE: Route = Route::page("/unsubscribe/{token}");
/// `GET /sign-in/code?email=&code=`: the emailed sign-in code's link; the code filled in.
pub const SIGN_IN_CODE_PAGE: Route = Route::page("/sign-in/code");
/// `GET /console/`: the retailer's console (sign-in, then its screens by `#/<screen>`).
pub const CONSOLE_PAGE: Route = Route::page("/console");
/// `GET /console/activate?identifier=&secret=`: the staff invitation link; choose a password.
pub const CONSOLE_ACTIVATE_PAGE: Route = Route::page("/console/activate");
/// `GET /assets/<version>/<file>`: the pages' CSS, JavaScript and icons, cached for a year.
pub const ASSET: Route = Route::page("/assets/{version}/{file}");
/// `GET /demo/mail`: the demo mailbox (file transport, loopback peers only).
pub const DEMO_MAILBOX: Route = Route::page("/demo/mail");
/// `GET /demo/mail/<file>`: one email of the demo mailbox.
pub const DEMO_MAIL: Route = Route::page("/demo/mail/{file}");
/// `GET /demo/mail/<file>/html`: the HTML part of one email, for a sandboxed frame.
pub const DEMO_MAIL_HTML: Route = Route::page("/demo/mail/{file}/html");

const EMAIL_SENT: Success = Success::ok(
    "Answered alike whether or not the email has an account.",
    Result("email_sent"),
);
const CUSTOMER_ID: Param = Param::Path {
    name: "id",
    description: "The customer's 14-digit id; its identifier or email also works.",
};
const SPENDS_A_BUDGET: &[Failure] = &[Throttled];

/// An endpoint of the customers' API that anyone may call.
const fn visitor(id: &'static str, summary: &'static str, success: Success) -> Operation {
    Operation::new(id, summary, Tag::Customers, Public, success)
}

/// An endpoint of the customers' API for a signed-in customer.
const fn customer(id: &'static str, summary: &'static str, success: Success) -> Operation {
    Operation::new(id, summary, Tag::Customers, Customer, success)
}

/// An endpoint of the back office that support may call (and owners, and the admin token).
const fn support(id: &'static str, summary: &'static str, success: Success) -> Operation {
    Operation::new(id, summary, Tag::Admin, Admin(Role::Support), success)
}

/// An endpoint of the back office for owners (and the admin token) only.
const fn owner(id: &'static str, summary: &'static str, success: Success) -> Operation {
    Operation::new(id, summary, Tag::Admin, Admin(Role::Owner), success)
}

/// An endpoint of a staff member's own session (also one that may only enroll a second
/// factor).
const fn staff_member(id: &'static str, summary: &'static str, success: Success) -> Operation {
    Operation::new(id, summary, Tag::Staff, Staff, success)
}

/// A staff sign-in endpoint that anyone may call.
const fn staff_visitor(id: &'static str, summary: &'static str, success: Success) -> Operation {
    Operation::new(id, summary, Tag::Staff, Public, success)
}

pub const LOGIN: Route = Route::api(
    Post,
    "/customers/login",
    visitor(
        "login",
        "Log in",
        Success::ok("A session token.", Schema("Token")),
    )
    .described("Unknown email, wrong password and an account not yet activated answer alike, 401 `invalid_credentials`. A locked account (`limits.login_lockout_failures` wrong passwords in a row) answers its right password 401 `email_code_required` and emails a sign-in code: sign in with `POST /customers/login_code/verify` (with `email_code` left out of `auth.login_methods`, it answers `invalid_credentials` until a password reset). Only when `auth.login_methods` lists `password` (otherwise 404).")
    .body(Body::Required("Login"))
    .failing(&[InvalidCredentials, NotFound, Throttled]),
);

pub const REQUEST_LOGIN_CODE: Route = Route::api(
    Post,
    "/customers/login_code",
    visitor(
        "requestLoginCode",
        "Email a sign-in code",
        EMAIL_SENT,
    )
    .described("Emails the account with this address (active, or pending: a guest the shop created) a 6-digit code that signs in for `auth.login_code_ttl_minutes` (10), and a link `<links.login_code_uri>?email=&code=`. A newer code replaces the older one. Unknown addresses get no email and the same answer, in the same time; the address's email allowance (`limits.emails_per_address_*`) applies silently. Only when `auth.login_methods` lists `email_code` (otherwise 404).")
    .body(Body::Required("LoginCodeRequest"))
    .failing(&[NotFound, Throttled]),
);

pub const SIGN_IN_WITH_CODE: Route = Route::api(
    Post,
    "/customers/login_code/verify",
    visitor(
        "signInWithCode",
        "Sign in with an emailed code",
        Success::ok("A session token, as `/customers/login` answers.", Schema("Token")),
    )
    .described("A pending account becomes active on the way, with no password (it joins the lists chosen at sign-up). A code works once and dies after 5 wrong tries for its address; a wrong, used, replaced or expired code, or one of the wrong shape (6 digits), answers 422 `invalid_code` on `code` and changes nothing but the count. Draws on the client's budget of code attempts. Only when `auth.login_methods` lists `email_code` (otherwise 404).")
    .body(Body::Required("LoginCodeVerify"))
    .failing(&[NotFound, Throttled]),
);

pub const CUSTOMER_SECOND_FACTOR: Route = Route::api(
    Post,
    "/customers/login/second_factor",
    visitor(
        "customerSecondFactor",
        "Finish a sign-in with a TOTP code or a recovery code",
        Success::ok("A session token, as `/customers/login` answers.", Schema("Token")),
    )
    .described("The `challenge` is the one a sign-in (`/customers/login`, `/customers/login_code/verify`) answered with 401 `second_factor_required`; it lasts 5 minutes and 5 wrong codes. Send either `code` (the six digits of the authenticator app, each accepted once) or `recovery_code` (one of the ten, each works once). An unknown, expired or spent challenge is `invalid_code` on `challenge`; a wrong code, on `code` or `recovery_code`. Draws on the client's budget of code attempts.")
    .body(Body::Required("CustomerSecondFactor"))
    .failing(SPENDS_A_BUDGET),
);

pub const CUSTOMER_TOTP_STATUS: Route = Route::api(
    Get,
    "/customers/totp",
    customer(
        "customerTotpStatus",
        "Whether the caller's second factor is on",
        Success::ok(
            "`enabled`; when on, since when (`added_at`) and how many recovery codes are left unused; never the secret.",
            Schema("TotpStatus"),
        ),
    )
    .described("An enrollment begun but not confirmed counts as off. The account page reads it to offer turning the second factor on or off. Draws on the client's budget of code attempts, like the sessions and the activity.")
    .failing(&[Throttled]),
);

pub const BEGIN_CUSTOMER_TOTP: Route = Route::api(
    Post,
    "/customers/totp",
    customer(
        "beginCustomerTotp",
        "Begin turning on a TOTP second factor",
        Success::ok(
            "The secret (base32) and the `otpauth://` URI an authenticator app reads.",
            Schema("TotpEnrollment"),
        ),
    )
    .described("Needs a recently authenticated session (`auth.reauth_seconds`). Unconfirmed until `POST /customers/totp/confirm`; asking again replaces an unconfirmed secret. With a second factor on already, 409: remove it first.")
    .failing(&[Conflict, ReauthenticationRequired]),
);

pub const CONFIRM_CUSTOMER_TOTP: Route = Route::api(
    Post,
    "/customers/totp/confirm",
    customer(
        "confirmCustomerTotp",
        "Turn the second factor on with a code from the app",
        Success::ok(
            "Ten single-use recovery codes, shown this once.",
            Schema("RecoveryCodes"),
        ),
    )
    .described("From now on a right password or emailed code answers 401 `second_factor_required` with a `challenge` (finish with `POST /customers/login/second_factor`); a passkey needs none. The customer is emailed (`second_factor_added`), and the activity says `second_factor_added`.")
    .body(Body::Required("TotpCode"))
    .failing(SPENDS_A_BUDGET),
);

pub const REMOVE_CUSTOMER_TOTP: Route = Route::api(
    Delete,
    "/customers/totp",
    customer(
        "removeCustomerTotp",
        "Turn the second factor off",
        Success::ok("Removed.", Result("deleted")),
    )
    .described("Needs a recently authenticated session (`auth.reauth_seconds`). The recovery codes and waiting sign-ins go too; the customer is emailed (`second_factor_removed`). 404 when none is on.")
    .failing(&[NotFound, ReauthenticationRequired]),
);

pub const LOGOUT: Route = Route::api(
    Post,
    "/customers/logout",
    customer(
        "logout",
        "End the calling session",
        Success::ok("Logged out.", Result("logged_out")),
    ),
);

pub const SHOW_SELF: Route = Route::api(
    Get,
    "/customers/self",
    customer(
        "showSelf",
        "The caller's customer object",
        Success::ok("The customer.", Schema("Customer")),
    ),
);

pub const UPDATE_SELF: Route = Route::api(
    Patch,
    "/customers/self",
    customer(
        "updateSelf",
        "Edit the profile, subscriptions, email or password",
        Success::ok("The customer, as it now is.", Schema("Customer")),
    )
    .described("A new `email` needs a recently authenticated session (`auth.reauth_seconds`) or the right `current_password` in the same PATCH, else 403 `reauthentication_required`. A refused PATCH changes nothing.")
    .body(Body::Required("ProfileUpdate"))
    .failing(&[ReauthenticationRequired, Throttled]),
);

pub const DELETE_SELF: Route = Route::api(
    Delete,
    "/customers/self",
    customer(
        "deleteSelf",
        "Delete the account and everything tied to it",
        Success::ok("Deleted.", Schema("Deleted")),
    )
    .described("Needs a recently authenticated session (`auth.reauth_seconds`).")
    .failing(&[ReauthenticationRequired]),
);

pub const ACTIVATE: Route = Route::api(
    Post,
    "/customers/activate",
    visitor(
        "activate",
        "Activate an account with the emailed secret",
        Success::ok("Activated.", Result("activated")),
    )
    .body(Body::Required("Activate"))
    .failing(SPENDS_A_BUDGET),
);

pub const REQUEST_PASSWORD_RESET: Route = Route::api(
    Post,
    "/customers/password_reset",
    visitor(
        "requestPasswordReset",
        "Email a password reset code",
        EMAIL_SENT,
    )
    .body(Body::Required("PasswordResetRequest"))
    .failing(SPENDS_A_BUDGET),
);

pub const RESET_PASSWORD: Route = Route::api(
    Post,
    "/customers/do_reset",
    visitor(
        "doReset",
        "Reset the password with the emailed code",
        Success::ok(
            "The new passphrase in a JWT signed with the code.",
            Schema("ResetToken"),
        ),
    )
    .body(Body::Required("DoReset"))
    .failing(SPENDS_A_BUDGET),
);

pub const CONFIRM_NEW_EMAIL: Route = Route::api(
    Post,
    "/customers/newemail_confirm",
    visitor(
        "confirmNewEmail",
        "Confirm a new email address",
        Success::ok("The email address changed.", Result("updated")),
    )
    .body(Body::Required("NewEmailConfirm"))
    .failing(SPENDS_A_BUDGET),
);

pub const LIST_SESSIONS: Route = Route::api(
    Get,
    "/customers/sessions",
    customer(
        "listSessions",
        "The caller's live sessions",
        Success::ok(
            "Most recently used first; the caller's own has `current: true`.",
            Schema("Sessions"),
        ),
    )
    .failing(SPENDS_A_BUDGET),
);

pub const REVOKE_SESSION: Route = Route::api(
    Delete,
    "/customers/sessions/{id}",
    customer(
        "revokeSession",
        "End one of the caller's sessions",
        Success::ok("Ended; its token answers 401 at once.", Result("revoked")),
    )
    .params(&[Param::Path {
        name: "id",
        description: "The session's id from `GET /customers/sessions`; another customer's id answers 404 like an unknown one.",
    }])
    .failing(&[NotFound, Throttled]),
);

pub const REVOKE_OTHER_SESSIONS: Route = Route::api(
    Delete,
    "/customers/sessions",
    customer(
        "revokeOtherSessions",
        "End every session of the caller but the calling one",
        Success::ok("How many ended.", Schema("RevokedCount")),
    )
    .failing(SPENDS_A_BUDGET),
);

pub const ACTIVITY: Route = Route::api(
    Get,
    "/customers/activity",
    customer(
        "activity",
        "The caller's account activity, newest first",
        Success::ok("A page of events.", Schema("Activity")),
    )
    .params(&[
        Param::Cursor {
            name: "before",
            description: "Only events older than this event id (the last id of the previous page).",
        },
        Param::Integer {
            name: "limit",
            minimum: 1,
            maximum: Some(100),
            default: 20,
        },
    ])
    .failing(&[Failure::Invalid, Throttled]),
);

pub const EXPORT: Route = Route::api(
    Get,
    "/customers/self/export",
    customer(
        "exportSelf",
        "Everything stored about the caller, as a JSON download",
        Success::ok(
            "The export, with `Content-Disposition: attachment; filename=\"customer-<id>.json\"`.",
            Schema("Export"),
        ),
    )
    .described("Needs a recently authenticated session (`auth.reauth_seconds`).")
    .failing(&[ReauthenticationRequired, Throttled]),
);

pub const UNDO_EMAIL_CHANGE: Route = Route::api(
    Post,
    "/customers/email_change_undo",
    visitor(
        "undoEmailChange",
        "Undo a confirmed email change with the key mailed to the replaced address",
        Success::ok(
            "The old address is back and every session ended.",
            Result("restored"),
        ),
    )
    .body(Body::Required("EmailChangeUndo"))
    .failing(&[Conflict, Throttled]),
);

pub const SIGN_UP: Route = Route::api(
    Post,
    "/customers/signup",
    visitor(
        "signUp",
        "Sign up (only with `auth.allow_signup`; otherwise 404)",
        EMAIL_SENT,
    )
    .body(Body::Required("SignUp"))
    .described("The customer's emails are written in the first language of the request's `Accept-Language` (quality values honoured) that they exist in; otherwise in `mail.default_language`.")
    .failing(&[NotFound, Throttled]),
);

pub const BEGIN_PASSKEY_REGISTRATION: Route = Route::api(
    Post,
    "/customers/passkeys/register",
    customer(
        "beginPasskeyRegistration",
        "Begin adding a passkey to the caller's account",
        Success::ok(
            "The ceremony's id and the options for `navigator.credentials.create()`.",
            Schema("PasskeyChallenge"),
        ),
    )
    .described("No body at all is the same as `{}`. The challenge can be finished once, within 5 minutes. Only when passkeys are on (otherwise 404). Needs a recently authenticated session (`auth.reauth_seconds`).")
    .body(Body::Optional("Empty"))
    .failing(&[NotFound, ReauthenticationRequired, Throttled]),
);

pub const FINISH_PASSKEY_REGISTRATION: Route = Route::api(
    Post,
    "/customers/passkeys/register/finish",
    customer(
        "finishPasskeyRegistration",
        "Add the passkey the browser created",
        Success::ok("The passkey added.", Schema("Passkey")),
    )
    .described("A challenge that is unknown, used, expired or begun by another customer answers `invalid_code` (field `challenge_id`); a credential that does not verify, 422 on `credential`; one already registered, 409.")
    .body(Body::Required("PasskeyRegistration"))
    .failing(&[Conflict, NotFound, Throttled]),
);

pub const LIST_PASSKEYS: Route = Route::api(
    Get,
    "/customers/passkeys",
    customer(
        "listPasskeys",
        "The caller's passkeys",
        Success::ok("Oldest first.", Schema("Passkeys")),
    )
    .failing(&[NotFound, Throttled]),
);

pub const REMOVE_PASSKEY: Route = Route::api(
    Delete,
    "/customers/passkeys/{id}",
    customer(
        "removePasskey",
        "Remove one of the caller's passkeys",
        Success::ok("Removed; it signs no one in any more.", Result("deleted")),
    )
    .params(&[Param::Path {
        name: "id",
        description: "The passkey's id from `GET /customers/passkeys`; another customer's id answers 404 like an unknown one.",
    }])
    .described("Needs a recently authenticated session (`auth.reauth_seconds`).")
    .failing(&[NotFound, ReauthenticationRequired, Throttled]),
);

pub const BEGIN_PASSKEY_LOGIN: Route = Route::api(
    Post,
    "/customers/passkey_login",
    visitor(
        "beginPasskeyLogin",
        "Begin signing in with a passkey",
        Success::ok(
            "The ceremony's id and the options for `navigator.credentials.get()`.",
            Schema("PasskeyChallenge"),
        ),
    )
    .described("No body at all is the same as `{}`. Draws on the login budget of the client's address. Only when passkeys are on (otherwise 404).")
    .body(Body::Optional("Empty"))
    .failing(&[NotFound, Throttled]),
);

pub const FINISH_PASSKEY_LOGIN: Route = Route::api(
    Post,
    "/customers/passkey_login/finish",
    visitor(
        "finishPasskeyLogin",
        "Sign in with the passkey the browser chose",
        Success::ok("A session token, as `/customers/login` answers.", Schema("Token")),
    )
    .described("Every failure (unknown, used or expired challenge, unknown or removed passkey, bad signature) answers the same 401 `invalid_credentials`. Only when `auth.login_methods` lists `passkey` (otherwise 404).")
    .body(Body::Required("PasskeyLogin"))
    .failing(&[InvalidCredentials, NotFound, Throttled]),
);

pub const REAUTHENTICATE: Route = Route::api(
    Post,
    "/customers/reauthenticate",
    customer(
        "reauthenticate",
        "Prove the password (or a passkey) again, for what needs a recent sign-in",
        Success::ok(
            "The session counts as recently authenticated for `auth.reauth_seconds` (300).",
            Result("reauthenticated"),
        ),
    )
    .described("Changing the email, adding or removing a passkey, the data export and deleting the account answer 403 `reauthentication_required` on a session that was not opened or reauthenticated in the last `auth.reauth_seconds`. Send `{\"password\"}`, or `{\"challenge_id\",\"credential\"}` from a ceremony begun with `POST /customers/passkey_login` and made with one of the caller's passkeys. A wrong password is a failed login: 401 `invalid_credentials`, counted toward the lockout.")
    .body(Body::Required("Reauthenticate"))
    .failing(&[InvalidCredentials, NotFound, Throttled]),
);

pub const NOT_ME: Route = Route::api(
    Post,
    "/customers/not_me",
    visitor(
        "notMe",
        "\"This wasn't me\": take the account back after a sign-in the customer did not make",
        Success::ok(
            "Every session ended, pending email-change keys died, the passkeys that sign-in added were removed, the password is unusable and a reset link was emailed.",
            Result("secured"),
        ),
    )
    .body(Body::Required("NotMe"))
    .failing(SPENDS_A_BUDGET),
);

pub const PUBLIC_LISTS: Route = Route::api(
    Get,
    "/subscriptions",
    Operation::new(
        "publicLists",
        "The lists a customer can opt in to",
        Tag::Subscriptions,
        Public,
        Success::ok("Every list, in id order.", Schema("SubscriptionLists"))
            .cached("public, max-age=60"),
    ),
);

pub const CREATE_CUSTOMER: Route = Route::api(
    Post,
    "/admin/customers",
    owner(
        "createCustomer",
        "Create a pending customer (and email the activation link)",
        Success::created("Created.", Schema("AdminCustomer")),
    )
    .body(Body::Required("NewCustomer"))
    .failing(&[Conflict]),
);

pub const LIST_CUSTOMERS: Route = Route::api(
    Get,
    "/admin/customers",
    support(
        "listCustomers",
        "Find customers",
        Success::ok("A page of customers.", Schema("CustomerPage")),
    )
    .params(&[
        Param::Text {
            name: "search",
            description: "Part of the email, identifier or name.",
            max_length: 254,
        },
        Param::Integer {
            name: "limit",
            minimum: 1,
            maximum: Some(500),
            default: 50,
        },
        Param::Integer {
            name: "offset",
            minimum: 0,
            maximum: None,
            default: 0,
        },
        Param::Text {
            name: "after",
            description: "The `next` of an earlier page: the page after it, as quick a million customers in as at the first (`offset` walks every customer it skips). Not with `offset`.",
            max_length: 40,
        },
    ])
    .failing(&[Failure::Invalid]),
);

pub const SHOW_CUSTOMER: Route = Route::api(
    Get,
    "/admin/customers/{id}",
    support(
        "showCustomer",
        "One customer",
        Success::ok("The customer.", Schema("AdminCustomer")),
    )
    .params(&[CUSTOMER_ID])
    .failing(&[NotFound]),
);

pub const UPDATE_CUSTOMER: Route = Route::api(
    Patch,
    "/admin/customers/{id}",
    support(
        "updateCustomer",
        "Edit a customer's profile, language or subscriptions, with a reason",
        Success::ok("The customer, as it now is.", Schema("AdminCustomer")),
    )
    .described("Any profile key of the customer object (`null` clears it), `language` (of the customer's emails), `subscriptions` (recorded in the consent ledger with source `support`) and `reason`, kept in the audit log's detail. At least one change; a refused PATCH changes nothing. The customer's activity shows a `support_action`.")
    .params(&[CUSTOMER_ID])
    .body(Body::Required("AdminCustomerChanges"))
    .failing(&[NotFound]),
);

pub const DELETE_CUSTOMER: Route = Route::api(
    Delete,
    "/admin/customers/{id}",
    owner(
        "deleteCustomer",
        "Delete a customer; their sessions end at once",
        Success::ok("Deleted.", Schema("AdminDeleted")),
    )
    .params(&[CUSTOMER_ID])
    .failing(&[NotFound]),
);

pub const REMOVE_SECOND_FACTOR: Route = Route::api(
    Delete,
    "/admin/customers/{id}/second_factor",
    support(
        "removeSecondFactor",
        "Remove a customer's second factor",
        Success::ok("Removed.", Result("deleted")),
    )
    .described("For a customer who lost both the authenticator app and the recovery codes. The customer is emailed (`second_factor_removed`) and sees it in the activity (`second_factor_removed`, and `support_action` when staff did it). 404 for an unknown customer or one without a second factor.")
    .params(&[CUSTOMER_ID])
    .failing(&[NotFound]),
);

pub const RESEND_ACTIVATION: Route = Route::api(
    Post,
    "/admin/customers/{id}/resend_activation",
    support(
        "resendActivation",
        "Email a new activation secret",
        Success::ok("Sent.", Result("email_sent")),
    )
    .described("No body at all is the same as `{}`.")
    .params(&[CUSTOMER_ID])
    .body(Body::Optional("ResendActivation"))
    .failing(&[NotFound, Conflict]),
);

pub const SET_SUBSCRIPTIONS: Route = Route::api(
    Put,
    "/admin/customers/{id}/subscriptions",
    support(
        "setSubscriptions",
        "Replace a customer's subscriptions",
        Success::ok("The customer.", Schema("AdminCustomer")),
    )
    .params(&[CUSTOMER_ID])
    .body(Body::Required("SetSubscriptions"))
    .failing(&[NotFound]),
);

pub const CONSENTS: Route = Route::api(
    Get,
    "/admin/customers/{id}/consents",
    support(
        "consents",
        "A customer's consent trail, oldest first",
        Success::ok("The consent records.", Schema("Consents")),
    )
    .params(&[CUSTOMER_ID])
    .failing(&[NotFound]),
);

pub const CUSTOMER_SESSIONS: Route = Route::api(
    Get,
    "/admin/customers/{id}/sessions",
    support(
        "customerSessions",
        "A customer's live sessions, as the customer sees them",
        Success::ok(
            "Most recently used first; none is `current`.",
            Schema("Sessions"),
        ),
    )
    .params(&[CUSTOMER_ID])
    .failing(&[NotFound]),
);

pub const REVOKE_CUSTOMER_SESSIONS: Route = Route::api(
    Delete,
    "/admin/customers/{id}/sessions",
    support(
        "revokeCustomerSessions",
        "End every session of a customer",
        Success::ok(
            "How many ended; their tokens answer 401 at once.",
            Schema("RevokedCount"),
        ),
    )
    .described("Also ends any email change asked and not yet confirmed. The customer's activity shows a `support_action`.")
    .params(&[CUSTOMER_ID])
    .failing(&[NotFound]),
);

pub const CUSTOMER_ACTIVITY: Route = Route::api(
    Get,
    "/admin/customers/{id}/activity",
    support(
        "customerActivity",
        "A customer's account activity, newest first, as the customer sees it",
        Success::ok("A page of events.", Schema("Activity")),
    )
    .params(&[
        CUSTOMER_ID,
        Param::Cursor {
            name: "before",
            description: "Only events older than this event id (the last id of the previous page).",
        },
        Param::Integer {
            name: "limit",
            minimum: 1,
            maximum: Some(100),
            default: 20,
        },
    ])
    .failing(&[NotFound, Failure::Invalid]),
);

pub const CUSTOMER_EMAILS: Route = Route::api(
    Get,
    "/admin/customers/{id}/emails",
    support(
        "customerEmails",
        "The emails sent to a customer: kind, status and time, never a body, link or code",
        Success::ok("A page of emails, newest first.", Schema("SentEmails")),
    )
    .params(&[
        CUSTOMER_ID,
        Param::Cursor {
            name: "before",
            description: "Only emails older than this email id (the last id of the previous page).",
        },
        Param::Integer {
            name: "limit",
            minimum: 1,
            maximum: Some(100),
            default: 20,
        },
    ])
    .failing(&[NotFound, Failure::Invalid]),
);

pub const CUSTOMER_PASSKEYS: Route = Route::api(
    Get,
    "/admin/customers/{id}/passkeys",
    support(
        "customerPasskeys",
        "A customer's passkeys, as the customer sees them",
        Success::ok("Oldest first.", Schema("Passkeys")),
    )
    .params(&[CUSTOMER_ID])
    .failing(&[NotFound]),
);

pub const SEND_PASSWORD_RESET: Route = Route::api(
    Post,
    "/admin/customers/{id}/password_reset",
    support(
        "sendPasswordReset",
        "Email a customer a password reset link",
        Success::ok("Queued in the outbox.", Result("email_sent")),
    )
    .described("The link is `<reset_uri>/<code>` (`reset_uri` as `POST /customers/password_reset` takes it; `links.reset_uri` without it), the same email a customer asking themselves gets; staff never see or set a password. No body at all is the same as `{}`. An account never activated has no password: 409 (resend the activation). The customer's activity shows a `support_action`.")
    .params(&[CUSTOMER_ID])
    .body(Body::Optional("SupportPasswordReset"))
    .failing(&[NotFound, Conflict]),
);

pub const UNLOCK_CUSTOMER: Route = Route::api(
    Post,
    "/admin/customers/{id}/unlock",
    support(
        "unlockCustomer",
        "Lift a customer's lockout",
        Success::ok(
            "The failed sign-ins counted against the account are forgotten; it accepts its password again.",
            Result("unlocked"),
        ),
    )
    .described("Answers alike whether or not the account was locked. The customer's activity shows a `support_action`.")
    .params(&[CUSTOMER_ID])
    .failing(&[NotFound]),
);

pub const ADMIN_LISTS: Route = Route::api(
    Get,
    "/admin/subscriptions",
    support(
        "adminLists",
        "Every subscription list",
        Success::ok("The lists.", Schema("SubscriptionLists")),
    ),
);

pub const ADD_LIST: Route = Route::api(
    Post,
    "/admin/subscriptions",
    owner(
        "addList",
        "Add a subscription list",
        Success::created("The new list.", Schema("SubscriptionList")),
    )
    .body(Body::Required("NewSubscriptionList"))
    .failing(&[Conflict]),
);

pub const REMOVE_LIST: Route = Route::api(
    Delete,
    "/admin/subscriptions/{id}",
    owner(
        "removeList",
        "Remove a list; its subscribers are opted out",
        Success::ok("Deleted.", Schema("Deleted")),
    )
    .params(&[Param::Path {
        name: "id",
        description: "The list id.",
    }])
    .failing(&[NotFound]),
);

pub const RENAME_LIST: Route = Route::api(
    Patch,
    "/admin/subscriptions/{id}",
    owner(
        "renameList",
        "Rename a list, or change its description",
        Success::ok("The list.", Schema("SubscriptionList")),
    )
    .described("`name` (one line, required when present) and `description` (`null` clears it); at least one of them. The list's id, its members and their consents stay as they are. Audited with the old and the new name.")
    .params(&[Param::Path {
        name: "id",
        description: "The list id.",
    }])
    .body(Body::Required("ListChange"))
    .failing(&[NotFound]),
);

pub const LIST_MEMBERS: Route = Route::api(
    Get,
    "/admin/subscriptions/{id}/members",
    owner(
        "listMembers",
        "A list's members, each with a one-click unsubscribe URL",
        Success::ok("One page of members.", Schema("MembersPage")),
    )
    .described("`?limit=` (1-500, default 100) and `?offset=` or `?after=` (the `next` of an earlier page, quick at any depth) page the JSON. `?format=csv` streams every member instead, as `text/csv` with the header row `id,email,name,subscribed_at,unsubscribe_url`; a value starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` so that no spreadsheet runs it as a formula.")
    .params(&[Param::Path {
        name: "id",
        description: "The list id.",
    }])
    .failing(&[NotFound, Failure::Invalid]),
);

const QUEUE_PAGE: &[Param] = &[
    Param::Cursor {
        name: "before",
        description: "Only rows older than this id (the last id of the previous page).",
    },
    Param::Integer {
        name: "limit",
        minimum: 1,
        maximum: Some(200),
        default: 50,
    },
];

pub const STATS: Route = Route::api(
    Get,
    "/admin/stats",
    support(
        "stats",
        "The console's overview: customers by status, sign-ups, queues",
        Success::ok("The figures, as of now.", Schema("Stats")),
    )
    .described("`customers`: `active` (activated, not locked), `pending` (not activated) and `locked` (after repeated failed sign-ins), which add up to every customer. `signups_by_day`: the customers created on each of the last 30 UTC days, oldest first, today last, days without any included. `emails` and `webhooks`: how many are queued and how many failed. Every count is read from an index."),
);

pub const OUTBOX: Route = Route::api(
    Get,
    "/admin/outbox",
    owner(
        "outbox",
        "The emails queued and failed, newest first",
        Success::ok("A page of emails, without their bodies.", Schema("OutboxPage")),
    )
    .described("`?status=queued` or `failed` shows one of them (both by default). Page on with `?before=` the last `id` of a page.")
    .params(QUEUE_PAGE)
    .failing(&[Failure::Invalid]),
);

pub const RETRY_EMAIL: Route = Route::api(
    Post,
    "/admin/outbox/{id}/retry",
    owner(
        "retryEmail",
        "Queue a failed email again",
        Success::ok("Queued for delivery now.", Result("queued")),
    )
    .described("As `customer-area mail retry --id`. An email that is not failed (queued or sent) answers 409, as does a failed one whose one-time code was erased (it cannot be sent again); an unknown id, 404.")
    .params(&[Param::Path {
        name: "id",
        description: "The email's id from `GET /admin/outbox`.",
    }])
    .failing(&[NotFound, Conflict]),
);

pub const WEBHOOK_DELIVERIES: Route = Route::api(
    Get,
    "/admin/webhooks/deliveries",
    owner(
        "webhookDeliveries",
        "The webhook deliveries, newest first",
        Success::ok("A page of deliveries.", Schema("DeliveriesPage")),
    )
    .described("`?status=queued`, `sent` or `failed` shows one of them (all by default). Page on with `?before=` the last `id` of a page.")
    .params(QUEUE_PAGE)
    .failing(&[Failure::Invalid]),
);

pub const RETRY_DELIVERY: Route = Route::api(
    Post,
    "/admin/webhooks/deliveries/{id}/retry",
    owner(
        "retryDelivery",
        "Queue a failed webhook delivery again",
        Success::ok("Queued for delivery now, with the same `webhook-id`.", Result("queued")),
    )
    .described("As `customer-area webhooks retry --id`. A delivery that is not failed (queued or sent) answers 409; an unknown id, 404.")
    .params(&[Param::Path {
        name: "id",
        description: "The delivery's id from `GET /admin/webhooks/deliveries`.",
    }])
    .failing(&[NotFound, Conflict]),
);

pub const TEST_WEBHOOKS: Route = Route::api(
    Post,
    "/admin/webhooks/test",
    owner(
        "testWebhooks",
        "Queue a test event for every webhook endpoint",
        Success::ok("How many were queued: one per configured endpoint.", Schema("QueuedCount")),
    )
    .described("A `ping` event (`{\"type\":\"ping\",\"timestamp\",\"data\":{}}`, signed like every event) goes through the queue to every configured endpoint, whatever events it takes; `GET /admin/webhooks/deliveries` then shows whether it arrived. Without endpoints nothing is queued (`count` 0). `customer-area webhooks test URL` sends one at once instead, bypassing the queue."),
);

pub const IMPORT_CUSTOMERS: Route = Route::api(
    Post,
    "/admin/import",
    owner(
        "importCustomers",
        "Import customers from a CSV file, or check it (dry run)",
        Success::ok(
            "The file is fine: what was (or, a dry run, would be) created.",
            Schema("ImportOutcome"),
        ),
    )
    .described("The body is the CSV file of `customers import` (`Content-Type: text/csv`; columns in `docs/moving-in.md`), at most 64 MiB (413 `body_too_large` past it: import larger files with `customer-area customers import`). Every row is checked against the file and the database first; when any row has a problem the answer is 422 with `error` `import_refused`, `created` 0, `skipped` (every row) and `errors` naming each line and column, and nothing is written. A row with a `password_hash` is active at once and gets no email; `invite=true` queues the activation email of every customer who stays pending. The import holds the database's one writer while it runs: other writes wait (a dry run too).")
    .params(&[
        Param::Flag {
            name: "dry_run",
            description: "`true`: check every row and write nothing; `false`: import.",
        },
        Param::Text {
            name: "invite",
            description: "`true`: email an activation link to each new customer who stays pending (the rows without a password hash). Default `false`.",
            max_length: 5,
        },
    ])
    .body(Body::Csv("The import file: a header row, then one customer per row."))
    .failing(&[Failure::ImportRefused]),
);

pub const MAIL_EVENT: Route = Route::api(
    Post,
    "/admin/mail/events",
    owner(
        "recordMailEvent",
        "Record a bounce or a complaint a mail provider reported",
        Success::ok("What the report changed.", Schema("MailEventOutcome")),
    )
    .described(
        "The same facts `customer-area mail inbound` reads from a report, from a mail provider's relay. A permanent bounce (or `mail.soft_bounce_limit` temporary ones) marks the address undeliverable and takes it off every list (ledger source `bounce`, webhook `customer.email_undeliverable`); a complaint takes it off every list (ledger source `complaint`). `permanent` is required for a bounce and refused for a complaint. An address no account has is 404.",
    )
    .body(Body::Required("MailEvent"))
    .failing(&[NotFound]),
);

pub const AUDIT: Route = Route::api(
    Get,
    "/admin/audit",
    support(
        "audit",
        "The audit log of /admin, newest first",
        Success::ok("A page of entries.", Schema("AuditLog")),
    )
    .described("Every action under `/admin`: who (`staff:<email>` or `api_token`), what (the operation id), on which customer, from which IP, and the operation's summary. Owners and the admin token read it all; a support agent only the entries about customers they acted on. Append-only: the database refuses to change or remove an entry.")
    .params(&[
        Param::Cursor {
            name: "before",
            description: "Only entries older than this entry id (the last id of the previous page).",
        },
        Param::Integer {
            name: "limit",
            minimum: 1,
            maximum: Some(200),
            default: 50,
        },
        Param::Text {
            name: "customer",
            description: "Only entries about this customer id.",
            max_length: 40,
        },
        Param::Text {
            name: "actor",
            description: "Only entries by this actor (`staff:<email>` or `api_token`).",
            max_length: 300,
        },
    ])
    .failing(&[Failure::Invalid]),
);

pub const STAFF_ACTIVATE: Route = Route::api(
    Post,
    "/admin/staff/activate",
    staff_visitor(
        "activateStaff",
        "Choose a staff member's password with the invitation's identifier and secret",
        Success::ok("Activated: the staff member may sign in.", Result("activated")),
    )
    .described("The identifier and secret are those of the invitation link `customer-area staff add` (or `staff reset`) printed and emailed. A wrong, used or expired invitation answers `invalid_code` on `secret`.")
    .body(Body::Required("Activate"))
    .failing(SPENDS_A_BUDGET),
);

pub const STAFF_LOGIN: Route = Route::api(
    Post,
    "/admin/staff/login",
    staff_visitor(
        "staffLogin",
        "Sign a staff member in",
        Success::ok("A staff session token.", Schema("Token")),
    )
    .described("Throttled and locked out like a customer's login (`limits.*`); a locked staff member signs in again after `customer-area staff reset`. The session ends `console.session_hours` after the sign-in, or `console.idle_minutes` unused. A staff member with a second factor gets 401 `second_factor_required` with a `challenge` instead of a token: finish with `POST /admin/staff/login/second_factor`. Where `console.second_factor` asks a second factor of a staff member who has none, the session may only enroll one (`POST /admin/staff/totp`, or a passkey: `POST /admin/staff/passkeys/register`). A member whose only second factor is a passkey gets 401 `passkey_required`: they sign in with `POST /admin/staff/passkey_login`.")
    .body(Body::Required("Login"))
    .failing(&[InvalidCredentials, Throttled]),
);

pub const STAFF_SECOND_FACTOR: Route = Route::api(
    Post,
    "/admin/staff/login/second_factor",
    staff_visitor(
        "staffSecondFactor",
        "Finish a staff sign-in with a TOTP code or a recovery code",
        Success::ok("A staff session token.", Schema("Token")),
    )
    .described("The `challenge` is the one `POST /admin/staff/login` answered with 401 `second_factor_required`; it lasts 5 minutes and 5 wrong codes. The `code` is the six digits of the authenticator app (each accepted once) or one of the ten recovery codes (each works once). An unknown, expired or spent challenge is `invalid_code` on `challenge`; a wrong code, on `code`.")
    .body(Body::Required("StaffSecondFactor"))
    .failing(SPENDS_A_BUDGET),
);

pub const BEGIN_TOTP: Route = Route::api(
    Post,
    "/admin/staff/totp",
    staff_member(
        "beginTotp",
        "Begin enrolling a TOTP second factor",
        Success::ok(
            "The secret (base32), the `otpauth://` URI an authenticator app reads, and that URI as a QR code (`qr_svg`, an SVG drawn by the server).",
            Schema("TotpEnrollment"),
        ),
    )
    .described("Unconfirmed until `POST /admin/staff/totp/confirm`; asking again replaces an unconfirmed secret. A confirmed second factor is replaced only after `customer-area staff reset` (409).")
    .failing(&[Conflict]),
);

pub const CONFIRM_TOTP: Route = Route::api(
    Post,
    "/admin/staff/totp/confirm",
    staff_member(
        "confirmTotp",
        "Confirm the TOTP second factor with a code from the app",
        Success::ok(
            "Ten single-use recovery codes, shown this once; the calling session may now do everything its role may.",
            Schema("RecoveryCodes"),
        ),
    )
    .body(Body::Required("TotpCode"))
    .failing(SPENDS_A_BUDGET),
);

pub const BEGIN_STAFF_PASSKEY_REGISTRATION: Route = Route::api(
    Post,
    "/admin/staff/passkeys/register",
    staff_member(
        "beginStaffPasskeyRegistration",
        "Begin adding a passkey to the calling staff member",
        Success::ok(
            "The ceremony's id and the options for `navigator.credentials.create()`.",
            Schema("PasskeyChallenge"),
        ),
    )
    .described("Also in a session that may only enroll a second factor: a passkey is one. No body at all is the same as `{}`. The challenge can be finished once, within 5 minutes. Staff passkeys are apart from the customers': a customer's passkey never signs a staff member in, nor the other way round. Only when passkeys are on (otherwise 404).")
    .body(Body::Optional("Empty"))
    .failing(&[NotFound, Throttled]),
);

pub const FINISH_STAFF_PASSKEY_REGISTRATION: Route = Route::api(
    Post,
    "/admin/staff/passkeys/register/finish",
    staff_member(
        "finishStaffPasskeyRegistration",
        "Add the passkey the browser created to the calling staff member",
        Success::ok(
            "The passkey added; it is the member's second factor from now on, and the calling session may do everything its role may.",
            Schema("Passkey"),
        ),
    )
    .described("A challenge that is unknown, used, expired or begun by someone else answers `invalid_code` (field `challenge_id`); a credential that does not verify, 422 on `credential`; one already registered, 409. Audited (`staff.passkey_added`). A member whose only second factor is a passkey signs in with it: their password alone answers 401 `passkey_required`.")
    .body(Body::Required("PasskeyRegistration"))
    .failing(&[Conflict, NotFound, Throttled]),
);

pub const LIST_STAFF_PASSKEYS: Route = Route::api(
    Get,
    "/admin/staff/passkeys",
    staff_member(
        "listStaffPasskeys",
        "The calling staff member's passkeys",
        Success::ok("Oldest first.", Schema("Passkeys")),
    ),
);

pub const REMOVE_STAFF_PASSKEY: Route = Route::api(
    Delete,
    "/admin/staff/passkeys/{id}",
    staff_member(
        "removeStaffPasskey",
        "Remove one of the calling staff member's passkeys",
        Success::ok("Removed; it signs no one in any more.", Result("deleted")),
    )
    .params(&[Param::Path {
        name: "id",
        description: "The passkey's id from `GET /admin/staff/passkeys`; another member's id answers 404 like an unknown one.",
    }])
    .described("Audited (`staff.passkey_removed`). Removing the last second factor leaves the current session as it is; the next sign-in with the password may then only enroll one, where `console.second_factor` asks one.")
    .failing(&[NotFound, Throttled]),
);

pub const BEGIN_STAFF_PASSKEY_LOGIN: Route = Route::api(
    Post,
    "/admin/staff/passkey_login",
    staff_visitor(
        "beginStaffPasskeyLogin",
        "Begin a staff sign-in with a passkey",
        Success::ok(
            "The ceremony's id and the options for `navigator.credentials.get()`.",
            Schema("PasskeyChallenge"),
        ),
    )
    .described("No body at all is the same as `{}`. Draws on the login budget of the client's address. Only when passkeys are on (otherwise 404).")
    .body(Body::Optional("Empty"))
    .failing(&[NotFound, Throttled]),
);

pub const FINISH_STAFF_PASSKEY_LOGIN: Route = Route::api(
    Post,
    "/admin/staff/passkey_login/finish",
    staff_visitor(
        "finishStaffPasskeyLogin",
        "Sign a staff member in with the passkey the browser chose",
        Success::ok(
            "A full staff session token (a passkey is both factors), lasting as a password sign-in's.",
            Schema("Token"),
        ),
    )
    .described("Throttled like `POST /admin/staff/login`. Every failure (unknown, used or expired challenge, a customer's passkey or an unknown one, a bad signature, a member locked after wrong passwords) answers the same 401 `invalid_credentials`. Audited as `staff.login`, success and refusal.")
    .body(Body::Required("PasskeyLogin"))
    .failing(&[InvalidCredentials, NotFound, Throttled]),
);

pub const STAFF_LOGOUT: Route = Route::api(
    Post,
    "/admin/staff/logout",
    staff_member(
        "staffLogout",
        "End the calling staff session",
        Success::ok("Logged out.", Result("logged_out")),
    ),
);

pub const STAFF_SELF: Route = Route::api(
    Get,
    "/admin/staff/self",
    staff_member(
        "staffSelf",
        "The calling staff member",
        Success::ok("Who is signed in.", Schema("StaffMember")),
    ),
);

const STAFF_EMAIL: Param = Param::Path {
    name: "email",
    description: "The staff member's email address (percent-encoded or not).",
};

pub const LIST_STAFF: Route = Route::api(
    Get,
    "/admin/staff",
    owner(
        "listStaff",
        "Every staff member, by address",
        Success::ok("The staff.", Schema("StaffList")),
    )
    .described("Who they are, their role, whether they accepted the invitation (`state`: `invited`, `active` or `locked`) and have a second factor; never a password, a secret or an invitation link."),
);

pub const ADD_STAFF: Route = Route::api(
    Post,
    "/admin/staff",
    owner(
        crate::flows::staff_actions::ADD_STAFF,
        "Invite a staff member",
        Success::created("The new staff member, invited.", Schema("StaffListMember")),
    )
    .described("As `customer-area staff add`: the invitation link (`<public_url>/console/activate?identifier=&secret=`) is emailed to the new member, and is not in the answer (staff never see a secret). A taken address is 409 `conflict` on `email`.")
    .body(Body::Required("NewStaffMember"))
    .failing(&[Conflict]),
);

pub const REMOVE_STAFF: Route = Route::api(
    Delete,
    "/admin/staff/{email}",
    owner(
        crate::flows::staff_actions::REMOVE_STAFF,
        "Remove a staff member; their sessions end at once",
        Success::ok("Removed.", Schema("StaffRemoved")),
    )
    .described("As `customer-area staff remove`. The shop's last owner is not removed: 409 `last_owner` (invite another owner first).")
    .params(&[STAFF_EMAIL])
    .failing(&[NotFound, Failure::LastOwner]),
);

pub const RESET_STAFF: Route = Route::api(
    Post,
    "/admin/staff/{email}/reset",
    owner(
        crate::flows::staff_actions::RESET_STAFF,
        "Send a staff member a new invitation",
        Success::ok("Queued in the outbox.", Result("email_sent")),
    )
    .described("As `customer-area staff reset`: the password and second factor are cleared, a lockout lifted, every session ends, and a new invitation is emailed (not answered). No body.")
    .params(&[STAFF_EMAIL])
    .failing(&[NotFound]),
);

pub const CHANGE_STAFF_ROLE: Route = Route::api(
    Patch,
    "/admin/staff/{email}",
    owner(
        crate::flows::staff_actions::CHANGE_STAFF_ROLE,
        "Give a staff member another role; their sessions end at once",
        Success::ok("The staff member, with the new role.", Schema("StaffListMember")),
    )
    .described("As `customer-area staff role`. `{\"role\"}`: `owner` or `support` (else 422 on `role`). Every session of the member ends, so that the new role applies to their next sign-in; the role they have already changes nothing and is not audited. The shop's last owner stays an owner: 409 `last_owner` (invite another owner first).")
    .params(&[STAFF_EMAIL])
    .body(Body::Required("StaffRoleChange"))
    .failing(&[NotFound, Failure::LastOwner]),
);

pub const UNSUBSCRIBE: Route = Route::api(
    Post,
    "/unsubscribe/{token}",
    visitor(
        "unsubscribe",
        "One-click unsubscribe (RFC 8058)",
        Success::ok(
            "Unsubscribed, now or already before.",
            Result("unsubscribed"),
        ),
    )
    .described("The body is the form `List-Unsubscribe=One-Click` (`application/x-www-form-urlencoded` or `multipart/form-data`), as a mailbox provider sends it; no login. Answers 200 also when the subscription had already ended; a token this server did not issue, or an altered one, is 404; any other form is 422. `GET` on the same URL opens a page with a button and never unsubscribes.")
    .params(&[UNSUBSCRIBE_TOKEN])
    .body(Body::Form("OneClick"))
    .failing(&[NotFound]),
);

const UNSUBSCRIBE_TOKEN: Param = Param::Path {
    name: "token",
    description: "The token of a member's `unsubscribe_url`.",
};

/// What the preference page's endpoints share: the link's token is the only credential.
const PREFERENCE_LINK: &str = "No login: the token of the `unsubscribe_url` speaks for its customer while the subscription it names lasts (paused or not). A token this server did not issue, or an altered one, is 404; once that subscription has ended (unsubscribed, or subscribed anew since the link) it is 422 `invalid_code` on `token`, and nothing changes.";

pub const SUBSCRIPTION_PREFERENCES: Route = Route::api(
    Get,
    "/unsubscribe/{token}/preferences",
    visitor(
        "subscriptionPreferences",
        "The preference page's view: the link's list and every subscription of its customer",
        Success::ok(
            "The list the link came from, and the customer's subscriptions with `paused_until`.",
            Schema("SubscriptionPreferences"),
        ),
    )
    .described(PREFERENCE_LINK)
    .params(&[UNSUBSCRIBE_TOKEN])
    .failing(&[NotFound, Failure::Invalid]),
);

pub const PAUSE_SUBSCRIPTION: Route = Route::api(
    Post,
    "/unsubscribe/{token}/pause",
    visitor(
        "pauseSubscription",
        "Pause one of the customer's lists for 30 or 90 days",
        Success::ok("Paused until `paused_until`.", Schema("Paused")),
    )
    .described("`{\"list\", \"days\"}`: `days` is 30 or 90 (else 422 on `days`), `list` one of the customer's subscriptions (else 422 on `list`). Until then no members export (JSON or CSV) names the customer for that list; after it they are members again, with nothing to run. A running pause is replaced. The ledger records `pause` with source `preference_page`, the end in `paused_until`, and the caller's IP and user agent. No login: the token of the `unsubscribe_url` speaks for its customer while the subscription it names lasts; a token this server did not issue is 404, one whose subscription has ended 422 `invalid_code` on `token`; nothing changes then.")
    .params(&[UNSUBSCRIBE_TOKEN])
    .body(Body::Required("Pause"))
    .failing(&[NotFound]),
);

pub const RESUME_SUBSCRIPTION: Route = Route::api(
    Post,
    "/unsubscribe/{token}/resume",
    visitor(
        "resumeSubscription",
        "End a pause early",
        Success::ok(
            "`resumed` (the ledger records `resume`, source `preference_page`), or `not_paused`: nothing to end.",
            Schema("Resumed"),
        ),
    )
    .described(PREFERENCE_LINK)
    .params(&[UNSUBSCRIBE_TOKEN])
    .body(Body::Required("Resume"))
    .failing(&[NotFound]),
);

pub const UNSUBSCRIBE_ALL: Route = Route::api(
    Post,
    "/unsubscribe/{token}/all",
    visitor(
        "unsubscribeAll",
        "Unsubscribe from every list",
        Success::ok(
            "The lists left (the ledger records `out` for each, source `preference_page`).",
            Schema("UnsubscribedAll"),
        ),
    )
    .described(PREFERENCE_LINK)
    .params(&[UNSUBSCRIBE_TOKEN])
    .body(Body::Optional("Empty"))
    .failing(&[NotFound]),
);

pub const HEALTHZ: Route = Route::api(
    Get,
    "/healthz",
    Operation::new(
        "healthz",
        "Liveness and database check",
        Tag::Operations,
        Public,
        Success::ok(
            "Running, and the database answers and takes writes.",
            Schema("Health"),
        ),
    )
    .failing(&[Failure::Unhealthy]),
);

pub const METRICS: Route = Route::api(
    Get,
    "/metrics",
    Operation::new(
        "metrics",
        "Prometheus / OpenMetrics text",
        Tag::Operations,
        OperatorOrAdmin,
        Success::ok("The metrics.", Text("application/openmetrics-text")),
    )
    .described("Answers the admin token or a loopback peer that is not relaying someone else's request (no `X-Forwarded-For`); everyone else gets the 404 of an unknown route."),
);

pub const OPENAPI: Route = Route::api(
    Get,
    "/openapi.json",
    Operation::new(
        "openapi",
        "This document",
        Tag::Operations,
        Public,
        Success::ok("The OpenAPI document.", AnyObject),
    )
    .infallible(),
);
