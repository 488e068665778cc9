//! Backup sets and their restore tested where they live: a RocksDB store
//! in a temporary directory (a set is made from its checkpoint), the
//! shipped policies, the manual clock, a target directory; no HTTP.
use super::restore::reapply_journal;
use super::BackupSettings;
use crate::archive::retention::Certificate;
use crate::archive::testkit::{archive, caller, ctx, sales_dossier};
use crate::archive::{Archive, ArchiveError, Settings};
use crate::audit::{AuditEntry, Outcome};
use crate::backup::{verify, Location, Manifest, Target};
use crate::clock::ManualClock;
use crate::crypto::{KeyRef, MasterKey};
use crate::domain::Role;
use crate::metrics::Metrics;
use crate::policy::PolicySet;
use crate::store::{Cf, KvStore, RocksStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An archive over RocksDB in `dir/db`, backing up to `dir/target`; the
/// master key is kept in `dir/master.key` for the restore.
struct Live {
    archive: Archive,
    store: Arc<RocksStore>,
    clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
}

impl Live {
    fn target(&self) -> PathBuf {
        self.dir.path().join("target")
    }

    fn location(&self) -> Location {
        Location::Dir(self.target())
    }

    fn master(&self) -> MasterKey {
        MasterKey::load(&self.dir.path().join("master.key")).unwrap()
    }

    fn settings(&self) -> BackupSettings {
        self.archive.backups().backup_settings().unwrap().clone()
    }
}

fn live() -> Live {
    let dir = tempfile::tempdir().unwrap();
    MasterKey::generate().write_new(&dir.path().join("master.key")).unwrap();
    let backup = BackupSettings {
        target: Location::Dir(dir.path().join("target")),
        recipients: vec![],
        scratch: dir.path().join("scratch"),
        wal_archive: None,
        keep_days: 30,
        at: None,
    };
    let store = Arc::new(RocksStore::open(&dir.path().join("db")).unwrap());
    let clock = Arc::new(ManualClock::new(time::macros::datetime!(2026-12-01 09:00 UTC)));
    let archive =
        open(store.clone(), MasterKey::load(&dir.path().join("master.key")).unwrap(), clock.clone(), Some(backup));
    Live { archive, store, clock, dir }
}

fn open(
    store: Arc<dyn KvStore>,
    master: MasterKey,
    clock: Arc<ManualClock>,
    backup: Option<BackupSettings>,
) -> Archive {
    let settings = Settings { key_cache: 64, backup, ..Default::default() };
    Archive::open(store, master, PolicySet::embedded().unwrap(), clock, Arc::new(Metrics::default()), settings).unwrap()
}

fn last_entry(store: &dyn KvStore) -> AuditEntry {
    AuditEntry::decode(&store.last(Cf::Audit).unwrap().unwrap().1).unwrap()
}

/// The newest set of the target, its signature checked with `vkey`.
fn newest_set(target: &Location, vkey: &str) -> Manifest {
    let (sets, bad) = Target::open(target, Some(vkey)).unwrap().sets().unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    sets.last().unwrap().manifest.clone()
}

/// What `custos backup restore` does, without its checks of the journal's
/// completeness: the set's files decrypted into `into`, the journal applied
/// again, the store opened.
fn restore(live: &Live, set: &Manifest, into: &Path) -> Result<Arc<RocksStore>, String> {
    let target = Target::open(&live.location(), Some(&live.archive.audit_trail().verifier_key())).unwrap();
    target.extract(set, live.master().identity(), into).map_err(|e| e.to_string())?;
    let (journal, bad) = target.journal().unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    let certificates: Vec<Certificate> =
        journal.iter().map(|e| serde_json::from_str(e.certificate.trim_end()).unwrap()).collect();
    let store = Arc::new(RocksStore::open(into).unwrap());
    reapply_journal(store.as_ref(), &certificates).unwrap();
    Ok(store)
}

/// An object file of the target (the largest: a table of the store).
fn an_object(target: &Path) -> PathBuf {
    let mut objects: Vec<PathBuf> =
        std::fs::read_dir(target.join("objects")).unwrap().map(|e| e.unwrap().path()).collect();
    objects.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    objects.pop().unwrap()
}

fn flip_a_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn only_an_admin_takes_a_set_and_every_attempt_is_audited() {
    let live = live();
    let store: &dyn KvStore = live.store.as_ref();
    for role in [Role::Compliance, Role::Auditor, Role::Sales] {
        let who = ctx(&[role]);
        let refused = live.archive.backups().create_backup(&who).await;
        assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{role:?}: {:?}", refused.err());
        let e = last_entry(store);
        assert_eq!((e.body.action.as_str(), e.body.outcome), ("backup.create", Outcome::Deny), "{role:?}");
        assert_eq!(e.body.actor, who.principal.id.as_str());
    }
    assert!(
        !live.target().join("sets").exists() || std::fs::read_dir(live.target().join("sets")).unwrap().count() == 0
    );

    let admin = ctx(&[Role::Admin]);
    let m = live.archive.backups().create_backup(&admin).await.unwrap();
    let e = last_entry(store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("backup.create", Outcome::Allow));
    assert_eq!((e.body.resource.as_str(), e.body.actor.as_str()), (m.backup_id.as_str(), admin.principal.id.as_str()));
    assert!(e.body.reason.contains(&format!("audit tree size {}", m.tree_size)), "{}", e.body.reason);
    assert!(!live.dir.path().join("scratch").join(m.backup_id.as_str()).exists(), "the checkpoint is removed");
}

#[tokio::test]
async fn without_a_backup_directory_a_set_is_refused_and_audited() {
    let (a, store) = archive();
    let refused = a.backups().create_backup(&ctx(&[Role::Admin])).await;
    assert!(matches!(refused, Err(ArchiveError::Conflict(_))), "{:?}", refused.err());
    let e = crate::archive::testkit::last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("backup.create", Outcome::Error));
}

