//! One audit entry and its canonical bytes.
//!
//! ```text
//! entry   = version:u8(=1|2) seq:u64 time_us:i64 prev_hash:[32]
//!           actor:str roles:list action:str resource:str subjects:list
//!           purpose:str outcome:u8 reason:str
//!           released:list masked:list withheld:list
//!           policy_hash:str request_id:str [token_id:str, version 2 only]
//! str     = len:u16 utf8-bytes          (integers big-endian)
//! list    = count:u16 str*
//! hash    = SHA-256(entry)              (the chain: next entry's prev_hash)
//! leaf    = SHA-256(0x00 || entry)      (RFC 6962 Merkle leaf)
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Entries without a token (custos's own) are written in version 1, entries
/// of a request in version 2, which adds the caller's token id at the end;
/// so an entry re-encodes to the bytes it was read from, and the entries
/// written before version 2 existed verify unchanged.
pub const FORMAT_VERSION: u8 = 1;
pub const FORMAT_VERSION_TOKEN: u8 = 2;
/// `prev_hash` of entry 0.
pub const GENESIS_PREV: [u8; 32] = [0u8; 32];
/// Byte offset of `prev_hash` in every entry.
pub const PREV_HASH_OFFSET: usize = 1 + 8 + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allow,
    Deny,
    Error,
}

impl Outcome {
    fn code(self) -> u8 {
        match self {
            Outcome::Allow => 0,
            Outcome::Deny => 1,
            Outcome::Error => 2,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allow" => Some(Outcome::Allow),
            "deny" => Some(Outcome::Deny),
            "error" => Some(Outcome::Error),
            _ => None,
        }
    }
}

/// What an entry says about a decision. The writer adds the rest (sequence
/// number, time, chain link, policy hash) when it gives the entry its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryBody {
    pub actor: String,
    pub roles: Vec<String>,
    pub action: String,
    pub resource: String,
    /// Subject pseudonyms (`sub_...`), never a personal value.
    pub subjects: Vec<String>,
    pub purpose: String,
    pub outcome: Outcome,
    pub reason: String,
    pub released: Vec<String>,
    pub masked: Vec<String>,
    pub withheld: Vec<String>,
    pub request_id: String,
    /// The id of the token the request came with (`tok_...`); empty for
    /// custos's own entries.
    pub token_id: String,
}

