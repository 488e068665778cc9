//! A person's stand against their automated grade, on their request: a
//! `contest` request contests it (a human reviews it), an
//! `automated_objection` request refuses decisions by automated means
//! alone, a `withdrawal` request withdraws that objection (PIPL Art. 24(3);
//! GDPR Art. 22). Recorded by compliance (`register.keep`) for the person's
//! own verified, open request; the grade itself is the customers service's
//! (`Customers::record_stand`).

use super::portability::gap;
use super::RequestKind;
use crate::archive::customers::Stand;
use crate::archive::denial::RequestGap;
use crate::archive::records::GradeStand;
use crate::archive::registers::{Access, Registers};
use crate::archive::{ArchiveError, Denial, RequestCtx};
use crate::audit::Outcome;
use crate::domain::RequestId;

impl Registers {
    /// `POST /v1/dossiers/{id}/grade/contest` (`objection`,
    /// `objection/withdraw`) `{request}`: records the stand the person's
    /// request asks for; 403 `no-verified-request` unless the request is of
    /// the right kind, verified, open and the dossier's proprietor's own.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn take_grade_stand(
        &self,
        ctx: &RequestCtx,
        dossier: &str,
        request: &str,
        stand: Stand,
    ) -> Result<GradeStand, ArchiveError> {
        let action = stand.action();
        self.gate.require_register(ctx, action, dossier, Access::Keep).await?;
        let kinds: &[RequestKind] = match stand {
            Stand::Contest => &[RequestKind::Contest],
            Stand::Object => &[RequestKind::AutomatedObjection],
            Stand::Withdraw => &[RequestKind::Withdrawal],
        };
        let found = self.request_record(request)?;
        let refusal = match &found {
            None => Some((RequestId::parse(request).ok(), RequestGap::Unknown)),
            Some(held) => gap(&held.value, &held.value.subject, kinds).map(|g| (Some(held.value.id.clone()), g)),
        };
        if let Some((request, gap)) = refusal {
            let mut e = ctx.entry(action, dossier, Outcome::Deny, "");
            e.subjects = found.iter().map(|h| h.value.subject.to_string()).collect();
            return self.gate.deny(e, Denial::NoVerifiedRequest { request, gap }, None).await;
        }
        let Some(held) = found else { return Err(ArchiveError::NotFound("request".into())) };
        let r = held.value;
        self.customers.record_stand(ctx, dossier, (&r.id, &r.subject), stand).await
    }
}