#[tokio::test]
async fn a_set_verifies_and_restores_into_a_fresh_store_with_the_same_dossiers_readable() {
    let live = live();
    let (sales, made) = sales_dossier(&live.archive).await;
    let id = made.id.as_str();
    let before = live.archive.dossiers().read_dossier(&sales, id, None).await.unwrap();
    let m = live.archive.backups().take_backup(&live.settings()).unwrap();
    let vkey = live.archive.audit_trail().verifier_key();
    assert_eq!(m.tree_size, live.archive.audit_head().next_seq, "the set holds the log up to now");

    let report = verify(&live.location(), Some(&vkey)).unwrap();
    assert_eq!((report.sets, report.damaged.len()), (1, 0), "{:?}", report.damaged);
    assert!(report.objects > 0 && report.objects == m.files.len());
    for f in std::fs::read_dir(live.target().join("objects")).unwrap() {
        let raw = std::fs::read(f.unwrap().path()).unwrap();
        assert!(raw.starts_with(b"age-encryption.org/v1"), "every object is age-encrypted");
    }

    let into = live.dir.path().join("restored");
    let restored = restore(&live, &newest_set(&live.location(), &vkey), &into).unwrap();
    let head = crate::audit::ChainHead::decode(&restored.get(Cf::System, crate::audit::HEAD_KEY).unwrap().unwrap());
    let verified = crate::audit::verify_store(restored.as_ref(), head, |_| {}).unwrap();
    assert_eq!(verified.entries, m.tree_size, "the restored log verifies");
    let again = open(restored.clone(), live.master(), live.clock.clone(), None);
    let after = again.dossiers().read_dossier(&sales, id, None).await.unwrap();
    assert_eq!(after.document, before.document);
    assert_eq!(after.version, before.version);
}

#[tokio::test]
async fn a_tampered_object_or_manifest_is_refused_by_verify_and_restore() {
    let live = live();
    sales_dossier(&live.archive).await;
    live.archive.backups().take_backup(&live.settings()).unwrap();
    let vkey = live.archive.audit_trail().verifier_key();
    let set = newest_set(&live.location(), &vkey);

    let object = an_object(&live.target());
    flip_a_byte(&object);
    let report = verify(&live.location(), Some(&vkey)).unwrap();
    let named = format!("objects/{}", object.file_name().unwrap().to_string_lossy());
    assert_eq!(report.damaged.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), vec![named.as_str()]);
    let refused = restore(&live, &set, &live.dir.path().join("restored"));
    assert!(refused.as_ref().is_err_and(|e| e.contains(&named)), "{:?}", refused.err());

    // A manifest changed after signing does not open with the log's key.
    let manifest = std::fs::read_dir(live.target().join("sets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "note"))
        .unwrap();
    let text = std::fs::read_to_string(&manifest).unwrap();
    let (was, forged) = (format!("\"tree_size\":{}", set.tree_size), format!("\"tree_size\":{}", set.tree_size + 1));
    assert!(text.contains(&was));
    std::fs::write(&manifest, text.replacen(&was, &forged, 1)).unwrap();
    let report = verify(&live.location(), Some(&vkey)).unwrap();
    assert_eq!(report.sets, 0);
    assert!(report.damaged.iter().any(|d| d.path.starts_with("sets/")), "{:?}", report.damaged);
    // Nor with another key than the log's.
    let other = crate::audit::checkpoint::NoteSigner::from_seed("custos/other", &[7; 32]).unwrap().verifier_key();
    let (sets, _) = Target::open(&live.location(), Some(&other)).unwrap().sets().unwrap();
    assert!(sets.is_empty());
}

#[tokio::test]
async fn a_restore_of_an_older_set_destroys_again_what_was_destroyed_after_it() {
    let live = live();
    let (sales, made) = sales_dossier(&live.archive).await;
    let did = made.id.clone();
    live.archive.backups().take_backup(&live.settings()).unwrap();
    let vkey = live.archive.audit_trail().verifier_key();
    let set = newest_set(&live.location(), &vkey);

    live.archive.retention().close_dossier(&sales, did.as_str(), live.archive.now()).await.unwrap();
    live.clock.advance(time::Duration::days(3 * 366));
    let proposer = caller(&live.archive, &[Role::Compliance], "legal_compliance").await;
    let approver = caller(&live.archive, &[Role::Compliance], "legal_compliance").await;
    let batch = live.archive.retention().propose_batch(&proposer).await.unwrap();
    let done = live.archive.retention().approve_batch(&approver, batch.batch_id.as_str()).await.unwrap();
    let cert = done.certificate_id.unwrap();
    assert!(live.target().join("journal").is_dir(), "the certificate is journaled beside the sets");

    let into = live.dir.path().join("restored");
    let restored = restore(&live, &set, &into).unwrap();
    let again = open(restored.clone(), live.master(), live.clock.clone(), None);
    let gone = again.dossiers().read_dossier(&sales, did.as_str(), None).await;
    assert!(
        matches!(gone, Err(ArchiveError::Gone { ref certificate }) if certificate == cert.as_str()),
        "{:?}",
        gone.err()
    );
    assert!(!again.keyring().exists(&KeyRef::Dossier(did.clone())).unwrap(), "its key is shredded again");
    let prefix = crate::store::keys::versions_prefix(&did);
    assert_eq!(restored.scan(Cf::Versions, &prefix, &prefix).count(), 0, "its versions are deleted again");
}

/// The nice value of the calling thread, from /proc (field 19 of stat).
fn own_nice() -> i32 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split(' ').nth(16).unwrap().parse().unwrap()
}

