//! Restoring a backup set keeps erased people erased: after the set's files
//! are in place, every journaled destruction and erasure is applied again
//! (keys shredded, ciphertext, documents and consent history deleted,
//! tombstones and certificates back), whether it happened before the set
//! (then it is already so: idempotent) or after it. Works on the store
//! alone: no master key is needed, so a recovery key suffices.

use super::records::{DossierMeta, SubjectMeta, Tombstone};
use super::retention::{Certificate, ItemOutcome, Target};
use super::ArchiveError;
use crate::domain::{DossierId, SubjectId};
use crate::store::{keys, Cf, KvStore, Op};

/// What applying the journal again changed.
#[derive(Debug, Default, Clone)]
pub struct Reapplied {
    pub certificates: usize,
    /// Dossiers the set still held that were destroyed after it.
    pub dossiers: Vec<DossierId>,
    /// People the set still held who were erased after it.
    pub subjects: Vec<SubjectId>,
    pub keys: usize,
}

fn json<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, ArchiveError> {
    serde_json::from_slice(raw).map_err(|e| ArchiveError::Internal(e.into()))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, ArchiveError> {
    serde_json::to_vec(v).map_err(|e| ArchiveError::Internal(e.into()))
}

/// Every key under `prefix` in `cf`, as delete ops.
fn delete_prefix(store: &dyn KvStore, cf: Cf, prefix: &[u8], ops: &mut Vec<Op>) -> Result<(), ArchiveError> {
    for row in store.scan(cf, prefix, prefix) {
        ops.push(Op::Delete(cf, row?.0));
    }
    Ok(())
}

/// Erases a person in the ops: consent history gone, tombstone set.
fn erase_subject(
    store: &dyn KvStore,
    sid: &SubjectId,
    tomb: &Tombstone,
    ops: &mut Vec<Op>,
) -> Result<bool, ArchiveError> {
    let Some(raw) = store.get(Cf::Subjects, &keys::subject(sid))? else { return Ok(false) };
    let mut meta: SubjectMeta = json(&raw)?;
    if meta.erased.is_some() {
        return Ok(false);
    }
    delete_prefix(store, Cf::Subjects, &keys::consent_events_prefix(sid), ops)?;
    meta.consents.clear();
    meta.erased = Some(tomb.clone());
    ops.push(Op::Put(Cf::Subjects, keys::subject(sid), to_json(&meta)?));
    Ok(true)
}

/// Applies every certificate again, then makes the deletions physical.
pub fn reapply_journal(store: &dyn KvStore, certificates: &[Certificate]) -> Result<Reapplied, ArchiveError> {
    let mut report = Reapplied::default();
    for cert in certificates {
        let mut ops = Vec::new();
        for item in &cert.items {
            if !matches!(item.outcome, ItemOutcome::Destroyed | ItemOutcome::Erased) {
                continue;
            }
            let tomb = Tombstone {
                certificate: cert.certificate_id.to_string(),
                batch: cert.batch_id.to_string(),
                rule: item.rule.clone(),
                at: cert.issued_at,
            };
            for key in &item.keys_shredded {
                if store.get(Cf::Keys, key.as_bytes())?.is_some() {
                    ops.push(Op::Delete(Cf::Keys, key.as_bytes().to_vec()));
                    report.keys += 1;
                }
                // A person whose key went with the item is erased too.
                if let Some(sid) = key.strip_prefix("s/").and_then(|s| SubjectId::parse(s).ok()) {
                    if erase_subject(store, &sid, &tomb, &mut ops)? {
                        report.subjects.push(sid);
                    }
                }
            }
            if let Target::Dossier(did) = &item.target {
                let Some(raw) = store.get(Cf::Dossiers, &keys::dossier(did))? else { continue };
                let mut meta: DossierMeta = json(&raw)?;
                if meta.destroyed.is_some() {
                    continue;
                }
                delete_prefix(store, Cf::Versions, &keys::versions_prefix(did), &mut ops)?;
                delete_prefix(store, Cf::Disposition, &keys::holds_prefix(did), &mut ops)?;
                delete_prefix(store, Cf::Documents, &keys::documents_prefix(did), &mut ops)?;
                delete_prefix(store, Cf::Documents, &keys::all_chunks_prefix(did), &mut ops)?;
                for sid in &meta.subjects {
                    ops.push(Op::Delete(Cf::Subjects, keys::subject_link(sid, did)));
                }
                meta.destroyed = Some(tomb.clone());
                meta.subjects.clear();
                ops.push(Op::Put(Cf::Dossiers, keys::dossier(did), to_json(&meta)?));
                report.dossiers.push(did.clone());
            }
        }
        let cert_key = keys::certificate(cert.certificate_id.as_str());
        if store.get(Cf::Disposition, &cert_key)?.is_none() {
            ops.push(Op::Put(Cf::Disposition, cert_key, to_json(cert)?));
        }
        store.write(&ops, true)?;
        report.certificates += 1;
    }
    for cf in [Cf::Keys, Cf::Versions, Cf::Documents, Cf::Subjects, Cf::Dossiers, Cf::Disposition] {
        store.purge(cf)?;
    }
    Ok(report)
}
