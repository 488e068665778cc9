//! The nightly backup: a set into `backup_dir`, then the expiry of sets
//! older than `backup_keep_days` (`POST /v1/backups` takes one at any time).

use crate::archive::Archive;
use std::sync::Arc;

pub fn job(archive: Arc<Archive>) -> impl FnMut() -> futures::future::BoxFuture<'static, ()> {
    move || {
        let archive = archive.clone();
        Box::pin(async move {
            let Some(settings) = archive.backups().backup_settings().cloned() else { return };
            let a = archive.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || a.backups().nightly_backup(&settings)).await {
                tracing::error!(error = %e, "backup task failed");
            }
        })
    }
}
