//! Verification from a trusted checkpoint (`custos audit verify
//! --from-checkpoint saved.note`): only the entries written since, so a
//! nightly check costs the day's entries, not the whole history.
//!
//! What is trusted is the checkpoint (its signature checked by the caller):
//! a tree size `n` and its root. From the log:
//!
//! 1. the stored right edge of the tree at `n` must hash to that root (so
//!    the first `n` entries are the ones it committed to, as far as the tree
//!    goes), and entry `n-1` must be the checkpoint's last leaf (an inclusion
//!    proof against the root): it gives the hash the chain continues from;
//! 2. every entry from `n` on must continue the chain and be in order, and
//!    the last must match the recorded chain head, as in a full pass; their
//!    leaves, appended to the trusted edge, give the new root;
//! 3. the stored tree must give that same root at the head, and the
//!    consistency proof between the two tree heads (built from the stored
//!    nodes, as `GET /v1/audit/proofs/consistency` serves it) must verify;
//! 4. every new entry must have its rows in the audit indexes.

use super::chain::{ChainHead, Verifier, VerifyError};
use super::checkpoint::Checkpoint;
use super::entry::{hash_entry, AuditEntry, GENESIS_PREV};
use super::merkle::{self, empty_root, leaf_hash, Frontier, Hash};
use super::{entry_key, index, StoredTree};
use crate::store::{Cf, KvStore};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalReport {
    /// The checkpoint's size: the entries taken on trust.
    pub from: u64,
    /// The log's size now.
    pub entries: u64,
    pub head_hash: [u8; 32],
    pub root: Hash,
}

fn inconsistent(msg: String) -> VerifyError {
    VerifyError::Inconsistent(msg)
}

/// Verifies what the log added since `trusted`; `head` is the recorded
/// chain head.
pub fn verify_from(
    store: &dyn KvStore,
    trusted: &Checkpoint,
    head: Option<ChainHead>,
    mut progress: impl FnMut(u64),
) -> Result<IncrementalReport, VerifyError> {
    let n = trusted.size;
    let size = head.map_or(0, |h| h.next_seq);
    if size < n {
        return Err(VerifyError::Broken {
            seq: size,
            reason: format!("log truncated: the checkpoint commits to {n} entries, the log has {size}"),
        });
    }
    let tree = StoredTree(store);
    let (edge, prev) = if n == 0 {
        if trusted.root != empty_root() {
            return Err(inconsistent("the checkpoint of size 0 does not carry the empty tree's root".into()));
        }
        (Frontier::default(), GENESIS_PREV)
    } else {
        let edge = Frontier::load(&tree, n)
            .map_err(|e| inconsistent(format!("the stored tree at size {n} is incomplete: {e}")))?;
        if edge.root() != trusted.root {
            return Err(inconsistent(format!(
                "the stored tree at size {n} does not give the checkpoint's root: the first {n} entries were rewritten (a full verification names the first)"
            )));
        }
        let last = n - 1;
        let raw = store
            .get(Cf::Audit, &entry_key(last))
            .map_err(|e| VerifyError::Store(e.to_string()))?
            .ok_or_else(|| VerifyError::Broken { seq: last, reason: "entry missing".into() })?;
        let proof = merkle::inclusion_proof(&tree, last, n).map_err(inconsistent)?;
        if !merkle::verify_inclusion(last, n, &leaf_hash(&raw), &proof, &trusted.root) {
            return Err(VerifyError::Broken {
                seq: last,
                reason: "the checkpoint's last entry is not the one it committed to".into(),
            });
        }
        (edge, hash_entry(&raw))
    };
    let mut v = Verifier::resume(n, prev, edge);
    let mut failed = None;
    let mut missing_row = None;
    store
        .for_each(Cf::Audit, &entry_key(n), &mut |k, raw| {
            if let Err(e) = v.push(k, raw) {
                failed = Some(e);
                return false;
            }
            if missing_row.is_none() {
                missing_row = unindexed(store, raw);
            }
            if v.verified().is_multiple_of(65_536) {
                progress(v.verified() - n);
            }
            true
        })
        .map_err(|e| VerifyError::Store(e.to_string()))?;
    if let Some(e) = failed {
        return Err(e);
    }
    progress(v.verified() - n);
    let r = v.finish(head)?;
    match merkle::root(&tree, r.entries) {
        Ok(stored) if stored == r.root => {}
        Ok(_) => return Err(inconsistent("the stored Merkle tree does not match the entries".into())),
        Err(e) => return Err(inconsistent(format!("the stored Merkle tree is incomplete: {e}"))),
    }
    // Every tree extends the empty one: a proof starts at size 1.
    let consistent = n == 0
        || merkle::consistency_proof(&tree, n, r.entries)
            .is_ok_and(|proof| merkle::verify_consistency(n, r.entries, &proof, &trusted.root, &r.root));
    if !consistent {
        return Err(inconsistent(format!(
            "no valid consistency proof from size {n} to {}: the log did not only grow",
            r.entries
        )));
    }
    if let Some(seq) = missing_row {
        return Err(inconsistent(format!("entry {seq} is missing from the audit indexes (custos audit reindex)")));
    }
    Ok(IncrementalReport { from: n, entries: r.entries, head_hash: r.head_hash, root: r.root })
}

