//! The decision gate for operations on the archive as a whole (the audit
//! log, the registers, staff administration): one request type, decided by
//! the access policy (`policies/access.cedar`), refused with an audited
//! entry naming the policy's reason.

use super::{Archive, ArchiveError, RequestCtx};
use crate::audit::Outcome;
use crate::domain::Principal;
pub use crate::policy::access::Operation;

impl Archive {
    /// Whether `p` may perform `op` (no entry: for menus and for deciding
    /// what a view shows; an operation itself goes through [`Archive::decide`]).
    pub fn may(&self, p: &Principal, op: Operation) -> bool {
        self.policy.access.decide_operation(p, op).allowed
    }

    /// 403, audited as `action` on `resource` with the policy's reason,
    /// unless the policy permits the caller `op`. `refusal` is what the
    /// caller is told.
    pub(crate) async fn decide(
        &self,
        ctx: &RequestCtx,
        op: Operation,
        action: &str,
        resource: &str,
        refusal: &str,
    ) -> Result<(), ArchiveError> {
        let d = self.policy.access.decide_operation(&ctx.principal, op);
        if d.allowed {
            return Ok(());
        }
        let e = ctx.entry(action, resource, Outcome::Deny, d.reason);
        self.refuse(e, ArchiveError::Forbidden(refusal.into())).await
    }
}
