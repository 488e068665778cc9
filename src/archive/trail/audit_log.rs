//! Compliance officers' view of the audit log. Reading the log is itself
//! audited (`audit.query`), durably, before anything is returned.

use super::AuditTrail;
use crate::archive::Resource;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{entry_key, hash_entry, Action, AuditEntry, AuditFilter, AuditPage, Commit, EntryBody, Outcome};
use crate::store::Cf;

pub(super) const ACTION: Action = Action::AuditQuery;

impl AuditTrail {
    /// The start-up entry naming the active policy set (`policy.load`), so
    /// the log shows from which entry on each set decided.
    pub async fn record_policy_load(&self) -> Result<(), ArchiveError> {
        let entry = EntryBody {
            request_id: "startup".into(),
            ..EntryBody::system(
                Action::PolicyLoad,
                Resource::Policies.as_str(),
                format!("policy set {}", self.policy.hash),
            )
        };
        self.audit.commit(Commit::entry(entry)).await?;
        Ok(())
    }

    /// The entry for an authenticated request that ended without one: a
    /// malformed query or body refused at the edge, a panic, an error inside
    /// a library. Every request that passed authentication leaves an entry,
    /// whatever its outcome; `route` is the route's template (never the path,
    /// which may carry a client string), `problem` the answer's type.
    pub async fn audit_unaudited(
        &self,
        ctx: &RequestCtx,
        method: &str,
        route: &str,
        status: u16,
        problem: &str,
    ) -> Result<(), ArchiveError> {
        let outcome = match status {
            200..=399 => Outcome::Allow,
            401 | 403 => Outcome::Deny,
            _ => Outcome::Error,
        };
        let reason = format!("{method} {route}: {status} {problem}");
        let entry = ctx.entry(Action::Request, "", outcome, reason);
        self.audit.commit(Commit::entry(entry)).await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn query_audit(
        &self,
        ctx: &RequestCtx,
        filter: AuditFilter,
        cursor: u64,
        limit: usize,
    ) -> Result<AuditPage, ArchiveError> {
        self.gate.require_audit_read(ctx, ACTION, Resource::Audit.as_str()).await?;
        // Commit first: the query's own entry is durable before results leave.
        let e = ctx.entry(ACTION, Resource::Audit.as_str(), Outcome::Allow, "entries");
        let seqs = self.audit.commit(Commit::entry(e)).await?;
        let head = seqs.last().map_or(self.audit.head().next_seq, |s| s + 1);
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || crate::audit::query::run(store.as_ref(), &filter, cursor, limit, head))
            .await
            .map_err(|e| ArchiveError::Internal(e.into()))?
            .map_err(ArchiveError::from)
    }

    /// Entries and refusals per UTC day for the last `days` days, today
    /// last (compliance and auditors; audited like a query). Refusals are
    /// counted up to 10,000 a day.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn audit_activity(&self, ctx: &RequestCtx, days: u32) -> Result<Vec<DayActivity>, ArchiveError> {
        self.gate.require_audit_read(ctx, ACTION, Resource::Audit.as_str()).await?;
        let e = ctx.entry(ACTION, Resource::Audit.as_str(), Outcome::Allow, "activity");
        let seqs = self.audit.commit(Commit::entry(e)).await?;
        let head = seqs.last().map_or(self.audit.head().next_seq, |s| s + 1);
        let today = self.clock.now().to_offset(time::UtcOffset::UTC).date().midnight().assume_utc();
        let windows: Vec<_> = (0..i64::from(days.clamp(1, 366)))
            .rev()
            .map(|back| {
                let from = today - time::Duration::days(back);
                (from, from + time::Duration::days(1))
            })
            .collect();
        let store = self.store.clone();
        let w = windows.clone();
        let counts =
            tokio::task::spawn_blocking(move || crate::audit::query::activity(store.as_ref(), &w, head, 10_000))
                .await
                .map_err(|e| ArchiveError::Internal(e.into()))??;
        Ok(windows
            .into_iter()
            .zip(counts)
            .map(|((day, _), (entries, refusals))| DayActivity { day: day.date(), entries, refusals })
            .collect())
    }

    /// One entry, its chain hash and its canonical bytes.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn audit_entry(
        &self,
        ctx: &RequestCtx,
        seq: u64,
    ) -> Result<(AuditEntry, [u8; 32], Vec<u8>), ArchiveError> {
        let resource = format!("audit/{seq}");
        self.gate.require_audit_read(ctx, ACTION, &resource).await?;
        let raw = self.store.get(Cf::Audit, &entry_key(seq))?;
        let outcome = if raw.is_some() { Outcome::Allow } else { Outcome::Error };
        let e = ctx.entry(ACTION, &resource, outcome, "entry");
        self.audit.commit(Commit::entry(e)).await?;
        let raw = raw.ok_or_else(|| ArchiveError::NotFound(format!("audit entry {seq}")))?;
        let entry = AuditEntry::decode(&raw).map_err(|e| ArchiveError::Internal(e.into()))?;
        Ok((entry, hash_entry(&raw), raw))
    }
}

/// One day of the audit log (`audit_activity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayActivity {
    pub day: time::Date,
    pub entries: u64,
    pub refusals: u64,
}
