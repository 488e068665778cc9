//! The records of processing activities (GDPR Art. 30(1); PIPL Art. 56):
//! for each purpose its basis and citation, the data categories the access
//! policy lets each role see under it (from the template's classes), the
//! recipients, transfers, the retention rules, the security measures and
//! the assessments. Generated from the active policy files on every call,
//! so they cannot drift from what custos enforces.

use crate::archive::governance::Governance;
use crate::archive::Resource;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::{Classification, Principal, PrincipalId, Purpose, Role};
use crate::policy::access::{DossierFacts, FieldOutcome, SubjectState};
use crate::policy::classes::FieldClasses;
use serde::Serialize;
use std::collections::BTreeMap;

/// One class of data processed for a purpose, and how each role sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DataCategory {
    pub class: Classification,
    /// The template's fields of the class (JSON Pointers, `*` for any index).
    pub fields: Vec<String>,
    /// Role → `clear` or `masked` (a role that sees nothing is not listed).
    pub shown_to: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RetentionEntry {
    pub rule: String,
    pub covers: String,
    pub trigger: String,
    pub period: String,
    pub action: String,
    pub citation: String,
}

/// One processing activity: a purpose of policies/purposes.toml.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProcessingRecord {
    pub purpose: String,
    pub description: String,
    pub basis: String,
    pub citation: String,
    pub categories_of_data_subjects: Vec<String>,
    pub data_categories: Vec<DataCategory>,
    /// The internal roles that may state the purpose.
    pub recipients_internal: Vec<String>,
    /// Third parties the data is provided or entrusted to.
    pub recipients_third_parties: Vec<String>,
    /// Transfers out of the PRC or the EU.
    pub transfers: Vec<String>,
    pub retention: Vec<RetentionEntry>,
    pub security_measures: Vec<String>,
    /// Impact assessments covering the purpose.
    pub assessments: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordsOfProcessing {
    /// SHA-256 of the policy files they were generated from.
    pub policy_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: time::OffsetDateTime,
    pub records: Vec<ProcessingRecord>,
}

/// The measures of Art. 32 / PIPL Art. 51 that custos itself applies (see
/// docs/storage-and-keys.md and docs/security.md).
const SECURITY_MEASURES: [&str; 8] = [
    "every personal value sealed (XChaCha20-Poly1305) under a key per dossier and per person, wrapped with age to the master key; shredding the key erases the data",
    "field-level access by purpose, role, ownership and region (Cedar policies), masking by class",
    "every access, allowed or denied, in a hash-chained, Merkle-provable audit log with signed checkpoints",
    "consent, restriction and objection decided on every read",
    "tokens stored as hashes, issued through one-time enrollment codes, expiring; conflicting roles refused",
    "search over keyed hashes only; no personal value in the index, logs or audit entries",
    "encrypted, signed, verifiable backups with an erasure journal applied on restore",
    "bulk exports and destruction need a second officer's approval",
];

fn outcome_name(o: FieldOutcome) -> Option<&'static str> {
    match o {
        FieldOutcome::Clear => Some("clear"),
        FieldOutcome::Masked => Some("masked"),
        FieldOutcome::Withheld => None,
    }
}

impl Governance {
    /// How `role` at best sees `class` under `purpose`: as the owner of a
    /// dossier of its own region, the person having consented (separately).
    fn best_view(&self, role: Role, purpose: &str, class: Classification) -> Option<&'static str> {
        // One fixed stand-in, so that the decision cache holds these once.
        let id = PrincipalId::parse("prn_00000000000000000000000000").unwrap_or_else(|_| PrincipalId::generate());
        let p = Principal {
            id,
            name: String::new(),
            roles: vec![role],
            department: String::new(),
            region: "*".into(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            recipient: None,
            admin_pending: None,
            disabled_by: None,
        };
        let def = Purpose::parse(purpose).and_then(|id| self.policy.purposes.get(&id))?;
        let facts = DossierFacts {
            owner: &p.id,
            region: "*",
            grade: crate::domain::dossier::Grade::A,
            status: crate::domain::dossier::Status::Active,
        };
        let mut reader = self.policy.access.reader(&p, "dos_00000000000000000000000000", facts, purpose, def);
        let consenting = SubjectState {
            restricted: false,
            consents: [purpose.to_owned()].into(),
            separate_consents: [purpose.to_owned()].into(),
            superseded: false,
        };
        let about_person = matches!(class, Classification::Personal | Classification::Sensitive);
        let d = reader.decide(class, about_person.then_some(&consenting));
        outcome_name(d.outcome)
    }

