//! Restriction of processing (PIPL Art. 44, 47(2); GDPR Art. 18): putting
//! it in place, the notice to the person before it is lifted (GDPR Art.
//! 18(3)), and the lift, refused until that notice is on record.

use super::{rfc3339, SubjectView, Subjects};
use crate::archive::records::{LiftNotice, NoticeChannel, PENDING_ERASURES};
use crate::archive::vault::{Opened, Slot};
use crate::archive::{ArchiveError, Denial, RequestCtx};
use crate::audit::{Action, Outcome};
use crate::crypto::KeyRef;
use crate::domain::dossier::FieldError;
use crate::domain::DossierId;
use crate::policy::access::SubjectAction;
use serde::Serialize;
use time::OffsetDateTime;

/// The longest reference of a notice (a letter's or message's reference).
pub const MAX_NOTICE_REFERENCE: usize = 200;

/// A notice to record: how and when the person was told that their
/// restriction is about to be lifted. Its shape is checked at the edge
/// (`web::commands`); whether it fits the restriction, here.
#[derive(Debug, Clone)]
pub struct NewLiftNotice {
    pub channel: NoticeChannel,
    pub notified_at: OffsetDateTime,
    /// The letter's or message's reference (sealed under the person's key).
    pub reference: Option<String>,
}

/// A recorded notice as shown (the reference stays sealed).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LiftNoticeView {
    pub channel: NoticeChannel,
    #[serde(with = "time::serde::rfc3339")]
    pub notified_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    #[schema(value_type = String)]
    pub recorded_by: crate::domain::PrincipalId,
    /// Whether a reference was recorded (it is kept sealed).
    pub has_reference: bool,
    /// Whether it was given and recorded since the current restriction
    /// began ([`LiftNotice::covers`], the lift's own test): false for a
    /// notice of an earlier restriction, or when none is in place.
    pub covers_restriction: bool,
}

impl LiftNoticeView {
    /// `n` as shown, against the restriction in place since `restricted_at`.
    pub fn of(n: &LiftNotice, restricted_at: Option<OffsetDateTime>) -> Self {
        LiftNoticeView {
            channel: n.channel,
            notified_at: n.notified_at,
            recorded_at: n.recorded_at,
            recorded_by: n.recorded_by.clone(),
            has_reference: n.reference.is_some(),
            covers_restriction: restricted_at.is_some_and(|since| n.covers(since)),
        }
    }
}

impl LiftNotice {
    /// Whether the notice was given, and recorded, since the restriction
    /// that began at `restricted_at` (a notice of an earlier restriction
    /// does not count, even one dated ahead).
    pub fn covers(&self, restricted_at: OffsetDateTime) -> bool {
        self.notified_at >= restricted_at && self.recorded_at >= restricted_at
    }
}