/// The entry's sequence number when one of its index rows is missing.
fn unindexed(store: &dyn KvStore, raw: &[u8]) -> Option<u64> {
    let e = AuditEntry::decode(raw).ok()?;
    let all_there = index::rows(&e).iter().all(|r| matches!(store.get(Cf::AuditIndex, r), Ok(Some(_))));
    (!all_there).then_some(e.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{entry_for_tests, node_key, HEAD_KEY};
    use crate::store::{keys, MemStore, Op};

    /// Appends `count` chained entries with their tree nodes, index rows and head.
    fn append(store: &MemStore, count: u64) {
        let head = store.get(Cf::System, HEAD_KEY).unwrap().and_then(|b| ChainHead::decode(&b));
        let head = head.unwrap_or(ChainHead::GENESIS);
        let mut edge = Frontier::load(&StoredTree(store), head.next_seq).unwrap();
        let (mut prev, mut ops) = (head.last_hash, vec![]);
        for seq in head.next_seq..head.next_seq + count {
            let mut e = entry_for_tests(seq);
            e.prev_hash = prev;
            let raw = e.encode();
            prev = hash_entry(&raw);
            for (l, i, h) in edge.append(leaf_hash(&raw)) {
                ops.push(Op::Put(Cf::Merkle, node_key(l, i).to_vec(), h.to_vec()));
            }
            ops.extend(index::ops(&e));
            ops.push(Op::Put(Cf::Audit, keys::audit_entry(seq).to_vec(), raw));
        }
        let next = ChainHead { next_seq: head.next_seq + count, last_hash: prev };
        ops.push(Op::Put(Cf::System, HEAD_KEY.to_vec(), next.encode()));
        store.write(&ops, true).unwrap();
    }

    fn checkpoint_of(store: &MemStore) -> Checkpoint {
        let size = ChainHead::decode(&store.get(Cf::System, HEAD_KEY).unwrap().unwrap()).unwrap().next_seq;
        Checkpoint::new("test", size, merkle::root(&StoredTree(store), size).unwrap())
    }

    fn head(store: &MemStore) -> Option<ChainHead> {
        store.get(Cf::System, HEAD_KEY).unwrap().and_then(|b| ChainHead::decode(&b))
    }

    #[test]
    fn only_the_new_entries_are_read_and_the_log_must_only_have_grown() {
        let store = MemStore::default();
        append(&store, 37);
        let saved = checkpoint_of(&store);
        append(&store, 20);
        let mut seen = 0;
        let r = verify_from(&store, &saved, head(&store), |n| seen = n).unwrap();
        assert_eq!((r.from, r.entries, seen), (37, 57, 20));
        assert_eq!(r.root, checkpoint_of(&store).root);
        // From an empty log's checkpoint, everything is new.
        let empty = Checkpoint::new("test", 0, empty_root());
        assert_eq!(verify_from(&store, &empty, head(&store), |_| {}).unwrap().entries, 57);
        // Nothing new: nothing to read, still consistent.
        let now = checkpoint_of(&store);
        assert_eq!(verify_from(&store, &now, head(&store), |_| {}).unwrap().entries, 57);
    }

    #[test]
    fn a_rewritten_old_entry_or_new_entry_is_caught() {
        let store = MemStore::default();
        append(&store, 16);
        let saved = checkpoint_of(&store);
        append(&store, 5);
        // The checkpoint's last entry replaced (its tree nodes left alone).
        let good = store.get(Cf::Audit, &keys::audit_entry(15)).unwrap().unwrap();
        let mut bad = good.clone();
        let at = bad.len() - 3;
        bad[at] ^= 1;
        store.write(&[Op::Put(Cf::Audit, keys::audit_entry(15).to_vec(), bad)], false).unwrap();
        let err = verify_from(&store, &saved, head(&store), |_| {}).unwrap_err();
        assert!(matches!(err, VerifyError::Broken { seq: 15, .. }), "{err}");
        store.write(&[Op::Put(Cf::Audit, keys::audit_entry(15).to_vec(), good)], false).unwrap();
        // A new entry altered: the chain breaks there.
        let mut raw = store.get(Cf::Audit, &keys::audit_entry(18)).unwrap().unwrap();
        let at = raw.len() - 3;
        raw[at] ^= 1;
        store.write(&[Op::Put(Cf::Audit, keys::audit_entry(18).to_vec(), raw)], false).unwrap();
        let err = verify_from(&store, &saved, head(&store), |_| {}).unwrap_err();
        assert!(matches!(err, VerifyError::Broken { seq: 18, .. }), "{err}");
    }

    #[test]
    fn a_checkpoint_the_log_never_had_is_refused() {
        let store = MemStore::default();
        append(&store, 10);
        let mut foreign = checkpoint_of(&store);
        foreign.root[0] ^= 1;
        let err = verify_from(&store, &foreign, head(&store), |_| {}).unwrap_err();
        assert!(matches!(err, VerifyError::Inconsistent(_)), "{err}");
        let beyond = Checkpoint { size: 11, ..checkpoint_of(&store) };
        assert!(matches!(verify_from(&store, &beyond, head(&store), |_| {}), Err(VerifyError::Broken { seq: 10, .. })));
    }
}
