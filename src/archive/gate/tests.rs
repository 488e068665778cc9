//! The gate and the use cases behind it, tested where they live: an
//! archive over the memory store, the shipped policies and a manual
//! clock; no HTTP.
use super::*;
use crate::archive::testkit::{archive, ctx, last_entry, principal};
use crate::audit::Action;
use crate::domain::Role;
use crate::store::{Cf, KvStore};

#[tokio::test]
async fn the_shipped_policy_gives_each_role_its_operations() {
    let (a, _) = archive();
    let table = [
        (
            Role::Compliance,
            vec![
                Operation::AuditRead,
                Operation::RegisterRead,
                Operation::RegisterKeep,
                Operation::CustomersAll,
                Operation::GradeReview,
                Operation::StaffDirectory,
            ],
        ),
        (Role::Auditor, vec![Operation::AuditRead, Operation::RegisterRead, Operation::StaffDirectory]),
        (Role::Admin, vec![Operation::Administer, Operation::StaffDirectory]),
        (Role::Sales, vec![Operation::CustomersOwn, Operation::StaffDirectory]),
        (Role::Service, vec![Operation::CustomersRegion, Operation::RequestInRegion, Operation::StaffDirectory]),
        (Role::Finance, vec![Operation::CustomersAll, Operation::GradeReview, Operation::StaffDirectory]),
        (Role::Processor, vec![]),
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
    a.gate().decide(&ctx(&[Role::Compliance]), Operation::AuditRead, Action::AuditQuery, "audit", "no").await.unwrap();
    assert_eq!(store.last(Cf::Audit).unwrap().map(|(k, _)| k), before, "an allowed decision writes no entry");
    let sales = ctx(&[Role::Sales]);
    let refused = a.gate().decide(&sales, Operation::AuditRead, Action::AuditQuery, "audit", "closed to you").await;
    assert!(
        matches!(refused, Err(ArchiveError::Forbidden { ref detail, denial: crate::archive::Denial::Policy(_) }) if detail == "closed to you"),
        "{refused:?}"
    );
    let e = last_entry(&store);
    assert_eq!(e.body.action, "audit.query");
    assert_eq!(e.body.outcome, crate::audit::Outcome::Deny);
    assert_eq!(e.body.actor, sales.principal.id.as_str());
    assert!(e.body.reason.contains("no policy permits audit.read"), "{}", e.body.reason);
}

#[tokio::test]
async fn a_register_use_case_is_decided_and_audited_without_http() {
    let (a, store) = archive();
    let listed = a.registers().list_incidents(&ctx(&[Role::Compliance])).await.unwrap();
    assert!(listed.is_empty());
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("incident.list", crate::audit::Outcome::Allow));
    let refused = a.registers().list_incidents(&ctx(&[Role::Service])).await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{refused:?}");
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("incident.list", crate::audit::Outcome::Deny));
}
