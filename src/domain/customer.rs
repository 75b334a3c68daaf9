//! Who a customer is: the 14-digit public id (and ascending batches of them for an import),
//! the retailer's identifier, the account's status and the customer object the API shows.

use std::fmt;

use serde::Serialize;

use super::{FIELDS, Profile, ProfileField};

/// A customer's public id: 14 random digits, never reused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CustomerId(String);

impl CustomerId {
    /// A fresh random id (the store makes sure it was never issued before): 14 digits, the
    /// first not a zero, so that the id survives a round trip through a number column.
    pub fn random() -> CustomerId {
        CustomerId::from_number(FIRST_ID + crate::random::random_below_u64(LAST_ID - FIRST_ID + 1))
    }

    fn from_number(n: u64) -> CustomerId {
        CustomerId(n.to_string())
    }

    pub fn parse(raw: &str) -> Result<CustomerId, String> {
        if raw.len() == 14 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(CustomerId(raw.to_owned()))
        } else {
            Err("must be a string of 14 digits".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as the number its 14 digits spell: two customers never share one.
    pub fn number(&self) -> u64 {
        self.0
            .bytes()
            .fold(0, |n, digit| n * 10 + u64::from(digit - b'0'))
    }
}

/// The smallest and the largest customer id.
const FIRST_ID: u64 = 10_000_000_000_000;
const LAST_ID: u64 = 99_999_999_999_999;

/// Random ids for `count` new customers at once (an import), handed out in ascending order:
/// together they are a uniform random sample of the id space, as many [`CustomerId::random`]
/// calls would be, but sorted. Customers, and every table and index keyed by customer, then
/// take them in one sweep along each B-tree instead of at a random page each, which is what
/// made a million-row import slow once the database outgrew its page cache.
///
/// The sample is drawn as descending order statistics (the largest of `n` uniforms is
/// `U^(1/n)`, the next the largest of `n - 1` below it, and so on), mirrored. An id that is
/// already taken is the store's to replace with a random one.
pub struct AscendingIds {
    left: u64,
    /// The last order statistic drawn, mirrored: ids come from `1 - top`.
    top: f64,
    last: u64,
}

impl AscendingIds {
    pub fn new(count: u64) -> AscendingIds {
        AscendingIds {
            left: count,
            top: 1.0,
            last: FIRST_ID - 1,
        }
    }
}

impl Iterator for AscendingIds {
    type Item = CustomerId;

    fn next(&mut self) -> Option<CustomerId> {
        if self.left == 0 {
            return None;
        }
        self.top *= crate::random::random_unit().powf(1.0 / self.left as f64);
        self.left -= 1;
        let span = (LAST_ID - FIRST_ID + 1) as f64;
        let n = FIRST_ID + ((1.0 - self.top) * span) as u64;
        // Rounding may repeat the last id; the ids stay strictly ascending and in range.
        self.last = n.max(self.last + 1).min(LAST_ID);
        Some(CustomerId::from_number(self.last))
    }
}

impl AsRef<str> for CustomerId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A customer's stable public handle used in email links, e.g. `test-user-1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Identifier(String);

impl Identifier {
    pub const MAX_LEN: usize = 64;

    /// Letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 64 characters.
    pub fn parse(raw: &str) -> Result<Identifier, String> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.starts_with(|c: char| c.is_ascii_alphanumeric())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if ok {
            Ok(Identifier(raw.to_owned()))
        } else {
            Err(
                "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
                    .into(),
            )
        }
    }

    /// A generated identifier such as `c-4k9x2m7q8z1w`.
    pub fn random() -> Identifier {
        const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
        let tail: String = (0..12)
            .map(|_| {
                char::from(ALPHABET[crate::random::random_below(ALPHABET.len() as u32) as usize])
            })
            .collect();
        Identifier(format!("c-{tail}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the customer has set a password through their activation link yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Active,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
        }
    }

    pub fn parse(raw: &str) -> Option<Status> {
        match raw {
            "pending" => Some(Status::Pending),
            "active" => Some(Status::Active),
            _ => None,
        }
    }
}

/// A list the customer is subscribed to, as shown in the customer object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub id: String,
    pub name: String,
    #[serde(serialize_with = "rfc3339_field")]
    pub subscribed_at: i64,
    /// Paused from the unsubscribe page: no list export names the customer before this time.
    #[serde(serialize_with = "rfc3339_option")]
    pub paused_until: Option<i64>,
}

/// The customer object of the API: exactly the keys of [`Customer::keys`], `null` where unset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    pub email: String,
    /// `false` once bounces showed the address dead (`mail inbound`): the account page asks
    /// for a working one, and no list export names it. A confirmed new address is `true`.
    pub email_deliverable: bool,
    pub profile: Profile,
    pub subscriptions: Vec<Subscription>,
}

