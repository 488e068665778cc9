//! Executing one item of a batch: shred its keys, delete its ciphertext and
//! documents, write the tombstone, record the result and the audit entry,
//! all in one atomic batch, so an item is never half done.

use super::{item_request_id, system_entry, Batch, Item, ItemOutcome, ItemResult, Target};
use crate::archive::dossiers::DOSSIER_BY_REF;
use crate::archive::records::{SubjectMeta, Tombstone, DOSSIERS, SUBJECTS, SUBJECT_LINKS};
use crate::archive::retention::Retention;
use crate::archive::ArchiveError;
use crate::audit::{Action, Commit};
use crate::crypto::KeyRef;
use crate::domain::{DossierId, SubjectId};
use crate::store::{keys, Cf, Held, Op};
use sha2::{Digest, Sha256};

impl Retention {
    /// One item, atomically: shred, delete, tombstone, result, audit entry.
    pub(super) async fn execute_item(&self, held: &Held<Batch>, item: &Item) -> Result<(), ArchiveError> {
        let batch = &held.value;
        let cert = batch.certificate_id.as_ref().map(ToString::to_string).unwrap_or_default();
        let now = self.clock.now();
        let tomb = Tombstone {
            certificate: cert.clone(),
            batch: batch.batch_id.to_string(),
            rule: item.rule.clone(),
            at: now,
        };
        let mut ops = Vec::new();
        let mut result = ItemResult {
            target: item.target.clone(),
            outcome: ItemOutcome::Skipped(String::new()),
            keys_shredded: vec![],
            ciphertext_sha256: vec![],
            subjects: vec![],
            audit_seq: None,
            documents: vec![],
        };
        let mut shredded: Vec<KeyRef> = Vec::new();
        let (action, resource) = match &item.target {
            Target::Dossier(did) => (Action::DossierDestroy, did.to_string()),
            Target::Subject(sid) => (Action::SubjectErase, sid.to_string()),
        };
        match &item.target {
            Target::Dossier(did) => {
                let meta = DOSSIERS.get(self.store.as_ref(), did)?;
                let holds = self.holds(did)?;
                match meta {
                    None => result.outcome = ItemOutcome::Skipped("no such dossier".into()),
                    Some(m) if m.destroyed.is_some() => {
                        result.outcome = ItemOutcome::Skipped("already destroyed".into())
                    }
                    Some(_) if !holds.is_empty() => {
                        result.outcome = ItemOutcome::Skipped(format!(
                            "under legal hold {}",
                            holds.iter().map(|h| h.id.as_str()).collect::<Vec<_>>().join(", ")
                        ))
                    }
                    Some(mut m) => {
                        // The index first: never a shredded key with a live index entry.
                        self.index.unindex_dossiers(std::slice::from_ref(did))?;
                        let prefix = keys::versions_prefix(did);
                        for row in self.store.scan(Cf::Versions, &prefix, &prefix) {
                            let (k, bytes) = row?;
                            result.ciphertext_sha256.push(hex::encode(Sha256::digest(&bytes)));
                            ops.push(Op::Delete(Cf::Versions, k));
                        }
                        shredded.push(KeyRef::Dossier(did.clone()));
                        if let Some(sid) = &m.proprietor {
                            ops.extend(self.credit_code_links(sid, std::slice::from_ref(did))?);
                        }
                        for sid in &m.subjects {
                            ops.push(SUBJECT_LINKS.unmark(sid, did));
                            // The person's key goes too unless another live dossier names them.
                            let others = self.linked_dossiers(sid)?.into_iter().any(|o| &o != did);
                            if !others {
                                let (erase_ops, keys) = self.erase_subject_ops(sid, &tomb)?;
                                ops.extend(erase_ops);
                                shredded.extend(keys);
                            }
                        }
                        let holds_prefix = keys::holds_prefix(did);
                        for h in self.store.scan(Cf::Disposition, &holds_prefix, &holds_prefix) {
                            ops.push(Op::Delete(Cf::Disposition, h?.0));
                        }
                        for d in self.documents.documents_of(did)? {
                            result.documents.push(format!("{} sha256:{}", d.name, d.sha256));
                        }
                        ops.extend(self.documents.delete_documents_ops(did)?);
                        result.subjects = m.subjects.clone();
                        m.destroyed = Some(tomb.clone());
                        m.subjects.clear();
                        ops.push(DOSSIERS.put_unguarded(did, &m)?);
                        result.outcome = ItemOutcome::Destroyed;
                    }
                }
            }
            Target::Subject(sid) => {
                let linked = self.linked_dossiers(sid)?;
                let meta: Option<SubjectMeta> = SUBJECTS.get(self.store.as_ref(), sid)?;
                // Only a hold under the law of the person's residency blocks it.
                let residency = meta.as_ref().map(|m| m.residency()).unwrap_or_else(crate::domain::Jurisdiction::cn);
                let mut held = Vec::new();
                for d in &linked {
                    held.extend(
                        self.holds(d)?
                            .into_iter()
                            .filter(|h| h.jurisdiction.hold_blocks_erasure_of(&residency))
                            .map(|h| h.id.to_string()),
                    );
                }
                if meta.is_none() {
                    result.outcome = ItemOutcome::Skipped("no such subject".into());
                } else if !held.is_empty() {
                    result.outcome = ItemOutcome::Skipped(format!("under legal hold {}", held.join(", ")));
                } else {
                    self.index.unindex_subject(sid, &linked)?;
                    ops.extend(self.credit_code_links(sid, &linked)?);
                    let (erase_ops, keys) = self.erase_subject_ops(sid, &tomb)?;
                    ops.extend(erase_ops);
                    shredded.extend(keys);
                    result.subjects = vec![sid.clone()];
                    result.outcome = if shredded.is_empty() {
                        ItemOutcome::Skipped("already erased".into())
                    } else {
                        ItemOutcome::Erased
                    };
                }
            }
        }
        for k in &shredded {
            ops.push(Op::Delete(Cf::Keys, k.storage_key().into_bytes()));
        }
        result.keys_shredded = shredded.iter().map(|k| k.storage_key()).collect();
        let mut entry = system_entry(
            action,
            &resource,
            format!(
                "{}; rule {} ({}); batch {}; certificate {cert}",
                result.outcome, item.rule, item.citation, batch.batch_id
            ),
        );
        entry.subjects = result.subjects.iter().map(|s| s.to_string()).collect();
        entry.request_id = item_request_id(batch.batch_id.as_str(), batch.results.len());
        if let (Some(approver), true) = (&batch.approved_by, !result.outcome.is_skipped()) {
            entry.actor = approver.to_string();
        }
        // The result records the seq this entry will get: the writer assigns
        // it, so read it back from the commit and store it with the next
        // write (the certificate step) rather than guessing.
        let mut updated = batch.clone();
        updated.results.push(result);
        let seqs = self.audit.commit(Commit::guarded(held.replace(&updated)?, ops, entry)).await?;
        self.keyring.forget(&shredded);
        // Record the entry's sequence number (a second, idempotent write).
        if let (Some(seq), Some(now)) = (seqs.last().copied(), self.batch(batch.batch_id.as_str())?) {
            let mut b = now.value.clone();
            if let Some(r) = b.results.iter_mut().find(|r| r.target == item.target) {
                r.audit_seq = Some(seq);
                let change = now.replace(&b)?;
                let commit =
                    Commit { ops: vec![change.op], entries: vec![], guard: Some(change.guard), on_conflict: vec![] };
                self.audit.commit(commit).await?;
            }
        }
        Ok(())
    }

