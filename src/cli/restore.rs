//! `custos backup restore`: a set into a new data directory, the erasure
//! journal applied again, a `backup.restore` audit entry, and a report.
//! The restore measures its own duration, phase by phase (GDPR Art.
//! 32(1)(c): restore in a timely manner; the restore drill in CI prints
//! it): the report and the entry say how long it took.

use super::backup::RestoreArgs;
use crate::archive::backups::restore::{lost_versions, reapply_journal};
use crate::audit::{AuditEntry, AuditWriter, Commit, EntryBody, Outcome};
use crate::backup::{verify, Target};
use crate::store::{keys, Cf, KvStore, Op, RocksStore};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long each phase of a restore took, measured by the restore itself
/// (a monotonic clock): the recovery time of the data directory, before
/// the server starts on it (and rebuilds the search index).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct Phases {
    /// The target verified, the set chosen, the journal checked complete
    /// against the manifests and the shipped log: before anything is written.
    pub check: Duration,
    /// The set's objects copied and decrypted into the new directory.
    pub extract: Duration,
    /// The erasure journal applied again.
    pub journal: Duration,
    /// The log's shipped entries appended and each segment bound to its
    /// signed checkpoint (the chain verified up to the restored head).
    pub log: Duration,
    /// From the start until the `backup.restore` entry is written.
    pub total: Duration,
}

impl std::fmt::Display for Phases {
    /// `check=0.412s extract=0.180s journal=0.002s log=0.015s total=0.650s`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts = [
            ("check", self.check),
            ("extract", self.extract),
            ("journal", self.journal),
            ("log", self.log),
            ("total", self.total),
        ];
        let words: Vec<String> = parts.iter().map(|(name, d)| format!("{name}={:.3}s", d.as_secs_f64())).collect();
        f.write_str(&words.join(" "))
    }
}

/// Runs `phase`, adding its duration to `into`.
fn timed<T>(into: &mut Duration, phase: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = phase();
    *into += start.elapsed();
    out
}

