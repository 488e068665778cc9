//! Recording a request: the due date by the person's residency, and an
//! objection to direct marketing taking effect at once.

use super::{field_error, NewRequest, RequestKind, RequestRecord, RequestState, RequestView, Transition};
use crate::archive::gate::Operation;
use crate::archive::records::{ConsentEvent, ConsentEventKind, SubjectMeta, CONSENT_EVENTS, SUBJECTS};
use crate::archive::registers::Registers;
use crate::archive::registers::{code, rfc3339};
use crate::archive::Denial;
use crate::archive::{ArchiveError, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::crypto::KeyRef;
use crate::domain::{RequestId, SubjectId};

impl Registers {
    /// `POST /v1/requests` (compliance; service for a person named in a
    /// dossier of their region).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_request(&self, ctx: &RequestCtx, new: NewRequest) -> Result<RequestView, ArchiveError> {
        const ACTION: Action = Action::RequestCreate;
        let p = &ctx.principal;
        let found = SubjectId::parse(&new.subject)
            .ok()
            .map(|sid| SUBJECTS.hold(self.store.as_ref(), &sid).map(|held| held.map(|h| (sid, h))))
            .transpose()?
            .flatten();
        let in_reach = |sid: &SubjectId| -> Result<bool, ArchiveError> {
            if self.gate.may(p, Operation::RegisterKeep) {
                return Ok(true);
            }
            if !self.gate.may(p, Operation::RequestInRegion) {
                return Ok(false);
            }
            let region = p.region.as_str();
            Ok(self.dossiers.subject_dossiers(sid)?.iter().any(|d| d.region == region))
        };
        // An unknown person and one out of reach get the same 403, except for
        // compliance (who may record a request for anyone on record).
        let compliance = self.gate.may(p, Operation::RegisterKeep);
        let (sid, held) = match found {
            Some((sid, held)) if in_reach(&sid)? => (sid, held),
            Some((sid, _)) => {
                let mut e = ctx.entry(ACTION, sid.as_str(), Outcome::Deny, "");
                e.subjects = vec![sid.to_string()];
                return self.gate.deny(e, Denial::OutOfReach { known: true }, None).await;
            }
            None if !compliance => {
                let e = ctx.entry(ACTION, "", Outcome::Deny, "");
                return self.gate.deny(e, Denial::OutOfReach { known: false }, None).await;
            }
            None => {
                let e = ctx.entry(ACTION, "", Outcome::Error, "no such subject");
                return self
                    .gate
                    .refuse(e, ArchiveError::Invalid(vec![field_error("/subject_id", "no such subject")]))
                    .await;
            }
        };
        let meta: SubjectMeta = held.value.clone();
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
        if new.purpose.is_some() && purpose_def.is_none() {
            errors.push(field_error("/purpose", "unknown purpose"));
        }
        let erased = meta.erased.is_some() || !self.keyring.exists(&KeyRef::Subject(sid.clone()))?;
        let verification = match &new.verification {
            Some(v) if errors.is_empty() => self.stored_verification(v, &rid, &sid, &mut errors)?,
            _ => None,
        };
        if !errors.is_empty() {
            let mut e = ctx.entry(ACTION, sid.as_str(), Outcome::Error, "invalid request record");
            e.subjects = vec![sid.to_string()];
            return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        let residency = meta.residency();
        let rule = self.policy.requests.for_residency(&residency).clone();
        // An erased person's texts are not kept (the record of the request is).
        let details = match new.details.as_deref() {
            Some(d) => self.texts.seal_person(&sid, &format!("request/{rid}/details"), d)?,
            None => None,
        };
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
            handovers: vec![],
            changes: vec![],
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
                    notice: None,
                    recipient: None,
                };
                m.consent_events = n + 1;
                m.last_withdrawal_at = Some(now);
                ops.push(CONSENT_EVENTS.put_unguarded(&(sid.clone(), n), &event)?);
                let mut w = ctx.entry(
                    Action::ConsentWithdraw,
                    sid.as_str(),
                    Outcome::Allow,
                    format!("objection to direct marketing, request {rid}: purpose {purpose} withdrawn, event {n} (GDPR Art. 21(3))"),
                );
                w.subjects = vec![sid.to_string()];
                entries.push(w);
                record.effects.push(format!("consent for {purpose} withdrawn (consent event {n})"));
            }
            let note = format!("{purpose} refused for good: consent for it is not recorded again (GDPR Art. 21(3))");
            let mut o =
                ctx.entry(Action::SubjectObject, sid.as_str(), Outcome::Allow, format!("request {rid}: {note}"));
            o.subjects = vec![sid.to_string()];
            entries.push(o);
            record.effects.push(note);
            let change = held.replace(&m)?;
            ops.push(change.op);
            guard = Some(change.guard);
        }
        ops.push(super::REQUESTS.put_unguarded(&rid, &record)?);
        let mut e = ctx.entry(
            ACTION,
            rid.as_str(),
            Outcome::Allow,
            format!(
                "{} request received {} via {}; due {} ({} rule: {}){}",
                code(&new.kind),
                rfc3339(new.received_at),
                code(&new.channel),
                rfc3339(record.due_at),
                rule.jurisdiction,
                rule.citation,
                if erased { "; the person is erased: no text kept" } else { "" }
            ),
        );
        e.subjects = vec![sid.to_string()];
        entries.insert(0, e);
        self.audit.commit(Commit { ops, entries, guard, on_conflict: vec![] }).await?;
        self.request_view(&record, true)
    }
}
