//! The data-subject request register (GDPR Art. 12, 15-22; PIPL Art. 44-50):
//! when a request came, how the person was verified and by whom, when it is
//! due under the law of their residency (`policies/requests.toml`), and how
//! it ended: completed with what answered it, or refused with a reason code
//! and text.
//!
//! States: `received` → `verified` → `in_progress` → `completed`, and
//! `refused` from any open state. An objection to a direct-marketing
//! purpose withdraws the person's consent at once and for good (GDPR Art.
//! 21(3)).

mod access_report;
mod change;
mod create;
mod grading;
mod portability;
mod rectify;

pub(super) use access_report::AccessReports;
pub use portability::{Handover, HandoverState};

use super::field_error;
use super::{rfc3339, Access};
use crate::archive::registers::Registers;
use crate::archive::Resource;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::crypto::{KeyRef, Sealed};
use crate::domain::dossier::FieldError;
use crate::domain::{Jurisdiction, PrincipalId, RequestId, SubjectId};
use crate::store::{keys, Cf, Held, Table};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What the person asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Access,
    Portability,
    Rectification,
    Erasure,
    Restriction,
    Objection,
    Explanation,
    Withdrawal,
    /// The person contests an automated decision about them and asks for
    /// a human to review it (GDPR Art. 22(3); PIPL Art. 24(3)).
    Contest,
    /// The person refuses decisions about them made by automated means
    /// alone (PIPL Art. 24(3); GDPR Art. 22(1)).
    AutomatedObjection,
}

impl RequestKind {
    /// The audit actions whose entries can answer this kind of request.
    fn answering_actions(self) -> &'static [Action] {
        match self {
            RequestKind::Access => &[Action::SubjectExport, Action::SubjectProcessing, Action::SubjectAccessReport],
            RequestKind::Portability => &[Action::SubjectExport],
            RequestKind::Rectification => &[Action::DossierUpdate],
            RequestKind::Erasure => &[Action::SubjectErase],
            RequestKind::Restriction => &[Action::SubjectRestrict],
            RequestKind::Objection => &[Action::ConsentWithdraw, Action::SubjectRestrict, Action::SubjectObject],
            RequestKind::Explanation => &[Action::SubjectProcessing, Action::GradeExplain],
            RequestKind::Withdrawal => &[Action::ConsentWithdraw, Action::GradeObjectionWithdraw],
            RequestKind::Contest => &[Action::GradeContest, Action::GradeReview],
            RequestKind::AutomatedObjection => &[Action::GradeObject],
        }
    }

    pub fn needs_purpose(self) -> bool {
        matches!(self, RequestKind::Objection | RequestKind::Withdrawal)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Phone,
    WebForm,
    Letter,
    InPerson,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerificationMethod {
    IdDocument,
    KnownContactDetails,
    AccountLogin,
    InPerson,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Received,
    Verified,
    InProgress,
    Completed,
    Refused,
}

impl RequestState {
    pub fn is_open(self) -> bool {
        !matches!(self, RequestState::Completed | RequestState::Refused)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Received => "received",
            RequestState::Verified => "verified",
            RequestState::InProgress => "in_progress",
            RequestState::Completed => "completed",
            RequestState::Refused => "refused",
        }
    }
}

/// How the person's identity was verified, and by whom.
#[derive(Debug, Clone)]
pub struct Verification {
    pub method: VerificationMethod,
    pub verified_by: PrincipalId,
    /// Free text (sealed under the person's key).
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// An audit entry (`seq`) of the action that answered it.
    AuditEntry,
    /// A destruction certificate erasing the person.
    Certificate,
}

/// What answered a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Answer {
    pub kind: AnswerKind,
    /// The audit entry's seq, or the certificate id.
    pub reference: String,
    /// The action it records (filled in by custos).
    #[serde(default)]
    pub action: String,
}

