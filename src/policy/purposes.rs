//! `policies/purposes.toml`: the purposes, their legal basis and citation,
//! which roles may use each, and which stay open for a restricted subject.

use crate::domain::{Principal, Purpose, Role};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Contract,
    Consent,
    SeparateConsent,
    LegalObligation,
}

impl Basis {
    /// As written in purposes.toml (and given to the access policy).
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Contract => "contract",
            Basis::Consent => "consent",
            Basis::SeparateConsent => "separate_consent",
            Basis::LegalObligation => "legal_obligation",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeDef {
    pub description: String,
    pub basis: Basis,
    pub citation: String,
    pub roles: Vec<Role>,
    #[serde(default)]
    pub open_when_restricted: bool,
    /// Direct marketing: a person's objection to it ends it for good
    /// (GDPR Art. 21(3)); consent for it is not recorded again.
    #[serde(default)]
    pub direct_marketing: bool,
    /// The purpose cannot be used until an impact assessment covering it is
    /// on record (PIPL Art. 55; GDPR Art. 35).
    #[serde(default)]
    pub requires_assessment: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    purposes: BTreeMap<toml::Spanned<String>, PurposeDef>,
}

#[derive(Debug, Clone)]
pub struct PurposeRegistry {
    purposes: BTreeMap<String, PurposeDef>,
}

impl PurposeRegistry {
    /// Errors carry the 1-based line.
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let file: File = super::parse_toml(text)?;
        let mut purposes = BTreeMap::new();
        for (id, def) in file.purposes {
            let line = super::line_of(text, &id);
            let id = id.into_inner();
            if Purpose::parse(&id).is_none() {
                return Err((line, format!("purpose id {id:?} must be lowercase letters, digits and _")));
            }
            if def.citation.trim().is_empty() {
                return Err((line, format!("purpose {id} has no legal citation")));
            }
            purposes.insert(id, def);
        }
        Ok(PurposeRegistry { purposes })
    }

    pub fn get(&self, p: &Purpose) -> Option<&PurposeDef> {
        self.purposes.get(p.as_str())
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.purposes.keys().map(String::as_str)
    }

    pub fn may_use(&self, principal: &Principal, p: &Purpose) -> bool {
        self.get(p).is_some_and(|d| principal.roles.iter().any(|r| d.roles.contains(r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line() {
        let text = "[purposes.x]\ndescription = \"d\"\nbasis = \"magic\"\ncitation = \"c\"\nroles = []\n";
        let (line, msg) = PurposeRegistry::parse(text).unwrap_err();
        assert_eq!(line, 3, "{msg}");
        let text = "[purposes.x]\ndescription = \"d\"\nbasis = \"consent\"\ncitation = \" \"\nroles = []\n";
        assert!(PurposeRegistry::parse(text).unwrap_err().1.contains("citation"));
        // A comment naming the purpose before its table is not its line.
        let text = "# see [purposes.Bad]\n\n[purposes.Bad]\ndescription = \"d\"\nbasis = \"consent\"\ncitation = \"c\"\nroles = []\n";
        assert_eq!(PurposeRegistry::parse(text).unwrap_err().0, 3);
    }
}