    /// The records as generated from the active policies and registers.
    pub fn records_of_processing(&self) -> Result<RecordsOfProcessing, ArchiveError> {
        let assessments = super::assessments::assessments_by_purpose(self.store.as_ref())?;
        let classes = FieldClasses::template();
        let mut fields: BTreeMap<Classification, Vec<String>> = BTreeMap::new();
        for (path, class) in classes.fields() {
            fields.entry(class).or_default().push(path.to_owned());
        }
        let retention: Vec<RetentionEntry> = self
            .policy
            .retention
            .rules
            .iter()
            .map(|r| RetentionEntry {
                rule: r.id.clone(),
                covers: crate::archive::wire_name(&r.covers),
                trigger: crate::archive::wire_name(&r.trigger),
                period: r.period.to_string(),
                action: crate::archive::wire_name(&r.action),
                citation: r.citation.clone(),
            })
            .collect();
        let third_parties = self.recipient_records()?;
        let transfers = self.transfer_lines(&third_parties)?;
        let mut records = Vec::new();
        for id in self.policy.purposes.ids() {
            let Some(def) = Purpose::parse(id).and_then(|p| self.policy.purposes.get(&p)) else { continue };
            let mut data_categories = Vec::new();
            for (class, paths) in &fields {
                let shown_to: BTreeMap<String, String> = def
                    .roles
                    .iter()
                    .filter_map(|r| self.best_view(*r, id, *class).map(|o| (r.as_str().to_owned(), o.to_owned())))
                    .collect();
                if !shown_to.is_empty() {
                    data_categories.push(DataCategory { class: *class, fields: paths.clone(), shown_to });
                }
            }
            records.push(ProcessingRecord {
                purpose: id.to_owned(),
                description: def.description.clone(),
                basis: def.basis.as_str().to_owned(),
                citation: def.citation.clone(),
                categories_of_data_subjects: vec!["contact persons of customers and prospects".into()],
                data_categories,
                recipients_internal: def
                    .roles
                    .iter()
                    .filter(|r| **r != Role::Processor)
                    .map(|r| r.as_str().to_owned())
                    .collect(),
                recipients_third_parties: third_parties
                    .iter()
                    .filter(|r| r.purposes.iter().any(|p| p == id))
                    .map(|r| {
                        format!(
                            "{} {} ({}, in {}; classes {}; term {} to {}; contract {})",
                            r.id,
                            r.name,
                            crate::archive::wire_name(&r.role),
                            r.country,
                            r.classes.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
                            super::rfc3339(r.term_from),
                            super::rfc3339(r.term_until),
                            r.contract
                        )
                    })
                    .collect(),
                transfers: transfers
                    .iter()
                    .filter(|(purposes, _)| purposes.contains(&id.to_owned()))
                    .map(|(_, t)| t.clone())
                    .collect(),
                retention: retention.clone(),
                security_measures: SECURITY_MEASURES.iter().map(|m| (*m).to_owned()).collect(),
                assessments: assessments
                    .iter()
                    .filter(|(_, purposes)| purposes.iter().any(|p| p == id))
                    .map(|(a, _)| a.clone())
                    .collect(),
            });
        }
        Ok(RecordsOfProcessing { policy_hash: self.policy.hash.clone(), generated_at: self.clock.now(), records })
    }

    /// `GET /v1/records-of-processing` (compliance, auditor).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get_records_of_processing(&self, ctx: &RequestCtx) -> Result<RecordsOfProcessing, ArchiveError> {
        const ACTION: Action = Action::GovernanceRecords;
        let why = "the records of processing are open to compliance officers and auditors only";
        self.gate
            .decide(
                ctx,
                crate::archive::gate::Operation::RegisterRead,
                ACTION,
                Resource::RecordsOfProcessing.as_str(),
                why,
            )
            .await?;
        let out = self.records_of_processing()?;
        let e = ctx.entry(
            ACTION,
            Resource::RecordsOfProcessing.as_str(),
            Outcome::Allow,
            format!("{} record(s)", out.records.len()),
        );
        self.audit.commit(Commit::entry(e)).await?;
        Ok(out)
    }
}

impl RecordsOfProcessing {
    /// As CSV (RFC 4180): one row per purpose, lists joined with "; ".
    pub fn to_csv(&self) -> Result<Vec<u8>, ArchiveError> {
        let mut w = crate::sheet::CsvOut::default();
        let header = [
            "purpose",
            "description",
            "basis",
            "citation",
            "categories_of_data_subjects",
            "data_categories",
            "recipients_internal",
            "recipients_third_parties",
            "transfers",
            "retention",
            "security_measures",
            "assessments",
        ];
        let csv_err = |e: csv::Error| ArchiveError::Internal(e.into());
        w.write_record(header).map_err(csv_err)?;
        for r in &self.records {
            let categories: Vec<String> = r
                .data_categories
                .iter()
                .map(|c| {
                    let who: Vec<String> = c.shown_to.iter().map(|(role, how)| format!("{role} {how}")).collect();
                    format!("{} ({})", crate::archive::wire_name(&c.class), who.join(", "))
                })
                .collect();
            let retention: Vec<String> = r
                .retention
                .iter()
                .map(|x| format!("{}: {} {} after {} ({})", x.rule, x.action, x.covers, x.period, x.citation))
                .collect();
            w.write_record([
                r.purpose.as_str(),
                &r.description,
                &r.basis,
                &r.citation,
                &r.categories_of_data_subjects.join("; "),
                &categories.join("; "),
                &r.recipients_internal.join("; "),
                &r.recipients_third_parties.join("; "),
                &r.transfers.join("; "),
                &retention.join("; "),
                &r.security_measures.join("; "),
                &r.assessments.join("; "),
            ])
            .map_err(csv_err)?;
        }
        w.into_inner().map_err(|e| ArchiveError::Internal(anyhow::anyhow!(e)))
    }
}