/// A request to record.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub subject: String,
    pub kind: RequestKind,
    pub purpose: Option<String>,
    pub received_at: OffsetDateTime,
    pub channel: Channel,
    pub details: Option<String>,
    pub verification: Option<Verification>,
}

/// What a change names as answering a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerRef {
    /// An audit entry, by its seq.
    AuditEntry(u64),
    /// A destruction certificate, by its id (as given).
    Certificate(String),
}

/// The state a change moves a request to, with what that state needs.
/// The edge (`web::commands`) builds it: a verification with `verified`,
/// at least one answer with `completed`, the reasons with `refused`. What
/// those name (a principal, an audit entry, a certificate, a refusal code
/// of the policy) is the use case's to check.
#[derive(Debug, Clone)]
pub enum NewState {
    Received,
    Verified(Verification),
    InProgress,
    Completed(Vec<AnswerRef>),
    Refused {
        /// A refusal code of policies/requests.toml (checked by the use case).
        code: Option<String>,
        /// The reasons given to the person (sealed).
        reason: String,
    },
}

impl NewState {
    pub fn state(&self) -> RequestState {
        match self {
            NewState::Received => RequestState::Received,
            NewState::Verified(_) => RequestState::Verified,
            NewState::InProgress => RequestState::InProgress,
            NewState::Completed(_) => RequestState::Completed,
            NewState::Refused { .. } => RequestState::Refused,
        }
    }
}

/// A change of a request: a state, the extension of its period, or both;
/// never neither (`RequestChange::new`).
#[derive(Debug, Clone)]
pub struct RequestChange {
    state: Option<NewState>,
    extension_reason: Option<String>,
}

impl RequestChange {
    /// The change, if it changes anything.
    pub fn new(state: Option<NewState>, extension_reason: Option<String>) -> Option<Self> {
        (state.is_some() || extension_reason.is_some()).then_some(RequestChange { state, extension_reason })
    }

    /// The new state, if the change sets one.
    pub fn state(&self) -> Option<&NewState> {
        self.state.as_ref()
    }

