//! Answering an access or portability request with the person's data
//! (GDPR Art. 15, 20; PIPL Art. 45; NDSMR Art. 25): the export is given
//! only for the person's own request of that kind, their identity verified
//! and the request open; an access request gets the whole copy, a
//! portability request the portable part. A portability request can also
//! be handed to another handler the person named: the recipient must be on
//! the recipients register and in term, and only a principal bound to it
//! collects the package, once, within `handover_valid_hours`. The request
//! records each hand-over: to whom, when prepared and when collected.

use super::{RequestKind, RequestRecord, RequestState};
use crate::archive::denial::{AgreementGap, RequestGap};
use crate::archive::registers::{code, rfc3339, Access, Registers};
use crate::archive::subjects::{ExportBasis, ExportScope};
use crate::archive::{ArchiveError, Denial, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::domain::{RecipientId, RequestId, SubjectId};
use crate::store::Held;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoverState {
    /// The recipient's principal may collect it (once).
    Ready,
    /// Collected.
    Collected,
    /// Not collected within the window.
    Expired,
}

/// A portability package prepared for another handler the person named:
/// ids and times only (the content is read when collected).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Handover {
    /// The recipient (`rcp_...`, recipients register).
    pub recipient: String,
    pub state: HandoverState,
    pub prepared_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub prepared_at: OffsetDateTime,
    /// Until when it can be collected.
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
    /// The recipient's principal who collected it.
    pub collected_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub collected_at: Option<OffsetDateTime>,
}

impl Handover {
    pub(super) fn state_at(&self, now: OffsetDateTime) -> HandoverState {
        match self.state {
            HandoverState::Ready if now > self.valid_until => HandoverState::Expired,
            s => s,
        }
    }
}

/// The request an export names, or why it answers nothing: the request
/// (when it exists) and what it lacks.
pub(super) type Answering = Result<Held<RequestRecord>, (Option<RequestId>, RequestGap)>;

/// Whether `r` is a request of `kinds` by `sid` that an export may answer.
pub(super) fn gap(r: &RequestRecord, sid: &SubjectId, kinds: &[RequestKind]) -> Option<RequestGap> {
    if &r.subject != sid {
        return Some(RequestGap::OtherPerson);
    }
    if !kinds.contains(&r.kind) {
        let wanted = match kinds {
            [RequestKind::Portability] => "portability",
            [RequestKind::Access] => "access",
            [RequestKind::Contest] => "contest",
            [RequestKind::AutomatedObjection] => "automated_objection",
            [RequestKind::Withdrawal] => "withdrawal",
            _ => "access, portability",
        };
        return Some(RequestGap::Kind { kind: code(&r.kind), wanted });
    }
    match r.state {
        RequestState::Received => Some(RequestGap::Unverified),
        RequestState::Completed | RequestState::Refused => Some(RequestGap::Closed(r.state.as_str())),
        RequestState::Verified | RequestState::InProgress if r.verification.is_none() => Some(RequestGap::Unverified),
        RequestState::Verified | RequestState::InProgress => None,
    }
}

impl Registers {
    /// The request `named` if it answers: else the denial's request id and gap.
    pub(super) fn answering(
        &self,
        sid: &SubjectId,
        named: Option<&str>,
        kinds: &[RequestKind],
    ) -> Result<Answering, ArchiveError> {
        let Some(named) = named else { return Ok(Err((None, RequestGap::Missing))) };
        let Some(held) = self.request_record(named)? else {
            return Ok(Err((RequestId::parse(named).ok(), RequestGap::Unknown)));
        };
        Ok(match gap(&held.value, sid, kinds) {
            Some(g) => Err((Some(held.value.id.clone()), g)),
            None => Ok(held),
        })
    }

