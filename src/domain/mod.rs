//! The customer area's vocabulary: types whose constructors are the only way in, so that a
//! value of the type is always valid. Nothing here knows about HTTP or SQL.

mod code;
mod country;
mod customer;
mod device;
mod email;
mod language;
mod list_id;
mod mailbox;
mod passkey;
mod password;
mod profile;
mod security;
mod staff;
mod text;

pub use code::{ActivationSecret, LinkKey, LoginCode, ResetCode};
pub use country::Country;
pub use customer::{
    AscendingIds, Customer, CustomerId, Identifier, Status, Subscription, format_time,
    parse_past_time, parse_time, rfc3339_field, rfc3339_option, utc_minute,
};
pub use device::device_name;
pub use email::EmailAddress;
pub use language::Language;
pub use list_id::ListId;
pub use mailbox::Mailbox;
pub use passkey::{PasskeyId, PasskeyName};
pub use password::{NewPassword, PasswordPolicy};
pub use profile::{FIELDS, FieldSpec, Profile, ProfileChanges, ProfileField, Rule};
pub use security::{ActivityKind, Client, MAX_USER_AGENT_CHARS, SessionId};
pub use staff::Role;
pub use text::clean_text;
