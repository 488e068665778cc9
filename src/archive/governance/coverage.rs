//! What waits for an impact assessment and what covers it (PIPL Art.
//! 55-56): `GET /v1/assessments/coverage` answers, for every kind of
//! processing of `policies/assessments.toml` and every purpose flagged
//! `requires_assessment`, which assessments on record cover it, and names
//! the recipient and transfer records in force without one (made before
//! custos asked for it). When automated grading is held back for want of
//! an assessment, the grading job raises one `assessment_missing` alert.

use super::assessments::ASSESSMENTS;
use crate::archive::gate::Access;
use crate::archive::governance::Governance;
use crate::archive::records::{ALERTS, RECIPIENTS, TRANSFERS};
use crate::archive::Resource;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, CommitError, EntryBody, Outcome};
use crate::domain::{ProcessingKind, RecipientRole};
use crate::store::{keys, Cf, Table};
use serde::Serialize;
use std::collections::BTreeSet;

/// The kinds an `assessment_missing` alert was raised for: `q/assessments`.
const ALERTED: Table<(), BTreeSet<ProcessingKind>> =
    Table::new(Cf::Registers, b"q/assessments", keys::assessment_alerts);

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KindCoverage {
    #[schema(inline)]
    pub kind: ProcessingKind,
    /// Whether the policy makes it wait for an assessment.
    pub required: bool,
    pub citation: String,
    /// The policy's reason when not required (a deviation from PIPL Art. 55).
    pub not_required_because: Option<String>,
    /// The assessments on record covering it.
    pub assessments: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PurposeCoverage {
    pub purpose: String,
    /// The assessments on record covering it; none: the purpose cannot be stated.
    pub assessments: Vec<String>,
}

/// A recipient or transfer record in force that names no assessment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UncoveredRecord {
    /// A recipient (`rcp_…`) or transfer (`trf_…`) id.
    pub record: String,
    #[schema(inline)]
    pub kind: ProcessingKind,
}

/// `GET /v1/assessments/coverage`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Coverage {
    pub kinds: Vec<KindCoverage>,
    /// The purposes flagged `requires_assessment`.
    pub purposes: Vec<PurposeCoverage>,
    pub uncovered_records: Vec<UncoveredRecord>,
    /// Whether every required kind, flagged purpose and record in force is covered.
    pub complete: bool,
}

impl Governance {
    /// What needs an assessment and what covers it, from the store.
    pub fn coverage_report(&self) -> Result<Coverage, ArchiveError> {
        let store = self.store.as_ref();
        let assessments: Vec<_> = ASSESSMENTS.values(store).collect::<Result<_, _>>()?;
        let covering = |covers: &dyn Fn(&super::assessments::AssessmentRecord) -> bool| -> Vec<String> {
            assessments.iter().filter(|a| covers(a)).map(|a| a.id.to_string()).collect()
        };
        let kinds: Vec<KindCoverage> = self
            .policy
            .assessments
            .rules()
            .map(|(kind, rule)| KindCoverage {
                kind,
                required: rule.required,
                citation: rule.citation.clone(),
                not_required_because: rule.not_required_because.clone(),
                assessments: covering(&|a| a.processing.contains(&kind)),
            })
            .collect();
        let purposes: Vec<PurposeCoverage> = self
            .policy
            .purposes
            .ids()
            .filter(|id| {
                crate::domain::Purpose::parse(id)
                    .and_then(|p| self.policy.purposes.get(&p))
                    .is_some_and(|d| d.requires_assessment)
            })
            .map(|id| PurposeCoverage {
                purpose: id.to_owned(),
                assessments: covering(&|a| a.purposes.iter().any(|p| p == id)),
            })
            .collect();
        let now = self.clock.now();
        let mut uncovered_records = Vec::new();
        let recipients: Vec<_> = RECIPIENTS.values(store).collect::<Result<_, _>>()?;
        for r in recipients.iter().filter(|r| r.assessment.is_none() && now < r.term_until) {
            let kind = match r.role {
                RecipientRole::Processor => ProcessingKind::Entrustment,
                RecipientRole::Independent => ProcessingKind::ProvisionToThirdParty,
            };
            if self.policy.assessments.requires(kind) {
                uncovered_records.push(UncoveredRecord { record: r.id.to_string(), kind });
            }
        }
        if self.policy.assessments.requires(ProcessingKind::CrossBorder) {
            for t in TRANSFERS.values(store) {
                let t = t?;
                let in_term = recipients.iter().any(|r| r.id == t.recipient && now < r.term_until);
                if t.assessment.is_none() && in_term {
                    uncovered_records
                        .push(UncoveredRecord { record: t.id.to_string(), kind: ProcessingKind::CrossBorder });
                }
            }
        }
        let complete = kinds.iter().all(|k| !k.required || !k.assessments.is_empty())
            && purposes.iter().all(|p| !p.assessments.is_empty())
            && uncovered_records.is_empty();
        Ok(Coverage { kinds, purposes, uncovered_records, complete })
    }

    /// `GET /v1/assessments/coverage` (compliance, auditor).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get_coverage(&self, ctx: &RequestCtx) -> Result<Coverage, ArchiveError> {
        const ACTION: Action = Action::AssessmentCoverage;
        self.gate.require_register(ctx, ACTION, Resource::Assessments.as_str(), Access::Read).await?;
        let c = self.coverage_report()?;
        let reason = if c.complete { "complete".to_owned() } else { "gaps".to_owned() };
        self.audit
            .commit(Commit::entry(ctx.entry(ACTION, Resource::Assessments.as_str(), Outcome::Allow, reason)))
            .await?;
        Ok(c)
    }

    /// Processing of `kind` was held back for want of an assessment (the
    /// grading job): raises one `assessment_missing` alert per kind, the
    /// alert, its entry and the mark one guarded write.
    pub async fn note_unassessed(
        &self,
        kind: ProcessingKind,
        held_back: &str,
    ) -> Result<Option<crate::policy::alerts::Alert>, ArchiveError> {
        let held = ALERTED.hold(self.store.as_ref(), &())?;
        let mut kinds = held.as_ref().map(|h| h.value.clone()).unwrap_or_default();
        if !kinds.insert(kind) {
            return Ok(None);
        }
        let change = match &held {
            Some(h) => h.replace(&kinds)?,
            None => ALERTED.insert(&(), &kinds)?,
        };
        let now = self.clock.now();
        let citation = self.policy.assessments.rules().find(|(k, _)| *k == kind).map(|(_, r)| r.citation.clone());
        let alert = crate::policy::alerts::Alert::once(
            "assessment_missing",
            "",
            format!(
                "{held_back}: no impact assessment on record covers {kind} ({}); record one with POST /v1/assessments",
                citation.unwrap_or_default()
            ),
            now,
        );
        let entry = EntryBody {
            request_id: alert.id.clone(),
            ..EntryBody::system(
                Action::AuditAlert,
                Resource::Assessments.as_str(),
                format!("assessment_missing: {}", alert.description),
            )
        };
        let ops = vec![ALERTS.put_unguarded(&alert.id, &alert)?];
        match self.audit.commit(Commit::guarded(change, ops, entry)).await {
            // Raised by another run meanwhile.
            Err(CommitError::Conflict) => return Ok(None),
            other => other?,
        };
        tracing::warn!(rule = "assessment_missing", kind = kind.as_str(), "assessment alert");
        Ok(Some(alert))
    }
}
