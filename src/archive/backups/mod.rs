//! Taking a backup set: a consistent RocksDB checkpoint of the whole store,
//! each file age-encrypted into the target (unchanged files are not copied
//! again), described by a manifest signed with the audit log's key. The
//! format is `crate::backup`'s.

pub mod restore;
mod status;
mod stream;

pub use status::{BackupSetView, BackupStatus, DamagedSet};

use crate::archive::certificates::{signed_note, Certificate, CERTIFICATES};
use crate::archive::gate::Gate;
use crate::archive::trail::AuditTrail;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::checkpoint::NoteSigner;
use crate::audit::merkle;
use crate::audit::AuditWriter;
use crate::audit::{Action, Commit, EntryBody, Outcome, StoredTree, HEAD_KEY};
use crate::backup::{BackupError, Location, Manifest, Target, FORMAT};
use crate::clock::Clock;
use crate::crypto::Keyring;
use crate::domain::BackupId;
use crate::metrics::Metrics;
use crate::store::{Cf, KvStore, RocksStore};
use base64::Engine;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// Where backups go and who can decrypt them.
#[derive(Debug, Clone)]
pub struct BackupSettings {
    /// The target: a directory (`backup_dir`) or a bucket (`backup_target`).
    pub target: Location,
    /// Offline recovery keys (`backup_recipients`), besides the master key.
    pub recipients: Vec<age::x25519::Recipient>,
    /// A directory on the data directory's file system for the checkpoint
    /// the set is made from (removed afterwards; never in the target), and
    /// (in `spool/`) for a bucket's uploads on their way (ciphertext only).
    pub scratch: PathBuf,
    /// How long sets are kept (`backup_keep_days`).
    pub keep_days: u32,
    /// The store's WAL archive (`<db>/archive`) when the standby stream
    /// ships (`backup_stream_secs`); none: no stream.
    pub wal_archive: Option<PathBuf>,
    /// When the scheduler takes the nightly set (`backup_at`); none: sets
    /// only on demand (the CLI's offline set).
    pub at: Option<crate::clock::DailyAt>,
}

impl BackupSettings {
    /// Opens (or starts) the target.
    fn open_target(&self, vkey: &str) -> Result<Target, BackupError> {
        Target::create(&self.target, vkey, &self.scratch.join("spool"))
    }

    /// Sets older than this are deleted (`backup_keep_days`).
    pub fn keep(&self) -> time::Duration {
        time::Duration::days(i64::from(self.keep_days))
    }

    /// Parses `backup_recipients` (age X25519 public keys, `age1...`).
    pub fn parse_recipients(keys: &[String]) -> anyhow::Result<Vec<age::x25519::Recipient>> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| {
                age::x25519::Recipient::from_str(k.trim())
                    .map_err(|_| anyhow::anyhow!("backup_recipients[{i}] is not an age X25519 public key (age1...)"))
            })
            .collect()
    }
}

fn backup_error(e: BackupError) -> ArchiveError {
    ArchiveError::Internal(anyhow::anyhow!("backup: {e}"))
}

/// Backup sets: taking them (on demand and nightly), shipping the audit
/// log to the target as it grows, and expiring old sets.
pub struct Backups {
    store: Arc<dyn KvStore>,
    /// The master key's recipient (every set opens with it).
    keyring: Arc<Keyring>,
    audit: Arc<AuditWriter>,
    gate: Arc<Gate>,
    /// The verifier key a set names, and the alert a failure raises.
    trail: Arc<AuditTrail>,
    clock: Arc<dyn Clock>,
    /// Signs manifests and the shipped audit segments' checkpoints.
    signer: Arc<NoteSigner>,
    metrics: Arc<Metrics>,
    settings: Option<BackupSettings>,
    /// One backup or expiry at a time.
    lock: Mutex<()>,
    /// The next sequence number the standby stream ships (none: not known
    /// yet), held while a shipment runs.
    streamed: Mutex<Option<u64>>,
    /// The target the stream ships to, opened once (a bucket answers each
    /// opening with requests).
    stream_target: Mutex<Option<Target>>,
    /// Set once a shipment saw a promotion over this directory's lineage
    /// (read by every request, without a lock).
    is_superseded: std::sync::atomic::AtomicBool,
}

/// The ports and settings [`Backups`] is made of.
pub(in crate::archive) struct BackupPorts {
    pub store: Arc<dyn KvStore>,
    pub keyring: Arc<Keyring>,
    pub audit: Arc<AuditWriter>,
    pub gate: Arc<Gate>,
    pub trail: Arc<AuditTrail>,
    pub clock: Arc<dyn Clock>,
    pub signer: Arc<NoteSigner>,
    pub metrics: Arc<Metrics>,
}

