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

    /// The caller's customer scope; 403, audited as `action` with the
    /// policy's reason, when the policy permits them none. `refusal` is what
    /// the caller is told.
    pub(crate) async fn require_customer_scope(
        &self,
        ctx: &RequestCtx,
        action: &str,
        refusal: &str,
    ) -> Result<CustomerScope, ArchiveError> {
        if let Some(scope) = self.customer_scope(&ctx.principal) {
            return Ok(scope);
        }
        let reason = "no policy permits customers.all, customers.region or customers.own";
        let e = ctx.entry(action, "", Outcome::Deny, reason);
        self.refuse(e, ArchiveError::Forbidden(refusal.into())).await
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

#[cfg(test)]
mod tests {
    //! The gate and the use cases behind it, tested where they live: an
    //! archive over the memory store, the shipped policies and a manual
    //! clock; no HTTP.
    use super::*;
    use crate::archive::{RequestCtx, StatedPurpose};
    use crate::audit::AuditEntry;
    use crate::clock::ManualClock;
    use crate::crypto::MasterKey;
    use crate::domain::{PrincipalId, Role, TokenId};
    use crate::metrics::Metrics;
    use crate::policy::PolicySet;
    use crate::store::{Cf, KvStore, MemStore};
    use std::sync::Arc;

    fn archive() -> (Archive, Arc<MemStore>) {
        let store = Arc::new(MemStore::default());
        let clock = Arc::new(ManualClock::new(time::macros::datetime!(2026-12-01 09:00 UTC)));
        let policy = PolicySet::embedded().unwrap();
        let a = Archive::open(
            store.clone(),
            MasterKey::generate(),
            policy,
            clock,
            Arc::new(Metrics::default()),
            64,
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        (a, store)
    }

    fn principal(roles: &[Role]) -> Principal {
        Principal {
            id: PrincipalId::generate(),
            name: "test".into(),
            roles: roles.to_vec(),
            department: "d".into(),
            region: "华东".into(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            recipient: None,
            admin_pending: None,
            disabled_by: None,
        }
    }

    fn ctx(roles: &[Role]) -> RequestCtx {
        RequestCtx::new(principal(roles), TokenId::generate(), StatedPurpose::Missing, "req_test".into())
    }

    fn last_entry(store: &MemStore) -> AuditEntry {
        let (_, raw) = store.last(Cf::Audit).unwrap().unwrap();
        AuditEntry::decode(&raw).unwrap()
    }

    #[tokio::test]
    async fn the_shipped_policy_gives_each_role_its_operations() {
        let (a, _) = archive();
        let table = [
            (
                Role::Compliance,
                vec![Operation::AuditRead, Operation::RegisterRead, Operation::RegisterKeep, Operation::CustomersAll],
            ),
            (Role::Auditor, vec![Operation::AuditRead, Operation::RegisterRead]),
            (Role::Admin, vec![Operation::Administer]),
            (Role::Sales, vec![Operation::CustomersOwn]),
            (Role::Service, vec![Operation::CustomersRegion, Operation::RequestInRegion]),
            (Role::Finance, vec![Operation::CustomersAll]),
        ];
        for (role, allowed) in table {
            let p = principal(&[role]);
            for op in Operation::ALL {
                assert_eq!(a.may(&p, op), allowed.contains(&op), "{role:?} {op:?}");
            }
        }
        assert_eq!(a.customer_scope(&principal(&[Role::Sales, Role::Finance])), Some(CustomerScope::All));
        assert_eq!(a.customer_scope(&principal(&[Role::Auditor])), None);
        assert!(a.may_create_dossier(&principal(&[Role::Sales])));
        assert!(!a.may_create_dossier(&principal(&[Role::Compliance])));
        assert!(a.may_manage_disposition(&principal(&[Role::Compliance])));
        assert!(!a.may_manage_disposition(&principal(&[Role::Auditor])));
    }

    #[tokio::test]
    async fn a_refusal_is_audited_with_the_policy_reason_and_an_allowed_operation_writes_nothing() {
        let (a, store) = archive();
        let before = store.last(Cf::Audit).unwrap().map(|(k, _)| k);
        a.decide(&ctx(&[Role::Compliance]), Operation::AuditRead, "audit.query", "audit", "no").await.unwrap();
        assert_eq!(store.last(Cf::Audit).unwrap().map(|(k, _)| k), before, "an allowed decision writes no entry");
        let sales = ctx(&[Role::Sales]);
        let refused = a.decide(&sales, Operation::AuditRead, "audit.query", "audit", "closed to you").await;
        assert!(matches!(refused, Err(ArchiveError::Forbidden(ref why)) if why == "closed to you"), "{refused:?}");
        let e = last_entry(&store);
        assert_eq!(e.body.action, "audit.query");
        assert_eq!(e.body.outcome, crate::audit::Outcome::Deny);
        assert_eq!(e.body.actor, sales.principal.id.as_str());
        assert!(e.body.reason.contains("no policy permits audit.read"), "{}", e.body.reason);
    }

    #[tokio::test]
    async fn a_register_use_case_is_decided_and_audited_without_http() {
        let (a, store) = archive();
        let listed = a.list_incidents(&ctx(&[Role::Compliance])).await.unwrap();
        assert!(listed.is_empty());
        let e = last_entry(&store);
        assert_eq!((e.body.action.as_str(), e.body.outcome), ("incident.list", crate::audit::Outcome::Allow));
        let refused = a.list_incidents(&ctx(&[Role::Service])).await;
        assert!(matches!(refused, Err(ArchiveError::Forbidden(_))), "{refused:?}");
        let e = last_entry(&store);
        assert_eq!((e.body.action.as_str(), e.body.outcome), ("incident.list", crate::audit::Outcome::Deny));
    }
}
