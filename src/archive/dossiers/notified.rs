//! Telling persons of a changed notice (PIPL Art. 17(2)): which notice
//! version each person was last told of, derived from what is on record
//! (the notice recorded at collection, the notice a live consent was given
//! under, and the notifications recorded since), and so who is owed a
//! notification of a version that changes purposes, categories,
//! recipients, transfers or methods. Nothing is stored twice: the owed
//! list is computed from those records each time. The deadline job raises
//! one `notice_notifications_overdue` alert per version still owed
//! `notify_within_days` after it took effect.

use crate::archive::dossiers::Dossiers;
use crate::archive::gate::Access;
use crate::archive::records::{SubjectMeta, ALERTS, SUBJECTS};
use crate::archive::{ArchiveError, RequestCtx, Resource};
use crate::audit::{Action, Commit, CommitError, EntryBody, Outcome};
use crate::domain::SubjectId;
use crate::policy::alerts::Alert;
use crate::policy::governance::{Notice, Notices};
use crate::policy::notice_elements::changes;
use crate::store::{keys, Cf, Table};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The most subject ids one page of the owed list holds.
pub const MAX_OWED_PAGE: usize = 1000;

/// `no/<version>` in `registers`: the overdue alert was raised.
const OWED_ALERTS: Table<String, OwedAlertMark> = Table::new(Cf::Registers, b"no/", keys::notice_owed_alert);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct OwedAlertMark {
    #[serde(with = "time::serde::rfc3339")]
    raised_at: OffsetDateTime,
    owed: usize,
}

/// One page of the persons owed a notification of a version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OwedPage {
    pub version: String,
    /// The elements it changes against the version before it.
    pub changes: Vec<String>,
    pub effective: String,
    /// When the notifications are due (`notify_within_days` after it took effect).
    pub due: String,
    /// Every person owed (all pages).
    pub owed: usize,
    /// This page's subject ids, in id order.
    pub subjects: Vec<String>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// The owed notifications, over the dossiers' records (borrowed: no state
/// of its own).
pub struct Notifications<'a> {
    d: &'a Dossiers,
}

impl Dossiers {
    /// Who was told of which notice version, who is owed one.
    pub fn notifications(&self) -> Notifications<'_> {
        Notifications { d: self }
    }
}

/// Whether a person told of `told` (or of nothing on record) is owed a
/// notification of `version`.
fn owes(version: &Notice, told: Option<&Notice>) -> bool {
    match told {
        None => true,
        Some(t) => t.effective < version.effective && !changes(t, version).is_empty(),
    }
}

/// The version `version` of `notices`, with what it changes against the one before.
fn version_for<'n>(notices: &'n Notices, version: &str) -> Option<(&'n Notice, Vec<String>)> {
    let all = notices.versions();
    let i = all.iter().position(|n| n.version == version)?;
    let changed = match i {
        0 => Vec::new(),
        _ => changes(&all[i - 1], &all[i]).into_iter().map(str::to_owned).collect(),
    };
    Some((&all[i], changed))
}

/// The day persons under earlier versions are to be told of `n` by.
fn due(notices: &Notices, n: &Notice) -> time::Date {
    n.effective + time::Duration::days(i64::from(notices.notify_within_days))
}

