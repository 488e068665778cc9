//! A person's stand against the automated grade of their dossier (PIPL
//! Art. 24(3); GDPR Art. 22(3)). The grade of a sole trader or an
//! individual customer is an automated decision about a person: the
//! proprietor may contest it (no automated change until finance or
//! compliance, not the account manager, reviews it and decides) or object
//! to decisions by automated means alone (no automated grading until they
//! withdraw the objection). Each stand rests on a verified data-subject
//! request (checked by the requests register, which calls in here) and is
//! kept in the dossier's metadata, so that it, every version and every
//! regrade are one compare-and-set.

use crate::archive::customers::Customers;
use crate::archive::dossiers::{Author, NextVersion};
use crate::archive::records::{GradeStand, StandEvent, DOSSIERS};
use crate::archive::{ArchiveError, Created, Denial, RequestCtx};
use crate::audit::{Action, Commit, CommitError, Guard, Outcome};
use crate::domain::dossier::Grade;
use crate::domain::{RequestId, SubjectId};
use crate::policy::access::Operation;
use crate::store::{keys, Cf};

/// What a person's request asks of their automated grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stand {
    /// Contest it: a human reviews it; no automated change meanwhile.
    Contest,
    /// Object to automated grading: none until withdrawn.
    Object,
    /// Withdraw an objection: automated grading resumes.
    Withdraw,
}

impl Stand {
    pub fn action(self) -> Action {
        match self {
            Stand::Contest => Action::GradeContest,
            Stand::Object => Action::GradeObject,
            Stand::Withdraw => Action::GradeObjectionWithdraw,
        }
    }
}

impl Customers {
    /// Records `stand` on dossier `id` for the person of the request
    /// `(rid, sid)`, whom the requests register has verified; refused (403
    /// `no-verified-request`) unless that person is the dossier's
    /// proprietor, 409 when the stand is already taken (or, to withdraw,
    /// not taken). Audited; a guarded compare-and-set of the metadata.
    pub(crate) async fn record_stand(
        &self,
        ctx: &RequestCtx,
        id: &str,
        (rid, sid): (&RequestId, &SubjectId),
        stand: Stand,
    ) -> Result<GradeStand, ArchiveError> {
        let action = stand.action();
        let (did, meta, meta_raw) = self.dossiers.find_meta(ctx, action, id).await?;
        let entry = |outcome, reason: String| {
            let mut e = ctx.entry(action, id, outcome, reason);
            e.subjects = vec![sid.to_string()];
            e
        };
        if meta.proprietor.as_ref() != Some(sid) {
            let gap = crate::archive::denial::RequestGap::OtherPerson;
            let denial = Denial::NoVerifiedRequest { request: Some(rid.clone()), gap };
            return self.gate.deny(entry(Outcome::Deny, String::new()), denial, None).await;
        }
        let mut next = meta.clone();
        let event = StandEvent { request: rid.clone(), by: ctx.principal.id.clone(), at: self.clock.now() };
        let s = &mut next.grade_stand;
        let clash = match stand {
            Stand::Contest if s.contested.is_some() => Some("the grade is contested already; a review ends it"),
            Stand::Contest => {
                s.contested = Some(event);
                None
            }
            Stand::Object if s.objected.is_some() => Some("the person objected to automated grading already"),
            Stand::Object => {
                s.objected = Some(event);
                None
            }
            Stand::Withdraw if s.objected.is_none() => Some("no objection to automated grading to withdraw"),
            Stand::Withdraw => {
                s.objected = None;
                None
            }
        };
        if let Some(why) = clash {
            return self.gate.refuse(entry(Outcome::Error, why.into()), ArchiveError::Conflict(why.into())).await;
        }
        let effect = match stand {
            Stand::Contest => "contested: no automated change until reviewed",
            Stand::Object => "objected: no automated grading until withdrawn (PIPL Art. 24(3))",
            Stand::Withdraw => "objection withdrawn: automated grading resumes",
        };
        let reason = format!("request {rid}; {effect}");
        let guard = Guard { cf: Cf::Dossiers, key: keys::dossier(&did), expected: Some(meta_raw) };
        let commit = Commit {
            ops: vec![DOSSIERS.put_unguarded(&did, &next)?],
            entries: vec![entry(Outcome::Allow, reason)],
            guard: Some(guard),
            on_conflict: vec![entry(Outcome::Error, "changed meanwhile (concurrent change)".into())],
        };
        match self.audit.commit(commit).await {
            Ok(_) => Ok(next.grade_stand),
            Err(CommitError::Conflict) => {
                Err(ArchiveError::Conflict("the dossier changed meanwhile; try again".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `POST /v1/dossiers/{id}/grade/review` `{grade, reason}`: a human's
    /// decision on a contested grade (keep it, or set another), by whom the
    /// policy permits `grade.review` (finance, compliance) and never the
    /// customer's account manager. The decision is a manual grade (its
    /// reason sealed) written with the contest's end in one version;
    /// automated grading resumes unless the person objected.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn review_grade(
        &self,
        ctx: &RequestCtx,
        id: &str,
        decided: (Grade, &str),
    ) -> Result<Created, ArchiveError> {
        let (grade, why) = decided;
        const ACTION: Action = Action::GradeReview;
        let purpose = self.gate.purpose(ctx, ACTION, id).await?;
        let refusal = "a contested grade is reviewed by finance or compliance";
        self.gate.decide(ctx, Operation::GradeReview, ACTION, id, refusal).await?;
        let (did, meta, meta_raw) = self.dossiers.find_meta(ctx, ACTION, id).await?;
        let entry =
            |outcome, reason: &str| self.dossiers.dossier_entry(ctx, ACTION, id, &meta.subjects, outcome, reason);
        if meta.owner == ctx.principal.id {
            return self.gate.deny(entry(Outcome::Deny, ""), Denial::OwnCustomerReview, None).await;
        }
        let Some(contest) = meta.grade_stand.contested.clone() else {
            let why = "the grade is not contested";
            return self.gate.refuse(entry(Outcome::Error, why), ArchiveError::Conflict(why.into())).await;
        };
        let (n, op) = self.override_op(&did, grade, why, &ctx.principal.id)?;
        let mut split = self.vault.open_version_split(&did, meta.current_version)?;
        split.business.grade = grade;
        let decided = match grade == meta.grade {
            true => format!("kept {}", super::grading::grade_name(grade)),
            false => format!("set {}→{}", super::grading::grade_name(meta.grade), super::grading::grade_name(grade)),
        };
        let reason = format!(
            "purpose {}; review of the contest on request {}: {decided} (override {n}, reason sealed); the contest ends",
            purpose.as_str(),
            contest.request
        );
        let mut meta = meta;
        meta.grade_stand.contested = None;
        let next = NextVersion { action: ACTION, meta, meta_raw, split, ended_at: None, reason, extra: vec![op] };
        self.dossiers.append_version(Author::Request(ctx), &did, next).await
    }
}