impl Backups {
    pub(in crate::archive) fn new(p: BackupPorts, settings: Option<BackupSettings>) -> Self {
        let BackupPorts { store, keyring, audit, gate, trail, clock, signer, metrics } = p;
        Backups {
            store,
            keyring,
            audit,
            gate,
            trail,
            clock,
            signer,
            metrics,
            settings,
            lock: Mutex::default(),
            streamed: Mutex::default(),
            stream_target: Mutex::default(),
            is_superseded: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn backup_settings(&self) -> Option<&BackupSettings> {
        self.settings.as_ref()
    }

    /// Whom the target's files are encrypted to: the master key and every
    /// recovery key.
    fn recipients(&self, settings: &BackupSettings) -> Vec<Box<dyn age::Recipient + Send>> {
        let mut out: Vec<Box<dyn age::Recipient + Send>> = vec![Box::new(self.keyring.master().recipient().clone())];
        out.extend(settings.recipients.iter().map(|r| Box::new(r.clone()) as Box<dyn age::Recipient + Send>));
        out
    }

    /// Takes a set now (blocking: run it on the blocking pool). Writes go on
    /// meanwhile: only the checkpoint's memtable flush holds them, for
    /// milliseconds. The set is made on a thread of its own at the lowest
    /// CPU priority, so that hashing and encrypting hundreds of megabytes
    /// yields to requests when both compete for the cores and runs at full
    /// speed when they do not; its files are synced in slices (see
    /// `crate::backup`) so that the disk yields too.
    pub fn take_backup(&self, settings: &BackupSettings) -> Result<Manifest, ArchiveError> {
        std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .name("custos-backup".into())
                .spawn_scoped(scope, || {
                    crate::backup::lower_thread_priority();
                    self.take_backup_here(settings)
                })
                .map_err(anyhow::Error::from)?;
            worker.join().map_err(|_| ArchiveError::Internal(anyhow::anyhow!("the backup thread panicked")))?
        })
    }

    fn take_backup_here(&self, settings: &BackupSettings) -> Result<Manifest, ArchiveError> {
        // One backup or expiry at a time: expiry must not remove the objects
        // of a set whose manifest is not written yet.
        let _one = self.lock.lock().map_err(|_| anyhow::anyhow!("backup lock poisoned"))?;
        let target = settings.open_target(&self.trail.verifier_key()).map_err(backup_error)?;
        let known = target.known_objects().map_err(backup_error)?;
        let backup_id = BackupId::generate();
        if self.store.get(Cf::System, crate::store::keys::DB_LINEAGE)?.is_none() {
            let lineage = format!("lin_{}", ulid::Ulid::new().to_string().to_lowercase());
            self.store.write(
                &[crate::store::Op::Put(Cf::System, crate::store::keys::DB_LINEAGE.to_vec(), lineage.into_bytes())],
                true,
            )?;
        }
        crate::crypto::owner_only_dir(&settings.scratch).map_err(anyhow::Error::from)?;
        let checkpoint = settings.scratch.join(backup_id.as_str());
        self.store.checkpoint(&checkpoint)?;
        let result = self.seal_checkpoint(&target, &checkpoint, backup_id, settings, &known);
        let _ = std::fs::remove_dir_all(&checkpoint);
        result
    }

    /// Puts every destruction certificate on record into the target's
    /// erasure journal (those issued before backups were configured, too)
    /// and returns their ids, for the manifest.
    fn journal_every_certificate(&self, target: &Target) -> Result<Vec<String>, ArchiveError> {
        let mut ids = Vec::new();
        for certificate in CERTIFICATES.values(self.store.as_ref()) {
            let certificate = certificate?;
            target
                .put_journal(certificate.certificate_id.as_str(), &signed_note(&self.signer, &certificate)?)
                .map_err(backup_error)?;
            ids.push(certificate.certificate_id.to_string());
        }
        Ok(ids)
    }

    /// Writes a new certificate into the erasure journal beside the backup
    /// sets (if backups are configured), so that restoring an older set
    /// destroys again what it names. An error when it cannot be written:
    /// the batch then stays executing and the sweep retries (fail closed).
    pub(in crate::archive) async fn journal_certificate(&self, certificate: &Certificate) -> Result<(), ArchiveError> {
        let Some(settings) = self.settings.clone() else { return Ok(()) };
        let note = signed_note(&self.signer, certificate)?;
        let (vkey, id) = (self.trail.verifier_key(), certificate.certificate_id.to_string());
        // Off the async workers: a bucket target answers over the network.
        tokio::task::spawn_blocking(move || settings.open_target(&vkey).and_then(|t| t.put_journal(&id, &note)))
            .await
            .map_err(|e| anyhow::anyhow!("the erasure journal's writer stopped: {e}"))?
            .map_err(|e| ArchiveError::Internal(anyhow::anyhow!("the erasure journal cannot be written: {e}")))
    }

