//! Identity tested where it lives: over the memory store and the manual
//! clock, no HTTP.
use super::*;
use crate::archive::testkit::{archive, ctx, last_entry};
use crate::archive::{ArchiveError, RequestCtx, StatedPurpose};
use crate::audit::Outcome;
use crate::domain::Role;
use crate::store::{Cf, KvStore};

const TOKEN: &str = "cst_operator-chosen-token-0001";

#[tokio::test]
async fn a_bootstrapped_admin_authenticates_until_revoked_and_is_stored_sealed() {
    let (a, store) = archive();
    let id = a.identity();
    let made = id.bootstrap(Some(TOKEN), None).unwrap();
    assert!(made.admin_token.is_none(), "an operator-chosen token is not printed");
    assert!(id.bootstrap(Some(TOKEN), None).unwrap().second_admin_code.is_none(), "initialised once");

    let (admin, token_id, _) = id.authenticate(TOKEN).unwrap();
    assert!(admin.has_role(Role::Admin));
    assert!(matches!(id.authenticate("cst_not-a-token-of-ours-00000"), Err(ArchiveError::Unauthenticated)));
    // Staff records are sealed: no role or department in the clear.
    for row in store.scan(Cf::Principals, b"", b"") {
        let (_, raw) = row.unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(!text.contains("department") && !text.contains("\"admin\""), "{text}");
    }
    assert_eq!(id.principal(&admin.id).unwrap().unwrap().roles, admin.roles, "it opens again");

    // Revoked: the next use fails, although the token was cached.
    let caller = RequestCtx::new(admin, token_id.clone(), StatedPurpose::Missing, "req_test".into());
    id.revoke_token(&caller, token_id.as_str()).await.unwrap();
    assert!(matches!(id.authenticate(TOKEN), Err(ArchiveError::Unauthenticated)));
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("token.revoke", Outcome::Allow));
}

#[tokio::test]
async fn staff_administration_is_refused_to_anyone_but_an_admin_and_audited() {
    let (a, store) = archive();
    let new = NewPrincipal {
        name: "王芳".into(),
        roles: vec![Role::Sales],
        department: "销售部".into(),
        region: "华东".into(),
        recipient: None,
    };
    for role in [Role::Sales, Role::Compliance, Role::Auditor] {
        let refused = a.identity().create_principal(&ctx(&[role]), new.clone()).await;
        assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{role:?}: {refused:?}");
        let e = last_entry(&store);
        assert_eq!((e.body.action.as_str(), e.body.outcome), ("principal.create", Outcome::Deny));
        assert!(!e.body.reason.contains("王芳"), "no personal value in the entry");
    }
    let made = a.identity().create_principal(&ctx(&[Role::Admin]), new).await.unwrap();
    let stored = a.identity().principal(&made).unwrap().unwrap();
    assert_eq!((stored.name.as_str(), stored.region.as_str()), ("王芳", "华东"));
}

/// A principal whose roles clash (made before the rule, or written by an
/// older custos) is alerted once per set of such principals, not at every
/// start; a new one among them raises the alerts again.
#[tokio::test]
async fn role_clashes_are_alerted_once_per_set_of_principals() {
    let (a, store) = archive();
    let id = a.identity();
    id.bootstrap(Some(TOKEN), None).unwrap();
    let (admin, _, _) = id.authenticate(TOKEN).unwrap();
    assert_eq!(id.alert_role_clashes().await.unwrap(), 0, "no clash");
    let clashing = |name: &str| crate::domain::Principal {
        id: crate::domain::PrincipalId::generate(),
        name: name.into(),
        roles: vec![Role::Admin, Role::Compliance],
        ..admin.clone()
    };
    store.write(&[id.principal_op(&clashing("one")).unwrap()], true).unwrap();
    assert_eq!(id.alert_role_clashes().await.unwrap(), 1);
    let e = last_entry(&store);
    assert_eq!(e.body.action.as_str(), "audit.alert");
    assert!(e.body.reason.starts_with("role_separation"), "{}", e.body.reason);
    assert_eq!(id.alert_role_clashes().await.unwrap(), 0, "the same principal: not again at the next start");
    store.write(&[id.principal_op(&clashing("two")).unwrap()], true).unwrap();
    assert_eq!(id.alert_role_clashes().await.unwrap(), 2, "a new set: each named again");
    assert_eq!(id.alert_role_clashes().await.unwrap(), 0);
}
