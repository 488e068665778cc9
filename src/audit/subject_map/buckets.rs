//! The map's leaves in memory: in 65,536 buckets by their keys' first 16
//! bits, each sorted, with its subtree's hash kept until a leaf in it
//! changes, and the top 16 levels of the tree (leaf count and hash per
//! node) kept until any bucket changes. A root after a checkpoint's changes
//! hashes the changed buckets and at most 65,535 nodes above them; a proof
//! reads 16 kept hashes and hashes inside one bucket.

use super::{bit, inner, prove_from, subtree, MapKey, MapProof, MapValue, Terminal, EMPTY};
use crate::audit::merkle::Hash;

const BITS: usize = 16;
const BUCKETS: usize = 1 << BITS;

pub(super) struct Leaves {
    buckets: Vec<Vec<(MapKey, MapValue)>>,
    /// Each bucket's subtree hash at depth 16; `None` once changed.
    hashes: Vec<Option<Hash>>,
    /// The top of the tree, heap-ordered: node `i`'s halves are `2i` and
    /// `2i + 1`, bucket `b` is node `BUCKETS + b`; each node's leaf count
    /// and hash. Empty once any bucket changed.
    top: Vec<(u64, Hash)>,
    len: u64,
}

fn bucket_of(key: &MapKey) -> usize {
    (key[0] as usize) << 8 | key[1] as usize
}

impl Leaves {
    pub(super) fn new() -> Self {
        Leaves { buckets: vec![Vec::new(); BUCKETS], hashes: vec![None; BUCKETS], top: Vec::new(), len: 0 }
    }

    pub(super) fn get(&self, key: &MapKey) -> Option<MapValue> {
        let b = &self.buckets[bucket_of(key)];
        b.binary_search_by(|(k, _)| k.cmp(key)).ok().map(|i| b[i].1)
    }

    pub(super) fn set(&mut self, key: MapKey, value: MapValue) {
        let i = bucket_of(&key);
        let b = &mut self.buckets[i];
        match b.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(j) => b[j].1 = value,
            Err(j) => {
                b.insert(j, (key, value));
                self.len += 1;
            }
        }
        self.hashes[i] = None;
        self.top.clear();
    }

    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Every leaf, sorted by key.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = &(MapKey, MapValue)> {
        self.buckets.iter().flatten()
    }

    fn refresh(&mut self) {
        if !self.top.is_empty() {
            return;
        }
        let mut top = vec![(0u64, EMPTY); 2 * BUCKETS];
        for (b, leaves) in self.buckets.iter().enumerate() {
            let h = *self.hashes[b].get_or_insert_with(|| subtree(leaves, BITS));
            top[BUCKETS + b] = (leaves.len() as u64, h);
        }
        for i in (1..BUCKETS).rev() {
            let ((c0, h0), (c1, h1)) = (top[2 * i], top[2 * i + 1]);
            // One leaf in all is that leaf's hash; none is empty.
            top[i] = match c0 + c1 {
                0 => (0, EMPTY),
                1 if c0 == 1 => (1, h0),
                1 => (1, h1),
                n => (n, inner(&h0, &h1)),
            };
        }
        self.top = top;
    }

    pub(super) fn root(&mut self) -> Hash {
        self.refresh();
        self.top[1].1
    }

    pub(super) fn prove(&mut self, key: &MapKey) -> MapProof {
        self.refresh();
        let mut siblings = Vec::new();
        let mut node = 1usize;
        while node < BUCKETS {
            if self.top[node].0 <= 1 {
                return MapProof { siblings, terminal: self.single(node) };
            }
            let (path, other) =
                if bit(key, siblings.len()) { (2 * node + 1, 2 * node) } else { (2 * node, 2 * node + 1) };
            siblings.push(self.top[other].1);
            node = path;
        }
        prove_from(&self.buckets[node - BUCKETS], key, siblings)
    }

    /// The end of a walk at a node holding at most one leaf.
    fn single(&self, mut node: usize) -> Terminal {
        if self.top[node].0 == 0 {
            return Terminal::Empty;
        }
        while node < BUCKETS {
            node = if self.top[2 * node].0 == 1 { 2 * node } else { 2 * node + 1 };
        }
        match self.buckets[node - BUCKETS].first() {
            Some((key, value)) => Terminal::Leaf { key: *key, value: *value },
            None => Terminal::Empty,
        }
    }
}
