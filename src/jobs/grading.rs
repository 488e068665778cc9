//! Every `grading_interval_secs` (default an hour): regrade every dossier
//! by `policies/grading.toml` (each change a new version with its inputs in
//! the audit entry) and count the reviews past due (`custos_reviews_overdue`).

use crate::archive::Archive;
use std::sync::Arc;

pub fn job(archive: Arc<Archive>) -> impl FnMut() -> futures::future::BoxFuture<'static, ()> {
    move || {
        let archive = archive.clone();
        Box::pin(async move {
            match archive.customers().regrade_all(false).await {
                Ok(changes) if !changes.is_empty() => tracing::info!(changed = changes.len(), "regraded"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "grading run failed"),
            }
            if let Err(e) = archive.customers().count_overdue_reviews().await {
                tracing::error!(error = %e, "counting overdue reviews failed");
            }
        })
    }
}
