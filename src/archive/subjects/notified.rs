//! `POST /v1/subjects/{sid}/notified` (compliance): that a person was told
//! of a notice version after their data was collected (PIPL Art. 17(2)).
//! Appended to the person's record under a guard, audited; from then on
//! the person counts as told of that version (`Notifications::told`) and
//! drops out of the owed list.

use super::{SubjectCall, Subjects};
use crate::archive::gate::Access;
use crate::archive::records::{NoticeTold, NotifyChannel};
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Outcome};
use crate::domain::dossier::FieldError;
use crate::domain::SubjectId;
use serde::Serialize;
use time::OffsetDateTime;

/// What an officer records.
#[derive(Debug, Clone)]
pub struct NewNotified {
    pub version: String,
    pub channel: NotifyChannel,
    pub told_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NotifiedView {
    pub subject: String,
    pub version: String,
    #[schema(inline)]
    pub channel: NotifyChannel,
    #[serde(with = "time::serde::rfc3339")]
    pub told_at: OffsetDateTime,
    /// The latest version the person is now told of.
    pub notice_told: Option<String>,
}

impl Subjects {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_notified(
        &self,
        ctx: &RequestCtx,
        id: &str,
        told: NewNotified,
    ) -> Result<NotifiedView, ArchiveError> {
        const ACTION: Action = Action::NoticeNotify;
        let resource = if SubjectId::parse(id).is_ok() { id } else { "" };
        self.gate.require_register(ctx, ACTION, resource, Access::Keep).await?;
        let found = match SubjectId::parse(id) {
            Ok(sid) => self.subject_meta(&sid)?.map(|held| (sid, held)),
            Err(_) => None,
        };
        let Some((sid, held)) = found.filter(|(_, h)| h.value.erased.is_none()) else {
            let e = ctx.entry(ACTION, resource, Outcome::Error, "no such subject");
            return self.gate.refuse(e, ArchiveError::NotFound("subject".into())).await;
        };
        let now = self.clock.now();
        let refuse = |path: &str, message: &str| vec![FieldError { path: path.into(), message: message.into() }];
        let notice = self.policy.notices.get(&told.version);
        let errors = match notice {
            None => refuse("/version", "no such notice version in notices.toml"),
            Some(n) if n.effective > now.date() => refuse("/version", "that notice version is not in force yet"),
            Some(_) if told.told_at > now + time::Duration::minutes(5) => refuse("/told_at", "lies in the future"),
            Some(n) if told.told_at.date() < n.effective - time::Duration::days(31) => {
                refuse("/told_at", "more than a month before the version took effect")
            }
            Some(_) if held.value.notified.iter().any(|t| t.version == told.version) => {
                let e = ctx.entry(ACTION, sid.as_str(), Outcome::Error, "already recorded");
                let why = format!("the person is already recorded as told of notice {}", told.version);
                return self.gate.refuse(e, ArchiveError::Conflict(why)).await;
            }
            Some(_) => Vec::new(),
        };
        if !errors.is_empty() {
            let mut e = ctx.entry(ACTION, sid.as_str(), Outcome::Error, "invalid notification record");
            e.subjects = vec![sid.to_string()];
            return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        let mut meta = held.value.clone();
        meta.notified.push(NoticeTold {
            version: told.version.clone(),
            channel: told.channel,
            told_at: told.told_at,
            recorded_by: ctx.principal.id.clone(),
            recorded_at: now,
        });
        let channel = serde_json::to_value(told.channel).ok().and_then(|v| v.as_str().map(str::to_owned));
        let reason = format!(
            "told of notice {} (sha256 {}) by {} on {}",
            told.version,
            notice.map_or("", |n| n.digest.as_str()),
            channel.unwrap_or_default(),
            told.told_at.date()
        );
        let dossiers = self.dossiers.subject_dossiers(&sid)?;
        let call = SubjectCall { sid: sid.clone(), meta: held.value.clone(), held, dossiers, reason: String::new() };
        self.commit_subject(ctx, ACTION, &call, &meta, vec![], reason).await?;
        Ok(NotifiedView {
            subject: sid.to_string(),
            version: told.version,
            channel: told.channel,
            told_at: told.told_at,
            notice_told: self.dossiers.notifications().told(&sid, &meta)?.map(|n| n.version.clone()),
        })
    }
}
