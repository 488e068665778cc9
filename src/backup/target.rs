//! A backup target directory: immutable encrypted objects, signed manifests.

use super::medium::{Hashing, Medium};
use super::{BackupError, FileEntry, Location, Manifest, FORMAT};
use crate::audit::checkpoint::NoteVerifier;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const MARKER: &str = "custos-backup";
const FOLDERS: [&str; 7] = [OBJECTS, SETS, JOURNAL, AUDIT, SEGMENT_CHECKPOINTS, STREAM, PROMOTIONS];
pub(super) const OBJECTS: &str = "objects";
const SETS: &str = "sets";
const JOURNAL: &str = "journal";
pub(super) const AUDIT: &str = "audit";
/// The log's signed checkpoint after each shipped audit segment
/// (`<first>-<end>.note`, plain signed notes: sizes and roots, no id).
pub(super) const SEGMENT_CHECKPOINTS: &str = "audit-checkpoints";
/// The standby stream's segments and notes (`super::stream`).
pub(super) const STREAM: &str = "stream";
/// Promotions of a standby (`super::stream`).
pub(super) const PROMOTIONS: &str = "promotions";

/// A short summary of a set, for `custos backup list`.
#[derive(Debug, Clone)]
pub struct SetSummary {
    pub manifest: Manifest,
    /// Where its manifest is (relative to the target).
    pub path: String,
}

/// The signed notes (`*.note`, not temporary files or markers) in `folder`,
/// sorted.
fn notes_in(medium: &dyn Medium, folder: &str) -> Result<Vec<String>, BackupError> {
    Ok(medium
        .list(folder)?
        .into_iter()
        .map(|l| l.name)
        .filter(|n| n.ends_with(".note") && !n.starts_with('.'))
        .collect())
}

/// An opened backup target.
pub struct Target {
    pub(super) medium: Box<dyn Medium>,
    pub(super) verifier: NoteVerifier,
}

impl Target {
    /// Opens `at` as the target of the log whose verifier key is `vkey`,
    /// creating it if empty. A target of another log is refused. `spool`:
    /// where a bucket target's files wait to go up (the data directory's
    /// disk).
    pub fn create(at: &Location, vkey: &str, spool: &Path) -> Result<Self, BackupError> {
        let medium = at.medium(Some(spool))?;
        medium.prepare(&FOLDERS)?;
        if !medium.exists(MARKER)? {
            let made = medium
                .put_new(MARKER, &mut |w| Ok(w.write_all(format!("{FORMAT}\nverifier-key: {vkey}\n").as_bytes())?));
            // Made by another writer meanwhile: its key is checked below.
            if made.is_err() && !medium.exists(MARKER)? {
                made?;
            }
        }
        medium.mark(JOURNAL)?;
        if Self::recorded_key(medium.as_ref())? != vkey {
            return Err(BackupError::Unreadable(format!(
                "{} holds the backups of another custos (its verifier key differs); choose another backup target",
                medium.describe()
            )));
        }
        let verifier = Self::verifier(medium.as_ref(), vkey)?;
        Ok(Target { medium, verifier })
    }

    fn recorded_key(medium: &dyn Medium) -> Result<String, BackupError> {
        let name = medium.describe();
        let text = medium
            .read_to_string(MARKER)
            .map_err(|e| BackupError::Unreadable(format!("{name} is not a custos backup target: {e}")))?;
        let mut lines = text.lines();
        if lines.next() != Some(FORMAT) {
            return Err(BackupError::Unreadable(format!("{name}: not a {FORMAT} target")));
        }
        lines
            .find_map(|l| l.strip_prefix("verifier-key: "))
            .map(str::to_owned)
            .ok_or_else(|| BackupError::Unreadable(format!("{name}: the target names no verifier key")))
    }

    /// Opens an existing target to read; `vkey` overrides the key recorded
    /// in it (an auditor passes their own copy).
    pub fn open(at: &Location, vkey: Option<&str>) -> Result<Self, BackupError> {
        Self::with(at.medium(None)?, vkey)
    }

    fn with(medium: Box<dyn Medium>, vkey: Option<&str>) -> Result<Self, BackupError> {
        let key = match vkey {
            // A copy an auditor verifies with their own key needs its sets only.
            Some(k) if medium.exists(MARKER)? || medium.has_folder(SETS)? => k.to_owned(),
            Some(_) => {
                return Err(BackupError::Unreadable(format!("{} is not a custos backup target", medium.describe())))
            }
            None => Self::recorded_key(medium.as_ref())?,
        };
        let verifier = Self::verifier(medium.as_ref(), &key)?;
        Ok(Target { medium, verifier })
    }

    fn verifier(medium: &dyn Medium, key: &str) -> Result<NoteVerifier, BackupError> {
        NoteVerifier::parse(key)
            .map_err(|_| BackupError::Unreadable(format!("{}: the verifier key does not parse", medium.describe())))
    }

    /// Opens a checkpoint note (a set's) with the target's verifier key.
    pub fn open_checkpoint(&self, note: &str) -> Result<crate::audit::checkpoint::Checkpoint, BackupError> {
        self.verifier
            .open_checkpoint(note)
            .map_err(|e| BackupError::Damaged { path: "a set's checkpoint".into(), what: format!("signature: {e}") })
    }

    /// The target as its operator names it (a directory, `s3://bucket/prefix`).
    pub fn describe(&self) -> String {
        self.medium.describe()
    }

    /// Whether the target has its erasure journal (a restore without it
    /// must be told to go on).
    pub fn has_journal(&self) -> Result<bool, BackupError> {
        self.medium.has_folder(JOURNAL)
    }

