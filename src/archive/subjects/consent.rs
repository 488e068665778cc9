//! Consent: grants and withdrawals, an append-only history whose evidence
//! is sealed under the person's key.

use super::{ConsentEventView, NewConsent};
use crate::archive::records::{ConsentBasis, ConsentEvent, ConsentEventKind, LiveConsent, CONSENT_EVENTS};
use crate::archive::subjects::Subjects;
use crate::archive::vault::{Opened, Slot};
use crate::archive::{ArchiveError, Denial, RequestCtx};
use crate::audit::{Action, Commit, Outcome};
use crate::crypto::KeyRef;
use crate::domain::dossier::FieldError;
use crate::domain::SubjectId;
use crate::policy::access::SubjectAction;
use crate::policy::Basis;
use crate::store::keys;

impl Subjects {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn grant_consent(
        &self,
        ctx: &RequestCtx,
        id: &str,
        consent: NewConsent,
    ) -> Result<ConsentEventView, ArchiveError> {
        const ACTION: Action = Action::ConsentGrant;
        let call = self.authorize_subject(ctx, ACTION, SubjectAction::GrantConsent, id).await?;
        let now = self.clock.now();
        let mut errors = Vec::new();
        let known = crate::domain::Purpose::parse(&consent.purpose).and_then(|p| self.policy.purposes.get(&p).cloned());
        match known {
            None => errors.push(FieldError { path: "/purpose".into(), message: "unknown purpose".into() }),
            // A consent naming a recipient is to the provision itself (PIPL
            // Art. 23, 39), whatever the purpose rests on.
            Some(def)
                if consent.recipient.is_none() && !matches!(def.basis, Basis::Consent | Basis::SeparateConsent) =>
            {
                errors.push(FieldError {
                    path: "/purpose".into(),
                    message: format!("this purpose rests on {}, not on consent", def.basis.as_str()),
                })
            }
            Some(_) => {}
        }
        // PIPL Art. 14, 17: consent is given under a notice naming the purpose.
        let notice = match &consent.notice {
            Some(v) => match self.policy.notices.get(v) {
                Some(n) if n.effective <= now.date() => Some(n),
                Some(_) => {
                    errors
                        .push(FieldError { path: "/notice".into(), message: "that notice is not in force yet".into() });
                    None
                }
                None => {
                    errors.push(FieldError { path: "/notice".into(), message: "no such notice version".into() });
                    None
                }
            },
            None => self.policy.notices.under(None, consent.granted_at),
        };
        if let Some(n) = notice {
            if !n.purposes.contains(&consent.purpose) && errors.is_empty() {
                errors.push(FieldError {
                    path: "/purpose".into(),
                    message: format!(
                        "the notice the person consented under ({}) does not name this purpose: consent must be given under a notice that does (PIPL Art. 14, 17)",
                        n.version
                    ),
                });
            }
        }
        let recipient = match &consent.recipient {
            None => None,
            Some(r) => match self.governance.recipient_for_consent(r) {
                // That it is a separate consent the edge has checked (`web::commands`).
                Ok(rid) => Some(rid),
                Err(message) => {
                    errors.push(FieldError { path: "/recipient".into(), message });
                    None
                }
            },
        };
        let live_key = match &recipient {
            Some(r) => format!("{}@{r}", consent.purpose),
            None => consent.purpose.clone(),
        };
        if call.meta.objected.contains(&consent.purpose) {
            let mut e = ctx.entry(ACTION, id, Outcome::Deny, Denial::Objected(consent.purpose.clone()).to_string());
            e.subjects = vec![call.sid.to_string()];
            let why = format!(
                "the person objected to {} (direct marketing): it ends for good and consent for it is not recorded again (GDPR Art. 21(3))",
                consent.purpose
            );
            return self.gate.refuse(e, ArchiveError::Conflict(why)).await;
        }
        if consent.granted_at > now + time::Duration::minutes(5) {
            errors.push(FieldError { path: "/granted_at".into(), message: "lies in the future".into() });
        }
        if !errors.is_empty() {
            let mut e = ctx.entry(ACTION, id, Outcome::Error, "invalid consent record");
            e.subjects = vec![call.sid.to_string()];
            return self.gate.refuse(e, ArchiveError::Invalid(errors)).await;
        }
        let n = call.meta.consent_events;
        let key = KeyRef::Subject(call.sid.clone());
        let evidence = match self.vault.seal(&key, Slot::ConsentEvidence(&call.sid, n), consent.evidence.as_bytes())? {
            Opened::Plain(sealed) => sealed,
            Opened::Erased => {
                let mut e = ctx.entry(ACTION, id, Outcome::Error, "subject erased");
                e.subjects = vec![call.sid.to_string()];
                return self.gate.refuse(e, ArchiveError::Conflict("the subject has been erased".into())).await;
            }
        };
        let event = ConsentEvent {
            event: n,
            kind: ConsentEventKind::Grant,
            purpose: consent.purpose.clone(),
            basis: Some(consent.basis),
            effective_at: consent.granted_at,
            recorded_at: now,
            actor: ctx.principal.id.clone(),
            evidence: Some(evidence),
            notice: notice.map(|n| n.version.clone()),
            recipient: recipient.clone(),
        };
        let mut meta = call.meta.clone();
        meta.consent_events = n + 1;
        meta.consents.insert(
            live_key,
            LiveConsent {
                basis: consent.basis,
                granted_at: consent.granted_at,
                event: n,
                notice: notice.map(|n| n.version.clone()),
            },
        );
        let ops = vec![CONSENT_EVENTS.put_unguarded(&(call.sid.clone(), n), &event)?];
        let basis = if consent.basis == ConsentBasis::SeparateConsent { "separate_consent" } else { "consent" };
        let under = notice.map_or(String::new(), |n| format!(", notice {} (sha256 {})", n.version, n.digest));
        let to = recipient.as_ref().map_or(String::new(), |r| format!(", recipient {r}"));
        let reason = format!("{}; purpose {}, basis {basis}, event {n}{under}{to}", call.reason, consent.purpose);
        self.commit_subject(ctx, ACTION, &call, &meta, ops, reason).await?;
        self.event_view(&call.sid, event)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn withdraw_consent(
        &self,
        ctx: &RequestCtx,
        id: &str,
        purpose: &str,
    ) -> Result<ConsentEventView, ArchiveError> {
        const ACTION: Action = Action::ConsentWithdraw;
        let call = self.authorize_subject(ctx, ACTION, SubjectAction::WithdrawConsent, id).await?;
        if !call.meta.consents.contains_key(purpose) {
            let mut e = ctx.entry(ACTION, id, Outcome::Error, "no live consent for that purpose");
            e.subjects = vec![call.sid.to_string()];
            return self.gate.refuse(e, ArchiveError::NotFound("live consent for that purpose".into())).await;
        }
        let now = self.clock.now();
        let n = call.meta.consent_events;
        let event = ConsentEvent {
            event: n,
            kind: ConsentEventKind::Withdrawal,
            purpose: purpose.to_owned(),
            basis: None,
            effective_at: now,
            recorded_at: now,
            actor: ctx.principal.id.clone(),
            evidence: None,
            notice: None,
            recipient: purpose.split_once('@').map(|(_, r)| r.to_owned()),
        };
        let mut meta = call.meta.clone();
        meta.consent_events = n + 1;
        meta.consents.remove(purpose);
        meta.last_withdrawal_at = Some(now);
        let ops = vec![CONSENT_EVENTS.put_unguarded(&(call.sid.clone(), n), &event)?];
        // `purpose` is a key of the live consents: one of our purpose ids.
        let reason = format!("{}; purpose {purpose} withdrawn, event {n}", call.reason);
        self.commit_subject(ctx, ACTION, &call, &meta, ops, reason).await?;
        self.event_view(&call.sid, event)
    }

    pub(super) fn consent_events(&self, sid: &SubjectId) -> Result<Vec<ConsentEventView>, ArchiveError> {
        let mut out = Vec::new();
        for row in CONSENT_EVENTS.scan_under(self.store.as_ref(), keys::consent_events_prefix(sid)) {
            let (_, event) = row?;
            out.push(self.event_view(sid, event)?);
        }
        Ok(out)
    }

    fn event_view(&self, sid: &SubjectId, e: ConsentEvent) -> Result<ConsentEventView, ArchiveError> {
        // The evidence opens only while the subject's key exists.
        let evidence = match &e.evidence {
            Some(sealed) => {
                let slot = Slot::ConsentEvidence(sid, e.event);
                self.vault.open_text(&KeyRef::Subject(sid.clone()), slot, sealed)?.plain()
            }
            None => None,
        };
        Ok(e.with_evidence(evidence))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn consent_history(&self, ctx: &RequestCtx, id: &str) -> Result<Vec<ConsentEventView>, ArchiveError> {
        const ACTION: Action = Action::ConsentHistory;
        let call = self.authorize_subject(ctx, ACTION, SubjectAction::Read, id).await?;
        let events = self.consent_events(&call.sid)?;
        let mut e = ctx.entry(ACTION, id, Outcome::Allow, call.reason.clone());
        e.subjects = vec![call.sid.to_string()];
        self.audit.commit(Commit::entry(e)).await?;
        Ok(events)
    }
}
