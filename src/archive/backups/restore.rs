//! Restoring a backup set keeps erased people erased: after the set's files
//! are in place, every journaled destruction and erasure is applied again
//! (keys shredded, ciphertext, documents and consent history deleted,
//! tombstones and certificates back), whether it happened before the set
//! (then it is already so: idempotent) or after it. Works on the store
//! alone: no master key is needed, so a recovery key suffices.

use crate::archive::certificates::{Certificate, ItemOutcome, CERTIFICATES};
use crate::archive::records::{Tombstone, DOSSIERS, SUBJECTS, SUBJECT_LINKS};
use crate::archive::ArchiveError;
use crate::domain::{DossierId, SubjectId};
use crate::policy::retention::Target;
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
    /// Whether anything was written (and so purged): nothing when every
    /// certificate was in effect already.
    pub changed: bool,
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
    let Some(mut meta) = SUBJECTS.get(store, sid)? else { return Ok(false) };
    if meta.erased.is_some() {
        return Ok(false);
    }
    delete_prefix(store, Cf::Subjects, &keys::consent_events_prefix(sid), ops)?;
    meta.consents.clear();
    meta.erased = Some(tomb.clone());
    ops.push(SUBJECTS.put_unguarded(sid, &meta)?);
    Ok(true)
}

/// The versions of one dossier a restored set does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostVersions {
    pub dossier: DossierId,
    /// The newest version the set holds (0: the set does not hold it).
    pub in_set: u32,
    /// How many versions were written after the set.
    pub after: u32,
}

impl std::fmt::Display for LostVersions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (first, last) = (self.in_set + 1, self.in_set + self.after);
        if first == last {
            write!(f, "{} v{first}", self.dossier)
        } else {
            write!(f, "{} v{first}-v{last}", self.dossier)
        }
    }
}

/// What a restored set lost, from the audit log written after it: every
/// allowed `dossier.create`, `dossier.update` and `dossier.close` wrote one
/// version, numbered on from the version the set holds. `changes` are
/// `(action, resource)` of the allowed entries after the set, in order.
pub fn lost_versions<'a>(
    store: &dyn KvStore,
    changes: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<LostVersions>, ArchiveError> {
    let mut lost: Vec<LostVersions> = Vec::new();
    for (action, resource) in changes {
        if !matches!(action, "dossier.create" | "dossier.update" | "dossier.close") {
            continue;
        }
        let Ok(did) = DossierId::parse(resource) else { continue };
        if let Some(l) = lost.iter_mut().find(|l| l.dossier == did) {
            l.after += 1;
            continue;
        }
        let in_set = DOSSIERS.get(store, &did)?.map_or(0, |m| m.current_version);
        lost.push(LostVersions { dossier: did, in_set, after: 1 });
    }
    Ok(lost)
}

/// The certificates of the erasure journal's entries (signatures already
/// checked by `Target::journal`).
pub fn journal_certificates(entries: &[crate::backup::JournalEntry]) -> anyhow::Result<Vec<Certificate>> {
    entries
        .iter()
        .map(|e| serde_json::from_str(e.certificate.trim_end()))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("a journal entry does not parse: {e}"))
}

/// Applies every certificate again, then makes the deletions physical
/// (when any certificate changed anything).
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
                let Some(mut meta) = DOSSIERS.get(store, did)? else { continue };
                if meta.destroyed.is_some() {
                    continue;
                }
                delete_prefix(store, Cf::Versions, &keys::versions_prefix(did), &mut ops)?;
                delete_prefix(store, Cf::Disposition, &keys::holds_prefix(did), &mut ops)?;
                delete_prefix(store, Cf::Documents, &keys::documents_prefix(did), &mut ops)?;
                delete_prefix(store, Cf::Documents, &keys::all_chunks_prefix(did), &mut ops)?;
                for sid in &meta.subjects {
                    ops.push(SUBJECT_LINKS.unmark(sid, did));
                }
                meta.destroyed = Some(tomb.clone());
                meta.subjects.clear();
                ops.push(DOSSIERS.put_unguarded(did, &meta)?);
                report.dossiers.push(did.clone());
            }
        }
        if !CERTIFICATES.contains(store, &cert.certificate_id)? {
            ops.push(CERTIFICATES.put_unguarded(&cert.certificate_id, cert)?);
        }
        if !ops.is_empty() {
            store.write(&ops, true)?;
            report.changed = true;
        }
        report.certificates += 1;
    }
    if report.changed {
        purge_erased(store)?;
    }
    Ok(report)
}

/// Makes the deletions of erasures and destructions physical (flush and
/// compaction of every family they touch): no file keeps a shredded key.
pub fn purge_erased(store: &dyn KvStore) -> Result<(), ArchiveError> {
    for cf in [Cf::Keys, Cf::Versions, Cf::Documents, Cf::Subjects, Cf::Dossiers, Cf::Disposition] {
        store.purge(cf)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::records::DossierMeta;
    use crate::domain::dossier::{Grade, Status};
    use crate::domain::PrincipalId;
    use crate::store::MemStore;

    fn held_at(store: &MemStore, did: &DossierId, version: u32) {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let owner = PrincipalId::generate();
        let meta = DossierMeta {
            id: did.clone(),
            current_version: version,
            head_hash: String::new(),
            owner: owner.clone(),
            region: "华东".into(),
            grade: Grade::B,
            status: Status::Active,
            created_by: owner,
            created_at: now,
            updated_at: now,
            subjects: vec![],
            ended_at: None,
            destroyed: None,
            corrected: Default::default(),
            proprietor: None,
            grade_stand: Default::default(),
            grade_change: None,
        };
        store.write(&[DOSSIERS.put_unguarded(did, &meta).unwrap()], true).unwrap();
    }

    #[test]
    fn lost_versions_number_on_from_the_set() {
        let store = MemStore::default();
        let (held, new) = (DossierId::generate(), DossierId::generate());
        held_at(&store, &held, 3);
        let (h, n) = (held.to_string(), new.to_string());
        let changes = [
            ("dossier.update", h.as_str()),
            ("dossier.create", n.as_str()),
            ("dossier.read", h.as_str()),
            ("dossier.close", h.as_str()),
            ("subject.erase", "sub_x"),
        ];
        let lost = lost_versions(&store, changes).unwrap();
        assert_eq!(
            lost,
            vec![
                LostVersions { dossier: held.clone(), in_set: 3, after: 2 },
                LostVersions { dossier: new.clone(), in_set: 0, after: 1 }
            ]
        );
        assert_eq!(lost[0].to_string(), format!("{held} v4-v5"));
        assert_eq!(lost[1].to_string(), format!("{new} v1"));
    }
}
