//! Admins deciding about someone's second factor: resetting a lost one
//! (every token bound to it stops working; the person gets a new token,
//! which two admins ask for and approve, and sets up a new factor with it)
//! and lifting a lockout early. Neither for the admin themself: a second
//! admin does it. And, at start-up, an alert for every principal on record
//! whose roles break the separation of duties (`Role::conflict`).

use super::super::Identity;
use super::FACTORS;
use crate::archive::denial::FourEyes;
use crate::archive::{ArchiveError, Denial, RequestCtx};
use crate::audit::{Action, Commit, CommitError, EntryBody, Outcome};
use crate::domain::PrincipalId;
use crate::domain::{AlertId, Role};
use crate::store::{keys, Cf, Table};
use std::collections::BTreeSet;

/// The principals the last `role_separation` alerts named: `q/role-separation`.
const CLASHES_ALERTED: Table<(), BTreeSet<PrincipalId>> =
    Table::new(Cf::Registers, b"q/role-separation", keys::role_separation_alerts);

/// What an admin does to someone's second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorChange {
    /// `POST /v1/principals/{id}/factor/reset`: the factor is removed; every
    /// token bound to it stops working at once.
    Reset,
    /// `POST /v1/principals/{id}/factor/unlock`: a lockout ends before its
    /// time; the failures are forgotten.
    Unlock,
}

impl Identity {
    /// An admin, not for themself, resets or unlocks principal `id`'s
    /// second factor (guarded, audited `factor.reset` / `factor.unlock`).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn change_factor(&self, ctx: &RequestCtx, change: FactorChange, id: &str) -> Result<(), ArchiveError> {
        let action = match change {
            FactorChange::Reset => Action::FactorReset,
            FactorChange::Unlock => Action::FactorUnlock,
        };
        let (pid, _, _) = self.principal_to_decide(ctx, action, id).await?;
        if pid == ctx.principal.id {
            let e = ctx.entry(action, pid.as_str(), Outcome::Deny, "");
            return self.gate.deny(e, Denial::FourEyes(FourEyes::OwnFactor), None).await;
        }
        let me = &ctx.principal.id;
        let now = self.clock.now();
        let held = FACTORS.hold(self.store.as_ref(), &pid)?;
        let refusal = match (&held, action) {
            (None, _) => Some("the principal has no second factor"),
            (Some(h), Action::FactorUnlock) if !h.value.locked(now) => Some("the principal is not locked out"),
            _ => None,
        };
        let Some(held) = held.filter(|_| refusal.is_none()) else {
            let err = ArchiveError::Conflict(refusal.unwrap_or_default().into());
            let e = ctx.entry(action, pid.as_str(), Outcome::Error, err.to_string());
            return self.gate.refuse(e, err).await;
        };
        let factor = held.value.id.clone();
        let (change, reason) = if action == Action::FactorReset {
            let why = format!(
                "second factor {factor} of {pid} reset by {me}: every token bound to it stops working; \
                 a new token (asked for and approved by two admins) sets up a new one"
            );
            (held.remove(), why)
        } else {
            let (_, change) = held.update(|r| {
                r.locked_until = None;
                r.failures.clear();
            })?;
            (change, format!("lockout of {pid} lifted by {me}"))
        };
        let entry = ctx.entry(action, pid.as_str(), Outcome::Allow, reason);
        let committed = self.audit.commit(Commit::guarded(change, vec![], entry)).await;
        self.auth_cache.forget_all();
        committed.map_err(|e| match e {
            CommitError::Conflict => ArchiveError::Conflict("the second factor changed meanwhile; try again".into()),
            e => e.into(),
        })?;
        Ok(())
    }

    /// At start-up: one `role_separation` alert for each principal on
    /// record (not disabled) whose roles may not be held together; nobody
    /// is locked out for it, an admin disables the principal or makes a new
    /// one. The same set of principals is alerted once, not at every start
    /// (a guarded mark of the set). Returns how many alerts were raised.
    pub async fn alert_role_clashes(&self) -> Result<usize, ArchiveError> {
        let (mut ops, mut entries) = (Vec::new(), Vec::new());
        let mut clashing = BTreeSet::new();
        let now = self.clock.now();
        for row in self.store.scan(Cf::Principals, keys::PRINCIPAL_PREFIX, keys::PRINCIPAL_PREFIX) {
            let (_, raw) = row?;
            let p = self.open_principal(&raw)?;
            let Some((a, b)) = Role::conflict(&p.roles).filter(|_| p.disabled_by.is_none()) else { continue };
            clashing.insert(p.id.clone());
            let alert = crate::policy::alerts::Alert {
                id: AlertId::generate().to_string(),
                rule: "role_separation".into(),
                description: format!(
                    "{} holds the roles {a} and {b}, which may not be held together (separation of duties): \
                     disable it and make principals with separate roles",
                    p.id
                ),
                actor: p.id.to_string(),
                window_start: now,
                window_end: now,
                window_seconds: 0,
                count: 1,
                threshold: 0,
            };
            tracing::warn!(rule = %alert.rule, actor = %alert.actor, "roles that may not be combined");
            ops.push(crate::archive::records::ALERTS.put_unguarded(&alert.id, &alert)?);
            let reason = format!("{}: {}", alert.rule, alert.description);
            entries.push(EntryBody {
                request_id: alert.id.clone(),
                ..EntryBody::system(Action::AuditAlert, p.id.as_str(), reason)
            });
        }
        let held = CLASHES_ALERTED.hold(self.store.as_ref(), &())?;
        let before = held.as_ref().map(|h| h.value.clone()).unwrap_or_default();
        if before == clashing {
            return Ok(0);
        }
        let change = match &held {
            Some(h) => h.replace(&clashing)?,
            None => CLASHES_ALERTED.insert(&(), &clashing)?,
        };
        let n = entries.len();
        let mut entries = entries.into_iter();
        let first = entries.next().unwrap_or_else(|| {
            EntryBody::system(Action::AuditAlert, "role_separation", "no principal's roles clash any more")
        });
        let mut commit = Commit::guarded(change, ops, first);
        commit.entries.extend(entries);
        match self.audit.commit(commit).await {
            // Another start marked the same set meanwhile.
            Err(CommitError::Conflict) => Ok(0),
            other => other.map(|_| n).map_err(ArchiveError::from),
        }
    }
}
