//! Contract documents tested where they live: the memory store, the
//! shipped policies, the manual clock; no HTTP.
use super::{DocumentMeta, CHUNK};
use crate::archive::testkit::{archive, archive_with_clock, caller, last_entry, sales_dossier};
use crate::archive::{Archive, ArchiveError, RequestCtx};
use crate::audit::Outcome;
use crate::crypto::KeyRef;
use crate::domain::{DossierId, Role};
use crate::store::{keys, Cf, KvStore, MemStore, Op};

/// A marker that stands for the document's confidential text.
const MARKER: &[u8] = b"CONTRACT-CLAUSE-7731";

/// Three and a bit chunks: a marker, then bytes that repeat no chunk.
fn contract() -> Vec<u8> {
    let mut data = MARKER.to_vec();
    data.extend((0..(2 * CHUNK + 22_000) as u32).map(|i| (i.wrapping_mul(31) ^ (i >> 9)) as u8));
    data
}

/// Uploads `data` as `name` in pieces that do not line up with the chunks.
async fn upload(a: &Archive, ctx: &RequestCtx, id: &str, name: &str, data: &[u8]) -> DocumentMeta {
    let mut up = a.documents().begin_upload(ctx, id, name, "application/pdf", 1 << 20).await.unwrap();
    for piece in data.chunks(10_007) {
        a.documents().upload_bytes(&mut up, piece).unwrap();
    }
    a.documents().finish_upload(ctx, up).await.unwrap()
}

/// The whole document, read chunk by chunk as a download streams it.
async fn download(a: &Archive, ctx: &RequestCtx, id: &str, name: &str) -> Result<Vec<u8>, ArchiveError> {
    let (_, mut reader) = a.documents().open_document(ctx, id, name).await?;
    let mut out = Vec::new();
    while let Some(chunk) = a.documents().read_chunk(&mut reader)? {
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The stored chunk keys of a dossier's documents, in key order.
fn chunk_keys(store: &MemStore, did: &DossierId) -> Vec<Vec<u8>> {
    let prefix = keys::all_chunks_prefix(did);
    store.scan(Cf::Documents, &prefix, &prefix).map(|r| r.unwrap().0).collect()
}

/// How many document records (metadata and chunks) a dossier has.
fn stored(store: &MemStore, did: &DossierId) -> usize {
    let meta = keys::documents_prefix(did);
    store.scan(Cf::Documents, &meta, &meta).count() + chunk_keys(store, did).len()
}

/// A service caller of the dossier's region (who may update it) and the
/// fixture dossier, owned by a sales caller.
async fn service_and_dossier(a: &Archive) -> (RequestCtx, RequestCtx, DossierId) {
    let (sales, made) = sales_dossier(a).await;
    let service = caller(a, &[Role::Service], "service_delivery").await;
    (service, sales, made.id)
}

#[tokio::test]
async fn a_document_uploaded_in_pieces_is_sealed_in_chunks_and_read_back_byte_identical() {
    let (a, store) = archive();
    let (service, sales, did) = service_and_dossier(&a).await;
    let id = did.as_str();
    let data = contract();

    let meta = upload(&a, &service, id, "contract-2026.pdf", &data).await;
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(meta.chunks, 3, "64 KiB chunks: two full and the rest");
    assert_eq!(meta.sha256, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data)));
    assert_eq!(meta.actor, service.principal.id);
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("document.put", Outcome::Allow));
    assert!(e.body.reason.contains(&meta.sha256), "{}", e.body.reason);
    assert_eq!(chunk_keys(&store, &did).len(), 3);
    for row in store.scan(Cf::Documents, b"", b"") {
        let (_, raw) = row.unwrap();
        assert!(!raw.windows(MARKER.len()).any(|w| w == MARKER), "the content is sealed");
    }

    // The owner reads it back, as does service; each read is audited.
    assert_eq!(download(&a, &sales, id, "contract-2026.pdf").await.unwrap(), data);
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("document.get", Outcome::Allow));
    assert_eq!(e.body.actor, sales.principal.id.as_str());
    assert_eq!(download(&a, &service, id, "contract-2026.pdf").await.unwrap(), data);
    let listed = a.documents().list_documents(&sales, id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].name.as_str(), listed[0].size), ("contract-2026.pdf", data.len() as u64));
    assert_eq!(last_entry(&store).body.action, "document.list");
}

#[tokio::test]
async fn an_empty_document_is_one_chunk_and_reads_back_empty() {
    let (a, store) = archive();
    let (service, sales, did) = service_and_dossier(&a).await;
    let meta = upload(&a, &service, did.as_str(), "empty.txt", b"").await;
    assert_eq!((meta.size, meta.chunks), (0, 1));
    assert_eq!(chunk_keys(&store, &did).len(), 1);
    assert_eq!(download(&a, &sales, did.as_str(), "empty.txt").await.unwrap(), Vec::<u8>::new());
}

