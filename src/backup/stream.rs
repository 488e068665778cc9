//! The standby stream: the store's own writes, shipped to the target every
//! second or so, so that a warm standby (the archive's `standby`) keeps a
//! copy of the data directory seconds behind the primary.
//!
//! ```text
//! stream/<lineage>-<first>-<last>.seg    the writes with sequence numbers first..=last,
//!                                        age-encrypted like the objects
//! stream/<lineage>-<first>-<last>.note   its signed note (sizes, SHA-256, time), written
//!                                        after the segment: a segment without one does not exist
//! promotions/<lineage>.note              a standby promoted: the new lineage, the one it
//!                                        supersedes; the old primary refuses to serve
//! ```
//!
//! A segment is a run of records `seq u64, count u64, ops u32`, then each op
//! as `kind u8 (1 put, 2 delete), family name (u8 length), key (u32
//! length), value (u32 length, puts only)`, all big-endian. Every length is
//! checked against what is left before anything is allocated.

use super::medium::Hashing;
use super::target::{PROMOTIONS, STREAM};
use super::{BackupError, Target};
use crate::audit::checkpoint::NoteSigner;
use crate::store::{Cf, Logged, Op};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use time::OffsetDateTime;

/// The format line of every stream note.
pub const STREAM_FORMAT: &str = "custos-stream/1";

/// The most a segment may hold, encrypted (a shipper cuts at a quarter of it).
pub const MAX_SEGMENT_BYTES: u64 = 64 << 20;

/// A stream segment's signed note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamNote {
    pub format: String,
    /// The database lineage the sequence numbers belong to.
    pub lineage: String,
    /// The first and last sequence numbers the segment's writes took.
    pub first: u64,
    pub last: u64,
    /// The encrypted segment's size and SHA-256 (hex).
    pub size: u64,
    pub sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub shipped_at: OffsetDateTime,
}

/// A promotion: the standby that became the primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    pub format: String,
    /// The promoted directory's new lineage, and the lineage it took over.
    pub lineage: String,
    pub supersedes: String,
    #[serde(with = "time::serde::rfc3339")]
    pub promoted_at: OffsetDateTime,
    /// The audit tree size the promoted directory starts from.
    pub audit_size: u64,
    /// The versions it lost, when told to accept a loss (as a restore names them).
    #[serde(default)]
    pub lost: Vec<String>,
}

fn signed<T: Serialize>(signer: &NoteSigner, v: &T) -> Result<String, BackupError> {
    let text = serde_json::to_string(v).map_err(|e| BackupError::Io(e.to_string()))?;
    Ok(signer.sign(&format!("{text}\n")))
}

fn name_of(lineage: &str, first: u64, last: u64, ext: &str) -> String {
    format!("{STREAM}/{lineage}-{first:020}-{last:020}.{ext}")
}

/// `<lineage>-<first>-<last>.note` → (lineage, first, last).
fn parse_name(name: &str) -> Option<(&str, u64, u64)> {
    let stem = name.strip_suffix(".note")?;
    let (rest, last) = stem.rsplit_once('-')?;
    let (lineage, first) = rest.rsplit_once('-')?;
    Some((lineage, first.parse().ok()?, last.parse().ok()?))
}

fn encode(changes: &[Logged], w: &mut dyn Write) -> std::io::Result<()> {
    for c in changes {
        w.write_all(&c.seq.to_be_bytes())?;
        w.write_all(&c.count.to_be_bytes())?;
        w.write_all(&(c.ops.len() as u32).to_be_bytes())?;
        for op in &c.ops {
            let (kind, cf, key, value) = match op {
                Op::Put(cf, k, v) => (1u8, cf, k, Some(v)),
                Op::Delete(cf, k) => (2u8, cf, k, None),
            };
            w.write_all(&[kind, cf.name().len() as u8])?;
            w.write_all(cf.name().as_bytes())?;
            w.write_all(&(key.len() as u32).to_be_bytes())?;
            w.write_all(key)?;
            if let Some(v) = value {
                w.write_all(&(v.len() as u32).to_be_bytes())?;
                w.write_all(v)?;
            }
        }
    }
    Ok(())
}

