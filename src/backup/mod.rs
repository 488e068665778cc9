//! Backup sets: the on-disk format of a backup target and the code that
//! writes, lists and verifies it. No master key is needed to list or verify.
//!
//! A target is a directory (any mounted path: NFS, SMB, USB, a synced
//! folder) or a bucket of an S3-protocol store (`s3`), behind one
//! [`medium::Medium`]. It holds only immutable files, each put in place only
//! when whole (a directory's written to a temporary name, synced and
//! renamed; a bucket's uploaded conditionally, in parts), never rewritten
//! once complete (so object-lock storage works):
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

pub mod medium;
pub mod s3;
mod set;
mod shipping;
pub mod stream;
mod target;

pub use set::{FileEntry, Manifest, FORMAT};
pub use target::{verify, Damage, JournalEntry, Known, SetSummary, Target, VerifyReport};

use std::path::{Path, PathBuf};

/// Lowers the calling thread's CPU priority to the least there is
/// (`SCHED_BATCH`, nice 19; on Linux only this thread's). Failing to is no
/// reason not to back up: it is logged and the set taken all the same.
pub fn lower_thread_priority() {
    use thread_priority::{NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy};
    let set = thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
    );
    if let Err(e) = set {
        tracing::warn!(error = ?e, "could not lower the backup thread's priority");
    }
}

/// Where a target is: a directory, or a bucket (`s3://bucket/prefix?…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    S3(s3::S3Location),
}

impl Location {
    /// `s3://…` is a bucket; anything else a directory.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("s3://") {
            return s3::S3Location::parse(text).map(Location::S3);
        }
        // `S3://…`, `s3:/…`, `https://…`: not a directory by mistake.
        let scheme = text.split_once(':').map(|(s, _)| s).unwrap_or_default();
        if !scheme.is_empty() && scheme.len() > 1 && scheme.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'+') {
            return Err(format!("{text:?}: a bucket target starts with s3:// (lower case); a directory is a path"));
        }
        if text.trim().is_empty() {
            return Err("a backup target is a directory or an s3:// address".into());
        }
        Ok(Location::Dir(PathBuf::from(text)))
    }

    /// The storage behind it; `spool` is where a bucket's uploads wait
    /// (none: opened to read only).
    pub fn medium(&self, spool: Option<&Path>) -> Result<Box<dyn medium::Medium>, BackupError> {
        Ok(match self {
            Location::Dir(d) => Box::new(medium::Dir::new(d)),
            Location::S3(l) => Box::new(s3::S3::open(l, spool)?),
        })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Dir(d) => write!(f, "{}", d.display()),
            Location::S3(l) => write!(f, "{l}"),
        }
    }
}

impl std::str::FromStr for Location {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Location::parse(s)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_a_bucket_or_a_path_never_a_url_taken_for_a_folder() {
        assert!(matches!(Location::parse("s3://bucket/x"), Ok(Location::S3(_))));
        assert_eq!(Location::parse("/mnt/offsite").unwrap(), Location::Dir(PathBuf::from("/mnt/offsite")));
        assert_eq!(Location::parse("offsite").unwrap(), Location::Dir(PathBuf::from("offsite")));
        for url in ["S3://bucket/x", "s3:/bucket/x", "https://bucket.oss.example.com/x", "file:///mnt"] {
            let e = Location::parse(url).unwrap_err();
            assert!(e.contains("s3://"), "{url}: {e}");
        }
        assert!(Location::parse(" ").is_err());
    }
}
