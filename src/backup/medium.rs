//! Where a target's files live: a directory (any mounted path) or a bucket
//! of an S3-protocol object store (`crate::backup::s3`). [`Target`] speaks
//! only to [`Medium`], so a set, the erasure journal and the shipped audit
//! log are the same files with the same guarantees on both.
//!
//! [`Target`]: super::Target

use super::BackupError;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What a stored file is: its size and SHA-256 (hex), as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub len: u64,
    pub sha256: String,
}

/// A file name in one of a target's folders, and when it was last written
/// (for the removal of what an interrupted writer left).
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub modified: Option<std::time::SystemTime>,
}

/// Writes a file's content into the writer it is given.
pub type Fill<'a> = &'a mut dyn FnMut(&mut dyn Write) -> Result<(), BackupError>;

/// The storage under a backup target. Every path is relative to the target
/// (`sets/bak_….note`); every file is written once, whole, and never
/// rewritten: `put_new` refuses a path that exists.
pub trait Medium: Send + Sync {
    /// The target as an operator names it, for messages (never a secret).
    fn describe(&self) -> String;
    /// Makes the folders ready (a directory's, owner-only; nothing in a
    /// bucket).
    fn prepare(&self, folders: &[&str]) -> Result<(), BackupError>;
    /// Whether `folder` was made: a directory that exists, or a bucket
    /// folder's marker (`<folder>/.custos`, written by [`Medium::mark`]).
    fn has_folder(&self, folder: &str) -> Result<bool, BackupError>;
    /// Marks `folder` as made (a bucket has no empty folders).
    fn mark(&self, folder: &str) -> Result<(), BackupError>;
    /// The size of the file at `rel`, `None` when there is none.
    fn size(&self, rel: &str) -> Result<Option<u64>, BackupError>;
    fn exists(&self, rel: &str) -> Result<bool, BackupError> {
        Ok(self.size(rel)?.is_some())
    }
    /// Reads a file as a stream, bounded in memory whatever its size.
    fn read(&self, rel: &str) -> Result<Box<dyn Read + Send + '_>, BackupError>;
    fn read_to_string(&self, rel: &str) -> Result<String, BackupError> {
        let mut s = String::new();
        self.read(rel)?.read_to_string(&mut s)?;
        Ok(s)
    }
    /// The files directly in `folder` (names without the folder), sorted.
    fn list(&self, folder: &str) -> Result<Vec<Listed>, BackupError>;
    /// Writes a new file whole, or not at all: `fill` writes its content.
    /// Refuses a path that exists.
    fn put_new(&self, rel: &str, fill: Fill<'_>) -> Result<Stored, BackupError>;
    fn delete(&self, rel: &str) -> Result<(), BackupError>;
    /// Removes what interrupted writers left (older than an hour): a
    /// directory's temporary files; a bucket's are its own (an
    /// `AbortIncompleteMultipartUpload` lifecycle rule, docs/backup.md).
    fn remove_stale(&self, folders: &[&str]) -> Result<usize, BackupError>;
}

/// A writer that hashes and counts what passes through it.
pub(super) struct Hashing<W: Write> {
    pub(super) inner: W,
    pub(super) hasher: Sha256,
    pub(super) len: u64,
}

impl<W: Write> Hashing<W> {
    pub(super) fn new(inner: W) -> Self {
        Hashing { inner, hasher: Sha256::new(), len: 0 }
    }

    pub(super) fn stored(self) -> (W, Stored) {
        (self.inner, Stored { len: self.len, sha256: hex::encode(self.hasher.finalize()) })
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes through to a file and syncs it every few megabytes, so the disk
/// never holds a large backlog of a set's dirty pages. The store's WAL fsyncs
/// wait for that backlog (ext4's ordered mode writes data out before the
/// journal commit an fsync needs), so a set written in one burst stalls
/// every write request until it is on disk; written in slices it does not.
pub(super) struct SyncedInSlices<'a> {
    pub(super) file: &'a mut std::fs::File,
    pub(super) unsynced: usize,
}

/// Measured with `scripts/backup-bench.sh`: 4 MiB slices keep a set at full
/// speed on an idle machine (docs/performance.md, "Backups").
pub(super) const SLICE_BYTES: usize = 4 << 20;

impl Write for SyncedInSlices<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n;
        if self.unsynced >= SLICE_BYTES {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Whether a file last written at `modified` is older than `secs` seconds
/// (unknown: no).
pub(super) fn older_than(modified: Option<std::time::SystemTime>, secs: u64) -> bool {
    modified.and_then(|t| t.elapsed().ok()).is_some_and(|age| age > std::time::Duration::from_secs(secs))
}

/// A target directory: any mounted path (NFS, SMB, USB, a synced folder).
pub struct Dir {
    pub(super) root: PathBuf,
}

impl Dir {
    pub fn new(root: &Path) -> Self {
        Dir { root: root.to_owned() }
    }

    fn path(&self, rel: &str) -> Result<PathBuf, BackupError> {
        if rel.split('/').any(|part| part.is_empty() || part == "..") {
            return Err(BackupError::Io(format!("{rel:?} is not a path inside the target")));
        }
        Ok(self.root.join(rel))
    }
}

impl Medium for Dir {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn prepare(&self, folders: &[&str]) -> Result<(), BackupError> {
        for f in folders {
            crate::crypto::owner_only_dir(&self.path(f)?)?;
        }
        Ok(())
    }

    fn has_folder(&self, folder: &str) -> Result<bool, BackupError> {
        Ok(self.path(folder)?.is_dir())
    }

    fn mark(&self, folder: &str) -> Result<(), BackupError> {
        Ok(crate::crypto::owner_only_dir(&self.path(folder)?)?)
    }

    fn size(&self, rel: &str) -> Result<Option<u64>, BackupError> {
        match std::fs::metadata(self.path(rel)?) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn read(&self, rel: &str) -> Result<Box<dyn Read + Send + '_>, BackupError> {
        Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(self.path(rel)?)?)))
    }