/// Reads a segment's records; `None` when it does not parse.
fn decode(mut rest: &[u8]) -> Option<Vec<Logged>> {
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (rest.get(..n)?, rest.get(n..)?);
        *rest = tail;
        Some(head)
    }
    fn u32_of(rest: &mut &[u8]) -> Option<usize> {
        Some(u32::from_be_bytes(take(rest, 4)?.try_into().ok()?) as usize)
    }
    fn u64_of(rest: &mut &[u8]) -> Option<u64> {
        Some(u64::from_be_bytes(take(rest, 8)?.try_into().ok()?))
    }
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (seq, count, n) = (u64_of(&mut rest)?, u64_of(&mut rest)?, u32_of(&mut rest)?);
        // Each op takes at least 7 bytes: a count beyond that is a lie.
        if n > rest.len() / 7 + 1 {
            return None;
        }
        let mut ops = Vec::new();
        for _ in 0..n {
            let head = take(&mut rest, 2)?;
            let name = std::str::from_utf8(take(&mut rest, usize::from(head[1]))?).ok()?;
            let cf = *Cf::ALL.iter().find(|c| c.name() == name)?;
            let klen = u32_of(&mut rest)?;
            let key = take(&mut rest, klen)?.to_vec();
            ops.push(match head[0] {
                1 => {
                    let vlen = u32_of(&mut rest)?;
                    Op::Put(cf, key, take(&mut rest, vlen)?.to_vec())
                }
                2 => Op::Delete(cf, key),
                _ => return None,
            });
        }
        out.push(Logged { seq, count, ops });
    }
    Some(out)
}

