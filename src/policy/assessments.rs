//! `policies/assessments.toml`: which kinds of processing (PIPL Art. 55)
//! need an impact assessment on record before they start, each with its
//! citation. Every kind is listed; one not required is a recorded
//! deviation with its reason.

use super::purposes::{Basis, PurposeRegistry};
use crate::domain::ProcessingKind;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindRule {
    pub required: bool,
    pub citation: String,
    /// Why a kind is not required (a deviation from PIPL Art. 55).
    #[serde(default)]
    pub not_required_because: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    kinds: BTreeMap<toml::Spanned<String>, KindRule>,
}

#[derive(Debug, Clone)]
pub struct AssessmentRules {
    kinds: BTreeMap<ProcessingKind, KindRule>,
}

impl AssessmentRules {
    /// Errors carry the 1-based line.
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let file: File = super::parse_toml(text)?;
        let mut kinds = BTreeMap::new();
        for (name, rule) in file.kinds {
            let line = super::line_of(text, &name);
            let Some(kind) = ProcessingKind::parse(name.get_ref()) else {
                let known: Vec<&str> = ProcessingKind::ALL.iter().map(|k| k.as_str()).collect();
                return Err((line, format!("unknown kind {:?}; the kinds are {}", name.get_ref(), known.join(", "))));
            };
            if rule.citation.trim().is_empty() {
                return Err((line, format!("kind {kind} has no legal citation")));
            }
            let reason = rule.not_required_because.as_deref().map(str::trim).filter(|r| !r.is_empty());
            match (rule.required, reason) {
                (false, None) => {
                    return Err((line, format!("kind {kind} is not required: say why in not_required_because")))
                }
                (true, Some(_)) => {
                    return Err((line, format!("kind {kind} is required: not_required_because does not apply")))
                }
                _ => {}
            }
            kinds.insert(kind, rule);
        }
        if let Some(missing) = ProcessingKind::ALL.into_iter().find(|k| !kinds.contains_key(k)) {
            return Err((1, format!("kind {missing} is not listed: say whether it needs an impact assessment")));
        }
        Ok(AssessmentRules { kinds })
    }

    /// Whether processing of `kind` waits for an assessment covering it.
    pub fn requires(&self, kind: ProcessingKind) -> bool {
        self.kinds.get(&kind).is_none_or(|r| r.required)
    }

    pub fn rules(&self) -> impl Iterator<Item = (ProcessingKind, &KindRule)> {
        self.kinds.iter().map(|(k, r)| (*k, r))
    }

    /// Sensitive data needing an assessment: every purpose resting on
    /// separate consent (PIPL Art. 29) says `requires_assessment`.
    pub fn check_purposes(&self, purposes: &PurposeRegistry) -> Result<(), (usize, String)> {
        if !self.requires(ProcessingKind::SensitiveData) {
            return Ok(());
        }
        for id in purposes.ids() {
            let Some(def) = crate::domain::Purpose::parse(id).and_then(|p| purposes.get(&p).cloned()) else { continue };
            if def.basis == Basis::SeparateConsent && !def.requires_assessment {
                return Err((
                    1,
                    format!(
                        "purpose {id} of purposes.toml rests on separate consent (sensitive data): \
                         it needs requires_assessment = true while sensitive_data is required"
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../policies/assessments.toml");

    #[test]
    fn the_shipped_file_requires_every_kind() {
        let r = AssessmentRules::parse(SHIPPED).unwrap();
        assert!(ProcessingKind::ALL.into_iter().all(|k| r.requires(k)));
    }

    #[test]
    fn a_kind_not_required_needs_its_reason_and_every_kind_is_listed() {
        let no_reason = SHIPPED.replacen("required = true", "required = false", 1);
        let (line, msg) = AssessmentRules::parse(&no_reason).unwrap_err();
        assert!(msg.contains("sensitive_data") && msg.contains("not_required_because"), "{msg}");
        assert_eq!(line, SHIPPED.lines().position(|l| l == "[kinds.sensitive_data]").unwrap() + 1);
        let with_reason = SHIPPED.replacen(
            "required = true",
            "required = false\nnot_required_because = \"no sensitive data is kept\"",
            1,
        );
        let r = AssessmentRules::parse(&with_reason).unwrap();
        assert!(!r.requires(ProcessingKind::SensitiveData) && r.requires(ProcessingKind::CrossBorder));
        let cut = SHIPPED.split("[kinds.cross_border]").next().unwrap();
        assert!(AssessmentRules::parse(cut).unwrap_err().1.contains("cross_border is not listed"));
        let unknown = format!("{SHIPPED}\n[kinds.profiling]\nrequired = true\ncitation = \"x\"\n");
        assert!(AssessmentRules::parse(&unknown).unwrap_err().1.contains("unknown kind"));
        let blank = SHIPPED.replacen("citation = \"PIPL Art. 55(1)", "citation = \" \" #", 1);
        assert!(AssessmentRules::parse(&blank).unwrap_err().1.contains("no legal citation"));
    }

    #[test]
    fn a_purpose_on_separate_consent_must_wait_for_an_assessment() {
        let r = AssessmentRules::parse(SHIPPED).unwrap();
        let shipped = PurposeRegistry::parse(include_str!("../../policies/purposes.toml")).unwrap();
        r.check_purposes(&shipped).unwrap();
        let unflagged = include_str!("../../policies/purposes.toml").replace("requires_assessment = true", "");
        let purposes = PurposeRegistry::parse(&unflagged).unwrap();
        assert!(r.check_purposes(&purposes).unwrap_err().1.contains("credit_assessment"));
    }
}