#[tokio::test]
async fn an_upload_by_a_caller_who_may_not_update_the_dossier_is_refused_audited_and_stores_nothing() {
    let (a, store) = archive();
    let (_, sales, did) = service_and_dossier(&a).await;
    let id = did.as_str();
    // The owner is sales, and sales do not update dossiers (interactions only).
    let refused = a.documents().begin_upload(&sales, id, "contract.pdf", "application/pdf", 1 << 20).await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{:?}", refused.err());
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("document.put", Outcome::Deny));
    assert_eq!(e.body.resource, id);
    // Service of another region may not either.
    let mut elsewhere = caller(&a, &[Role::Service], "service_delivery").await;
    elsewhere.principal.region = "华南".into();
    let refused = a.documents().begin_upload(&elsewhere, id, "contract.pdf", "application/pdf", 1 << 20).await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{:?}", refused.err());
    let e = last_entry(&store);
    assert_eq!(
        (e.body.action.as_str(), e.body.outcome, e.body.actor.as_str()),
        ("document.put", Outcome::Deny, elsewhere.principal.id.as_str())
    );
    assert_eq!(stored(&store, &did), 0, "nothing stored");
}

#[tokio::test]
async fn a_name_that_is_not_a_plain_file_name_or_already_taken_is_refused_and_audited() {
    let (a, store) = archive();
    let (service, _, did) = service_and_dossier(&a).await;
    let id = did.as_str();
    let too_long = "a".repeat(129);
    for name in ["", ".hidden", "../keys", "a/b.pdf", "张伟的合同.pdf", "with space.pdf", too_long.as_str()] {
        let refused = a.documents().begin_upload(&service, id, name, "application/pdf", 1 << 20).await;
        assert!(matches!(refused, Err(ArchiveError::BadRequest(_))), "{name:?}: {:?}", refused.err());
        let e = last_entry(&store);
        assert_eq!((e.body.action.as_str(), e.body.outcome), ("document.put", Outcome::Error), "{name:?}");
        assert!(!e.body.reason.contains("张伟"), "the name refused is not written into the log");
    }
    assert_eq!(stored(&store, &did), 0);

    upload(&a, &service, id, "contract.pdf", b"v1").await;
    let again = a.documents().begin_upload(&service, id, "contract.pdf", "application/pdf", 1 << 20).await;
    assert!(matches!(again, Err(ArchiveError::Conflict(_))), "documents are never overwritten: {:?}", again.err());
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("document.put", Outcome::Error));
    assert_eq!(download(&a, &service, id, "contract.pdf").await.unwrap(), b"v1");
}

#[tokio::test]
async fn an_upload_over_its_limit_is_refused_and_its_abort_deletes_what_it_wrote() {
    let (a, store) = archive();
    let (service, _, did) = service_and_dossier(&a).await;
    let id = did.as_str();
    let limit = (CHUNK + 100) as u64;
    let mut up = a.documents().begin_upload(&service, id, "scan.pdf", "application/pdf", limit).await.unwrap();
    a.documents().upload_bytes(&mut up, &vec![7u8; CHUNK]).unwrap();
    assert_eq!(chunk_keys(&store, &did).len(), 1, "a full chunk is written as it arrives");
    let over = a.documents().upload_bytes(&mut up, &[7u8; 101]);
    assert!(matches!(over, Err(ArchiveError::TooLarge(l)) if l == limit), "{over:?}");

    a.documents().abort_upload(&service, up, "over the size limit").await.unwrap();
    assert!(chunk_keys(&store, &did).is_empty(), "the chunks written are deleted");
    assert_eq!(stored(&store, &did), 0, "no metadata either");
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("document.put", Outcome::Error));
    assert!(e.body.reason.contains("scan.pdf not stored: over the size limit"), "{}", e.body.reason);
    let missing = download(&a, &service, id, "scan.pdf").await;
    assert!(matches!(missing, Err(ArchiveError::NotFound(_))), "{missing:?}");
    assert!(a.documents().list_documents(&service, id).await.unwrap().is_empty());
}

#[tokio::test]
async fn another_callers_download_is_refused_and_audited() {
    let (a, store) = archive();
    let (service, _, did) = service_and_dossier(&a).await;
    let id = did.as_str();
    upload(&a, &service, id, "contract.pdf", &contract()).await;

    let other = caller(&a, &[Role::Sales], "service_delivery").await;
    let refused = download(&a, &other, id, "contract.pdf").await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "another's customer: {:?}", refused.err());
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("document.get", Outcome::Deny));
    assert_eq!(e.body.actor, other.principal.id.as_str());
    let refused = a.documents().list_documents(&other, id).await;
    assert!(matches!(refused, Err(ArchiveError::Forbidden { .. })), "{:?}", refused.err());
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("document.list", Outcome::Deny));
}

