//! Witness cosignatures: C2SP tlog-cosignature, the Ed25519 type
//! (`cosignature/v1`, signature type 0x04 of C2SP signed-note).
//!
//! A cosignature is a note signature line on a checkpoint:
//!
//! ```text
//! — <witness name> base64(key id (4) || timestamp (u64 BE, 8) || Ed25519 signature (64))
//! ```
//! over the message `cosignature/v1\ntime <timestamp>\n` followed by the
//! whole checkpoint body (extension lines included). The key id is the
//! first 4 bytes of SHA-256(name || "\n" || 0x04 || public key); the
//! verifier key is `<name>+<hex key id>+<base64(0x04 || public key)>`.
//! It states that at `timestamp` the witness had seen no larger tree of
//! the log than this one, and that this one is consistent with every
//! tree of it the witness saw before (docs/audit-format.md, "Witnesses").

use super::checkpoint::{format_vkey, named_key, parse_vkey, CheckpointError, ParsedKey, SIG_PREFIX};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};

/// Signature type 0x04: timestamped Ed25519 witness cosignatures.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// The largest timestamp the format allows (2^63 - 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;
/// Signature lines a note may carry before it is refused (C2SP signed-note:
/// at least 16 must be accepted).
pub const MAX_SIGNATURES: usize = 64;
const BLOB_LEN: usize = 4 + 8 + 64;

/// The signed message of a cosignature on `body` at `timestamp`.
pub fn message(body: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CosignatureError {
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("malformed witness verifier key")]
    BadKey,
    #[error("no cosignature by witness {0}")]
    Missing(String),
    #[error("the cosignature by witness {0} does not verify")]
    BadSignature(String),
    #[error("cosignature timestamp out of range")]
    BadTime,
}

impl From<CheckpointError> for CosignatureError {
    fn from(_: CheckpointError) -> Self {
        CosignatureError::BadKey
    }
}

/// A signed note split at its last blank line: the text (with its final
/// newline) and its signature lines (without theirs).
pub fn split_note(note: &str) -> Result<(&str, Vec<&str>), CosignatureError> {
    let split = note.rfind("\n\n").ok_or(CosignatureError::Malformed("no signature block"))?;
    let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
    if !sigs.ends_with('\n') {
        return Err(CosignatureError::Malformed("signature block"));
    }
    let lines: Vec<&str> = sigs.split_terminator('\n').collect();
    if lines.len() > MAX_SIGNATURES {
        return Err(CosignatureError::Malformed("too many signatures"));
    }
    if lines.iter().any(|l| !l.starts_with(SIG_PREFIX)) {
        return Err(CosignatureError::Malformed("signature line"));
    }
    Ok((text, lines))
}

/// Cosigns checkpoints under one witness name (the key id is of the name,
/// signature type 0x04 and the public key).
pub struct Cosigner {
    key: SigningKey,
    id: u32,
    name: String,
}

impl Cosigner {
    /// `<name>+<hex key id>+<base64(0x04 || public key)>`.
    pub fn verifier_key(&self) -> String {
        format_vkey(&self.name, ALG_COSIGNATURE_V1, &self.key.verifying_key())
    }

    /// The cosigner of `seed` under `name` (no spaces, no `+`).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, CosignatureError> {
        let (key, id) = named_key(name, ALG_COSIGNATURE_V1, seed)?;
        Ok(Cosigner { key, id, name: name.to_owned() })
    }

    /// The signature line (with its newline) cosigning the checkpoint
    /// `body` at `timestamp` (POSIX seconds).
    pub fn cosign(&self, body: &str, timestamp: u64) -> Result<String, CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::BadTime);
        }
        let sig = self.key.sign(message(body, timestamp).as_bytes());
        let mut blob = Vec::with_capacity(BLOB_LEN);
        blob.extend_from_slice(&self.id.to_be_bytes());
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob)))
    }
}

/// A witness's parsed verifier key (signature type 0x04).
#[derive(Debug, Clone)]
pub struct CosignatureVerifier(ParsedKey);

impl CosignatureVerifier {
    pub fn parse(vkey: &str) -> Result<Self, CosignatureError> {
        Ok(CosignatureVerifier(parse_vkey(vkey, ALG_COSIGNATURE_V1)?))
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// `<name>+<hex key id>`: how messages name this witness.
    pub fn label(&self) -> String {
        format!("{}+{:08x}", self.0.name, self.0.id)
    }

    /// Checks one signature line against `body`: `None` when the line is
    /// not this witness's (another name or key id: ignored, as the spec
    /// says), its timestamp when it verifies, an error when it is this
    /// witness's and does not.
    pub fn check_line(&self, body: &str, line: &str) -> Result<Option<u64>, CosignatureError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let Some((name, b64)) = line.strip_prefix(SIG_PREFIX).and_then(|r| r.split_once(' ')) else {
            return Err(CosignatureError::Malformed("signature line"));
        };
        let blob = B64.decode(b64).map_err(|_| CosignatureError::Malformed("signature encoding"))?;
        if name != self.0.name || blob.len() < 4 || blob[..4] != self.0.id.to_be_bytes() {
            return Ok(None);
        }
        let bad = || CosignatureError::BadSignature(self.label());
        let blob: [u8; BLOB_LEN] = blob.as_slice().try_into().map_err(|_| bad())?;
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&blob[4..12]);
        let timestamp = u64::from_be_bytes(ts);
        if timestamp > MAX_TIMESTAMP {
            return Err(bad());
        }
        let sig = Signature::from_slice(&blob[12..]).map_err(|_| bad())?;
        self.0.key.verify(message(body, timestamp).as_bytes(), &sig).map_err(|_| bad())?;
        Ok(Some(timestamp))
    }

    /// The timestamp of this witness's valid cosignature on a signed note
    /// (other signatures are ignored); an error when there is none or one
    /// of its lines does not verify.
    pub fn verify_note(&self, note: &str) -> Result<u64, CosignatureError> {
        let (body, lines) = split_note(note)?;
        let mut found = None;
        for line in lines {
            if let Some(t) = self.check_line(body, line)? {
                found = Some(found.map_or(t, |f: u64| f.max(t)));
            }
        }
        found.ok_or_else(|| CosignatureError::Missing(self.label()))
    }
}

#[cfg(test)]
mod tests;
