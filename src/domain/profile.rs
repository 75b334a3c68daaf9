//! The customer's profile fields, described once. [`FIELDS`] gives each field its key (in the
//! customer object, as the store's column and as an import file's header), the rule its values
//! follow, and how the API's schema, `customers show` and the account page present it; every
//! list of profile fields in the program is read from it (see docs/adding-a-field.md).

use super::{Country, clean_text};

/// An editable field of the customer's profile (everything but id, email and subscriptions),
/// in the order of [`FIELDS`].
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

/// The rule a field's values follow; it also decides the account page's control for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// One line of text of up to `max` characters (an input).
    Line { max: usize },
    /// Text of up to `max` characters that may span lines (a text area).
    Lines { max: usize },
    /// A phone number: up to 32 characters of digits, spaces and `+ - ( ) .`, with at least 3
    /// digits (a telephone input).
    Phone,
    /// An ISO 3166-1 alpha-2 code, kept upper case (a select of the countries).
    Country,
}

/// The longest phone number taken, in characters.
const PHONE_MAX: usize = 32;

/// One profile field, described once.
#[derive(Debug)]
pub struct FieldSpec {
    pub field: ProfileField,
    /// Its key in the customer object, its column in `customers` and its header in an import
    /// file.
    pub key: &'static str,
    pub rule: Rule,
    /// What the API's schema (openapi.json) says of its values.
    pub description: &'static str,
    /// Its label in `customer-area customers show`.
    pub label: &'static str,
    /// The keys of its label and of its hint in the pages' texts (`[index]` in
    /// `src/web/text/*.toml`).
    pub text: &'static str,
    pub hint: Option<&'static str>,
    /// The browser's `autocomplete` token for its control on the account page.
    pub autocomplete: &'static str,
}

/// Every profile field, in the order of [`ProfileField`], of the customer object and of the
/// account page's form.
pub const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        field: ProfileField::Name,
        key: "name",
        rule: Rule::Line { max: 200 },
        description: "Up to 200 characters.",
        label: "name",
        text: "name",
        hint: Some("name_hint"),
        autocomplete: "name",
    },
    FieldSpec {
        field: ProfileField::Phone,
        key: "phone",
        rule: Rule::Phone,
        description: "Up to 32 characters of digits, spaces and `+ - ( ) .`, with at least 3 digits.",
        label: "phone",
        text: "phone",
        hint: Some("phone_hint"),
        autocomplete: "tel",
    },
    FieldSpec {
        field: ProfileField::Mobile,
        key: "mobile",
        rule: Rule::Phone,
        description: "As `phone`.",
        label: "mobile",
        text: "mobile",
        hint: Some("phone_hint"),
        autocomplete: "tel",
    },
    FieldSpec {
        field: ProfileField::Address,
        key: "address",
        rule: Rule::Lines { max: 500 },
        description: "Up to 500 characters; line breaks allowed.",
        label: "address",
        text: "address",
        hint: Some("address_hint"),
        autocomplete: "street-address",
    },
    FieldSpec {
        field: ProfileField::AddressTown,
        key: "address_town",
        rule: Rule::Line { max: 100 },
        description: "Up to 100 characters.",
        label: "town",
        text: "town",
        hint: Some("town_hint"),
        autocomplete: "address-level2",
    },
    FieldSpec {
        field: ProfileField::AddressPostcode,
        key: "address_postcode",
        rule: Rule::Line { max: 20 },
        description: "Up to 20 characters.",
        label: "postcode",
        text: "postcode",
        hint: Some("postcode_hint"),
        autocomplete: "postal-code",
    },
    FieldSpec {
        field: ProfileField::AddressRegion,
        key: "address_region",
        rule: Rule::Line { max: 100 },
        description: "Up to 100 characters.",
        label: "region",
        text: "region",
        hint: Some("region_hint"),
        autocomplete: "address-level1",
    },
    FieldSpec {
        field: ProfileField::Country,
        key: "country",
        rule: Rule::Country,
        description: "ISO 3166-1 alpha-2 code; any case on input, upper case on output.",
        label: "country",
        text: "country",
        hint: None,
        autocomplete: "country",
    },
];

impl ProfileField {
    /// Every field, in the order of [`FIELDS`].
    pub const ALL: [ProfileField; FIELDS.len()] = {
        let mut all = [ProfileField::Name; FIELDS.len()];
        let mut i = 0;
        while i < FIELDS.len() {
            all[i] = FIELDS[i].field;
            i += 1;
        }
        all
    };

    /// The field's description in [`FIELDS`].
    pub fn spec(self) -> &'static FieldSpec {
        &FIELDS[self as usize]
    }

    /// The field's key in the customer object, and its column in the store.
    pub fn key(self) -> &'static str {
        self.spec().key
    }

    pub fn from_key(key: &str) -> Option<ProfileField> {
        FIELDS
            .iter()
            .find(|spec| spec.key == key)
            .map(|spec| spec.field)
    }

    /// Checks a new value for this field; `Ok(None)` means the field is cleared.
    pub fn parse(self, raw: &str) -> Result<Option<String>, String> {
        match self.spec().rule {
            Rule::Line { max } => clean_text(raw, max, false),
            Rule::Lines { max } => clean_text(raw, max, true),
            Rule::Phone => parse_phone(raw),
            Rule::Country => match raw.trim() {
                "" => Ok(None),
                code => Country::parse(code).map(|c| Some(c.as_str().to_owned())),
            },
        }
    }
}

impl Rule {
    /// The most characters a value may have; `None` for a code chosen from a list.
    pub fn max_length(self) -> Option<usize> {
        match self {
            Rule::Line { max } | Rule::Lines { max } => Some(max),
            Rule::Phone => Some(PHONE_MAX),
            Rule::Country => None,
        }
    }
}

fn parse_phone(raw: &str) -> Result<Option<String>, String> {
    let Some(value) = clean_text(raw, PHONE_MAX, false)? else {
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

/// The values of a customer's profile fields, `None` where unset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    values: [Option<String>; FIELDS.len()],
}

impl Default for Profile {
    fn default() -> Profile {
        Profile {
            values: std::array::from_fn(|_| None),
        }
    }
}

impl Profile {
    pub fn get(&self, field: ProfileField) -> Option<&str> {
        self.values[field as usize].as_deref()
    }

    pub fn set(&mut self, field: ProfileField, value: Option<String>) {
        self.values[field as usize] = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_describes_each_field_once_in_the_order_of_the_enum() {
        for (i, spec) in FIELDS.iter().enumerate() {
            assert_eq!(spec.field as usize, i, "{} is out of place", spec.key);
            // Keys are written into SQL as column names: plain lower-case identifiers only.
            assert!(
                spec.key.starts_with(|c: char| c.is_ascii_lowercase())
                    && spec.key.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                spec.key
            );
        }
    }

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