impl Target {
    /// Ships `changes` (in order, of `lineage`) as one segment and its note,
    /// the note last. Returns the note.
    pub fn put_stream(
        &self,
        lineage: &str,
        changes: &[Logged],
        recipients: &[Box<dyn age::Recipient + Send>],
        signer: &NoteSigner,
        now: OffsetDateTime,
    ) -> Result<StreamNote, BackupError> {
        let (Some(a), Some(b)) = (changes.first(), changes.last()) else {
            return Err(BackupError::Io("an empty stream segment".into()));
        };
        let (first, last) = (a.seq, b.seq.saturating_add(b.count.max(1)) - 1);
        let seg = name_of(lineage, first, last, "seg");
        // A segment left without its note (a failed shipment) does not
        // exist: it is written again (this primary alone writes its lineage).
        if self.medium.exists(&seg)? && !self.medium.exists(&name_of(lineage, first, last, "note"))? {
            self.medium.delete(&seg)?;
        }
        let stored = self.medium.put_new(&seg, &mut |f| {
            let encryptor =
                age::Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient))
                    .map_err(|e| BackupError::Io(format!("age: {e}")))?;
            let mut w = encryptor.wrap_output(std::io::BufWriter::new(f))?;
            encode(changes, &mut w)?;
            w.finish()?.flush()?;
            Ok(())
        })?;
        let note = StreamNote {
            format: STREAM_FORMAT.into(),
            lineage: lineage.into(),
            first,
            last,
            size: stored.len,
            sha256: stored.sha256,
            shipped_at: now,
        };
        let text = signed(signer, &note)?;
        self.medium.put_new(&name_of(lineage, first, last, "note"), &mut |w| Ok(w.write_all(text.as_bytes())?))?;
        Ok(note)
    }

    /// The stream segments of `lineage` that have a note, as (first, last),
    /// in order.
    pub fn stream_segments(&self, lineage: &str) -> Result<Vec<(u64, u64)>, BackupError> {
        let mut out: Vec<(u64, u64)> = self
            .medium
            .list(STREAM)?
            .iter()
            .filter_map(|l| parse_name(&l.name).filter(|(lin, _, _)| *lin == lineage).map(|(_, a, b)| (a, b)))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// A segment's note, its signature checked with the target's verifier key.
    pub fn stream_note(&self, lineage: &str, first: u64, last: u64) -> Result<StreamNote, BackupError> {
        let rel = name_of(lineage, first, last, "note");
        let damaged = |what: String| BackupError::Damaged { path: rel.clone(), what };
        let text = self.medium.read_to_string(&rel)?;
        let body = self.verifier.open(&text).map_err(|e| damaged(format!("stream note signature: {e}")))?;
        let note: StreamNote = serde_json::from_str(body.trim_end()).map_err(|_| damaged("does not parse".into()))?;
        if note.format != STREAM_FORMAT || note.lineage != lineage || (note.first, note.last) != (first, last) {
            return Err(damaged("names another segment than its file name".into()));
        }
        Ok(note)
    }

    /// A segment's writes: its size and SHA-256 checked against its signed
    /// note before it is decrypted with `identity`.
    pub fn stream_segment(&self, note: &StreamNote, identity: &dyn age::Identity) -> Result<Vec<Logged>, BackupError> {
        let rel = name_of(&note.lineage, note.first, note.last, "seg");
        let damaged = |what: &str| BackupError::Damaged { path: rel.clone(), what: what.into() };
        if note.size > MAX_SEGMENT_BYTES {
            return Err(damaged("larger than a segment may be"));
        }
        let mut cipher = Vec::with_capacity(note.size as usize);
        let mut hashing = Hashing::new(&mut cipher);
        std::io::copy(&mut self.medium.read(&rel)?.take(note.size + 1), &mut hashing)?;
        let (_, got) = hashing.stored();
        if got.len != note.size || got.sha256 != note.sha256 {
            return Err(damaged("its content is not what its signed note names"));
        }
        let mut plain = Vec::new();
        age::Decryptor::new_buffered(&cipher[..])
            .map_err(|_| damaged("not an age file"))?
            .decrypt(std::iter::once(identity))
            .map_err(|_| damaged("cannot be decrypted with this key"))?
            .take(MAX_SEGMENT_BYTES)
            .read_to_end(&mut plain)
            .map_err(|_| damaged("decryption failed"))?;
        let changes = decode(&plain).ok_or_else(|| damaged("does not parse"))?;
        let spans = changes.first().map(|c| c.seq) == Some(note.first)
            && changes.last().map(|c| c.seq.saturating_add(c.count.max(1)) - 1) == Some(note.last);
        if !spans {
            return Err(damaged("holds other writes than its note names"));
        }
        Ok(changes)
    }

    /// Deletes the stream segments (and notes) last changed before `before`.
    pub fn expire_stream(&self, before: std::time::SystemTime) -> Result<usize, BackupError> {
        let mut gone = 0;
        for l in self.medium.list(STREAM)? {
            if l.name.starts_with('.') || l.modified.is_none_or(|m| m >= before) {
                continue;
            }
            self.medium.delete(&format!("{STREAM}/{}", l.name))?;
            gone += 1;
        }
        Ok(gone)
    }

    /// Records a promotion (signed with the log's key).
    pub fn put_promotion(&self, p: &Promotion, signer: &NoteSigner) -> Result<(), BackupError> {
        let text = signed(signer, p)?;
        let rel = format!("{PROMOTIONS}/{}.note", p.lineage);
        self.medium.put_new(&rel, &mut |w| Ok(w.write_all(text.as_bytes())?)).map(|_| ())
    }

    /// The promotion that superseded `lineage`, if any (only notes signed
    /// with the target's verifier key count).
    pub fn superseded(&self, lineage: &str) -> Result<Option<Promotion>, BackupError> {
        for l in self.medium.list(PROMOTIONS)? {
            if !l.name.ends_with(".note") || l.name.starts_with('.') {
                continue;
            }
            let text = self.medium.read_to_string(&format!("{PROMOTIONS}/{}", l.name))?;
            let Ok(body) = self.verifier.open(&text) else { continue };
            if let Ok(p) = serde_json::from_str::<Promotion>(body.trim_end()) {
                if p.supersedes == lineage {
                    return Ok(Some(p));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Logged> {
        vec![
            Logged {
                seq: 7,
                count: 2,
                ops: vec![
                    Op::Put(Cf::Dossiers, b"dos_a".to_vec(), b"v".to_vec()),
                    Op::Delete(Cf::Keys, b"s/x".to_vec()),
                ],
            },
            Logged { seq: 9, count: 1, ops: vec![Op::Put(Cf::Audit, 9u64.to_be_bytes().to_vec(), vec![])] },
        ]
    }

    #[test]
    fn a_segment_reads_back_as_written_and_a_damaged_one_never_panics() {
        let mut bytes = Vec::new();
        encode(&sample(), &mut bytes).unwrap();
        assert_eq!(decode(&bytes).unwrap(), sample());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_none_or(|c| c.len() < 2), "a cut segment at {cut}");
        }
        let mut lying = bytes.clone();
        lying[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(&lying).is_none(), "a count beyond the bytes is refused before allocating");
        let mut unknown = bytes.clone();
        unknown[21] = b'X';
        assert!(decode(&unknown).is_none(), "an unknown family");
    }

    #[test]
    fn names_parse_back() {
        let n = name_of("lin_01abc", 5, 12, "note");
        assert_eq!(parse_name(n.strip_prefix("stream/").unwrap()), Some(("lin_01abc", 5, 12)));
        assert_eq!(parse_name("junk.note"), None);
    }
}
