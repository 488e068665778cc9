//! The compliance-audit register (PIPL Art. 54; NDSMR Art. 27; the 2025
//! compliance-audit Measures; the yearly risk assessment of important
//! data, NDSMR Art. 30-33): each engagement's kind, who conducts it (an
//! internal body or an outside firm, by organisation and role, sealed;
//! an outside firm of a personal-information audit also by its unified
//! social credit code, in clear, for the rule that one firm does not audit
//! three times in a row: `plan`),
//! its scope (sealed), when it was planned, started and ended, its
//! conclusion and report (sealed under the registers key, the report's
//! SHA-256 recorded) and the day it was reported to the authority. An
//! engagement moves planned → in progress → completed; each step is a
//! guarded write of the record with its audit entry. The schedule
//! (`policies/compliance_audits.toml`) says when the next of each kind is
//! due. custos never deletes an engagement or its report.

use super::findings::{FindingRecord, FindingView};
use super::{iso, Oversight};
use crate::archive::gate::Access;
use crate::archive::{ArchiveError, RequestCtx, Resource};
use crate::audit::{Action, Commit, CommitError, EntryBody, Outcome};
use crate::crypto::Sealed;
use crate::domain::dossier::FieldError;
use crate::domain::{CreditCode, EngagementId, PrincipalId};
use crate::policy::audits::EngagementKind;
use crate::store::{keys, Cf, Held, Table};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Date, OffsetDateTime};

/// Who conducts an engagement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Conductor {
    /// The company's own audit or compliance body.
    Internal,
    /// A professional firm it engaged.
    External,
}

/// Where an engagement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EngagementState {
    Planned,
    InProgress,
    Completed,
}

#[derive(Debug, Clone)]
pub struct NewEngagement {
    pub kind: EngagementKind,
    pub conductor: Conductor,
    /// The outside firm's unified social credit code: required for an
    /// external personal-information audit, refused for an internal one.
    pub firm: Option<CreditCode>,
    /// The organisation and the auditor's role, never a person's name
    /// (sealed all the same).
    pub auditor: String,
    pub scope: String,
    pub planned_on: Date,
}

/// An engagement's end: its conclusion and report.
#[derive(Debug, Clone)]
pub struct EngagementCompletion {
    pub ended_on: Date,
    pub conclusion: String,
    pub report: Vec<u8>,
    pub report_type: String,
}

/// `ce/<eng>` in `registers`.
pub(super) const ENGAGEMENTS: Table<EngagementId, EngagementRecord> =
    Table::new(Cf::Registers, keys::ENGAGEMENT_PREFIX, keys::engagement);
/// Each engagement's report, sealed: `cr/<eng>`.
const REPORTS: Table<EngagementId, Sealed> = Table::new(Cf::Registers, b"cr/", keys::engagement_report);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct EngagementRecord {
    pub(super) id: EngagementId,
    pub(super) kind: EngagementKind,
    pub(super) conductor: Conductor,
    /// The outside firm's code (an organisation's, in clear); `None` for an
    /// internal engagement, and for one recorded before firms were named.
    #[serde(default)]
    pub(super) firm: Option<CreditCode>,
    pub(super) auditor: Sealed,
    pub(super) scope: Sealed,
    pub(super) planned_on: Date,
    pub(super) started_on: Option<Date>,
    pub(super) ended_on: Option<Date>,
    pub(super) state: EngagementState,
    pub(super) conclusion: Option<Sealed>,
    pub(super) report_sha256: Option<String>,
    pub(super) report_bytes: u64,
    pub(super) report_type: Option<String>,
    pub(super) reported_on: Option<Date>,
    pub(super) findings: Vec<FindingRecord>,
    pub(super) recorded_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    pub(super) recorded_at: OffsetDateTime,
}

impl EngagementRecord {
    /// The register's order: by planned day, then by when each was recorded.
    pub(super) fn order(&self) -> (Date, OffsetDateTime) {
        (self.planned_on, self.recorded_at)
    }
}

