//! The retention job: resumes interrupted destructions, executes what rules
//! without approval make due, proposes the rest (`custos retention run` is
//! the same sweep, once).

use crate::archive::Archive;
use std::sync::Arc;

pub fn job(archive: Arc<Archive>) -> impl FnMut() -> futures::future::BoxFuture<'static, ()> {
    move || {
        let archive = archive.clone();
        Box::pin(async move {
            match archive.retention().retention_sweep(false).await {
                Ok(r)
                    if !(r.resumed.is_empty()
                        && r.executed.is_empty()
                        && r.proposed.is_empty()
                        && r.erasures.is_empty()) =>
                {
                    tracing::info!(resumed = ?r.resumed, executed = ?r.executed, proposed = ?r.proposed,
                        erasures = ?r.erasures, "retention sweep")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "retention sweep failed"),
            }
        })
    }
}
