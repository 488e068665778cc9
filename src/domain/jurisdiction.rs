//! Jurisdictions: where a person resides and whose law a legal hold obeys.
//! Codes are ISO 3166-1 alpha-2 (`CN`, `DE`, ...) plus `EU` for Union law.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The EU member states (ISO 3166-1 alpha-2; Greece as `GR`).
pub const EU_MEMBER_STATES: [&str; 27] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT",
    "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
];

/// A jurisdiction code: two upper-case letters, or `EU`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Jurisdiction(String);

impl Jurisdiction {
    pub const CN: &'static str = "CN";

    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Jurisdiction(s.to_owned()))
        } else {
            Err("a jurisdiction is an ISO 3166-1 alpha-2 country code in upper case (CN, DE, ...) or EU".into())
        }
    }

    pub fn cn() -> Self {
        Jurisdiction(Self::CN.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Union law or a member state's.
    pub fn is_eu(&self) -> bool {
        self.0 == "EU" || EU_MEMBER_STATES.contains(&self.0.as_str())
    }

    /// Whether a legal hold under this jurisdiction's law blocks the erasure
    /// of a person residing in `residency`. An EU resident's erasure yields
    /// only to Union or member-state law (GDPR Art. 17(3)(b), (e)); anyone
    /// else's to PRC law (the controller is established in China, PIPL Art.
    /// 47(2)) or to the law of their own country.
    pub fn hold_blocks_erasure_of(&self, residency: &Jurisdiction) -> bool {
        if residency.is_eu() {
            self.is_eu()
        } else {
            self.0 == Self::CN || self == residency
        }
    }

    /// Whether a hold may be placed under this jurisdiction's law: PRC law,
    /// Union law or a member state's.
    pub fn may_hold(&self) -> bool {
        self.0 == Self::CN || self.is_eu()
    }
}

impl fmt::Display for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Jurisdiction {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Jurisdiction::parse(&s)
    }
}

impl From<Jurisdiction> for String {
    fn from(j: Jurisdiction) -> String {
        j.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> Jurisdiction {
        Jurisdiction::parse(s).unwrap()
    }

    #[test]
    fn an_eu_residents_erasure_yields_only_to_union_or_member_state_law() {
        assert!(j("EU").hold_blocks_erasure_of(&j("DE")));
        assert!(j("FR").hold_blocks_erasure_of(&j("DE")), "any member state's law binding the controller");
        assert!(!j("CN").hold_blocks_erasure_of(&j("DE")));
        assert!(j("CN").hold_blocks_erasure_of(&j("CN")));
        assert!(!j("EU").hold_blocks_erasure_of(&j("CN")));
        assert!(!j("DE").hold_blocks_erasure_of(&j("CN")));
        assert!(j("CN").hold_blocks_erasure_of(&j("US")));
    }

    #[test]
    fn codes_are_two_upper_case_letters() {
        for bad in ["", "cn", "CHN", "C1", "欧盟"] {
            assert!(Jurisdiction::parse(bad).is_err(), "{bad}");
        }
        assert!(j("EU").may_hold() && j("IE").may_hold() && j("CN").may_hold());
        assert!(!j("US").may_hold());
    }
}
