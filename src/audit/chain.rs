//! Hash-chain verification, naming the first bad sequence number.

use super::entry::{check, hash_entry, GENESIS_PREV, PREV_HASH_OFFSET};
use super::merkle::{empty_root, leaf_hash, Frontier, Hash};
use crate::store::{Cf, KvStore, StoreError};

/// What the writer records after every batch, in the same batch: the next
/// sequence number and the hash of the last entry. It lets verification see
/// a removed or altered last entry and a truncated log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub next_seq: u64,
    pub last_hash: [u8; 32],
}

impl ChainHead {
    pub const GENESIS: ChainHead = ChainHead { next_seq: 0, last_hash: GENESIS_PREV };

    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.next_seq.to_be_bytes().to_vec();
        v.extend_from_slice(&self.last_hash);
        v
    }

    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != 40 {
            return None;
        }
        Some(ChainHead { next_seq: u64::from_be_bytes(b[..8].try_into().ok()?), last_hash: b[8..].try_into().ok()? })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub entries: u64,
    pub head_hash: [u8; 32],
    /// RFC 6962 tree head of all the entries, recomputed from them.
    pub root: Hash,
    /// Tree heads at the sizes asked for (those not beyond the log).
    pub roots: Vec<(u64, Hash)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("audit log is not intact: first bad sequence number {seq}: {reason}")]
    Broken { seq: u64, reason: String },
    #[error("cannot read the audit log: {0}")]
    Store(String),
    /// The log does not hold what a trusted checkpoint committed to.
    #[error("{0}")]
    Inconsistent(String),
}

fn broken(seq: u64, reason: impl Into<String>) -> VerifyError {
    VerifyError::Broken { seq, reason: reason.into() }
}

/// Checks entries one at a time, in key order.
///
/// When entry `j`'s `prev_hash` does not match, either `j-1` was altered
/// (then `j+1` still chains to `j`) or `j` itself was (then `j+1` breaks
/// too); one entry of look-ahead tells which one to name.
pub struct Verifier {
    expected: u64,
    prev: [u8; 32],
    pending: Option<u64>,
    tree: Frontier,
    /// Sizes whose tree head to record, ascending.
    targets: Vec<u64>,
    roots: Vec<(u64, Hash)>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::with_roots_at(&[])
    }
}

impl Verifier {
    /// Also records the tree heads at these sizes (e.g. of checkpoints).
    pub fn with_roots_at(sizes: &[u64]) -> Self {
        let (mut targets, roots) = head_sizes(sizes);
        targets.reverse(); // popped from the end, smallest first
        Verifier { expected: 0, prev: GENESIS_PREV, pending: None, tree: Frontier::default(), targets, roots }
    }

    /// Goes on from a point already trusted: `next_seq` entries whose last
    /// hashes to `prev` and whose tree's right edge is `tree`.
    pub fn resume(next_seq: u64, prev: [u8; 32], tree: Frontier) -> Self {
        Verifier { expected: next_seq, prev, tree, ..Verifier::default() }
    }

    pub fn push(&mut self, key: &[u8], raw: &[u8]) -> Result<(), VerifyError> {
        self.push_hashed(key, raw, hash_entry(raw), leaf_hash(raw))
    }

    /// [`Verifier::push`] with the entry's chain hash (`hash_entry(raw)`) and
    /// leaf hash (`leaf_hash(raw)`) computed elsewhere.
    pub fn push_hashed(&mut self, key: &[u8], raw: &[u8], hash: Hash, leaf: Hash) -> Result<(), VerifyError> {
        let expected = self.expected;
        if key != expected.to_be_bytes() {
            return Err(broken(self.pending.unwrap_or(expected), "entry missing or out of order"));
        }
        let seq = check(raw).map_err(|e| broken(expected, e.to_string()))?;
        if seq != expected {
            return Err(broken(expected, "sequence number does not match the entry's position"));
        }
        // INVARIANT: check() accepted raw, so it is longer than the header.
        let links = raw[PREV_HASH_OFFSET..PREV_HASH_OFFSET + 32] == self.prev;
        if let Some(j) = self.pending {
            return Err(name_break(j, links));
        }
        if !links {
            self.pending = Some(expected);
        }
        self.prev = hash;
        self.expected += 1;
        self.tree.push(leaf);
        if self.targets.last() == Some(&self.expected) {
            self.targets.pop();
            self.roots.push((self.expected, self.tree.root()));
        }
        Ok(())
    }

