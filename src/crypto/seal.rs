//! Segment sealing: XChaCha20-Poly1305 with a random 192-bit nonce.

use super::CryptoError;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload};
use chacha20poly1305::{AeadCore, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A 256-bit data key, zeroized on drop.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    pub fn generate() -> Self {
        let k = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&k);
        DataKey(bytes)
    }

    pub(crate) fn from_slice(s: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = s.try_into().map_err(|_| CryptoError::Internal("data key has the wrong length".into()))?;
        Ok(DataKey(Zeroizing::new(arr)))
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub nonce: [u8; 24],
    pub ciphertext: Vec<u8>,
}

/// Associated data for one segment of one dossier version.
pub fn segment_aad(dossier: &str, version: u32, segment: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + dossier.len() + segment.len());
    aad.extend_from_slice(b"custos-seg-v1\0");
    aad.extend_from_slice(dossier.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(segment.as_bytes());
    aad
}

pub fn seal(key: &DataKey, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, CryptoError> {
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(&nonce, Payload { msg: plaintext, aad })
        .map_err(|_| CryptoError::Internal("seal failed".into()))?;
    Ok(Sealed { nonce: nonce.into(), ciphertext })
}

pub fn open(key: &DataKey, aad: &[u8], sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    cipher
        .decrypt(XNonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Unauthentic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let k = DataKey::generate();
        let aad = segment_aad("dos_a", 1, "business");
        let s = seal(&k, &aad, b"hello").unwrap();
        assert_eq!(&open(&k, &aad, &s).unwrap()[..], b"hello");
        assert!(open(&k, &segment_aad("dos_a", 2, "business"), &s).is_err());
        assert!(open(&k, &segment_aad("dos_b", 1, "business"), &s).is_err());
        assert!(open(&k, &segment_aad("dos_a", 1, "confidential"), &s).is_err());
        assert!(open(&DataKey::generate(), &aad, &s).is_err());
        let mut t = s.clone();
        t.ciphertext[0] ^= 1;
        assert!(open(&k, &aad, &t).is_err());
    }
}
