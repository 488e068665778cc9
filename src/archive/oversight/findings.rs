//! An engagement's findings, each tracked to its fix: raised with a
//! severity, a description (sealed), the role that owns the fix and the day
//! it is due; marked fixed with the evidence (sealed) by one officer, then
//! verified by a second one (four eyes: the one who marked it fixed may not
//! verify it), or reopened when the fix does not hold. Each step is a
//! guarded write of the engagement with its audit entry; a finding still
//! open on its due day raises one alert (`schedule`).

use super::audits::{EngagementState, MAX_FINDINGS};
use super::{audits::EngagementRecord, iso, Oversight};
use crate::archive::denial::{Denial, FourEyes};
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Outcome};
use crate::crypto::Sealed;
use crate::domain::dossier::FieldError;
use crate::domain::PrincipalId;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// Where a finding stands: open → fixed → verified (or back to open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingState {
    Open,
    Fixed,
    Verified,
}

#[derive(Debug, Clone)]
pub struct NewFinding {
    pub severity: Severity,
    pub description: String,
    /// The role that owns the fix (a department or function, not a person).
    pub owner_role: String,
    pub due_on: Date,
}

/// Who did a step, and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Step {
    by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct FindingRecord {
    pub(super) n: u32,
    severity: Severity,
    description: Sealed,
    owner_role: String,
    pub(super) due_on: Date,
    pub(super) state: FindingState,
    raised: Step,
    fixed: Option<Step>,
    evidence: Option<Sealed>,
    verified: Option<Step>,
    /// Fixes found wanting and reopened.
    reopened: u32,
    /// The overdue alert was raised.
    pub(super) overdue_alerted: bool,
}

impl FindingRecord {
    pub(super) fn is_verified(&self) -> bool {
        self.state == FindingState::Verified
    }
}

/// A finding as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FindingView {
    /// Its number within the engagement (1 is the first).
    pub n: u32,
    pub severity: Severity,
    pub description: String,
    pub owner_role: String,
    /// ISO 8601 date.
    pub due_on: String,
    pub state: FindingState,
    pub raised_by: String,
    pub fixed_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub fixed_at: Option<OffsetDateTime>,
    /// What shows the fix.
    pub evidence: Option<String>,
    pub verified_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub verified_at: Option<OffsetDateTime>,
    pub reopened: u32,
    /// Still open after its due day.
    pub overdue: bool,
}

fn text_field(n: u32, what: &str) -> String {
    format!("finding/{n}/{what}")
}

impl Oversight {
    pub(super) fn finding_view(&self, e: &EngagementRecord, f: &FindingRecord) -> Result<FindingView, ArchiveError> {
        let owner = e.id.as_str();
        Ok(FindingView {
            n: f.n,
            severity: f.severity,
            description: self.open(owner, &text_field(f.n, "description"), &f.description)?,
            owner_role: f.owner_role.clone(),
            due_on: iso(f.due_on),
            state: f.state,
            raised_by: f.raised.by.to_string(),
            fixed_by: f.fixed.as_ref().map(|s| s.by.to_string()),
            fixed_at: f.fixed.as_ref().map(|s| s.at),
            evidence: f.evidence.as_ref().map(|s| self.open(owner, &text_field(f.n, "evidence"), s)).transpose()?,
            verified_by: f.verified.as_ref().map(|s| s.by.to_string()),
            verified_at: f.verified.as_ref().map(|s| s.at),
            reopened: f.reopened,
            overdue: f.state == FindingState::Open && f.due_on < self.clock.now().date(),
        })
    }

