//! The dossier template: the typed form of `schemas/dossier.schema.json`, its
//! validation, and the split of a dossier into the segments that are sealed
//! under different keys (business, confidential, sensitive, and per contact).

use super::{PrincipalId, SubjectId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The template, embedded so the binary validates exactly what it ships.
pub const SCHEMA_JSON: &str = include_str!("../../schemas/dossier.schema.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dossier {
    pub customer: Customer,
    pub owner: PrincipalId,
    pub status: Status,
    pub grade: Grade,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Contact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferences: Option<Preferences>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finance: Option<Finance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remarks: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// Whether the customer is a legal person or a natural person (a sole
    /// trader, 个体工商户, or an individual, 自然人). Absent means a legal
    /// person: every dossier written before the field existed was one.
    #[serde(default, skip_serializing_if = "CustomerKind::is_legal_person")]
    pub kind: CustomerKind,
    /// A natural-person customer's proprietor: the data subject whose key
    /// seals the customer's finance fields. Assigned by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_id: Option<SubjectId>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The proprietor's collection metadata (as a contact's): recorded on
    /// the person, never stored in the dossier.
    #[serde(default, skip_serializing)]
    pub notice: Option<String>,
    #[serde(default, skip_serializing)]
    pub sensitive_basis: Option<String>,
}

/// Who the customer is in law (PIPL Art. 4, 28; GDPR Art. 4(1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerKind {
    /// A company or other organisation: its data is business data.
    #[default]
    LegalPerson,
    /// 个体工商户: a business run by one natural person, whose credit and
    /// account are that person's.
    SoleTrader,
    /// 自然人: an individual customer.
    NaturalPerson,
}

impl CustomerKind {
    pub fn is_legal_person(&self) -> bool {
        *self == CustomerKind::LegalPerson
    }

    /// Whether the customer's own data is one person's (PIPL Art. 4).
    pub fn is_natural(&self) -> bool {
        !self.is_legal_person()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CustomerKind::LegalPerson => "legal_person",
            CustomerKind::SoleTrader => "sole_trader",
            CustomerKind::NaturalPerson => "natural_person",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Prospect,
    Active,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Grade {
    A,
    B,
    C,
}

// No deny_unknown_fields here: serde does not support it with `flatten`; the
// schema has already rejected unknown fields before this type is built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_id: Option<SubjectId>,
    #[serde(flatten)]
    pub personal: PersonalFields,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    /// Collection metadata, recorded on the person, never stored in the
    /// dossier: the notice version they were shown, and the legal basis for
    /// writing their sensitive fields without consent.
    #[serde(default, skip_serializing)]
    pub notice: Option<String>,
    #[serde(default, skip_serializing)]
    pub sensitive_basis: Option<String>,
}

/// The personal (not sensitive) fields of one contact: one personal segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonalFields {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cargo_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packaging: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extras: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_rating: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_account: Option<String>,
}

/// One failing place in a submitted document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON Pointer into the submitted document.
    pub path: String,
    pub message: String,
}

/// The compiled template. Messages never quote the submitted value: it may be
/// personal data, and validation errors end up in responses and logs.
pub struct TemplateValidator {
    validator: jsonschema::Validator,
}

impl TemplateValidator {
    pub fn new() -> anyhow::Result<Self> {
        let schema: Value = serde_json::from_str(SCHEMA_JSON)?;
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&schema)
            .map_err(|e| anyhow::anyhow!("dossier schema does not compile: {e}"))?;
        Ok(Self { validator })
    }

    /// Validates and parses a document, listing every failing path.
    pub fn parse(&self, doc: &Value) -> Result<Dossier, Vec<FieldError>> {
        let mut errors: Vec<FieldError> = self
            .validator
            .iter_errors(doc)
            .map(|e| FieldError { path: e.instance_path().to_string(), message: describe_violation(e.kind()) })
            .collect();
        if errors.is_empty() {
            return serde_json::from_value(doc.clone()).map_err(|e| {
                vec![FieldError {
                    path: String::new(),
                    message: format!("does not match the template: {}", redact_serde(&e)),
                }]
            });
        }
        errors.sort_by(|a, b| a.path.cmp(&b.path));
        errors.dedup();
        Err(errors)
    }
}

