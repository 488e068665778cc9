//! The audit trail: entries, their canonical encoding, the SHA-256 hash
//! chain, the group-commit writer that puts every change and its entry into
//! one durable batch, queries, and verification.
//!
//! The byte format is specified in `docs/audit-format.md`.

mod action;
mod chain;
pub mod checkpoint;
pub mod cosignature;
mod entry;
mod halves;
pub mod incremental;
pub mod index;
pub mod merkle;
pub(crate) mod query;
pub mod replay;
pub mod subject_map;
pub mod synthetic;
pub mod tlog_witness;
mod treecheck;
mod writer;

pub use crate::store::Guard;
pub use action::Action;
pub use chain::{verify, verify_store, verify_store_with, ChainHead, Verifier, VerifyError, VerifyReport};
pub use entry::{hash_entry, AuditEntry, DecodeError, EntryBody, Outcome, GENESIS_PREV};
pub use query::{for_each_match, run as query_page, AuditFilter, AuditPage};
pub use treecheck::check_stored_tree;
pub use writer::{AuditWriter, Commit, CommitError};

/// A plausible entry, for other modules' tests.
#[cfg(test)]
pub(crate) fn entry_for_tests(seq: u64) -> AuditEntry {
    entry::tests::sample(seq, GENESIS_PREV)
}

// Key layouts live in `store::keys`; the audit code names them so.
pub use crate::store::keys::{audit_entry as entry_key, merkle_node as node_key, AUDIT_HEAD as HEAD_KEY};

/// The stored Merkle tree.
pub struct StoredTree<'a>(pub &'a dyn crate::store::KvStore);

impl merkle::NodeSource for StoredTree<'_> {
    fn node(&self, level: u8, index: u64) -> Result<merkle::Hash, String> {
        let v = self
            .0
            .get(crate::store::Cf::Merkle, &node_key(level, index))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("merkle node {level}/{index} missing"))?;
        v.try_into().map_err(|_| format!("merkle node {level}/{index} malformed"))
    }
}