pub(super) enum RestoreError {
    /// The target or set does not verify: nothing was restored.
    Damaged(String),
    Other(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for RestoreError {
    fn from(e: E) -> Self {
        RestoreError::Other(e.into())
    }
}

pub(super) fn restore(args: &RestoreArgs) -> Result<(), RestoreError> {
    let (started, mut took) = (Instant::now(), Phases::default());
    // Everything is checked before anything is written.
    let report = verify(&args.from, Some(&args.verifier_key))?;
    if let Some(d) = report.damaged.first() {
        return Err(RestoreError::Damaged(format!(
            "{}: {} ({} damaged file(s))",
            d.path,
            d.what,
            report.damaged.len()
        )));
    }
    let target = Target::open(&args.from, Some(&args.verifier_key))?;
    let (sets, _) = target.sets()?;
    let set = match &args.backup {
        Some(id) => sets.iter().find(|s| s.manifest.backup_id.as_str() == id),
        None => sets.last(),
    }
    .map(|s| s.manifest.clone())
    .ok_or_else(|| anyhow::anyhow!("no such set in {} (custos backup list shows them)", args.from))?;
    let journal_present = target.has_journal()?;
    if !journal_present && !args.accept_missing_journal {
        return Err(anyhow::anyhow!(
            "{} has no erasure journal: people erased and dossiers destroyed after the set would come back; \
             pass --accept-missing-journal to restore anyway",
            args.from
        )
        .into());
    }
    let (journal, _) = target.journal()?;
    let certificates = crate::archive::backups::restore::journal_certificates(&journal)?;
    // The journal must hold every certificate the newest signed manifest
    // lists and every one the shipped log records issuing: a journal file
    // deleted would bring back, without a word, a person erased.
    let identity = crate::crypto::MasterKey::load(&args.key)?;
    let shipped =
        target.shipped_entries(set.tree_size, identity.identity()).map_err(|e| RestoreError::Damaged(e.to_string()))?;
    let decoded: Vec<AuditEntry> = shipped.iter().map(|raw| AuditEntry::decode(raw)).collect::<Result<_, _>>()?;
    if journal_present {
        let journaled: std::collections::BTreeSet<String> =
            certificates.iter().map(|c| c.certificate_id.to_string()).collect();
        let mut expected: Vec<(String, String)> = sets
            .last()
            .map(|s| s.manifest.certificates.iter().map(|c| (c.clone(), format!("set {}", s.manifest.backup_id))))
            .into_iter()
            .flatten()
            .collect();
        expected.extend(
            decoded
                .iter()
                .filter(|e| e.body.action == "certificate.issue" && e.body.outcome == Outcome::Allow)
                .map(|e| (e.body.resource.clone(), format!("audit entry {}", e.seq))),
        );
        let missing: Vec<String> = expected
            .iter()
            .filter(|(c, _)| !journaled.contains(c))
            .map(|(c, by)| format!("{c} (recorded by {by})"))
            .collect();
        if !missing.is_empty() {
            return Err(RestoreError::Damaged(format!(
                "the erasure journal lacks {} certificate(s) the signed manifests or the shipped log record: {}; \
                 restoring without them would bring erased people and destroyed dossiers back (copy the journal \
                 from another copy of the target)",
                missing.len(),
                missing.join(", ")
            )));
        }
    }
    took.check = started.elapsed();
    if args.data_dir.exists() && std::fs::read_dir(&args.data_dir)?.next().is_some() {
        return Err(
            anyhow::anyhow!("{} is not empty: restore into a new data directory", args.data_dir.display()).into()
        );
    }
    let db = crate::config::db_dir(&args.data_dir);
    if let Err(e) = timed(&mut took.extract, || target.extract(&set, identity.identity(), &db)) {
        let _ = std::fs::remove_dir_all(&args.data_dir);
        return Err(RestoreError::Damaged(e.to_string()));
    }
    let store: Arc<dyn KvStore> = Arc::new(RocksStore::open(&db)?);
    let reapplied =
        timed(&mut took.journal, || reapply_journal(store.as_ref(), &certificates)).map_err(anyhow::Error::from)?;
    let log_started = Instant::now();
    // The log's entries after the set, as shipped: it never rolls back
    // behind what was shipped (and so behind an auditor's checkpoint).
    let appended = crate::audit::replay::append_entries(store.as_ref(), &shipped)?;
    let log_end = set.tree_size + appended;
    // Every segment appended is bound to the log's signed checkpoint of the
    // tree head after it: the restored tree must have that root there.
    for (first, end) in target.shipped_segments(set.tree_size)? {
        let bound = target.segment_checkpoint(first, end).and_then(|c| {
            let root = crate::audit::merkle::root(&crate::audit::StoredTree(store.as_ref()), end)
                .map_err(crate::backup::BackupError::Io)?;
            if root == c.root {
                Ok(())
            } else {
                Err(crate::backup::BackupError::Damaged {
                    path: format!("audit/{first:020}-{end:020}.seg"),
                    what: "its entries do not make the tree its signed checkpoint commits to".into(),
                })
            }
        });
        if let Err(e) = bound {
            drop(store);
            let _ = std::fs::remove_dir_all(&args.data_dir);
            return Err(RestoreError::Damaged(e.to_string()));
        }
    }
    took.log = log_started.elapsed();
    // What the set does not hold: the versions written after it, as the
    // shipped log records them (ids and version numbers only).
    let changes = decoded
        .iter()
        .filter(|e| e.seq >= set.tree_size && e.body.outcome == Outcome::Allow)
        .map(|e| (e.body.action.as_str(), e.body.resource.as_str()));
    let lost: Vec<String> =
        lost_versions(store.as_ref(), changes).map_err(anyhow::Error::from)?.iter().map(ToString::to_string).collect();
    // A new lineage: SST numbers from here on are not the old ones.
    let lineage = format!("lin_{}", ulid::Ulid::new().to_string().to_lowercase());
    store.write(&[Op::Put(Cf::System, keys::DB_LINEAGE.to_vec(), lineage.into_bytes())], true)?;
    let policy_hash = crate::policy::PolicySet::embedded()?.hash;
    let writer = AuditWriter::start(
        store.clone(),
        Arc::new(crate::clock::SystemClock),
        policy_hash,
        Arc::new(crate::metrics::Metrics::default()),
    )?;
    took.total = started.elapsed();
    let reason = format!(
        "restored set {} (audit tree size {}, log restored to {log_end} from shipped entries); journal applied \
         again: {} certificate(s), {} dossier(s) destroyed, {} person(s) erased, {} key(s) shredded; changes \
         after {} are not in the set (versions of {} dossier(s) written after it: {}){}; took {took}",
        set.backup_id,
        set.tree_size,
        reapplied.certificates,
        reapplied.dossiers.len(),
        reapplied.subjects.len(),
        reapplied.keys,
        set.created_at,
        lost.len(),
        lost.join(" "),
        if journal_present { "" } else { "; NO JOURNAL: erasures after the set may have come back" },
    );
    let entry = EntryBody {
        actor: "system:cli".into(),
        subjects: reapplied.subjects.iter().map(ToString::to_string).collect(),
        ..EntryBody::system(crate::audit::Action::BackupRestore, set.backup_id.as_str(), reason)
    };
    let seq = writer.commit_blocking(Commit::entry(entry)).map_err(|e| anyhow::anyhow!("{e}"))?;
    writer.shutdown();
    out!("restored set {} ({}) into {}", set.backup_id, set.created_at, args.data_dir.display());
    out!(
        "  audit log: {} entries from the set, {appended} shipped after it, then the backup.restore entry (seq {})",
        set.tree_size,
        seq.last().map(ToString::to_string).unwrap_or_default()
    );
    out!(
        "  erasure journal: {} certificate(s) applied again: {} dossier(s) destroyed again, {} person(s) erased again, {} key(s) shredded",
        reapplied.certificates,
        reapplied.dossiers.len(),
        reapplied.subjects.len(),
        reapplied.keys
    );
    if !journal_present {
        out!("  WARNING: no erasure journal: people erased or dossiers destroyed after the set may have come back");
    }
    out!(
        "  lost: the data of every change after {} (the set's time); the audit log keeps their entries up to {log_end}",
        set.created_at
    );
    out!("  versions written after the set, of {} dossier(s): {}", lost.len(), lost.join(", "));
    out!("  restore time: {took}");
    out!("  the search index is rebuilt at the next start");
    out!("  start the server on it with the master key: custos serve --data-dir {}", args.data_dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phases_read_as_named_seconds() {
        let ms = Duration::from_millis;
        let took = Phases { check: ms(412), extract: ms(1180), journal: ms(2), log: ms(15), total: ms(1650) };
        assert_eq!(took.to_string(), "check=0.412s extract=1.180s journal=0.002s log=0.015s total=1.650s");
        let mut into = ms(1);
        assert_eq!(timed(&mut into, || 7), 7);
        assert!(into >= ms(1), "a phase adds its time");
    }
}