/// A value-free description of a schema violation.
pub fn describe_violation(kind: &jsonschema::error::ValidationErrorKind) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    match kind {
        K::AdditionalProperties { unexpected } => {
            format!("unknown field(s): {}", unexpected.join(", "))
        }
        K::Required { property } => format!("required field {property} is missing"),
        K::Type { kind } => format!("wrong type: expected {kind:?}").to_lowercase(),
        K::Enum { options } => format!("must be one of {options}"),
        K::Pattern { pattern } => format!("does not match the pattern {pattern}"),
        K::MaxLength { limit } => format!("longer than {limit} characters"),
        K::MinLength { limit } => format!("shorter than {limit} characters"),
        K::MaxItems { limit } => format!("more than {limit} items"),
        K::MinItems { limit } => format!("fewer than {limit} items"),
        K::Format { format } => format!("not a valid {format}"),
        K::FalseSchema => "not allowed here".to_owned(),
        _ => "does not conform to the schema".to_owned(),
    }
}

/// serde_json messages can quote input; keep only the category and position.
fn redact_serde(e: &serde_json::Error) -> String {
    format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()).to_lowercase()
}

/// Plaintext of the segments one dossier version is sealed into. Each is the
/// JSON of the fields it holds; the split follows the class table of API.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusinessPart {
    pub customer: Customer,
    pub owner: PrincipalId,
    pub status: Status,
    pub grade: Grade,
    #[serde(default)]
    pub transport: Option<Transport>,
    #[serde(default)]
    pub preferences: Option<Preferences>,
    #[serde(default)]
    pub remarks: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ConfidentialPart {
    pub credit_rating: Option<String>,
    pub payment_terms: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SensitivePart {
    pub bank_account: Option<String>,
}

/// A natural-person customer's own fields, sealed under the proprietor's
/// key so that erasing the person shreds them: the name, credit code and
/// address that identify them (personal information), and their finance
/// (credit data and account: sensitive, PIPL Art. 28). A segment written
/// before the identifying fields moved here has none of them; the
/// business segment of that version still holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ProprietorPart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub credit_rating: Option<String>,
    pub payment_terms: Option<String>,
    pub bank_account: Option<String>,
}