    pub fn verified(&self) -> u64 {
        self.expected
    }

    /// Compares what was read with the recorded chain head.
    pub fn finish(self, head: Option<ChainHead>) -> Result<VerifyReport, VerifyError> {
        let Verifier { expected, prev, pending, tree, roots, .. } = self;
        if let Some(h) = head {
            if h.next_seq > expected {
                return Err(broken(
                    expected,
                    format!("log truncated: {} entries recorded, {} found", h.next_seq, expected),
                ));
            }
            if h.next_seq < expected {
                return Err(broken(h.next_seq, "entries beyond the recorded chain head"));
            }
            let links = h.last_hash == prev;
            if let Some(j) = pending {
                return Err(name_break(j, links));
            }
            if !links {
                return Err(broken(expected.saturating_sub(1), "last entry does not match the recorded chain head"));
            }
        } else if let Some(j) = pending {
            return Err(broken(j, "prev_hash does not match the previous entry"));
        }
        Ok(VerifyReport { entries: expected, head_hash: prev, root: tree.root(), roots })
    }
}

/// Verifies entries given in key order against each other and against the
/// recorded chain head. `progress` is called with the count verified so far.
pub fn verify<I>(
    entries: I,
    head: Option<ChainHead>,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, VerifyError>
where
    I: Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>>,
{
    let mut v = Verifier::default();
    for row in entries {
        let (key, raw) = row.map_err(|e| VerifyError::Store(e.to_string()))?;
        v.push(&key, &raw)?;
        if v.verified() % 65_536 == 0 {
            progress(v.verified());
        }
    }
    progress(v.verified());
    v.finish(head)
}

/// The sizes whose tree heads to record, ascending and without 0, and the
/// head of the empty tree if 0 is among them (the first of the heads).
pub(super) fn head_sizes(sizes: &[u64]) -> (Vec<u64>, Vec<(u64, Hash)>) {
    let mut targets: Vec<u64> = sizes.iter().copied().filter(|s| *s > 0).collect();
    targets.sort_unstable();
    targets.dedup();
    let roots = sizes.iter().filter(|s| **s == 0).map(|_| (0, empty_root())).take(1).collect();
    (targets, roots)
}

/// How many entries the log holds by its last key (0 if that key is not a
/// sequence number): what room for leaf hashes is made from, so that a
/// damaged head is reported rather than allocated.
pub(super) fn stored_len(store: &dyn KvStore) -> Result<u64, VerifyError> {
    let last = store.last(Cf::Audit).map_err(|e| VerifyError::Store(e.to_string()))?;
    Ok(last.and_then(|(k, _)| <[u8; 8]>::try_from(k.as_slice()).ok()).map_or(0, |k| u64::from_be_bytes(k) + 1))
}

/// Entries read from the store and handed to the verifying thread at once.
const CHUNK: usize = 4096;

struct Chunk {
    data: Vec<u8>,
    /// (start, key length, value length) per entry.
    spans: Vec<(usize, usize, usize)>,
    /// Merkle leaf hash per entry, computed by the reading thread while the
    /// verifying thread computes chain hashes (measured: of the splits tried,
    /// this keeps the two threads most evenly busy).
    leaves: Vec<Hash>,
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            data: Vec::with_capacity(CHUNK * 400),
            spans: Vec::with_capacity(CHUNK),
            leaves: Vec::with_capacity(CHUNK),
        }
    }
}

