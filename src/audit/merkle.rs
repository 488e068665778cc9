//! The RFC 6962 / RFC 9162 Merkle tree over audit entries.
//!
//! leaf = SHA-256(0x00 || canonical entry bytes), node = SHA-256(0x01 || l || r).
//! Every complete subtree (2^level leaves starting at index * 2^level) is
//! stored once, when its last leaf is appended: appending is O(log n) and
//! amortised O(1) node writes. Any tree head and any proof for any size up
//! to the current one is computed from stored nodes with O(log n) reads.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// Root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

pub fn leaf_hash(raw: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(raw);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Where the hashes of complete subtrees come from.
pub trait NodeSource {
    /// Hash of the complete subtree of 2^level leaves starting at leaf
    /// `index << level`. Only asked for subtrees inside the current tree.
    fn node(&self, level: u8, index: u64) -> Result<Hash, String>;
}

/// Largest power of two strictly smaller than n (n >= 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[start:end]); `start` is aligned to the largest power of two that
/// fits, as it always is inside the RFC 6962 recursion.
pub fn subtree_hash(src: &dyn NodeSource, start: u64, end: u64) -> Result<Hash, String> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros() as u8;
        return src.node(level, start >> level);
    }
    let k = split(n);
    Ok(node_hash(&subtree_hash(src, start, start + k)?, &subtree_hash(src, start + k, end)?))
}

/// The tree head of the first `size` leaves.
pub fn root(src: &dyn NodeSource, size: u64) -> Result<Hash, String> {
    if size == 0 {
        return Ok(empty_root());
    }
    subtree_hash(src, 0, size)
}

/// RFC 6962 PATH(index, D[0:size]), leaf to root order.
pub fn inclusion_proof(src: &dyn NodeSource, index: u64, size: u64) -> Result<Vec<Hash>, String> {
    if index >= size {
        return Err(format!("leaf {index} is not in a tree of size {size}"));
    }
    let mut out = Vec::new();
    path(src, index, 0, size, &mut out)?;
    Ok(out)
}

fn path(src: &dyn NodeSource, m: u64, start: u64, end: u64, out: &mut Vec<Hash>) -> Result<(), String> {
    let n = end - start;
    if n == 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(src, m, start, start + k, out)?;
        out.push(subtree_hash(src, start + k, end)?);
    } else {
        path(src, m - k, start + k, end, out)?;
        out.push(subtree_hash(src, start, start + k)?);
    }
    Ok(())
}

/// RFC 6962 PROOF(m, D[0:n]).
pub fn consistency_proof(src: &dyn NodeSource, m: u64, n: u64) -> Result<Vec<Hash>, String> {
    if m == 0 || m > n {
        return Err(format!("no consistency proof from size {m} to size {n}"));
    }
    let mut out = Vec::new();
    subproof(src, m, 0, n, true, &mut out)?;
    Ok(out)
}

