//! The evidence of a person's verifiable access report: every audit entry
//! naming them up to a checkpoint made for the report, each with its
//! inclusion proof, and the subject map's proof that there is no other
//! (docs/audit-format.md, "Access reports"). Who may have it, and for which
//! request, is the request register's to decide.

use super::AuditTrail;
use crate::archive::ArchiveError;
use crate::audit::checkpoint::Checkpoint;
use crate::audit::merkle::{self, Hash};
use crate::audit::subject_map::{self, MapKey, MapProof, MapValue};
use crate::audit::{AuditEntry, AuditFilter, StoredTree};
use crate::domain::SubjectId;

/// One entry naming the person: its canonical bytes, as decoded, and its
/// inclusion proof in the report's checkpoint.
pub struct ReportEntry {
    pub raw: Vec<u8>,
    pub entry: AuditEntry,
    pub inclusion: Vec<Hash>,
}

pub struct AccessEvidence {
    /// The signed checkpoint (a C2SP signed note) the proofs are made in.
    pub note: String,
    pub checkpoint: Checkpoint,
    pub verifier_key: String,
    pub map_key: MapKey,
    /// What the map holds for the person (`None`: no entry names them).
    pub map_value: Option<MapValue>,
    pub map_proof: MapProof,
    pub entries: Vec<ReportEntry>,
}

impl AuditTrail {
    /// The evidence for `sid` at a checkpoint made now, so it covers every
    /// entry written before the call (the caller's own audit entry too).
    /// Blocking: reads one entry and one proof per entry naming the person.
    /// Fails closed when the audit index and the subject map disagree.
    pub(in crate::archive) fn access_evidence(&self, sid: &SubjectId) -> Result<AccessEvidence, ArchiveError> {
        let (checkpoint, note, (map_key, map_value, map_proof)) = self.with_subject_map(|map| {
            let (cp, note) = self.sign_checkpoint(map)?;
            Ok((cp, note, map.prove(sid.as_str())))
        })?;
        let store = self.store.as_ref();
        let filter = AuditFilter { subject: Some(sid.to_string()), ..Default::default() };
        let mut found = Vec::new();
        crate::audit::query::for_each_match(store, &filter, checkpoint.size, |e| found.push(e))?;
        let tree = StoredTree(store);
        let (mut entries, mut acc) = (Vec::with_capacity(found.len()), subject_map::EMPTY);
        for entry in found {
            // An entry re-encodes to exactly the bytes it was read from
            // (docs/audit-format.md); the proofs below check them anyway.
            let raw = entry.encode();
            let inclusion = merkle::inclusion_proof(&tree, entry.seq, checkpoint.size).map_err(anyhow::Error::msg)?;
            acc = subject_map::fold(&acc, &merkle::leaf_hash(&raw));
            entries.push(ReportEntry { raw, entry, inclusion });
        }
        let committed = map_value.map_or((0, subject_map::EMPTY), |v| (v.count, v.acc));
        if committed != (entries.len() as u64, acc) {
            return Err(anyhow::anyhow!(
                "the audit index and the subject map disagree about a person's entries: run `custos audit verify --deep`"
            )
            .into());
        }
        Ok(AccessEvidence {
            note,
            checkpoint,
            verifier_key: self.verifier_key(),
            map_key,
            map_value,
            map_proof,
            entries,
        })
    }
}
