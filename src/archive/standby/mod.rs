//! A warm standby: a second data directory kept seconds behind the primary
//! from what the primary ships to its backup target (a set to start from,
//! then the standby stream of `crate::backup::stream`, the erasure journal
//! and the audit log's signed checkpoints). Everything is verified before
//! it counts: each stream segment's signed note and hash, the order of its
//! writes, the audit log's chain from the set's signed checkpoint on, and
//! its tree against every checkpoint the primary shipped. Erasures and
//! destructions are applied from the journal as they arrive, before the
//! stream brings them, so an erased person is never readable here. The
//! search index follows every dossier the stream changes, so a promotion
//! (`promote`) serves at once instead of rebuilding it.

mod promote;

pub use promote::{promote, PromoteError, Promoted};

use crate::archive::backups::restore::{purge_erased, reapply_journal};
use crate::archive::certificates::Certificate;
use crate::archive::index::Indexer;
use crate::archive::records::DOSSIERS;
use crate::audit::checkpoint::Checkpoint;
use crate::audit::{ChainHead, StoredTree, HEAD_KEY};
use crate::backup::{BackupError, Location, Target};
use crate::crypto::{KeyRef, Keyring, MasterKey};
use crate::domain::{DossierId, SubjectId};
use crate::search::SearchIndex;
use crate::store::{keys, Cf, KvStore, Op, RocksStore};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// `system` keys of a standby (never on a primary: a promotion deletes them).
const SOURCE: &[u8] = b"standby/source";
const VERIFIER: &[u8] = b"standby/verifier_key";
const APPLIED: &[u8] = b"standby/applied";
/// The audit tree head verified so far (size u64, root, 32 bytes) and the
/// end of the last shipped checkpoint compared (u64): a restart (and
/// `promote`) goes on from there instead of from the set.
const VERIFIED: &[u8] = b"standby/verified";

/// What `GET /v1/standby` answers: how far behind the primary this is.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Lag {
    pub role: &'static str,
    /// `seeding`, `following`, or `stopped` (a gap or damage: see `error`).
    pub state: &'static str,
    pub source: String,
    pub lineage: String,
    /// The last of the primary's write sequence numbers applied here.
    pub applied_seq: u64,
    /// The audit log's size here, verified.
    pub audit_size: u64,
    /// When the newest segment applied was shipped.
    #[serde(with = "time::serde::rfc3339::option")]
    pub shipped_at: Option<OffsetDateTime>,
    /// When this standby last held everything the primary had shipped,
    /// and how long ago that was (about a second when all is well).
    #[serde(with = "time::serde::rfc3339::option")]
    pub caught_up_at: Option<OffsetDateTime>,
    pub lag_seconds: Option<f64>,
    pub segments_applied: u64,
    /// Journal entries applied ahead of the stream, not yet seen in it.
    pub erasures_ahead: usize,
    pub error: Option<String>,
}

/// The standby's data directory, following its primary.
pub struct Standby {
    target: Target,
    data_dir: PathBuf,
    master_key_file: PathBuf,
    store: Arc<dyn KvStore>,
    lineage: String,
    applied: u64,
    /// The audit log verified up to this signed (or verified) tree head.
    trusted: Checkpoint,
    /// The shipped audit checkpoints already compared (their end).
    bound: u64,
    /// Journal entries applied here whose writes the stream has not brought
    /// yet: applied again after each segment until it has.
    ahead: BTreeMap<String, Certificate>,
    journaled: BTreeSet<String>,
    index: Option<Arc<SearchIndex>>,
    lag: Arc<Mutex<Lag>>,
}