fn subproof(
    src: &dyn NodeSource,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), String> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(subtree_hash(src, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, start, start + k, whole, out)?;
        out.push(subtree_hash(src, start + k, end)?);
    } else {
        subproof(src, m - k, start + k, end, false, out)?;
        out.push(subtree_hash(src, start, start + k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.3.2.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && &r == root
}

/// RFC 9162 §2.1.4.2.
pub fn verify_consistency(m: u64, n: u64, proof: &[Hash], root_m: &Hash, root_n: &Hash) -> bool {
    if m == 0 || m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && root_m == root_n;
    }
    let mut proof = proof.to_vec();
    if m.is_power_of_two() {
        proof.insert(0, *root_m);
    }
    let Some((first, rest)) = proof.split_first() else { return false };
    let (mut fnode, mut snode) = (m - 1, n - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && &fr == root_m && &sr == root_n
}

/// The right edge of a growing tree: the hashes of the complete subtrees
/// that make up the current size (one per set bit, largest first). Appending
/// a leaf returns the complete subtrees it finishes, to be stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (level, hash), levels strictly decreasing.
    stack: Vec<(u8, Hash)>,
}

impl Frontier {
    /// Rebuilds the right edge of a tree of `size` leaves from stored nodes.
    pub fn load(src: &dyn NodeSource, size: u64) -> Result<Self, String> {
        let mut stack = Vec::new();
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size & (1u64 << level) != 0 {
                stack.push((level, src.node(level, start >> level)?));
                start += 1u64 << level;
            }
        }
        Ok(Frontier { size, stack })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; returns every complete subtree it completes as
    /// (level, index, hash), the leaf itself first.
    pub fn append(&mut self, leaf: Hash) -> Vec<(u8, u64, Hash)> {
        let index = self.size;
        let mut done = vec![(0u8, index, leaf)];
        let (mut level, mut hash) = (0u8, leaf);
        while let Some(&(l, left)) = self.stack.last() {
            if l != level {
                break;
            }
            self.stack.pop();
            hash = node_hash(&left, &hash);
            level += 1;
            done.push((level, index >> level, hash));
        }
        self.stack.push((level, hash));
        self.size += 1;
        done
    }

    /// Appends a leaf without reporting the finished subtrees (verification).
    pub fn push(&mut self, leaf: Hash) {
        self.push_subtree(0, leaf);
    }

    /// Appends a complete subtree of 2^`level` leaves whose hash is `hash`.
    /// The size must be a multiple of 2^`level` (a subtree of the tree
    /// starts only there).
    pub fn push_subtree(&mut self, level: u8, hash: Hash) {
        debug_assert!(
            self.size.is_multiple_of(1u64 << level),
            "a subtree of level {level} cannot start at {}",
            self.size
        );
        let added = 1u64 << level;
        let (mut level, mut hash) = (level, hash);
        while let Some(&(l, left)) = self.stack.last() {
            if l != level {
                break;
            }
            self.stack.pop();
            hash = node_hash(&left, &hash);
            level += 1;
        }
        self.stack.push((level, hash));
        self.size += added;
    }

    /// The right edge of this tree followed by `tail`'s leaves, where
    /// `tail` was built on its own from an empty tree. Holds when
    /// `tail` has fewer leaves than the largest power of two dividing this
    /// tree's size (then `tail`'s subtrees all sit below this tree's).
    pub fn then(&self, tail: &Frontier) -> Frontier {
        debug_assert!(self.size == 0 || tail.size < 1u64 << self.size.trailing_zeros());
        let mut stack = self.stack.clone();
        stack.extend_from_slice(&tail.stack);
        Frontier { size: self.size + tail.size, stack }
    }

    /// The tree head at the current size.
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some(&(_, mut h)) = it.next() else { return empty_root() };
        for (_, left) in it {
            h = node_hash(left, &h);
        }
        h
    }
}

/// Leaf hashes held in memory (tests, and verification of small ranges).
pub struct Leaves(pub Vec<Hash>);

impl NodeSource for Leaves {
    fn node(&self, level: u8, index: u64) -> Result<Hash, String> {
        let start = (index << level) as usize;
        let end = start + (1usize << level);
        let leaves = self.0.get(start..end).ok_or("subtree outside the tree")?;
        Ok(fold(leaves))
    }
}