    fn list(&self, folder: &str) -> Result<Vec<Listed>, BackupError> {
        let dir = self.path(folder)?;
        if !dir.is_dir() {
            return Ok(vec![]);
        }
        let mut out: Vec<Listed> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .map(|e| Listed {
                name: e.file_name().to_string_lossy().into_owned(),
                modified: e.metadata().and_then(|m| m.modified()).ok(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A temporary file in the same directory, synced (in slices), renamed,
    /// and the directory synced.
    fn put_new(&self, rel: &str, fill: Fill<'_>) -> Result<Stored, BackupError> {
        let path = self.path(rel)?;
        let dir = path.parent().ok_or_else(|| BackupError::Io("a target path has no directory".into()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", ulid::Ulid::new()));
        let result = (|| {
            let mut f = crate::crypto::owner_only_file().create_new(true).open(&tmp)?;
            let mut hashing = Hashing::new(SyncedInSlices { file: &mut f, unsynced: 0 });
            fill(&mut hashing)?;
            hashing.flush()?;
            let (_, stored) = hashing.stored();
            f.sync_all()?;
            if path.exists() {
                return Err(BackupError::Io(format!(
                    "{} exists already; backup files are never rewritten",
                    path.display()
                )));
            }
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(dir)?.sync_all()?;
            Ok(stored)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn delete(&self, rel: &str) -> Result<(), BackupError> {
        Ok(std::fs::remove_file(self.path(rel)?)?)
    }

    /// Deletes temporary files (`.<name>.<ulid>.tmp`) older than an hour:
    /// what a killed backup left. Never a set or an object: those are
    /// renamed into place only when whole.
    fn remove_stale(&self, folders: &[&str]) -> Result<usize, BackupError> {
        let mut removed = 0;
        for folder in folders {
            for l in self.list(folder)? {
                let old = older_than(l.modified, 3600);
                if l.name.starts_with('.') && l.name.ends_with(".tmp") && old {
                    std::fs::remove_file(self.path(folder)?.join(&l.name))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_synced_and_every_byte_arrives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object");
        let data: Vec<u8> = (0..(SLICE_BYTES * 2 + 12345)).map(|i| (i % 251) as u8).collect();
        let mut file = std::fs::File::create(&path).unwrap();
        let mut w = SyncedInSlices { file: &mut file, unsynced: 0 };
        for chunk in data.chunks(64 * 1024 + 7) {
            w.write_all(chunk).unwrap();
        }
        assert!(w.unsynced < SLICE_BYTES, "synced at each slice, not only at the end");
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    #[test]
    fn a_directory_writes_once_and_refuses_paths_outside_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dir::new(dir.path());
        d.prepare(&["sets"]).unwrap();
        let stored = d.put_new("sets/a.note", &mut |w| Ok(w.write_all(b"hello")?)).unwrap();
        assert_eq!(stored.len, 5);
        assert_eq!(stored.sha256, hex::encode(Sha256::digest(b"hello")));
        assert_eq!(d.read_to_string("sets/a.note").unwrap(), "hello");
        assert!(d.put_new("sets/a.note", &mut |w| Ok(w.write_all(b"other")?)).is_err(), "never rewritten");
        assert_eq!(d.read_to_string("sets/a.note").unwrap(), "hello");
        for bad in ["../x", "sets/../../x", "/etc/passwd", "sets//a"] {
            assert!(d.put_new(bad, &mut |_| Ok(())).is_err(), "{bad}");
        }
        let names: Vec<String> = d.list("sets").unwrap().into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["a.note"]);
        assert_eq!(d.size("sets/none").unwrap(), None);
    }
}
