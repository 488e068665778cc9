//! The search index kept by the Indexer, tested through the search it
//! answers: the memory store, the shipped policies, the manual clock, an
//! index in a temporary directory; no HTTP.
use crate::archive::testkit::{archive_with, body, caller, last_entry};
use crate::archive::{Archive, RequestCtx, Settings};
use crate::audit::Outcome;
use crate::clock::ManualClock;
use crate::domain::{DossierId, Role};
use crate::store::MemStore;
use std::sync::Arc;

/// An archive whose search is on (its index in the directory returned).
fn indexed() -> (Archive, Arc<MemStore>, Arc<ManualClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings { key_cache: 64, index_dir: Some(dir.path().to_owned()), ..Default::default() };
    let (a, store, clock) = archive_with(settings);
    (a, store, clock, dir)
}

/// The fixture dossier owned by `owner`, in `region`, with a Latin remark.
async fn dossier(a: &Archive, owner: &RequestCtx, region: &str) -> DossierId {
    let mut d = body(owner.principal.id.as_str());
    d["customer"]["region"] = region.into();
    d["remarks"] = "重点客户; cold-chain shipments via Hamburg".into();
    a.dossiers().create_dossier(owner, &d).await.unwrap().id
}

/// The ids a search answers `who`.
async fn found(a: &Archive, who: &RequestCtx, q: &str) -> Vec<String> {
    let page = a.dossiers().search(who, q, None, None, Some(100), None).await.unwrap();
    page.hits.into_iter().map(|h| h.id).collect()
}

/// Whether any file of the index holds `needle`.
fn index_files_hold(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .any(|p| std::fs::read(&p).unwrap().windows(needle.len()).any(|w| w == needle))
}

#[tokio::test]
async fn a_dossier_is_found_by_a_chinese_and_a_latin_term_and_the_index_holds_neither() {
    let (a, store, _, dir) = indexed();
    let sales = caller(&a, &[Role::Sales], "service_delivery").await;
    let id = dossier(&a, &sales, "华东").await.to_string();

    assert_eq!(found(&a, &sales, "防静电").await, vec![id.clone()], "a word of the packaging, segmented by jieba");
    assert_eq!(found(&a, &sales, "Hamburg").await, vec![id.clone()]);
    assert_eq!(found(&a, &sales, "hamburg").await, vec![id.clone()], "lowercased");
    assert_eq!(found(&a, &sales, "shipment").await, vec![id.clone()], "stemmed");
    assert_eq!(found(&a, &sales, "13912345688").await, vec![id.clone()], "a contact's full phone, blind");
    assert!(found(&a, &sales, "Rotterdam").await.is_empty());
    assert!(found(&a, &sales, "冷冻食品").await.is_empty());
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("search", Outcome::Allow));
    assert!(!e.body.reason.contains("冷冻食品"), "the query is audited as a keyed hash: {}", e.body.reason);

    let ix = a.search_index().index().unwrap();
    assert_eq!(ix.indexed_version(&id).unwrap(), Some(1));
    for plain in ["hamburg".as_bytes(), "防静电".as_bytes(), b"13912345688", "张伟".as_bytes()] {
        assert!(!index_files_hold(dir.path(), plain), "{} in the index files", String::from_utf8_lossy(plain));
    }
}

#[tokio::test]
async fn results_are_filtered_by_the_callers_scope() {
    let (a, _, _, _dir) = indexed();
    let mine = caller(&a, &[Role::Sales], "service_delivery").await;
    let theirs = caller(&a, &[Role::Sales], "service_delivery").await;
    let east = dossier(&a, &mine, "华东").await.to_string();
    let south = dossier(&a, &theirs, "华南").await.to_string();

    assert_eq!(found(&a, &mine, "Hamburg").await, vec![east.clone()], "sales: their own customers");
    assert_eq!(found(&a, &theirs, "Hamburg").await, vec![south.clone()]);
    let service = caller(&a, &[Role::Service], "service_delivery").await;
    assert_eq!(found(&a, &service, "Hamburg").await, vec![east.clone()], "service: their region (华东)");
    // The same person's phone is in both; each sees the match in their own only.
    assert_eq!(found(&a, &theirs, "13912345688").await, vec![south]);
    let auditor = caller(&a, &[Role::Auditor], "legal_compliance").await;
    assert!(found(&a, &auditor, "Hamburg").await.is_empty(), "an auditor reads no dossier content");
}

