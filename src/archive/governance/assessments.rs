//! The impact-assessment register (PIPL Art. 55-56; GDPR Art. 35): scope
//! (purposes, data categories, kinds of processing), date, conclusion, and
//! the report document, sealed under the registers key with its SHA-256
//! recorded. A purpose flagged `requires_assessment` in purposes.toml
//! cannot be used until an assessment covering it is on record. custos
//! never deletes an assessment or its report (PIPL Art. 56: at least three
//! years): no call, job or rule removes them.

use crate::archive::gate::{Access, Assessed};
use crate::archive::governance::Governance;
use crate::archive::vault::{AssessmentPart, Slot};
use crate::archive::Resource;
use crate::archive::{ArchiveError, Denial, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::crypto::{KeyRef, Sealed};
use crate::domain::dossier::FieldError;
use crate::domain::{AssessmentId, Classification, PrincipalId, Purpose};
use crate::store::{keys, Cf, KvStore, Table};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::domain::ProcessingKind;

#[derive(Debug, Clone)]
pub struct NewAssessment {
    pub purposes: Vec<String>,
    pub data_categories: Vec<Classification>,
    pub processing: Vec<ProcessingKind>,
    pub conducted_on: time::Date,
    pub conclusion: String,
    pub report: Vec<u8>,
    pub report_type: String,
}

/// The impact-assessment register: `s/<pia>` in `registers`.
pub(super) const ASSESSMENTS: Table<AssessmentId, AssessmentRecord> =
    Table::new(Cf::Registers, keys::ASSESSMENT_PREFIX, keys::assessment);
/// Each assessment's report, sealed under the registers key: `d/<pia>`.
const REPORTS: Table<AssessmentId, Sealed> = Table::new(Cf::Registers, b"d/", keys::assessment_report);

/// An assessment as stored and shown (the conclusion sealed in storage).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AssessmentRecord {
    pub(super) id: AssessmentId,
    pub(super) purposes: Vec<String>,
    data_categories: Vec<Classification>,
    pub(super) processing: Vec<ProcessingKind>,
    conducted_on: time::Date,
    conclusion: Sealed,
    report_sha256: String,
    report_bytes: u64,
    report_type: String,
    recorded_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    recorded_at: time::OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AssessmentView {
    pub id: String,
    pub purposes: Vec<String>,
    pub data_categories: Vec<Classification>,
    pub processing: Vec<ProcessingKind>,
    /// ISO 8601 date.
    pub conducted_on: String,
    /// `None` to an auditor.
    pub conclusion: Option<String>,
    pub report_sha256: String,
    pub report_bytes: u64,
    pub report_type: String,
    pub recorded_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: time::OffsetDateTime,
    /// Until when custos must keep it at least (three years after it was recorded).
    #[serde(with = "time::serde::rfc3339")]
    pub keep_until: time::OffsetDateTime,
}

/// What the assessments on record cover (read at start-up).
pub(crate) fn assessed(store: &dyn KvStore) -> anyhow::Result<Assessed> {
    let mut out = Assessed::default();
    for r in ASSESSMENTS.values(store) {
        let r = r?;
        out.purposes.extend(r.purposes);
        out.kinds.extend(r.processing);
    }
    Ok(out)
}

/// What a recipient or transfer record names for the assessment its kind
/// of processing needs.
enum Coverage {
    /// The named assessment covers the kind and every purpose.
    Covered(AssessmentId),
    /// None named, and the policy does not ask for one.
    NotNeeded,
    /// None named, and the policy asks for one: refused (403).
    Missing,
    /// One named that is not on record or does not cover it (422).
    Invalid(FieldError),
}

/// Each assessment on record: its id and the purposes it covers.
pub(super) fn assessments_by_purpose(store: &dyn KvStore) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    for r in ASSESSMENTS.values(store) {
        let r = r?;
        out.push((format!("{} ({})", r.id, r.conducted_on), r.purposes));
    }
    Ok(out)
}

