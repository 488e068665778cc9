//! Erasure on a data subject's request (PIPL Art. 47, GDPR Art. 17): a
//! one-item batch that shreds the person's key, or 409 naming the legal hold
//! or keep rule that blocks it, with the person restricted instead.
//!
//! A legal hold blocks only the erasure of a person whose residency its law
//! governs (`Jurisdiction::hold_blocks_erasure_of`). An erasure a hold
//! blocks is recorded as pending (`p/<sub>` in `disposition`); the
//! retention sweep carries it out once nothing blocks it any more.

use super::BATCHES;
use super::{ground_code, system_entry, Batch, BatchState, Item, Target, DSR_ERASURE_CITATION, DSR_ERASURE_RULE};
use crate::archive::records::{DossierMeta, PendingErasure, SubjectMeta, PENDING_ERASURES, SUBJECTS};
use crate::archive::retention::Retention;
use crate::archive::Denial;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, EntryBody, Outcome};
use crate::domain::{BatchId, CertificateId, PrincipalId, SubjectId};
use crate::policy::access::SubjectAction;
use crate::policy::retention::RetentionAction;

/// What blocks an erasure now.
#[derive(Debug, Default)]
struct Blockers {
    holds: Vec<String>,
    keep: Vec<String>,
}

impl Blockers {
    fn is_empty(&self) -> bool {
        self.holds.is_empty() && self.keep.is_empty()
    }

    fn all(&self) -> Vec<String> {
        self.holds.iter().chain(&self.keep).cloned().collect()
    }
}

impl Retention {
    /// The holds whose law governs the person's residency, and the keep
    /// rules, that block erasing them now.
    fn erasure_blockers(&self, meta: &SubjectMeta, metas: &[DossierMeta]) -> Result<Blockers, ArchiveError> {
        let residency = meta.residency();
        let mut b = Blockers::default();
        for m in metas {
            b.holds.extend(
                self.holds(&m.id)?
                    .into_iter()
                    .filter(|h| h.jurisdiction.hold_blocks_erasure_of(&residency))
                    .map(|h| format!("legal hold {} ({} law) on {}", h.id, h.jurisdiction, m.id)),
            );
        }
        let facts = self.contact_facts(meta, metas)?;
        b.keep.extend(
            self.policy
                .retention
                .keeping_contact(&facts, &residency, self.clock.now())
                .into_iter()
                .map(|r| format!("retention {r}")),
        );
        Ok(b)
    }

    /// A one-item erasure batch, approved and executing.
    fn erasure_batch(&self, sid: &SubjectId, by: &PrincipalId) -> Batch {
        let now = self.clock.now();
        Batch {
            batch_id: BatchId::generate(),
            state: BatchState::Executing,
            proposed_by: Some(by.clone()),
            proposed_at: now,
            approved_by: Some(by.clone()),
            approved_at: Some(now),
            certificate_id: Some(CertificateId::generate()),
            items: vec![Item {
                target: Target::Subject(sid.clone()),
                rule: DSR_ERASURE_RULE.into(),
                citation: DSR_ERASURE_CITATION.into(),
                action: RetentionAction::Erase,
                due_at: now,
            }],
            results: vec![],
        }
    }

