//! A customer's country: an ISO 3166-1 alpha-2 code from the officially assigned list.

use std::fmt;

/// The officially assigned ISO 3166-1 alpha-2 codes.
const CODES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL \
BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK \
DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU \
GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ \
LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY \
MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU \
RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO \
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// A country as an ISO 3166-1 alpha-2 code, accepted in any case and kept upper case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Country(String);

impl Country {
    pub fn parse(raw: &str) -> Result<Country, String> {
        let code = raw.trim().to_ascii_uppercase();
        if code.len() == 2 && code.is_ascii() && CODES.split(' ').any(|c| c == code) {
            Ok(Country(code))
        } else {
            Err("must be an ISO 3166-1 alpha-2 country code such as GB or FR".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Every code [`Country::parse`] accepts, in alphabetical order.
    pub fn codes() -> impl Iterator<Item = &'static str> {
        CODES.split(' ')
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_has_every_assigned_code() {
        assert_eq!(CODES.split(' ').count(), 249);
    }

    #[test]
    fn any_case_is_accepted_and_stored_upper() {
        assert_eq!(Country::parse("fr").unwrap().as_str(), "FR");
        assert_eq!(Country::parse(" Gb ").unwrap().as_str(), "GB");
    }

    #[test]
    fn unassigned_or_malformed_codes_are_refused() {
        for bad in ["XX", "UK", "FRA", "F", "", "ｆｒ"] {
            assert!(Country::parse(bad).is_err(), "{bad:?}");
        }
    }
}
