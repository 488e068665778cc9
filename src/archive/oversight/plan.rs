//! Planning an engagement, and the rule that one professional institution
//! does not carry out the personal-information compliance audit of the
//! company three times in a row (同一专业机构不得连续三次对同一个人信息处理者
//! 开展个人信息保护合规审计; Compliance-Audit Measures 2025, PIPL Art. 54).
//!
//! The run is read in the register's order: every `pi_compliance`
//! engagement, whatever its state (custos never cancels or deletes one),
//! by its planned day and then by when it was recorded. An engagement by
//! anyone else (an internal one, another firm, an outside one recorded
//! before firms were named) breaks a run. A new engagement by firm F is
//! refused when it would stand in three in a row by F: the two before it,
//! or, for a past engagement recorded late, one on each side or the two
//! after it. The firm and the planned day never change once planned, so
//! the check at planning is the one that counts; starting needs none.
//!
//! The check reads the other records, so the decision and the write must
//! see the same register: every plan of a kind changes that kind's count
//! (`cv/<kind>`), and the plan commits under the guard that the count is
//! the one read before the engagements were; a plan that lost a race reads
//! again and is decided again.

use super::audits::{Conductor, EngagementRecord, EngagementState, EngagementView, NewEngagement, ENGAGEMENTS};
use super::Oversight;
use crate::archive::denial::Denial;
use crate::archive::gate::Access;
use crate::archive::{ArchiveError, RequestCtx, Resource};
use crate::audit::{Action, Commit, CommitError, Outcome};
use crate::domain::dossier::FieldError;
use crate::domain::{CreditCode, EngagementId};
use crate::policy::audits::EngagementKind;
use crate::store::{keys, Cf, Table};

/// `cv/<kind>` in `registers`: how many engagements of the kind were planned.
const PLANNED: Table<EngagementKind, u64> =
    Table::new(Cf::Registers, b"cv/", |k: &EngagementKind| keys::engagements_planned(k.as_str()));

/// How often a plan that lost a race to another is decided again before
/// the caller is told to plan again (409).
const ATTEMPTS: usize = 3;

/// `new`'s firm and the two engagements by it that would stand in three in
/// a row with `new`, the earlier first; `None` when it makes no such run.
/// `all` are the register's engagements in its order
/// (`EngagementRecord::order`).
pub(super) fn run_with(all: &[EngagementRecord], new: &EngagementRecord) -> Option<(CreditCode, [EngagementId; 2])> {
    let firm = new.firm.as_ref().filter(|_| new.kind == EngagementKind::PiCompliance)?;
    let mut line: Vec<&EngagementRecord> = all.iter().filter(|e| e.kind == EngagementKind::PiCompliance).collect();
    let at = line.partition_point(|e| e.order() <= new.order());
    line.insert(at, new);
    let by_firm = |e: &&EngagementRecord| e.conductor == Conductor::External && e.firm.as_ref() == Some(firm);
    (at.saturating_sub(2)..=at).find_map(|first| {
        let three = line.get(first..first + 3)?;
        if !three.iter().all(by_firm) {
            return None;
        }
        let mut others = three.iter().filter(|e| e.id != new.id).map(|e| e.id.clone());
        Some((firm.clone(), [others.next()?, others.next()?]))
    })
}

/// Whether `n` names its firm as its kind and conductor need.
fn firm_errors(n: &NewEngagement) -> Vec<FieldError> {
    let message = match (n.conductor, n.kind, &n.firm) {
        (Conductor::Internal, _, Some(_)) => "an internal engagement names no firm: omit it",
        (Conductor::External, EngagementKind::PiCompliance, None) => {
            "required for an external personal-information compliance audit: the firm's unified social credit code"
        }
        _ => return Vec::new(),
    };
    vec![FieldError { path: "/firm".into(), message: message.into() }]
}

impl Oversight {
    /// `POST /v1/compliance-audits` (compliance): plans an engagement; a
    /// third personal-information audit in a row by one firm is refused
    /// (403 `auditor-rotation`), audited.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn plan_engagement(&self, ctx: &RequestCtx, n: NewEngagement) -> Result<EngagementView, ArchiveError> {
        const ACTION: Action = Action::ComplianceAuditCreate;
        let register = Resource::ComplianceAudits.as_str();
        self.gate.require_register(ctx, ACTION, register, Access::Keep).await?;
        let errors = firm_errors(&n);
        if !errors.is_empty() {
            return self.invalid(ctx, ACTION, register, errors).await;
        }
        let id = EngagementId::generate();
        let record = EngagementRecord {
            id: id.clone(),
            kind: n.kind,
            conductor: n.conductor,
            firm: n.firm.clone(),
            auditor: self.seal(id.as_str(), "auditor", n.auditor.as_bytes())?,
            scope: self.seal(id.as_str(), "scope", n.scope.as_bytes())?,
            planned_on: n.planned_on,
            started_on: None,
            ended_on: None,
            state: EngagementState::Planned,
            conclusion: None,
            report_sha256: None,
            report_bytes: 0,
            report_type: None,
            reported_on: None,
            findings: Vec::new(),
            recorded_by: ctx.principal.id.clone(),
            recorded_at: self.clock.now(),
        };
        let by = n.firm.as_ref().map(|f| format!(" by firm {f}")).unwrap_or_default();
        let reason = format!("{} ({:?}{by}) planned for {}", n.kind.as_str(), n.conductor, n.planned_on);
        for _ in 0..ATTEMPTS {
            // INVARIANT: the count is read before the engagements, and every
            // plan writes both in one commit: if the count is unchanged at
            // the commit, no engagement was planned since they were read.
            let count = PLANNED.hold(self.store.as_ref(), &n.kind)?;
            if let Some((firm, run)) = run_with(&self.engagements()?, &record) {
                let e = ctx.entry(ACTION, register, Outcome::Deny, "");
                return self.gate.deny(e, Denial::AuditorRotation { firm, run }, None).await;
            }
            let guard = match &count {
                Some(held) => held.replace(&(held.value + 1))?,
                None => PLANNED.insert(&n.kind, &1)?,
            };
            let put = ENGAGEMENTS.put_unguarded(&id, &record)?;
            let e = ctx.entry(ACTION, id.as_str(), Outcome::Allow, reason.clone());
            match self.audit.commit(Commit::guarded(guard, vec![put], e)).await {
                Err(CommitError::Conflict) => continue,
                other => other?,
            };
            return self.engagement_view(&record);
        }
        let why = "other engagements were planned meanwhile: plan again";
        self.gate.refuse(ctx.entry(ACTION, register, Outcome::Error, why), ArchiveError::Conflict(why.into())).await
    }
}
