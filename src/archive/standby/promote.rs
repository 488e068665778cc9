//! `custos promote`: a stopped standby becomes the primary. It first takes
//! in what the primary shipped since (the stream, the journal), then
//! refuses if it is still behind a checkpoint the primary acknowledged
//! (shipped signed) unless told to accept the loss, and then names the
//! versions lost, as a restore does. It starts a new lineage and records
//! the promotion in the target, signed with the log's key: the old primary
//! refuses to start (or goes on answering 503) once it sees it.

use super::{Lag, Standby, APPLIED, SOURCE, VERIFIER};
use crate::archive::backups::restore::{lost_versions, reapply_journal};
use crate::audit::{AuditEntry, AuditWriter, Commit, EntryBody, Outcome};
use crate::backup::stream::{Promotion, STREAM_FORMAT};
use crate::backup::{Location, Target};
use crate::crypto::MasterKey;
use crate::store::{keys, Cf, KvStore, Op, RocksStore};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a promotion did.
#[derive(Debug, Clone)]
pub struct Promoted {
    pub lineage: String,
    pub supersedes: String,
    /// The primary's writes applied, and the audit log's verified size.
    pub applied_seq: u64,
    pub audit_size: u64,
    /// The newest tree size the primary shipped signed (a set's or a
    /// shipped segment's checkpoint).
    pub acknowledged: u64,
    /// The versions lost (`dos_… v4-v5`), when the standby was behind and
    /// told to accept it.
    pub lost: Vec<String>,
    /// The catch-up's error, when the stream could not be followed to its end.
    pub catch_up_error: Option<String>,
    pub certificates: usize,
    /// When the newest entry of the primary's log that the standby holds
    /// was written: writes acknowledged after it are lost (the RPO).
    pub newest_kept: Option<time::OffsetDateTime>,
    pub took: Duration,
}