#[tokio::test]
async fn a_new_version_replaces_the_old_in_the_index() {
    let (a, _, _, _dir) = indexed();
    let owner = caller(&a, &[Role::Sales], "service_delivery").await;
    let did = dossier(&a, &owner, "华东").await;
    let service = caller(&a, &[Role::Service], "service_delivery").await;
    let mut d = body(owner.principal.id.as_str());
    d["remarks"] = "shipments via Rotterdam now".into();
    a.dossiers().update_dossier(&service, did.as_str(), 1, &d).await.unwrap();
    assert_eq!(found(&a, &owner, "Rotterdam").await, vec![did.to_string()]);
    assert!(found(&a, &owner, "Hamburg").await.is_empty(), "the old version's words are gone");
    assert_eq!(a.search_index().index().unwrap().indexed_version(did.as_str()).unwrap(), Some(2));
}

#[tokio::test]
async fn a_destroyed_dossier_is_no_longer_found() {
    let (a, _, clock, _dir) = indexed();
    let sales = caller(&a, &[Role::Sales], "service_delivery").await;
    let did = dossier(&a, &sales, "华东").await;
    let kept = dossier(&a, &sales, "华东").await;
    assert_eq!(found(&a, &sales, "Hamburg").await.len(), 2);

    a.retention().close_dossier(&sales, did.as_str(), a.now()).await.unwrap();
    clock.advance(time::Duration::days(3 * 366));
    let proposer = caller(&a, &[Role::Compliance], "legal_compliance").await;
    let approver = caller(&a, &[Role::Compliance], "legal_compliance").await;
    let batch = a.retention().propose_batch(&proposer).await.unwrap();
    a.retention().approve_batch(&approver, batch.batch_id.as_str()).await.unwrap();

    assert_eq!(found(&a, &sales, "Hamburg").await, vec![kept.to_string()]);
    let ix = a.search_index().index().unwrap();
    assert_eq!(ix.indexed_version(did.as_str()).unwrap(), None, "removed from the index, not only hidden");
    assert_eq!(ix.indexed_version(kept.as_str()).unwrap(), Some(1));
    let report = a.search_index().repair_index().unwrap();
    assert_eq!((report.reindexed, report.removed), (0, 0), "nothing to repair: {report:?}");
}

#[tokio::test]
async fn an_erased_person_is_no_longer_found_and_their_blind_terms_leave_the_raw_index() {
    let (a, _, _, _dir) = indexed();
    let sales = caller(&a, &[Role::Sales], "service_delivery").await;
    let did = dossier(&a, &sales, "华东").await.to_string();
    assert_eq!(found(&a, &sales, "13912345688").await, vec![did.clone()]);
    assert_eq!(found(&a, &sales, "张伟").await, vec![did.clone()]);
    let view = a.dossiers().read_dossier(&sales, &did, None).await.unwrap();
    let zhang = view.document["contacts"][0]["subject_id"].as_str().map(str::to_owned);
    let zhang = zhang.unwrap_or_else(|| panic!("the contact's id: {}", view.document["contacts"][0]));

    // The blind terms of the person's phone and name are in the raw index
    // (every segment, deleted documents included); the erasure takes them
    // out of it, not only out of the answers (GB/T 35273 §3.10).
    let ix = a.search_index().index().unwrap();
    ix.indexed_version(&did).unwrap();
    for v in ["13912345688", "张伟"] {
        assert!(ix.segments_hold_blind(v).unwrap(), "{v}: the blind term is in the index before the erasure");
    }
    let officer = caller(&a, &[Role::Compliance], "dsr").await;
    a.retention().erase_subject(&officer, &zhang, "consent_withdrawn").await.unwrap();
    ix.indexed_version(&did).unwrap();
    for v in ["13912345688", "张伟"] {
        assert!(!ix.segments_hold_blind(v).unwrap(), "{v}: an erased person's blind term left in the raw index");
    }
    assert!(ix.segments_hold_blind("13800138021").unwrap(), "the other contact's stays");

    assert!(found(&a, &sales, "13912345688").await.is_empty(), "the erased person's phone");
    assert!(found(&a, &sales, "张伟").await.is_empty(), "the erased person's name");
    assert_eq!(found(&a, &sales, "13800138021").await, vec![did.clone()], "the other contact stays");
    assert_eq!(found(&a, &sales, "Hamburg").await, vec![did], "the business record stays");
}
