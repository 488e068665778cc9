//! A failed second-factor attempt: counted within the window of
//! `policies/authentication.toml`, and the last one allowed locks the
//! principal out (audited `factor.lockout`, alert `second_factor_lockout`).

use super::{FactorRecord, Proven, SecondFactors};
use crate::archive::{ArchiveError, Denial};
use crate::audit::{Action, Commit, CommitError, EntryBody, Outcome};
use crate::domain::AlertId;
use time::OffsetDateTime;

impl SecondFactors {
    /// A failed attempt counted (and the lockout, when it is the last one
    /// allowed), committed under the guard; a conflict is returned as such
    /// for the caller to try again.
    pub(super) async fn fail(
        &self,
        held: crate::store::Held<FactorRecord>,
        mut record: FactorRecord,
        entry: EntryBody,
        now: OffsetDateTime,
    ) -> Result<Proven, ArchiveError> {
        let rule = self.gate.lockout();
        record.failures.retain(|t| now - *t < rule.window);
        record.failures.push(now);
        let count = record.failures.len();
        let locks = count >= rule.failures as usize;
        let pid = record.principal.clone();
        let mut entries = vec![EntryBody {
            outcome: Outcome::Deny,
            reason: format!(
                "{}; failure {count} of {} allowed within the window",
                Denial::SecondFactorInvalid,
                rule.failures
            ),
            ..entry.clone()
        }];
        let mut ops = Vec::new();
        if locks {
            let until = now + rule.lock;
            record.locked_until = Some(until);
            record.failures.clear();
            let why = format!("{pid} locked out until {until} after {count} failed second-factor attempts");
            entries.push(EntryBody {
                action: Action::FactorLockout.into(),
                outcome: Outcome::Deny,
                reason: why,
                ..entry
            });
            let alert = crate::policy::alerts::Alert {
                id: AlertId::generate().to_string(),
                rule: "second_factor_lockout".into(),
                description: format!(
                    "{count} failed second-factor attempts by {pid} within {} s: locked out for {} s",
                    rule.window.whole_seconds(),
                    rule.lock.whole_seconds()
                ),
                actor: pid.to_string(),
                window_start: now - rule.window,
                window_end: now,
                window_seconds: rule.window.whole_seconds().unsigned_abs(),
                count: count as u64,
                threshold: u64::from(rule.failures),
            };
            tracing::warn!(rule = %alert.rule, actor = %alert.actor, "second-factor lockout");
            ops.push(crate::archive::records::ALERTS.put_unguarded(&alert.id, &alert)?);
            let reason = format!("{}: {}", alert.rule, alert.description);
            entries.push(EntryBody {
                request_id: alert.id.clone(),
                ..EntryBody::system(Action::AuditAlert, pid.as_str(), reason)
            });
        }
        let change = held.replace(&record)?;
        let mut commit = Commit::guarded(change, ops, entries.remove(0));
        commit.entries.extend(entries);
        match self.audit.commit(commit).await {
            Err(CommitError::Conflict) => return Err(ArchiveError::Conflict("changed meanwhile".into())),
            other => other?,
        };
        if locks {
            // Every token of the principal is refused from the next request on.
            self.auth_cache.forget_all();
        }
        let denial = if locks { Denial::SecondFactorLocked } else { Denial::SecondFactorInvalid };
        Err(ArchiveError::forbidden(denial))
    }
}