    /// `POST /v1/compliance-audits/{id}/findings` (compliance): a finding of
    /// an engagement that has started.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn raise_finding(&self, ctx: &RequestCtx, id: &str, n: NewFinding) -> Result<FindingView, ArchiveError> {
        const ACTION: Action = Action::ComplianceAuditFinding;
        let held = self.held_engagement(ctx, ACTION, id).await?;
        if held.value.state == EngagementState::Planned {
            let e = ctx.entry(ACTION, id, Outcome::Error, "the engagement has not started");
            return self.gate.refuse(e, ArchiveError::Conflict("the engagement has not started".into())).await;
        }
        if held.value.findings.len() >= MAX_FINDINGS {
            let errors = vec![FieldError { path: "".into(), message: format!("at most {MAX_FINDINGS} findings") }];
            return self.invalid(ctx, ACTION, id, errors).await;
        }
        let mut record = held.value.clone();
        let number = record.findings.last().map_or(1, |f| f.n + 1);
        let now = self.clock.now();
        record.findings.push(FindingRecord {
            n: number,
            severity: n.severity,
            description: self.seal(id, &text_field(number, "description"), n.description.as_bytes())?,
            owner_role: n.owner_role,
            due_on: n.due_on,
            state: FindingState::Open,
            raised: Step { by: ctx.principal.id.clone(), at: now },
            fixed: None,
            evidence: None,
            verified: None,
            reopened: 0,
            overdue_alerted: false,
        });
        let reason = format!("finding {number} ({:?}) due {}", n.severity, n.due_on);
        let e = ctx.entry(ACTION, id, Outcome::Allow, reason);
        self.replace_engagement(&held, &record, vec![], e).await?;
        let f = &record.findings[record.findings.len() - 1];
        self.finding_view(&record, f)
    }

    /// The finding `n` of a held engagement, or the 404, audited.
    async fn finding_index(
        &self,
        ctx: &RequestCtx,
        action: Action,
        id: &str,
        e: &EngagementRecord,
        n: u32,
    ) -> Result<usize, ArchiveError> {
        match e.findings.iter().position(|f| f.n == n) {
            Some(i) => Ok(i),
            None => {
                let entry = ctx.entry(action, id, Outcome::Error, format!("no finding {n}"));
                self.gate.refuse(entry, ArchiveError::NotFound("finding".into())).await
            }
        }
    }

    /// `POST /v1/compliance-audits/{id}/findings/{n}/fix` (compliance): the
    /// fix and its evidence (sealed).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn fix_finding(
        &self,
        ctx: &RequestCtx,
        id: &str,
        n: u32,
        evidence: String,
    ) -> Result<FindingView, ArchiveError> {
        const ACTION: Action = Action::ComplianceAuditFix;
        let held = self.held_engagement(ctx, ACTION, id).await?;
        let i = self.finding_index(ctx, ACTION, id, &held.value, n).await?;
        if held.value.findings[i].state != FindingState::Open {
            let e = ctx.entry(ACTION, id, Outcome::Error, format!("finding {n} is not open"));
            return self.gate.refuse(e, ArchiveError::Conflict(format!("finding {n} is not open"))).await;
        }
        let mut record = held.value.clone();
        let sealed = self.seal(id, &text_field(n, "evidence"), evidence.as_bytes())?;
        let f = &mut record.findings[i];
        f.state = FindingState::Fixed;
        f.fixed = Some(Step { by: ctx.principal.id.clone(), at: self.clock.now() });
        f.evidence = Some(sealed);
        let e = ctx.entry(ACTION, id, Outcome::Allow, format!("finding {n} marked fixed"));
        self.replace_engagement(&held, &record, vec![], e).await?;
        self.finding_view(&record, &record.findings[i])
    }

    /// `POST /v1/compliance-audits/{id}/findings/{n}/verify` (compliance): a
    /// second officer accepts the fix (verified) or not (open again).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn verify_finding(
        &self,
        ctx: &RequestCtx,
        id: &str,
        n: u32,
        accepted: bool,
    ) -> Result<FindingView, ArchiveError> {
        const ACTION: Action = Action::ComplianceAuditVerify;
        let held = self.held_engagement(ctx, ACTION, id).await?;
        let i = self.finding_index(ctx, ACTION, id, &held.value, n).await?;
        let found = &held.value.findings[i];
        let Some(fixed) = found.fixed.as_ref().filter(|_| found.state == FindingState::Fixed) else {
            let e = ctx.entry(ACTION, id, Outcome::Error, format!("finding {n} is not marked fixed"));
            return self.gate.refuse(e, ArchiveError::Conflict(format!("finding {n} is not marked fixed"))).await;
        };
        if fixed.by == ctx.principal.id {
            let e = ctx.entry(ACTION, id, Outcome::Deny, "");
            return self.gate.deny(e, Denial::FourEyes(FourEyes::FindingFixer), None).await;
        }
        let mut record = held.value.clone();
        let f = &mut record.findings[i];
        let reason = if accepted {
            f.state = FindingState::Verified;
            f.verified = Some(Step { by: ctx.principal.id.clone(), at: self.clock.now() });
            format!("finding {n}: the fix verified")
        } else {
            f.state = FindingState::Open;
            f.fixed = None;
            f.evidence = None;
            f.reopened += 1;
            format!("finding {n}: the fix not accepted, open again")
        };
        let e = ctx.entry(ACTION, id, Outcome::Allow, reason);
        self.replace_engagement(&held, &record, vec![], e).await?;
        self.finding_view(&record, &record.findings[i])
    }
}
