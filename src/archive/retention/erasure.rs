//! Erasure on a data subject's request (PIPL Art. 47, GDPR Art. 17): a
//! one-item batch that shreds the person's key, or 409 naming the legal hold
//! or keep rule that blocks it, with the person restricted instead.

use super::{from_json, ground_code, to_json, Batch, BatchState, Item, Target, DSR_ERASURE_CITATION, DSR_ERASURE_RULE};
use crate::archive::records::{DossierMeta, SubjectMeta};
use crate::archive::{Archive, ArchiveError, RequestCtx};
use crate::audit::{Commit, Guard, Outcome};
use crate::domain::{BatchId, CertificateId, SubjectId};
use crate::policy::access::SubjectAction;
use crate::policy::retention::RetentionAction;
use crate::store::{keys, Cf, Op};

impl Archive {
    /// Erasure on a data subject's request: 409 naming the hold or keep rule
    /// that blocks it (and the subject is restricted instead), else the
    /// subject's key is shredded and a certificate issued.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn erase_subject(&self, ctx: &RequestCtx, id: &str, ground: &str) -> Result<String, ArchiveError> {
        const ACTION: &str = "subject.erase";
        let purpose = self.purpose(ctx, ACTION, id).await?;
        let Some(sid) = SubjectId::parse(id)
            .ok()
            .filter(|s| matches!(self.store.get(Cf::Subjects, &keys::subject(s)), Ok(Some(_))))
        else {
            let e = ctx.entry(ACTION, id, Outcome::Error, "no such subject");
            return self.refuse(e, ArchiveError::NotFound("subject".into())).await;
        };
        let linked = self.linked_dossiers(&sid)?;
        let metas: Vec<DossierMeta> = linked
            .iter()
            .filter_map(|d| self.store.get(Cf::Dossiers, &keys::dossier(d)).ok().flatten())
            .map(|r| from_json::<DossierMeta>(&r))
            .collect::<Result<_, _>>()?;
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
            let e = subject_entry(Outcome::Deny, d.reason.clone());
            return self.refuse(e, ArchiveError::Forbidden(d.reason)).await;
        }
        let meta: SubjectMeta = from_json(&self.store.get(Cf::Subjects, &keys::subject(&sid))?.unwrap_or_default())?;
        if let Some(t) = &meta.erased {
            let e = subject_entry(Outcome::Allow, format!("already erased; certificate {}", t.certificate));
            self.audit.commit(Commit::entry(e)).await?;
            return Ok(t.certificate.clone());
        }
        // What blocks it: holds on any dossier naming the person, keep rules.
        let mut blocked: Vec<String> = Vec::new();
        for m in &metas {
            blocked.extend(self.holds(&m.id)?.into_iter().map(|h| format!("legal hold {} on {}", h.id, m.id)));
        }
        let facts = self.contact_facts(&meta, &metas)?;
        blocked.extend(
            self.policy
                .retention
                .keeping_contact(&facts, self.clock.now())
                .into_iter()
                .map(|r| format!("retention {r}")),
        );
        if !blocked.is_empty() {
            // PIPL Art. 47(2): what cannot be deleted is kept for storage only.
            let raw = self.store.get(Cf::Subjects, &keys::subject(&sid))?;
            let mut restricted = meta.clone();
            restricted.restricted_at.get_or_insert(self.clock.now());
            let e =
                subject_entry(Outcome::Deny, format!("erasure blocked by {}; restricted instead", blocked.join(", ")));
            let ops = vec![Op::Put(Cf::Subjects, keys::subject(&sid), to_json(&restricted)?)];
            let guard = Guard { cf: Cf::Subjects, key: keys::subject(&sid), expected: raw };
            self.audit.commit(Commit { ops, entries: vec![e], guard: Some(guard), on_conflict: vec![] }).await?;
            return Err(ArchiveError::Conflict(format!(
                "erasure is blocked by {}; the subject is restricted (storage only) instead",
                blocked.join(", ")
            )));
        }
        let now = self.clock.now();
        let item = Item {
            target: Target::Subject(sid.clone()),
            rule: DSR_ERASURE_RULE.into(),
            citation: DSR_ERASURE_CITATION.into(),
            action: RetentionAction::Erase,
            due_at: now,
        };
        let batch = Batch {
            batch_id: BatchId::generate(),
            state: BatchState::Executing,
            proposed_by: Some(ctx.principal.id.clone()),
            proposed_at: now,
            approved_by: Some(ctx.principal.id.clone()),
            approved_at: Some(now),
            certificate_id: Some(CertificateId::generate()),
            items: vec![item],
            results: vec![],
        };
        let e = subject_entry(
            Outcome::Allow,
            format!("{}; ground: {}; batch {}", d.reason, ground_code(ground), batch.batch_id),
        );
        let ops = vec![Op::Put(Cf::Disposition, keys::batch(batch.batch_id.as_str()), to_json(&batch)?)];
        self.audit.commit(Commit { ops, entries: vec![e], guard: None, on_conflict: vec![] }).await?;
        let done = self.execute(batch.batch_id.as_str()).await?;
        Ok(done.certificate_id.map(String::from).unwrap_or_default())
    }
}
