//! `custos audit verify --deep`: every stored Merkle node (what inclusion
//! and consistency proofs are built from) against the entries, and no node
//! missing or extra. Streaming, so its memory does not grow with the log:
//! level 0 is compared with the leaf hashes of the entries, read again from
//! the log; each higher level with the two stored nodes below it, which are
//! themselves checked (level 0 against the entries, the others by the same
//! rule), so every node is checked against the entries by induction.

use super::merkle::{leaf_hash, node_hash};
use super::{entry_key, node_key};
use crate::store::{Cf, KvIter, KvStore};

/// Checks the stored tree of the first `n` entries. Two threads: level 0
/// against the entries, and the levels above it.
pub fn check_stored_tree(store: &dyn KvStore, n: u64) -> Result<(), String> {
    std::thread::scope(|scope| {
        let upper = scope.spawn(|| check_upper_levels(store, n));
        let lower = check_level_zero(store, n);
        lower.and(upper.join().unwrap_or_else(|_| Err("tree check failed".into())))
    })
}

/// The next stored node of `level`, which must be `index`.
fn next_node(nodes: &mut KvIter<'_>, level: u8, index: u64) -> Result<[u8; 32], String> {
    match nodes.next() {
        Some(Ok((k, v))) if k == node_key(level, index) => {
            v.try_into().map_err(|_| format!("node {level}/{index} is malformed"))
        }
        Some(Ok(_)) | None => Err(format!("node {level}/{index} is missing")),
        Some(Err(e)) => Err(e.to_string()),
    }
}

/// Fails if `nodes` still holds a node (one beyond what the log needs).
fn no_more(nodes: &mut KvIter<'_>, level: u8, want: u64) -> Result<(), String> {
    match nodes.next() {
        None => Ok(()),
        Some(Ok(_)) => Err(format!("level {level} holds more nodes than the {want} the log needs")),
        Some(Err(e)) => Err(e.to_string()),
    }
}

fn check_level_zero(store: &dyn KvStore, n: u64) -> Result<(), String> {
    let mut nodes = store.scan(Cf::Merkle, &[0], &[0]);
    let mut i = 0u64;
    let mut bad = None;
    store
        .for_each(Cf::Audit, &entry_key(0), &mut |k, raw| {
            if i == n {
                return false;
            }
            let checked = if k == entry_key(i) {
                next_node(&mut nodes, 0, i).and_then(|stored| {
                    if stored == leaf_hash(raw) {
                        Ok(())
                    } else {
                        Err(format!("node 0/{i} does not match the entries"))
                    }
                })
            } else {
                Err(format!("entry {i} is missing"))
            };
            if let Err(e) = checked {
                bad = Some(e);
                return false;
            }
            i += 1;
            true
        })
        .map_err(|e| e.to_string())?;
    if let Some(b) = bad {
        return Err(b);
    }
    if i < n {
        return Err(format!("the log holds {i} entries, the tree is checked for {n}"));
    }
    no_more(&mut nodes, 0, n)
}

/// Level by level from 1: node `l/i` must hash the stored `l-1/2i` and
/// `l-1/2i+1`, level `l` must hold `n >> l` nodes, and no level above the
/// last may hold any.
fn check_upper_levels(store: &dyn KvStore, n: u64) -> Result<(), String> {
    let mut level = 1u8;
    while n >> level > 0 {
        let want = n >> level;
        let below = level - 1;
        let mut lower = store.scan(Cf::Merkle, &[below], &[below]);
        let mut nodes = store.scan(Cf::Merkle, &[level], &[level]);
        for i in 0..want {
            let left = next_node(&mut lower, below, 2 * i)?;
            let right = next_node(&mut lower, below, 2 * i + 1)?;
            if next_node(&mut nodes, level, i)? != node_hash(&left, &right) {
                return Err(format!("node {level}/{i} does not match the entries"));
            }
        }
        no_more(&mut nodes, level, want)?;
        level += 1;
    }
    match store.scan(Cf::Merkle, &[], &[level]).next() {
        None => Ok(()),
        Some(Ok((k, _))) => {
            Err(format!("a node at level {} is beyond the tree of {n} entries", k.first().unwrap_or(&0)))
        }
        Some(Err(e)) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemStore, Op};

    #[test]
    fn every_stored_node_is_checked_and_none_may_be_missing_or_extra() {
        for n in [0u64, 1, 2, 3, 7, 64, 100] {
            let store = MemStore::default();
            crate::audit::synthetic::fill(&store, n).unwrap();
            assert_eq!(check_stored_tree(&store, n), Ok(()), "n = {n}");
            let mut places = vec![(0u8, n.saturating_sub(1))];
            if n >= 7 {
                places.extend([(0u8, 5u64), (1, 2), (2, 0), (1, (n >> 1) - 1)]);
            }
            for (level, index) in places.into_iter().filter(|_| n > 0) {
                let key = node_key(level, index).to_vec();
                let good = store.get(Cf::Merkle, &key).unwrap().unwrap();
                store.write(&[Op::Put(Cf::Merkle, key.clone(), vec![0; 32])], false).unwrap();
                assert!(check_stored_tree(&store, n).is_err(), "changed {level}/{index} of {n}");
                store.write(&[Op::Put(Cf::Merkle, key.clone(), vec![0; 31])], false).unwrap();
                assert!(check_stored_tree(&store, n).is_err(), "short {level}/{index} of {n}");
                store.write(&[Op::Delete(Cf::Merkle, key.clone())], false).unwrap();
                assert!(check_stored_tree(&store, n).is_err(), "removed {level}/{index} of {n}");
                store.write(&[Op::Put(Cf::Merkle, key, good)], false).unwrap();
                assert_eq!(check_stored_tree(&store, n), Ok(()), "restored {level}/{index} of {n}");
            }
            // Extra nodes: past the end of level 0, of level 1, and a level
            // above the top of the tree.
            let top = (0u8..64).take_while(|l| n >> l > 0).last().map_or(0, |l| l + 1);
            for (level, index) in [(0u8, n), (1, n >> 1), (top, 0), (top + 1, 0)] {
                let key = node_key(level, index).to_vec();
                store.write(&[Op::Put(Cf::Merkle, key.clone(), vec![1; 32])], false).unwrap();
                assert!(check_stored_tree(&store, n).is_err(), "extra node {level}/{index} of {n}");
                store.write(&[Op::Delete(Cf::Merkle, key)], false).unwrap();
            }
            assert_eq!(check_stored_tree(&store, n), Ok(()), "n = {n} after the extras");
        }
    }

    #[test]
    fn a_changed_entry_fails_level_zero() {
        let store = MemStore::default();
        crate::audit::synthetic::fill(&store, 20).unwrap();
        let key = entry_key(9).to_vec();
        let mut raw = store.get(Cf::Audit, &key).unwrap().unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        store.write(&[Op::Put(Cf::Audit, key.clone(), raw)], false).unwrap();
        assert_eq!(check_stored_tree(&store, 20), Err("node 0/9 does not match the entries".into()));
        store.write(&[Op::Delete(Cf::Audit, key)], false).unwrap();
        assert_eq!(check_stored_tree(&store, 20), Err("entry 9 is missing".into()));
    }
}
