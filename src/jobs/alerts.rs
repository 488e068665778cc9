//! The alert job: runs the pure engine of `policy::alerts` over the live
//! audit stream, recording every alert it raises.

use crate::archive::Archive;
use crate::audit::AuditEntry;
use crate::policy::alerts::AlertEngine;
use std::sync::Arc;

/// Runs the engine over the live audit stream until the writer stops.
///
/// Order matters: subscribe first (new entries queue up), then replay the
/// last window from the log (so a restart forgets nothing), then drain the
/// queue, skipping what the replay already saw.
pub fn start(archive: Arc<Archive>) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<AuditEntry>>();
    archive.audit_trail().set_audit_observer(tx);
    let mut engine = AlertEngine::new(archive.audit_trail().alert_rules());
    let mut last_seen = archive.audit_trail().replay_for_alerts(&mut engine)?;
    let handle = std::thread::Builder::new().name("alerts".into()).spawn(move || {
        for batch in rx {
            for e in batch {
                if last_seen.is_some_and(|s| e.seq <= s) {
                    continue;
                }
                last_seen = Some(e.seq);
                for alert in engine.observe(&e) {
                    if let Err(err) = archive.audit_trail().record_alert(&alert) {
                        tracing::error!(error = %err, rule = %alert.rule, "recording an alert failed");
                    }
                }
            }
        }
    })?;
    Ok(handle)
}