/// Why a promotion did not happen.
#[derive(Debug)]
pub enum PromoteError {
    /// Behind an acknowledged checkpoint, and not told to accept the loss.
    Behind(String),
    Other(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for PromoteError {
    fn from(e: E) -> Self {
        PromoteError::Other(e.into())
    }
}

fn text(store: &dyn KvStore, key: &[u8]) -> anyhow::Result<String> {
    let raw = store
        .get(Cf::System, key)?
        .ok_or_else(|| anyhow::anyhow!("not a standby's data directory (nothing to promote)"))?;
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

/// Promotes the stopped standby in `data_dir`.
pub fn promote(data_dir: &Path, master_key_file: &Path, accept_loss: bool) -> Result<Promoted, PromoteError> {
    let started = Instant::now();
    let db = crate::layout::db_dir(data_dir);
    if !db.exists() {
        return Err(anyhow::anyhow!("no data directory at {}", data_dir.display()).into());
    }
    let (from, vkey) = {
        let store = RocksStore::open(&db).map_err(|e| {
            anyhow::anyhow!("opening {} (is the standby still running? stop it first): {e}", db.display())
        })?;
        (text(&store, SOURCE)?, text(&store, VERIFIER)?)
    };
    let from = Location::parse(&from).map_err(anyhow::Error::msg)?;
    let lag = Arc::new(std::sync::Mutex::new(Lag::default()));
    // The index is checked by the promoted server's start, not twice.
    let mut standby = Standby::open_with(&from, data_dir, master_key_file, &vkey, lag, false)?;
    // Everything shipped since the standby stopped.
    let catch_up_error = standby.follow().err().map(|e| e.to_string());
    // Nothing unverified is promoted: the log as it stands (whatever a
    // failed catch-up left) verifies up to its head, or nothing happens.
    standby.check_log().map_err(|e| anyhow::anyhow!("{e}; seed a new standby rather than promote this one"))?;
    let head = standby.store.get(Cf::System, crate::audit::HEAD_KEY)?.and_then(|r| crate::audit::ChainHead::decode(&r));
    if head.map_or(0, |h| h.next_seq) != standby.trusted.size {
        return Err(anyhow::anyhow!("the standby's audit log is not verified to its head; seed a new standby").into());
    }
    let master = MasterKey::load(master_key_file)?;
    let target = &standby.target;
    let acknowledged = target
        .shipped_segments(0)
        .map_err(super::damaged)?
        .last()
        .map_or(0, |s| s.1)
        .max(super::newest_set_checkpoint(target, &standby.lineage).map_or(0, |c| c.size));
    let mut lost = Vec::new();
    if standby.trusted.size < acknowledged {
        let shipped = target.shipped_entries(standby.trusted.size, master.identity()).map_err(super::damaged)?;
        let decoded: Vec<AuditEntry> = shipped.iter().map(|raw| AuditEntry::decode(raw)).collect::<Result<_, _>>()?;
        let changes = decoded
            .iter()
            .filter(|e| e.body.outcome == Outcome::Allow)
            .map(|e| (e.body.action.as_str(), e.body.resource.as_str()));
        lost = lost_versions(standby.store.as_ref(), changes)?.iter().map(ToString::to_string).collect();
        if !accept_loss {
            return Err(PromoteError::Behind(format!(
                "the standby's audit log ends at {}, behind the checkpoint of size {acknowledged} the primary shipped{}; \
                 promoting it loses the versions written since ({} dossier(s): {}); pass --accept-loss to promote anyway",
                standby.trusted.size,
                catch_up_error.as_deref().map(|e| format!(" (catching up failed: {e})")).unwrap_or_default(),
                lost.len(),
                lost.join(" ")
            )));
        }
    }
    // Every erasure and destruction, once more (idempotent).
    let (journal, _) = target.journal().map_err(super::damaged)?;
    let certificates = crate::archive::backups::restore::journal_certificates(&journal)?;
    reapply_journal(standby.store.as_ref(), &certificates)?;
    let store = standby.store.clone();
    let newest_kept = match store.last(Cf::Audit)? {
        Some((_, raw)) => Some(AuditEntry::decode(&raw)?.time),
        None => None,
    };
    let supersedes = standby.lineage.clone();
    let lineage = format!("lin_{}", ulid::Ulid::new().to_string().to_lowercase());
    let signer = crate::archive::trail::transparency::load_signer(store.as_ref(), &master)?;
    let promotion = Promotion {
        format: STREAM_FORMAT.into(),
        lineage: lineage.clone(),
        supersedes: supersedes.clone(),
        promoted_at: time::OffsetDateTime::now_utc(),
        audit_size: standby.trusted.size,
        lost: lost.clone(),
    };
    // Recorded first: the old primary refuses from here on. If this
    // directory cannot be changed afterwards, it is still a standby and
    // promote runs again (a second record supersedes the same lineage).
    let spool = crate::layout::backup_scratch_dir(data_dir).join("spool");
    Target::create(&from, &vkey, &spool)
        .and_then(|t| t.put_promotion(&promotion, &signer))
        .map_err(|e| anyhow::anyhow!("recording the promotion in {from}: {e}"))?;
    store.write(
        &[
            Op::Put(Cf::System, keys::DB_LINEAGE.to_vec(), lineage.clone().into_bytes()),
            Op::Delete(Cf::System, SOURCE.to_vec()),
            Op::Delete(Cf::System, VERIFIER.to_vec()),
            Op::Delete(Cf::System, APPLIED.to_vec()),
            Op::Delete(Cf::System, super::VERIFIED.to_vec()),
        ],
        true,
    )?;
    let (applied_seq, audit_size) = (standby.applied, standby.trusted.size);
    drop(standby);
    let policy_hash = crate::policy::PolicySet::embedded()?.hash;
    let writer = AuditWriter::start(
        store,
        Arc::new(crate::clock::SystemClock),
        policy_hash,
        Arc::new(crate::metrics::Metrics::default()),
    )?;
    let took = started.elapsed();
    let reason = format!(
        "promoted the standby of {from}: lineage {lineage} supersedes {supersedes}; the primary's writes applied up \
         to {applied_seq}, audit log {audit_size} (the primary acknowledged {acknowledged}); journal applied again: \
         {} certificate(s); versions lost: {}{}; took {:.3}s",
        certificates.len(),
        if lost.is_empty() { "none".to_owned() } else { lost.join(" ") },
        catch_up_error.as_deref().map(|e| format!("; catching up stopped: {e}")).unwrap_or_default(),
        took.as_secs_f64()
    );
    let mut entry = EntryBody::system(crate::audit::Action::BackupPromote, &lineage, reason);
    entry.actor = "system:cli".into();
    writer.commit_blocking(Commit::entry(entry)).map_err(|e| anyhow::anyhow!("{e}"))?;
    writer.shutdown();
    Ok(Promoted {
        lineage,
        supersedes,
        applied_seq,
        audit_size,
        acknowledged,
        lost,
        catch_up_error,
        certificates: certificates.len(),
        newest_kept,
        took,
    })
}
