//! Creating a dossier: validate against the template, decide, assign
//! subject ids, create keys, seal version 1, commit it with its audit entry.

use super::{failure_reason, Created};
use crate::archive::dossiers::ContactCollection;
use crate::archive::dossiers::Dossiers;
use crate::archive::records::{DossierMeta, SubjectMeta, DOSSIERS, SUBJECTS, SUBJECT_LINKS, WORKED_ON};
use crate::archive::vault::VersionKeys;
use crate::archive::Denial;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Guard, Outcome};
use crate::crypto::{CryptoError, DataKey, KeyRef};
use crate::domain::dossier::{Dossier, FieldError, SplitDossier};
use crate::domain::{DossierId, SubjectId};
use crate::policy::access::{Change, DossierFacts};
use crate::policy::screening::Text;
use crate::store::{keys, Cf, Op};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

impl Dossiers {
    /// What free text written at `path` holds that `policies/screening.toml`
    /// refuses, as field errors naming the kind, never the value.
    pub(crate) fn screened(&self, path: &str, text: Text, value: &str) -> Vec<FieldError> {
        let findings = self.policy.screening.screen(text, value);
        findings
            .into_iter()
            .map(|f| FieldError {
                path: path.into(),
                message: format!("{f}: free text is no place for personal data (policies/screening.toml)"),
            })
            .collect()
    }

    pub(super) fn parse_body(&self, body: &Value) -> Result<Dossier, ArchiveError> {
        let dossier = self.template.parse(body).map_err(ArchiveError::Invalid)?;
        let mut errors = Vec::new();
        if !matches!(self.identity.principal(&dossier.owner), Ok(Some(_))) {
            errors.push(FieldError { path: "/owner".into(), message: "not a known principal".into() });
        }
        let mut seen = HashSet::new();
        for (i, c) in dossier.contacts.iter().enumerate() {
            if let Some(sid) = &c.subject_id {
                // Whether it exists is decided with the right to name it
                // (`authorize_links`), not here: a 422 would tell.
                if !seen.insert(sid.clone()) {
                    errors.push(FieldError {
                        path: format!("/contacts/{i}/subject_id"),
                        message: "the same subject appears twice".into(),
                    });
                }
            }
        }
        if dossier.customer.subject_id.is_some() && !dossier.customer.kind.is_natural() {
            errors.push(FieldError {
                path: "/customer/subject_id".into(),
                message: "only a sole trader or natural-person customer has a proprietor".into(),
            });
        }
        if let Some(remarks) = &dossier.remarks {
            errors.extend(self.screened("/remarks", Text::Remarks, remarks));
        }
        if errors.is_empty() {
            Ok(dossier)
        } else {
            Err(ArchiveError::Invalid(errors))
        }
    }

