//! The audit trail: entries, their canonical encoding, the SHA-256 hash
//! chain, the group-commit writer that puts every change and its entry into
//! one durable batch, queries, and verification.
//!
//! The byte format is specified in `docs/audit-format.md`.

mod chain;
mod entry;
pub(crate) mod query;
pub mod checkpoint;
pub mod merkle;
pub mod synthetic;
mod writer;

pub use chain::{verify, verify_store, ChainHead, Verifier, VerifyError, VerifyReport};
pub use entry::{hash_entry, AuditEntry, DecodeError, Outcome, GENESIS_PREV};
pub use query::{AuditFilter, AuditPage};
pub use writer::{AuditWriter, Commit, CommitError, Guard, PendingEntry};

/// Key of entry `seq` in [`crate::store::Cf::Audit`].
pub fn entry_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Key in [`crate::store::Cf::System`] of the chain head (next seq, last hash).
pub const HEAD_KEY: &[u8] = b"audit_head";
