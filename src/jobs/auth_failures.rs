//! Every minute: the failed authentications of the minutes that are over,
//! one audit entry per client address and minute (`archive::auth_failures`).

use crate::archive::Archive;
use std::sync::Arc;

pub fn job(archive: Arc<Archive>) -> impl FnMut() -> futures::future::BoxFuture<'static, ()> {
    move || {
        let archive = archive.clone();
        Box::pin(async move {
            if let Err(e) = archive.identity().flush_auth_failures(false).await {
                tracing::error!(error = %e, "writing the failed authentications to the audit log failed");
            }
        })
    }
}
