//! The primary's side of the standby stream (`crate::backup::stream`): every
//! `backup_stream_secs`, the store's writes since the last shipment go to
//! the target as one signed, encrypted segment. A standby applies them in
//! order (the archive's `standby` room). When the store's log no longer reaches
//! back to where the stream stopped (a long outage of the target), a set is
//! taken and the stream goes on from it: a standby behind that point seeds
//! itself again from the set.

use super::{backup_error, BackupSettings, Backups};
use crate::archive::ArchiveError;
use crate::backup::stream::{Promotion, MAX_SEGMENT_BYTES};
use crate::store::{keys, Cf};

/// Segments one shipment may write before it lets the next tick go on.
const SEGMENTS_PER_SHIPMENT: usize = 8;

impl Backups {
    /// The lineage of this directory's writes (made by the first set).
    fn lineage(&self) -> Result<Option<String>, ArchiveError> {
        Ok(self.store.get(Cf::System, keys::DB_LINEAGE)?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// A set now, and the sequence number the stream goes on from (the
    /// set holds every write up to it, and perhaps a few more: a standby
    /// skips what it holds).
    fn stream_base(&self, settings: &BackupSettings) -> Result<u64, ArchiveError> {
        let base = self.store.sequence();
        let m = self.take_backup(settings)?;
        let e = crate::audit::EntryBody::system(
            crate::audit::Action::BackupCreate,
            m.backup_id.as_str(),
            format!("{} (the base of the standby stream)", super::describe(&m)),
        );
        self.audit.commit_blocking(crate::audit::Commit::entry(e))?;
        Ok(base + 1)
    }

    /// Ships the writes since the last shipment (blocking). Returns how many
    /// writes went. Refuses once a standby was promoted over this
    /// directory's lineage ([`Backups::is_superseded`]).
    pub fn ship_stream(&self, settings: &BackupSettings) -> Result<u64, ArchiveError> {
        let Some(archive_dir) = &settings.wal_archive else { return Ok(0) };
        let mut next = self.streamed.lock().map_err(|_| anyhow::anyhow!("stream lock poisoned"))?;
        let started = std::time::SystemTime::now();
        let vkey = self.trail.verifier_key();
        let lineage = match self.lineage()? {
            Some(l) => l,
            None => {
                *next = Some(self.stream_base(settings)?);
                self.lineage()?.ok_or_else(|| anyhow::anyhow!("a set made no lineage"))?
            }
        };
        let mut opened = self.stream_target.lock().map_err(|_| anyhow::anyhow!("stream lock poisoned"))?;
        if opened.is_none() {
            let _one = self.lock.lock().map_err(|_| anyhow::anyhow!("backup lock poisoned"))?;
            *opened = Some(settings.open_target(&vkey).map_err(backup_error)?);
        }
        let target = opened.as_ref().ok_or_else(|| anyhow::anyhow!("the stream's target is not open"))?;
        if let Some(p) = target.superseded(&lineage).map_err(backup_error)? {
            tracing::error!(lineage = %lineage, promoted = %p.lineage, "a standby was promoted over this data directory: it must not serve");
            self.is_superseded.store(true, std::sync::atomic::Ordering::Release);
            return Err(ArchiveError::Conflict("a standby was promoted over this data directory".into()));
        }
        let from = match *next {
            Some(n) => n,
            // Where the stream stopped, by its newest signed note (a name
            // alone is not trusted), unless it claims writes this store
            // does not have: then a new base.
            None => match target.stream_segments(&lineage).map_err(backup_error)?.last() {
                Some(&(first, last))
                    if last <= self.store.sequence() && target.stream_note(&lineage, first, last).is_ok() =>
                {
                    last + 1
                }
                _ => self.stream_base(settings)?,
            },
        };
        let recipients = self.recipients(settings);
        let mut at = from;
        let (mut shipped, mut caught_up) = (0, false);
        for _ in 0..SEGMENTS_PER_SHIPMENT {
            if at > self.store.sequence() {
                caught_up = true;
                break;
            }
            let changes = match self.store.changes_since(at, (MAX_SEGMENT_BYTES / 4) as usize) {
                Ok(c) if c.first().is_none_or(|c| c.seq <= at) => c,
                // The log no longer reaches back: a new base.
                gap => {
                    let why = gap.err().map_or_else(|| "a gap".to_owned(), |e| e.to_string());
                    tracing::warn!(from = at, error = %why, "the standby stream lost its place: a set is its new base");
                    *next = Some(self.stream_base(settings)?);
                    return Ok(shipped);
                }
            };
            // Nothing read although the store has written past `at`: the
            // log could not be read there now; the next tick tries again
            // (and no WAL file is removed meanwhile).
            let Some(end) = changes.last().map(|c| c.seq.saturating_add(c.count)) else { break };
            target.put_stream(&lineage, &changes, &recipients, &self.signer, self.clock.now()).map_err(backup_error)?;
            shipped += changes.iter().map(|c| c.count).sum::<u64>();
            at = end;
            *next = Some(at);
        }
        *next = Some(at);
        drop((next, opened));
        // Caught up, every WAL file kept for the stream that holds nothing
        // newer than this shipment's start is shipped: they go now rather
        // than at their TTL (they hold wrapped keys an erasure may have
        // shredded since).
        if caught_up {
            // A margin for file times coarser than the clock.
            remove_shipped_wal(archive_dir, started - std::time::Duration::from_secs(2));
        }
        Ok(shipped)
    }

    /// Whether a shipment saw a promotion over this directory (read by
    /// every request: an atomic load).
    pub fn is_superseded(&self) -> bool {
        self.is_superseded.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether a promotion supersedes this directory's lineage, read from
    /// the target now (at start-up: the old primary refuses to start).
    pub fn check_superseded(&self, settings: &BackupSettings) -> Result<Option<Promotion>, ArchiveError> {
        let Some(lineage) = self.lineage()? else { return Ok(None) };
        let target = settings.open_target(&self.trail.verifier_key()).map_err(backup_error)?;
        target.superseded(&lineage).map_err(backup_error)
    }
}

/// Deletes the WAL files in the store's archive last written before `before`.
fn remove_shipped_wal(dir: &std::path::Path, before: std::time::SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.filter_map(Result::ok) {
        let path = e.path();
        let old = e.metadata().and_then(|m| m.modified()).is_ok_and(|m| m < before);
        if old && path.extension().is_some_and(|x| x == "log") {
            if let Err(err) = std::fs::remove_file(&path) {
                tracing::warn!(error = %err, "a shipped WAL file could not be removed; RocksDB removes it at its TTL");
            }
        }
    }
}
