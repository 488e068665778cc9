//! The master key: an age X25519 identity that wraps every data key.

use super::{CryptoError, DataKey};
use age::secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::str::FromStr;

pub struct MasterKey {
    identity: age::x25519::Identity,
    recipient: age::x25519::Recipient,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.recipient)
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        Self::from_identity(age::x25519::Identity::generate())
    }

    fn from_identity(identity: age::x25519::Identity) -> Self {
        let recipient = identity.to_public();
        MasterKey { identity, recipient }
    }

    /// Parses an age identity file (comments and blank lines allowed).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| anyhow::anyhow!("master key file holds no age identity"))?;
        let identity = age::x25519::Identity::from_str(line)
            .map_err(|_| anyhow::anyhow!("master key file does not hold a valid age X25519 identity"))?;
        Ok(Self::from_identity(identity))
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read master key file {}: {e}", path.display()))?;
        Self::parse(&text)
    }

    /// Writes the identity to a new file readable by the owner only.
    pub fn write_new(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        let mut f = super::owner_only_file()
            .create_new(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot create master key file {}: {e}", path.display()))?;
        writeln!(f, "# custos master key (age X25519 identity). Keep it outside the data directory;")?;
        writeln!(f, "# without it no dossier can be read. public key: {}", self.recipient)?;
        writeln!(f, "{}", self.identity.to_string().expose_secret())?;
        f.sync_all()?;
        Ok(())
    }

    /// The identity: decrypts backup objects (as does a recovery key).
    pub fn identity(&self) -> &age::x25519::Identity {
        &self.identity
    }

    /// The public key: backups are encrypted to it.
    pub fn recipient(&self) -> &age::x25519::Recipient {
        &self.recipient
    }

    /// A short public fingerprint, stored in the data directory to detect a
    /// wrong master key at start-up.
    pub fn fingerprint(&self) -> String {
        let h = Sha256::digest(self.recipient.to_string().as_bytes());
        hex::encode(&h[..8])
    }

    pub fn wrap(&self, key: &DataKey) -> Result<Vec<u8>, CryptoError> {
        age::encrypt(&self.recipient, key.expose()).map_err(|e| CryptoError::Internal(format!("key wrap failed: {e}")))
    }

    /// Wraps any secret (e.g. the checkpoint signing seed).
    pub fn wrap_secret(&self, secret: &[u8]) -> Result<Vec<u8>, CryptoError> {
        age::encrypt(&self.recipient, secret).map_err(|e| CryptoError::Internal(format!("key wrap failed: {e}")))
    }

    pub fn unwrap_secret(&self, wrapped: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        age::decrypt(&self.identity, wrapped).map(zeroize::Zeroizing::new).map_err(|_| CryptoError::WrongMasterKey)
    }

    pub fn unwrap(&self, wrapped: &[u8]) -> Result<DataKey, CryptoError> {
        let plain =
            zeroize::Zeroizing::new(age::decrypt(&self.identity, wrapped).map_err(|_| CryptoError::WrongMasterKey)?);
        DataKey::from_slice(&plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_and_wrong_master() {
        let m = MasterKey::generate();
        let k = DataKey::generate();
        let w = m.wrap(&k).unwrap();
        assert_eq!(m.unwrap(&w).unwrap().expose(), k.expose());
        assert!(matches!(MasterKey::generate().unwrap(&w), Err(CryptoError::WrongMasterKey)));
    }

    #[test]
    fn identity_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("master.key");
        let m = MasterKey::generate();
        m.write_new(&p).unwrap();
        assert_eq!(MasterKey::load(&p).unwrap().fingerprint(), m.fingerprint());
        assert!(m.write_new(&p).is_err(), "never overwrites an existing key");
        assert!(MasterKey::parse("# nothing\n").is_err());
    }
}
