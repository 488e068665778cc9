//! Search through the API: Chinese and Latin queries, the blind index,
//! policy filtering, audit, pagination, removal, and repair after a crash.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The text of a fixture's searchable business fields.
fn searchable(f: &Value) -> String {
    let mut parts =
        vec![f["customer"]["name"].clone(), f["customer"]["industry"].clone(), f["customer"]["region"].clone()];
    parts.extend([f["transport"]["cargo_types"].clone(), f["transport"]["routes"].clone(), f["preferences"].clone()]);
    parts.extend([f["remarks"].clone(), f["tags"].clone()]);
    parts.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ").to_lowercase()
}

async fn search(app: &TestApp, token: &str, purpose: &str, query: &str) -> (StatusCode, Value) {
    let r = app.request(Method::GET, token, purpose, &format!("/v1/search?{query}"), None).await;
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn hit_ids(v: &Value) -> Vec<String> {
    v["hits"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_owned()).collect()
}

fn q(s: &str) -> String {
    format!("q={}", urlencode(s))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_blind_index_policy_filter_audit_and_removal() {
    let app = spawn_app().await;
    let (sales_id, sales) = app.principal(&["sales"], "华东").await;
    let (other_sales_id, _) = app.principal(&["sales"], "华南").await;
    let (_, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let fixtures = fixtures();
    let mut ids = Vec::new();
    for (i, _) in fixtures.iter().enumerate() {
        let owner = if i % 2 == 0 { &sales_id } else { &other_sales_id };
        let r = app.create(&service, "service_delivery", &fixture(i, owner)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }

    // Chinese and Latin terms find every dossier that holds them (compliance sees all).
    for term in ["电子产品", "纺织品", "东南亚", "食品", "贸易", "cold chain"] {
        let (status, v) = search(&app, &compliance, "legal_compliance", &format!("{}&limit=100", q(term))).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let found = hit_ids(&v);
        let expected: Vec<&String> = fixtures
            .iter()
            .zip(&ids)
            .filter(|(f, _)| searchable(f).contains(&term.to_lowercase()))
            .map(|(_, id)| id)
            .collect();
        assert!(!expected.is_empty(), "the fixtures hold {term}");
        for id in expected {
            assert!(found.contains(id), "{term} did not find {id}");
        }
        let first = &v["hits"][0];
        assert!(first["customer_name"].is_string() && first["grade"].is_string() && first["region"].is_string());
    }
    // English stemming: a singular finds the plural.
    let (_, v) = search(&app, &compliance, "legal_compliance", &q("chain")).await;
    assert!(!hit_ids(&v).is_empty());

    // The blind index: a full phone or email finds its dossier, a fragment
    // does not; for a caller who sees the person in clear (compliance for a
    // data-subject request). Under legal_compliance compliance sees personal
    // values masked, and a match on one alone is not confirmed.
    let phone = fixtures[0]["contacts"][0]["phone"].as_str().unwrap();
    let email = fixtures[0]["contacts"][0]["email"].as_str().unwrap();
    let name = fixtures[0]["contacts"][0]["name"].as_str().unwrap();
    for exact in [phone, email, &email.to_uppercase(), name] {
        let (_, v) = search(&app, &compliance, "dsr", &q(exact)).await;
        assert_eq!(hit_ids(&v), [ids[0].clone()], "{exact}");
        let (_, v) = search(&app, &compliance, "legal_compliance", &q(exact)).await;
        assert!(!hit_ids(&v).contains(&ids[0]), "{exact} confirmed to a caller who sees it masked");
    }
    for fragment in [&phone[..7], &email[..6], "xx-tech.example.com"] {
        let (_, v) = search(&app, &compliance, "dsr", &q(fragment)).await;
        assert!(!hit_ids(&v).contains(&ids[0]), "fragment {fragment} found the dossier");
    }

    // Policy: sales sees only own dossiers, service only its region.
    let (_, v) = search(&app, &sales, "service_delivery", "limit=100").await;
    let own: Vec<String> = ids.iter().step_by(2).cloned().collect();
    let mut got = hit_ids(&v);
    got.sort();
    let mut want = own.clone();
    want.sort();
    assert_eq!(got, want, "sales: own dossiers only");
    let (_, v) = search(&app, &service, "service_delivery", "limit=100").await;
    let east: Vec<&String> =
        fixtures.iter().zip(&ids).filter(|(f, _)| f["customer"]["region"] == "华东").map(|(_, i)| i).collect();
    assert_eq!(hit_ids(&v).len(), east.len(), "service: own region only");
    assert!(v["hits"].as_array().unwrap().iter().all(|h| h["region"] == "华东"));
    // Filters, limit and cursor.
    let (_, v) = search(&app, &compliance, "legal_compliance", "grade=A&limit=100").await;
    assert!(v["hits"].as_array().unwrap().iter().all(|h| h["grade"] == "A"));
    let all_a = hit_ids(&v);
    let (_, p1) = search(&app, &compliance, "legal_compliance", "grade=A&limit=2").await;
    let cursor = p1["next_cursor"].as_str().unwrap().to_owned();
    let (_, p2) = search(&app, &compliance, "legal_compliance", &format!("grade=A&limit=100&cursor={cursor}")).await;
    let mut paged = hit_ids(&p1);
    paged.extend(hit_ids(&p2));
    assert_eq!(paged, all_a, "two pages make the whole result");
    assert!(p2["next_cursor"].is_null());
    // Bad input.
    for bad in ["limit=0", "limit=x", "grade=Z", "cursor=nonsense", "unknown=1"] {
        let (status, _) = search(&app, &compliance, "legal_compliance", bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = app.get(&compliance, None, "/v1/search?q=x").await;
    assert_problem(r, StatusCode::BAD_REQUEST).await;
    let (status, _) = search(&app, ADMIN_TOKEN, "service_delivery", &q("x")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Every search is audited, the query only as a keyed hash.
    let entries = app.audit(&compliance, "action=search").await;
    assert!(entries.len() >= 15);
    for e in &entries {
        let text = e.to_string();
        assert!(!text.contains(phone) && !text.contains(email) && !text.contains(name), "{text}");
        if e["outcome"] == "allow" {
            assert!(e["reason"].as_str().unwrap().contains("query hmac:"), "{e}");
        }
    }

    // Erasure takes the person out of the index; destruction the dossier.
    let subject = {
        let d: Value =
            app.get(&compliance, Some("dsr"), &format!("/v1/dossiers/{}", ids[0])).await.json().await.unwrap();
        d["contacts"][0]["subject_id"].as_str().unwrap().to_owned()
    };
    let r = app
        .request(
            Method::POST,
            &compliance,
            "dsr",
            &format!("/v1/subjects/{subject}/erasure"),
            Some(json!({"reason": "objection"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, v) = search(&app, &compliance, "dsr", &q(phone)).await;
    assert!(hit_ids(&v).is_empty(), "an erased person's phone finds nothing");
    let (_, v) = search(&app, &compliance, "legal_compliance", &q("电子产品")).await;
    assert!(hit_ids(&v).contains(&ids[0]), "the business record stays searchable");

    // No file under the data directory (index, store, checkpoints) holds a
    // phone, an email or a contact name.
    let data = app.data_dir();
    let dir = app.stop().await;
    for f in &fixtures {
        for c in f["contacts"].as_array().unwrap() {
            for k in ["phone", "email", "name"] {
                let v = c[k].as_str().unwrap();
                assert!(files_containing(&data, v).is_empty(), "{k} in a file under the data directory");
            }
        }
    }
    drop(dir);
}

/// kill -9 before the index committed: the restart repairs it from the
/// store; `custos index rebuild` makes a fresh one.
#[test]
fn index_repair_after_kill_9_and_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let mut server = BinaryServer::start(&data, &log);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (service, compliance, ids) = rt.block_on(async {
        let client = reqwest::Client::new();
        let (owner, service) = principal(&client, &server.base, &["service"], "华东").await;
        let (_, compliance) = principal(&client, &server.base, &["compliance"], "").await;
        let mut ids = vec![];
        for i in 0..6 {
            let r = client
                .post(format!("{}/v1/dossiers", server.base))
                .bearer_auth(&service)
                .header("X-Purpose", "service_delivery")
                .json(&fixture(i, &owner))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            ids.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
        }
        (service, compliance, ids)
    });
    // No search ran: nothing was committed to the index.
    server.kill9();
    let count = |base: &str| {
        let (base, compliance) = (base.to_owned(), compliance.clone());
        rt.block_on(async move {
            let r = reqwest::Client::new()
                .get(format!("{base}/v1/search?limit=100"))
                .bearer_auth(&compliance)
                .header("X-Purpose", "legal_compliance")
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()["hits"].as_array().unwrap().len()
        })
    };
    let mut server = BinaryServer::start(&data, &log);
    assert_eq!(count(&server.base), ids.len(), "start-up repaired the index");
    server.terminate();
    let _ = service;

    // A lost index directory is rebuilt from the store.
    std::fs::remove_dir_all(data.join("index")).unwrap();
    let out = std::process::Command::new(custos_bin())
        .args(["index", "rebuild", "--data-dir"])
        .arg(&data)
        .arg("--policies")
        .arg(policies_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("6 dossier(s)"));
    let mut server = BinaryServer::start(&data, &log);
    assert_eq!(count(&server.base), ids.len());
    server.terminate();
}

/// The index a running server wrote holds no plaintext: opened with
/// tantivy's own API and no custos key, no term of any field and no stored
/// value contains a word of any fixture (names, remarks, regions, routes,
/// contacts), while the same words still find their dossiers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_holds_no_plaintext_readable_with_tantivy() {
    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let mut words: Vec<String> = Vec::new();
    for i in [0, 2] {
        let f = fixture(i, &sid);
        assert_eq!(app.create(&service, "service_delivery", &f).await.status(), StatusCode::CREATED);
        for v in [&f["customer"]["name"], &f["customer"]["industry"], &f["customer"]["region"], &f["remarks"]] {
            words.extend(v.as_str().map(str::to_owned));
        }
        for c in f["contacts"].as_array().unwrap() {
            words.extend(["name", "phone", "email"].iter().filter_map(|k| c[k].as_str().map(str::to_owned)));
        }
        words.extend(f["transport"]["routes"].as_array().unwrap().iter().filter_map(|r| r.as_str().map(str::to_owned)));
    }
    // Searchable as before.
    let (status, found) = search(&app, &service, "service_delivery", &q("电子产品")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hit_ids(&found).len(), 1, "{found}");
    assert_eq!(found["hits"][0]["customer_name"], fixture(0, &sid)["customer"]["name"], "shown from the store");
    let dir = app.stop().await;

    let index = tantivy::Index::open_in_dir(dir.path().join("data").join("index")).unwrap();
    let searcher = index.reader().unwrap().searcher();
    let mut readable = Vec::new();
    for segment in searcher.segment_readers() {
        for (field, _) in index.schema().fields() {
            let inverted = segment.inverted_index(field).unwrap();
            let mut terms = inverted.terms().stream().unwrap();
            while terms.advance() {
                readable.push(String::from_utf8_lossy(terms.key()).into_owned());
            }
        }
        let store = segment.get_store_reader(1).unwrap();
        for doc_id in 0..segment.max_doc() {
            let doc: tantivy::TantivyDocument = store.get(doc_id).unwrap();
            readable.push(format!("{doc:?}"));
        }
    }
    assert!(readable.len() > 20, "{readable:?}");
    // Each word, and each of its two-character pieces (what jieba makes of
    // Chinese), is absent.
    for word in &words {
        let chars: Vec<char> = word.chars().collect();
        let mut pieces = vec![word.clone()];
        pieces.extend(chars.windows(2).filter(|w| w.iter().all(|c| !c.is_ascii())).map(|w| w.iter().collect()));
        for piece in pieces {
            assert!(!readable.iter().any(|t| t.contains(&piece)), "{piece} (of {word}) is readable in the index");
        }
    }
}

/// A person who restricted processing is not found by search, not even by
/// their full phone number; lifting the restriction makes them findable again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_person_is_not_found_by_search() {
    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let f = fixture(0, &sid);
    let created: Value = app.create(&service, "service_delivery", &f).await.json().await.unwrap();
    let person = created["subjects"][0].as_str().unwrap().to_owned();
    let phone = f["contacts"][0]["phone"].as_str().unwrap().to_owned();
    let other_phone = f["contacts"][1]["phone"].as_str().unwrap().to_owned();
    let found = |v: &Value| hit_ids(v).len();
    let (_, v) = search(&app, &service, "service_delivery", &q(&phone)).await;
    assert_eq!(found(&v), 1, "{v}");
    let restriction = format!("/v1/subjects/{person}/restriction");
    let r = app.request(Method::POST, &compliance, "dsr", &restriction, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, v) = search(&app, &service, "service_delivery", &q(&phone)).await;
    assert_eq!(found(&v), 0, "restricted, and still found: {v}");
    // The dossier itself and its other contact are still found.
    let (_, v) = search(&app, &service, "service_delivery", &q(&other_phone)).await;
    assert_eq!(found(&v), 1, "{v}");
    let told = serde_json::json!({"channel": "email", "notified_at": time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339).unwrap()});
    let notice = format!("{restriction}/notice");
    let r = app.request(Method::POST, &compliance, "dsr", &notice, Some(told)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.request(Method::DELETE, &compliance, "dsr", &restriction, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, v) = search(&app, &service, "service_delivery", &q(&phone)).await;
    assert_eq!(found(&v), 1, "lifted: found again: {v}");
    app.stop().await;
}
