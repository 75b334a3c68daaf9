//! The editable fields of the customer's profile, each with its rule, and a validated set of
//! changes to them.

use super::{Country, clean_text};

/// An editable field of the customer's profile (everything but id, email and subscriptions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileField {
    Name,
    Phone,
    Mobile,
    Address,
    AddressTown,
    AddressPostcode,
    AddressRegion,
    Country,
}

impl ProfileField {
    pub const ALL: [ProfileField; 8] = [
        ProfileField::Name,
        ProfileField::Phone,
        ProfileField::Mobile,
        ProfileField::Address,
        ProfileField::AddressTown,
        ProfileField::AddressPostcode,
        ProfileField::AddressRegion,
        ProfileField::Country,
    ];

    /// The field's key in the customer object, and its column in the store.
    pub fn key(self) -> &'static str {
        match self {
            ProfileField::Name => "name",
            ProfileField::Phone => "phone",
            ProfileField::Mobile => "mobile",
            ProfileField::Address => "address",
            ProfileField::AddressTown => "address_town",
            ProfileField::AddressPostcode => "address_postcode",
            ProfileField::AddressRegion => "address_region",
            ProfileField::Country => "country",
        }
    }

    pub fn from_key(key: &str) -> Option<ProfileField> {
        Self::ALL.into_iter().find(|f| f.key() == key)
    }

    /// Checks a new value for this field; `Ok(None)` means the field is cleared.
    pub fn parse(self, raw: &str) -> Result<Option<String>, String> {
        match self {
            ProfileField::Name => clean_text(raw, 200, false),
            ProfileField::Phone | ProfileField::Mobile => parse_phone(raw),
            ProfileField::Address => clean_text(raw, 500, true),
            ProfileField::AddressTown | ProfileField::AddressRegion => clean_text(raw, 100, false),
            ProfileField::AddressPostcode => clean_text(raw, 20, false),
            ProfileField::Country => match raw.trim() {
                "" => Ok(None),
                code => Country::parse(code).map(|c| Some(c.as_str().to_owned())),
            },
        }
    }
}

fn parse_phone(raw: &str) -> Result<Option<String>, String> {
    let Some(value) = clean_text(raw, 32, false)? else {
        return Ok(None);
    };
    let allowed = |c: char| c.is_ascii_digit() || " +-().".contains(c);
    if !value.chars().all(allowed) {
        return Err("may contain only digits, spaces and + - ( ) .".into());
    }
    if value.chars().filter(char::is_ascii_digit).count() < 3 {
        return Err("must contain at least 3 digits".into());
    }
    Ok(Some(value))
}

/// Validated changes to a customer's profile: each field to set, or to clear (`None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    pub fields: Vec<(ProfileField, Option<String>)>,
}

impl ProfileChanges {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_round_trips_its_key() {
        for field in ProfileField::ALL {
            assert_eq!(ProfileField::from_key(field.key()), Some(field));
        }
    }

    #[test]
    fn phones_take_phone_characters_only() {
        assert_eq!(
            ProfileField::Phone.parse(" +44 (20) 7946-0958 ").unwrap(),
            Some("+44 (20) 7946-0958".into())
        );
        assert!(ProfileField::Phone.parse("call me").is_err());
        assert!(ProfileField::Mobile.parse("+-()").is_err());
        assert_eq!(ProfileField::Mobile.parse("").unwrap(), None);
    }

    #[test]
    fn country_is_stored_upper_case() {
        assert_eq!(
            ProfileField::Country.parse("de").unwrap(),
            Some("DE".into())
        );
        assert!(ProfileField::Country.parse("Germany").is_err());
    }

    #[test]
    fn addresses_may_span_lines_but_names_may_not() {
        assert!(ProfileField::Address.parse("1 High St\nFlat 2").is_ok());
        assert!(ProfileField::Name.parse("Ada\nBcc: x").is_err());
    }
}
