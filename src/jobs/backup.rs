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

/// The standby stream: the store's writes since the last shipment, every
/// `backup_stream_secs`. A failure is logged once when it starts and once
/// when shipments go through again (the next tick retries).
pub fn stream_job(archive: Arc<Archive>) -> impl FnMut() -> futures::future::BoxFuture<'static, ()> {
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    move || {
        let (archive, failing) = (archive.clone(), failing.clone());
        Box::pin(async move {
            let Some(settings) = archive.backups().backup_settings().cloned() else { return };
            if archive.backups().is_superseded() {
                return;
            }
            let a = archive.clone();
            let shipped = tokio::task::spawn_blocking(move || a.backups().ship_stream(&settings)).await;
            let failed = match shipped {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            let was = failing.swap(failed.is_some(), std::sync::atomic::Ordering::Relaxed);
            match failed {
                Some(e) if !was => tracing::error!(error = %e, "the standby stream cannot ship; retrying every tick"),
                None if was => tracing::info!("the standby stream ships again"),
                _ => {}
            }
        })
    }
}
