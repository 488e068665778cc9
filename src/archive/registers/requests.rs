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

use super::{from_json, rfc3339, to_json, Access};
use crate::archive::records::{ConsentEvent, ConsentEventKind, SubjectMeta};
use crate::archive::{Archive, ArchiveError, RequestCtx};
use crate::audit::{entry_key, AuditEntry, Commit, Guard, Outcome};
use crate::crypto::{KeyRef, Sealed};
use crate::domain::dossier::FieldError;
use crate::domain::{CertificateId, Jurisdiction, PrincipalId, RequestId, Role, SubjectId};
use crate::store::{keys, Cf, Op};
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
}

impl RequestKind {
    /// The audit actions whose entries can answer this kind of request.
    fn answering_actions(self) -> &'static [&'static str] {
        match self {
            RequestKind::Access => &["subject.export", "subject.processing"],
            RequestKind::Portability => &["subject.export"],
            RequestKind::Rectification => &["dossier.update"],
            RequestKind::Erasure => &["subject.erase"],
            RequestKind::Restriction => &["subject.restrict"],
            RequestKind::Objection => &["consent.withdraw", "subject.restrict", "subject.object"],
            RequestKind::Explanation => &["subject.processing"],
            RequestKind::Withdrawal => &["consent.withdraw"],
        }
    }

    fn needs_purpose(self) -> bool {
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

/// A change of a request: a state, the extension of its period, or both.
#[derive(Debug, Clone, Default)]
pub struct RequestChange {
    pub state: Option<RequestState>,
    pub verification: Option<Verification>,
    pub answered_by: Vec<Answer>,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub extension_reason: Option<String>,
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
    reason: Sealed,
    by: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Refusal {
    code: String,
    citation: String,
    text: Sealed,
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
}

const MAX_TEXT: usize = 4000;

fn field_error(path: &str, message: impl Into<String>) -> FieldError {
    FieldError { path: path.into(), message: message.into() }
}

fn visible(text: &str) -> bool {
    text.chars().any(|c| !c.is_control() && !c.is_whitespace()) && text.chars().count() <= MAX_TEXT
}

impl Archive {
    fn request_record(&self, id: &str) -> Result<Option<(RequestRecord, Vec<u8>)>, ArchiveError> {
        let Ok(rid) = RequestId::parse(id) else { return Ok(None) };
        match self.store.get(Cf::Registers, &keys::request(&rid))? {
            None => Ok(None),
            Some(raw) => Ok(Some((from_json(&raw)?, raw))),
        }
    }

    fn all_requests(&self) -> Result<Vec<RequestRecord>, ArchiveError> {
        let mut out = Vec::new();
        for row in self.store.scan(Cf::Registers, keys::REQUEST_PREFIX, keys::REQUEST_PREFIX) {
            out.push(from_json(&row?.1)?);
        }
        Ok(out)
    }

    fn request_view(&self, r: &RequestRecord, with_texts: bool) -> RequestView {
        let key = KeyRef::Subject(r.subject.clone());
        let owner = r.subject.as_str();
        let text = |field: &str, s: Option<&Sealed>| {
            s.filter(|_| with_texts).and_then(|s| self.open_text(&key, owner, &format!("request/{}/{field}", r.id), s))
        };
        RequestView {
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
            extension_reason: text("extension", r.extension.as_ref().map(|e| &e.reason)),
            overdue: r.state.is_open() && self.clock.now() > r.due(),
            state: r.state,
            history: r.history.clone(),
            details: text("details", r.details.as_ref()),
            verification_method: r.verification.as_ref().map(|v| v.method),
            verified_by: r.verification.as_ref().map(|v| v.verified_by.to_string()),
            verification_note: text("verification", r.verification.as_ref().and_then(|v| v.note.as_ref())),
            refusal_code: r.refusal.as_ref().map(|f| f.code.clone()),
            refusal_citation: r.refusal.as_ref().map(|f| f.citation.clone()),
            refusal_reason: text("refusal", r.refusal.as_ref().map(|f| &f.text)),
            answered_by: r.answered_by.clone(),
            effects: r.effects.clone(),
        }
    }

    /// Checks a verification: the verifying principal exists.
    fn stored_verification(
        &self,
        v: &Verification,
        rid: &RequestId,
        sid: &SubjectId,
        errors: &mut Vec<FieldError>,
    ) -> Result<Option<StoredVerification>, ArchiveError> {
        if self.principal(&v.verified_by)?.is_none() {
            errors.push(field_error("/verification/verified_by", "no such principal"));
            return Ok(None);
        }
        if v.note.as_deref().is_some_and(|n| !visible(n)) {
            errors.push(field_error("/verification/note", format!("a visible text of at most {MAX_TEXT} characters")));
            return Ok(None);
        }
        let note = v
            .note
            .as_deref()
            .map(|n| {
                self.seal_text(&KeyRef::Subject(sid.clone()), sid.as_str(), &format!("request/{rid}/verification"), n)
            })
            .transpose()?;
        Ok(Some(StoredVerification {
            method: v.method,
            verified_by: v.verified_by.clone(),
            at: self.clock.now(),
            note,
        }))
    }

    /// `POST /v1/requests` (compliance; service for a person named in a
    /// dossier of their region).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_request(&self, ctx: &RequestCtx, new: NewRequest) -> Result<RequestView, ArchiveError> {
        const ACTION: &str = "request.create";
        let p = &ctx.principal;
        let found = SubjectId::parse(&new.subject)
            .ok()
            .map(|sid| self.store.get(Cf::Subjects, &keys::subject(&sid)).map(|raw| raw.map(|r| (sid, r))))
            .transpose()?
            .flatten();
        let in_reach = |sid: &SubjectId| -> Result<bool, ArchiveError> {
            if p.has_role(Role::Compliance) {
                return Ok(true);
            }
            if !p.has_role(Role::Service) {
                return Ok(false);
            }
            let region = p.region.as_str();
            Ok(self.subject_dossier_regions(sid)?.iter().any(|r| r == region))
        };
        let (sid, raw) = match found {
            Some((sid, raw)) if in_reach(&sid)? => (sid, raw),
            Some((sid, _)) => {
                let mut e = ctx.entry(
                    ACTION,
                    sid.as_str(),
                    Outcome::Deny,
                    "compliance, or service for a person of their region",
                );
                e.subjects = vec![sid.to_string()];
                let why = "requests are recorded by compliance, or by service for a person of their region";
                return self.refuse(e, ArchiveError::Forbidden(why.into())).await;
            }
            None if !(p.has_role(Role::Compliance) || p.has_role(Role::Service)) => {
                let e = ctx.entry(ACTION, "", Outcome::Deny, "compliance or service role required");
                let why = "requests are recorded by compliance, or by service for a person of their region";
                return self.refuse(e, ArchiveError::Forbidden(why.into())).await;
            }
            None => {
                let e = ctx.entry(ACTION, "", Outcome::Error, "no such subject");
                return self
                    .refuse(e, ArchiveError::Invalid(vec![field_error("/subject_id", "no such subject")]))
                    .await;
            }
        };
        let meta: SubjectMeta = from_json(&raw)?;
        let now = self.clock.now();
        let rid = RequestId::generate();
        let mut errors = Vec::new();
        if new.received_at > now + time::Duration::minutes(5) {
            errors.push(field_error("/received_at", "lies in the future"));
        }
        let purpose_def = new
            .purpose
            .as_deref()
            .and_then(crate::domain::Purpose::parse)
            .and_then(|p| self.policy.purposes.get(&p).cloned());
        match (&new.purpose, &purpose_def) {
            (None, _) if new.kind.needs_purpose() => {
                errors.push(field_error("/purpose", "an objection or withdrawal names the purpose it concerns"))
            }
            (Some(_), None) => errors.push(field_error("/purpose", "unknown purpose")),
            _ => {}
        }
        if new.details.as_deref().is_some_and(|d| !visible(d)) {
            errors.push(field_error("/details", format!("a visible text of at most {MAX_TEXT} characters")));
        }
        let erased = meta.erased.is_some() || !self.keyring.exists(&KeyRef::Subject(sid.clone()))?;
        if erased && (new.details.is_some() || new.verification.as_ref().is_some_and(|v| v.note.is_some())) {
            errors.push(field_error("/details", "the person has been erased: no text can be recorded about them"));
        }
        let verification = match &new.verification {
            Some(v) if errors.is_empty() => self.stored_verification(v, &rid, &sid, &mut errors)?,
            _ => None,
        };
        if !errors.is_empty() {
            let mut e = ctx.entry(ACTION, sid.as_str(), Outcome::Error, "invalid request record");
            e.subjects = vec![sid.to_string()];
            return self.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        let residency = meta.residency();
        let rule = self.policy.requests.for_residency(&residency).clone();
        let details = new
            .details
            .as_deref()
            .map(|d| self.seal_text(&KeyRef::Subject(sid.clone()), sid.as_str(), &format!("request/{rid}/details"), d))
            .transpose()?;
        let state = if verification.is_some() { RequestState::Verified } else { RequestState::Received };
        let mut history = vec![Transition { state: RequestState::Received, at: now, by: p.id.clone() }];
        if state == RequestState::Verified {
            history.push(Transition { state, at: now, by: p.id.clone() });
        }
        let mut record = RequestRecord {
            id: rid.clone(),
            subject: sid.clone(),
            kind: new.kind,
            purpose: new.purpose.clone(),
            channel: new.channel,
            received_at: new.received_at,
            recorded_by: p.id.clone(),
            residency: residency.clone(),
            rule: rule.jurisdiction.clone(),
            citation: rule.citation.clone(),
            due_at: rule.period.after(new.received_at),
            extension: None,
            state,
            history,
            details,
            verification,
            refusal: None,
            answered_by: vec![],
            effects: vec![],
            overdue_alerted: false,
        };
        let mut ops = Vec::new();
        let mut entries = Vec::new();
        let mut guard = None;
        // GDPR Art. 21(3): an objection to direct marketing ends it at once and for good.
        let direct_marketing = purpose_def.as_ref().is_some_and(|d| d.direct_marketing);
        if new.kind == RequestKind::Objection && direct_marketing && !erased {
            let purpose = new.purpose.clone().unwrap_or_default();
            let mut m = meta.clone();
            m.objected.insert(purpose.clone());
            if m.consents.remove(&purpose).is_some() {
                let n = m.consent_events;
                let event = ConsentEvent {
                    event: n,
                    kind: ConsentEventKind::Withdrawal,
                    purpose: purpose.clone(),
                    basis: None,
                    effective_at: now,
                    recorded_at: now,
                    actor: p.id.clone(),
                    evidence: None,
                };
                m.consent_events = n + 1;
                m.last_withdrawal_at = Some(now);
                ops.push(Op::Put(Cf::Subjects, keys::consent_event(&sid, n), to_json(&event)?));
                let mut w = ctx.entry(
                    "consent.withdraw",
                    sid.as_str(),
                    Outcome::Allow,
                    format!("objection to direct marketing, request {rid}: purpose {purpose} withdrawn, event {n} (GDPR Art. 21(3))"),
                );
                w.subjects = vec![sid.to_string()];
                entries.push(w);
                record.effects.push(format!("consent for {purpose} withdrawn (consent event {n})"));
            }
            let note = format!("{purpose} refused for good: consent for it is not recorded again (GDPR Art. 21(3))");
            let mut o = ctx.entry("subject.object", sid.as_str(), Outcome::Allow, format!("request {rid}: {note}"));
            o.subjects = vec![sid.to_string()];
            entries.push(o);
            record.effects.push(note);
            ops.push(Op::Put(Cf::Subjects, keys::subject(&sid), to_json(&m)?));
            guard = Some(Guard { cf: Cf::Subjects, key: keys::subject(&sid), expected: Some(raw.clone()) });
        }
        ops.push(Op::Put(Cf::Registers, keys::request(&rid), to_json(&record)?));
        let mut e = ctx.entry(
            ACTION,
            rid.as_str(),
            Outcome::Allow,
            format!(
                "{:?} request received {} via {:?}; due {} ({} rule: {})",
                new.kind,
                rfc3339(new.received_at),
                new.channel,
                rfc3339(record.due_at),
                rule.jurisdiction,
                rule.citation
            )
            .to_lowercase(),
        );
        e.subjects = vec![sid.to_string()];
        entries.insert(0, e);
        self.audit.commit(Commit { ops, entries, guard, on_conflict: vec![] }).await?;
        Ok(self.request_view(&record, true))
    }

    /// The regions of the dossiers that name a subject.
    fn subject_dossier_regions(&self, sid: &SubjectId) -> Result<Vec<String>, ArchiveError> {
        let prefix = keys::subject_links_prefix(sid);
        let mut out = Vec::new();
        for row in self.store.scan(Cf::Subjects, &prefix, &prefix) {
            let (k, _) = row?;
            let Some(did) = keys::dossier_of_link(&prefix, &k) else { continue };
            if let Some(raw) = self.store.get(Cf::Dossiers, &keys::dossier(&did))? {
                out.push(from_json::<crate::archive::records::DossierMeta>(&raw)?.region);
            }
        }
        Ok(out)
    }

    /// The officer's queue: requests by due date, filtered by state and due date.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_requests(
        &self,
        ctx: &RequestCtx,
        state: Option<RequestState>,
        due_before: Option<OffsetDateTime>,
        subject: Option<&str>,
    ) -> Result<Vec<RequestView>, ArchiveError> {
        const ACTION: &str = "request.list";
        self.require_register(ctx, ACTION, "requests", Access::Read).await?;
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
        let mut e = ctx.entry(ACTION, "requests", Outcome::Allow, filter);
        e.subjects = all.iter().map(|r| r.subject.to_string()).collect();
        e.subjects.dedup();
        self.audit.commit(Commit::entry(e)).await?;
        let texts = ctx.principal.has_role(Role::Compliance);
        Ok(all.iter().map(|r| self.request_view(r, texts)).collect())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get_request(&self, ctx: &RequestCtx, id: &str) -> Result<RequestView, ArchiveError> {
        const ACTION: &str = "request.read";
        self.require_register(ctx, ACTION, id, Access::Read).await?;
        let Some((r, _)) = self.request_record(id)? else {
            let e = ctx.entry(ACTION, id, Outcome::Error, "no such request");
            return self.refuse(e, ArchiveError::NotFound("request".into())).await;
        };
        let mut e = ctx.entry(ACTION, id, Outcome::Allow, format!("state {}", r.state.as_str()));
        e.subjects = vec![r.subject.to_string()];
        self.audit.commit(Commit::entry(e)).await?;
        Ok(self.request_view(&r, ctx.principal.has_role(Role::Compliance)))
    }

    /// Checks what is said to answer a request: an allowed audit entry of a
    /// fitting action naming the person, made after the request came; or a
    /// certificate that erased them.
    fn check_answer(
        &self,
        r: &RequestRecord,
        a: &Answer,
        i: usize,
    ) -> Result<Result<Answer, FieldError>, ArchiveError> {
        let path = format!("/answered_by/{i}/reference");
        match a.kind {
            AnswerKind::AuditEntry => {
                let Ok(seq) = a.reference.parse::<u64>() else {
                    return Ok(Err(field_error(&path, "an audit entry's seq")));
                };
                let Some(raw) = self.store.get(Cf::Audit, &entry_key(seq))? else {
                    return Ok(Err(field_error(&path, "no such audit entry")));
                };
                let entry = AuditEntry::decode(&raw).map_err(|e| ArchiveError::Internal(e.into()))?;
                let b = &entry.body;
                let fits = r.kind.answering_actions().contains(&b.action.as_str());
                if !fits {
                    let want = r.kind.answering_actions().join(", ");
                    return Ok(Err(field_error(
                        &path,
                        format!("records {}, not one that answers this request ({want})", b.action),
                    )));
                }
                if b.outcome != Outcome::Allow || !b.subjects.iter().any(|s| s == r.subject.as_str()) {
                    return Ok(Err(field_error(&path, "is not an allowed action on this person")));
                }
                if entry.time < r.received_at - time::Duration::minutes(5) {
                    return Ok(Err(field_error(&path, "was made before the request was received")));
                }
                Ok(Ok(Answer { kind: a.kind, reference: seq.to_string(), action: b.action.clone() }))
            }
            AnswerKind::Certificate => {
                let cert = CertificateId::parse(&a.reference)
                    .ok()
                    .map(|c| self.store.get(Cf::Disposition, &keys::certificate(c.as_str())))
                    .transpose()?
                    .flatten();
                let Some(raw) = cert else { return Ok(Err(field_error(&path, "no such certificate"))) };
                let c: crate::archive::retention::Certificate = from_json(&raw)?;
                let erased = c.items.iter().any(|it| {
                    it.subjects.contains(&r.subject) && it.outcome == crate::archive::retention::ItemOutcome::Erased
                });
                if r.kind != RequestKind::Erasure || !erased {
                    return Ok(Err(field_error(
                        &path,
                        "the certificate does not erase this person for an erasure request",
                    )));
                }
                Ok(Ok(Answer { kind: a.kind, reference: a.reference.clone(), action: "subject.erase".into() }))
            }
        }
    }

    /// `PATCH /v1/requests/{id}` (compliance): a state change, the extension
    /// of the period, or both.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn change_request(
        &self,
        ctx: &RequestCtx,
        id: &str,
        change: RequestChange,
    ) -> Result<RequestView, ArchiveError> {
        const ACTION: &str = "request.update";
        self.require_register(ctx, ACTION, id, Access::Keep).await?;
        let Some((mut r, raw)) = self.request_record(id)? else {
            let e = ctx.entry(ACTION, id, Outcome::Error, "no such request");
            return self.refuse(e, ArchiveError::NotFound("request".into())).await;
        };
        let now = self.clock.now();
        let me = ctx.principal.id.clone();
        let sid = r.subject.clone();
        let key = KeyRef::Subject(sid.clone());
        let entry = |outcome, reason: String| {
            let mut e = ctx.entry(ACTION, id, outcome, reason);
            e.subjects = vec![sid.to_string()];
            e
        };
        if !r.state.is_open() {
            let e = entry(Outcome::Error, format!("already {}", r.state.as_str()));
            return self
                .refuse(e, ArchiveError::Conflict(format!("the request is already {}", r.state.as_str())))
                .await;
        }
        if change.state.is_none() && change.extension_reason.is_none() {
            let errors = vec![field_error("", "give a state, an extension_reason, or both")];
            return self.refuse(entry(Outcome::Error, "empty change".into()), ArchiveError::Invalid(errors)).await;
        }
        let erased = !self.keyring.exists(&key)?;
        let mut errors = Vec::new();
        let mut notes = Vec::new();
        if let Some(reason) = &change.extension_reason {
            let rule = self.policy.requests.for_residency(&r.residency).clone();
            match rule.extension {
                _ if r.extension.is_some() => {
                    errors.push(field_error("/extension_reason", "the period was extended already"))
                }
                None => errors.push(field_error(
                    "/extension_reason",
                    format!("{} law allows no extension ({})", rule.jurisdiction, rule.citation),
                )),
                Some(_) if now > r.due_at => errors.push(field_error(
                    "/extension_reason",
                    "the first period has run out: an extension must be given within it",
                )),
                Some(_) if !visible(reason) || erased => errors
                    .push(field_error("/extension_reason", format!("a visible text of at most {MAX_TEXT} characters"))),
                Some(ext) => {
                    let sealed = self.seal_text(&key, sid.as_str(), &format!("request/{}/extension", r.id), reason)?;
                    let until = ext.after(r.due_at);
                    notes.push(format!("extended to {} ({})", rfc3339(until), rule.citation));
                    r.extension = Some(Extension { until, reason: sealed, by: me.clone(), at: now });
                }
            }
        }
        if let Some(to) = change.state {
            use RequestState::*;
            let from = r.state;
            let allowed = matches!(
                (from, to),
                (Received, Verified)
                    | (Received | Verified | InProgress, Refused)
                    | (Verified, InProgress | Completed)
                    | (InProgress, Completed)
            );
            if !allowed {
                let why = match (from, to) {
                    (Received, InProgress | Completed) => {
                        "the person's identity must be verified first (GDPR Art. 12(6))".to_owned()
                    }
                    _ => format!("a request {} cannot become {}", from.as_str(), to.as_str()),
                };
                return self.refuse(entry(Outcome::Error, why.clone()), ArchiveError::Conflict(why)).await;
            }
            match to {
                Verified => match &change.verification {
                    None => errors.push(field_error("/verification", "how the identity was verified and by whom")),
                    Some(v) => {
                        if let Some(sv) = self.stored_verification(v, &r.id, &sid, &mut errors)? {
                            notes.push(format!("verified by {:?}, {}", sv.method, sv.verified_by).to_lowercase());
                            r.verification = Some(sv);
                        }
                    }
                },
                Refused => {
                    let code = change.reason_code.as_deref().unwrap_or_default();
                    let known = self.policy.requests.refusal_reasons.get(code).cloned();
                    match (known, change.reason.as_deref()) {
                        (None, _) => {
                            let codes: Vec<&str> =
                                self.policy.requests.refusal_reasons.keys().map(String::as_str).collect();
                            errors.push(field_error("/reason_code", format!("one of {}", codes.join(", "))));
                        }
                        (_, None) => errors.push(field_error("/reason", "the reasons given to the person")),
                        (_, Some(t)) if !visible(t) || erased => errors
                            .push(field_error("/reason", format!("a visible text of at most {MAX_TEXT} characters"))),
                        (Some(def), Some(t)) => {
                            let text = self.seal_text(&key, sid.as_str(), &format!("request/{}/refusal", r.id), t)?;
                            notes.push(format!("refused: {code} ({})", def.citation));
                            r.refusal = Some(Refusal { code: code.to_owned(), citation: def.citation, text });
                        }
                    }
                }
                Completed => {
                    if change.answered_by.is_empty() {
                        errors.push(field_error(
                            "/answered_by",
                            "what answered the request: an audit entry or a certificate",
                        ));
                    }
                    let mut answers = Vec::new();
                    for (i, a) in change.answered_by.iter().enumerate() {
                        match self.check_answer(&r, a, i)? {
                            Ok(a) => answers.push(a),
                            Err(e) => errors.push(e),
                        }
                    }
                    notes.push(format!(
                        "answered by {}",
                        answers.iter().map(|a| format!("{} {}", a.action, a.reference)).collect::<Vec<_>>().join(", ")
                    ));
                    r.answered_by = answers;
                }
                Received | InProgress => {}
            }
            r.state = to;
            r.history.push(Transition { state: to, at: now, by: me.clone() });
            notes.insert(0, format!("{} -> {}", from.as_str(), to.as_str()));
        }
        if !errors.is_empty() {
            return self.refuse(entry(Outcome::Error, "invalid change".into()), ArchiveError::Invalid(errors)).await;
        }
        let ops = vec![Op::Put(Cf::Registers, keys::request(&r.id), to_json(&r)?)];
        let guard = Guard { cf: Cf::Registers, key: keys::request(&r.id), expected: Some(raw) };
        let e = entry(Outcome::Allow, notes.join("; "));
        let conflict = entry(Outcome::Error, "concurrent change of the request".into());
        self.audit.commit(Commit { ops, entries: vec![e], guard: Some(guard), on_conflict: vec![conflict] }).await?;
        Ok(self.request_view(&r, true))
    }

    /// Open requests past their due date not alerted yet: each gets one
    /// `request_overdue` alert (the deadline job).
    pub(super) fn overdue_request_alerts(&self) -> Result<Vec<super::AlertWrite>, ArchiveError> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for row in self.store.scan(Cf::Registers, keys::REQUEST_PREFIX, keys::REQUEST_PREFIX) {
            let (_, raw) = row?;
            let r: RequestRecord = from_json(&raw)?;
            if r.state.is_open() && now > r.due() && !r.overdue_alerted {
                out.push(self.overdue_alert(raw, r)?);
            }
        }
        Ok(out)
    }

    /// The alert and the record change for an overdue request.
    fn overdue_alert(&self, raw: Vec<u8>, mut r: RequestRecord) -> Result<super::AlertWrite, ArchiveError> {
        let now = self.clock.now();
        let days = (now - r.due()).whole_days().max(0) as u64;
        let alert = crate::policy::alerts::Alert {
            id: crate::domain::AlertId::generate().to_string(),
            rule: "request_overdue".into(),
            description: format!(
                "{:?} request {} of {} is {} and was due {} ({})",
                r.kind,
                r.id,
                r.subject,
                r.state.as_str(),
                rfc3339(r.due()),
                r.citation
            ),
            actor: r.recorded_by.to_string(),
            window_start: r.received_at,
            window_end: r.due(),
            window_seconds: (r.due() - r.received_at).whole_seconds().max(0) as u64,
            count: days,
            threshold: 0,
        };
        r.overdue_alerted = true;
        let record = Op::Put(Cf::Registers, keys::request(&r.id), to_json(&r)?);
        let guard = Guard { cf: Cf::Registers, key: keys::request(&r.id), expected: Some(raw) };
        Ok(super::AlertWrite {
            resource: r.id.to_string(),
            subjects: vec![r.subject.to_string()],
            alerts: vec![alert],
            record,
            guard,
        })
    }
}
