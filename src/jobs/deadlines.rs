//! Every minute: alerts for overdue data-subject requests and for incident
//! notification deadlines that near or ran out (`archive::registers`).

use crate::archive::Archive;
use std::sync::Arc;

pub fn job(archive: Arc<Archive>) -> impl FnMut() -> futures::future::BoxFuture<'static, ()> {
    move || {
        let archive = archive.clone();
        Box::pin(async move {
            if let Err(e) = archive.registers().check_deadlines().await {
                tracing::error!(error = %e, "checking the register deadlines failed");
            }
        })
    }
}