    /// Resolves (or creates) every data key the split dossier needs.
    pub(super) fn keys_for(
        &self,
        id: &DossierId,
        split: &SplitDossier,
        new_dossier: bool,
    ) -> Result<VersionKeys, ArchiveError> {
        let mut keys = VersionKeys::default();
        let dref = KeyRef::Dossier(id.clone());
        keys.dossier = Some(if new_dossier {
            let (k, op) = self.keyring.create(&dref)?;
            keys.ops.push(op);
            keys.created.push((dref, k.clone()));
            k
        } else {
            self.keyring.get(&dref)?
        });
        for (sid, _, _) in &split.contacts {
            let key = subject_key(&self.keyring, self.store.as_ref(), sid, &mut keys)?;
            keys.subjects.push((sid.clone(), key));
        }
        // Only a version holding the proprietor's segment needs their key
        // (none is written once they are erased).
        if let Some(sid) = split.proprietor_id().filter(|_| split.proprietor.is_some()) {
            let key = subject_key(&self.keyring, self.store.as_ref(), sid, &mut keys)?;
            keys.proprietor = Some((sid.clone(), key));
        }
        Ok(keys)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_dossier(&self, ctx: &RequestCtx, body: &Value) -> Result<Created, ArchiveError> {
        self.create_dossier_with(ctx, body, None).await
    }

    /// Creates a dossier; its credit code (and `reference`, an import's
    /// external reference: a field and its value) are indexed by keyed hash
    /// with it, so a later import finds it.
    pub(crate) async fn create_dossier_with(
        &self,
        ctx: &RequestCtx,
        body: &Value,
        reference: Option<(&str, &str)>,
    ) -> Result<Created, ArchiveError> {
        const ACTION: Action = Action::DossierCreate;
        let purpose = self.gate.purpose(ctx, ACTION, "").await?;
        let dossier = match self.parse_body(body) {
            Ok(d) => d,
            Err(err) => {
                let e = ctx.entry(ACTION, "", Outcome::Error, "document does not conform to the template");
                return self.gate.refuse(e, err).await;
            }
        };
        let facts = DossierFacts::of(&dossier);
        let decision =
            self.policy.access.decide_change(&ctx.principal, Change::Create, purpose.as_str(), "new", facts, facts);
        if !decision.allowed {
            let e = ctx.entry(ACTION, "", Outcome::Deny, "");
            return self.gate.deny(e, Denial::Policy(decision.basis), None).await;
        }
        let named: Vec<Option<SubjectId>> = dossier.contacts.iter().map(|c| c.subject_id.clone()).collect();
        self.authorize_links(ctx, (ACTION, ""), purpose.as_str(), &named, &[]).await?;
        if dossier.customer.subject_id.is_some() {
            let errors = vec![FieldError {
                path: "/customer/subject_id".into(),
                message: "a new customer's proprietor is assigned by custos".into(),
            }];
            let e = ctx.entry(ACTION, "", Outcome::Error, "document does not conform to the template");
            return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        let id = DossierId::generate();
        let given = ContactCollection::of(&dossier);
        let split = SplitDossier::split(dossier);
        let collected = match self.collect_contacts(&ctx.principal.id, (&id, 1), &split, &given, &[], &|_| true)? {
            Ok(c) => c,
            Err(errors) => {
                let e = ctx.entry(ACTION, "", Outcome::Error, "a contact's notice or sensitive-data basis is missing");
                return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
            }
        };
        let sealed = self.keys_for(&id, &split, true).and_then(|keys| {
            let s = self.vault.seal_version(&id, 1, [0u8; 32], ctx.principal.id.as_str(), &split, &keys)?;
            Ok((keys, s))
        });
        let (keys, (bytes, hash)) = match sealed {
            Ok(v) => v,
            Err(err) => {
                let e = ctx.entry(ACTION, id.as_str(), Outcome::Error, failure_reason(&err));
                return self.gate.refuse(e, err).await;
            }
        };
        let now = self.clock.now();
        let subjects = split.subjects();
        let meta = DossierMeta {
            id: id.clone(),
            current_version: 1,
            head_hash: hex::encode(hash),
            owner: split.business.owner.clone(),
            region: split.business.customer.region.clone(),
            grade: split.business.grade,
            status: split.business.status,
            created_by: ctx.principal.id.clone(),
            created_at: now,
            updated_at: now,
            subjects: subjects.clone(),
            ended_at: None,
            destroyed: None,
            corrected: Default::default(),
            proprietor: split.proprietor_id().cloned(),
            grade_stand: Default::default(),
            grade_change: None,
        };
        let mut ops = self.version_ops(keys.ops, bytes, &meta, &subjects)?;
        ops.push(WORKED_ON.mark(&ctx.principal.id, &id));
        ops.extend(collected.ops);
        let code = split.credit_code().map(|c| ("customer.credit_code", c));
        for (field, value) in code.into_iter().chain(reference) {
            ops.push(super::links::DOSSIER_BY_REF.put(&self.external_ref_hash(field, value)?, &id));
        }
        let reason = match collected.reason.is_empty() {
            true => decision.reason(),
            false => format!("{}; {}", decision.reason(), collected.reason),
        };
        let entry = self.dossier_entry(ctx, ACTION, id.as_str(), &subjects, Outcome::Allow, reason);
        let guard = Guard { cf: Cf::Dossiers, key: keys::dossier(&id), expected: None };
        self.audit.commit(Commit { ops, entries: vec![entry], guard: Some(guard), on_conflict: vec![] }).await?;
        let fresh = crate::archive::vault::created_subjects(&keys.created);
        for (r, k) in keys.created {
            self.keyring.remember(r, k);
        }
        self.index.index_version(&id, 1, &split, &fresh);
        Ok(Created { id, version: 1, hash: hex::encode(hash), subjects })
    }

    /// The ops that write a new version: its keys, the sealed record, the
    /// metadata, and for each subject it names a link (and a record for a
    /// new subject).
    pub(super) fn version_ops(
        &self,
        mut ops: Vec<Op>,
        record: Vec<u8>,
        meta: &DossierMeta,
        subjects: &[SubjectId],
    ) -> Result<Vec<Op>, ArchiveError> {
        let id = &meta.id;
        let now = meta.updated_at;
        ops.push(Op::Put(Cf::Versions, keys::version(id, meta.current_version), record));
        ops.push(DOSSIERS.put_unguarded(id, meta)?);
        ops.push(WORKED_ON.mark(&meta.owner, id));
        for sid in subjects {
            if !SUBJECTS.contains(self.store.as_ref(), sid)? {
                ops.push(SUBJECTS.put_unguarded(sid, &SubjectMeta::new(sid.clone(), now))?);
            }
            ops.push(SUBJECT_LINKS.mark(sid, id));
        }
        Ok(ops)
    }
}

/// A person's key: made for a person new to custos, a conflict for one
/// erased.
fn subject_key(
    keyring: &crate::crypto::Keyring,
    store: &dyn crate::store::KvStore,
    sid: &SubjectId,
    keys: &mut VersionKeys,
) -> Result<Arc<DataKey>, ArchiveError> {
    let sref = KeyRef::Subject(sid.clone());
    match keyring.get(&sref) {
        Ok(k) => Ok(k),
        Err(CryptoError::KeyDestroyed(_)) if store.get(Cf::Subjects, &keys::subject(sid))?.is_none() => {
            let (k, op) = keyring.create(&sref)?;
            keys.ops.push(op);
            keys.created.push((sref, k.clone()));
            Ok(k)
        }
        Err(CryptoError::KeyDestroyed(_)) => {
            Err(ArchiveError::Conflict(format!("subject {sid} has been erased and cannot be linked again")))
        }
        Err(e) => Err(e.into()),
    }
}
