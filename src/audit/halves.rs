//! Full verification on two threads that each read and hash half of the log.
//!
//! The chain is sequential in what it means (entry `j` names the hash of
//! `j-1`) but not in what it costs: every entry's hashes depend only on its
//! own bytes. So each thread reads its half straight from the store (no
//! copy, no hand-over), checks every entry's form and position, computes
//! its chain and leaf hashes and checks the links inside the half; the one
//! link between the halves, the count and the recorded head are checked
//! after both are done. The first half builds the Merkle tree from entry 0;
//! the second hashes its leaves into complete blocks, which then join it.
//!
//! This path only ever says "intact". Whatever it does not accept (a bad
//! entry, a gap, a broken link, a count or head that differs) sends the
//! caller back to the one-entry-at-a-time [`super::Verifier`], which names
//! the first bad sequence number exactly as before; tampering is rare, and
//! reading the log twice then costs nothing that matters.

use super::chain::{head_sizes, stored_len, ChainHead, VerifyError, VerifyReport};
use super::entry::{check, hash_entry, GENESIS_PREV, PREV_HASH_OFFSET};
use super::merkle::{leaf_hash, Frontier, Hash};
use crate::store::{Cf, KvStore, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};

/// Below this many entries one thread is as quick.
pub(super) const MIN_ENTRIES: u64 = 1 << 16;

/// The second half hashes its leaves into complete subtrees of 2^this
/// leaves (it starts on such a boundary), which join the first half's tree
/// afterwards: 4,096 leaves, one hash kept per block.
const BLOCK_LEVEL: u8 = 12;

/// What one half found, when everything in it checked.
struct Half {
    /// The `prev_hash` its first entry names (checked against the end of
    /// the half before it, or the genesis value); `None` if it is empty.
    first_prev: Option<Hash>,
    /// The chain hash of its last entry; `None` if it is empty.
    last: Option<Hash>,
    /// One past its last sequence number.
    end: u64,
    /// The first half: the whole tree so far. The second: its last,
    /// incomplete block.
    tree: Frontier,
    /// The second half: the hash of each complete block, in order.
    blocks: Vec<Hash>,
    /// The first half: the tree heads asked for in it, as (size, head).
    heads: Vec<(u64, Hash)>,
    /// The second half: those asked for in it, as (size, complete blocks
    /// before it, the block so far), to be joined to the first half's tree.
    partial: Vec<(u64, usize, Frontier)>,
}

/// Verifies the log against `head` on two threads. `Ok(None)` when
/// anything does not check: the caller then runs the sequential
/// verification, which names the first bad entry.
pub(super) fn verify(
    store: &dyn KvStore,
    head: ChainHead,
    roots_at: &[u64],
    progress: &mut dyn FnMut(u64),
) -> Result<Option<VerifyReport>, VerifyError> {
    let n = head.next_seq;
    // A log whose last key is not the head's last entry is not whole.
    if stored_len(store)? != n {
        return Ok(None);
    }
    // The seam falls on a block boundary, near the middle.
    let mid = (n / 2) >> BLOCK_LEVEL << BLOCK_LEVEL;
    let (targets, mut roots) = head_sizes(roots_at);
    let (early, late) = targets.split_at(targets.partition_point(|s| *s <= mid));
    let done = AtomicU64::new(0);
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| {
            let range = Range { from: mid, to: None, blocks: true, targets: late };
            read_half(store, range, &done, &mut |_| {})
        });
        let range = Range { from: 0, to: Some(mid), blocks: false, targets: early };
        let first = read_half(store, range, &done, &mut *progress);
        (first, second.join().unwrap_or_else(|_| Err(StoreError::Backend("verification thread failed".into()))))
    });
    let store_err = |e: StoreError| VerifyError::Store(e.to_string());
    let (Some(first), Some(second)) = (first.map_err(store_err)?, second.map_err(store_err)?) else {
        return Ok(None);
    };
    // The first half is empty when the log is shorter than two blocks.
    let seam = if mid == 0 { Some(GENESIS_PREV) } else { first.last };
    let whole = first.end == mid
        && first.first_prev.is_none_or(|p| p == GENESIS_PREV)
        && second.first_prev == seam
        && second.end == n
        && second.last == Some(head.last_hash);
    if !whole {
        return Ok(None);
    }
    // The tree: the first half's, then the second half's blocks, then its
    // last incomplete block; a head asked for inside the second half is
    // the tree at its block's start joined with that block so far.
    roots.extend(first.heads);
    let mut tree = first.tree;
    let mut joined = 0;
    for (size, before, part) in &second.partial {
        for block in &second.blocks[joined..*before] {
            tree.push_subtree(BLOCK_LEVEL, *block);
        }
        joined = *before;
        roots.push((*size, tree.then(part).root()));
    }
    for block in &second.blocks[joined..] {
        tree.push_subtree(BLOCK_LEVEL, *block);
    }
    let root = tree.then(&second.tree).root();
    progress(n);
    Ok(Some(VerifyReport { entries: n, head_hash: head.last_hash, root, roots }))
}

