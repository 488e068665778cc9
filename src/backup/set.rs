//! The manifest of a backup set: what it holds and the audit tree head it
//! contains, as a signed note.

use super::BackupError;
use crate::audit::checkpoint::{NoteSigner, NoteVerifier};
use crate::domain::BackupId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The format line of a target and of every manifest.
pub const FORMAT: &str = "custos-backup/1";

/// One file of the store's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the database directory (`000012.sst`, `MANIFEST-000005`).
    pub path: String,
    /// Plaintext size and SHA-256 (hex).
    pub size: u64,
    pub sha256: String,
    /// The object holding it: `objects/<object>.age`.
    pub object: String,
    /// The encrypted object's size and SHA-256 (hex): checked without a key.
    pub object_size: u64,
    pub object_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub backup_id: BackupId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The audit log's tree size and root (base64) in the set.
    pub tree_size: u64,
    pub root: String,
    /// The log's signed checkpoint of that tree head.
    pub checkpoint: String,
    /// The age recipients every object is encrypted to (public keys).
    pub recipients: Vec<String>,
    /// The lineage of the database's files (`db_lineage` in the store): an
    /// SST file of the same lineage, name and size is the same file (RocksDB
    /// never reuses a file number), so a later set reuses its object
    /// without reading it again.
    #[serde(default)]
    pub db_identity: String,
    pub files: Vec<FileEntry>,
    /// Plaintext bytes the set holds, and those this set wrote as new objects.
    pub bytes: u64,
    pub new_bytes: u64,
    /// Every destruction certificate issued up to this set, each in the
    /// erasure journal when the set was made: a restore refuses a journal
    /// that lacks one (a deleted journal file would bring an erased person
    /// back without a word).
    #[serde(default)]
    pub certificates: Vec<String>,
}

impl Manifest {
    /// The signed note: the manifest's JSON, then the log key's signature.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, BackupError> {
        let text = serde_json::to_string(self).map_err(|e| BackupError::Io(e.to_string()))?;
        Ok(signer.sign(&format!("{text}\n")))
    }

    /// Opens a signed manifest; `path` names it in errors.
    pub fn open(note: &str, verifier: &NoteVerifier, path: &str) -> Result<Self, BackupError> {
        let text = verifier
            .open(note)
            .map_err(|e| BackupError::Damaged { path: path.to_owned(), what: format!("manifest signature: {e}") })?;
        let m: Manifest = serde_json::from_str(text.trim_end())
            .map_err(|_| BackupError::Damaged { path: path.to_owned(), what: "manifest does not parse".into() })?;
        if m.format != FORMAT {
            return Err(BackupError::Damaged { path: path.to_owned(), what: format!("unknown format {:?}", m.format) });
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            backup_id: BackupId::generate(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            tree_size: 3,
            root: "cm9vdA==".into(),
            checkpoint: "note".into(),
            recipients: vec!["age1x".into()],
            db_identity: "id".into(),
            files: vec![],
            bytes: 0,
            new_bytes: 0,
            certificates: vec![],
        }
    }

    #[test]
    fn a_signed_manifest_opens_with_the_log_key_only_and_unchanged() {
        let signer = NoteSigner::from_seed("custos/test", &[7; 32]).unwrap();
        let other = NoteSigner::from_seed("custos/test", &[8; 32]).unwrap();
        let m = Manifest { certificates: vec!["cert_x".into()], ..sample() };
        let note = m.sign(&signer).unwrap();
        let v = NoteVerifier::parse(&signer.verifier_key()).unwrap();
        assert_eq!(Manifest::open(&note, &v, "m").unwrap(), m);
        let wrong = NoteVerifier::parse(&other.verifier_key()).unwrap();
        assert!(matches!(Manifest::open(&note, &wrong, "m"), Err(BackupError::Damaged { .. })));
        let tampered = note.replacen("\"tree_size\":3", "\"tree_size\":4", 1);
        assert!(matches!(Manifest::open(&tampered, &v, "m"), Err(BackupError::Damaged { .. })));
    }

    /// The manifest reader (what `backup verify` and restore trust) takes
    /// any text: a signed manifest changed anywhere is refused with a
    /// reason, never a panic, and never opens as anything but itself.
    #[test]
    fn a_changed_manifest_is_refused_never_a_panic() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
        let signer = NoteSigner::from_seed("custos/test", &[7; 32]).unwrap();
        let v = NoteVerifier::parse(&signer.verifier_key()).unwrap();
        let m = sample();
        let note = m.sign(&signer).unwrap();
        let config = Config {
            cases: 256,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/manifest.txt"))),
            ..Config::default()
        };
        let edits = proptest::collection::vec((any::<prop::sample::Index>(), any::<char>()), 1..6);
        TestRunner::new(config)
            .run(&edits, |edits| {
                let mut chars: Vec<char> = note.chars().collect();
                for (at, c) in edits {
                    let i = at.index(chars.len());
                    chars[i] = c;
                }
                let changed: String = chars.into_iter().collect();
                match Manifest::open(&changed, &v, "m") {
                    Ok(opened) => prop_assert_eq!(opened, m.clone()),
                    Err(e) => prop_assert!(!e.to_string().is_empty()),
                }
                Ok(())
            })
            .unwrap();
    }
}
