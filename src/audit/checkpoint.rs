//! Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes
//! (the format of Go's golang.org/x/mod/sumdb/note), Ed25519.
//!
//! ```text
//! <origin>\n<tree size>\n<base64 root hash>\n
//! \n
//! — <key name> <base64(key hash (4 bytes) || Ed25519 signature (64 bytes))>\n
//! ```
//! A body may carry extension lines after the root hash (C2SP
//! tlog-checkpoint); custos's is `map <base64 subject map root>`
//! (docs/audit-format.md). The signature covers the whole body. The
//! key hash is the first 4 bytes of SHA-256(name || "\n" || 0x01 || public
//! key); the verifier key is `<name>+<hex key hash>+<base64(0x01 || public key)>`.

use super::merkle::Hash;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

const ALG_ED25519: u8 = 0x01;
pub(super) const SIG_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// The lines after the root hash, without their newlines: opaque to the
    /// tree's proofs, covered by every signature on the body.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Self {
        Checkpoint { origin: origin.into(), size, root, extensions: Vec::new() }
    }

    pub fn body(&self) -> String {
        let mut body = format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root));
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// The value of the extension line `<name> <value>`, if there is one.
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions.iter().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
    }

    pub fn parse_body(body: &str) -> Result<Self, CheckpointError> {
        let mut lines = body.split_terminator('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or(CheckpointError::Malformed("origin"))?;
        let size = lines
            .next()
            .filter(|s| !(s.starts_with('+') || s.len() > 1 && s.starts_with('0')))
            .and_then(|s| s.parse().ok())
            .ok_or(CheckpointError::Malformed("tree size"))?;
        let root = lines
            .next()
            .and_then(|r| B64.decode(r).ok())
            .and_then(|r| <Hash>::try_from(r).ok())
            .ok_or(CheckpointError::Malformed("root hash"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(|l| l.is_empty()) {
            return Err(CheckpointError::Malformed("empty extension line"));
        }
        Ok(Checkpoint { origin: origin.to_owned(), size, root, extensions })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    #[error("malformed verifier key")]
    BadKey,
    #[error("no signature by key {0} on the checkpoint")]
    NotSigned(String),
    #[error("the checkpoint's signature does not verify")]
    BadSignature,
}

/// An Ed25519 signing key from `seed` under `name`, with its key id for
/// signature type `alg`.
pub(super) fn named_key(name: &str, alg: u8, seed: &[u8; 32]) -> Result<(SigningKey, u32), CheckpointError> {
    if !valid_name(name) {
        return Err(CheckpointError::BadKey);
    }
    let key = SigningKey::from_bytes(seed);
    let id = key_id(name, alg, key.verifying_key().as_bytes());
    Ok((key, id))
}

/// A verifier key: `<name>+<hex key id>+<base64(signature type || public key)>`.
pub(super) fn format_vkey(name: &str, alg: u8, public: &VerifyingKey) -> String {
    let mut k = vec![alg];
    k.extend_from_slice(public.as_bytes());
    format!("{name}+{:08x}+{}", key_id(name, alg, public.as_bytes()), B64.encode(k))
}

/// A verifier key read: its name, key id and public key.
#[derive(Debug, Clone)]
pub(super) struct ParsedKey {
    pub name: String,
    pub id: u32,
    pub key: VerifyingKey,
}

/// Reads a verifier key of signature type `alg`, the id checked against
/// the name and key.
pub(super) fn parse_vkey(vkey: &str, alg: u8) -> Result<ParsedKey, CheckpointError> {
    let mut parts = vkey.trim().splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(CheckpointError::BadKey);
    };
    let id = (id.len() == 8).then(|| u32::from_str_radix(id, 16).ok()).flatten().ok_or(CheckpointError::BadKey)?;
    let raw = B64.decode(key).map_err(|_| CheckpointError::BadKey)?;
    let (kind, public) = raw.split_first().ok_or(CheckpointError::BadKey)?;
    let public: [u8; 32] = public.try_into().map_err(|_| CheckpointError::BadKey)?;
    if *kind != alg || !valid_name(name) || key_id(name, alg, &public) != id {
        return Err(CheckpointError::BadKey);
    }
    let key = VerifyingKey::from_bytes(&public).map_err(|_| CheckpointError::BadKey)?;
    Ok(ParsedKey { name: name.to_owned(), id, key })
}

/// A signed note's key id: the first 4 bytes of SHA-256(name || "\n" ||
/// signature type || public key), big-endian.
fn key_id(name: &str, alg: u8, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Signs checkpoints under one key name.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    hash: u32,
}

impl NoteSigner {
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, CheckpointError> {
        let (key, hash) = named_key(name, ALG_ED25519, seed)?;
        Ok(NoteSigner { name: name.to_owned(), key, hash })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier_key(&self) -> String {
        format_vkey(&self.name, ALG_ED25519, &self.key.verifying_key())
    }

    /// The signed note for `text` (which must end in a newline).
    pub fn sign(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut blob = self.hash.to_be_bytes().to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        format!("{text}\n{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob))
    }
}

/// A parsed verifier key.
pub struct NoteVerifier {
    name: String,
    hash: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    pub fn parse(vkey: &str) -> Result<Self, CheckpointError> {
        let k = parse_vkey(vkey, ALG_ED25519)?;
        Ok(NoteVerifier { name: k.name, hash: k.id, key: k.key })
    }

    /// Opens a signed note: returns its text once a signature by this key
    /// verifies. Other signatures are ignored.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, CheckpointError> {
        let split = note.rfind("\n\n").ok_or(CheckpointError::Malformed("no signature block"))?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        if !sigs.ends_with('\n') {
            return Err(CheckpointError::Malformed("signature block"));
        }
        for line in sigs.split_terminator('\n') {
            let rest = line.strip_prefix(SIG_PREFIX).ok_or(CheckpointError::Malformed("signature line"))?;
            let (name, b64) = rest.split_once(' ').ok_or(CheckpointError::Malformed("signature line"))?;
            let blob = B64.decode(b64).map_err(|_| CheckpointError::Malformed("signature encoding"))?;
            if name != self.name || blob.len() != 68 || blob[..4] != self.hash.to_be_bytes() {
                continue;
            }
            let sig = Signature::from_slice(&blob[4..]).map_err(|_| CheckpointError::BadSignature)?;
            return self.key.verify(text.as_bytes(), &sig).map(|_| text).map_err(|_| CheckpointError::BadSignature);
        }
        Err(CheckpointError::NotSigned(format!("{}+{:08x}", self.name, self.hash)))
    }

    /// Opens a signed checkpoint.
    pub fn open_checkpoint(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::parse_body(self.open(note)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// golang.org/x/mod/sumdb/note's test key and signature (note_test.go).
    const GO_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const GO_SIGNED: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn go_signer() -> NoteSigner {
        let b64 = GO_SKEY.splitn(5, '+').nth(4).unwrap();
        let raw = B64.decode(b64).unwrap();
        assert_eq!(raw[0], ALG_ED25519);
        NoteSigner::from_seed("PeterNeumann", raw[1..].try_into().unwrap()).unwrap()
    }

    #[test]
    fn matches_go_sumdb_note_byte_for_byte() {
        let s = go_signer();
        assert_eq!(s.verifier_key(), GO_VKEY);
        assert_eq!(s.sign(GO_TEXT), GO_SIGNED);
        let v = NoteVerifier::parse(GO_VKEY).unwrap();
        assert_eq!(v.open(GO_SIGNED).unwrap(), GO_TEXT);
    }

    #[test]
    fn checkpoint_round_trip_checked_by_an_independent_ed25519() {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let s = NoteSigner::from_seed("custos.example/audit", &seed).unwrap();
        let cp = Checkpoint::new("custos.example/audit", 1234, [7u8; 32]);
        let note = s.sign(&cp.body());
        let v = NoteVerifier::parse(&s.verifier_key()).unwrap();
        assert_eq!(v.open_checkpoint(&note).unwrap(), cp);

        // ed25519-compact (a separate implementation) accepts the signature.
        let line = note.lines().last().unwrap();
        let blob = B64.decode(line.rsplit(' ').next().unwrap()).unwrap();
        let public = B64.decode(s.verifier_key().splitn(3, '+').nth(2).unwrap()).unwrap();
        let pk = ed25519_compact::PublicKey::from_slice(&public[1..]).unwrap();
        let sig = ed25519_compact::Signature::from_slice(&blob[4..]).unwrap();
        assert!(pk.verify(cp.body().as_bytes(), &sig).is_ok());
        // And a signature made by it verifies here.
        let kp = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
        let theirs = kp.sk.sign(cp.body().as_bytes(), None);
        let mut blob2 = blob[..4].to_vec();
        blob2.extend_from_slice(theirs.as_ref());
        let note2 = format!("{}\n\u{2014} custos.example/audit {}\n", cp.body(), B64.encode(blob2));
        assert_eq!(v.open_checkpoint(&note2).unwrap(), cp);
    }

    #[test]
    fn extension_lines_are_signed_and_read_back() {
        let s = go_signer();
        let v = NoteVerifier::parse(GO_VKEY).unwrap();
        let mut cp = Checkpoint::new("o", 10, [1u8; 32]);
        cp.extensions.push(format!("map {}", B64.encode([2u8; 32])));
        let note = s.sign(&cp.body());
        let opened = v.open_checkpoint(&note).unwrap();
        assert_eq!(opened, cp);
        assert_eq!(opened.extension("map"), Some(B64.encode([2u8; 32]).as_str()));
        assert_eq!(opened.extension("ma"), None);
        let forged = note.replacen("map AgIC", "map AwIC", 1);
        assert_eq!(v.open_checkpoint(&forged), Err(CheckpointError::BadSignature));
    }

    #[test]
    fn tampering_is_refused() {
        let s = go_signer();
        let v = NoteVerifier::parse(GO_VKEY).unwrap();
        let cp = Checkpoint::new("o", 10, [1u8; 32]);
        let note = s.sign(&cp.body());
        let forged = note.replacen("\n10\n", "\n11\n", 1);
        assert_eq!(v.open_checkpoint(&forged), Err(CheckpointError::BadSignature));
        let other = NoteSigner::from_seed("PeterNeumann", &[9u8; 32]).unwrap();
        assert!(matches!(v.open_checkpoint(&other.sign(&cp.body())), Err(CheckpointError::NotSigned(_))));
        assert!(v.open_checkpoint("garbage").is_err());
        for bad in [
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3",
            "",
        ] {
            assert!(NoteVerifier::parse(bad).is_err(), "{bad}");
        }
    }
}
