//! The gate and the use cases behind it, tested where they live: an
//! archive over the memory store, the shipped policies and a manual
//! clock; no HTTP.
use super::*;
use crate::archive::{Archive, RequestCtx, StatedPurpose};
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
        crate::archive::Settings { key_cache: 64, ..Default::default() },
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
            assert_eq!(a.gate().may(&p, op), allowed.contains(&op), "{role:?} {op:?}");
        }
    }
    assert_eq!(a.gate().customer_scope(&principal(&[Role::Sales, Role::Finance])), Some(CustomerScope::All));
    assert_eq!(a.gate().customer_scope(&principal(&[Role::Auditor])), None);
    assert!(a.gate().may_create_dossier(&principal(&[Role::Sales])));
    assert!(!a.gate().may_create_dossier(&principal(&[Role::Compliance])));
    assert!(a.gate().may_manage_disposition(&principal(&[Role::Compliance])));
    assert!(!a.gate().may_manage_disposition(&principal(&[Role::Auditor])));
}

#[tokio::test]
async fn a_refusal_is_audited_with_the_policy_reason_and_an_allowed_operation_writes_nothing() {
    let (a, store) = archive();
    let before = store.last(Cf::Audit).unwrap().map(|(k, _)| k);
    a.gate().decide(&ctx(&[Role::Compliance]), Operation::AuditRead, "audit.query", "audit", "no").await.unwrap();
    assert_eq!(store.last(Cf::Audit).unwrap().map(|(k, _)| k), before, "an allowed decision writes no entry");
    let sales = ctx(&[Role::Sales]);
    let refused = a.gate().decide(&sales, Operation::AuditRead, "audit.query", "audit", "closed to you").await;
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