impl Customer {
    /// The keys of the customer object, in the order the API writes them: `id`, `name`,
    /// `email`, `email_deliverable`, the other profile fields of [`FIELDS`], `subscriptions`.
    pub fn keys() -> impl Iterator<Item = &'static str> {
        let (name, others) = FIELDS.split_first().expect("the profile has fields");
        ["id", name.key, "email", "email_deliverable"]
            .into_iter()
            .chain(others.iter().map(|spec| spec.key))
            .chain(["subscriptions"])
    }

    /// The customer's name, if they gave one.
    pub fn name(&self) -> Option<&str> {
        self.profile.get(ProfileField::Name)
    }
}

impl Serialize for Customer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(FIELDS.len() + 4))?;
        for key in Customer::keys() {
            match key {
                "id" => map.serialize_entry(key, &self.id)?,
                "email" => map.serialize_entry(key, &self.email)?,
                "email_deliverable" => map.serialize_entry(key, &self.email_deliverable)?,
                "subscriptions" => map.serialize_entry(key, &self.subscriptions)?,
                field => map.serialize_entry(
                    key,
                    &ProfileField::from_key(field).and_then(|f| self.profile.get(f)),
                )?,
            }
        }
        map.end()
    }
}

/// Formats Unix seconds as RFC 3339 UTC, e.g. `2026-11-24T09:30:00Z`.
pub fn format_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Parses an RFC 3339 time (`2021-03-04T10:11:12Z`, any offset) into Unix seconds: a moment
/// since 1970, past or to come.
pub fn parse_time(raw: &str) -> Result<i64, String> {
    let parsed =
        time::OffsetDateTime::parse(raw.trim(), &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                "must be an RFC 3339 time with a zone, such as 2021-03-04T10:11:12Z".to_owned()
            })?;
    let unix = parsed.unix_timestamp();
    if unix < 0 {
        return Err("must not be before 1970".into());
    }
    Ok(unix)
}

/// Parses an RFC 3339 time as [`parse_time`] does: a moment that has passed (`now` is the
/// present, in Unix seconds).
pub fn parse_past_time(raw: &str, now: i64) -> Result<i64, String> {
    let unix = parse_time(raw)?;
    // A few minutes' leeway for the clock of the machine that wrote the file.
    if unix > now + 300 {
        return Err("is in the future".into());
    }
    Ok(unix)
}

/// Unix seconds as a person reads them in an email: `2026-12-04 09:30 UTC`.
pub fn utc_minute(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Serializes Unix seconds as an RFC 3339 string (for `#[serde(serialize_with)]`).
pub fn rfc3339_field<S: serde::Serializer>(unix: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*unix))
}