    /// The keyed-hash links from a natural-person customer's credit code
    /// to their dossiers, to delete with them: the code is their data, so
    /// once they are erased an import no longer finds the dossier by it.
    /// Read before their key goes.
    fn credit_code_links(&self, sid: &SubjectId, linked: &[DossierId]) -> Result<Vec<Op>, ArchiveError> {
        let mut hashes = Vec::new();
        for did in linked {
            let Some(meta) = DOSSIERS.get(self.store.as_ref(), did)? else { continue };
            if meta.proprietor.as_ref() != Some(sid) {
                continue;
            }
            for version in 1..=meta.current_version {
                let split = self.vault.open_version_split(did, version)?;
                let Some(code) = split.credit_code() else { continue };
                let hash = self.dossiers.external_ref_hash("customer.credit_code", code)?;
                let links_here = DOSSIER_BY_REF.get(self.store.as_ref(), &hash)?.as_ref() == Some(did);
                if links_here && !hashes.contains(&hash) {
                    hashes.push(hash);
                }
            }
        }
        Ok(hashes.iter().map(|h| DOSSIER_BY_REF.delete(h)).collect())
    }

    /// Dossiers (not destroyed) that name a subject.
    pub(super) fn linked_dossiers(&self, sid: &SubjectId) -> Result<Vec<DossierId>, ArchiveError> {
        Ok(SUBJECT_LINKS.members(self.store.as_ref(), sid)?)
    }

    /// The ops that erase a subject: its consent history (evidence is sealed
    /// under its key, the rest is no longer needed), a tombstone in its
    /// record; and the key to shred (if it still exists).
    pub(super) fn erase_subject_ops(
        &self,
        sid: &SubjectId,
        tomb: &Tombstone,
    ) -> Result<(Vec<Op>, Vec<KeyRef>), ArchiveError> {
        let mut ops = Vec::new();
        let Some(mut meta) = SUBJECTS.get(self.store.as_ref(), sid)? else { return Ok((ops, vec![])) };
        for n in 0..meta.consent_events {
            ops.push(Op::Delete(Cf::Subjects, keys::consent_event(sid, n)));
        }
        meta.consents.clear();
        if meta.erased.is_none() {
            meta.erased = Some(tomb.clone());
        }
        ops.push(SUBJECTS.put_unguarded(sid, &meta)?);
        let key = KeyRef::Subject(sid.clone());
        let shred = if self.keyring.exists(&key)? { vec![key] } else { vec![] };
        Ok((ops, shred))
    }
}
