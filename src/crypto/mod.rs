//! Keys and sealing.
//!
//! Envelope encryption: every dossier and every data subject has its own
//! 256-bit data key. Data keys are stored only wrapped, under a symmetric
//! key-encryption key (`kek`) that is itself stored only wrapped (age,
//! X25519) to the operator's master identity, which does not live in the
//! data directory by default. Segments are sealed with XChaCha20-Poly1305 under a data key, with
//! associated data binding dossier id, version and segment name, so a segment
//! cannot be moved to another dossier, version or slot without failing to open.
//!
//! Unwrapping is an AEAD open (an X25519 operation for a key wrapped with
//! age before KEKs), and unwrapped keys are kept in a
//! bounded LRU cache; a key leaving the cache (eviction, shredding, shutdown)
//! is zeroized when its last user drops it. Shredding deletes the wrapped key
//! and compacts the key column family so the bytes are physically gone: every
//! segment sealed under that key can never be opened again.

mod kek;
mod keyring;
mod master;
mod seal;
pub mod secret;

pub use keyring::{KeyRef, Keyring};

/// A key-encryption key wraps new data keys for 90 days.
pub const DEFAULT_KEK_ROTATION: std::time::Duration = std::time::Duration::from_secs(90 * 86_400);

/// Options for a file only custos's own user may read or write (0600),
/// whatever the process's umask: keys, enrollment codes, backup files and
/// restored ones. Add `create_new` or `create`/`truncate` as fits.
pub fn owner_only_file() -> std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).mode(0o600);
    o
}

/// Creates `dir` and its missing parents, each new one 0700.
pub fn owner_only_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}
pub use master::MasterKey;
pub use seal::{open, seal, segment_aad, DataKey, Sealed};

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("key {0} has been destroyed")]
    KeyDestroyed(String),
    #[error("segment failed authentication")]
    Unauthentic,
    #[error("wrapped key cannot be opened with this master key")]
    WrongMasterKey,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("internal crypto error: {0}")]
    Internal(String),
}
