//! The label catalogue: every enumerated value custos puts on the wire (a
//! role, a purpose, a legal basis, an audit action, a request's kind and
//! state, a customer's status, ...) with its name in Simplified Chinese and
//! English, read once from `schemas/labels.json`. The file is an object of
//! sets, each named after what its values are (`role`, `action`,
//! `request_state`); a set maps a wire value to `{"zh", "en"}`. The API
//! publishes it as `GET /schemas/labels.json`, and the template's enum
//! fields name their set with `x-labels` (`catalog::Field::labels`).
//!
//! The one place these names live: the console shows an enumerated value
//! by its label (the wire value on hover), and an API client may show the
//! same names from the published file. Unit tests keep every set equal to
//! the values the code and the shipped policies use.

use super::Lang;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The catalogue, embedded so the binary labels exactly what it ships.
pub const LABELS_JSON: &str = include_str!("../../schemas/labels.json");

/// A value's name in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    pub zh: String,
    pub en: String,
}

impl Label {
    /// The name in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }
}

/// The sets of labels, by set name and wire value.
#[derive(Debug, Clone)]
pub struct Labels {
    sets: BTreeMap<String, BTreeMap<String, Label>>,
}

impl Labels {
    /// The shipped catalogue (it is compiled into the binary).
    #[expect(clippy::expect_used, reason = "the embedded catalogue parses (unit tests check it)")]
    pub fn embedded() -> &'static Labels {
        static LABELS: OnceLock<Labels> = OnceLock::new();
        LABELS.get_or_init(|| Labels::parse(LABELS_JSON).expect("the embedded label catalogue parses"))
    }

    /// A catalogue: an object of non-empty sets, each value named in both
    /// languages (neither name blank), nothing else.
    pub fn parse(text: &str) -> Result<Self, String> {
        let sets: BTreeMap<String, BTreeMap<String, Label>> =
            serde_json::from_str(text).map_err(|e| format!("labels: {e}"))?;
        for (name, set) in &sets {
            if set.is_empty() {
                return Err(format!("labels: set {name} is empty"));
            }
            for (wire, label) in set {
                for (lang, text) in [("zh", &label.zh), ("en", &label.en)] {
                    if text.trim().is_empty() {
                        return Err(format!("labels: {name}/{wire} has no {lang} label"));
                    }
                }
            }
        }
        Ok(Labels { sets })
    }

    /// The label of `wire` in set `set`, in `lang`.
    pub fn label(&self, set: &str, wire: &str, lang: Lang) -> Option<&str> {
        self.sets.get(set)?.get(wire).map(|l| l.get(lang))
    }

    /// The set names, in name order.
    pub fn sets(&self) -> impl Iterator<Item = &str> {
        self.sets.keys().map(String::as_str)
    }

    /// The wire values of a set and their labels, in wire-value order.
    pub fn set(&self, name: &str) -> Option<&BTreeMap<String, Label>> {
        self.sets.get(name)
    }
}

/// The label of `wire` in set `set` of the shipped catalogue, in `lang`;
/// `None` for a set or value it does not name.
pub fn label(set: &str, wire: &str, lang: Lang) -> Option<&'static str> {
    Labels::embedded().label(set, wire, lang)
}

