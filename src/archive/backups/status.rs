//! `GET /v1/backups` (admin) and the console's backups page: the sets on
//! the target, the nightly schedule, and how the scheduled sets went,
//! audited as `backup.list`.

use super::{backup_error, Backups};
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use serde::Serialize;
use time::OffsetDateTime;

/// One set on the target (its manifest verified with the log's key).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BackupSetView {
    pub backup_id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The audit log's tree size the set holds.
    pub tree_size: u64,
    /// Plaintext bytes the set holds.
    pub bytes: u64,
    /// Of them, bytes written as new objects.
    pub new_bytes: u64,
    pub files: usize,
}

/// A manifest on the target that does not verify.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DamagedSet {
    pub path: String,
    pub what: String,
}

/// Backups as an administrator sees them.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct BackupStatus {
    /// Whether a `backup_dir` or `backup_target` is configured.
    pub configured: bool,
    /// The target as its operator names it (a directory, `s3://bucket/prefix`).
    pub target: Option<String>,
    /// The nightly set's time of day (`HH:MM+hh:mm`).
    pub schedule: Option<String>,
    /// When the next nightly set is due.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_run: Option<OffsetDateTime>,
    /// Sets older than this many days are deleted.
    pub keep_days: u32,
    /// The sets whose manifest verifies, newest first.
    pub sets: Vec<BackupSetView>,
    pub damaged: Vec<DamagedSet>,
    /// Why the target could not be read (then `sets` is empty).
    pub unreadable: Option<String>,
    /// The last scheduled set that succeeded, and that failed, since start-up.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_success: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_failure: Option<OffsetDateTime>,
    /// Scheduled sets that failed since start-up.
    pub failures: u64,
    /// Whether the last scheduled set failed (as `/readyz` says).
    pub failing: bool,
}

fn at(unix: i64) -> Option<OffsetDateTime> {
    (unix > 0).then(|| OffsetDateTime::from_unix_timestamp(unix).ok()).flatten()
}

impl Backups {
    /// `GET /v1/backups` (admin): the target's sets (opened as the next set
    /// opens it, so a target the night would fail on shows now), the
    /// schedule and the scheduled sets' outcomes. Audited `backup.list`,
    /// refusals too.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn backup_status(&self, ctx: &RequestCtx) -> Result<BackupStatus, ArchiveError> {
        const ACTION: Action = Action::BackupList;
        self.gate.require_admin(ctx, ACTION, "").await?;
        let m = &self.metrics;
        let failed = crate::metrics::BackupLabels { outcome: "failed".into() };
        let mut status = BackupStatus {
            configured: self.settings.is_some(),
            last_success: at(m.backup_last_success.get()),
            last_failure: at(m.backup_last_failure.get()),
            failures: m.backups.get_or_create(&failed).get(),
            failing: m.backup_failing(),
            ..BackupStatus::default()
        };
        if let Some(settings) = &self.settings {
            status.target = Some(settings.target.to_string());
            status.keep_days = settings.keep_days;
            if let Some(daily) = settings.at {
                status.schedule = Some(format!("{:02}:{:02}{}", daily.hour, daily.minute, offset_text(daily.offset)));
                status.next_run = Some(daily.next_after(self.clock.now()));
            }
            let listed = settings.open_target(&self.trail.verifier_key()).and_then(|t| t.sets()).map_err(backup_error);
            match listed {
                Ok((sets, damaged)) => {
                    status.sets = sets
                        .into_iter()
                        .rev()
                        .map(|s| BackupSetView {
                            backup_id: s.manifest.backup_id.to_string(),
                            created_at: s.manifest.created_at,
                            tree_size: s.manifest.tree_size,
                            bytes: s.manifest.bytes,
                            new_bytes: s.manifest.new_bytes,
                            files: s.manifest.files.len(),
                        })
                        .collect();
                    status.damaged = damaged.into_iter().map(|d| DamagedSet { path: d.path, what: d.what }).collect();
                }
                Err(e) => {
                    tracing::error!(error = %e, "listing the backup target failed");
                    status.unreadable = Some(e.to_string());
                }
            }
        }
        let reason = match (&status.unreadable, status.configured) {
            (_, false) => "no backup target configured".to_owned(),
            (Some(_), _) => "the target could not be read".to_owned(),
            (None, _) => format!("{} set(s), {} damaged", status.sets.len(), status.damaged.len()),
        };
        self.audit.commit(Commit::entry(ctx.entry(ACTION, "", Outcome::Allow, reason))).await?;
        Ok(status)
    }
}

fn offset_text(o: time::UtcOffset) -> String {
    let (h, m, _) = o.as_hms();
    let sign = if h < 0 || m < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}
