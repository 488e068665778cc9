//! Every `grading_interval_secs` (default an hour): regrade every dossier
//! by `policies/grading.toml` (each change a new version with its inputs in
//! the audit entry) and count the reviews past due (`custos_reviews_overdue`).
//! While no impact assessment covers automated decisions, no grade
//! changes and one `assessment_missing` alert is raised.

use crate::archive::{Archive, ArchiveError, Denial};
use std::sync::Arc;

pub fn job(archive: Arc<Archive>) -> impl FnMut() -> futures::future::BoxFuture<'static, ()> {
    move || {
        let archive = archive.clone();
        Box::pin(async move {
            match archive.customers().regrade_all(false).await {
                Ok(changes) if !changes.is_empty() => tracing::info!(changed = changes.len(), "regraded"),
                Ok(_) => {}
                Err(ArchiveError::Forbidden { denial: Denial::ProcessingNotAssessed(kind), .. }) => {
                    let held_back = "automated grading (policies/grading.toml) changed no grade";
                    if let Err(e) = archive.governance().note_unassessed(kind, held_back).await {
                        tracing::error!(error = %e, "raising the assessment alert failed");
                    }
                }
                Err(e) => tracing::error!(error = %e, "grading run failed"),
            }
            if let Err(e) = archive.customers().count_overdue_reviews().await {
                tracing::error!(error = %e, "counting overdue reviews failed");
            }
        })
    }
}