#[test]
fn a_set_is_made_at_the_lowest_priority_and_only_its_thread_is_lowered() {
    let before = own_nice();
    let lowered = std::thread::spawn(|| {
        crate::backup::lower_thread_priority();
        own_nice()
    })
    .join()
    .unwrap();
    assert_eq!(lowered, 19);
    assert_eq!(own_nice(), before, "the caller's thread keeps its priority");
}

#[tokio::test]
async fn expiry_removes_old_sets_never_the_newest_and_keeps_what_the_newest_holds() {
    let live = live();
    sales_dossier(&live.archive).await;
    let settings = live.settings();
    let first = live.archive.backups().take_backup(&settings).unwrap();
    live.clock.advance(time::Duration::days(1));
    let second = live.archive.backups().take_backup(&settings).unwrap();
    let store: &dyn KvStore = live.store.as_ref();

    live.clock.advance(time::Duration::days(29));
    assert!(live.archive.backups().expire_backups(&settings).unwrap().is_empty(), "the first is 30 days old");
    live.clock.advance(time::Duration::days(20));
    let expired = live.archive.backups().expire_backups(&settings).unwrap();
    assert_eq!(expired, vec![first.backup_id.to_string()], "both are old; the newest stays");
    let e = last_entry(store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("backup.expire", Outcome::Allow));
    assert!(e.body.reason.contains(first.backup_id.as_str()), "{}", e.body.reason);
    let vkey = live.archive.audit_trail().verifier_key();
    let report = verify(&live.location(), Some(&vkey)).unwrap();
    assert_eq!((report.sets, report.damaged.len()), (1, 0), "every object of the newest is kept: {:?}", report.damaged);
    assert_eq!(newest_set(&live.location(), &vkey).backup_id, second.backup_id);

    let head = live.archive.audit_head().next_seq;
    assert!(live.archive.backups().expire_backups(&settings).unwrap().is_empty());
    assert_eq!(live.archive.audit_head().next_seq, head, "nothing expired, nothing audited");
}

#[tokio::test]
async fn the_audit_log_is_shipped_beside_the_sets_each_entry_once() {
    let live = live();
    let (sales, made) = sales_dossier(&live.archive).await;
    let settings = live.settings();
    let head = live.archive.audit_head().next_seq;
    assert_eq!(live.archive.backups().ship_audit(&settings).unwrap(), head);
    assert_eq!(live.archive.backups().ship_audit(&settings).unwrap(), 0, "nothing new");
    live.archive.dossiers().read_dossier(&sales, made.id.as_str(), None).await.unwrap();
    assert_eq!(live.archive.backups().ship_audit(&settings).unwrap(), 1);

    let target = Target::open(&live.location(), Some(&live.archive.audit_trail().verifier_key())).unwrap();
    let shipped = target.shipped_entries(0, live.master().identity()).unwrap();
    let stored: Vec<Vec<u8>> = live.store.scan(Cf::Audit, b"", b"").map(|r| r.unwrap().1).collect();
    assert_eq!(shipped, stored, "the log as it is, byte for byte");
    for segment in std::fs::read_dir(live.target().join("audit")).unwrap() {
        let raw = std::fs::read(segment.unwrap().path()).unwrap();
        assert!(raw.starts_with(b"age-encryption.org/v1"), "shipped encrypted");
    }
}