    /// Every set whose manifest verifies, oldest first, and the manifests
    /// that do not (path, what is wrong).
    pub fn sets(&self) -> Result<(Vec<SetSummary>, Vec<Damage>), BackupError> {
        let names = notes_in(self.medium.as_ref(), SETS)
            .map_err(|e| BackupError::Unreadable(format!("{}: {e}", self.describe())))?;
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for n in names {
            let path = format!("{SETS}/{n}");
            let opened = self
                .medium
                .read_to_string(&path)
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
            let object = format!("{OBJECTS}/{}.age", k.object);
            if !db_identity.is_empty() && self.medium.size(&object)? == Some(k.object_size) {
                return Ok((k.clone(), false));
            }
        }
        let plain = sha256_file(path)?;
        let (size, sha256) = (plain.len, plain.sha256);
        let object = format!("{OBJECTS}/{sha256}.age");
        let on_target = self.medium.size(&object)?;
        if let Some(k) = known.objects.get(&sha256) {
            if on_target == Some(k.object_size) {
                let entry = FileEntry { path: rel.to_owned(), size, sha256, ..k.clone() };
                return Ok((entry, false));
            }
        }
        if on_target.is_some() {
            // Complete (objects are put in place only once whole) but not
            // yet in a manifest: left by a backup that stopped before its
            // manifest. Its name is its plaintext's hash; take it as it is.
            let mut h = Hashing::new(std::io::sink());
            std::io::copy(&mut self.medium.read(&object)?, &mut h)?;
            let (_, o) = h.stored();
            let entry = FileEntry {
                path: rel.to_owned(),
                size,
                object: sha256.clone(),
                sha256,
                object_size: o.len,
                object_sha256: o.sha256,
            };
            return Ok((entry, false));
        }
        let stored = self.medium.put_new(&object, &mut |w| {
            let encryptor =
                age::Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient))
                    .map_err(|e| BackupError::Io(format!("age: {e}")))?;
            let mut out = encryptor.wrap_output(w)?;
            std::io::copy(&mut std::fs::File::open(path)?, &mut out)?;
            out.finish()?;
            Ok(())
        })?;
        let entry = FileEntry {
            path: rel.to_owned(),
            size,
            object: sha256.clone(),
            sha256,
            object_size: stored.len,
            object_sha256: stored.sha256,
        };
        Ok((entry, true))
    }

    /// Journals a destruction or erasure: its signed certificate, by id.
    /// Idempotent: a certificate journaled before (a retried batch) stays.
    pub fn put_journal(&self, certificate_id: &str, note: &str) -> Result<(), BackupError> {
        let rel = format!("{JOURNAL}/{certificate_id}.note");
        if self.medium.exists(&rel)? {
            return Ok(());
        }
        self.medium.put_new(&rel, &mut |w| Ok(w.write_all(note.as_bytes())?)).map(|_| ())
    }

    /// The journal's entries (signed certificates), by file name, each
    /// opened with the log's key; the ones that do not verify are damaged.
    pub fn journal(&self) -> Result<(Vec<JournalEntry>, Vec<Damage>), BackupError> {
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for n in notes_in(self.medium.as_ref(), JOURNAL)? {
            let path = format!("{JOURNAL}/{n}");
            match self.medium.read_to_string(&path) {
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
        self.medium.remove_stale(&FOLDERS)?;
        let (sets, _) = self.sets()?;
        let newest = sets.last().map(|s| s.manifest.backup_id.clone());
        let mut expired = Vec::new();
        for s in &sets {
            if s.manifest.created_at < before && Some(&s.manifest.backup_id) != newest.as_ref() {
                self.medium.delete(&s.path)?;
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
        for l in self.medium.list(OBJECTS)? {
            if l.name.ends_with(".age") && !l.name.starts_with('.') && !live.contains(&l.name) {
                self.medium.delete(&format!("{OBJECTS}/{}", l.name))?;
                removed += 1;
            }
        }
        Ok((expired, removed))
    }

    /// Writes a set's signed manifest: the set exists from this moment.
    pub fn put_manifest(&self, manifest: &Manifest, note: &str) -> Result<String, BackupError> {
        let rel = format!("{SETS}/{}.note", manifest.backup_id);
        self.medium.put_new(&rel, &mut |w| Ok(w.write_all(note.as_bytes())?))?;
        Ok(rel)
    }
}

fn sha256_file(path: &Path) -> Result<super::medium::Stored, BackupError> {
    let mut h = Hashing::new(std::io::sink());
    std::io::copy(&mut std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?), &mut h)?;
    Ok(h.stored().1)
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
    /// When the newest set whose manifest verifies was made.
    pub newest: Option<time::OffsetDateTime>,
    /// Journaled destructions and erasures.
    pub journal: usize,
    pub objects: usize,
    pub bytes: u64,
    pub damaged: Vec<Damage>,
}

/// Checks every set's signature and every object's size and SHA-256,
/// without any key. `Err` when the target cannot be read at all.
pub fn verify(at: &Location, vkey: Option<&str>) -> Result<VerifyReport, BackupError> {
    let target = Target::open(at, vkey)?;
    let (sets, bad) = target.sets()?;
    let newest = sets.last().map(|s| s.manifest.created_at);
    let mut report = VerifyReport { sets: sets.len(), newest, ..Default::default() };
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
        let mut h = Hashing::new(std::io::sink());
        let read = target.medium.read(&rel).and_then(|mut r| Ok(std::io::copy(&mut r, &mut h)?));
        let (_, got) = h.stored();
        match read {
            Err(e) => report.damaged.push(Damage { path: rel, what: format!("unreadable: {e}") }),
            Ok(_) if got.len != size || got.sha256 != sha => {
                report.damaged.push(Damage { path: rel, what: "size or SHA-256 differs from the manifest".into() })
            }
            Ok(_) => report.bytes += got.len,
        }
    }
    Ok(report)
}
