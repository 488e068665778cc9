//! The subject map as the server keeps it: its leaves in the `subject_map`
//! column family, how far it has taken in the log under `subject_map_head`
//! (`size` and the chain hash of entry `size - 1`), and in memory for roots
//! and proofs. It is derived from the log: missing, behind, or taken from
//! another history (a restore), it is rebuilt from the entries.

use super::buckets::Leaves;
use super::{key, MapKey, MapProof, MapValue};
use crate::audit::entry::{hash_entry, AuditEntry};
use crate::audit::entry_key;
use crate::audit::merkle::{self, Hash};
use crate::store::keys::SUBJECT_MAP_HEAD;
use crate::store::{Cf, KvStore, Op};
use anyhow::{anyhow, bail, Context};
use std::collections::BTreeSet;

pub struct SubjectMap {
    origin: String,
    /// Entries `0..size` are in the leaves.
    size: u64,
    leaves: Leaves,
}

impl SubjectMap {
    fn empty(origin: &str) -> Self {
        SubjectMap { origin: origin.to_owned(), size: 0, leaves: Leaves::new() }
    }

    /// The map as stored for the log `origin`. It starts empty (and is
    /// rebuilt by `advance`) when none is stored, or when the stored one
    /// does not end where the log has the same entry: a log restored to an
    /// earlier or another history.
    pub fn load(store: &dyn KvStore, origin: &str) -> anyhow::Result<Self> {
        let Some(head) = store.get(Cf::System, SUBJECT_MAP_HEAD)? else {
            return Ok(Self::empty(origin));
        };
        let (size, last) = head.split_at_checked(8).context("subject map head malformed")?;
        let size = u64::from_be_bytes(size.try_into().context("subject map head malformed")?);
        let in_log = match size.checked_sub(1) {
            Some(seq) => store.get(Cf::Audit, &entry_key(seq))?.is_some_and(|raw| hash_entry(&raw) == last),
            None => true,
        };
        if !in_log {
            tracing::warn!(size, "the subject map does not match the log; rebuilding it from the entries");
            let mut ops = vec![Op::Delete(Cf::System, SUBJECT_MAP_HEAD.to_vec())];
            for row in store.scan(Cf::SubjectMap, b"", b"") {
                ops.push(Op::Delete(Cf::SubjectMap, row?.0));
            }
            store.write(&ops, false)?;
            return Ok(Self::empty(origin));
        }
        let mut map = Self::empty(origin);
        for row in store.scan(Cf::SubjectMap, b"", b"") {
            let (k, v) = row?;
            let k: MapKey = k.as_slice().try_into().map_err(|_| anyhow!("subject map key malformed"))?;
            let v = MapValue::decode(&v).context("subject map value malformed")?;
            map.leaves.set(k, v);
        }
        map.size = size;
        Ok(map)
    }

    /// How many entries of the log the map holds.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Takes in entries `size..to` in memory; returns the keys changed and
    /// the chain hash of entry `to - 1`.
    fn take_in(&mut self, store: &dyn KvStore, to: u64) -> anyhow::Result<(BTreeSet<MapKey>, Option<Hash>)> {
        let mut changed = BTreeSet::new();
        let mut last = None;
        let mut seq = self.size;
        if seq >= to {
            return Ok((changed, last));
        }
        for row in store.scan(Cf::Audit, b"", &entry_key(seq)) {
            let (k, raw) = row?;
            if k.as_slice() != entry_key(seq) {
                bail!("the audit log has no entry {seq}");
            }
            let entry = AuditEntry::decode(&raw).with_context(|| format!("audit entry {seq}"))?;
            let leaf = merkle::leaf_hash(&raw);
            let people: BTreeSet<&String> = entry.body.subjects.iter().collect();
            for sid in people {
                let k = key(&self.origin, sid);
                self.leaves.set(k, MapValue::then(self.leaves.get(&k), seq, &leaf));
                changed.insert(k);
            }
            last = Some(hash_entry(&raw));
            seq += 1;
            if seq == to {
                break;
            }
        }
        if seq != to {
            bail!("the audit log ends at {seq}, before {to}");
        }
        self.size = to;
        Ok((changed, last))
    }

    /// Takes in entries up to `to` and stores what changed (derived data:
    /// not synced; a crash loses it together with its head, and it is taken
    /// in again). On failure the map starts again from the log.
    pub fn advance(&mut self, store: &dyn KvStore, to: u64) -> anyhow::Result<()> {
        let result = self.take_in(store, to).and_then(|(changed, last)| {
            let Some(last) = last else { return Ok(()) };
            let mut ops: Vec<Op> = changed
                .iter()
                .filter_map(|k| self.leaves.get(k).map(|v| Op::Put(Cf::SubjectMap, k.to_vec(), v.encode().to_vec())))
                .collect();
            let mut head = to.to_be_bytes().to_vec();
            head.extend_from_slice(&last);
            ops.push(Op::Put(Cf::System, SUBJECT_MAP_HEAD.to_vec(), head));
            Ok(store.write(&ops, false)?)
        });
        if result.is_err() {
            *self = Self::empty(&self.origin);
        }
        result
    }

    /// The map's root (kept until an entry naming someone comes in).
    pub fn root(&mut self) -> Hash {
        self.leaves.root()
    }

    /// How many people the map holds.
    pub fn people(&self) -> u64 {
        self.leaves.len()
    }

    /// The key of `sid`, its value (if the log names them) and the proof.
    pub fn prove(&mut self, sid: &str) -> (MapKey, Option<MapValue>, MapProof) {
        let k = key(&self.origin, sid);
        (k, self.leaves.get(&k), self.leaves.prove(&k))
    }
}

/// The subject map's root after each of `sizes` entries of the log, built
/// from the entries alone (nothing stored is trusted or written): what
/// `custos audit verify` compares with the roots checkpoints signed.
pub fn roots_at(store: &dyn KvStore, origin: &str, sizes: &[u64]) -> anyhow::Result<Vec<Hash>> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    let mut map = SubjectMap::empty(origin);
    let mut roots = vec![super::EMPTY; sizes.len()];
    for i in order {
        map.take_in(store, sizes[i])?;
        roots[i] = map.root();
    }
    Ok(roots)
}
