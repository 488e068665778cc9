//! A unified social credit code (统一社会信用代码, GB 32100-2015): the
//! 18-character identifier of a legal person or other organisation in
//! China, here naming the professional institution that audits the
//! company. An organisation's code, not a person's: it is not personal
//! information and is stored and shown in clear.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The code's characters: digits and the capital letters but I, O, S, V, Z
/// (GB 32100-2015 Table 1); a character's value is its place here.
const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// The weights of the first 17 characters (GB 32100-2015 §5.3: 3^(i-1) mod 31).
const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// A unified social credit code whose shape and check character hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CreditCode(String);

/// Why a text is not a unified social credit code (the words do not quote it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditCodeError {
    #[error("a unified social credit code has 18 characters")]
    Length,
    #[error("character {0} is not one of GB 32100-2015 (digits and capitals but I, O, S, V, Z)")]
    Charset(usize),
    #[error("characters 3 to 8 are the registering authority's administrative division code: digits")]
    Division,
    #[error("the check character (the 18th) does not match the first 17 (GB 32100-2015 §5.3)")]
    CheckCharacter,
}

fn value(c: u8) -> Option<u32> {
    CHARSET.iter().position(|x| *x == c).map(|i| i as u32)
}

impl CreditCode {
    /// Parses a code as written (upper case; surrounding white space
    /// trimmed), checking its length, characters and check character.
    pub fn parse(s: &str) -> Result<Self, CreditCodeError> {
        let s = s.trim();
        if s.len() != 18 || s.chars().count() != 18 {
            return Err(CreditCodeError::Length);
        }
        let bytes = s.as_bytes();
        let mut values = [0u32; 18];
        for (i, b) in bytes.iter().enumerate() {
            values[i] = value(*b).ok_or(CreditCodeError::Charset(i + 1))?;
        }
        if !bytes[2..8].iter().all(u8::is_ascii_digit) {
            return Err(CreditCodeError::Division);
        }
        let sum: u32 = values[..17].iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
        if values[17] != (31 - sum % 31) % 31 {
            return Err(CreditCodeError::CheckCharacter);
        }
        Ok(CreditCode(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CreditCode {
    type Error = CreditCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CreditCode::parse(&s)
    }
}

impl From<CreditCode> for String {
    fn from(c: CreditCode) -> Self {
        c.0
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_codes_parse_and_a_changed_character_is_caught() {
        for code in ["91350100M000100Y43", "91110000802100433B", "91440300708461136T"] {
            assert_eq!(CreditCode::parse(code).map(|c| c.to_string()), Ok(code.to_owned()));
        }
        // Any one character changed to another of the set breaks the check.
        let good = b"91350100M000100Y43";
        for (i, was) in good.iter().enumerate() {
            for c in CHARSET {
                if c == was || ((2..8).contains(&i) && !c.is_ascii_digit()) {
                    continue;
                }
                let mut bad = *good;
                bad[i] = *c;
                let bad = std::str::from_utf8(&bad).unwrap();
                assert_eq!(CreditCode::parse(bad), Err(CreditCodeError::CheckCharacter), "{bad}");
            }
        }
    }

    #[test]
    fn the_wrong_shape_is_named() {
        assert_eq!(CreditCode::parse("91350100M000100Y4"), Err(CreditCodeError::Length));
        assert_eq!(CreditCode::parse("91350100M000100Y433"), Err(CreditCodeError::Length));
        assert_eq!(CreditCode::parse("91350100M000100Y4３"), Err(CreditCodeError::Length), "a wide digit");
        assert_eq!(CreditCode::parse("91350100I000100Y43"), Err(CreditCodeError::Charset(9)));
        assert_eq!(CreditCode::parse("91350100m000100Y43"), Err(CreditCodeError::Charset(9)), "upper case");
        assert_eq!(CreditCode::parse("913A0100M000100Y43"), Err(CreditCodeError::Division));
        let stored: Result<CreditCode, _> = serde_json::from_str("\"91350100M000100Y44\"");
        assert!(stored.is_err(), "a stored code is checked too");
    }
}
