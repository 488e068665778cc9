//! The purpose check every personal-data call starts with, and the facts it
//! rests on: the purpose registry, the impact assessments on record, and a
//! processor's agreement on the recipients register.

use super::Gate;
use crate::archive::denial::AgreementGap;
use crate::archive::records::{RecipientRecord, RECIPIENTS};
use crate::archive::{ArchiveError, CheckedPurpose, Denial, RequestCtx, StatedPurpose};
use crate::audit::{Action, Outcome};
use crate::domain::{Principal, ProcessingKind, RecipientId};
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// What the impact assessments on record cover (PIPL Art. 55).
#[derive(Debug, Clone, Default)]
pub struct Assessed {
    pub purposes: BTreeSet<String>,
    pub kinds: BTreeSet<ProcessingKind>,
}

impl Gate {
    /// The purposes `principal`'s roles may state, in policy order.
    pub fn purposes_for(&self, principal: &Principal) -> Vec<String> {
        self.policy
            .purposes
            .ids()
            .filter(|id| crate::domain::Purpose::parse(id).is_some_and(|p| self.policy.purposes.may_use(principal, &p)))
            .map(str::to_owned)
            .collect()
    }

    /// Records that an impact assessment now covers `purposes` and `kinds`.
    pub(crate) fn note_assessed(&self, purposes: &[String], kinds: &[ProcessingKind]) {
        if let Ok(mut assessed) = self.assessed.write() {
            assessed.purposes.extend(purposes.iter().cloned());
            assessed.kinds.extend(kinds.iter().copied());
        }
    }

    /// Whether processing of `kind` may go ahead: the policy does not ask
    /// for an assessment, or one on record covers it.
    pub(crate) fn may_process(&self, kind: ProcessingKind) -> bool {
        !self.policy.assessments.requires(kind) || self.assessed.read().is_ok_and(|a| a.kinds.contains(&kind))
    }

    /// 400 when the `X-Purpose` header is missing or unknown, 403 when the
    /// caller's role may not use it, when it needs an impact assessment and
    /// none covers it, or when the caller is a processor whose agreement
    /// does not cover it. Each refusal is audited under `action`.
    pub(crate) async fn purpose<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        action: Action,
        resource: &str,
    ) -> Result<CheckedPurpose<'a>, ArchiveError> {
        let stated = match &ctx.purpose {
            StatedPurpose::Missing => {
                let e = ctx.entry(action, resource, Outcome::Deny, Denial::PurposeMissing.to_string());
                return self
                    .refuse(e, ArchiveError::BadRequest("the X-Purpose header is required for this call".into()))
                    .await;
            }
            StatedPurpose::Malformed => None,
            StatedPurpose::Given(p) => Some(p),
        };
        let Some((purpose, def)) = stated.and_then(|p| self.policy.purposes.get(p).map(|d| (p, d))) else {
            let mut e = ctx.entry(action, resource, Outcome::Deny, Denial::PurposeUnknown.to_string());
            e.purpose.clear(); // not one of ours: it might be anything
            let known: Vec<&str> = self.policy.purposes.ids().collect();
            return self
                .refuse(e, ArchiveError::BadRequest(format!("unknown purpose; known purposes: {}", known.join(", "))))
                .await;
        };
        if !self.policy.purposes.may_use(&ctx.principal, purpose) {
            let e = ctx.entry(action, resource, Outcome::Deny, "");
            return self.deny(e, Denial::PurposeNotForRole(purpose.to_string()), None).await;
        }
        if def.requires_assessment && !self.assessed.read().is_ok_and(|a| a.purposes.contains(purpose.as_str())) {
            let e = ctx.entry(action, resource, Outcome::Deny, "");
            return self.deny(e, Denial::PurposeNotAssessed(purpose.to_string()), None).await;
        }
        self.check_agreed_purpose(ctx, (action, resource), purpose.as_str()).await?;
        Ok(CheckedPurpose { id: purpose, def })
    }

    fn agreement(&self, id: &RecipientId) -> Result<Option<RecipientRecord>, ArchiveError> {
        Ok(RECIPIENTS.get(self.store.as_ref(), id)?)
    }

    /// 403 (audited) when a principal bound to a recipient states a purpose
    /// its agreement does not cover, or its agreement is not in term.
    async fn check_agreed_purpose(
        &self,
        ctx: &RequestCtx,
        (action, resource): (Action, &str),
        purpose: &str,
    ) -> Result<(), ArchiveError> {
        let Some(rid) = &ctx.principal.recipient else { return Ok(()) };
        let gap = match self.agreement(rid)? {
            Some(r) if !r.in_term(self.clock.now()) => AgreementGap::NotInTerm(rid.clone()),
            Some(r) if !r.purposes.iter().any(|p| p == purpose) => {
                AgreementGap::Purposes { recipient: rid.clone(), purposes: r.purposes }
            }
            Some(_) => return Ok(()),
            None => AgreementGap::NotRegistered(rid.clone()),
        };
        self.deny(ctx.entry(action, resource, Outcome::Deny, ""), Denial::Agreement(gap), None).await
    }

    /// A processor principal may be bound to an entry whose term has not ended.
    pub(crate) fn recipient_for_binding(&self, rid: &RecipientId) -> Result<(), String> {
        match self.agreement(rid) {
            Ok(Some(r)) if self.clock.now() < r.term_until => Ok(()),
            Ok(Some(_)) => Err("the recipient's term has ended".into()),
            Ok(None) => Err("no such recipient on the register".into()),
            Err(_) => Err("the recipients register cannot be read".into()),
        }
    }

    /// When a principal's term ends (a processor's), if it has one.
    pub(crate) fn term_end(&self, p: &Principal) -> Option<OffsetDateTime> {
        let rid = p.recipient.as_ref()?;
        // An entry that cannot be read ends the term now: fail closed.
        Some(self.agreement(rid).ok().flatten().map_or(OffsetDateTime::UNIX_EPOCH, |r| r.term_until))
    }
}
