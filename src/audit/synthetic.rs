//! Synthetic audit logs for benchmarks (`examples/fill_audit.rs`,
//! `benches/verify.rs`): realistic entries written with the real encoder and
//! chain, in large unsynced batches.

use super::merkle::{leaf_hash, Frontier};
use super::{entry_key, hash_entry, node_key, AuditEntry, ChainHead, EntryBody, Outcome, GENESIS_PREV, HEAD_KEY};
use crate::store::{Cf, KvStore, Op, StoreError};
use time::OffsetDateTime;

/// Appends `n` entries to an empty log; returns the average entry size.
pub fn fill(store: &dyn KvStore, n: u64) -> Result<usize, StoreError> {
    let start = OffsetDateTime::now_utc();
    let mut prev = GENESIS_PREV;
    let mut ops = Vec::with_capacity(10_000);
    let mut bytes = 0usize;
    let mut tree = Frontier::default();
    for seq in 0..n {
        let e = AuditEntry {
            seq,
            time: start + time::Duration::microseconds(seq as i64 * 10),
            prev_hash: prev,
            policy_hash: "7af88ac60f85f1e67a7ad6b1284a1f482e1c8a90216d28e198c6cce59a163164".into(),
            body: EntryBody {
                actor: "prn_01m83zs40b0jzdv8zsv6c5gpb6".into(),
                roles: vec!["service".into()],
                action: "dossier.read".into(),
                resource: format!("dos_01m83zs48ew18za46br4z{:05}", seq % 100_000),
                subjects: vec!["sub_01m83zs48ej3c7xr65qa2awyxe".into()],
                purpose: "service_delivery".into(),
                outcome: Outcome::Allow,
                reason: "service: own region; version 1".into(),
                released: vec![],
                masked: vec![],
                withheld: vec![],
                request_id: format!("req_01m83zsasrgzzpqzkmn17{:05}", seq % 100_000),
                token_id: "tok_01m83zs40b0jzdv8zsv6c5gpb7".into(),
            },
        };
        let raw = e.encode();
        bytes += raw.len();
        prev = hash_entry(&raw);
        for (level, index, hash) in tree.append(leaf_hash(&raw)) {
            ops.push(Op::Put(Cf::Merkle, node_key(level, index).to_vec(), hash.to_vec()));
        }
        ops.push(Op::Put(Cf::Audit, entry_key(seq).to_vec(), raw));
        if ops.len() >= 30_000 {
            store.write(&ops, false)?;
            ops.clear();
        }
    }
    ops.push(Op::Put(Cf::System, HEAD_KEY.to_vec(), ChainHead { next_seq: n, last_hash: prev }.encode()));
    store.write(&ops, true)?;
    store.purge(Cf::Audit)?;
    Ok(bytes / n.max(1) as usize)
}
