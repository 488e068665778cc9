//! The schedule of compliance engagements, kept by the deadline job: for
//! each kind whose duty applies (the personal-information compliance audit
//! always; the important-data risk assessment while a set is graded
//! important or core) the next one is due `every` after the last
//! completed, or, with none completed, `first_within` after the schedule
//! was first checked (at once when the policy gives none). One
//! `compliance_audit_due` alert when the reminder window opens, one
//! `compliance_audit_overdue` when the day has passed; and one
//! `audit_finding_overdue` for a finding still open after its due day.
//! Each alert, its audit entry and the mark that it was raised are one
//! guarded write.

use super::audits::{EngagementRecord, EngagementState, ScheduleView};
use super::findings::FindingState;
use super::{iso, Oversight};
use crate::archive::records::ALERTS;
use crate::archive::{ArchiveError, Resource};
use crate::audit::{Action, Commit, CommitError, EntryBody};
use crate::policy::alerts::Alert;
use crate::policy::audits::EngagementKind;
use crate::store::{keys, Cf, Table};
use serde::{Deserialize, Serialize};
use time::Date;

/// `cq/<kind>` in `registers`.
const STATE: Table<EngagementKind, ScheduleState> =
    Table::new(Cf::Registers, b"cq/", |k: &EngagementKind| keys::audit_schedule(k.as_str()));

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ScheduleState {
    /// The first day the duty was checked and applied.
    since: Option<Date>,
    /// The due day the reminder was raised for.
    reminded_for: Option<Date>,
    /// The due day the overdue alert was raised for.
    overdue_for: Option<Date>,
}

fn alert(rule: &str, description: String, now: time::OffsetDateTime) -> Alert {
    Alert::once(rule, "", description, now)
}

impl Oversight {
    fn applies(&self, kind: EngagementKind) -> bool {
        match kind {
            EngagementKind::PiCompliance => true,
            EngagementKind::ImportantDataRisk => self.policy.data_grades.holds_important(),
        }
    }

    /// The day the next engagement of `kind` is due, counted from `since`
    /// when none is completed.
    fn next_due(&self, kind: EngagementKind, all: &[EngagementRecord], since: Date) -> (Option<Date>, Date) {
        let last = all
            .iter()
            .filter(|e| e.kind == kind && e.state == EngagementState::Completed)
            .filter_map(|e| e.ended_on)
            .max();
        (last, self.policy.audits.cadence(kind).due(last, since))
    }

    pub(super) fn schedule_view(
        &self,
        kind: EngagementKind,
        all: &[EngagementRecord],
    ) -> Result<ScheduleView, ArchiveError> {
        let today = self.clock.now().date();
        let since = STATE.get(self.store.as_ref(), &kind)?.and_then(|s| s.since).unwrap_or(today);
        let cadence = self.policy.audits.cadence(kind);
        let applies = self.applies(kind);
        let (last, due) = self.next_due(kind, all, since);
        let upcoming = all.iter().find(|e| e.kind == kind && e.state != EngagementState::Completed);
        Ok(ScheduleView {
            kind,
            applies,
            every: cadence.every.to_string(),
            citation: cadence.citation.clone(),
            last_completed: last.map(iso),
            next_due: applies.then(|| iso(due)),
            overdue: applies && due < today,
            upcoming: upcoming.map(|e| e.id.to_string()),
        })
    }

    /// The deadline job: raises the schedule's and the findings' alerts
    /// due now; returns them.
    pub(crate) async fn check_audits(&self) -> Result<Vec<Alert>, ArchiveError> {
        let mut raised = Vec::new();
        let all = self.engagements()?;
        for kind in EngagementKind::ALL {
            if self.applies(kind) {
                raised.extend(self.check_schedule(kind, &all).await?);
            }
        }
        for e in &all {
            raised.extend(self.check_findings(e).await?);
        }
        raised.extend(self.check_responsible().await?);
        Ok(raised)
    }