    /// Why the period is extended, if the change extends it.
    pub fn extension_reason(&self) -> Option<&str> {
        self.extension_reason.as_deref()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredVerification {
    method: VerificationMethod,
    verified_by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    note: Option<Sealed>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Extension {
    #[serde(with = "time::serde::rfc3339")]
    until: OffsetDateTime,
    /// `None`: the person was erased when it was given.
    reason: Option<Sealed>,
    by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Refusal {
    code: String,
    citation: String,
    /// `None`: the person was erased when it was given.
    text: Option<Sealed>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Transition {
    pub state: RequestState,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[schema(value_type = String)]
    pub by: PrincipalId,
}

/// A request as stored: ids, codes and times; every free text sealed under
/// the person's key.
/// The requests register: `r/<req>` in `registers`.
const REQUESTS: Table<RequestId, RequestRecord> = Table::new(Cf::Registers, keys::REQUEST_PREFIX, keys::request);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RequestRecord {
    id: RequestId,
    subject: SubjectId,
    kind: RequestKind,
    purpose: Option<String>,
    channel: Channel,
    #[serde(with = "time::serde::rfc3339")]
    received_at: OffsetDateTime,
    recorded_by: PrincipalId,
    residency: Jurisdiction,
    /// The rule of `policies/requests.toml` that set the due date.
    rule: String,
    citation: String,
    #[serde(with = "time::serde::rfc3339")]
    due_at: OffsetDateTime,
    extension: Option<Extension>,
    state: RequestState,
    history: Vec<Transition>,
    details: Option<Sealed>,
    verification: Option<StoredVerification>,
    refusal: Option<Refusal>,
    answered_by: Vec<Answer>,
    /// What recording it did at once (an objection to direct marketing).
    effects: Vec<String>,
    /// Set once the overdue alert was raised.
    #[serde(default)]
    overdue_alerted: bool,
    /// Portability packages prepared for other handlers the person named.
    #[serde(default)]
    handovers: Vec<Handover>,
    /// The dossier versions that carried out a rectification request.
    #[serde(default)]
    changes: Vec<LinkedChange>,
}

/// A dossier change that carried out a rectification request (PIPL Art.
/// 46; GDPR Art. 16): which dossier, which version, when, by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkedChange {
    pub dossier_id: String,
    pub version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub by: String,
}

impl RequestRecord {
    fn due(&self) -> OffsetDateTime {
        self.extension.as_ref().map_or(self.due_at, |e| e.until)
    }
}

/// A request as shown. Texts are `None` to an auditor and once the person
/// has been erased.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    pub id: String,
    pub subject_id: String,
    pub kind: RequestKind,
    pub purpose: Option<String>,
    pub channel: Channel,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub recorded_by: String,
    /// The person's residency when the request was recorded.
    pub residency: String,
    /// The `policies/requests.toml` rule (jurisdiction) that set the due date, and its citation.
    pub rule: String,
    pub citation: String,
    /// When it is due (extended, if it was).
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    /// The due date of the first period.
    #[serde(with = "time::serde::rfc3339")]
    pub first_due_at: OffsetDateTime,
    pub extended: bool,
    pub extension_reason: Option<String>,
    pub overdue: bool,
    pub state: RequestState,
    pub history: Vec<Transition>,
    pub details: Option<String>,
    pub verification_method: Option<VerificationMethod>,
    pub verified_by: Option<String>,
    pub verification_note: Option<String>,
    pub refusal_code: Option<String>,
    pub refusal_citation: Option<String>,
    pub refusal_reason: Option<String>,
    pub answered_by: Vec<Answer>,
    pub effects: Vec<String>,
    /// Portability packages prepared for other handlers the person named:
    /// to whom, when prepared, when collected.
    pub handovers: Vec<Handover>,
    /// For a rectification: the dossier versions that carried it out
    /// (`PUT /v1/dossiers/{id}?request=`).
    pub changes: Vec<LinkedChange>,
}

impl Registers {
    fn request_record(&self, id: &str) -> Result<Option<Held<RequestRecord>>, ArchiveError> {
        let Ok(rid) = RequestId::parse(id) else { return Ok(None) };
        Ok(REQUESTS.hold(self.store.as_ref(), &rid)?)
    }

    fn all_requests(&self) -> Result<Vec<RequestRecord>, ArchiveError> {
        Ok(REQUESTS.values(self.store.as_ref()).collect::<Result<_, _>>()?)
    }

    fn request_view(&self, r: &RequestRecord, with_texts: bool) -> Result<RequestView, ArchiveError> {
        let key = KeyRef::Subject(r.subject.clone());
        let owner = r.subject.as_str();
        let text = |field: &str, s: Option<&Sealed>| match s.filter(|_| with_texts) {
            Some(s) => self.texts.open(&key, owner, &format!("request/{}/{field}", r.id), s),
            None => Ok(None),
        };
        Ok(RequestView {
            id: r.id.to_string(),
            subject_id: r.subject.to_string(),
            kind: r.kind,
            purpose: r.purpose.clone(),
            channel: r.channel,
            received_at: r.received_at,
            recorded_by: r.recorded_by.to_string(),
            residency: r.residency.to_string(),
            rule: r.rule.clone(),
            citation: r.citation.clone(),
            due_at: r.due(),
            first_due_at: r.due_at,
            extended: r.extension.is_some(),
            extension_reason: text("extension", r.extension.as_ref().and_then(|e| e.reason.as_ref()))?,
            overdue: r.state.is_open() && self.clock.now() > r.due(),
            state: r.state,
            history: r.history.clone(),
            details: text("details", r.details.as_ref())?,
            verification_method: r.verification.as_ref().map(|v| v.method),
            verified_by: r.verification.as_ref().map(|v| v.verified_by.to_string()),
            verification_note: text("verification", r.verification.as_ref().and_then(|v| v.note.as_ref()))?,
            refusal_code: r.refusal.as_ref().map(|f| f.code.clone()),
            refusal_citation: r.refusal.as_ref().map(|f| f.citation.clone()),
            refusal_reason: text("refusal", r.refusal.as_ref().and_then(|f| f.text.as_ref()))?,
            answered_by: r.answered_by.clone(),
            effects: r.effects.clone(),
            handovers: r
                .handovers
                .iter()
                .map(|h| Handover { state: h.state_at(self.clock.now()), ..h.clone() })
                .collect(),
            changes: r.changes.clone(),
        })
    }

    /// Checks a verification: the verifying principal exists.
    fn stored_verification(
        &self,
        v: &Verification,
        rid: &RequestId,
        sid: &SubjectId,
        errors: &mut Vec<FieldError>,
    ) -> Result<Option<StoredVerification>, ArchiveError> {
        if self.identity.principal(&v.verified_by)?.is_none() {
            errors.push(field_error("/verification/verified_by", "no such principal"));
            return Ok(None);
        }
        let note = match v.note.as_deref() {
            Some(n) => self.texts.seal_person(sid, &format!("request/{rid}/verification"), n)?,
            None => None,
        };
        Ok(Some(StoredVerification {
            method: v.method,
            verified_by: v.verified_by.clone(),
            at: self.clock.now(),
            note,
        }))
    }
}

impl Registers {
    /// The officer's queue: requests by due date, filtered by state and due date.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_requests(
        &self,
        ctx: &RequestCtx,
        state: Option<RequestState>,
        due_before: Option<OffsetDateTime>,
        subject: Option<&str>,
    ) -> Result<Vec<RequestView>, ArchiveError> {
        const ACTION: Action = Action::RequestList;
        self.gate.require_register(ctx, ACTION, Resource::Requests.as_str(), Access::Read).await?;
        let mut all: Vec<RequestRecord> = self
            .all_requests()?
            .into_iter()
            .filter(|r| state.is_none_or(|s| r.state == s))
            .filter(|r| due_before.is_none_or(|t| r.due() < t))
            .filter(|r| subject.is_none_or(|s| r.subject.as_str() == s))
            .collect();
        all.sort_by_key(|r| (r.due(), r.received_at));
        let filter = format!(
            "requests{}{}; {} listed",
            state.map(|s| format!(" state {}", s.as_str())).unwrap_or_default(),
            due_before.map(|t| format!(" due before {}", rfc3339(t))).unwrap_or_default(),
            all.len()
        );
        let mut e = ctx.entry(ACTION, Resource::Requests.as_str(), Outcome::Allow, filter);
        e.subjects = all.iter().map(|r| r.subject.to_string()).collect();
        e.subjects.dedup();
        self.audit.commit(Commit::entry(e)).await?;
        let texts = self.gate.may(&ctx.principal, crate::archive::gate::Operation::RegisterKeep);
        all.iter().map(|r| self.request_view(r, texts)).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get_request(&self, ctx: &RequestCtx, id: &str) -> Result<RequestView, ArchiveError> {
        const ACTION: Action = Action::RequestRead;
        self.gate.require_register(ctx, ACTION, id, Access::Read).await?;
        let Some(Held { value: r, .. }) = self.request_record(id)? else {
            let e = ctx.entry(ACTION, id, Outcome::Error, "no such request");
            return self.gate.refuse(e, ArchiveError::NotFound("request".into())).await;
        };
        let mut e = ctx.entry(ACTION, id, Outcome::Allow, format!("state {}", r.state.as_str()));
        e.subjects = vec![r.subject.to_string()];
        self.audit.commit(Commit::entry(e)).await?;
        self.request_view(&r, self.gate.may(&ctx.principal, crate::archive::gate::Operation::RegisterKeep))
    }
}
