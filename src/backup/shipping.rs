//! The audit log's entries shipped to the target (at every checkpoint and
//! at shutdown) and read back by a restore, and the decryption of a set.

use super::target::{write_new, Hashing, AUDIT, OBJECTS};
use super::{BackupError, Manifest, Target};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

impl Target {
    /// The shipped audit segments as (first seq, end seq), in order.
    fn segments(&self) -> Result<Vec<(u64, u64)>, BackupError> {
        let dir = self.dir.join(AUDIT);
        if !dir.is_dir() {
            return Ok(vec![]);
        }
        let mut out: Vec<(u64, u64)> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                let (a, b) = n.strip_suffix(".seg")?.split_once('-')?;
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
    pub fn put_audit_segment(
        &self,
        first: u64,
        raws: &[Vec<u8>],
        recipients: &[Box<dyn age::Recipient + Send>],
    ) -> Result<(), BackupError> {
        if raws.is_empty() {
            return Ok(());
        }
        let end = first + raws.len() as u64;
        let path = self.dir.join(AUDIT).join(format!("{first:020}-{end:020}.seg"));
        write_new(&path, |f| {
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
        })
    }

    /// The shipped entries from `from` on, as far as the segments are
    /// contiguous; `Err` names a segment that does not parse.
    pub fn shipped_entries(&self, from: u64, identity: &dyn age::Identity) -> Result<Vec<Vec<u8>>, BackupError> {
        let mut out = Vec::new();
        let mut next = from;
        for (a, b) in self.segments()? {
            if b <= next {
                continue;
            }
            if a > next {
                break; // a gap: what follows cannot be appended
            }
            let rel = format!("{AUDIT}/{a:020}-{b:020}.seg");
            let damaged = |what: String| BackupError::Damaged { path: rel.clone(), what };
            let file = std::io::BufReader::new(std::fs::File::open(self.dir.join(&rel))?);
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
        super::target::private_dir(into)?;
        let mut bytes = 0;
        for f in &set.files {
            if f.path.contains('/') || f.path.starts_with('.') {
                return Err(BackupError::Damaged { path: f.path.clone(), what: "not a plain file name".into() });
            }
            let rel = format!("{OBJECTS}/{}.age", f.object);
            let damaged = |what: String| BackupError::Damaged { path: rel.clone(), what };
            let file = std::io::BufReader::new(std::fs::File::open(self.dir.join(&rel))?);
            let decryptor = age::Decryptor::new_buffered(file).map_err(|e| damaged(format!("not an age file: {e}")))?;
            let mut reader = decryptor
                .decrypt(std::iter::once(identity))
                .map_err(|e| damaged(format!("cannot be decrypted with this key: {e}")))?;
            let out = super::target::private_file().create(true).truncate(true).open(into.join(&f.path))?;
            let mut hashing = Hashing { inner: out, hasher: Sha256::new(), len: 0 };
            std::io::copy(&mut reader, &mut hashing).map_err(|e| damaged(format!("decryption failed: {e}")))?;
            hashing.inner.sync_all()?;
            if hashing.len != f.size || hex::encode(hashing.hasher.finalize()) != f.sha256 {
                return Err(damaged("decrypts to other content than the manifest names".into()));
            }
            bytes += f.size;
        }
        std::fs::File::open(into)?.sync_all()?;
        Ok(bytes)
    }
}
