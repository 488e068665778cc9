//! Durability, tamper evidence and no plaintext at rest, against the real
//! binary and the real RocksDB files.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use custos::audit::entry_key;
use custos::store::{Cf, KvStore, Op, RocksStore};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_concurrent_writes_loses_no_acknowledged_dossier() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let mut server = BinaryServer::start(&data, &log);
    let client = reqwest::Client::new();
    let (sid, token) = principal(&client, &server.base, &["service"], "华东").await;

    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut writers = vec![];
    for w in 0..16 {
        let (client, base, token, acked) = (client.clone(), server.base.clone(), token.clone(), acked.clone());
        let mut body = fixture(w % 24, &sid);
        body["customer"]["region"] = json!("华东");
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("崩溃测试公司-{w}-{i}");
                body["customer"]["name"] = json!(name);
                let r = client
                    .post(format!("{base}/v1/dossiers"))
                    .bearer_auth(&token)
                    .header("X-Purpose", "service_delivery")
                    .json(&body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
                        acked.lock().unwrap().push((id, name));
                    }
                    Ok(r) => panic!("unexpected {}", r.status()),
                    Err(_) => break, // the server died under us
                }
            }
        }));
    }
    // Let writes pile up, then pull the plug mid-stream.
    while acked.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 200);

    let out = audit_verify(&data);
    assert!(out.status.success(), "chain broken after kill -9: {}", String::from_utf8_lossy(&out.stderr));

    let mut server = BinaryServer::start(&data, &log);
    let (_, compliance) = principal(&client, &server.base, &["compliance"], "").await;
    for (id, name) in &acked {
        let r = client
            .get(format!("{}/v1/dossiers/{id}", server.base))
            .bearer_auth(&token)
            .header("X-Purpose", "service_delivery")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "acknowledged dossier {id} lost");
        assert_eq!(r.json::<Value>().await.unwrap()["customer"]["name"], json!(name));
    }
    // Every acknowledged create has its audit entry.
    let mut audited = std::collections::HashSet::new();
    let mut cursor = 0u64;
    loop {
        let page: Value = client
            .get(format!("{}/v1/audit/entries?action=dossier.create&limit=1000&cursor={cursor}", server.base))
            .bearer_auth(&compliance)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for e in page["entries"].as_array().unwrap() {
            audited.insert(e["resource"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.parse().unwrap(),
            None => break,
        }
    }
    assert!(acked.iter().all(|(id, _)| audited.contains(id)));
    server.terminate();
    let out = audit_verify(&data);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_removed_or_reordered_audit_entry_fails_verification() {
    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    for i in 0..4 {
        app.create(&service, "service_delivery", &fixture(i, &sid)).await;
    }
    let dir = app.stop().await;
    let data = dir.path().join("data");
    let out = audit_verify(&data);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact"));

    let with_store = |f: &dyn Fn(&RocksStore)| {
        let store = RocksStore::open(&data.join("db")).unwrap();
        f(&store);
    };
    let get = |s: &RocksStore, seq: u64| s.get(Cf::Audit, &entry_key(seq)).unwrap().unwrap();
    let put = |s: &RocksStore, seq: u64, v: Vec<u8>| {
        s.write(&[Op::Put(Cf::Audit, entry_key(seq).to_vec(), v)], true).unwrap()
    };
    let expect_bad = |seq: u64| {
        let out = audit_verify(&data);
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("first bad sequence number {seq}")), "{err}");
    };

    // One byte changed in the middle of entry 6.
    let original = Mutex::new(vec![]);
    with_store(&|s| {
        let raw = get(s, 6);
        *original.lock().unwrap() = raw.clone();
        let mut bad = raw.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x01;
        put(s, 6, bad);
    });
    expect_bad(6);
    with_store(&|s| put(s, 6, original.lock().unwrap().clone()));
    assert!(audit_verify(&data).status.success(), "restored log verifies again");

    // Entries 3 and 4 swapped.
    with_store(&|s| {
        let (a, b) = (get(s, 3), get(s, 4));
        put(s, 3, b);
        put(s, 4, a);
    });
    expect_bad(3);
    with_store(&|s| {
        let (a, b) = (get(s, 3), get(s, 4));
        put(s, 3, b);
        put(s, 4, a);
    });
    assert!(audit_verify(&data).status.success());

    // Entry 5 removed.
    with_store(&|s| s.write(&[Op::Delete(Cf::Audit, entry_key(5).to_vec())], true).unwrap());
    expect_bad(5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_value_in_any_file_or_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let mut server = BinaryServer::start(&data, &log);
    let client = reqwest::Client::new();
    let (sid, token) = principal(&client, &server.base, &["service"], "华东").await;

    let mut needles: Vec<String> = vec![];
    let mut ids = vec![];
    for (i, mut f) in fixtures().into_iter().enumerate() {
        f["owner"] = json!(sid);
        f["customer"]["region"] = json!("华东");
        for c in f["contacts"].as_array().unwrap() {
            for k in ["name", "phone", "email", "id_number"] {
                if let Some(v) = c[k].as_str() {
                    needles.push(v.to_owned());
                }
            }
        }
        for p in ["/customer/name", "/customer/address", "/customer/credit_code", "/finance/bank_account", "/remarks"] {
            if let Some(v) = f.pointer(p).and_then(Value::as_str) {
                needles.push(v.to_owned());
            }
        }
        let r = client
            .post(format!("{}/v1/dossiers", server.base))
            .bearer_auth(&token)
            .header("X-Purpose", "service_delivery")
            .json(&f)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "fixture {i}");
        ids.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let r = client
            .get(format!("{}/v1/dossiers/{id}", server.base))
            .bearer_auth(&token)
            .header("X-Purpose", "service_delivery")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // A rejected body carrying personal values must not leak them either.
    let mut bad = fixture(0, &sid);
    bad["contacts"][0]["wechat"] = json!("wx-泄露测试-8848");
    bad["contacts"][0]["phone"] = json!("phone 13711112222 泄露");
    needles.push("wx-泄露测试-8848".into());
    needles.push("13711112222".into());
    let r = client
        .post(format!("{}/v1/dossiers", server.base))
        .bearer_auth(&token)
        .header("X-Purpose", "service_delivery")
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Personal values smuggled into the path, the purpose and the request id
    // are not recorded either (each of these requests is audited).
    for (path, purpose) in [
        ("/v1/dossiers/13711112222".to_owned(), "service_delivery"),
        (format!("/v1/dossiers/{}", ids[0]), "p13711112222"),
        ("/v1/dossiers/wx-泄露测试-8848".to_owned(), "service_delivery"),
    ] {
        let r = client
            .get(format!("{}{path}", server.base))
            .bearer_auth(&token)
            .header("X-Purpose", purpose)
            .header("X-Request-Id", "13711112222")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{path}");
    }
    server.terminate();

    needles.sort();
    needles.dedup();
    assert!(needles.len() > 80, "{}", needles.len());
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("serving"), "the log was captured");
    for n in &needles {
        let hits = files_containing(&data, n);
        assert!(hits.is_empty(), "{n:?} found in {hits:?}");
        assert!(!log_text.contains(n.as_str()), "{n:?} found in the server log");
    }
    assert!(files_containing(&data, ADMIN_TOKEN).is_empty());
    assert!(!log_text.contains(ADMIN_TOKEN));
    assert!(!log_text.contains(&token));
}