impl Governance {
    fn assessment_view(&self, r: &AssessmentRecord, with_text: bool) -> Result<AssessmentView, ArchiveError> {
        let slot = Slot::Assessment(&r.id, AssessmentPart::Conclusion);
        let conclusion =
            if with_text { self.vault.open_text(&KeyRef::Registers, slot, &r.conclusion)?.plain() } else { None };
        Ok(AssessmentView {
            id: r.id.to_string(),
            purposes: r.purposes.clone(),
            data_categories: r.data_categories.clone(),
            processing: r.processing.clone(),
            conducted_on: r.conducted_on.to_string(),
            conclusion,
            report_sha256: r.report_sha256.clone(),
            report_bytes: r.report_bytes,
            report_type: r.report_type.clone(),
            recorded_by: r.recorded_by.to_string(),
            recorded_at: r.recorded_at,
            keep_until: crate::policy::retention::Period::Years(3).after(r.recorded_at),
        })
    }

    /// The assessment a recipient or transfer record names for processing
    /// of `kind` for `purposes`: a field error in `errors` when it does not
    /// cover them; refused (403 `processing-not-assessed`, audited) when
    /// none is named, the policy asks for one and nothing else is wrong.
    pub(super) async fn named_assessment(
        &self,
        ctx: &RequestCtx,
        (action, resource): (Action, &str),
        (kind, purposes): (ProcessingKind, &[String]),
        named: Option<&str>,
        errors: &mut Vec<FieldError>,
    ) -> Result<Option<AssessmentId>, ArchiveError> {
        match self.coverage(kind, purposes, named)? {
            Coverage::Covered(id) => Ok(Some(id)),
            Coverage::NotNeeded => Ok(None),
            Coverage::Invalid(e) => {
                errors.push(e);
                Ok(None)
            }
            Coverage::Missing if errors.is_empty() => {
                let e = ctx.entry(action, resource, Outcome::Deny, "");
                self.gate.deny(e, Denial::ProcessingNotAssessed(kind), None).await
            }
            Coverage::Missing => Ok(None),
        }
    }

    /// Whether the assessment `named` (at `/assessment`) covers processing
    /// of `kind` for `purposes`.
    fn coverage(
        &self,
        kind: ProcessingKind,
        purposes: &[String],
        named: Option<&str>,
    ) -> Result<Coverage, ArchiveError> {
        let Some(named) = named else {
            return Ok(if self.policy.assessments.requires(kind) { Coverage::Missing } else { Coverage::NotNeeded });
        };
        let invalid = |message: String| Coverage::Invalid(FieldError { path: "/assessment".into(), message });
        let record = match AssessmentId::parse(named) {
            Ok(id) => ASSESSMENTS.get(self.store.as_ref(), &id)?,
            Err(_) => None,
        };
        let Some(r) = record else { return Ok(invalid("no such impact assessment".into())) };
        if !r.processing.contains(&kind) {
            return Ok(invalid(format!("it does not cover {kind}")));
        }
        let uncovered: Vec<&str> = purposes.iter().filter(|p| !r.purposes.contains(p)).map(String::as_str).collect();
        if !uncovered.is_empty() {
            return Ok(invalid(format!("it does not cover the purposes {}", uncovered.join(", "))));
        }
        Ok(Coverage::Covered(r.id))
    }

