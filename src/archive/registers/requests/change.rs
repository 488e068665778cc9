//! Moving a request on: verification, extension, refusal, completion with
//! what answered it; and the overdue alerts.

use super::{
    field_error, Answer, AnswerKind, AnswerRef, Extension, NewState, Refusal, RequestChange, RequestKind,
    RequestRecord, RequestState, RequestView, Transition,
};
use crate::archive::registers::Registers;
use crate::archive::registers::{code, rfc3339, Access, AlertWrite};
use crate::archive::retention::CERTIFICATES;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{entry_key, Action, AuditEntry, Commit, Outcome};
use crate::domain::dossier::FieldError;
use crate::domain::CertificateId;
use crate::store::{Cf, Held};

impl Registers {
    /// Checks what is said to answer a request: an allowed audit entry of a
    /// fitting action naming the person, made after the request came; or a
    /// certificate that erased them.
    fn check_answer(
        &self,
        r: &RequestRecord,
        a: &AnswerRef,
        i: usize,
    ) -> Result<Result<Answer, FieldError>, ArchiveError> {
        let path = format!("/answered_by/{i}/reference");
        match a {
            AnswerRef::AuditEntry(seq) => {
                let seq = *seq;
                let Some(raw) = self.store.get(Cf::Audit, &entry_key(seq))? else {
                    return Ok(Err(field_error(&path, "no such audit entry")));
                };
                let entry = AuditEntry::decode(&raw).map_err(|e| ArchiveError::Internal(e.into()))?;
                let b = &entry.body;
                let fits = Action::parse(&b.action).is_some_and(|a| r.kind.answering_actions().contains(&a));
                if !fits {
                    let want: Vec<&str> = r.kind.answering_actions().iter().map(|a| a.as_str()).collect();
                    let want = want.join(", ");
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
                Ok(Ok(Answer { kind: AnswerKind::AuditEntry, reference: seq.to_string(), action: b.action.clone() }))
            }
            AnswerRef::Certificate(reference) => {
                let cert = CertificateId::parse(reference)
                    .ok()
                    .map(|c| CERTIFICATES.get(self.store.as_ref(), &c))
                    .transpose()?
                    .flatten();
                let Some(c) = cert else { return Ok(Err(field_error(&path, "no such certificate"))) };
                let erased = c.items.iter().any(|it| {
                    it.subjects.contains(&r.subject) && it.outcome == crate::archive::retention::ItemOutcome::Erased
                });
                if r.kind != RequestKind::Erasure || !erased {
                    return Ok(Err(field_error(
                        &path,
                        "the certificate does not erase this person for an erasure request",
                    )));
                }
                Ok(Ok(Answer {
                    kind: AnswerKind::Certificate,
                    reference: reference.clone(),
                    action: Action::SubjectErase.into(),
                }))
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
        const ACTION: Action = Action::RequestUpdate;
        self.gate.require_register(ctx, ACTION, id, Access::Keep).await?;
        let Some(held) = self.request_record(id)? else {
            let e = ctx.entry(ACTION, id, Outcome::Error, "no such request");
            return self.gate.refuse(e, ArchiveError::NotFound("request".into())).await;
        };
        let mut r = held.value.clone();
        let now = self.clock.now();
        let me = ctx.principal.id.clone();
        let sid = r.subject.clone();
        let entry = |outcome, reason: String| {
            let mut e = ctx.entry(ACTION, id, outcome, reason);
            e.subjects = vec![sid.to_string()];
            e
        };
        if !r.state.is_open() {
            let e = entry(Outcome::Error, format!("already {}", r.state.as_str()));
            return self
                .gate
                .refuse(e, ArchiveError::Conflict(format!("the request is already {}", r.state.as_str())))
                .await;
        }
        // What the change's shape needs (a state or an extension; what the
        // new state needs) the edge has checked (`web::commands`); what it
        // names, and what the request and the law allow, are checked here.
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
                Some(ext) => {
                    let sealed = self.texts.seal_person(&sid, &format!("request/{}/extension", r.id), reason)?;
                    let until = ext.after(r.due_at);
                    notes.push(format!("extended to {} ({})", rfc3339(until), rule.citation));
                    r.extension = Some(Extension { until, reason: sealed, by: me.clone(), at: now });
                }
            }
        }
        if let Some(new) = &change.state {
            use RequestState::*;
            let to = new.state();
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
                return self.gate.refuse(entry(Outcome::Error, why.clone()), ArchiveError::Conflict(why)).await;
            }
            match new {
                NewState::Verified(v) => {
                    if let Some(sv) = self.stored_verification(v, &r.id, &sid, &mut errors)? {
                        notes.push(format!("verified by {}, {}", code(&sv.method), sv.verified_by));
                        r.verification = Some(sv);
                    }
                }
                NewState::Refused { code, reason } => {
                    let code = code.as_deref().unwrap_or_default();
                    match self.policy.requests.refusal_reasons.get(code).cloned() {
                        None => {
                            let codes: Vec<&str> =
                                self.policy.requests.refusal_reasons.keys().map(String::as_str).collect();
                            errors.push(field_error("/reason_code", format!("one of {}", codes.join(", "))));
                        }
                        Some(def) => {
                            let text = self.texts.seal_person(&sid, &format!("request/{}/refusal", r.id), reason)?;
                            notes.push(format!("refused: {code} ({})", def.citation));
                            r.refusal = Some(Refusal { code: code.to_owned(), citation: def.citation, text });
                        }
                    }
                }
                NewState::Completed(answered_by) => {
                    if r.kind == RequestKind::Rectification && r.changes.is_empty() {
                        errors.push(field_error(
                            "/state",
                            "a rectification is completed by the change that carried it out: none names this request \
                             (PUT /v1/dossiers/{id}?request=...)",
                        ));
                    }
                    let mut answers = Vec::new();
                    for (i, a) in answered_by.iter().enumerate() {
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
                NewState::Received | NewState::InProgress => {}
            }
            r.state = to;
            r.history.push(Transition { state: to, at: now, by: me.clone() });
            notes.insert(0, format!("{} -> {}", from.as_str(), to.as_str()));
        }
        if !errors.is_empty() {
            return self
                .gate
                .refuse(entry(Outcome::Error, "invalid change".into()), ArchiveError::Invalid(errors))
                .await;
        }
        // An access request's answer keeps its verifiable report, made at a
        // checkpoint before the completion, in the completion's own write.
        let mut kept = Vec::new();
        if r.kind == RequestKind::Access && r.state == RequestState::Completed {
            if let Some((op, size)) = self.access_report_op(&r).await? {
                notes.push(format!("access report at checkpoint {size} kept"));
                kept.push(op);
            }
        }
        let e = entry(Outcome::Allow, notes.join("; "));
        let mut commit = Commit::guarded(held.replace(&r)?, kept, e);
        commit.on_conflict = vec![entry(Outcome::Error, "concurrent change of the request".into())];
        self.audit.commit(commit).await?;
        self.request_view(&r, true)
    }

    /// Open requests past their due date not alerted yet: each gets one
    /// `request_overdue` alert (the deadline job).
    pub(in crate::archive::registers) fn overdue_request_alerts(&self) -> Result<Vec<AlertWrite>, ArchiveError> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for held in super::REQUESTS.held_rows(self.store.as_ref()) {
            let held = held?;
            let r = &held.value;
            if r.state.is_open() && now > r.due() && !r.overdue_alerted {
                out.push(self.overdue_alert(&held)?);
            }
        }
        Ok(out)
    }

    /// The alert and the record change for an overdue request.
    fn overdue_alert(&self, held: &Held<RequestRecord>) -> Result<AlertWrite, ArchiveError> {
        let mut r = held.value.clone();
        let now = self.clock.now();
        let days = (now - r.due()).whole_days().max(0) as u64;
        let alert = crate::policy::alerts::Alert {
            id: crate::domain::AlertId::generate().to_string(),
            rule: "request_overdue".into(),
            description: format!(
                "{} request {} of {} is {} and was due {} ({})",
                code(&r.kind),
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
        Ok(AlertWrite {
            resource: r.id.to_string(),
            subjects: vec![r.subject.to_string()],
            alerts: vec![alert],
            change: held.replace(&r)?,
        })
    }
}
