//! Backup sets: the on-disk format of a backup target and the code that
//! writes, lists and verifies it. No master key is needed to list or verify.
//!
//! A target directory (any mounted path: NFS, SMB, USB, a synced folder)
//! holds only immutable files, each written to a temporary name, synced and
//! renamed, never rewritten once complete (so object-lock storage works):
//!
//! ```text
//! <dir>/custos-backup          the format and the log's verifier key (public)
//! <dir>/objects/<sha256>.age   one store file, age-encrypted to the master key's
//!                              recipient and every `backup_recipients` key; named by
//!                              the SHA-256 of its plaintext, so an unchanged file
//!                              (an SST) is stored once for every set that holds it
//! <dir>/sets/<bak_id>.note     the set's manifest, signed by the audit log's key;
//!                              written last: a set without it does not exist
//! <dir>/journal/<cert>.note    every destruction and erasure's certificate, signed,
//!                              written before the batch is reported done (ids, keys,
//!                              audit seqs; no personal value)
//! ```
//!
//! The manifest names every file of a consistent RocksDB checkpoint (path,
//! size, plaintext SHA-256, object, object size and SHA-256) and the audit
//! tree head at that moment (size, root, and the signed checkpoint), so
//! `custos backup verify` checks signatures and every object's bytes without
//! any key, and a restore knows which audit entries the set contains.

mod set;
mod shipping;
mod target;

pub use set::{FileEntry, Manifest, FORMAT};
pub use target::{verify, Damage, JournalEntry, Known, SetSummary, Target, VerifyReport};

/// Errors of reading or writing a backup target.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target cannot be read at all (missing, not a backup target,
    /// unreadable manifest list): `backup verify` exits 2.
    #[error("{0}")]
    Unreadable(String),
    /// A file is damaged or a signature does not verify: exits 1.
    #[error("{path}: {what}")]
    Damaged { path: String, what: String },
    #[error("{0}")]
    Io(String),
}

impl From<std::io::Error> for BackupError {
    fn from(e: std::io::Error) -> Self {
        BackupError::Io(e.to_string())
    }
}