    /// `POST /v1/assessments` (compliance).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_assessment(&self, ctx: &RequestCtx, a: NewAssessment) -> Result<AssessmentView, ArchiveError> {
        const ACTION: Action = Action::AssessmentCreate;
        self.gate.require_register(ctx, ACTION, Resource::Assessments.as_str(), Access::Keep).await?;
        let mut errors = Vec::new();
        for (i, p) in a.purposes.iter().enumerate() {
            if Purpose::parse(p).and_then(|id| self.policy.purposes.get(&id)).is_none() {
                errors.push(FieldError { path: format!("/scope/purposes/{i}"), message: "unknown purpose".into() });
            }
        }
        if a.conducted_on > self.clock.now().date() {
            errors.push(FieldError { path: "/conducted_on".into(), message: "lies in the future".into() });
        }
        if !errors.is_empty() {
            let e = ctx.entry(ACTION, Resource::Assessments.as_str(), Outcome::Error, "invalid assessment");
            return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        let id = AssessmentId::generate();
        let conclusion = self.vault.seal_live(
            &KeyRef::Registers,
            Slot::Assessment(&id, AssessmentPart::Conclusion),
            a.conclusion.as_bytes(),
        )?;
        let report =
            self.vault.seal_live(&KeyRef::Registers, Slot::Assessment(&id, AssessmentPart::Report), &a.report)?;
        let mut purposes = a.purposes;
        purposes.sort();
        purposes.dedup();
        let mut processing = a.processing;
        processing.sort();
        processing.dedup();
        let record = AssessmentRecord {
            id: id.clone(),
            purposes: purposes.clone(),
            data_categories: a.data_categories,
            processing: processing.clone(),
            conducted_on: a.conducted_on,
            conclusion,
            report_sha256: hex::encode(Sha256::digest(&a.report)),
            report_bytes: a.report.len() as u64,
            report_type: a.report_type,
            recorded_by: ctx.principal.id.clone(),
            recorded_at: self.clock.now(),
        };
        let ops = vec![ASSESSMENTS.put_unguarded(&id, &record)?, REPORTS.put_unguarded(&id, &report)?];
        let reason = format!(
            "covers {}; processing {}; report sha256 {} ({} bytes)",
            purposes.join(", "),
            processing.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "),
            record.report_sha256,
            record.report_bytes
        );
        let e = ctx.entry(ACTION, id.as_str(), Outcome::Allow, reason);
        self.audit.commit(Commit::change(ops, e)).await?;
        self.gate.note_assessed(&purposes, &processing);
        self.assessment_view(&record, true)
    }

    /// `GET /v1/assessments` (compliance, auditor).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_assessments(&self, ctx: &RequestCtx) -> Result<Vec<AssessmentView>, ArchiveError> {
        const ACTION: Action = Action::AssessmentList;
        self.gate.require_register(ctx, ACTION, Resource::Assessments.as_str(), Access::Read).await?;
        let all: Vec<AssessmentRecord> = ASSESSMENTS.values(self.store.as_ref()).collect::<Result<_, _>>()?;
        let e = ctx.entry(ACTION, Resource::Assessments.as_str(), Outcome::Allow, format!("{} listed", all.len()));
        self.audit.commit(Commit::entry(e)).await?;
        let texts = self.gate.may(&ctx.principal, crate::archive::gate::Operation::RegisterKeep);
        all.iter().map(|r| self.assessment_view(r, texts)).collect()
    }

    /// `GET /v1/assessments/{id}/report` (compliance): the document and its type.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn assessment_report(&self, ctx: &RequestCtx, id: &str) -> Result<(String, Vec<u8>), ArchiveError> {
        const ACTION: Action = Action::AssessmentReport;
        self.gate.require_register(ctx, ACTION, Resource::Assessments.as_str(), Access::Keep).await?;
        let found = match AssessmentId::parse(id) {
            Ok(aid) => ASSESSMENTS
                .get(self.store.as_ref(), &aid)?
                .zip(REPORTS.get(self.store.as_ref(), &aid)?)
                .map(|r| (aid, r)),
            Err(_) => None,
        };
        let Some((aid, (meta, sealed))) = found else {
            let e = ctx.entry(ACTION, id, Outcome::Error, "no such assessment");
            return self.gate.refuse(e, ArchiveError::NotFound("assessment".into())).await;
        };
        let plain =
            self.vault.open_live(&KeyRef::Registers, Slot::Assessment(&aid, AssessmentPart::Report), &sealed)?;
        let e = ctx.entry(ACTION, id, Outcome::Allow, format!("report sha256 {}", meta.report_sha256));
        self.audit.commit(Commit::entry(e)).await?;
        Ok((meta.report_type, plain.to_vec()))
    }
}