impl<'a> Notifications<'a> {
    /// The notice version a person was last told of, if any is on record.
    pub(crate) fn told(&self, sid: &SubjectId, meta: &SubjectMeta) -> Result<Option<&'a Notice>, ArchiveError> {
        let notices = &self.d.policy.notices;
        let collected = self.d.collection_records(sid)?.into_iter().filter_map(|r| r.notice);
        let consented = meta.consents.values().filter_map(|c| notices.under(c.notice.as_deref(), c.granted_at));
        let notified = meta.notified.iter().map(|n| n.version.clone());
        let named: Vec<&Notice> = collected.chain(notified).filter_map(|v| notices.get(&v)).chain(consented).collect();
        Ok(named.into_iter().max_by_key(|n| n.effective))
    }

    /// Every person (not erased) owed a notification of `version`, in id order.
    pub(crate) fn owed(&self, version: &Notice) -> Result<Vec<SubjectId>, ArchiveError> {
        if version.effective > self.d.clock.now().date() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for meta in SUBJECTS.values(self.d.store.as_ref()) {
            let meta = meta?;
            if meta.erased.is_none() && owes(version, self.told(&meta.id, &meta)?) {
                out.push(meta.id);
            }
        }
        Ok(out)
    }

    /// `GET /v1/notices/{version}/owed` (compliance): the persons owed a
    /// notification of `version`, paged by subject id.
    #[tracing::instrument(level = "debug", skip_all, fields(version = %version))]
    pub async fn list_owed(
        &self,
        ctx: &RequestCtx,
        version: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<OwedPage, ArchiveError> {
        const ACTION: Action = Action::NoticeOwed;
        let resource = Resource::Notices.as_str();
        self.d.gate.require_register(ctx, ACTION, resource, Access::Keep).await?;
        let notices = &self.d.policy.notices;
        let Some((notice, changed)) = version_for(notices, version) else {
            let e = ctx.entry(ACTION, resource, Outcome::Error, "no such notice version");
            return self.d.gate.refuse(e, ArchiveError::NotFound("notice version".into())).await;
        };
        let owed = self.owed(notice)?;
        let after: Vec<&SubjectId> = owed.iter().filter(|s| cursor.is_none_or(|c| s.as_str() > c)).collect();
        let page: Vec<String> = after.iter().take(limit).map(|s| s.to_string()).collect();
        let next_cursor = (after.len() > limit).then(|| page.last().cloned()).flatten();
        let reason = format!("notice {}: {} owed; {} listed", notice.version, owed.len(), page.len());
        self.d.audit.commit(Commit::entry(ctx.entry(ACTION, resource, Outcome::Allow, reason))).await?;
        Ok(OwedPage {
            version: notice.version.clone(),
            changes: changed,
            effective: notice.effective.to_string(),
            due: due(notices, notice).to_string(),
            owed: owed.len(),
            subjects: page,
            next_cursor,
        })
    }

    /// The deadline job: one alert for each version in force or past whose
    /// notifications are still owed after `notify_within_days`.
    pub(crate) async fn check_owed_notifications(&self) -> Result<Vec<Alert>, ArchiveError> {
        let now = self.d.clock.now();
        let notices = &self.d.policy.notices;
        let mut raised = Vec::new();
        for n in notices.versions() {
            if due(notices, n) >= now.date() || OWED_ALERTS.contains(self.d.store.as_ref(), &n.version)? {
                continue;
            }
            let owed = self.owed(n)?.len();
            if owed == 0 {
                continue;
            }
            let a = Alert {
                id: crate::domain::AlertId::generate().to_string(),
                rule: "notice_notifications_overdue".into(),
                description: format!(
                    "{owed} person(s) not yet told of privacy notice {} (in force since {}; due {}; PIPL Art. 17(2))",
                    n.version,
                    n.effective,
                    due(notices, n)
                ),
                actor: String::new(),
                window_start: now,
                window_end: now,
                window_seconds: 0,
                count: owed as u64,
                threshold: 0,
            };
            let mark = OWED_ALERTS.insert(&n.version, &OwedAlertMark { raised_at: now, owed })?;
            let entry = EntryBody {
                request_id: a.id.clone(),
                ..EntryBody::system(
                    Action::AuditAlert,
                    Resource::Notices.as_str(),
                    format!("{}: {}", a.rule, a.description),
                )
            };
            match self.d.audit.commit(Commit::guarded(mark, vec![ALERTS.put_unguarded(&a.id, &a)?], entry)).await {
                // Raised by another run meanwhile.
                Err(CommitError::Conflict) => continue,
                other => other?,
            };
            tracing::warn!(rule = %a.rule, version = %n.version, "notice notification alert");
            raised.push(a);
        }
        Ok(raised)
    }
}
