//! The retention sweep: the scheduler's job and `custos retention run`.

use super::{system_entry, with_targets, Batch, BatchState, Due};
use crate::archive::retention::Retention;
use crate::archive::ArchiveError;
use crate::archive::Resource;
use crate::audit::{Action, Commit};
use crate::domain::{BatchId, CertificateId};
use serde::Serialize;

impl Retention {
    /// One retention sweep: resumes batches left executing (a crash), runs
    /// what is due without approval, proposes what needs it. Idempotent.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn retention_sweep(&self, dry_run: bool) -> Result<SweepReport, ArchiveError> {
        let due = self.compute_due(self.clock.now(), Some(self.stale_after))?;
        let mut report = SweepReport { due, resumed: vec![], executed: vec![], proposed: vec![], erasures: vec![] };
        if dry_run {
            return Ok(report);
        }
        for b in self.open_batches()? {
            if b.state == BatchState::Executing {
                self.execute(b.batch_id.as_str()).await?;
                report.resumed.push(b.batch_id);
            }
        }
        if let Some(b) = self.propose(None, false).await? {
            // No approval needed: approve as the system and execute.
            let held = self.batch(b.batch_id.as_str())?.ok_or_else(|| anyhow::anyhow!("batch vanished"))?;
            let approved = Batch {
                state: BatchState::Executing,
                approved_at: Some(self.clock.now()),
                certificate_id: Some(CertificateId::generate()),
                ..held.value.clone()
            };
            let entry = with_targets(
                system_entry(Action::DispositionApprove, b.batch_id.as_str(), "rules without approval".into()),
                &approved.items,
            );
            self.audit.commit(Commit::guarded(held.replace(&approved)?, vec![], entry)).await?;
            self.execute(b.batch_id.as_str()).await?;
            report.executed.push(b.batch_id);
        }
        if let Some(b) = self.propose(None, true).await? {
            report.proposed.push(b.batch_id);
        }
        report.erasures = self.run_pending_erasures().await?;
        if !report.due.stale.is_empty() {
            let e = system_entry(
                Action::RetentionStale,
                Resource::Disposition.as_str(),
                format!("{} dossier(s) not reviewed", report.due.stale.len()),
            );
            self.audit.commit(Commit::entry(e)).await?;
        }
        Ok(report)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub due: Due,
    /// Batches a crash had left executing, now completed.
    pub resumed: Vec<BatchId>,
    /// Batches executed at once (rules without approval).
    pub executed: Vec<BatchId>,
    /// Batches proposed for approval.
    pub proposed: Vec<BatchId>,
    /// Certificates of pending erasures carried out (their last blocking
    /// hold was released).
    pub erasures: Vec<CertificateId>,
}