/// Like [`rfc3339_field`], `null` for `None`.
pub fn rfc3339_option<S: serde::Serializer>(unix: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match unix {
        Some(unix) => rfc3339_field(unix, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_the_number_its_digits_spell() {
        for raw in [
            "10000000000000",
            "10000000000001",
            "99999999999999",
            "31415926535897",
        ] {
            let id = CustomerId::parse(raw).unwrap();
            assert_eq!(id.number(), raw.parse::<u64>().unwrap());
        }
    }

    #[test]
    fn a_time_in_an_email_is_read_to_the_minute_in_utc() {
        // 2026-12-04T09:30:59Z
        assert_eq!(utc_minute(1_796_376_659), "2026-12-04 09:30 UTC");
    }

    #[test]
    fn the_customer_object_writes_id_name_email_first_and_subscriptions_last() {
        let mut profile = Profile::default();
        profile.set(ProfileField::Name, Some("Ada".into()));
        let customer = Customer {
            id: CustomerId::parse("10000000000001").unwrap(),
            email: "ada@example.com".into(),
            email_deliverable: true,
            profile,
            subscriptions: Vec::new(),
        };
        let text = serde_json::to_string(&customer).unwrap();
        assert!(
            text.starts_with(r#"{"id":"10000000000001","name":"Ada","email":"ada@example.com","#),
            "{text}"
        );
        assert!(text.ends_with(r#","subscriptions":[]}"#), "{text}");
        let keys: Vec<&str> = Customer::keys().collect();
        for spec in FIELDS {
            assert_eq!(keys.iter().filter(|k| **k == spec.key).count(), 1);
            assert!(text.contains(&format!("\"{}\":", spec.key)), "{text}");
        }
    }

    #[test]
    fn past_times_parse_in_any_zone_and_the_future_and_nonsense_do_not() {
        let now = 1_796_376_659; // 2026-12-04T09:30:59Z
        assert_eq!(
            parse_past_time("2021-03-04T10:11:12Z", now),
            Ok(1_614_852_672)
        );
        assert_eq!(
            parse_past_time("2021-03-04T11:11:12+01:00", now),
            Ok(1_614_852_672)
        );
        for bad in [
            "2021-02-30T00:00:00Z",
            "2021-03-04",
            "2021-03-04 10:11:12",
            "yesterday",
            "",
            "1969-12-31T23:59:59Z",
            "2027-01-01T00:00:00Z",
        ] {
            assert!(parse_past_time(bad, now).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_time_to_come_parses_where_any_time_will_do() {
        assert_eq!(parse_time("2027-01-01T00:00:00Z"), Ok(1_798_761_600));
        assert_eq!(parse_time("2027-01-01T01:00:00+01:00"), Ok(1_798_761_600));
        for bad in ["1969-12-31T23:59:59Z", "2027-01-01", "next week", ""] {
            assert!(parse_time(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn random_ids_are_fourteen_digits() {
        for _ in 0..100 {
            let id = CustomerId::random();
            assert!(CustomerId::parse(id.as_str()).is_ok());
            assert!(!id.as_str().starts_with('0'));
        }
    }

    #[test]
    fn ascending_ids_are_valid_strictly_ascending_and_spread_over_the_whole_range() {
        let ids: Vec<u64> = AscendingIds::new(100_000)
            .map(|id| {
                assert!(CustomerId::parse(id.as_str()).is_ok(), "{id}");
                id.as_str().parse().unwrap()
            })
            .collect();
        assert_eq!(ids.len(), 100_000);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        // A uniform sample: each tenth of the range holds about a tenth of the ids (the
        // chance of a count outside 9,000..11,000 is far below one in a billion).
        let span = (LAST_ID - FIRST_ID + 1) / 10;
        for tenth in 0..10 {
            let from = FIRST_ID + tenth * span;
            let count = ids
                .iter()
                .filter(|&&n| n >= from && n < from + span)
                .count();
            assert!((9_000..11_000).contains(&count), "tenth {tenth}: {count}");
        }
        // Two samples share (nearly) nothing: the ids are not a fixed sequence.
        let again: std::collections::HashSet<String> = AscendingIds::new(1_000)
            .map(|id| id.as_str().to_owned())
            .collect();
        let other = AscendingIds::new(1_000).filter(|id| again.contains(id.as_str()));
        assert!(other.count() < 5);
        assert_eq!(AscendingIds::new(0).count(), 0);
    }

    #[test]
    fn identifiers_follow_the_link_safe_alphabet() {
        assert!(Identifier::parse("test-user-1").is_ok());
        assert!(Identifier::parse(Identifier::random().as_str()).is_ok());
        for bad in ["", "-x", "a b", "a/b", "a?b=c", "é", &"a".repeat(65)] {
            assert!(Identifier::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
    }
}