impl ProprietorPart {
    /// The identifying fields, by their names under `/customer`.
    pub fn identity(&self) -> [(&'static str, Option<&str>); 3] {
        [
            ("name", self.name.as_deref()),
            ("credit_code", self.credit_code.as_deref()),
            ("address", self.address.as_deref()),
        ]
    }

    /// Whether the segment holds the identifying fields (written since
    /// they moved under the person's key).
    pub fn has_identity(&self) -> bool {
        self.name.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SubjectSensitivePart {
    pub id_number: Option<String>,
}

/// A dossier whose contacts all carry their subject id.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitDossier {
    pub business: BusinessPart,
    pub confidential: Option<ConfidentialPart>,
    pub sensitive: Option<SensitivePart>,
    /// In contact order.
    pub contacts: Vec<(SubjectId, PersonalFields, Option<SubjectSensitivePart>)>,
    /// A natural-person customer's finance (then `confidential` and
    /// `sensitive` are `None`).
    pub proprietor: Option<ProprietorPart>,
}

impl SplitDossier {
    /// INVARIANT: every contact has a subject id (assigned by the caller).
    /// A natural-person customer gets its proprietor's id here when it has
    /// none yet, and its finance goes to the proprietor's part.
    pub fn split(mut d: Dossier) -> Self {
        let finance = d.finance.unwrap_or(Finance { credit_rating: None, payment_terms: None, bank_account: None });
        let (mut confidential, mut sensitive, mut proprietor) = (None, None, None);
        if d.customer.kind.is_natural() {
            d.customer.subject_id.get_or_insert_with(SubjectId::generate);
            // The business segment keeps the customer's kind, proprietor,
            // industry and region; who they are goes under their key.
            proprietor = Some(ProprietorPart {
                name: Some(std::mem::take(&mut d.customer.name)),
                credit_code: d.customer.credit_code.take(),
                address: d.customer.address.take(),
                credit_rating: finance.credit_rating,
                payment_terms: finance.payment_terms,
                bank_account: finance.bank_account,
            });
        } else {
            d.customer.subject_id = None;
            confidential =
                (finance.credit_rating.is_some() || finance.payment_terms.is_some()).then_some(ConfidentialPart {
                    credit_rating: finance.credit_rating,
                    payment_terms: finance.payment_terms,
                });
            sensitive = finance.bank_account.map(|b| SensitivePart { bank_account: Some(b) });
        }
        let contacts = d
            .contacts
            .into_iter()
            .map(|c| {
                let sid = c.subject_id.unwrap_or_else(SubjectId::generate);
                let sens = c.id_number.map(|n| SubjectSensitivePart { id_number: Some(n) });
                (sid, c.personal, sens)
            })
            .collect();
        SplitDossier {
            business: BusinessPart {
                customer: d.customer,
                owner: d.owner,
                status: d.status,
                grade: d.grade,
                transport: d.transport,
                preferences: d.preferences,
                remarks: d.remarks,
                tags: d.tags,
            },
            confidential,
            sensitive,
            contacts,
            proprietor,
        }
    }

    /// The proprietor of a natural-person customer.
    pub fn proprietor_id(&self) -> Option<&SubjectId> {
        let c = &self.business.customer;
        c.subject_id.as_ref().filter(|_| c.kind.is_natural())
    }

    /// The people the dossier names: its contacts in order, then its
    /// proprietor.
    pub fn subjects(&self) -> Vec<SubjectId> {
        let contacts = self.contacts.iter().map(|(s, _, _)| s.clone());
        contacts.chain(self.proprietor_id().cloned()).collect()
    }

    /// The customer's credit code, wherever this version holds it.
    pub fn credit_code(&self) -> Option<&str> {
        match &self.proprietor {
            Some(p) if p.has_identity() => p.credit_code.as_deref(),
            _ => self.business.customer.credit_code.as_deref(),
        }
    }

    /// Who the customer is, by field name under `/customer`, wherever this
    /// version holds it (the proprietor's segment, or the business one).
    pub fn customer_identity(&self) -> [(&'static str, Option<&str>); 3] {
        match &self.proprietor {
            Some(p) if p.has_identity() => p.identity(),
            _ => {
                let c = &self.business.customer;
                [("name", Some(&c.name)), ("credit_code", c.credit_code.as_deref()), ("address", c.address.as_deref())]
            }
        }
    }

    /// The customer's name, wherever this version holds it.
    pub fn customer_name(&self) -> &str {
        match &self.proprietor {
            Some(ProprietorPart { name: Some(n), .. }) => n,
            _ => &self.business.customer.name,
        }
    }

    pub fn join(self) -> Dossier {
        let finance = match (&self.confidential, &self.sensitive, &self.proprietor) {
            (_, _, Some(p)) if p.credit_rating.is_none() && p.payment_terms.is_none() && p.bank_account.is_none() => {
                None
            }
            (_, _, Some(p)) => Some(Finance {
                credit_rating: p.credit_rating.clone(),
                payment_terms: p.payment_terms.clone(),
                bank_account: p.bank_account.clone(),
            }),
            (None, None, None) => None,
            _ => {
                let c = self.confidential.unwrap_or_default();
                Some(Finance {
                    credit_rating: c.credit_rating,
                    payment_terms: c.payment_terms,
                    bank_account: self.sensitive.and_then(|s| s.bank_account),
                })
            }
        };
        let mut b = self.business;
        if let Some(p) = self.proprietor.filter(ProprietorPart::has_identity) {
            b.customer.name = p.name.unwrap_or_default();
            b.customer.credit_code = p.credit_code;
            b.customer.address = p.address;
        }
        Dossier {
            customer: b.customer,
            owner: b.owner,
            status: b.status,
            grade: b.grade,
            contacts: self
                .contacts
                .into_iter()
                .map(|(sid, personal, sens)| Contact {
                    subject_id: Some(sid),
                    personal,
                    id_number: sens.and_then(|s| s.id_number),
                    notice: None,
                    sensitive_basis: None,
                })
                .collect(),
            transport: b.transport,
            preferences: b.preferences,
            finance,
            remarks: b.remarks,
            tags: b.tags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "customer": {"name": "XX科技有限公司", "credit_code": "91310000MA1FL0XX1X",
                         "industry": "电子", "region": "华东", "address": "上海市浦东新区"},
            "owner": PrincipalId::generate().as_str(),
            "status": "active",
            "grade": "A",
            "contacts": [{"name": "张经理", "phone": "13912345688", "email": "zhang@example.com",
                          "role": "采购经理", "id_number": "110101199003070000"}],
            "transport": {"cargo_types": ["电子产品"], "frequency": "每月两次", "routes": ["国内各地"]},
            "preferences": {"delivery": "快速配送", "tracking": true},
            "finance": {"credit_rating": "良好", "payment_terms": "月结30天", "bank_account": "6222020000000000000"},
            "remarks": "重点客户,优先安排",
            "tags": ["重点客户"]
        })
    }

    #[test]
    fn sample_is_valid_and_round_trips_through_segments() {
        let v = TemplateValidator::new().unwrap();
        let d = v.parse(&sample()).unwrap();
        let split = SplitDossier::split(d.clone());
        let sid = split.contacts[0].0.clone();
        let joined = split.join();
        let mut expected = d;
        expected.contacts[0].subject_id = Some(sid);
        assert_eq!(joined, expected);
    }

    #[test]
    fn a_sole_traders_finance_is_its_proprietors_and_a_companys_has_no_proprietor() {
        let v = TemplateValidator::new().unwrap();
        let mut doc = sample();
        doc["customer"]["kind"] = json!("sole_trader");
        let split = SplitDossier::split(v.parse(&doc).unwrap());
        let sid = split.proprietor_id().cloned().expect("a proprietor is assigned");
        assert_eq!(split.subjects().last(), Some(&sid), "named after the contacts");
        assert!(split.confidential.is_none() && split.sensitive.is_none(), "nothing under the dossier's key");
        let p = split.proprietor.clone().unwrap();
        assert_eq!(p.bank_account.as_deref(), Some("6222020000000000000"));
        assert_eq!((p.name.as_deref(), p.address.as_deref()), (Some("XX科技有限公司"), Some("上海市浦东新区")));
        let b = &split.business.customer;
        assert!(b.name.is_empty() && b.credit_code.is_none() && b.address.is_none(), "none under the dossier's key");
        assert_eq!((split.customer_name(), split.credit_code()), ("XX科技有限公司", Some("91310000MA1FL0XX1X")));
        assert_eq!(p.credit_rating.as_deref(), Some("良好"));
        let joined = split.join();
        assert_eq!(joined.finance.unwrap().payment_terms.as_deref(), Some("月结30天"));
        assert_eq!(joined.customer.subject_id, Some(sid));
        assert_eq!(joined.customer.name, "XX科技有限公司", "joined back whole");
        assert_eq!(joined.customer.credit_code.as_deref(), Some("91310000MA1FL0XX1X"));

        let company = SplitDossier::split(v.parse(&sample()).unwrap());
        assert!(company.proprietor_id().is_none() && company.proprietor.is_none());
        assert_eq!(company.business.customer.kind, CustomerKind::LegalPerson, "absent means a company");
        let stored = serde_json::to_value(&company.business).unwrap();
        assert!(stored["customer"].get("kind").is_none(), "a company's segment is written as before");
        doc["customer"]["kind"] = json!("partnership");
        assert!(v.parse(&doc).is_err());
    }

    #[test]
    fn every_failing_path_is_listed_without_values() {
        let v = TemplateValidator::new().unwrap();
        let mut doc = sample();
        doc["grade"] = json!("D");
        doc["contacts"][0]["phone"] = json!(13912345688u64);
        doc["customer"]["nickname"] = json!("秘密");
        doc["contacts"][0]["email"] = json!("zhang-at-example.com");
        let errs = v.parse(&doc).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"/grade"), "{paths:?}");
        assert!(paths.contains(&"/contacts/0/phone"), "{paths:?}");
        assert!(paths.contains(&"/contacts/0/email"), "{paths:?}");
        assert!(paths.contains(&"/customer"), "{paths:?}");
        let all = format!("{errs:?}");
        assert!(!all.contains("zhang-at-example.com") && !all.contains("秘密"), "{all}");
    }
}

#[cfg(test)]
mod fixture_tests {
    use super::*;

    #[test]
    fn every_shipped_fixture_conforms_to_the_template() {
        let v = TemplateValidator::new().unwrap();
        let fixtures: Vec<Value> = serde_json::from_str(include_str!("../../fixtures/dossiers.json")).unwrap();
        assert!(fixtures.len() >= 23);
        for (i, f) in fixtures.iter().enumerate() {
            if let Err(e) = v.parse(f) {
                panic!("fixture {i}: {e:?}");
            }
        }
    }
}
