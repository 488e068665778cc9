//! What the services' unit tests share: an archive over the memory store,
//! the shipped policies and a manual clock (no HTTP), callers by role, and
//! the audit log's last entry.

use crate::archive::{Archive, NewPrincipal, RequestCtx, StatedPurpose};
use crate::audit::AuditEntry;
use crate::clock::ManualClock;
use crate::crypto::MasterKey;
use crate::domain::{Principal, PrincipalId, Role, TokenId};
use crate::metrics::Metrics;
use crate::policy::PolicySet;
use crate::store::{Cf, KvStore, MemStore};
use std::sync::Arc;

pub(crate) fn archive() -> (Archive, Arc<MemStore>) {
    let (a, store, _) = archive_with_clock();
    (a, store)
}

/// [`archive`], with the clock it reads (set it to move time on).
pub(crate) fn archive_with_clock() -> (Archive, Arc<MemStore>, Arc<ManualClock>) {
    archive_with(crate::archive::Settings { key_cache: 64, ..Default::default() })
}

/// [`archive_with_clock`], tuned by `settings` (a search index directory,
/// backups).
pub(crate) fn archive_with(settings: crate::archive::Settings) -> (Archive, Arc<MemStore>, Arc<ManualClock>) {
    archive_with_policy(settings, |_| {})
}

/// [`archive_with`], on the shipped policies as `tweak` changes them.
pub(crate) fn archive_with_policy(
    settings: crate::archive::Settings,
    tweak: impl FnOnce(&mut PolicySet),
) -> (Archive, Arc<MemStore>, Arc<ManualClock>) {
    let store = Arc::new(MemStore::default());
    let clock = Arc::new(ManualClock::new(time::macros::datetime!(2026-12-01 09:00 UTC)));
    let mut policy = PolicySet::embedded().unwrap();
    tweak(&mut policy);
    let a = Archive::open(
        store.clone(),
        MasterKey::generate(),
        policy,
        clock.clone(),
        Arc::new(Metrics::default()),
        settings,
    )
    .unwrap();
    (a, store, clock)
}

pub(crate) fn principal(roles: &[Role]) -> Principal {
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

pub(crate) fn ctx(roles: &[Role]) -> RequestCtx {
    RequestCtx::new(principal(roles), TokenId::generate(), StatedPurpose::Missing, "req_test".into())
}

pub(crate) fn last_entry(store: &MemStore) -> AuditEntry {
    let (_, raw) = store.last(Cf::Audit).unwrap().unwrap();
    AuditEntry::decode(&raw).unwrap()
}

/// A stored staff member of the given roles in 华东, stating `purpose`.
pub(crate) async fn caller(a: &Archive, roles: &[Role], purpose: &str) -> RequestCtx {
    let admin = ctx(&[Role::Admin]);
    let new = NewPrincipal {
        name: "王芳".into(),
        roles: roles.to_vec(),
        department: "销售部".into(),
        region: "华东".into(),
        recipient: None,
    };
    let id = a.identity().create_principal(&admin, new).await.unwrap();
    let p = a.identity().principal(&id).unwrap().unwrap();
    let purpose = StatedPurpose::Given(crate::domain::Purpose::parse(purpose).unwrap());
    RequestCtx::new(p, TokenId::generate(), purpose, "req_t".into())
}

/// The first dossier of `fixtures/dossiers.json`, owned by `owner`.
pub(crate) fn body(owner: &str) -> serde_json::Value {
    let mut all: Vec<serde_json::Value> = serde_json::from_str(include_str!("../../fixtures/dossiers.json")).unwrap();
    let mut d = all.swap_remove(0);
    d["owner"] = owner.into();
    d
}

/// A sales caller in 华东 (stating `service_delivery`) and a dossier they
/// created and own, from the fixture.
pub(crate) async fn sales_dossier(a: &Archive) -> (RequestCtx, crate::archive::Created) {
    let sales = caller(a, &[Role::Sales], "service_delivery").await;
    let made = a.dossiers().create_dossier(&sales, &body(sales.principal.id.as_str())).await.unwrap();
    (sales, made)
}
