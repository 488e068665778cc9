//! A backup target directory: immutable encrypted objects, signed manifests.

use super::{BackupError, FileEntry, Manifest, FORMAT};
use crate::audit::checkpoint::NoteVerifier;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MARKER: &str = "custos-backup";
pub(super) const OBJECTS: &str = "objects";
const SETS: &str = "sets";
const JOURNAL: &str = "journal";
pub(super) const AUDIT: &str = "audit";
/// The log's signed checkpoint after each shipped audit segment
/// (`<first>-<end>.note`, plain signed notes: sizes and roots, no id).
pub(super) const SEGMENT_CHECKPOINTS: &str = "audit-checkpoints";

/// A short summary of a set, for `custos backup list`.
#[derive(Debug, Clone)]
pub struct SetSummary {
    pub manifest: Manifest,
    /// Where its manifest is (relative to the target).
    pub path: String,
}

/// A writer that hashes and counts what passes through it.
pub(super) struct Hashing<W: Write> {
    pub(super) inner: W,
    pub(super) hasher: Sha256,
    pub(super) len: u64,
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
struct SyncedInSlices<'a> {
    file: &'a mut std::fs::File,
    unsynced: usize,
}

/// Measured with `scripts/backup-bench.sh`: 4 MiB slices keep a set at full
/// speed on an idle machine (docs/performance.md, "Backups").
const SLICE_BYTES: usize = 4 << 20;

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

