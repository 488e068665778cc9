//! The deadline check (the scheduler's `deadlines` job, every minute):
//! an alert for each open data-subject request past its due date, and for
//! each incident notification deadline that nears (`warn_before`) or runs
//! out with no notification recorded, and when the year's count of persons
//! transferred abroad reaches its threshold, and (counted once a day) when
//! the persons on record make a protection officer required and none is
//! reported, and when a compliance audit or the yearly risk assessment of
//! important data nears its due day or passes it, or an audit finding its
//! own. Each is raised once; the
//! alert, its audit entry and the record's mark are one guarded write. It
//! also records the digest of a privacy notice that took effect.

use super::rfc3339;
use crate::archive::registers::Registers;
use crate::archive::ArchiveError;
use crate::audit::{Action, Commit, CommitError, EntryBody};

impl Registers {
    /// Raises the alerts due now; returns them.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn check_deadlines(&self) -> Result<Vec<crate::policy::alerts::Alert>, ArchiveError> {
        // A notice version that took effect since the last run is recorded.
        self.dossiers.record_notices().await?;
        let mut writes = self.overdue_request_alerts()?;
        writes.extend(self.incident_deadline_alerts()?);
        let mut raised = Vec::new();
        for w in writes {
            let mut ops = vec![w.change.op];
            let mut entries = Vec::new();
            for a in &w.alerts {
                ops.push(crate::archive::records::ALERTS.put_unguarded(&a.id, a)?);
                let mut e = EntryBody {
                    request_id: a.id.clone(),
                    ..EntryBody::system(
                        Action::AuditAlert,
                        &w.resource,
                        format!("{}: due {}; {}", a.rule, rfc3339(a.window_end), a.description),
                    )
                };
                e.subjects = w.subjects.clone();
                entries.push(e);
            }
            match self.audit.commit(Commit { ops, entries, guard: Some(w.change.guard), on_conflict: vec![] }).await {
                // Changed meanwhile: the next run sees the new record.
                Err(CommitError::Conflict) => continue,
                other => other?,
            };
            for a in w.alerts {
                tracing::warn!(rule = %a.rule, resource = %w.resource, "deadline alert");
                raised.push(a);
            }
        }
        raised.extend(self.governance.check_transfer_volume().await?);
        raised.extend(self.governance.check_officer().await?);
        raised.extend(self.oversight.check_audits().await?);
        raised.extend(self.dossiers.notifications().check_owed_notifications().await?);
        Ok(raised)
    }
}