/// Where a half starts and stops, and what it hashes.
struct Range<'a> {
    from: u64,
    /// Stops at this entry; the end of the log if `None`.
    to: Option<u64>,
    /// Hashes the leaves into blocks (the second half), rather than into
    /// one tree from entry 0 (the first).
    blocks: bool,
    /// Sizes in the range whose tree head is asked for, ascending.
    targets: &'a [u64],
}

/// Reads a range of entries, checking each one's key, form and sequence
/// number and each link after the first. `None` as soon as one does not
/// check.
fn read_half(
    store: &dyn KvStore,
    range: Range<'_>,
    done: &AtomicU64,
    progress: &mut dyn FnMut(u64),
) -> Result<Option<Half>, StoreError> {
    let Range { from, to, blocks: in_blocks, targets } = range;
    let (mut next, mut first_prev, mut last, mut ok) = (from, None, None::<Hash>, true);
    let (mut tree, mut blocks, mut heads, mut partial) = (Frontier::default(), Vec::new(), Vec::new(), Vec::new());
    let mut targets = targets.iter().peekable();
    // The first half starts before any key, as the sequential check does,
    // so that nothing sorting ahead of entry 0 goes unseen; it stops at the
    // second half's first key, and only there.
    let start = if from == 0 { Vec::new() } else { from.to_be_bytes().to_vec() };
    store.for_each(Cf::Audit, &start, &mut |key, raw| {
        let key_fits = key == next.to_be_bytes();
        if to == Some(next) {
            ok = key_fits;
            return false;
        }
        if !key_fits || check(raw).ok() != Some(next) {
            ok = false;
            return false;
        }
        // INVARIANT: check() accepted raw, so it is longer than the header.
        let link = &raw[PREV_HASH_OFFSET..PREV_HASH_OFFSET + 32];
        match last {
            None => first_prev = link.try_into().ok(),
            Some(prev) if link != prev.as_slice() => {
                ok = false;
                return false;
            }
            Some(_) => {}
        }
        last = Some(hash_entry(raw));
        tree.push(leaf_hash(raw));
        next += 1;
        if in_blocks && tree.size() == 1 << BLOCK_LEVEL {
            blocks.push(tree.root());
            tree = Frontier::default();
        }
        if targets.peek() == Some(&&next) {
            targets.next();
            if in_blocks {
                partial.push((next, blocks.len(), tree.clone()));
            } else {
                heads.push((next, tree.root()));
            }
        }
        if (next - from).is_multiple_of(65_536) {
            progress(done.fetch_add(65_536, Ordering::Relaxed) + 65_536);
        }
        true
    })?;
    Ok(ok.then_some(Half { first_prev, last, end: next, tree, blocks, heads, partial }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::Verifier;
    use crate::store::{MemStore, Op};

    fn filled(n: u64) -> (MemStore, ChainHead) {
        let store = MemStore::default();
        crate::audit::synthetic::fill(&store, n).unwrap();
        let mut v = Verifier::default();
        store.for_each(Cf::Audit, b"", &mut |k, raw| v.push(k, raw).is_ok()).unwrap();
        let head = ChainHead { next_seq: n, last_hash: v.finish(None).unwrap().head_hash };
        (store, head)
    }

    fn sequential(store: &MemStore, head: ChainHead, roots_at: &[u64]) -> Result<VerifyReport, VerifyError> {
        let rows: Vec<_> = store.scan(Cf::Audit, b"", b"").collect::<Result<_, _>>().unwrap();
        let mut v = Verifier::with_roots_at(roots_at);
        for (k, raw) in &rows {
            v.push(k, raw)?;
        }
        v.finish(Some(head))
    }

    #[test]
    fn an_intact_log_gives_the_sequential_report() {
        // Logs of one half only (shorter than two blocks), and of both,
        // with heads asked for on either side of the seam and of a block.
        for n in [1u64, 2, 3, 1000, 4097, 8192, 20_485] {
            let (store, head) = filled(n);
            let mid = (n / 2) >> BLOCK_LEVEL << BLOCK_LEVEL;
            let at =
                [0, 1, 2, mid.saturating_sub(1), mid, mid + 1, mid + 4095, mid + 4096, mid + 4097, n - 1, n, n + 5];
            let want = sequential(&store, head, &at).unwrap();
            let mut seen = 0;
            let got = verify(&store, head, &at, &mut |p| seen = p).unwrap();
            assert_eq!(got, Some(want), "n = {n}");
            assert_eq!(seen, n);
        }
    }

    #[test]
    fn a_key_the_sequential_check_would_refuse_is_not_skipped() {
        let n = 10_000u64;
        let mid = (n / 2) >> BLOCK_LEVEL << BLOCK_LEVEL;
        let stray_before_zero = vec![0u8];
        let mut stray_at_the_seam = (mid - 1).to_be_bytes().to_vec();
        stray_at_the_seam.push(0);
        let stray_after_the_end = vec![0xff; 9];
        for stray in [stray_before_zero, stray_at_the_seam, stray_after_the_end] {
            let (store, head) = filled(n);
            let raw = store.get(Cf::Audit, &0u64.to_be_bytes()).unwrap().unwrap();
            store.write(&[Op::Put(Cf::Audit, stray.clone(), raw)], false).unwrap();
            assert!(sequential(&store, head, &[]).is_err(), "{stray:?}");
            assert_eq!(verify(&store, head, &[], &mut |_| {}).unwrap(), None, "{stray:?}");
        }
    }

    #[test]
    fn a_break_at_the_seam_or_in_the_head_is_handed_back() {
        let n = 10_000u64;
        let (store, head) = filled(n);
        // The first half's last entry, altered (still well-formed): every
        // link inside either half holds, so only the seam check sees it.
        let key = (((n / 2) >> BLOCK_LEVEL << BLOCK_LEVEL) - 1).to_be_bytes();
        let mut raw = store.get(Cf::Audit, &key).unwrap().unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        store.write(&[Op::Put(Cf::Audit, key.to_vec(), raw)], false).unwrap();
        assert!(sequential(&store, head, &[]).is_err());
        assert_eq!(verify(&store, head, &[], &mut |_| {}).unwrap(), None);

        let (store, head) = filled(n);
        for wrong in [
            ChainHead { next_seq: n + 1, ..head },
            ChainHead { next_seq: n - 1, ..head },
            ChainHead { last_hash: [7; 32], ..head },
        ] {
            assert!(sequential(&store, wrong, &[]).is_err());
            assert_eq!(verify(&store, wrong, &[], &mut |_| {}).unwrap(), None);
        }
    }

    #[test]
    fn a_head_far_beyond_the_log_is_reported_not_allocated() {
        let (store, head) = filled(300);
        let wrong = ChainHead { next_seq: 1 << 50, ..head };
        assert_eq!(verify(&store, wrong, &[], &mut |_| {}).unwrap(), None);
        let r = crate::audit::chain::verify_store_with(&store, Some(wrong), &[], |_| {});
        assert!(matches!(r, Err(VerifyError::Broken { seq: 300, .. })), "{r:?}");
    }

    #[test]
    fn the_iterator_path_agrees() {
        let (store, head) = filled(300);
        let rows = store.scan(Cf::Audit, b"", b"");
        assert_eq!(
            verify(&store, head, &[], &mut |_| {}).unwrap(),
            Some(super::super::chain::verify(rows, Some(head), |_| {}).unwrap())
        );
    }
}
