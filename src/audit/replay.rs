//! Appending entries that were written elsewhere (a restore appends the
//! entries shipped to a backup target after its set): each must continue
//! the chain exactly; its Merkle nodes and the head are written with it.

use super::merkle::{leaf_hash, Frontier};
use super::{hash_entry, AuditEntry, ChainHead, StoredTree, HEAD_KEY};
use crate::store::keys;
use crate::store::{Cf, KvStore, Op};

/// Appends the entries of `raws` that come after the log's head, in order.
/// Stops with an error at the first entry that does not continue the chain
/// (wrong sequence number or previous hash): nothing after it is appended.
/// Returns how many were appended.
pub fn append_entries(store: &dyn KvStore, raws: &[Vec<u8>]) -> anyhow::Result<u64> {
    let mut head = match store.get(Cf::System, HEAD_KEY)? {
        Some(b) => ChainHead::decode(&b).ok_or_else(|| anyhow::anyhow!("audit chain head record is malformed"))?,
        None => ChainHead::GENESIS,
    };
    let mut frontier = Frontier::load(&StoredTree(store), head.next_seq).map_err(anyhow::Error::msg)?;
    let mut ops = Vec::new();
    let mut appended = 0;
    for raw in raws {
        let e = AuditEntry::decode(raw)?;
        if e.seq < head.next_seq {
            continue;
        }
        anyhow::ensure!(
            e.seq == head.next_seq && e.prev_hash == head.last_hash,
            "entry {} does not continue the log at {}",
            e.seq,
            head.next_seq
        );
        for (level, index, hash) in frontier.append(leaf_hash(raw)) {
            ops.push(Op::Put(Cf::Merkle, keys::merkle_node(level, index).to_vec(), hash.to_vec()));
        }
        ops.push(Op::Put(Cf::Audit, keys::audit_entry(e.seq).to_vec(), raw.clone()));
        ops.extend(super::index::ops(&e));
        head = ChainHead { next_seq: e.seq + 1, last_hash: hash_entry(raw) };
        appended += 1;
    }
    ops.push(Op::Put(Cf::System, HEAD_KEY.to_vec(), head.encode()));
    store.write(&ops, true)?;
    Ok(appended)
}