/// [`verify`] over the audit column family with two threads: one reads the
/// store (no allocation per entry, readahead), the other checks and hashes.
pub fn verify_store(
    store: &dyn KvStore,
    head: Option<ChainHead>,
    progress: impl FnMut(u64),
) -> Result<VerifyReport, VerifyError> {
    verify_store_with(store, head, &[], progress)
}

/// [`verify_store`], also recording the tree heads at `roots_at`. Memory
/// does not grow with the log (`--deep` reads the leaves again, streaming,
/// in [`super::check_stored_tree`]). A log with a recorded head is first
/// verified in two halves at once ([`super::halves`]); only if that does not accept it is
/// it read again here, entry by entry, to name the first bad one.
pub fn verify_store_with(
    store: &dyn KvStore,
    head: Option<ChainHead>,
    roots_at: &[u64],
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, VerifyError> {
    if let Some(h) = head.filter(|h| h.next_seq >= super::halves::MIN_ENTRIES) {
        if let Some(report) = super::halves::verify(store, h, roots_at, &mut progress)? {
            return Ok(report);
        }
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Chunk, StoreError>>(8);
    // Used chunks go back to the reader, so buffers are reused rather than
    // freshly allocated (and zeroed by the kernel) for every 4096 entries.
    let (recycle_tx, recycle_rx) = std::sync::mpsc::channel::<Chunk>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let fresh = || recycle_rx.try_recv().unwrap_or_else(|_| Chunk::new());
            let mut chunk = fresh();
            let mut receiver_gone = false;
            let result = store.for_each(Cf::Audit, b"", &mut |k, v| {
                chunk.spans.push((chunk.data.len(), k.len(), v.len()));
                chunk.data.extend_from_slice(k);
                chunk.data.extend_from_slice(v);
                chunk.leaves.push(leaf_hash(v));
                if chunk.spans.len() == CHUNK {
                    let full = std::mem::replace(&mut chunk, fresh());
                    receiver_gone = tx.send(Ok(full)).is_err();
                }
                !receiver_gone
            });
            let _ = match result {
                Ok(()) => tx.send(Ok(chunk)),
                Err(e) => tx.send(Err(e)),
            };
        });
        let mut v = Verifier::with_roots_at(roots_at);
        for chunk in rx {
            let mut chunk = chunk.map_err(|e| VerifyError::Store(e.to_string()))?;
            for (&(start, kl, vl), &leaf) in chunk.spans.iter().zip(&chunk.leaves) {
                let (key, raw) = (&chunk.data[start..start + kl], &chunk.data[start + kl..start + kl + vl]);
                v.push_hashed(key, raw, hash_entry(raw), leaf)?;
            }
            progress(v.verified());
            chunk.data.clear();
            chunk.spans.clear();
            chunk.leaves.clear();
            let _ = recycle_tx.send(chunk);
        }
        v.finish(head)
    })
}

fn name_break(j: u64, next_links: bool) -> VerifyError {
    if next_links {
        broken(j.saturating_sub(1), "entry content does not match the hash recorded after it")
    } else {
        broken(j, "prev_hash does not match the previous entry")
    }
}

#[cfg(test)]
mod tests {
    use super::super::entry::tests::sample;
    use super::*;
    use proptest::prelude::*;

    fn chain(n: u64) -> (Vec<crate::store::KvPair>, ChainHead) {
        let mut prev = GENESIS_PREV;
        let mut rows = vec![];
        for seq in 0..n {
            let raw = sample(seq, prev).encode();
            prev = hash_entry(&raw);
            rows.push((seq.to_be_bytes().to_vec(), raw));
        }
        (rows, ChainHead { next_seq: n, last_hash: prev })
    }