fn damaged(e: BackupError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

impl Lag {
    /// The lag as of now.
    pub fn now(&self) -> Lag {
        let lag_seconds = self.caught_up_at.map(|t| (OffsetDateTime::now_utc() - t).as_seconds_f64().max(0.0));
        Lag { lag_seconds, ..self.clone() }
    }
}

impl Standby {
    /// Opens the standby in `data_dir`, seeding it from the newest set of
    /// `from` when it is new. `vkey`: the primary's log verifier key, from
    /// the operator (never the one the target records).
    pub fn open(
        from: &Location,
        data_dir: &Path,
        master_key_file: &Path,
        vkey: &str,
        lag: Arc<Mutex<Lag>>,
    ) -> anyhow::Result<Self> {
        Self::open_with(from, data_dir, master_key_file, vkey, lag, true)
    }

    /// [`Standby::open`]; `repair_index`: bring the search index in step
    /// with the store first (a promotion leaves that to the server's start).
    fn open_with(
        from: &Location,
        data_dir: &Path,
        master_key_file: &Path,
        vkey: &str,
        lag: Arc<Mutex<Lag>>,
        repair_index: bool,
    ) -> anyhow::Result<Self> {
        let db = crate::layout::db_dir(data_dir);
        let target = Target::open(from, Some(vkey)).map_err(damaged)?;
        let identity = MasterKey::load(master_key_file)?;
        let fresh = !db.exists();
        let seeded = if fresh { Some(seed(&target, &db, &identity)?) } else { None };
        let store: Arc<dyn KvStore> = Arc::new(RocksStore::open(&db)?);
        if let Some(from_set) = seeded {
            let applied = store.sequence();
            store.write(
                &[
                    Op::Put(Cf::System, SOURCE.to_vec(), from.to_string().into_bytes()),
                    Op::Put(Cf::System, VERIFIER.to_vec(), vkey.as_bytes().to_vec()),
                    Op::Put(Cf::System, APPLIED.to_vec(), applied.to_be_bytes().to_vec()),
                    Op::Put(Cf::System, VERIFIED.to_vec(), verified_record(&from_set, 0)),
                ],
                true,
            )?;
        }
        let recorded = store.get(Cf::System, SOURCE)?.map(|v| String::from_utf8_lossy(&v).into_owned());
        anyhow::ensure!(
            recorded.as_deref() == Some(from.to_string().as_str()),
            "{} is not a standby of {from} (it follows {}); give it an empty directory",
            data_dir.display(),
            recorded.unwrap_or_else(|| "nothing: it is a primary's".into())
        );
        let applied = read_u64(store.as_ref(), APPLIED)?;
        let lineage = store
            .get(Cf::System, keys::DB_LINEAGE)?
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .ok_or_else(|| anyhow::anyhow!("the standby's set has no lineage"))?;
        // Where the log's verification goes on from: the seed set's signed
        // checkpoint, then each tree head verified from it.
        let raw = store
            .get(Cf::System, VERIFIED)?
            .filter(|r| r.len() == 48)
            .ok_or_else(|| anyhow::anyhow!("the standby records no verified audit head: seed a new standby"))?;
        let trusted = Checkpoint {
            origin: String::new(),
            size: u64::from_be_bytes(raw[..8].try_into()?),
            root: raw[8..40].try_into()?,
            extensions: Vec::new(),
        };
        let bound = u64::from_be_bytes(raw[40..].try_into()?);
        let index = open_index(&store, data_dir, master_key_file, repair_index)?;
        let mut standby = Standby {
            target,
            data_dir: data_dir.to_owned(),
            master_key_file: master_key_file.to_owned(),
            store,
            lineage,
            applied,
            trusted,
            bound,
            ahead: BTreeMap::new(),
            journaled: BTreeSet::new(),
            index,
            lag,
        };
        // The set's own log is checked from its signed checkpoint first.
        standby.check_log()?;
        standby.apply_journal(true)?;
        standby.publish(None, |l| l.state = "following");
        Ok(standby)
    }

    fn publish(&self, error: Option<String>, f: impl FnOnce(&mut Lag)) {
        if let Ok(mut l) = self.lag.lock() {
            l.role = "standby";
            l.source = self.target.describe();
            l.lineage.clone_from(&self.lineage);
            l.applied_seq = self.applied;
            l.audit_size = self.trusted.size;
            l.erasures_ahead = self.ahead.len();
            l.error = error;
            f(&mut l);
        }
    }

    /// Applies what the primary shipped since the last call: the stream's
    /// new segments, the journal's new entries, the log checked, the index
    /// brought along. Returns how many writes were applied.
    pub fn follow(&mut self) -> anyhow::Result<u64> {
        let result = self.follow_once();
        match &result {
            Ok(_) => self.publish(None, |l| {
                l.state = "following";
                l.caught_up_at = Some(OffsetDateTime::now_utc());
            }),
            Err(e) => self.publish(Some(e.to_string()), |l| l.state = "stopped"),
        }
        result
    }

    fn follow_once(&mut self) -> anyhow::Result<u64> {
        let (mut writes, mut dossiers, mut subjects) = (0, BTreeSet::new(), BTreeSet::new());
        let mut shredded = false;
        let applied = self.apply_segments(&mut writes, &mut dossiers, &mut subjects, &mut shredded);
        // Keys the primary shredded: gone from this directory's files too.
        let purged = if shredded { purge_erased(self.store.as_ref()).map_err(anyhow::Error::from) } else { Ok(()) };
        // Whatever was applied, even when a later segment failed: the
        // journal again (a key a segment put back for an erased person goes
        // again), and the log checked up to what is here.
        let journal = self.apply_journal(writes > 0);
        let log = self.check_log();
        applied?;
        purged?;
        journal?;
        log?;
        for sid in &subjects {
            dossiers.extend(crate::archive::records::SUBJECT_LINKS.members(self.store.as_ref(), sid)?);
        }
        self.follow_index(&dossiers)?;
        Ok(writes)
    }

    /// Applies the stream's new segments in order, each in one atomic write
    /// with the position; stops at the first that does not verify.
    fn apply_segments(
        &mut self,
        writes: &mut u64,
        dossiers: &mut BTreeSet<DossierId>,
        subjects: &mut BTreeSet<SubjectId>,
        shredded: &mut bool,
    ) -> anyhow::Result<()> {
        let segments: Vec<(u64, u64)> = self
            .target
            .stream_segments(&self.lineage)
            .map_err(damaged)?
            .into_iter()
            .filter(|s| s.1 > self.applied)
            .collect();
        let identity = MasterKey::load(&self.master_key_file)?;
        for (first, last) in segments {
            if first > self.applied + 1 {
                anyhow::bail!(
                    "the stream has a gap: the standby holds writes up to {}, the next segment begins at {first}; \
                     seed a new standby from the newest set (docs/backup.md)",
                    self.applied
                );
            }
            let note = self.target.stream_note(&self.lineage, first, last).map_err(damaged)?;
            let changes = self.target.stream_segment(&note, identity.identity()).map_err(damaged)?;
            let mut ops = Vec::new();
            let mut at = self.applied;
            let end = |c: &crate::store::Logged| c.seq.saturating_add(c.count.max(1)) - 1;
            for c in changes.into_iter().filter(|c| end(c) > self.applied) {
                anyhow::ensure!(c.seq == at + 1, "stream segment {first}-{last}: writes out of order at {}", c.seq);
                at = end(&c);
                for op in &c.ops {
                    touched(op, dossiers, subjects);
                    *shredded |= matches!(op, Op::Delete(Cf::Keys, _));
                    if let Op::Put(Cf::Disposition, k, _) = op {
                        self.ahead.retain(|id, _| keys::certificate(id) != *k);
                    }
                }
                ops.extend(c.ops);
            }
            ops.push(Op::Put(Cf::System, APPLIED.to_vec(), at.to_be_bytes().to_vec()));
            self.store.write(&ops, true)?;
            *writes += at - self.applied;
            self.applied = at;
            self.publish(None, |l| {
                l.shipped_at = Some(note.shipped_at);
                l.segments_applied += 1;
            });
        }
        Ok(())
    }

    /// Verifies the audit log from the last trusted tree head to the
    /// recorded head (chain, order, tree, indexes), then compares the tree
    /// with every checkpoint the primary shipped up to it.
    fn check_log(&mut self) -> anyhow::Result<()> {
        let head = self.store.get(Cf::System, HEAD_KEY)?.and_then(|raw| ChainHead::decode(&raw));
        if head.map_or(0, |h| h.next_seq) > self.trusted.size {
            let report = crate::audit::incremental::verify_from(self.store.as_ref(), &self.trusted, head, |_| {})
                .map_err(|e| anyhow::anyhow!("the audit log as applied does not verify: {e}"))?;
            self.trusted = Checkpoint { size: report.entries, root: report.root, ..self.trusted.clone() };
        }
        for (first, end) in self.target.shipped_segments(self.bound).map_err(damaged)? {
            if end > self.trusted.size {
                break;
            }
            let signed = self.target.segment_checkpoint(first, end).map_err(damaged)?;
            let root = crate::audit::merkle::root(&StoredTree(self.store.as_ref()), end).map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                root == signed.root,
                "the audit log as applied is not the one the primary signed at size {end}: the stream is not the primary's"
            );
            self.bound = end;
        }
        let verified = verified_record(&self.trusted, self.bound);
        self.store.write(&[Op::Put(Cf::System, VERIFIED.to_vec(), verified)], true)?;
        Ok(())
    }

    /// Applies the journal's entries not applied yet, and again those whose
    /// writes the stream has not brought (`again`: the stream moved).
    fn apply_journal(&mut self, again: bool) -> anyhow::Result<()> {
        let (entries, bad) = self.target.journal().map_err(damaged)?;
        if let Some(d) = bad.first() {
            anyhow::bail!("the erasure journal is damaged: {}: {}", d.path, d.what);
        }
        let mut fresh = Vec::new();
        for cert in crate::archive::backups::restore::journal_certificates(&entries)? {
            let id = cert.certificate_id.to_string();
            if self.journaled.insert(id.clone()) {
                if !crate::archive::certificates::CERTIFICATES.contains(self.store.as_ref(), &cert.certificate_id)? {
                    self.ahead.insert(id, cert.clone());
                }
                fresh.push(cert);
            }
        }
        let newly = fresh.len();
        if again {
            let again: Vec<Certificate> = self
                .ahead
                .values()
                .filter(|c| !fresh.iter().any(|f| f.certificate_id == c.certificate_id))
                .cloned()
                .collect();
            fresh.extend(again);
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let done = reapply_journal(self.store.as_ref(), &fresh)?;
        // The stream may have brought a new entry's deletions itself (then
        // there was nothing to write here): made physical all the same.
        if newly > 0 && !done.changed {
            purge_erased(self.store.as_ref())?;
        }
        if let Some(ix) = &self.index {
            let ids: Vec<String> = done.dossiers.iter().map(ToString::to_string).collect();
            ix.remove(&ids).map_err(anyhow::Error::from)?;
        }
        let mut gone: BTreeSet<DossierId> = BTreeSet::new();
        for sid in &done.subjects {
            gone.extend(crate::archive::records::SUBJECT_LINKS.members(self.store.as_ref(), sid)?);
        }
        self.follow_index(&gone)
    }

    /// Re-indexes `dossiers` as the store now holds them (removing the
    /// destroyed), with a keyring opened now: keys the stream shredded
    /// are gone from it.
    fn follow_index(&self, dossiers: &BTreeSet<DossierId>) -> anyhow::Result<()> {
        let Some(ix) = &self.index else { return Ok(()) };
        if dossiers.is_empty() {
            return Ok(());
        }
        let keyring = Arc::new(standby_keyring(&self.store, &self.master_key_file)?);
        let vault = Arc::new(crate::archive::vault::Vault::new(
            self.store.clone(),
            keyring,
            Arc::new(crate::clock::SystemClock),
        ));
        let indexer = Indexer::over(self.store.clone(), vault, ix.clone());
        let (mut live, mut gone) = (Vec::new(), Vec::new());
        for did in dossiers {
            match DOSSIERS.get(self.store.as_ref(), did)? {
                Some(m) if m.destroyed.is_none() => live.push(did.clone()),
                _ => gone.push(did.clone()),
            }
        }
        indexer.unindex_dossiers(&gone)?;
        indexer.reindex_dossiers(&live)?;
        Ok(())
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// The dossiers and people an op changes (for the index).
fn touched(op: &Op, dossiers: &mut BTreeSet<DossierId>, subjects: &mut BTreeSet<SubjectId>) {
    let (cf, key) = op.target();
    let text = String::from_utf8_lossy(key);
    match cf {
        Cf::Dossiers | Cf::Versions => {
            let id = text.split('/').next().unwrap_or_default();
            if let Ok(d) = DossierId::parse(id) {
                dossiers.insert(d);
            }
        }
        Cf::Subjects => {
            if let Ok(s) = SubjectId::parse(&text) {
                subjects.insert(s);
            }
        }
        _ => {}
    }
}

fn read_u64(store: &dyn KvStore, key: &[u8]) -> anyhow::Result<u64> {
    let raw = store.get(Cf::System, key)?.ok_or_else(|| anyhow::anyhow!("not a standby's data directory"))?;
    Ok(u64::from_be_bytes(raw.as_slice().try_into().map_err(|_| anyhow::anyhow!("standby state malformed"))?))
}

/// A keyring that never writes: no key-encryption key is made or rotated
/// on a standby (the stream brings the primary's).
fn standby_keyring(store: &Arc<dyn KvStore>, master_key_file: &Path) -> anyhow::Result<Keyring> {
    let master = MasterKey::load(master_key_file)?;
    Ok(Keyring::open(master, store.clone(), 1, std::time::Duration::from_secs(u64::MAX / 4))?)
}

/// The search index in the standby's directory, when the primary has one
/// (its blind-index key came with the set), brought in step with the store.
fn open_index(
    store: &Arc<dyn KvStore>,
    data_dir: &Path,
    master_key_file: &Path,
    repair: bool,
) -> anyhow::Result<Option<Arc<SearchIndex>>> {
    let keyring = Arc::new(standby_keyring(store, master_key_file)?);
    let key = match keyring.get(&KeyRef::BlindIndex) {
        Ok(k) => k,
        Err(crate::crypto::CryptoError::KeyDestroyed(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let ix = Arc::new(SearchIndex::open(&crate::layout::index_dir(data_dir), zeroize::Zeroizing::new(*key.expose()))?);
    if !repair {
        return Ok(Some(ix));
    }
    let vault =
        Arc::new(crate::archive::vault::Vault::new(store.clone(), keyring, Arc::new(crate::clock::SystemClock)));
    let repaired = Indexer::over(store.clone(), vault, ix.clone()).repair_index()?;
    tracing::info!(reindexed = repaired.reindexed, removed = repaired.removed, "the standby's search index is in step");
    Ok(Some(ix))
}

/// The newest set of `lineage`: its signed checkpoint is where the log's
/// verification starts.
fn newest_set_checkpoint(target: &Target, lineage: &str) -> anyhow::Result<Checkpoint> {
    let (sets, _) = target.sets().map_err(damaged)?;
    let set = sets
        .iter()
        .rev()
        .find(|s| s.manifest.db_identity == lineage)
        .ok_or_else(|| anyhow::anyhow!("{} holds no set of lineage {lineage}", target.describe()))?;
    target.open_checkpoint(&set.manifest.checkpoint).map_err(damaged)
}

/// `standby/verified`: the tree head verified and the shipped checkpoints
/// compared up to `bound`.
fn verified_record(head: &Checkpoint, bound: u64) -> Vec<u8> {
    let mut v = head.size.to_be_bytes().to_vec();
    v.extend_from_slice(&head.root);
    v.extend_from_slice(&bound.to_be_bytes());
    v
}

/// Seeds `db` from the newest set of the target, each file checked against
/// its plaintext SHA-256; returns the set's signed checkpoint (where the
/// log's verification starts).
fn seed(target: &Target, db: &Path, identity: &MasterKey) -> anyhow::Result<Checkpoint> {
    let (sets, bad) = target.sets().map_err(damaged)?;
    if let Some(d) = bad.first() {
        anyhow::bail!("{}: {}", d.path, d.what);
    }
    let set = sets
        .iter()
        .rev()
        .find(|s| !s.manifest.db_identity.is_empty())
        .ok_or_else(|| anyhow::anyhow!("{} holds no set to seed a standby from", target.describe()))?;
    let checkpoint = target.open_checkpoint(&set.manifest.checkpoint).map_err(damaged)?;
    if let Err(e) = target.extract(&set.manifest, identity.identity(), db) {
        let _ = std::fs::remove_dir_all(db);
        return Err(damaged(e));
    }
    Ok(checkpoint)
}