/// An engagement as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EngagementView {
    pub id: String,
    pub kind: EngagementKind,
    pub conductor: Conductor,
    /// The outside firm's unified social credit code (GB 32100-2015).
    pub firm: Option<String>,
    pub auditor: String,
    pub scope: String,
    /// ISO 8601 dates.
    pub planned_on: String,
    pub started_on: Option<String>,
    pub ended_on: Option<String>,
    pub state: EngagementState,
    pub conclusion: Option<String>,
    pub report_sha256: Option<String>,
    pub report_bytes: u64,
    pub report_type: Option<String>,
    /// When the report went to the authority.
    pub reported_on: Option<String>,
    pub findings: Vec<FindingView>,
    /// Findings not verified fixed.
    pub open_findings: usize,
    pub recorded_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

/// When the next engagement of a kind is due.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScheduleView {
    pub kind: EngagementKind,
    /// Whether the duty applies (the risk assessment: only while a data
    /// set is graded important or core).
    pub applies: bool,
    pub every: String,
    pub citation: String,
    /// The end of the last completed engagement of this kind.
    pub last_completed: Option<String>,
    pub next_due: Option<String>,
    pub overdue: bool,
    /// An engagement of this kind planned or in progress.
    pub upcoming: Option<String>,
}

/// `GET /v1/compliance-audits`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRegister {
    pub schedule: Vec<ScheduleView>,
    pub engagements: Vec<EngagementView>,
}

/// Findings one engagement may hold (the record stays bounded).
pub(super) const MAX_FINDINGS: usize = 500;

fn future(errors: &mut Vec<FieldError>, path: &str, day: Date, today: Date) {
    if day > today {
        errors.push(FieldError { path: path.into(), message: "lies in the future".into() });
    }
}

impl Oversight {
    pub(super) fn engagements(&self) -> Result<Vec<EngagementRecord>, ArchiveError> {
        let mut all: Vec<EngagementRecord> = ENGAGEMENTS.values(self.store.as_ref()).collect::<Result<_, _>>()?;
        all.sort_by_key(EngagementRecord::order);
        Ok(all)
    }

    pub(super) fn engagement_view(&self, r: &EngagementRecord) -> Result<EngagementView, ArchiveError> {
        let owner = r.id.as_str();
        let findings = r.findings.iter().map(|f| self.finding_view(r, f)).collect::<Result<Vec<_>, _>>()?;
        Ok(EngagementView {
            id: r.id.to_string(),
            kind: r.kind,
            conductor: r.conductor,
            firm: r.firm.as_ref().map(ToString::to_string),
            auditor: self.open(owner, "auditor", &r.auditor)?,
            scope: self.open(owner, "scope", &r.scope)?,
            planned_on: iso(r.planned_on),
            started_on: r.started_on.map(iso),
            ended_on: r.ended_on.map(iso),
            state: r.state,
            conclusion: r.conclusion.as_ref().map(|c| self.open(owner, "conclusion", c)).transpose()?,
            report_sha256: r.report_sha256.clone(),
            report_bytes: r.report_bytes,
            report_type: r.report_type.clone(),
            reported_on: r.reported_on.map(iso),
            open_findings: r.findings.iter().filter(|f| !f.is_verified()).count(),
            findings,
            recorded_by: r.recorded_by.to_string(),
            recorded_at: r.recorded_at,
        })
    }

