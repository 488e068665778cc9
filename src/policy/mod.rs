//! Pure policy decisions: no IO beyond loading the files, no clock reads.
//!
//! - `access`: Cedar policies deciding actions and, per field class, whether
//!   a field is shown clear, masked or withheld;
//! - `purposes`: the purposes, their legal bases and who may state them;
//! - `masking`: how a masked field is shown;
//! - `classes`: each template field's class, read from the template.

pub mod access;
pub mod classes;
pub mod masking;
mod purposes;
pub mod retention;
#[cfg(test)]
mod scenarios;

pub use purposes::{Basis, PurposeDef, PurposeRegistry};

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy directory {0}: {1}")]
    Dir(PathBuf, std::io::Error),
    #[error("{file}:{line}: {message}")]
    Invalid { file: PathBuf, line: usize, message: String },
}

/// Parses a policy file's TOML; an error carries the 1-based line it is on.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, (usize, String)> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().and_then(|s| text.get(..s.start)).map_or(1, |before| before.lines().count().max(1));
        (line, e.message().to_owned())
    })
}

/// Reads and parses one policy file, naming file and line on error.
pub(crate) fn load_file<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, (usize, String)>,
) -> Result<T, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Dir(path.to_owned(), e))?;
    parse(&text).map_err(|(line, message)| PolicyError::Invalid { file: path.to_owned(), line, message })
}

/// The active policy files and their combined hash.
pub struct PolicySet {
    pub purposes: PurposeRegistry,
    pub alerts: Vec<crate::jobs::alerts::AlertRule>,
    pub masking: masking::MaskingRules,
    pub access: access::AccessPolicy,
    pub retention: retention::RetentionRules,
    /// SHA-256 over every policy file (sorted by name: name, length,
    /// contents), hex; written into every audit entry.
    pub hash: String,
    pub dir: PathBuf,
}

impl PolicySet {
    pub fn load(dir: &Path) -> Result<Self, PolicyError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| PolicyError::Dir(dir.to_owned(), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        let mut h = Sha256::new();
        for f in &files {
            let bytes = std::fs::read(f).map_err(|e| PolicyError::Dir(f.clone(), e))?;
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            h.update(name.as_bytes());
            h.update([0]);
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(&bytes);
        }
        let purposes = PurposeRegistry::load(&dir.join("purposes.toml"))?;
        let alerts = crate::jobs::alerts::load_rules(&dir.join("alerts.toml"))?;
        let masking = masking::MaskingRules::load(&dir.join("masking.toml"))?;
        let access = access::AccessPolicy::load(dir)?;
        let retention = retention::RetentionRules::load(&dir.join("retention.toml"))?;
        Ok(PolicySet {
            purposes,
            alerts,
            masking,
            access,
            retention,
            hash: hex::encode(h.finalize()),
            dir: dir.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_policies_load_and_hash_changes_with_content() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let a = PolicySet::load(&shipped).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(&shipped).unwrap().flatten() {
            std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
        }
        assert_eq!(PolicySet::load(dir.path()).unwrap().hash, a.hash);
        let p = dir.path().join("purposes.toml");
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("\n# changed\n");
        std::fs::write(&p, text).unwrap();
        assert_ne!(PolicySet::load(dir.path()).unwrap().hash, a.hash);
    }
}