    fn seal_checkpoint(
        &self,
        target: &Target,
        checkpoint: &Path,
        backup_id: BackupId,
        settings: &BackupSettings,
        known: &crate::backup::Known,
    ) -> Result<Manifest, ArchiveError> {
        let db_identity = match self.store.get(Cf::System, crate::store::keys::DB_LINEAGE)? {
            Some(v) => String::from_utf8_lossy(&v).into_owned(),
            None => String::new(),
        };
        // The audit tree head the copy holds, read from the copy itself.
        let (tree_size, root) = {
            let copy = RocksStore::open_read_only(checkpoint)?;
            let size = match copy.get(Cf::System, HEAD_KEY)? {
                Some(raw) => {
                    crate::audit::ChainHead::decode(&raw)
                        .ok_or_else(|| anyhow::anyhow!("audit head malformed"))?
                        .next_seq
                }
                None => 0,
            };
            let root = merkle::root(&StoredTree(&copy), size).map_err(anyhow::Error::msg)?;
            (size, root)
        };
        let note = self.signer.sign(&Checkpoint::new(self.signer.name(), tree_size, root).body());
        let recipients = self.recipients(settings);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(checkpoint)
            .map_err(anyhow::Error::from)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        let (mut files, mut bytes, mut new_bytes) = (Vec::new(), 0, 0);
        for p in paths {
            let rel = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let (entry, written) = target.put_file(&rel, &p, &recipients, known, &db_identity).map_err(backup_error)?;
            bytes += entry.size;
            if written {
                new_bytes += entry.size;
            }
            files.push(entry);
        }
        let manifest = Manifest {
            format: FORMAT.into(),
            backup_id,
            created_at: self.clock.now(),
            tree_size,
            root: base64::engine::general_purpose::STANDARD.encode(root),
            checkpoint: note,
            recipients: std::iter::once(self.keyring.master().recipient().to_string())
                .chain(settings.recipients.iter().map(ToString::to_string))
                .collect(),
            db_identity,
            files,
            bytes,
            new_bytes,
            certificates: self.journal_every_certificate(target)?,
        };
        let signed = manifest.sign(&self.signer).map_err(backup_error)?;
        target.put_manifest(&manifest, &signed).map_err(backup_error)?;
        Ok(manifest)
    }

    /// Ships the audit entries written since the last shipment to the target
    /// (at every checkpoint and at shutdown), so a restore of an older set
    /// brings the log back up to here. Blocking. Returns how many shipped.
    pub fn ship_audit(&self, settings: &BackupSettings) -> Result<u64, ArchiveError> {
        const PER_SEGMENT: u64 = 100_000;
        let _one = self.lock.lock().map_err(|_| anyhow::anyhow!("backup lock poisoned"))?;
        let target = settings.open_target(&self.trail.verifier_key()).map_err(backup_error)?;
        let head = self.audit.head().next_seq;
        let checkpoint_at = |size: u64| -> Result<String, ArchiveError> {
            let root = merkle::root(&StoredTree(self.store.as_ref()), size).map_err(anyhow::Error::msg)?;
            Ok(self.signer.sign(&Checkpoint::new(self.signer.name(), size, root).body()))
        };
        // Segments shipped before they were bound to a signed checkpoint get
        // theirs now (the log holds them).
        for (first, end) in target.unbound_segments().map_err(backup_error)? {
            if end <= head {
                target.bind_segment(first, end, &checkpoint_at(end)?).map_err(backup_error)?;
            }
        }
        let mut next = target.shipped_end().map_err(backup_error)?;
        if next > head {
            return Err(anyhow::anyhow!(
                "the target's shipped audit log ({next} entries) is ahead of this log ({head}): another log \
                 (the primary a promotion with --accept-loss took over from) shipped there; give this server a new \
                 backup target"
            )
            .into());
        }
        let start = next;
        while next < head {
            let end = head.min(next + PER_SEGMENT);
            let mut raws = Vec::with_capacity((end - next) as usize);
            for row in self.store.scan(Cf::Audit, b"", &crate::store::keys::audit_entry(next)) {
                let (_, raw) = row?;
                raws.push(raw);
                if raws.len() as u64 == end - next {
                    break;
                }
            }
            if raws.len() as u64 != end - next {
                return Err(anyhow::anyhow!("audit entries {next}..{end} are not all in the store").into());
            }
            // The log's signed checkpoint of the tree head after the
            // segment: a restore appends only what it commits to.
            target
                .put_audit_segment(next, &raws, &self.recipients(settings), &checkpoint_at(end)?)
                .map_err(backup_error)?;
            next = end;
        }
        Ok(next - start)
    }