impl EntryBody {
    /// An allowed entry written by custos on its own behalf (start-up, jobs,
    /// operator commands): actor `system`, no roles, purpose or request id;
    /// callers change what differs with struct update syntax.
    pub fn system(action: super::Action, resource: &str, reason: impl Into<String>) -> Self {
        EntryBody {
            actor: "system".into(),
            roles: vec![],
            action: action.as_str().to_owned(),
            resource: resource.to_owned(),
            subjects: vec![],
            purpose: String::new(),
            outcome: Outcome::Allow,
            reason: reason.into(),
            released: vec![],
            masked: vec![],
            withheld: vec![],
            request_id: String::new(),
            token_id: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: u64,
    /// Microsecond precision.
    pub time: OffsetDateTime,
    pub prev_hash: [u8; 32],
    pub policy_hash: String,
    pub body: EntryBody,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("entry is truncated")]
    Truncated,
    #[error("unknown entry format version {0}")]
    Version(u8),
    #[error("field is not UTF-8")]
    Utf8,
    #[error("unknown outcome code {0}")]
    Outcome(u8),
    #[error("trailing bytes after the entry")]
    Trailing,
    #[error("time out of range")]
    Time,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // INVARIANT: callers bound field lengths (ids, paths, reasons); a longer
    // field is cut at a char boundary rather than producing a bad entry.
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

fn put_list(out: &mut Vec<u8>, items: &[String]) {
    let n = items.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_be_bytes());
    for s in &items[..n] {
        put_str(out, s);
    }
}

impl AuditEntry {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let with_token = !self.body.token_id.is_empty();
        out.push(if with_token { FORMAT_VERSION_TOKEN } else { FORMAT_VERSION });
        out.extend_from_slice(&self.seq.to_be_bytes());
        let micros = (self.time.unix_timestamp_nanos() / 1000) as i64;
        out.extend_from_slice(&micros.to_be_bytes());
        out.extend_from_slice(&self.prev_hash);
        put_str(&mut out, &self.body.actor);
        put_list(&mut out, &self.body.roles);
        put_str(&mut out, &self.body.action);
        put_str(&mut out, &self.body.resource);
        put_list(&mut out, &self.body.subjects);
        put_str(&mut out, &self.body.purpose);
        out.push(self.body.outcome.code());
        put_str(&mut out, &self.body.reason);
        put_list(&mut out, &self.body.released);
        put_list(&mut out, &self.body.masked);
        put_list(&mut out, &self.body.withheld);
        put_str(&mut out, &self.policy_hash);
        put_str(&mut out, &self.body.request_id);
        if with_token {
            put_str(&mut out, &self.body.token_id);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { b: bytes, pos: 0 };
        let version = r.u8()?;
        if version != FORMAT_VERSION && version != FORMAT_VERSION_TOKEN {
            return Err(DecodeError::Version(version));
        }
        let seq = u64::from_be_bytes(r.take(8)?.try_into().map_err(|_| DecodeError::Truncated)?);
        let micros = i64::from_be_bytes(r.take(8)?.try_into().map_err(|_| DecodeError::Truncated)?);
        let time = OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000).map_err(|_| DecodeError::Time)?;
        let prev_hash: [u8; 32] = r.take(32)?.try_into().map_err(|_| DecodeError::Truncated)?;
        let (actor, roles, action, resource, subjects, purpose) =
            (r.str()?, r.list()?, r.str()?, r.str()?, r.list()?, r.str()?);
        let outcome = match r.u8()? {
            0 => Outcome::Allow,
            1 => Outcome::Deny,
            2 => Outcome::Error,
            c => return Err(DecodeError::Outcome(c)),
        };
        let (reason, released, masked, withheld) = (r.str()?, r.list()?, r.list()?, r.list()?);
        let (policy_hash, request_id) = (r.str()?, r.str()?);
        let token_id = if version == FORMAT_VERSION_TOKEN { r.str()? } else { String::new() };
        let e = AuditEntry {
            seq,
            time,
            prev_hash,
            policy_hash,
            body: EntryBody {
                actor,
                roles,
                action,
                resource,
                subjects,
                purpose,
                outcome,
                reason,
                released,
                masked,
                withheld,
                request_id,
                token_id,
            },
        };
        if r.pos != bytes.len() {
            return Err(DecodeError::Trailing);
        }
        Ok(e)
    }
}

/// Checks that `bytes` is one well-formed entry without building it (no
/// allocation; what verification runs on every entry) and returns its seq.
pub fn check(bytes: &[u8]) -> Result<u64, DecodeError> {
    let mut r = Reader { b: bytes, pos: 0 };
    let version = r.u8()?;
    if version != FORMAT_VERSION && version != FORMAT_VERSION_TOKEN {
        return Err(DecodeError::Version(version));
    }
    let seq = u64::from_be_bytes(r.take(8)?.try_into().map_err(|_| DecodeError::Truncated)?);
    r.take(8 + 32)?;
    r.skip_str()?; // actor
    r.skip_list()?; // roles
    r.skip_str()?; // action
    r.skip_str()?; // resource
    r.skip_list()?; // subjects
    r.skip_str()?; // purpose
    let outcome = r.u8()?;
    if outcome > 2 {
        return Err(DecodeError::Outcome(outcome));
    }
    r.skip_str()?; // reason
    for _ in 0..3 {
        r.skip_list()?; // released, masked, withheld
    }
    r.skip_str()?; // policy_hash
    r.skip_str()?; // request_id
    if version == FORMAT_VERSION_TOKEN {
        r.skip_str()?; // token_id
    }
    if r.pos != bytes.len() {
        return Err(DecodeError::Trailing);
    }
    Ok(seq)
}