    /// `GET /v1/subjects/{sid}/export?request=`: the person's data for their
    /// verified, open access (the whole copy) or portability (the portable
    /// part) request; anything else refused (403 `no-verified-request`),
    /// audited as a denied `subject.export`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn export_for_request(
        &self,
        ctx: &RequestCtx,
        sid: &str,
        request: Option<&str>,
    ) -> Result<Value, ArchiveError> {
        const ACTION: Action = Action::SubjectExport;
        let call = self.subjects.authorize_export(ctx, ACTION, sid).await?;
        let kinds = [RequestKind::Access, RequestKind::Portability];
        let r = match self.answering(call.subject(), request, &kinds)? {
            Ok(held) => held.value,
            Err((request, gap)) => {
                let mut e = ctx.entry(ACTION, call.subject().as_str(), Outcome::Deny, "");
                e.subjects = vec![call.subject().to_string()];
                return self.gate.deny(e, Denial::NoVerifiedRequest { request, gap }, None).await;
            }
        };
        let scope = if r.kind == RequestKind::Portability { ExportScope::Portability } else { ExportScope::Access };
        let basis = ExportBasis { request: r.id.clone(), kind: code(&r.kind), recipient: None };
        self.subjects.export_for(ctx, call, scope, &basis).await
    }

    /// `POST /v1/requests/{id}/handovers` (compliance, `dsr`): prepares the
    /// portable part of a verified, open portability request for a handler
    /// on the recipients register, in term, to collect.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn prepare_handover(
        &self,
        ctx: &RequestCtx,
        id: &str,
        recipient: RecipientId,
    ) -> Result<super::RequestView, ArchiveError> {
        const ACTION: Action = Action::RequestHandover;
        self.gate.require_register(ctx, ACTION, id, Access::Keep).await?;
        let Some(held) = self.request_record(id)? else {
            let e = ctx.entry(ACTION, id, Outcome::Error, "no such request");
            return self.gate.refuse(e, ArchiveError::NotFound("request".into())).await;
        };
        let sid = held.value.subject.clone();
        // Handing the person's data over is exporting it: the policy's to allow.
        self.subjects.authorize_export(ctx, ACTION, sid.as_str()).await?;
        let entry = |outcome, reason: String| {
            let mut e = ctx.entry(ACTION, id, outcome, reason);
            e.subjects = vec![sid.to_string()];
            e
        };
        if let Some(gap) = gap(&held.value, &sid, &[RequestKind::Portability]) {
            let denial = Denial::NoVerifiedRequest { request: Some(held.value.id.clone()), gap };
            return self.gate.deny(entry(Outcome::Deny, String::new()), denial, None).await;
        }
        let now = self.clock.now();
        let found = self.governance.recipient_record(&recipient)?;
        let agreement = match &found {
            None => Some(AgreementGap::NotRegistered(recipient.clone())),
            Some(r) if !r.in_term(now) => Some(AgreementGap::NotInTerm(recipient.clone())),
            Some(_) => None,
        };
        if let Some(g) = agreement {
            return self.gate.deny(entry(Outcome::Deny, String::new()), Denial::Agreement(g), None).await;
        }
        let mut r = held.value.clone();
        let pending =
            r.handovers.iter().any(|h| h.recipient == recipient.as_str() && h.state_at(now) == HandoverState::Ready);
        if pending {
            let why = "a package for this recipient is ready already";
            return self.gate.refuse(entry(Outcome::Error, why.into()), ArchiveError::Conflict(why.into())).await;
        }
        let valid_until = now + time::Duration::hours(self.policy.requests.handover_valid_hours.into());
        r.handovers.push(Handover {
            recipient: recipient.to_string(),
            state: HandoverState::Ready,
            prepared_by: ctx.principal.id.to_string(),
            prepared_at: now,
            valid_until,
            collected_by: None,
            collected_at: None,
        });
        let role = found.map(|f| code(&f.role)).unwrap_or_default();
        let reason =
            format!("portability package for {role} recipient {recipient}, ready until {}", rfc3339(valid_until));
        let mut commit = Commit::guarded(held.replace(&r)?, vec![], entry(Outcome::Allow, reason));
        commit.on_conflict = vec![entry(Outcome::Error, "concurrent change of the request".into())];
        self.audit.commit(commit).await?;
        self.request_view(&r, true)
    }

    /// `GET /v1/requests/{id}/handovers/{recipient}/content`: a principal
    /// bound to the recipient collects the package, once, within its
    /// window, while the recipient is in term and the request not refused.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn collect_handover(&self, ctx: &RequestCtx, id: &str, recipient: &str) -> Result<Value, ArchiveError> {
        const ACTION: Action = Action::RequestHandoverCollect;
        let found = self.request_record(id)?;
        let at = found.as_ref().and_then(|held| held.value.handovers.iter().position(|h| h.recipient == recipient));
        let (Some(held), Some(i)) = (found.as_ref(), at) else {
            let mut e = ctx.entry(ACTION, id, Outcome::Error, "no such hand-over");
            e.subjects = found.iter().map(|h| h.value.subject.to_string()).collect();
            return self.gate.refuse(e, ArchiveError::NotFound("hand-over".into())).await;
        };
        let sid = held.value.subject.clone();
        let entry = |outcome, reason: String| {
            let mut e = ctx.entry(ACTION, id, outcome, reason);
            e.subjects = vec![sid.to_string()];
            e
        };
        let Some(rid) = ctx.principal.recipient.clone().filter(|r| r.as_str() == recipient) else {
            return self.gate.deny(entry(Outcome::Deny, String::new()), Denial::NotTheRecipient, None).await;
        };
        let now = self.clock.now();
        if !self.governance.recipient_record(&rid)?.is_some_and(|r| r.in_term(now)) {
            let denial = Denial::Agreement(AgreementGap::NotInTerm(rid));
            return self.gate.deny(entry(Outcome::Deny, String::new()), denial, None).await;
        }
        let mut r = held.value.clone();
        let state = r.state;
        let Some(h) = r.handovers.get_mut(i) else {
            return Err(ArchiveError::Internal(anyhow::anyhow!("hand-over {i} vanished from the copy read")));
        };
        let why = match (state, h.state_at(now)) {
            (RequestState::Refused, _) => Some("the request was refused"),
            (_, HandoverState::Collected) => Some("the package was collected already"),
            (_, HandoverState::Expired) => Some("the package expired: the officer prepares it again"),
            (_, HandoverState::Ready) => None,
        };
        if let Some(why) = why {
            return self.gate.refuse(entry(Outcome::Error, why.into()), ArchiveError::Conflict(why.into())).await;
        }
        // Collected first: one collection, even if two race.
        h.state = HandoverState::Collected;
        h.collected_by = Some(ctx.principal.id.to_string());
        h.collected_at = Some(now);
        let reason = format!("portability package collected for recipient {rid}");
        let mut commit = Commit::guarded(held.replace(&r)?, vec![], entry(Outcome::Allow, reason));
        commit.on_conflict = vec![entry(Outcome::Error, "concurrent change of the request".into())];
        self.audit.commit(commit).await?;
        let why = format!("hand-over of request {} to recipient {rid}", r.id);
        let call = self.subjects.handover_call(&sid, why)?;
        let basis = ExportBasis { request: r.id.clone(), kind: code(&r.kind), recipient: Some(rid) };
        self.subjects.export_for(ctx, call, ExportScope::Portability, &basis).await
    }
}
