//! The explanation of how custos processes one person's data (PIPL Art.
//! 48; GDPR Art. 15(1)): for each purpose its legal basis and citation,
//! whether it applies to the person now (consent, restriction, objection),
//! who receives the data, how long it is kept and why; where the data came
//! from; and which law sets the due date of the person's requests.

use super::rfc3339;
use crate::archive::records::{ConsentBasis, DossierMeta, SubjectMeta};
use crate::archive::subjects::Subjects;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::policy::access::SubjectAction;
use crate::policy::retention::Covers;
use crate::policy::Basis;
use serde_json::{json, Value};

impl Subjects {
    /// The explanation as JSON (also part of the subject export).
    pub(super) fn processing_of(&self, meta: &SubjectMeta, dossiers: &[DossierMeta]) -> Value {
        let restricted = meta.restricted_at.is_some();
        let retention: Vec<Value> = self
            .policy
            .retention
            .rules
            .iter()
            .map(|r| {
                json!({
                    "rule": r.id,
                    "description": r.description,
                    "covers": match r.covers { Covers::Dossier => "the whole dossier", Covers::Contact => "the person's own fields" },
                    "trigger": r.trigger,
                    "period": r.period.to_string(),
                    "action": r.action,
                    "statuses": r.when.status,
                    "citation": r.citation,
                })
            })
            .collect();
        // The registers, when they can be read (an explanation never fails on them).
        let recipients = self.governance.recipient_records().unwrap_or_default();
        let transfers = self.governance.transfers_for(&meta.residency()).unwrap_or_default();
        let mut purposes = Vec::new();
        for id in self.policy.purposes.ids() {
            let Some(def) = crate::domain::Purpose::parse(id).and_then(|p| self.policy.purposes.get(&p)) else {
                continue;
            };
            let consent = meta.consents.get(id);
            let status = if meta.objected.contains(id) {
                "objected: not used for the person, for good"
            } else if restricted && !def.open_when_restricted {
                "restricted: not used while the person's processing is restricted"
            } else {
                match (def.basis, consent) {
                    (Basis::Consent, None) | (Basis::SeparateConsent, None) => "not used: no consent on record",
                    (Basis::Consent | Basis::SeparateConsent, Some(c)) if !c.counts(id, &self.policy.notices) => {
                        "not used: the consent was given under a privacy notice that does not name this purpose"
                    }
                    (Basis::SeparateConsent, Some(c)) if c.basis != ConsentBasis::SeparateConsent => {
                        "not used for sensitive data: the consent on record is not a separate consent"
                    }
                    _ => "in use",
                }
            };
            purposes.push(json!({
                "purpose": id,
                "description": def.description,
                "basis": def.basis.as_str(),
                "citation": def.citation,
                "status": status,
                "consent": consent.map(|c| json!({"basis": c.basis, "granted_at": rfc3339(c.granted_at)})),
                "recipients": {
                    "internal_roles": def.roles.iter().filter(|r| **r != crate::domain::Role::Processor).collect::<Vec<_>>(),
                    "third_parties": recipients
                        .iter()
                        .filter(|r| r.purposes.iter().any(|p| p == id))
                        .map(|r| json!({"id": r.id, "name": r.name, "role": r.role, "country": r.country,
                            "classes": r.classes, "term_until": rfc3339(r.term_until)}))
                        .collect::<Vec<_>>(),
                },
                "retention": retention,
            }));
        }
        let sources: Vec<Value> = dossiers
            .iter()
            .map(|d| {
                json!({
                    "dossier": d.id,
                    "collected_by": d.created_by,
                    "collected_at": rfc3339(d.created_at),
                    "region": d.region,
                    "how": "named as a contact person in the customer dossier by the member of staff serving the customer",
                })
            })
            .collect();
        let residency = meta.residency();
        let rule = self.policy.requests.for_residency(&residency);
        json!({
            "subject_id": meta.id,
            "residency": residency,
            "restricted": restricted,
            "purposes": purposes,
            "sources": sources,
            "third_party_provision": if recipients.is_empty() {
                json!("none: custos provides no personal data to third parties")
            } else {
                json!("to the third parties listed under each purpose, within their agreement; an independent recipient only with the person's separate consent naming it")
            },
            "cross_border_transfer": if transfers.is_empty() { json!("none recorded") } else { json!(transfers) },
            "requests": {
                "jurisdiction": rule.jurisdiction,
                "answered_within": rule.period.to_string(),
                "extension": rule.extension.map(|p| p.to_string()),
                "citation": rule.citation,
            },
            "audit_minimum": self.policy.retention.audit_minimum.to_string(),
        })
    }

    /// `GET /v1/subjects/{sid}/processing` (compliance, stating dsr).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn subject_processing(&self, ctx: &RequestCtx, id: &str) -> Result<Value, ArchiveError> {
        const ACTION: Action = Action::SubjectProcessing;
        let call = self.authorize_subject(ctx, ACTION, SubjectAction::Export, id).await?;
        let out = self.processing_of(&call.meta, &call.dossiers);
        let mut e = ctx.entry(ACTION, id, Outcome::Allow, call.reason.clone());
        e.subjects = vec![call.sid.to_string()];
        self.audit.commit(Commit::entry(e)).await?;
        Ok(out)
    }
}