/// The label of `wire` in `lang`, or the wire value itself when the
/// catalogue has none (a value is never hidden for want of a name).
pub fn label_or_wire<'a>(set: &str, wire: &'a str, lang: Lang) -> &'a str {
    label(set, wire, lang).unwrap_or(wire)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::customers::{InteractionKind, ReviewOutcome};
    use crate::archive::registers::{
        AnswerKind, Channel, ExportState, HandoverState, RequestKind, RequestState, VerificationMethod,
    };
    use crate::archive::retention::BatchState;
    use crate::archive::{
        ConsentBasis, ConsentEventKind, NoticeChannel, NotifyChannel, RedactionReason, SubjectStatus, TokenState,
    };
    use crate::audit::{Action, Outcome};
    use crate::domain::catalog::{Catalog, Input};
    use crate::domain::dossier::{CustomerKind, Grade, Status, SCHEMA_JSON};
    use crate::domain::{Classification, ProcessingKind, RecipientRole, Role};
    use crate::policy::registers::Notify;
    use crate::policy::Basis;
    use serde_json::Value;
    use std::collections::BTreeSet;

    /// A unit variant's wire name, as serde writes it.
    fn wire<T: serde::Serialize>(v: &T) -> String {
        serde_json::to_value(v).unwrap().as_str().unwrap().to_owned()
    }

    /// The wire names of an enum's variants, listed here; the match fails
    /// to compile when the enum gains a variant this list lacks.
    macro_rules! variants {
        ($ty:ident: $($v:ident),+ $(,)?) => {{
            let _every_variant_listed = |x: $ty| match x {
                $($ty::$v)|+ => (),
            };
            vec![$(wire(&$ty::$v)),+]
        }};
    }

    /// Set `set` labels exactly `wires`, each in both languages: none
    /// missing, none left over from a value that no longer exists.
    fn exactly(set: &str, wires: impl IntoIterator<Item = impl Into<String>>) {
        let wires: BTreeSet<String> = wires.into_iter().map(Into::into).collect();
        covers(set, wires.iter().cloned());
        let labelled: BTreeSet<String> = Labels::embedded().set(set).unwrap().keys().cloned().collect();
        let extra: Vec<&String> = labelled.difference(&wires).collect();
        assert!(extra.is_empty(), "set {set} labels values nobody uses: {extra:?}");
    }

    /// Set `set` labels every one of `wires` in both languages.
    fn covers(set: &str, wires: impl IntoIterator<Item = impl Into<String>>) {
        let missing: Vec<String> = wires
            .into_iter()
            .map(Into::into)
            .filter(|w| [Lang::Zh, Lang::En].iter().any(|&l| label(set, w, l).is_none_or(|t| t.trim().is_empty())))
            .collect();
        assert!(missing.is_empty(), "set {set} has no label for {missing:?}");
    }

    /// A shipped policy file, as the binary embeds it.
    fn policy(name: &str) -> toml::Table {
        let (_, text) = crate::policy::EMBEDDED.iter().find(|(n, _)| *n == name).unwrap();
        text.parse().unwrap()
    }

    fn keys(t: &toml::Table, table: &str) -> Vec<String> {
        t[table].as_table().unwrap().keys().cloned().collect()
    }

    #[test]
    fn the_embedded_catalogue_names_every_value_in_both_languages() {
        let labels = Labels::parse(LABELS_JSON).unwrap();
        assert!(labels.sets().count() >= 20);
        for name in labels.sets() {
            for (wire, l) in labels.set(name).unwrap() {
                assert!(!l.zh.trim().is_empty() && !l.en.trim().is_empty(), "{name}/{wire}");
                assert!(!l.zh.is_ascii(), "{name}/{wire}: a Chinese label, not {:?}", l.zh);
                assert!(l.en.is_ascii(), "{name}/{wire}: an English label, not {:?}", l.en);
                assert_eq!(l.zh.trim(), l.zh, "{name}/{wire}: no surrounding space");
                assert_eq!(l.en.trim(), l.en, "{name}/{wire}: no surrounding space");
            }
        }
        // Each label object holds both languages and nothing else, and no
        // set names a value twice (serde would keep the last silently).
        let raw: Value = serde_json::from_str(LABELS_JSON).unwrap();
        let mut values = 0;
        for (name, set) in raw.as_object().unwrap() {
            for (wire, l) in set.as_object().unwrap() {
                let langs: Vec<&String> = l.as_object().unwrap().keys().collect();
                assert_eq!(langs, ["zh", "en"], "{name}/{wire}");
                values += 1;
            }
        }
        assert_eq!(LABELS_JSON.matches("\"zh\":").count(), values, "a value named twice in a set");
    }

    #[test]
    fn the_api_reference_lists_every_set() {
        let doc = include_str!("../../docs/api.md");
        let start = doc.find("The label catalogue (`schemas/labels.json`").unwrap();
        let end = start + doc[start..].find("for example").unwrap();
        let listed: BTreeSet<&str> = doc[start..end]
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|w| w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            .collect();
        let sets: BTreeSet<&str> = Labels::embedded().sets().collect();
        assert_eq!(listed, sets);
    }

    #[test]
    fn a_catalogue_missing_a_language_or_with_stray_members_is_refused() {
        assert!(Labels::parse(r#"{"s": {"a": {"zh": "甲", "en": "A"}}}"#).is_ok());
        let no_en = Labels::parse(r#"{"s": {"a": {"zh": "甲"}}}"#).unwrap_err();
        assert!(no_en.contains("en"), "{no_en}");
        let blank = Labels::parse(r#"{"s": {"a": {"zh": " ", "en": "A"}}}"#).unwrap_err();
        assert!(blank.contains("s/a has no zh label"), "{blank}");
        assert!(Labels::parse(r#"{"s": {"a": {"zh": "甲", "en": "A", "fr": "A"}}}"#).is_err());
        assert!(Labels::parse(r#"{"s": {"a": "甲"}}"#).is_err());
        assert!(Labels::parse(r#"{"s": {}}"#).unwrap_err().contains("set s is empty"));
        assert!(Labels::parse("[]").is_err());
    }

    #[test]
    fn lookups_and_the_wire_value_when_unnamed() {
        assert_eq!(label("action", "dossier.read", Lang::Zh), Some("读取客户档案"));
        assert_eq!(label("action", "dossier.read", Lang::En), Some("Dossier read"));
        assert_eq!(label("purpose", "service_delivery", Lang::Zh), Some("履行服务合同"));
        assert_eq!(label("status", "prospect", Lang::Zh), Some("潜在客户"));
        assert_eq!(label("boolean", "true", Lang::En), Some("Yes"));
        assert_eq!(label("action", "dossier.steal", Lang::Zh), None);
        assert_eq!(label("no_such_set", "dossier.read", Lang::Zh), None);
        assert_eq!(label("role", "dossier.read", Lang::Zh), None, "a value of another set");
        assert_eq!(label_or_wire("role", "admin", Lang::Zh), "系统管理员");
        assert_eq!(label_or_wire("role", "janitor", Lang::Zh), "janitor");
    }

    #[test]
    fn every_role_action_and_audit_outcome_is_labelled() {
        exactly("action", Action::ALL.map(Action::as_str));
        exactly("role", Role::ALL.map(Role::as_str));
        exactly("outcome", variants!(Outcome: Allow, Deny, Error));
    }

    #[test]
    fn every_purpose_and_legal_basis_of_the_shipped_policies_is_labelled() {
        let purposes = policy("purposes.toml");
        exactly("purpose", keys(&purposes, "purposes"));
        let used: Vec<String> = purposes["purposes"]
            .as_table()
            .unwrap()
            .values()
            .map(|p| p["basis"].as_str().unwrap().to_owned())
            .collect();
        covers("basis", used);
        // A purpose's basis, a consent record's, and a basis of
        // collection.toml named for a sensitive field.
        let _every_basis = |b: Basis| match b {
            Basis::Contract | Basis::Consent | Basis::SeparateConsent | Basis::LegalObligation => (),
        };
        let mut bases: Vec<String> = [Basis::Contract, Basis::Consent, Basis::SeparateConsent, Basis::LegalObligation]
            .map(|b| b.as_str().to_owned())
            .into();
        bases.extend(variants!(ConsentBasis: Consent, SeparateConsent));
        bases.extend(keys(&policy("collection.toml"), "bases"));
        exactly("basis", bases);
        exactly("processing_kind", ProcessingKind::ALL.map(ProcessingKind::as_str));
        exactly("recipient_role", variants!(RecipientRole: Processor, Independent));
        // `RecipientView::status`, and the retention rules the records of processing list.
        exactly("recipient_status", ["not_started", "in_term", "ended"]);
        use crate::policy::retention::{Covers, RetentionAction, Trigger};
        exactly("retention_covers", variants!(Covers: Dossier, Contact));
        exactly(
            "retention_trigger",
            variants!(Trigger: Created, RelationshipEnd, ConsentWithdrawn, LastActivity, ContactLost),
        );
        exactly("retention_action", variants!(RetentionAction: Destroy, Erase, Keep));
    }

    #[test]
    fn every_value_of_the_registers_is_labelled() {
        exactly(
            "request_kind",
            variants!(RequestKind: Access, Portability, Rectification, Erasure, Restriction, Objection, Explanation, Withdrawal, Contest, AutomatedObjection),
        );
        exactly("request_state", variants!(RequestState: Received, Verified, InProgress, Completed, Refused));
        exactly("request_channel", variants!(Channel: Email, Phone, WebForm, Letter, InPerson, Other));
        exactly(
            "verification_method",
            variants!(VerificationMethod: IdDocument, KnownContactDetails, AccountLogin, InPerson, Other),
        );
        exactly("refusal_reason", keys(&policy("requests.toml"), "refusal_reasons"));
        let incidents = policy("incidents.toml");
        exactly("incident_level", incidents["levels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()));
        exactly("incident_notify", variants!(Notify: Authority, Persons));
        // An incident's deadline status (registers::incidents, a `&str`).
        exactly("deadline_status", ["open", "met", "met_late", "overdue"]);
        exactly("answer_kind", variants!(AnswerKind: AuditEntry, Certificate));
        // The elements of an incident's draft notice (registers::incidents::notices).
        exactly(
            "notice_element",
            [
                "nature_of_the_breach",
                "time_detected",
                "time_aware",
                "level",
                "categories_of_personal_data",
                "approximate_number_of_persons",
                "approximate_number_of_records",
                "cause",
                "likely_consequences",
                "measures_taken_or_proposed",
                "what_persons_can_do",
                "contact_point",
                "deadlines",
                "reasons_for_delay",
                "exemption_from_telling_persons",
            ],
        );
        exactly("export_state", variants!(ExportState: AwaitingApproval, Ready, Delivered, Expired));
        exactly("handover_state", variants!(HandoverState: Ready, Collected, Expired));
        exactly("batch_state", variants!(BatchState: Proposed, Executing, Done));
    }

    #[test]
    fn every_value_of_customers_subjects_and_tokens_is_labelled() {
        exactly("interaction_kind", InteractionKind::ALL.iter().map(wire));
        exactly("review_outcome", variants!(ReviewOutcome: Confirmed, Updated, ContactLost));
        exactly("customer_kind", variants!(CustomerKind: LegalPerson, SoleTrader, NaturalPerson));
        exactly("status", variants!(Status: Prospect, Active, Closed));
        exactly("grade", variants!(Grade: A, B, C));
        exactly("boolean", ["true", "false"]);
        // What `POST /v1/imports` says became of a row (`RowResult::action`).
        exactly("import_action", ["created", "updated", "unchanged", "failed", "would_create", "would_update"]);
        exactly("classification", Classification::ALL.map(Classification::as_str));
        let redactions = variants!(RedactionReason: Masked, Withheld, Erased, Superseded);
        assert_eq!(
            redactions,
            [RedactionReason::Masked, RedactionReason::Withheld, RedactionReason::Erased, RedactionReason::Superseded]
                .map(|r| r.as_str())
        );
        exactly("redaction", redactions);
        exactly("consent_event", variants!(ConsentEventKind: Grant, Withdrawal));
        exactly("subject_status", variants!(SubjectStatus: Active, Restricted, Erased));
        exactly("notice_channel", NoticeChannel::ALL.iter().map(wire));
        exactly("notify_channel", variants!(NotifyChannel: Email, Sms, Letter, Phone, InPerson, App));
        exactly("token_state", variants!(TokenState: AwaitingApproval, Enrollable, Active, Expired, Revoked));
        covers("jurisdiction", ["CN", "EU"]);
    }

    /// Every `enum` of the template, by JSON Pointer (`*` for an array
    /// index), with its `x-labels`.
    fn schema_enums(node: &Value, path: &str, out: &mut Vec<(String, Vec<String>, Option<String>)>) {
        if let Some(values) = node.get("enum") {
            let values = values.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
            out.push((path.to_owned(), values, node.get("x-labels").map(|s| s.as_str().unwrap().to_owned())));
        }
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                schema_enums(v, &format!("{path}/{k}"), out);
            }
        }
        if let Some(items) = node.get("items") {
            schema_enums(items, &format!("{path}/*"), out);
        }
    }

    #[test]
    fn every_enum_of_the_template_names_a_set_that_labels_it() {
        let schema: Value = serde_json::from_str(SCHEMA_JSON).unwrap();
        let mut enums = vec![];
        schema_enums(&schema, "", &mut enums);
        let paths: Vec<&str> = enums.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths, ["/customer/kind", "/status", "/grade"]);
        let catalog = Catalog::template();
        for (path, values, set) in &enums {
            let set = set.as_deref().unwrap_or_else(|| panic!("{path}: an enum without x-labels"));
            assert!(Labels::embedded().set(set).is_some(), "{path}: x-labels names no set: {set}");
            covers(set, values.iter().cloned());
            let field = catalog.field(path).unwrap();
            assert_eq!(field.labels.as_deref(), Some(set), "{path}: the catalog reads x-labels");
            assert_eq!(field.input, Input::Choice(values.clone()));
        }
        // A yes/no field is labelled by `boolean`.
        assert!(catalog.fields().any(|f| f.input == Input::Bool));
        covers("boolean", ["true", "false"]);
    }
}