fn fold(leaves: &[Hash]) -> Hash {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let half = leaves.len() / 2;
    node_hash(&fold(&leaves[..half]), &fold(&leaves[half..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// The RFC 6962 reference inputs (Certificate Transparency test data).
    fn ct_leaves() -> Vec<Hash> {
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
            .iter()
            .map(|x| leaf_hash(&hex::decode(x).unwrap()))
            .collect()
    }

    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn rfc6962_roots() {
        let leaves = Leaves(ct_leaves());
        let mut f = Frontier::default();
        assert_eq!(f.root(), h(ROOTS[0]));
        for n in 0..=8u64 {
            assert_eq!(root(&leaves, n).unwrap(), h(ROOTS[n as usize]), "size {n}");
            if n > 0 {
                f.append(leaves.0[n as usize - 1]);
                assert_eq!(f.root(), h(ROOTS[n as usize]), "frontier size {n}");
            }
        }
    }

    #[test]
    fn rfc6962_inclusion_paths() {
        let leaves = Leaves(ct_leaves());
        // (index, size, path): CT reference vectors (index 0-based).
        let vectors: [(u64, u64, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (i, n, want) in vectors {
            let got = inclusion_proof(&leaves, i, n).unwrap();
            assert_eq!(got, want.iter().map(|x| h(x)).collect::<Vec<_>>(), "leaf {i} size {n}");
            assert!(verify_inclusion(i, n, &leaves.0[i as usize], &got, &h(ROOTS[n as usize])));
        }
    }

    #[test]
    fn rfc6962_consistency_paths() {
        let leaves = Leaves(ct_leaves());
        let vectors: [(u64, u64, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (m, n, want) in vectors {
            let got = consistency_proof(&leaves, m, n).unwrap();
            assert_eq!(got, want.iter().map(|x| h(x)).collect::<Vec<_>>(), "{m} -> {n}");
            assert!(verify_consistency(m, n, &got, &h(ROOTS[m as usize]), &h(ROOTS[n as usize])));
        }
    }

    fn random_leaves(n: usize, seed: u8) -> Leaves {
        Leaves((0..n).map(|i| leaf_hash(&[seed, (i % 256) as u8, (i / 256) as u8])).collect())
    }

    proptest! {
        #[test]
        fn every_inclusion_proof_verifies_and_a_changed_hash_fails(n in 1usize..200, i in any::<prop::sample::Index>(), seed in any::<u8>(), flip in any::<prop::sample::Index>()) {
            let leaves = random_leaves(n, seed);
            let i = i.index(n) as u64;
            let r = root(&leaves, n as u64).unwrap();
            let proof = inclusion_proof(&leaves, i, n as u64).unwrap();
            prop_assert!(verify_inclusion(i, n as u64, &leaves.0[i as usize], &proof, &r));
            let mut bad_leaf = leaves.0[i as usize];
            bad_leaf[0] ^= 1;
            prop_assert!(!verify_inclusion(i, n as u64, &bad_leaf, &proof, &r));
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let k = flip.index(bad.len());
                bad[k][31] ^= 0x80;
                prop_assert!(!verify_inclusion(i, n as u64, &leaves.0[i as usize], &bad, &r));
            }
            if n > 1 {
                prop_assert!(!verify_inclusion((i + 1) % n as u64, n as u64, &leaves.0[i as usize], &proof, &r));
            }
        }

        #[test]
        fn every_consistency_proof_verifies_and_a_changed_hash_fails(n in 1usize..200, m in any::<prop::sample::Index>(), seed in any::<u8>(), flip in any::<prop::sample::Index>()) {
            let leaves = random_leaves(n, seed);
            let m = m.index(n) as u64 + 1;
            let (rm, rn) = (root(&leaves, m).unwrap(), root(&leaves, n as u64).unwrap());
            let proof = consistency_proof(&leaves, m, n as u64).unwrap();
            prop_assert!(verify_consistency(m, n as u64, &proof, &rm, &rn));
            let mut bad_root = rm;
            bad_root[0] ^= 1;
            prop_assert!(!verify_consistency(m, n as u64, &proof, &bad_root, &rn));
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let k = flip.index(bad.len());
                bad[k][0] ^= 1;
                prop_assert!(!verify_consistency(m, n as u64, &bad, &rm, &rn));
            }
        }

        #[test]
        fn frontier_matches_the_definition_and_reloads(n in 0usize..300, seed in any::<u8>()) {
            let leaves = random_leaves(n, seed);
            let mut f = Frontier::default();
            let mut stored = std::collections::HashMap::new();
            let mut pushed = Frontier::default();
            for l in &leaves.0 {
                pushed.push(*l);
                for (level, index, hash) in f.append(*l) {
                    prop_assert_eq!(hash, leaves.node(level, index).unwrap());
                    stored.insert((level, index), hash);
                }
            }
            prop_assert_eq!(f.root(), root(&leaves, n as u64).unwrap());
            prop_assert_eq!(&pushed, &f);
            struct Map(std::collections::HashMap<(u8, u64), Hash>);
            impl NodeSource for Map {
                fn node(&self, level: u8, index: u64) -> Result<Hash, String> {
                    self.0.get(&(level, index)).copied().ok_or_else(|| "missing".into())
                }
            }
            let map = Map(stored);
            prop_assert_eq!(Frontier::load(&map, n as u64).unwrap(), f.clone());
            for size in [n as u64 / 2, n as u64] {
                prop_assert_eq!(root(&map, size).unwrap(), root(&leaves, size).unwrap());
            }
        }
    }
}