impl Subjects {
    /// Restricts (`restrict`) or lifts the restriction of a subject. Either
    /// is idempotent: restricting a restricted subject keeps its first time.
    /// A lift needs a notice to the person recorded since the restriction
    /// began (GDPR Art. 18(3)), and is refused while their erasure is
    /// pending.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_restriction(
        &self,
        ctx: &RequestCtx,
        id: &str,
        restrict: bool,
    ) -> Result<SubjectView, ArchiveError> {
        let action = if restrict { Action::SubjectRestrict } else { Action::SubjectUnrestrict };
        let call = self.authorize_subject(ctx, action, SubjectAction::Restrict, id).await?;
        let entry = |outcome, why: String| {
            let mut e = ctx.entry(action, call.sid.as_str(), outcome, why);
            e.subjects = vec![call.sid.to_string()];
            e
        };
        // GDPR Art. 18(3) and PIPL Art. 47(2): while a hold keeps an erasure
        // pending, what the person asked to have erased stays restricted.
        if !restrict && PENDING_ERASURES.contains(self.store.as_ref(), &call.sid)? {
            let why =
                "the person's erasure is pending behind a legal hold: the restriction stays until it is carried out";
            return self.gate.refuse(entry(Outcome::Error, why.into()), ArchiveError::Conflict(why.into())).await;
        }
        if let (false, Some(since)) = (restrict, call.meta.restricted_at) {
            if !call.meta.lift_notice.as_ref().is_some_and(|n| n.covers(since)) {
                let denial = Denial::RestrictionLiftNotNotified;
                let told = format!(
                    "{}; record it first with POST /v1/subjects/{}/restriction/notice",
                    denial.told(),
                    call.sid
                );
                return self.gate.refuse(entry(Outcome::Deny, denial.to_string()), ArchiveError::Conflict(told)).await;
            }
        }
        let mut meta = call.meta.clone();
        let changed = match (restrict, meta.restricted_at) {
            (true, None) => {
                meta.restricted_at = Some(self.clock.now());
                true
            }
            (false, Some(_)) => {
                meta.restricted_at = None;
                true
            }
            _ => false,
        };
        let notice = match (&call.meta.lift_notice, restrict) {
            (Some(n), false) if changed => {
                format!("; the person was told on {} ({})", rfc3339(n.notified_at), n.channel.as_str())
            }
            _ => String::new(),
        };
        let reason = format!("{}; {}{notice}", call.reason, if changed { "changed" } else { "already so" });
        self.commit_subject(ctx, action, &call, &meta, vec![], reason).await?;
        if changed {
            // Found by search again, or no longer.
            let dossiers: Vec<DossierId> = call.dossiers.iter().map(|d| d.id.clone()).collect();
            self.index.reindex_dossiers(&dossiers)?;
        }
        self.subject_view(&call, &meta)
    }

    /// Records that a restricted person was told their restriction is about
    /// to be lifted (GDPR Art. 18(3)); compliance, stating dsr. The notice
    /// must fall within the restriction and not in the future.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_lift_notice(
        &self,
        ctx: &RequestCtx,
        id: &str,
        notice: NewLiftNotice,
    ) -> Result<SubjectView, ArchiveError> {
        const ACTION: Action = Action::SubjectRestrictionNotice;
        let call = self.authorize_subject(ctx, ACTION, SubjectAction::Restrict, id).await?;
        let entry = |outcome, why: &str| {
            let mut e = ctx.entry(ACTION, call.sid.as_str(), outcome, why);
            e.subjects = vec![call.sid.to_string()];
            e
        };
        let Some(since) = call.meta.restricted_at else {
            let why = "the person is not restricted: there is nothing to lift";
            return self.gate.refuse(entry(Outcome::Error, why), ArchiveError::Conflict(why.into())).await;
        };
        let now = self.clock.now();
        let mut errors = Vec::new();
        if notice.notified_at < since {
            errors.push(FieldError {
                path: "/notified_at".into(),
                message: format!("lies before the restriction began ({})", rfc3339(since)),
            });
        }
        if notice.notified_at > now + time::Duration::minutes(5) {
            errors.push(FieldError { path: "/notified_at".into(), message: "lies in the future".into() });
        }
        if !errors.is_empty() {
            return self.gate.refuse(entry(Outcome::Error, "invalid notice"), ArchiveError::Invalid(errors)).await;
        }
        let reference = match notice.reference.as_deref() {
            None => None,
            Some(text) => {
                let key = KeyRef::Subject(call.sid.clone());
                let field = format!("restriction-notice/{}", rfc3339(now));
                let slot = Slot::RegisterText { owner: call.sid.as_str(), field: &field };
                match self.vault.seal(&key, slot, text.as_bytes())? {
                    Opened::Plain(sealed) => Some(sealed),
                    Opened::Erased => {
                        let why = "the subject has been erased";
                        return self.gate.refuse(entry(Outcome::Error, why), ArchiveError::Conflict(why.into())).await;
                    }
                }
            }
        };
        let mut meta = call.meta.clone();
        meta.lift_notice = Some(LiftNotice {
            channel: notice.channel,
            notified_at: notice.notified_at,
            recorded_at: now,
            recorded_by: ctx.principal.id.clone(),
            reference,
        });
        let reason = format!(
            "{}; the person told on {} ({}) that the restriction of {} is about to be lifted",
            call.reason,
            rfc3339(notice.notified_at),
            notice.channel.as_str(),
            rfc3339(since)
        );
        self.commit_subject(ctx, ACTION, &call, &meta, vec![], reason).await?;
        self.subject_view(&call, &meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_notice_covers_only_the_restriction_it_was_given_in() {
        let notice = LiftNotice {
            channel: NoticeChannel::Letter,
            notified_at: datetime!(2026-12-02 10:00 UTC),
            recorded_at: datetime!(2026-12-02 11:00 UTC),
            recorded_by: crate::domain::PrincipalId::generate(),
            reference: None,
        };
        let covers = |since| LiftNoticeView::of(&notice, since).covers_restriction;
        assert!(covers(Some(datetime!(2026-12-01 09:00 UTC))));
        assert!(!covers(Some(datetime!(2026-12-03 09:00 UTC))), "a later restriction needs its own notice");
        assert!(!covers(Some(datetime!(2026-12-02 10:30 UTC))), "told before it began, recorded after");
        assert!(!covers(None), "nothing to lift");
    }
}