#[tokio::test]
async fn a_document_of_a_destroyed_dossier_is_gone_with_its_chunks() {
    let (a, store, clock) = archive_with_clock();
    let (service, sales, did) = service_and_dossier(&a).await;
    let id = did.as_str();
    upload(&a, &service, id, "contract.pdf", &contract()).await;
    a.retention().close_dossier(&sales, id, a.now()).await.unwrap();
    clock.advance(time::Duration::days(3 * 366));
    let proposer = caller(&a, &[Role::Compliance], "legal_compliance").await;
    let approver = caller(&a, &[Role::Compliance], "legal_compliance").await;
    let batch = a.retention().propose_batch(&proposer).await.unwrap();
    let done = a.retention().approve_batch(&approver, batch.batch_id.as_str()).await.unwrap();
    let result = done.results.iter().find(|r| r.target == crate::policy::retention::Target::Dossier(did.clone()));
    let result = result.expect("the dossier is in the batch");
    assert!(result.documents.iter().any(|d| d.starts_with("contract.pdf sha256:")), "{:?}", result.documents);

    let gone = download(&a, &sales, id, "contract.pdf").await;
    assert!(matches!(gone, Err(ArchiveError::Gone { .. })), "{:?}", gone.err());
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("document.get", Outcome::Error));
    assert!(chunk_keys(&store, &did).is_empty(), "the chunks are deleted with the dossier");
    assert!(!a.keyring().exists(&KeyRef::Dossier(did.clone())).unwrap(), "its key is shredded");
}

#[tokio::test]
async fn a_document_whose_dossier_key_was_shredded_is_refused_not_shown() {
    let (a, store) = archive();
    let (service, sales, did) = service_and_dossier(&a).await;
    let id = did.as_str();
    upload(&a, &service, id, "contract.pdf", &contract()).await;
    // A reader opened before the key went keeps the key it holds: a download
    // under way ends; no new one starts.
    let (_, mut reader) = a.documents().open_document(&sales, id, "contract.pdf").await.unwrap();
    a.keyring().shred(&[KeyRef::Dossier(did.clone())], vec![]).unwrap();
    assert!(a.documents().read_chunk(&mut reader).unwrap().is_some());

    let refused = download(&a, &sales, id, "contract.pdf").await;
    assert!(
        matches!(refused, Err(ArchiveError::Conflict(ref why)) if why.contains("key was destroyed")),
        "{:?}",
        refused.err()
    );
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("document.get", Outcome::Error), "not handed out");
    assert_eq!(chunk_keys(&store, &did).len(), 3, "only the key went");
    let refused = a.documents().begin_upload(&service, id, "later.pdf", "application/pdf", 1 << 20).await;
    assert!(refused.is_err(), "nothing is sealed under a destroyed key");
    let e = last_entry(&store);
    assert_eq!((e.body.action.as_str(), e.body.outcome), ("document.put", Outcome::Error), "audited as refused");
    assert_eq!(chunk_keys(&store, &did).len(), 3);
}

#[tokio::test]
async fn a_tampered_chunk_is_an_error_not_erased_content() {
    let (a, store) = archive();
    let (service, sales, did) = service_and_dossier(&a).await;
    let id = did.as_str();
    let data = contract();
    upload(&a, &service, id, "contract.pdf", &data).await;
    let chunks = chunk_keys(&store, &did);
    let mut raw = store.get(Cf::Documents, &chunks[1]).unwrap().unwrap();
    *raw.last_mut().unwrap() ^= 0x01;
    store.write(&[Op::Put(Cf::Documents, chunks[1].clone(), raw)], true).unwrap();

    let (_, mut reader) = a.documents().open_document(&sales, id, "contract.pdf").await.unwrap();
    let first = a.documents().read_chunk(&mut reader).unwrap().unwrap();
    assert_eq!(first, data[..CHUNK], "the chunk before it is intact");
    let broken = a.documents().read_chunk(&mut reader);
    assert!(matches!(broken, Err(ArchiveError::Internal(ref e)) if e.to_string().contains("tampered")), "{broken:?}");
}

#[tokio::test]
async fn chunks_swapped_in_the_store_do_not_open() {
    let (a, store) = archive();
    let (service, sales, did) = service_and_dossier(&a).await;
    let id = did.as_str();
    upload(&a, &service, id, "contract.pdf", &contract()).await;
    let chunks = chunk_keys(&store, &did);
    let zero = store.get(Cf::Documents, &chunks[0]).unwrap().unwrap();
    let one = store.get(Cf::Documents, &chunks[1]).unwrap().unwrap();
    store
        .write(&[Op::Put(Cf::Documents, chunks[0].clone(), one), Op::Put(Cf::Documents, chunks[1].clone(), zero)], true)
        .unwrap();
    let (_, mut reader) = a.documents().open_document(&sales, id, "contract.pdf").await.unwrap();
    let broken = a.documents().read_chunk(&mut reader);
    assert!(matches!(broken, Err(ArchiveError::Internal(_))), "each chunk is bound to its place: {broken:?}");
}