    async fn check_schedule(
        &self,
        kind: EngagementKind,
        all: &[EngagementRecord],
    ) -> Result<Option<Alert>, ArchiveError> {
        let now = self.clock.now();
        let today = now.date();
        let held = STATE.hold(self.store.as_ref(), &kind)?;
        let before = held.as_ref().map(|h| h.value.clone()).unwrap_or_default();
        let since = before.since.unwrap_or(today);
        let (last, due) = self.next_due(kind, all, since);
        let cadence = self.policy.audits.cadence(kind);
        let mut state = ScheduleState { since: Some(since), ..before.clone() };
        let what = match last {
            Some(l) => format!("the last {} ended on {l}", kind.as_str()),
            None => format!("no {} completed on record", kind.as_str()),
        };
        let alert = if due < today && state.overdue_for != Some(due) {
            state.overdue_for = Some(due);
            state.reminded_for = Some(due);
            Some(alert(
                "compliance_audit_overdue",
                format!("{} was due on {due} ({what}; {})", kind.as_str(), cadence.citation),
                now,
            ))
        } else if due >= today && today >= cadence.remind_from(due) && state.reminded_for != Some(due) {
            state.reminded_for = Some(due);
            Some(alert(
                "compliance_audit_due",
                format!("{} is due on {due} ({what}; {})", kind.as_str(), cadence.citation),
                now,
            ))
        } else {
            None
        };
        if state == before {
            return Ok(None);
        }
        let change = match &held {
            Some(h) => h.replace(&state)?,
            None => STATE.insert(&kind, &state)?,
        };
        let resource = Resource::ComplianceAudits.as_str();
        let (ops, entry) = match &alert {
            Some(a) => (vec![ALERTS.put_unguarded(&a.id, a)?], alert_entry(a, resource)),
            None => (
                vec![],
                EntryBody::system(
                    Action::ComplianceAuditSchedule,
                    resource,
                    format!("{} scheduled: due on {due}", kind.as_str()),
                ),
            ),
        };
        match self.audit.commit(Commit::guarded(change, ops, entry)).await {
            // Checked by another run meanwhile.
            Err(CommitError::Conflict) => return Ok(None),
            other => other?,
        };
        if let Some(a) = &alert {
            tracing::warn!(rule = %a.rule, kind = kind.as_str(), "compliance-audit schedule alert");
        }
        Ok(alert)
    }

    async fn check_findings(&self, e: &EngagementRecord) -> Result<Vec<Alert>, ArchiveError> {
        let now = self.clock.now();
        let today = now.date();
        let late = |f: &&super::findings::FindingRecord| {
            f.state == FindingState::Open && f.due_on < today && !f.overdue_alerted
        };
        if !e.findings.iter().any(|f| late(&f)) {
            return Ok(Vec::new());
        }
        let Some(held) = super::audits::ENGAGEMENTS.hold(self.store.as_ref(), &e.id)? else { return Ok(Vec::new()) };
        let mut record = held.value.clone();
        let mut alerts = Vec::new();
        for f in record.findings.iter_mut() {
            if late(&&*f) {
                f.overdue_alerted = true;
                alerts.push(alert(
                    "audit_finding_overdue",
                    format!(
                        "finding {} of {} ({}) is still open; its fix was due on {}",
                        f.n,
                        e.id,
                        e.kind.as_str(),
                        f.due_on
                    ),
                    now,
                ));
            }
        }
        let mut ops = Vec::new();
        for a in &alerts {
            ops.push(ALERTS.put_unguarded(&a.id, a)?);
        }
        let change = held.replace(&record)?;
        let mut commit = Commit::guarded(change, ops, alert_entry(&alerts[0], e.id.as_str()));
        commit.entries.extend(alerts[1..].iter().map(|a| alert_entry(a, e.id.as_str())));
        match self.audit.commit(commit).await {
            // Changed meanwhile: the next run sees the new record.
            Err(CommitError::Conflict) => return Ok(Vec::new()),
            other => other?,
        };
        Ok(alerts)
    }
}

pub(super) fn alert_entry(a: &Alert, resource: &str) -> EntryBody {
    EntryBody {
        request_id: a.id.clone(),
        ..EntryBody::system(Action::AuditAlert, resource, format!("{}: {}", a.rule, a.description))
    }
}
