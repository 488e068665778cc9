//! The checkpoint job: a signed checkpoint in `<data-dir>/checkpoints/`
//! whenever the log grew (and one at start and at shutdown, by `server`).

use crate::archive::Archive;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One run: writes a checkpoint if the tree grew since `last` (the size of
/// the previous one), and remembers the new size.
pub fn job(archive: Arc<Archive>, dir: PathBuf, first: u64) -> impl FnMut() -> futures::future::BoxFuture<'static, ()> {
    let last = Arc::new(Mutex::new(Some(first)));
    move || {
        let (archive, dir, last) = (archive.clone(), dir.clone(), last.clone());
        Box::pin(async move {
            let previous = last.lock().ok().and_then(|l| *l);
            let submit = (archive.clone(), dir.clone());
            let job = move || {
                let size = archive.audit_trail().write_checkpoint_file(&dir, previous)?;
                // The new entries go to the backup target too (issue 11).
                if let Some(settings) = archive.backups().backup_settings() {
                    if let Err(e) = archive.backups().ship_audit(settings) {
                        tracing::error!(error = %e, "shipping the audit log to the backup target failed");
                    }
                }
                anyhow::Ok(size)
            };
            match tokio::task::spawn_blocking(job).await {
                Ok(Ok(size)) => {
                    if let Ok(mut l) = last.lock() {
                        *l = Some(size);
                    }
                    // The checkpoint to the witnesses configured (issue 36).
                    if let Err(e) = submit.0.witness().submit_checkpoint(&submit.1).await {
                        tracing::error!(error = %e, "submitting the checkpoint to its witnesses failed");
                    }
                }
                Ok(Err(e)) => tracing::error!(error = %e, "writing a checkpoint failed"),
                Err(e) => tracing::error!(error = %e, "checkpoint task failed"),
            }
        })
    }
}
