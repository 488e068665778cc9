//! Documents: streamed in and out with bounded memory, limits, access,
//! audit, export, and destruction with their dossier.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Deterministic incompressible bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_50_mb_document_streams_in_and_out_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let mut server = BinaryServer::start(&data, &log);
    let pid = server.child.id();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let document = noise(50 * 1024 * 1024, 42);
    let sample = document[10_000_000..10_000_064].to_vec();
    let (before, after, sent_hash, got_hash, size) = rt.block_on(async {
        let client = reqwest::Client::new();
        let base = server.base.clone();
        let (owner, service) = principal(&client, &base, &["service"], "华东").await;
        let r = create_dossier(&client, &base, &service, &fixture(0, &owner)).await;
        let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let body = document;
        let sent_hash = hex::encode(Sha256::digest(&body));
        // Warm up (first use of the documents column family, its memtables,
        // table readers and compaction threads), then measure.
        let r = client
            .put(format!("{base}/v1/dossiers/{id}/documents/warm-up.bin"))
            .bearer_auth(&service)
            .header("X-Purpose", "service_delivery")
            .body(noise(50 * 1024 * 1024, 7))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let before = vm_hwm_kib(pid);
        let r = client
            .put(format!("{base}/v1/dossiers/{id}/documents/contract-2026.pdf"))
            .bearer_auth(&service)
            .header("X-Purpose", "service_delivery")
            .header("Content-Type", "application/pdf")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let stored: Value = r.json().await.unwrap();
        assert_eq!(stored["sha256"], sent_hash.as_str());
        assert_eq!(stored["size"], 50 * 1024 * 1024);
        eprintln!("peak RSS after the upload: {} KiB (before {before} KiB)", vm_hwm_kib(pid));
        let mut r = client
            .get(format!("{base}/v1/dossiers/{id}/documents/contract-2026.pdf"))
            .bearer_auth(&service)
            .header("X-Purpose", "service_delivery")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/pdf");
        let mut h = Sha256::new();
        let mut size = 0usize;
        while let Some(chunk) = r.chunk().await.unwrap() {
            size += chunk.len();
            h.update(&chunk);
        }
        let after = vm_hwm_kib(pid);
        (before, after, sent_hash, hex::encode(h.finalize()), size)
    });
    server.terminate();
    assert_eq!(size, 50 * 1024 * 1024);
    assert_eq!(got_hash, sent_hash);
    let grown_mib = (after.saturating_sub(before)) / 1024;
    // Buffering the document would grow the peak by its whole 50 MiB.
    assert!(grown_mib < 25, "peak memory grew by {grown_mib} MiB for a 50 MiB document ({before} -> {after} KiB)");
    eprintln!("peak RSS grew by {grown_mib} MiB for a 50 MiB upload and download");
    // The document's bytes are stored sealed: not even a 64-byte run of it is on disk.
    assert!(files_containing_bytes(&data, &sample).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_names_access_audit_export_and_destruction() {
    let app = spawn_app_in(tempfile::tempdir().unwrap(), |c| c.max_document_bytes = 1024 * 1024).await;
    let (sales_id, sales) = app.principal(&["sales"], "华东").await;
    let (_, service) = app.principal(&["service"], "华东").await;
    let (_, south) = app.principal(&["service"], "华南").await;
    let (compliance_id, compliance) = app.principal(&["compliance"], "").await;
    let (_, compliance_b) = app.principal(&["compliance"], "").await;
    let r = app.create(&service, "service_delivery", &fixture(0, &sales_id)).await;
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let subject = created["subjects"][0].as_str().unwrap().to_owned();
    let path = format!("/v1/dossiers/{id}/documents/scan-001.png");
    let put = |token: &str, path: &str, body: Vec<u8>| {
        let (token, url) = (token.to_owned(), format!("{}{path}", app.base));
        // A fresh connection each time: the server closes one whose body it refused.
        let client = reqwest::Client::new();
        async move {
            client.put(url).bearer_auth(token).header("X-Purpose", "service_delivery").body(body).send().await.unwrap()
        }
    };

    // Over the limit: 413, and nothing kept (the name is still free).
    assert_problem(put(&service, &path, vec![1u8; 2 * 1024 * 1024]).await, StatusCode::PAYLOAD_TOO_LARGE).await;
    // Names: plain file names only; sales may not upload (no updates); another region neither.
    assert_problem(
        put(&service, &format!("/v1/dossiers/{id}/documents/.hidden"), vec![1]).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_problem(
        put(&service, &format!("/v1/dossiers/{id}/documents/%E5%BC%A0%E4%B8%89.pdf"), vec![1]).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(put(&sales, &path, vec![1]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(put(&south, &path, vec![1]).await.status(), StatusCode::FORBIDDEN);
    let marker = b"DOCUMENT-PLAINTEXT-MARKER-7781 ".repeat(1000);
    let r = put(&service, &path, marker.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let stored: Value = r.json().await.unwrap();
    assert_eq!(stored["size"], marker.len());
    // Immutable: the name is taken.
    assert_problem(put(&service, &path, vec![2]).await, StatusCode::CONFLICT).await;
    // Read: as the dossier (sales owner yes, other region no); an empty document is fine.
    let r = app.get(&sales, Some("service_delivery"), &path).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().to_vec(), marker);
    assert_eq!(app.get(&south, Some("service_delivery"), &path).await.status(), StatusCode::FORBIDDEN);
    assert_problem(
        app.get(&sales, Some("service_delivery"), &format!("/v1/dossiers/{id}/documents/none.pdf")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        put(&service, &format!("/v1/dossiers/{id}/documents/empty.txt"), vec![]).await.status(),
        StatusCode::CREATED
    );
    assert!(app
        .get(&sales, Some("service_delivery"), &format!("/v1/dossiers/{id}/documents/empty.txt"))
        .await
        .bytes()
        .await
        .unwrap()
        .is_empty());
    // Audited like the dossier.
    let entries = app.audit(&compliance, &format!("resource={id}")).await;
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"document.put") && actions.contains(&"document.get"), "{actions:?}");
    // In the subject export, by name and hash.
    let now = time::OffsetDateTime::now_utc();
    let req = app.verified_request(&compliance, &compliance_id, &subject, "access", now).await;
    let r = app
        .request(Method::GET, &compliance, "dsr", &format!("/v1/subjects/{subject}/export?request={req}"), None)
        .await;
    let export: Value = r.json().await.unwrap();
    let docs = &export["dossiers"][0]["documents"];
    assert!(
        docs.as_array()
            .unwrap()
            .contains(&json!({"name": "scan-001.png", "sha256": stored["sha256"], "size": marker.len()})),
        "{docs}"
    );

    // Destroyed with the dossier: 410, named in the certificate, gone from disk.
    let r = app
        .request(
            Method::POST,
            &service,
            "service_delivery",
            &format!("/v1/dossiers/{id}/close"),
            Some(json!({"ended_at": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.request(Method::POST, &compliance, "legal_compliance", "/v1/disposition/batches", None).await;
    let batch: Value = r.json().await.unwrap();
    let r = app
        .request(
            Method::POST,
            &compliance_b,
            "legal_compliance",
            &format!("/v1/disposition/batches/{}/approve", batch["batch_id"].as_str().unwrap()),
            None,
        )
        .await;
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["state"], "done", "{done}");
    assert_problem(app.get(&sales, Some("service_delivery"), &path).await, StatusCode::GONE).await;
    let r = app
        .request(
            Method::GET,
            &compliance,
            "legal_compliance",
            &format!("/v1/certificates/{}", done["certificate_id"].as_str().unwrap()),
            None,
        )
        .await;
    let cert: Value = r.json().await.unwrap();
    let listed = cert["items"][0]["documents"].as_array().unwrap();
    assert!(listed.contains(&json!(format!("scan-001.png sha256:{}", stored["sha256"].as_str().unwrap()))), "{cert}");
    let data = app.data_dir();
    let _dir = app.stop().await;
    assert!(files_containing(&data, "DOCUMENT-PLAINTEXT-MARKER-7781").is_empty());
}