    /// Deletes the sets older than `backup_keep_days` by the injected clock
    /// (never the newest) and the objects only they held, audited as
    /// `backup.expire` when anything went. Blocking.
    pub fn expire_backups(&self, settings: &BackupSettings) -> Result<Vec<String>, ArchiveError> {
        let _one = self.lock.lock().map_err(|_| anyhow::anyhow!("backup lock poisoned"))?;
        let target = settings.open_target(&self.trail.verifier_key()).map_err(backup_error)?;
        let (expired, objects) = target.expire(self.clock.now() - settings.keep()).map_err(backup_error)?;
        // The stream before the newest set (less an hour) is not needed to
        // seed a standby; one that far behind is seeded again (backup.md).
        if let Some(newest) = target.sets().map_err(backup_error)?.0.last() {
            let before = newest.manifest.created_at - time::Duration::hours(1);
            target.expire_stream(before.into()).map_err(backup_error)?;
        }
        if !expired.is_empty() {
            let reason = format!(
                "expired {} set(s) older than {} days: {}; {objects} object(s) no set holds removed",
                expired.len(),
                settings.keep_days,
                expired.join(" ")
            );
            self.audit.commit_blocking(Commit::entry(EntryBody::system(Action::BackupExpire, "", reason)))?;
        }
        Ok(expired)
    }

    /// The scheduler's nightly job: a set, then expiry; a failure is logged,
    /// counted in `/metrics`, shown in `/readyz` and raised as an alert.
    pub fn nightly_backup(&self, settings: &BackupSettings) {
        let taken = self.take_backup(settings).and_then(|m| {
            let e = EntryBody::system(Action::BackupCreate, m.backup_id.as_str(), describe(&m));
            self.audit.commit_blocking(Commit::entry(e))?;
            self.expire_backups(settings)?;
            Ok(m)
        });
        match taken {
            Ok(m) => {
                self.metrics.record_backup(true, self.clock.now());
                tracing::info!(backup = %m.backup_id, bytes = m.bytes, new_bytes = m.new_bytes, "nightly backup");
            }
            Err(e) => {
                self.metrics.record_backup(false, self.clock.now());
                tracing::error!(error = %e, "nightly backup failed");
                let alert = crate::policy::alerts::Alert {
                    threshold: 0,
                    ..crate::policy::alerts::Alert::once(
                        "backup_failed",
                        "system",
                        "the nightly backup failed; see the log".into(),
                        self.clock.now(),
                    )
                };
                if let Err(e) = self.trail.record_alert(&alert) {
                    tracing::error!(error = %e, "recording the backup alert failed");
                }
            }
        }
    }

    /// `POST /v1/backups` (admin): a set now, audited as `backup.create`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_backup(&self, ctx: &RequestCtx) -> Result<Manifest, ArchiveError> {
        const ACTION: Action = Action::BackupCreate;
        self.gate.decide(ctx, super::gate::Operation::Administer, ACTION, "", "backups are taken by an admin").await?;
        let Some(settings) = self.settings.clone() else {
            let e = ctx.entry(ACTION, "", Outcome::Error, "no backup target configured");
            let err = ArchiveError::Conflict("no backup_dir or backup_target is configured".into());
            return self.gate.refuse(e, err).await;
        };
        match self.take_backup(&settings) {
            Ok(m) => {
                let e = ctx.entry(ACTION, m.backup_id.as_str(), Outcome::Allow, describe(&m));
                self.audit.commit(Commit::entry(e)).await?;
                Ok(m)
            }
            Err(err) => {
                tracing::error!(error = %err, "backup failed");
                let e = ctx.entry(ACTION, "", Outcome::Error, "backup failed");
                self.gate.refuse(e, err).await
            }
        }
    }

    /// A set taken by an operator's command on a stopped server, audited as
    /// the system's.
    pub async fn create_backup_offline(&self, settings: &BackupSettings) -> Result<Manifest, ArchiveError> {
        let m = self.take_backup(settings)?;
        let mut entry = EntryBody::system(Action::BackupCreate, m.backup_id.as_str(), describe(&m));
        entry.actor = "system:cli".into();
        self.audit.commit(Commit::entry(entry)).await?;
        Ok(m)
    }
}

fn describe(m: &Manifest) -> String {
    format!(
        "set {}: audit tree size {}, {} files, {} bytes ({} new)",
        m.backup_id,
        m.tree_size,
        m.files.len(),
        m.bytes,
        m.new_bytes
    )
}

#[cfg(test)]
mod tests;