/// The shredding primitive end to end: destroying a subject's key makes that
/// person's fields read as erased in every version, leaves the business
/// record and the other contacts intact, and removes the wrapped key from
/// every file under the data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shredding_a_subject_key_erases_the_person_in_every_version() {
    use custos::crypto::{KeyRef, Keyring, MasterKey};
    use custos::domain::SubjectId;

    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let body = fixture(0, &sid);
    let created: Value = app.create(&service, "service_delivery", &body).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let victim = created["subjects"][0].as_str().unwrap().to_owned();
    let mut v2 = body.clone();
    v2["contacts"][0]["subject_id"] = json!(victim);
    v2["contacts"][1]["subject_id"] = created["subjects"][1].clone();
    v2["remarks"] = json!("第二版");
    let path = format!("/v1/dossiers/{id}");
    assert_eq!(app.put(&service, "service_delivery", &path, Some("1"), &v2).await.status(), StatusCode::OK);
    let dir = app.stop().await;

    let data = dir.path().join("data");
    let key_file = custos::config::default_master_key_file(&data);
    {
        let store: Arc<dyn KvStore> = Arc::new(RocksStore::open(&data.join("db")).unwrap());
        let ring =
            Keyring::open(MasterKey::load(&key_file).unwrap(), store.clone(), 8, custos::config::DEFAULT_KEK_ROTATION)
                .unwrap();
        let r = KeyRef::Subject(SubjectId::parse(&victim).unwrap());
        let wrapped = store.get(Cf::Keys, r.storage_key().as_bytes()).unwrap().unwrap();
        store.purge(Cf::Keys).unwrap();
        assert!(!files_containing_bytes(&data, &wrapped).is_empty(), "precondition: the wrapped key is on disk");
        ring.shred(&[r], vec![]).unwrap();
        assert!(files_containing_bytes(&data, &wrapped).is_empty(), "wrapped key still on disk after shredding");
    }

    let app = spawn_app_in(dir, |_| {}).await;
    for v in ["/versions/1", "/versions/2", ""] {
        let r = app.get(&service, Some("service_delivery"), &format!("{path}{v}")).await;
        assert_eq!(r.status(), StatusCode::OK, "{v}");
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["contacts"][0], json!({"subject_id": victim}), "{v}");
        let erased = redacted(&doc, "erased");
        assert!(
            erased.iter().any(|p| p == "/contacts/0/name") && erased.iter().any(|p| p == "/contacts/0/phone"),
            "{erased:?}"
        );
        assert_eq!(doc["contacts"][1]["name"], body["contacts"][1]["name"], "other contacts intact");
        assert_eq!(doc["customer"], body["customer"], "business record intact");
    }
    // The erased subject cannot be linked to a new dossier again.
    let mut again = fixture(1, &sid);
    again["contacts"][0]["subject_id"] = json!(victim);
    assert_problem(app.create(&service, "service_delivery", &again).await, StatusCode::CONFLICT).await;
    app.stop().await;
}