fn sha256_file(path: &Path) -> Result<(u64, String), BackupError> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hex::encode(h.finalize())))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, synced, renamed, and the directory synced. Never replaces an
/// existing file.
pub(super) fn write_new(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> Result<(), BackupError>,
) -> Result<(), BackupError> {
    let dir = path.parent().ok_or_else(|| BackupError::Io("a target path has no directory".into()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", ulid::Ulid::new()));
    let result = (|| {
        let mut f = crate::crypto::owner_only_file().create_new(true).open(&tmp)?;
        write(&mut f)?;
        f.sync_all()?;
        if path.exists() {
            return Err(BackupError::Io(format!(
                "{} exists already; backup files are never rewritten",
                path.display()
            )));
        }
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The signed notes (`*.note`, not temporary files) in `dir`, sorted.
fn notes_in(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".note") && !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

/// An opened backup target.
pub struct Target {
    pub(super) dir: PathBuf,
    pub(super) verifier: NoteVerifier,
}

impl Target {
    /// Opens `dir` as the target of the log whose verifier key is `vkey`,
    /// creating it if empty. A target of another log is refused.
    pub fn create(dir: &Path, vkey: &str) -> Result<Self, BackupError> {
        for sub in [OBJECTS, SETS, JOURNAL, AUDIT, SEGMENT_CHECKPOINTS] {
            crate::crypto::owner_only_dir(&dir.join(sub))?;
        }
        let marker = dir.join(MARKER);
        if !marker.exists() {
            write_new(&marker, |f| Ok(f.write_all(format!("{FORMAT}\nverifier-key: {vkey}\n").as_bytes())?))?;
        }
        let target = Self::open(dir, None)?;
        if Self::recorded_key(dir)? != vkey {
            return Err(BackupError::Unreadable(format!(
                "{} holds the backups of another custos (its verifier key differs); choose another backup_dir",
                dir.display()
            )));
        }
        Ok(target)
    }

    fn recorded_key(dir: &Path) -> Result<String, BackupError> {
        let text = std::fs::read_to_string(dir.join(MARKER))
            .map_err(|e| BackupError::Unreadable(format!("{} is not a custos backup target: {e}", dir.display())))?;
        let mut lines = text.lines();
        if lines.next() != Some(FORMAT) {
            return Err(BackupError::Unreadable(format!("{}: not a {FORMAT} target", dir.display())));
        }
        lines
            .find_map(|l| l.strip_prefix("verifier-key: "))
            .map(str::to_owned)
            .ok_or_else(|| BackupError::Unreadable(format!("{}: the target names no verifier key", dir.display())))
    }

    /// Opens an existing target; `vkey` overrides the key recorded in it
    /// (an auditor passes their own copy).
    pub fn open(dir: &Path, vkey: Option<&str>) -> Result<Self, BackupError> {
        let key = match vkey {
            Some(k) => k.to_owned(),
            None => Self::recorded_key(dir)?,
        };
        let verifier = NoteVerifier::parse(&key)
            .map_err(|_| BackupError::Unreadable(format!("{}: the verifier key does not parse", dir.display())))?;
        if !dir.join(SETS).is_dir() {
            return Err(BackupError::Unreadable(format!("{}: no sets directory", dir.display())));
        }
        Ok(Target { dir: dir.to_owned(), verifier })
    }

    /// Every set whose manifest verifies, oldest first, and the manifests
    /// that do not (path, what is wrong).
    pub fn sets(&self) -> Result<(Vec<SetSummary>, Vec<Damage>), BackupError> {
        let names = notes_in(&self.dir.join(SETS))
            .map_err(|e| BackupError::Unreadable(format!("{}: {e}", self.dir.display())))?;
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for n in names {
            let path = format!("{SETS}/{n}");
            let opened = std::fs::read_to_string(self.dir.join(&path))
                .map_err(|e| BackupError::Damaged { path: path.clone(), what: e.to_string() })
                .and_then(|note| Manifest::open(&note, &self.verifier, &path));
            match opened {
                Ok(manifest) => ok.push(SetSummary { manifest, path }),
                Err(BackupError::Damaged { path, what }) => bad.push(Damage { path, what }),
                Err(e) => bad.push(Damage { path, what: e.to_string() }),
            }
        }
        ok.sort_by_key(|s| s.manifest.created_at);
        Ok((ok, bad))
    }

    /// What the signed manifests already record: objects by name, and the
    /// SST files of each database (identity, path, size).
    pub fn known_objects(&self) -> Result<Known, BackupError> {
        let (sets, _) = self.sets()?;
        let mut known = Known::default();
        for s in sets {
            for f in s.manifest.files {
                if f.path.ends_with(".sst") {
                    known.ssts.insert((s.manifest.db_identity.clone(), f.path.clone(), f.size), f.clone());
                }
                known.objects.insert(f.object.clone(), f);
            }
        }
        Ok(known)
    }

    /// Stores one file of the checkpoint: encrypted to `recipients` as a new
    /// object, or the existing object of the same content. Returns its entry
    /// and whether it was written now.
    pub fn put_file(
        &self,
        rel: &str,
        path: &Path,
        recipients: &[Box<dyn age::Recipient + Send>],
        known: &Known,
        db_identity: &str,
    ) -> Result<(FileEntry, bool), BackupError> {
        // An SST file a set of the same database already holds: not read again.
        let len = std::fs::metadata(path)?.len();
        if let Some(k) = known.ssts.get(&(db_identity.to_owned(), rel.to_owned(), len)) {
            let object_path = self.dir.join(OBJECTS).join(format!("{}.age", k.object));
            if !db_identity.is_empty() && std::fs::metadata(&object_path).map(|m| m.len()).ok() == Some(k.object_size) {
                return Ok((k.clone(), false));
            }
        }
        let (size, sha256) = sha256_file(path)?;
        let object_path = self.dir.join(OBJECTS).join(format!("{sha256}.age"));
        if let Some(k) = known.objects.get(&sha256) {
            let on_disk = std::fs::metadata(&object_path).map(|m| m.len()).ok();
            if on_disk == Some(k.object_size) {
                let entry = FileEntry { path: rel.to_owned(), size, sha256, ..k.clone() };
                return Ok((entry, false));
            }
        }
        if object_path.exists() {
            // Complete (objects are renamed into place only once whole) but
            // not yet in a manifest: left by a backup that stopped before its
            // manifest. Its name is its plaintext's hash; take it as it is.
            let (object_size, object_sha256) = sha256_file(&object_path)?;
            let entry =
                FileEntry { path: rel.to_owned(), size, object: sha256.clone(), sha256, object_size, object_sha256 };
            return Ok((entry, false));
        }
        let mut result = None;
        write_new(&object_path, |f| {
            let encryptor =
                age::Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient))
                    .map_err(|e| BackupError::Io(format!("age: {e}")))?;
            let synced = SyncedInSlices { file: f, unsynced: 0 };
            let mut out = encryptor.wrap_output(Hashing { inner: synced, hasher: Sha256::new(), len: 0 })?;
            std::io::copy(&mut std::fs::File::open(path)?, &mut out)?;
            let hashing = out.finish()?;
            result = Some((hashing.len, hex::encode(hashing.hasher.finalize())));
            Ok(())
        })?;
        let (object_size, object_sha256) = result.ok_or_else(|| BackupError::Io("object not written".into()))?;
        let entry =
            FileEntry { path: rel.to_owned(), size, object: sha256.clone(), sha256, object_size, object_sha256 };
        Ok((entry, true))
    }

    /// Journals a destruction or erasure: its signed certificate, by id.
    /// Idempotent: a certificate journaled before (a retried batch) stays.
    pub fn put_journal(&self, certificate_id: &str, note: &str) -> Result<(), BackupError> {
        let path = self.dir.join(JOURNAL).join(format!("{certificate_id}.note"));
        if path.exists() {
            return Ok(());
        }
        write_new(&path, |f| Ok(f.write_all(note.as_bytes())?))
    }

    /// The journal's entries (signed certificates), by file name, each
    /// opened with the log's key; the ones that do not verify are damaged.
    pub fn journal(&self) -> Result<(Vec<JournalEntry>, Vec<Damage>), BackupError> {
        let dir = self.dir.join(JOURNAL);
        if !dir.is_dir() {
            return Ok((vec![], vec![]));
        }
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for n in notes_in(&dir)? {
            let path = format!("{JOURNAL}/{n}");
            match std::fs::read_to_string(self.dir.join(&path)) {
                Ok(note) => match self.verifier.open(&note) {
                    Ok(text) => ok.push(JournalEntry { path, certificate: text.to_owned() }),
                    Err(e) => bad.push(Damage { path, what: format!("journal signature: {e}") }),
                },
                Err(e) => bad.push(Damage { path, what: e.to_string() }),
            }
        }
        Ok((ok, bad))
    }

    /// Deletes the sets created before `before` (always keeping the newest
    /// set), then every object no remaining set names. Returns the expired
    /// sets and the number of objects removed.
    pub fn expire(&self, before: time::OffsetDateTime) -> Result<(Vec<String>, usize), BackupError> {
        self.remove_stale_temporaries()?;
        let (sets, _) = self.sets()?;
        let newest = sets.last().map(|s| s.manifest.backup_id.clone());
        let mut expired = Vec::new();
        for s in &sets {
            if s.manifest.created_at < before && Some(&s.manifest.backup_id) != newest.as_ref() {
                std::fs::remove_file(self.dir.join(&s.path))?;
                expired.push(s.manifest.backup_id.to_string());
            }
        }
        if expired.is_empty() {
            return Ok((expired, 0));
        }
        let (kept, _) = self.sets()?;
        let live: std::collections::HashSet<String> =
            kept.iter().flat_map(|s| s.manifest.files.iter().map(|f| format!("{}.age", f.object))).collect();
        let mut removed = 0;
        for e in std::fs::read_dir(self.dir.join(OBJECTS))?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".age") && !name.starts_with('.') && !live.contains(&name) {
                std::fs::remove_file(e.path())?;
                removed += 1;
            }
        }
        Ok((expired, removed))
    }

    /// Deletes temporary files (`.<name>.<ulid>.tmp`) older than an hour: what
    /// a killed backup left. Never a set or an object: those are renamed
    /// into place only when whole.
    fn remove_stale_temporaries(&self) -> Result<usize, BackupError> {
        let mut removed = 0;
        for sub in [OBJECTS, SETS, JOURNAL, AUDIT, SEGMENT_CHECKPOINTS] {
            let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) else { continue };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > std::time::Duration::from_secs(3600));
                if name.starts_with('.') && name.ends_with(".tmp") && old {
                    std::fs::remove_file(e.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Writes a set's signed manifest: the set exists from this moment.
    pub fn put_manifest(&self, manifest: &Manifest, note: &str) -> Result<String, BackupError> {
        let rel = format!("{SETS}/{}.note", manifest.backup_id);
        write_new(&self.dir.join(&rel), |f| Ok(f.write_all(note.as_bytes())?))?;
        Ok(rel)
    }
}

/// A journaled destruction or erasure: its certificate (JSON), verified.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    pub path: String,
    pub certificate: String,
}

/// What a target already holds, for incremental sets.
#[derive(Debug, Default)]
pub struct Known {
    /// Objects by name (their plaintext's SHA-256).
    pub objects: HashMap<String, FileEntry>,
    /// SST files by (database identity, path, size).
    pub ssts: HashMap<(String, String, u64), FileEntry>,
}

/// One damaged place a verification found.
#[derive(Debug, Clone)]
pub struct Damage {
    pub path: String,
    pub what: String,
}

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub sets: usize,
    /// Journaled destructions and erasures.
    pub journal: usize,
    pub objects: usize,
    pub bytes: u64,
    pub damaged: Vec<Damage>,
}

/// Checks every set's signature and every object's size and SHA-256,
/// without any key. `Err` when the target cannot be read at all.
pub fn verify(dir: &Path, vkey: Option<&str>) -> Result<VerifyReport, BackupError> {
    let target = Target::open(dir, vkey)?;
    let (sets, bad) = target.sets()?;
    let mut report = VerifyReport { sets: sets.len(), ..Default::default() };
    report.damaged.extend(bad);
    let (journal, bad) = target.journal()?;
    report.journal = journal.len();
    report.damaged.extend(bad);
    let mut objects: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for s in &sets {
        for f in &s.manifest.files {
            objects.insert(f.object.clone(), (f.object_size, f.object_sha256.clone()));
        }
    }
    for (object, (size, sha)) in objects {
        let rel = format!("{OBJECTS}/{object}.age");
        report.objects += 1;
        match sha256_file(&dir.join(&rel)) {
            Err(e) => report.damaged.push(Damage { path: rel, what: format!("unreadable: {e}") }),
            Ok((n, h)) if n != size || h != sha => {
                report.damaged.push(Damage { path: rel, what: "size or SHA-256 differs from the manifest".into() })
            }
            Ok((n, _)) => report.bytes += n,
        }
    }
    Ok(report)
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
}
