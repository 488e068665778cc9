//! The decision gate for operations on the archive as a whole (the audit
//! log, the registers, staff administration): one request type, decided by
//! the access policy (`policies/access.cedar`), refused with an audited
//! entry naming the policy's reason.

use super::{Archive, ArchiveError, RequestCtx};
use crate::audit::Outcome;
use crate::domain::Principal;
pub use crate::policy::access::Operation;

/// Which customers a caller sees in lists, reports and review lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerScope {
    All,
    Region,
    Own,
}

impl CustomerScope {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerScope::All => "all",
            CustomerScope::Region => "region",
            CustomerScope::Own => "own",
        }
    }
}

impl Archive {
    /// The widest customer scope the policy permits `p`, if any.
    pub fn customer_scope(&self, p: &Principal) -> Option<CustomerScope> {
        [
            (Operation::CustomersAll, CustomerScope::All),
            (Operation::CustomersRegion, CustomerScope::Region),
            (Operation::CustomersOwn, CustomerScope::Own),
        ]
        .into_iter()
        .find_map(|(op, scope)| self.may(p, op).then_some(scope))
    }

    /// Whether `p` may start a dossier of their own (for the console's
    /// menu): the `dossier.create` decision for a new dossier they own, in
    /// their region, under any purpose they may state.
    pub fn may_create_dossier(&self, p: &Principal) -> bool {
        use crate::domain::dossier::{Grade, Status};
        use crate::policy::access::{Change, DossierFacts};
        let facts = DossierFacts { owner: &p.id, region: &p.region, grade: Grade::C, status: Status::Active };
        self.purposes_for(p)
            .iter()
            .any(|purpose| self.policy.access.decide_change(p, Change::Create, purpose, "new", facts, facts).allowed)
    }

    /// Whether `p` may manage retention and destruction (for the console's menu).
    pub fn may_manage_disposition(&self, p: &Principal) -> bool {
        self.purposes_for(p).iter().any(|purpose| self.policy.access.decide_disposition(p, purpose).allowed)
    }

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
