//! The audit log's entries shipped to the target (at every checkpoint and
//! at shutdown) and read back by a restore, and the decryption of a set.

use super::medium::Hashing;
use super::target::{AUDIT, OBJECTS, SEGMENT_CHECKPOINTS};
use super::{BackupError, Manifest, Target};
use std::io::{Read, Write};
use std::path::Path;

impl Target {
    /// The shipped audit segments as (first seq, end seq), in order.
    fn segments(&self) -> Result<Vec<(u64, u64)>, BackupError> {
        let mut out: Vec<(u64, u64)> = self
            .medium
            .list(AUDIT)?
            .into_iter()
            .filter_map(|l| {
                let (a, b) = l.name.strip_suffix(".seg")?.split_once('-')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Where the shipped audit log ends (the next sequence number to ship).
    pub fn shipped_end(&self) -> Result<u64, BackupError> {
        Ok(self.segments()?.last().map_or(0, |s| s.1))
    }

    /// Ships audit entries `first..` (canonical bytes, in order) as one
    /// immutable segment, age-encrypted like the objects (entries hold no
    /// personal value, but they name dossiers, people and staff by id).
    ///
    /// `checkpoint` is the log's signed checkpoint of its tree head right
    /// after the segment (size `end`): written first, beside the segment, so
    /// a restore appends only entries that a checkpoint signed with the
    /// log's key commits to (whoever can write the target cannot append
    /// entries that merely chain).
    pub fn put_audit_segment(
        &self,
        first: u64,
        raws: &[Vec<u8>],
        recipients: &[Box<dyn age::Recipient + Send>],
        checkpoint: &str,
    ) -> Result<(), BackupError> {
        if raws.is_empty() {
            return Ok(());
        }
        let end = first + raws.len() as u64;
        let note = format!("{SEGMENT_CHECKPOINTS}/{first:020}-{end:020}.note");
        if !self.medium.exists(&note)? {
            self.medium.put_new(&note, &mut |w| Ok(w.write_all(checkpoint.as_bytes())?))?;
        }
        let path = format!("{AUDIT}/{first:020}-{end:020}.seg");
        self.medium.put_new(&path, &mut |f| {
            let encryptor =
                age::Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient))
                    .map_err(|e| BackupError::Io(format!("age: {e}")))?;
            let mut w = encryptor.wrap_output(std::io::BufWriter::new(f))?;
            for r in raws {
                w.write_all(&(r.len() as u32).to_be_bytes())?;
                w.write_all(r)?;
            }
            w.finish()?.flush()?;
            Ok(())
        })?;
        Ok(())
    }

    /// The shipped segments that have no signed checkpoint beside them
    /// (shipped before segments were bound to one), as (first, end).
    pub fn unbound_segments(&self) -> Result<Vec<(u64, u64)>, BackupError> {
        let mut out = Vec::new();
        for (a, b) in self.segments()? {
            if !self.medium.exists(&format!("{SEGMENT_CHECKPOINTS}/{a:020}-{b:020}.note"))? {
                out.push((a, b));
            }
        }
        Ok(out)
    }

    /// Writes the signed checkpoint of a segment shipped without one.
    pub fn bind_segment(&self, first: u64, end: u64, checkpoint: &str) -> Result<(), BackupError> {
        let note = format!("{SEGMENT_CHECKPOINTS}/{first:020}-{end:020}.note");
        self.medium.put_new(&note, &mut |w| Ok(w.write_all(checkpoint.as_bytes())?)).map(|_| ())
    }

    /// The signed checkpoint shipped with the segment that ends at `end`,
    /// opened with the verifier key the target was opened with: its tree
    /// size must be `end`. `Err` for a segment shipped without one, or one
    /// that does not verify.
    pub fn segment_checkpoint(
        &self,
        first: u64,
        end: u64,
    ) -> Result<crate::audit::checkpoint::Checkpoint, BackupError> {
        let rel = format!("{SEGMENT_CHECKPOINTS}/{first:020}-{end:020}.note");
        let damaged = |what: String| BackupError::Damaged { path: rel.clone(), what };
        let note =
            self.medium.read_to_string(&rel).map_err(|_| damaged("the segment has no signed checkpoint".into()))?;
        let c = self.verifier.open_checkpoint(&note).map_err(|e| damaged(format!("checkpoint signature: {e}")))?;
        if c.size != end {
            return Err(damaged(format!("the checkpoint is of size {}, not {end}", c.size)));
        }
        Ok(c)
    }

    /// The shipped segments that hold entries from `from` on, as (first,
    /// end), as far as they are contiguous.
    pub fn shipped_segments(&self, from: u64) -> Result<Vec<(u64, u64)>, BackupError> {
        let mut out = Vec::new();
        let mut next = from;
        for (a, b) in self.segments()? {
            if b <= next {
                continue;
            }
            if a > next {
                break;
            }
            out.push((a, b));
            next = b;
        }
        Ok(out)
    }

    /// The shipped entries from `from` on, as far as the segments are
    /// contiguous; `Err` names a segment that does not parse.
    pub fn shipped_entries(&self, from: u64, identity: &dyn age::Identity) -> Result<Vec<Vec<u8>>, BackupError> {
        let mut out = Vec::new();
        let mut next = from;
        // Up to a gap: what follows one cannot be appended.
        for (a, b) in self.shipped_segments(from)? {
            let rel = format!("{AUDIT}/{a:020}-{b:020}.seg");
            let damaged = |what: String| BackupError::Damaged { path: rel.clone(), what };
            let file = std::io::BufReader::new(self.medium.read(&rel)?);
            let mut reader = age::Decryptor::new_buffered(file)
                .map_err(|e| damaged(format!("not an age file: {e}")))?
                .decrypt(std::iter::once(identity))
                .map_err(|e| damaged(format!("cannot be decrypted with this key: {e}")))?;
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).map_err(|e| damaged(format!("decryption failed: {e}")))?;
            let mut rest = &bytes[..];
            let mut seq = a;
            while !rest.is_empty() {
                let damaged = || BackupError::Damaged { path: rel.clone(), what: "segment does not parse".into() };
                let len =
                    rest.get(..4).map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize).ok_or_else(damaged)?;
                let raw = rest.get(4..4 + len).ok_or_else(damaged)?;
                if seq >= next {
                    out.push(raw.to_vec());
                }
                rest = &rest[4 + len..];
                seq += 1;
            }
            // Exactly the entries its name (and its signed checkpoint) says:
            // nothing appended past the end it was shipped with.
            if seq != b {
                return Err(damaged(format!("holds entries {a}..{seq}, not {a}..{b}")));
            }
            next = next.max(b);
        }
        Ok(out)
    }
}