    /// `GET /v1/compliance-audits` (compliance, auditor): the schedule of
    /// each kind and every engagement.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn audit_register(&self, ctx: &RequestCtx) -> Result<AuditRegister, ArchiveError> {
        const ACTION: Action = Action::ComplianceAuditList;
        self.gate.require_register(ctx, ACTION, Resource::ComplianceAudits.as_str(), Access::Read).await?;
        let all = self.engagements()?;
        let schedule = EngagementKind::ALL.iter().map(|k| self.schedule_view(*k, &all)).collect::<Result<_, _>>()?;
        let e = ctx.entry(ACTION, Resource::ComplianceAudits.as_str(), Outcome::Allow, format!("{} listed", all.len()));
        self.audit.commit(Commit::entry(e)).await?;
        Ok(AuditRegister {
            schedule,
            engagements: all.iter().map(|r| self.engagement_view(r)).collect::<Result<_, _>>()?,
        })
    }

    /// The engagement `id` held for a change, or the refusal (404) audited
    /// under `action`.
    pub(super) async fn held_engagement(
        &self,
        ctx: &RequestCtx,
        action: Action,
        id: &str,
    ) -> Result<Held<EngagementRecord>, ArchiveError> {
        let access = if action == Action::ComplianceAuditRead { Access::Read } else { Access::Keep };
        self.gate.require_register(ctx, action, Resource::ComplianceAudits.as_str(), access).await?;
        let held = match EngagementId::parse(id) {
            Ok(eid) => ENGAGEMENTS.hold(self.store.as_ref(), &eid)?,
            Err(_) => None,
        };
        match held {
            Some(h) => Ok(h),
            None => {
                let e = ctx.entry(action, id, Outcome::Error, "no such engagement");
                self.gate.refuse(e, ArchiveError::NotFound("compliance-audit engagement".into())).await
            }
        }
    }

    /// Writes a changed engagement under the guard that it is unchanged
    /// since it was read, with its entry; a concurrent change is a 409.
    pub(super) async fn replace_engagement(
        &self,
        held: &Held<EngagementRecord>,
        record: &EngagementRecord,
        ops: Vec<crate::store::Op>,
        entry: EntryBody,
    ) -> Result<(), ArchiveError> {
        let change = held.replace(record)?;
        match self.audit.commit(Commit::guarded(change, ops, entry)).await {
            Err(CommitError::Conflict) => {
                Err(ArchiveError::Conflict("the engagement changed meanwhile: read it again".into()))
            }
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    /// Refuses a change in the wrong state (409), audited.
    async fn wrong_state<T>(&self, ctx: &RequestCtx, action: Action, id: &str, why: &str) -> Result<T, ArchiveError> {
        let e = ctx.entry(action, id, Outcome::Error, why);
        self.gate.refuse(e, ArchiveError::Conflict(why.into())).await
    }

    /// Refuses a change whose fields do not hold against the record (422).
    pub(super) async fn invalid<T>(
        &self,
        ctx: &RequestCtx,
        action: Action,
        id: &str,
        errors: Vec<FieldError>,
    ) -> Result<T, ArchiveError> {
        let e = ctx.entry(action, id, Outcome::Error, "invalid change");
        self.gate.refuse(e, ArchiveError::Invalid(errors)).await
    }

    /// `GET /v1/compliance-audits/{id}` (compliance, auditor).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn engagement(&self, ctx: &RequestCtx, id: &str) -> Result<EngagementView, ArchiveError> {
        const ACTION: Action = Action::ComplianceAuditRead;
        let held = self.held_engagement(ctx, ACTION, id).await?;
        let e = ctx.entry(ACTION, id, Outcome::Allow, format!("{} findings", held.value.findings.len()));
        self.audit.commit(Commit::entry(e)).await?;
        self.engagement_view(&held.value)
    }

    /// `POST /v1/compliance-audits/{id}/start` (compliance).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn start_engagement(&self, ctx: &RequestCtx, id: &str, on: Date) -> Result<EngagementView, ArchiveError> {
        const ACTION: Action = Action::ComplianceAuditProgress;
        let held = self.held_engagement(ctx, ACTION, id).await?;
        if held.value.state != EngagementState::Planned {
            return self.wrong_state(ctx, ACTION, id, "only a planned engagement starts").await;
        }
        let mut errors = Vec::new();
        future(&mut errors, "/started_on", on, self.clock.now().date());
        if !errors.is_empty() {
            return self.invalid(ctx, ACTION, id, errors).await;
        }
        let mut record = held.value.clone();
        record.started_on = Some(on);
        record.state = EngagementState::InProgress;
        let e = ctx.entry(ACTION, id, Outcome::Allow, format!("started on {on}"));
        self.replace_engagement(&held, &record, vec![], e).await?;
        self.engagement_view(&record)
    }

    /// `POST /v1/compliance-audits/{id}/complete` (compliance): the
    /// conclusion and the report, sealed; the report's digest recorded.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn complete_engagement(
        &self,
        ctx: &RequestCtx,
        id: &str,
        c: EngagementCompletion,
    ) -> Result<EngagementView, ArchiveError> {
        const ACTION: Action = Action::ComplianceAuditProgress;
        let held = self.held_engagement(ctx, ACTION, id).await?;
        let Some(started) = held.value.started_on.filter(|_| held.value.state == EngagementState::InProgress) else {
            return self.wrong_state(ctx, ACTION, id, "only an engagement in progress completes").await;
        };
        let mut errors = Vec::new();
        future(&mut errors, "/ended_on", c.ended_on, self.clock.now().date());
        if c.ended_on < started {
            errors.push(FieldError { path: "/ended_on".into(), message: format!("before the start ({started})") });
        }
        if !errors.is_empty() {
            return self.invalid(ctx, ACTION, id, errors).await;
        }
        let mut record = held.value.clone();
        let sha256 = hex::encode(Sha256::digest(&c.report));
        record.ended_on = Some(c.ended_on);
        record.state = EngagementState::Completed;
        record.conclusion = Some(self.seal(id, "conclusion", c.conclusion.as_bytes())?);
        record.report_sha256 = Some(sha256.clone());
        record.report_bytes = c.report.len() as u64;
        record.report_type = Some(c.report_type);
        let report = self.seal(id, "report", &c.report)?;
        let ops = vec![REPORTS.put_unguarded(&record.id, &report)?];
        let reason = format!("completed on {}; report sha256 {sha256} ({} bytes)", c.ended_on, record.report_bytes);
        let e = ctx.entry(ACTION, id, Outcome::Allow, reason);
        self.replace_engagement(&held, &record, ops, e).await?;
        self.engagement_view(&record)
    }

    /// `POST /v1/compliance-audits/{id}/authority-report` (compliance): the
    /// day the report went to the authority (NDSMR Art. 33), once.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn report_to_authority(
        &self,
        ctx: &RequestCtx,
        id: &str,
        on: Date,
    ) -> Result<EngagementView, ArchiveError> {
        const ACTION: Action = Action::ComplianceAuditProgress;
        let held = self.held_engagement(ctx, ACTION, id).await?;
        if held.value.state != EngagementState::Completed || held.value.reported_on.is_some() {
            return self.wrong_state(ctx, ACTION, id, "a completed engagement is reported once").await;
        }
        let mut errors = Vec::new();
        future(&mut errors, "/reported_on", on, self.clock.now().date());
        if held.value.ended_on.is_some_and(|end| on < end) {
            errors.push(FieldError { path: "/reported_on".into(), message: "before the engagement ended".into() });
        }
        if !errors.is_empty() {
            return self.invalid(ctx, ACTION, id, errors).await;
        }
        let mut record = held.value.clone();
        record.reported_on = Some(on);
        let e = ctx.entry(ACTION, id, Outcome::Allow, format!("reported to the authority on {on}"));
        self.replace_engagement(&held, &record, vec![], e).await?;
        self.engagement_view(&record)
    }

    /// `GET /v1/compliance-audits/{id}/report` (compliance): the document
    /// byte for byte and its media type.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn engagement_report(&self, ctx: &RequestCtx, id: &str) -> Result<(String, Vec<u8>), ArchiveError> {
        const ACTION: Action = Action::ComplianceAuditReport;
        let held = self.held_engagement(ctx, ACTION, id).await?;
        let (Some(media), Some(sealed)) =
            (held.value.report_type.clone(), REPORTS.get(self.store.as_ref(), &held.value.id)?)
        else {
            let e = ctx.entry(ACTION, id, Outcome::Error, "no report yet");
            return self.gate.refuse(e, ArchiveError::NotFound("report".into())).await;
        };
        let plain = self.vault.open_live(
            &crate::crypto::KeyRef::Registers,
            crate::archive::vault::Slot::RegisterText { owner: id, field: "report" },
            &sealed,
        )?;
        let digest = held.value.report_sha256.clone().unwrap_or_default();
        let e = ctx.entry(ACTION, id, Outcome::Allow, format!("report sha256 {digest}"));
        self.audit.commit(Commit::entry(e)).await?;
        Ok((media, plain.to_vec()))
    }
}