/// The chain hash of an entry's canonical bytes.
pub fn hash_entry(raw: &[u8]) -> [u8; 32] {
    Sha256::digest(raw).into()
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.b.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<usize, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]) as usize)
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        let n = self.u16()?;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| DecodeError::Utf8)
    }
    fn skip_str(&mut self) -> Result<(), DecodeError> {
        let n = self.u16()?;
        let s = self.take(n)?;
        // Nearly every string is ASCII, which a word at a time settles
        // (measured: the full check was 9% of verification's time).
        if !s.is_ascii() {
            std::str::from_utf8(s).map_err(|_| DecodeError::Utf8)?;
        }
        Ok(())
    }
    fn skip_list(&mut self) -> Result<(), DecodeError> {
        let n = self.u16()?;
        (0..n).try_for_each(|_| self.skip_str())
    }
    fn list(&mut self) -> Result<Vec<String>, DecodeError> {
        let n = self.u16()?;
        (0..n).map(|_| self.str()).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub fn sample(seq: u64, prev: [u8; 32]) -> AuditEntry {
        AuditEntry {
            seq,
            time: OffsetDateTime::from_unix_timestamp(1_790_000_000 + (seq % 1_000_000) as i64).unwrap(),
            prev_hash: prev,
            policy_hash: "ab".repeat(32),
            body: EntryBody {
                actor: "prn_01jd0000000000000000000000".into(),
                roles: vec!["sales".into()],
                action: "dossier.read".into(),
                resource: "dos_01jd0000000000000000000000".into(),
                subjects: vec!["sub_01jd0000000000000000000000".into()],
                purpose: "service_delivery".into(),
                outcome: Outcome::Allow,
                reason: "owner".into(),
                released: vec!["/customer".into()],
                masked: vec![],
                withheld: vec![],
                request_id: "req_1".into(),
                token_id: String::new(),
            },
        }
    }

    #[test]
    fn a_token_id_is_the_one_field_version_2_adds() {
        let v1 = sample(3, [1u8; 32]);
        let mut v2 = v1.clone();
        v2.body.token_id = "tok_01jd0000000000000000000000".into();
        let (a, b) = (v1.encode(), v2.encode());
        assert_eq!((a[0], b[0]), (1, 2));
        assert_eq!(&b[1..a.len()], &a[1..], "the same fields, in the same order");
        assert_eq!(&b[a.len()..], &[&[0u8, 30][..], b"tok_01jd0000000000000000000000"].concat()[..]);
        // A version 1 entry with bytes after request_id is refused.
        let mut trailing = a.clone();
        trailing.extend_from_slice(&b[a.len()..]);
        assert_eq!(AuditEntry::decode(&trailing), Err(DecodeError::Trailing));
    }

    #[test]
    fn prev_hash_sits_at_its_documented_offset() {
        let e = sample(7, [9u8; 32]);
        let raw = e.encode();
        assert_eq!(&raw[PREV_HASH_OFFSET..PREV_HASH_OFFSET + 32], &[9u8; 32]);
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(
            seq in any::<u64>(),
            secs in 0i64..4_000_000_000,
            micros in 0i64..1_000_000,
            actor in ".{0,40}",
            subjects in proptest::collection::vec("[a-z_0-9]{0,30}", 0..5),
            outcome in 0u8..3,
            prev in any::<[u8; 32]>(),
            token in prop_oneof![Just(String::new()), "tok_[0-9a-z]{26}"],
        ) {
            let mut e = sample(seq, prev);
            e.body.token_id = token;
            e.time = OffsetDateTime::from_unix_timestamp_nanos((secs as i128 * 1_000_000 + micros as i128) * 1000).unwrap();
            e.body.actor = actor;
            e.body.subjects = subjects;
            e.body.outcome = [Outcome::Allow, Outcome::Deny, Outcome::Error][outcome as usize];
            let raw = e.encode();
            prop_assert_eq!(raw[0], if e.body.token_id.is_empty() { FORMAT_VERSION } else { FORMAT_VERSION_TOKEN });
            prop_assert_eq!(check(&raw), Ok(e.seq));
            prop_assert_eq!(AuditEntry::decode(&raw).unwrap(), e);
        }

        /// The decoder of a stored entry (read back by verify, queries,
        /// restore's shipped segments) takes any bytes: an entry changed
        /// anywhere, or noise, decodes or is refused, never a panic.
        #[test]
        fn any_bytes_decode_or_are_refused(
            changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
            noise in proptest::collection::vec(any::<u8>(), 0..300),
            use_noise in any::<bool>(),
        ) {
            let mut raw = sample(7, [3; 32]).encode();
            if use_noise {
                raw = noise;
            }
            for (at, b) in changes {
                if !raw.is_empty() {
                    let i = at.index(raw.len());
                    raw[i] = b;
                }
            }
            let _ = AuditEntry::decode(&raw);
            let _ = check(&raw);
        }

        #[test]
        fn truncation_never_decodes(cut in 1usize..100) {
            let raw = sample(1, [0; 32]).encode();
            let cut = cut.min(raw.len());
            prop_assert!(AuditEntry::decode(&raw[..raw.len() - cut]).is_err());
            prop_assert!(check(&raw[..raw.len() - cut]).is_err());
        }
    }
}