impl Target {
    /// Decrypts the files of `set` into the empty directory `into` with
    /// `identity` (the master key or a recovery key), checking each file's
    /// plaintext SHA-256 against the manifest.
    pub fn extract(&self, set: &Manifest, identity: &dyn age::Identity, into: &Path) -> Result<u64, BackupError> {
        crate::crypto::owner_only_dir(into)?;
        let mut bytes = 0;
        for f in &set.files {
            if f.path.contains('/') || f.path.starts_with('.') {
                return Err(BackupError::Damaged { path: f.path.clone(), what: "not a plain file name".into() });
            }
            let rel = format!("{OBJECTS}/{}.age", f.object);
            let damaged = |what: String| BackupError::Damaged { path: rel.clone(), what };
            let file = std::io::BufReader::new(self.medium.read(&rel)?);
            let decryptor = age::Decryptor::new_buffered(file).map_err(|e| damaged(format!("not an age file: {e}")))?;
            let mut reader = decryptor
                .decrypt(std::iter::once(identity))
                .map_err(|e| damaged(format!("cannot be decrypted with this key: {e}")))?;
            let out = crate::crypto::owner_only_file().create(true).truncate(true).open(into.join(&f.path))?;
            let mut hashing = Hashing::new(out);
            std::io::copy(&mut reader, &mut hashing).map_err(|e| damaged(format!("decryption failed: {e}")))?;
            let (out, got) = hashing.stored();
            out.sync_all()?;
            if got.len != f.size || got.sha256 != f.sha256 {
                return Err(damaged("decrypts to other content than the manifest names".into()));
            }
            bytes += f.size;
        }
        std::fs::File::open(into)?.sync_all()?;
        Ok(bytes)
    }
}
