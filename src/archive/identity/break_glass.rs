//! Break-glass: every admin token lost (people left, tokens expired), the
//! operator who holds the stopped data directory and the master key (who
//! holds everything already: docs/security.md, "Who is assumed hostile")
//! makes two new admins, as initialisation does: each gets an enrollment
//! code of their own, for two different people, so four eyes hold from the
//! first token on. Loud by design: audited (`principal.break_glass`) with
//! the operator's reason, and an alert for compliance.

use super::Identity;
use crate::archive::records::TokenRecord;
use crate::archive::ArchiveError;
use crate::audit::{Action, Commit, EntryBody};
use crate::crypto::secret::new_secret;
use crate::domain::{PrincipalId, TokenId};

/// Two new admins' enrollment codes, each for one person.
pub struct BrokenGlass {
    pub admins: Vec<(PrincipalId, String)>,
}

impl std::fmt::Debug for BrokenGlass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.admins.iter().map(|(p, _)| p.as_str()).collect();
        write!(f, "BrokenGlass({ids:?})")
    }
}

impl Identity {
    /// Makes two admins with an enrollment code each (valid 72 hours),
    /// records why, and raises the `break_glass` alert.
    pub async fn break_glass(&self, reason: &str) -> Result<BrokenGlass, ArchiveError> {
        let reason = reason.trim();
        if reason.chars().count() < 10 || reason.chars().count() > 2_000 {
            return Err(ArchiveError::BadRequest("a reason of 10 to 2,000 characters is required".into()));
        }
        let now = self.clock.now();
        let (mut ops, mut entries, mut admins) = (Vec::new(), Vec::new(), Vec::new());
        for n in 1..=2 {
            let admin = super::principals::operations_admin(&format!("break-glass admin {n}"), now);
            ops.push(self.principal_op(&admin)?);
            let token = TokenId::generate();
            let mut record = TokenRecord::pending(token.clone(), admin.id.clone(), None, now);
            let code = new_secret("enr_");
            ops.extend(self.code_ops(&mut record, &code, super::enrollment::CODE_TTL)?);
            let why = format!("break-glass admin {n} of 2, enrollment code for one person; reason: {reason}");
            entries.push(EntryBody::system(Action::PrincipalBreakGlass, admin.id.as_str(), why));
            entries.push(EntryBody::system(
                Action::TokenCreate,
                token.as_str(),
                format!("break-glass code for {}", admin.id),
            ));
            admins.push((admin.id, code));
        }
        let alert = crate::policy::alerts::Alert {
            count: 2,
            threshold: 0,
            ..crate::policy::alerts::Alert::once(
                "break_glass",
                "system:cli",
                "two admins were made offline by break-glass (all admin tokens lost)".into(),
                now,
            )
        };
        ops.push(crate::archive::records::ALERTS.put_unguarded(&alert.id, &alert)?);
        entries.push(EntryBody {
            request_id: alert.id.clone(),
            ..EntryBody::system(Action::AuditAlert, "system:cli", format!("break_glass: {}", alert.description))
        });
        let entries = entries.into_iter().map(|e| EntryBody { actor: "system:cli".into(), ..e }).collect();
        self.audit.commit(Commit { ops, entries, ..Default::default() }).await?;
        Ok(BrokenGlass { admins })
    }
}