    /// Runs both verification paths (iterator, and two-thread over a store)
    /// and checks they agree.
    fn run(rows: &[(Vec<u8>, Vec<u8>)], head: ChainHead) -> Result<VerifyReport, VerifyError> {
        let a = verify(rows.iter().cloned().map(Ok), Some(head), |_| {});
        let store = crate::store::MemStore::default();
        let ops: Vec<_> = rows.iter().map(|(k, v)| crate::store::Op::Put(Cf::Audit, k.clone(), v.clone())).collect();
        store.write(&ops, false).unwrap();
        let b = verify_store(&store, Some(head), |_| {});
        assert_eq!(a, b);
        // The two-halves path accepts exactly what this one accepts, with
        // the same report, and hands everything else back.
        let c = super::super::halves::verify(&store, head, &[], &mut |_| {}).unwrap();
        match &a {
            Ok(r) if head.next_seq >= 2 => assert_eq!(c.as_ref(), Some(r)),
            Ok(_) => {}
            Err(_) => assert_eq!(c, None),
        }
        a
    }

    fn first_bad(r: Result<VerifyReport, VerifyError>) -> u64 {
        match r {
            Err(VerifyError::Broken { seq, .. }) => seq,
            other => panic!("expected a break, got {other:?}"),
        }
    }

    #[test]
    fn verification_recomputes_the_tree_heads() {
        let (rows, head) = chain(37);
        let leaves = crate::audit::merkle::Leaves(rows.iter().map(|(_, raw)| leaf_hash(raw)).collect());
        let store = crate::store::MemStore::default();
        let ops: Vec<_> = rows.iter().map(|(k, v)| crate::store::Op::Put(Cf::Audit, k.clone(), v.clone())).collect();
        store.write(&ops, false).unwrap();
        let r = verify_store_with(&store, Some(head), &[1, 16, 20, 37, 99], |_| {}).unwrap();
        let halves = super::super::halves::verify(&store, head, &[37, 0, 20, 99, 1, 16, 20], &mut |_| {}).unwrap();
        let halves = halves.expect("an intact log is accepted in halves");
        assert_eq!(halves.roots[0], (0, crate::audit::merkle::empty_root()));
        assert_eq!((&halves.roots[1..], halves.root), (&r.roots[..], r.root));
        assert_eq!(r.root, crate::audit::merkle::root(&leaves, 37).unwrap());
        let want: Vec<(u64, Hash)> =
            [1u64, 16, 20, 37].iter().map(|&n| (n, crate::audit::merkle::root(&leaves, n).unwrap())).collect();
        assert_eq!(r.roots, want, "99 is beyond the log and has no head");
    }

    #[test]
    fn empty_and_intact_logs_verify() {
        assert_eq!(run(&[], ChainHead::GENESIS).unwrap().entries, 0);
        let (rows, head) = chain(10);
        assert_eq!(run(&rows, head).unwrap().entries, 10);
    }

    proptest! {
        #[test]
        fn any_flipped_byte_is_named(n in 1u64..40, victim in any::<prop::sample::Index>(), byte in any::<prop::sample::Index>(), bit in 0u8..8) {
            let (mut rows, head) = chain(n);
            let v = victim.index(n as usize);
            let raw = &mut rows[v].1;
            let b = byte.index(raw.len());
            raw[b] ^= 1 << bit;
            prop_assert_eq!(first_bad(run(&rows, head)), v as u64);
        }

        #[test]
        fn a_removed_entry_is_named(n in 2u64..40, victim in any::<prop::sample::Index>()) {
            let (mut rows, head) = chain(n);
            let v = victim.index(n as usize);
            rows.remove(v);
            prop_assert_eq!(first_bad(run(&rows, head)), v as u64);
        }

        #[test]
        fn swapped_entries_are_named(n in 2u64..40, victim in any::<prop::sample::Index>()) {
            let (mut rows, head) = chain(n);
            let v = victim.index(n as usize - 1);
            let a = rows[v].1.clone();
            rows[v].1 = rows[v + 1].1.clone();
            rows[v + 1].1 = a;
            prop_assert_eq!(first_bad(run(&rows, head)), v as u64);
        }

        #[test]
        fn truncation_is_named(n in 2u64..40, keep in any::<prop::sample::Index>()) {
            let (mut rows, head) = chain(n);
            let k = keep.index(n as usize);
            rows.truncate(k);
            prop_assert_eq!(first_bad(run(&rows, head)), k as u64);
        }
    }
}
