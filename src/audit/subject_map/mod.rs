//! The subject map: for every person the audit log names, how many entries
//! name them, the last of those, and a hash over all of them in log order.
//! It is a sparse Merkle tree over 256-bit keys whose root every checkpoint
//! signs (the extension line `map <base64 root>`), so a person's access
//! report can prove that it lists every entry about them up to that
//! checkpoint, not only that each one it lists is in the log.
//!
//! ```text
//! key(sid)       = SHA-256("custos subject map v1\n" || origin || "\n" || sid)
//! value          = count (u64 BE) || last seq (u64 BE) || acc (32 bytes)
//! acc_0          = 32 zero bytes
//! acc_k          = SHA-256(acc_{k-1} || RFC 6962 leaf hash of the k-th entry naming sid)
//! leaf(k, v)     = SHA-256(0x00 || k || v)
//! node(l, r)     = SHA-256(0x01 || l || r)
//! empty subtree  = 32 zero bytes
//! ```
//!
//! A subtree holding one leaf is that leaf's hash, wherever it is; so the
//! tree is as deep as its keys' longest common prefix, not 256 levels.
//! Byte-level rules, and how the reference verifier checks a proof, are in
//! docs/audit-format.md.

mod buckets;
mod stored;

pub use stored::{roots_at, SubjectMap};

use super::merkle::Hash;
use sha2::{Digest, Sha256};

pub type MapKey = [u8; 32];

/// The hash of an empty subtree (and of the empty map).
pub const EMPTY: Hash = [0; 32];

/// The map key of a person (their pseudonym `sid`) in the log `origin`.
/// The pseudonym is random; hashing it with the log's name keeps it out of
/// the map and unlinkable across logs, while a verifier holding the report
/// recomputes it, so the log cannot file the person under a second key.
pub fn key(origin: &str, sid: &str) -> MapKey {
    let mut h = Sha256::new();
    h.update(b"custos subject map v1\n");
    h.update(origin.as_bytes());
    h.update(b"\n");
    h.update(sid.as_bytes());
    h.finalize().into()
}

/// What the map holds for one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapValue {
    /// How many entries name the person.
    pub count: u64,
    /// The sequence number of the last of them.
    pub last: u64,
    /// The hash chain over their leaf hashes, in log order.
    pub acc: Hash,
}

impl MapValue {
    pub const LEN: usize = 48;

    /// The value after one more entry (`seq`, RFC 6962 leaf hash `leaf`)
    /// names the person; `None` before the first.
    pub fn then(before: Option<MapValue>, seq: u64, leaf: &Hash) -> MapValue {
        let (count, acc) = before.map_or((0, EMPTY), |v| (v.count, v.acc));
        MapValue { count: count + 1, last: seq, acc: fold(&acc, leaf) }
    }

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.count.to_be_bytes());
        out[8..16].copy_from_slice(&self.last.to_be_bytes());
        out[16..].copy_from_slice(&self.acc);
        out
    }

    pub fn decode(raw: &[u8]) -> Option<MapValue> {
        let raw: &[u8; Self::LEN] = raw.try_into().ok()?;
        let (count, rest) = raw.split_at(8);
        let (last, acc) = rest.split_at(8);
        Some(MapValue {
            count: u64::from_be_bytes(count.try_into().ok()?),
            last: u64::from_be_bytes(last.try_into().ok()?),
            acc: acc.try_into().ok()?,
        })
    }
}

/// One step of a person's hash chain: `SHA-256(acc || leaf)`.
pub fn fold(acc: &Hash, leaf: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(acc);
    h.update(leaf);
    h.finalize().into()
}

fn leaf_node(key: &MapKey, value: &MapValue) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(key);
    h.update(value.encode());
    h.finalize().into()
}

fn inner(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Bit `depth` of `key`, most significant first: 1 goes right.
fn bit(key: &MapKey, depth: usize) -> bool {
    key[depth / 8] >> (7 - depth % 8) & 1 == 1
}

/// The hash of the subtree at `depth` holding `leaves`, sorted by key, all
/// sharing their first `depth` bits.
fn subtree(leaves: &[(MapKey, MapValue)], depth: usize) -> Hash {
    match leaves {
        [] => EMPTY,
        [(k, v)] => leaf_node(k, v),
        _ => {
            let split = leaves.partition_point(|(k, _)| !bit(k, depth));
            let (left, right) = leaves.split_at(split);
            inner(&subtree(left, depth + 1), &subtree(right, depth + 1))
        }
    }
}

/// The root of the map holding `leaves` (sorted by key, keys distinct).
pub fn root(leaves: &[(MapKey, MapValue)]) -> Hash {
    subtree(leaves, 0)
}

/// Where the walk down a key's path ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Terminal {
    /// An empty subtree: the key is not in the map.
    Empty,
    /// A single leaf: the key's own (its value), or another key sharing the
    /// path so far (the key is not in the map).
    Leaf { key: MapKey, value: MapValue },
}

/// The siblings along a key's path from the root down, and where it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapProof {
    pub siblings: Vec<Hash>,
    pub terminal: Terminal,
}

/// The proof of `key`'s value (or absence) in the map holding `leaves`.
pub fn prove(leaves: &[(MapKey, MapValue)], key: &MapKey) -> MapProof {
    prove_from(leaves, key, Vec::new())
}

/// The rest of a proof from depth `siblings.len()` down, in the subtree
/// there holding `leaves` (sorted, sharing that many first bits with `key`).
fn prove_from(leaves: &[(MapKey, MapValue)], key: &MapKey, mut siblings: Vec<Hash>) -> MapProof {
    let mut range = leaves;
    loop {
        match range {
            [] => return MapProof { siblings, terminal: Terminal::Empty },
            [(k, v)] => return MapProof { siblings, terminal: Terminal::Leaf { key: *k, value: *v } },
            _ => {
                let depth = siblings.len();
                let (left, right) = range.split_at(range.partition_point(|(k, _)| !bit(k, depth)));
                let (path, other) = if bit(key, depth) { (right, left) } else { (left, right) };
                siblings.push(subtree(other, depth + 1));
                range = path;
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapProofError {
    #[error("the map proof has more than 256 levels")]
    TooDeep,
    #[error("the map proof ends in another key's leaf off the key's path")]
    OffPath,
    #[error("the map proof does not lead to the signed map root")]
    RootMismatch,
}

/// Checks `proof` for `key` against `root`: the key's value, or `None`
/// when the proof shows the key is not in the map.
pub fn verify(root: &Hash, key: &MapKey, proof: &MapProof) -> Result<Option<MapValue>, MapProofError> {
    let depth = proof.siblings.len();
    if depth > 256 {
        return Err(MapProofError::TooDeep);
    }
    let (mut h, found) = match &proof.terminal {
        Terminal::Empty => (EMPTY, None),
        Terminal::Leaf { key: k, value } => {
            if (0..depth).any(|d| bit(k, d) != bit(key, d)) {
                return Err(MapProofError::OffPath);
            }
            (leaf_node(k, value), (k == key).then_some(*value))
        }
    };
    for (d, sibling) in proof.siblings.iter().enumerate().rev() {
        h = if bit(key, d) { inner(sibling, &h) } else { inner(&h, sibling) };
    }
    if &h != root {
        return Err(MapProofError::RootMismatch);
    }
    Ok(found)
}

#[cfg(test)]
mod tests;
