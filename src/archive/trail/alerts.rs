//! Recording and listing unusual-access alerts.

use super::AuditTrail;
use crate::archive::records::ALERTS;
use crate::archive::Resource;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{entry_key, Action, AuditEntry, AuditFilter, Commit, EntryBody, Outcome};
use crate::policy::alerts::{Alert, AlertEngine, AlertRule};
use crate::store::Cf;

impl AuditTrail {
    pub fn alert_rules(&self) -> Vec<AlertRule> {
        self.policy.alerts.clone()
    }

    pub fn set_audit_observer(&self, tx: std::sync::mpsc::Sender<Vec<AuditEntry>>) {
        self.audit.set_observer(tx);
    }

    /// Feeds the engine the last window of the log; returns the last seq fed.
    pub fn replay_for_alerts(&self, engine: &mut AlertEngine) -> anyhow::Result<Option<u64>> {
        let head = self.audit.head().next_seq;
        if head == 0 {
            return Ok(None);
        }
        let since = self.clock.now() - engine.max_window();
        // Alerts already raised in the window are not raised again: found
        // through the audit indexes' action rows, in log order, each read
        // from its stored alert (the entry's request id is the alert's id),
        // never parsed back out of the entry's text.
        let raised = AuditFilter { action: Some("audit.alert".into()), from: Some(since), ..Default::default() };
        crate::audit::query::for_each_match(self.store.as_ref(), &raised, head, |e| {
            match ALERTS.get(self.store.as_ref(), e.body.request_id.as_str()) {
                Ok(Some(alert)) => engine.note_raised(&alert.rule, &alert.actor, e.time),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(seq = e.seq, error = %err, "a raised alert cannot be read; it may fire again")
                }
            }
        })?;
        // The engine counts every access in the window: a time range, read
        // in order and fed one entry at a time (a busy window holds millions).
        let start = crate::audit::query::first_at_or_after(self.store.as_ref(), since, head)?;
        for row in self.store.scan(Cf::Audit, b"", &entry_key(start)) {
            let (_, raw) = row?;
            let e = AuditEntry::decode(&raw)?;
            if e.seq >= head {
                break;
            }
            for alert in engine.observe(&e) {
                self.record_alert(&alert)?;
            }
        }
        Ok(Some(head - 1))
    }

    /// Stores an alert and its audit entry, in one durable batch.
    pub fn record_alert(&self, a: &Alert) -> Result<(), ArchiveError> {
        let reason =
            format!("{}: {} distinct or counted in {} s, threshold {}", a.rule, a.count, a.window_seconds, a.threshold);
        let entry = EntryBody { request_id: a.id.clone(), ..EntryBody::system(Action::AuditAlert, &a.actor, reason) };
        self.audit.commit_blocking(Commit::change(vec![ALERTS.put_unguarded(&a.id, a)?], entry))?;
        tracing::warn!(rule = %a.rule, actor = %a.actor, count = a.count, "unusual access alert");
        Ok(())
    }

    /// Alerts, newest first (compliance; audited).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_alerts(&self, ctx: &RequestCtx, limit: usize) -> Result<Vec<Alert>, ArchiveError> {
        self.gate.require_audit_read(ctx, super::audit_log::ACTION, Resource::AuditAlerts.as_str()).await?;
        self.audit
            .commit(Commit::entry(ctx.entry(
                Action::AuditQuery,
                Resource::AuditAlerts.as_str(),
                Outcome::Allow,
                "alerts",
            )))
            .await?;
        let mut all: Vec<Alert> = ALERTS.values(self.store.as_ref()).collect::<Result<_, _>>()?;
        all.reverse();
        all.truncate(limit);
        Ok(all)
    }
}