    /// Erasure on a data subject's request: 409 naming the hold or keep rule
    /// that blocks it (and the subject is restricted instead; a hold's block
    /// is recorded as a pending erasure), else the subject's key is shredded
    /// and a certificate issued.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn erase_subject(&self, ctx: &RequestCtx, id: &str, ground: &str) -> Result<String, ArchiveError> {
        const ACTION: Action = Action::SubjectErase;
        let purpose = self.gate.purpose(ctx, ACTION, id).await?;
        let Some(sid) =
            SubjectId::parse(id).ok().filter(|s| matches!(SUBJECTS.contains(self.store.as_ref(), s), Ok(true)))
        else {
            let e = ctx.entry(ACTION, id, Outcome::Error, "no such subject");
            return self.gate.refuse(e, ArchiveError::NotFound("subject".into())).await;
        };
        let metas = self.dossiers.subject_dossiers(&sid)?;
        let facts = crate::policy::access::SubjectFacts {
            owners: metas.iter().map(|d| d.owner.clone()).collect(),
            regions: metas.iter().map(|d| d.region.clone()).collect(),
            restricted: false,
        };
        let d = self.policy.access.decide_subject(&ctx.principal, SubjectAction::Erase, purpose.as_str(), &sid, &facts);
        let subject_entry = |outcome, reason: String| {
            let mut e = ctx.entry(ACTION, id, outcome, reason);
            e.subjects = vec![sid.to_string()];
            e
        };
        if !d.allowed {
            return self.gate.deny(subject_entry(Outcome::Deny, String::new()), Denial::Policy(d.basis), None).await;
        }
        let held = SUBJECTS.hold(self.store.as_ref(), &sid)?.ok_or_else(|| anyhow::anyhow!("the subject vanished"))?;
        let meta: SubjectMeta = held.value.clone();
        if let Some(t) = &meta.erased {
            let e = subject_entry(Outcome::Allow, format!("already erased; certificate {}", t.certificate));
            self.audit.commit(Commit::entry(e)).await?;
            return Ok(t.certificate.clone());
        }
        let blockers = self.erasure_blockers(&meta, &metas)?;
        if !blockers.is_empty() {
            // PIPL Art. 47(2): what cannot be deleted is kept for storage only.
            let blocked = blockers.all().join(", ");
            let mut restricted = meta.clone();
            restricted.restricted_at.get_or_insert(self.clock.now());
            let mut ops = vec![];
            let pending = !blockers.holds.is_empty();
            if pending && !PENDING_ERASURES.contains(self.store.as_ref(), &sid)? {
                let record = PendingErasure {
                    subject: sid.clone(),
                    requested_by: ctx.principal.id.clone(),
                    requested_at: self.clock.now(),
                    ground: ground_code(ground).to_owned(),
                    blocked_by: blockers.all(),
                };
                ops.push(PENDING_ERASURES.put_unguarded(&sid, &record)?);
            }
            let e =
                subject_entry(Outcome::Deny, Denial::ErasureBlocked { blocked: blocked.clone(), pending }.to_string());
            self.audit.commit(Commit::guarded(held.replace(&restricted)?, ops, e)).await?;
            if restricted.restricted_at != meta.restricted_at {
                self.index.reindex_dossiers(&metas.iter().map(|m| m.id.clone()).collect::<Vec<_>>())?;
            }
            let then = if pending {
                "the subject is restricted (storage only) and the erasure is pending: \
                 it is carried out when the last blocking hold is released"
            } else {
                "the subject is restricted (storage only) instead"
            };
            return Err(ArchiveError::Conflict(format!("erasure is blocked by {blocked}; {then}")));
        }
        let batch = self.erasure_batch(&sid, &ctx.principal.id);
        let e = subject_entry(
            Outcome::Allow,
            format!("{}; ground: {}; batch {}", d.reason(), ground_code(ground), batch.batch_id),
        );
        // Asked again after the hold's release: no longer pending.
        let change = BATCHES.insert(batch.batch_id.as_str(), &batch)?;
        self.audit.commit(Commit::guarded(change, vec![PENDING_ERASURES.delete(&sid)], e)).await?;
        let done = self.execute(batch.batch_id.as_str()).await?;
        Ok(done.certificate_id.map(String::from).unwrap_or_default())
    }

    /// The pending erasures, oldest request first.
    pub fn pending_erasures(&self) -> Result<Vec<PendingErasure>, ArchiveError> {
        let mut out: Vec<PendingErasure> = PENDING_ERASURES.values(self.store.as_ref()).collect::<Result<_, _>>()?;
        out.sort_by_key(|p| p.requested_at);
        Ok(out)
    }

    /// Carries out every pending erasure nothing blocks any more (the
    /// retention sweep). Returns the certificates issued.
    pub(super) async fn run_pending_erasures(&self) -> Result<Vec<CertificateId>, ArchiveError> {
        let mut done = Vec::new();
        for p in self.pending_erasures()? {
            let meta = SUBJECTS.get(self.store.as_ref(), &p.subject)?;
            let Some(meta) = meta.filter(|m| m.erased.is_none()) else {
                let e =
                    system_entry(Action::SubjectErase, p.subject.as_str(), "pending erasure: already erased".into());
                self.audit.commit(Commit::change(vec![PENDING_ERASURES.delete(&p.subject)], e)).await?;
                continue;
            };
            let metas = self.dossiers.subject_dossiers(&p.subject)?;
            if !self.erasure_blockers(&meta, &metas)?.is_empty() {
                continue;
            }
            let batch = self.erasure_batch(&p.subject, &p.requested_by);
            let requested = p.requested_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
            let mut e: EntryBody = system_entry(
                Action::SubjectErase,
                p.subject.as_str(),
                format!(
                    "pending erasure asked by {} at {requested} (ground: {}); nothing blocks it any more; batch {}",
                    p.requested_by, p.ground, batch.batch_id
                ),
            );
            e.subjects = vec![p.subject.to_string()];
            let change = BATCHES.insert(batch.batch_id.as_str(), &batch)?;
            self.audit.commit(Commit::guarded(change, vec![PENDING_ERASURES.delete(&p.subject)], e)).await?;
            let executed = self.execute(batch.batch_id.as_str()).await?;
            done.extend(executed.certificate_id);
        }
        Ok(done)
    }
}
