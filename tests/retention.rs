//! Retention schedules, legal holds, four-eyes destruction, certificates,
//! erasure, the sweep, and a kill -9 in the middle of a destruction.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use custos::audit::checkpoint::NoteVerifier;
use custos::store::{Cf, KvStore, RocksStore};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::macros::datetime;

const T0: time::OffsetDateTime = datetime!(2026-01-05 09:00 UTC);

/// Sales and service in 华东, two compliance officers; the sweep runs only
/// when a test runs it.
fn world() -> WorldBuilder {
    World::at(T0)
        .config(|c| c.retention_interval = None)
        .staff("sales", &["sales"], "华东")
        .staff("service", &["service"], "华东")
        .staff("officer_a", &["compliance"], "总部")
        .staff("officer_b", &["compliance"], "总部")
}

impl World {
    async fn send(
        &self,
        method: Method,
        token: &str,
        purpose: &str,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        self.app.request(method, token, purpose, path, body).await
    }

    /// A dossier from fixture `i` with `status`, created by service; returns (id, subjects).
    async fn dossier(&self, i: usize, status: &str) -> (String, Vec<String>) {
        let (owner, _) = (self.app.principal(&["sales"], "华东").await.0, ());
        let mut body = fixture(i, &owner);
        body["status"] = json!(status);
        body["customer"]["region"] = json!("华东");
        self.app.create_ok(self.token("service"), "service_delivery", &body).await
    }

    async fn due(&self) -> Value {
        let (status, due) =
            self.call(Method::GET, self.token("officer_a"), "legal_compliance", "/v1/disposition/due", None).await;
        assert_eq!(status, StatusCode::OK, "{due}");
        due
    }

    async fn close(&self, id: &str) {
        let (status, v) = self
            .call(
                Method::POST,
                self.token("service"),
                "service_delivery",
                &format!("/v1/dossiers/{id}/close"),
                Some(json!({"ended_at": "2026-01-05T09:00:00Z"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
}

fn due_for<'a>(due: &'a Value, id: &str) -> Option<&'a Value> {
    due["items"].as_array().unwrap().iter().find(|i| i["target"]["id"] == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_customer_is_destroyed_after_three_years_with_four_eyes_and_a_certificate() {
    let w = world().start().await;
    let (id, subjects) = w.dossier(0, "active").await;
    let (kept, _) = w.dossier(1, "active").await;
    // Close: a new version with status closed; a sales person from another account may not.
    let (status, _) = w
        .call(
            Method::POST,
            w.token("sales"),
            "service_delivery",
            &format!("/v1/dossiers/{id}/close"),
            Some(json!({"ended_at": "2026-01-05T09:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, p) = w
        .call(
            Method::POST,
            w.token("service"),
            "service_delivery",
            &format!("/v1/dossiers/{id}/close"),
            Some(json!({"ended_at": "soon"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    w.close(&id).await;
    let (_, d) = w.call(Method::GET, w.token("service"), "service_delivery", &format!("/v1/dossiers/{id}"), None).await;
    assert_eq!(d["status"], "closed");
    assert_eq!(d["version"], 2);
    let (_, versions) =
        w.call(Method::GET, w.token("service"), "service_delivery", &format!("/v1/dossiers/{id}/versions"), None).await;
    let version_hashes: Vec<String> =
        versions.as_array().unwrap().iter().map(|v| v["hash"].as_str().unwrap().to_owned()).collect();

    // Not due before three years.
    w.clock().advance(time::Duration::days(365 * 3 - 5));
    assert!(due_for(&w.due().await, &id).is_none());
    w.clock().advance(time::Duration::days(10));
    let due = w.due().await;
    let item = due_for(&due, &id).expect("due after 3 years").clone();
    assert_eq!(item["rule"], "closed-customer");
    assert!(item["citation"].as_str().unwrap().contains("PIPL"));
    assert_eq!(item["approval"], true);
    assert!(due_for(&due, &kept).is_none(), "an active customer is not due");

    // A legal hold blocks it: it is listed as blocked and never proposed.
    let (status, hold) = w
        .call(
            Method::POST,
            w.token("officer_a"),
            "legal_compliance",
            &format!("/v1/dossiers/{id}/legal-holds"),
            Some(json!({"reason": "诉讼保全", "case_ref": "(2029)沪0115民初1234号"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    let hold_id = hold["hold_id"].as_str().unwrap().to_owned();
    let due = w.due().await;
    assert_eq!(due_for(&due, &id).unwrap()["blocked_by"], json!([hold_id]));
    let (status, _) =
        w.call(Method::POST, w.token("officer_a"), "legal_compliance", "/v1/disposition/batches", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing unblocked to propose");
    // Only compliance places and releases holds.
    let (status, _) = w
        .call(
            Method::POST,
            w.token("service"),
            "service_delivery",
            &format!("/v1/dossiers/{id}/legal-holds"),
            Some(json!({"reason": "x", "case_ref": "y"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = w
        .send(
            Method::DELETE,
            w.token("officer_a"),
            "legal_compliance",
            &format!("/v1/dossiers/{id}/legal-holds/{hold_id}"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // Propose (officer A); A may not approve; B approves and it executes.
    let (status, batch) =
        w.call(Method::POST, w.token("officer_a"), "legal_compliance", "/v1/disposition/batches", None).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let batch_id = batch["batch_id"].as_str().unwrap().to_owned();
    assert_eq!(batch["items"][0]["target"]["id"], id.as_str());
    let approve = format!("/v1/disposition/batches/{batch_id}/approve");
    let (status, refused) = w.call(Method::POST, w.token("officer_a"), "legal_compliance", &approve, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the proposer may not approve");
    assert_eq!(refused["denial"], "four-eyes", "the refusal's code, not words to parse: {refused}");
    let (status, refused) = w.call(Method::POST, w.token("service"), "service_delivery", &approve, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(refused["denial"], "policy", "{refused}");
    let (status, done) = w.call(Method::POST, w.token("officer_b"), "legal_compliance", &approve, None).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "done");
    let cert_id = done["certificate_id"].as_str().unwrap().to_owned();
    let (status, _) = w.call(Method::POST, w.token("officer_b"), "legal_compliance", &approve, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "a batch executes once");

    // 410 with the certificate on every path.
    for path in
        [format!("/v1/dossiers/{id}"), format!("/v1/dossiers/{id}/versions"), format!("/v1/dossiers/{id}/versions/1")]
    {
        let r = w.app.get(w.token("service"), Some("service_delivery"), &path).await;
        let p = assert_problem(r, StatusCode::GONE).await;
        assert_eq!(p["certificate_id"], cert_id.as_str(), "{path}");
    }
    let r = w
        .app
        .put(
            w.token("service"),
            "service_delivery",
            &format!("/v1/dossiers/{id}"),
            Some("2"),
            &fixture(0, "prn_00000000000000000000000000"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::GONE);
    // The other dossier is untouched.
    assert_eq!(
        w.app.get(w.token("service"), Some("service_delivery"), &format!("/v1/dossiers/{kept}")).await.status(),
        StatusCode::OK
    );

    // The certificate: signed, complete, and free of personal values.
    let (status, cert) = w
        .call(Method::GET, w.token("officer_a"), "legal_compliance", &format!("/v1/certificates/{cert_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{cert}");
    // An auditor reads it too (and still nothing of any dossier).
    let (_, auditor) = w.app.principal(&["auditor"], "").await;
    let (status, seen) =
        w.call(Method::GET, &auditor, "legal_compliance", &format!("/v1/certificates/{cert_id}"), None).await;
    assert_eq!((status, &seen), (StatusCode::OK, &cert), "the auditor reads the same certificate");
    let r = w.app.get(&auditor, Some("legal_compliance"), &format!("/v1/dossiers/{kept}")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let verifier = NoteVerifier::parse(cert["signature"]["verifier_key"].as_str().unwrap()).unwrap();
    let text = verifier.open(cert["signature"]["signed_note"].as_str().unwrap()).expect("signature verifies");
    let signed: Value = serde_json::from_str(text.trim_end()).unwrap();
    let mut unsigned = cert.clone();
    unsigned.as_object_mut().unwrap().remove("signature");
    assert_eq!(signed, unsigned, "the signed text is the certificate");
    let item = &cert["items"][0];
    assert_eq!(item["target"], json!({"kind": "dossier", "id": id}));
    assert_eq!(item["rule"], "closed-customer");
    assert_eq!(item["outcome"], "destroyed");
    assert_eq!(item["subjects"], json!(subjects));
    assert!(item["keys_shredded"].as_array().unwrap().contains(&json!(format!("d/{id}"))));
    assert!(item["keys_shredded"].as_array().unwrap().contains(&json!(format!("s/{}", subjects[0]))));
    let mut hashes: Vec<String> =
        item["ciphertext_sha256"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_owned()).collect();
    hashes.sort();
    let mut expected = version_hashes.clone();
    expected.sort();
    assert_eq!(hashes, expected, "the certificate names the destroyed version records");
    assert!(item["audit_seq"].as_u64().is_some());
    assert!(cert["proposer"].is_string() && cert["approver"].is_string() && cert["proposer"] != cert["approver"]);
    assert!(cert["checkpoint"].as_str().unwrap().contains('\u{2014}'), "a signed checkpoint");
    let body = fixture(0, "x");
    for v in [
        body["contacts"][0]["name"].as_str().unwrap(),
        body["contacts"][0]["phone"].as_str().unwrap(),
        body["remarks"].as_str().unwrap(),
    ] {
        assert!(!cert.to_string().contains(v), "no personal value in the certificate");
    }
    // The destruction entry is in the audit log, against the dossier.
    let entries = w.app.audit(w.token("officer_a"), &format!("resource={id}&action=dossier.destroy")).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["seq"], item["audit_seq"]);

    // The chain still verifies from genesis.
    let dir = w.app.stop().await;
    let out = audit_verify(&dir.path().join("data"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destruction_leaves_no_ciphertext_key_or_plaintext_in_any_file() {
    let w = world().start().await;
    let (id, subjects) = w.dossier(0, "prospect").await;
    let data = w.app.data_dir();
    let dir = w.app.stop().await;
    // What is on disk now: the version record and the wrapped keys.
    let (record, dossier_key, subject_key) = {
        let store = RocksStore::open(&data.join("db")).unwrap();
        let mut k = format!("{id}/").into_bytes();
        k.extend_from_slice(&1u32.to_be_bytes());
        let record = store.get(Cf::Versions, &k).unwrap().unwrap();
        let dk = store.get(Cf::Keys, format!("d/{id}").as_bytes()).unwrap().unwrap();
        let sk = store.get(Cf::Keys, format!("s/{}", subjects[0]).as_bytes()).unwrap().unwrap();
        store.purge(Cf::Versions).unwrap();
        (record, dk, sk)
    };
    let sealed_tail = record[record.len() - 64..].to_vec();
    assert!(!files_containing_bytes(&data, &sealed_tail).is_empty(), "precondition: the ciphertext is on disk");

    let w = World::at(T0)
        .in_dir(dir)
        .config(|c| c.retention_interval = None)
        .staff("a", &["compliance"], "")
        .staff("b", &["compliance"], "")
        .start()
        .await;
    let (app, a, b) = (&w.app, w.token("a"), w.token("b"));
    w.clock().advance(time::Duration::days(366));
    let propose = app
        .client
        .post(format!("{}/v1/disposition/batches", app.base))
        .bearer_auth(a)
        .header("X-Purpose", "legal_compliance")
        .send()
        .await
        .unwrap();
    assert_eq!(propose.status(), StatusCode::CREATED);
    let batch: Value = propose.json().await.unwrap();
    assert_eq!(batch["items"][0]["rule"], "inactive-prospect");
    let r = app
        .client
        .post(format!("{}/v1/disposition/batches/{}/approve", app.base, batch["batch_id"].as_str().unwrap()))
        .bearer_auth(b)
        .header("X-Purpose", "legal_compliance")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let _dir = w.app.stop().await; // kept: dropping it deletes the directory

    for (what, bytes) in [("ciphertext", &sealed_tail), ("dossier key", &dossier_key), ("subject key", &subject_key)] {
        assert!(files_containing_bytes(&data, bytes).is_empty(), "{what} still on disk after destruction");
    }
    let body = fixture(0, "x");
    for v in [
        "张伟",
        "13912345688",
        "zhang.wei@xx-tech.example.com",
        body["remarks"].as_str().unwrap(),
        "6222021001123456789",
    ] {
        assert!(files_containing(&data, v).is_empty(), "plaintext found after destruction");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_shreds_the_person_everywhere_or_names_what_blocks_it() {
    let w = world().start().await;
    let (id, subjects) = w.dossier(0, "active").await;
    // A second version, so the person is in two versions.
    let (_, cur) =
        w.call(Method::GET, w.token("service"), "service_delivery", &format!("/v1/dossiers/{id}"), None).await;
    let mut v2 = fixture(0, cur["owner"].as_str().unwrap());
    v2["contacts"][0]["subject_id"] = json!(subjects[0]);
    v2["contacts"][1]["subject_id"] = json!(subjects[1]);
    v2["remarks"] = json!("第二版");
    assert_eq!(
        w.app.put(w.token("service"), "service_delivery", &format!("/v1/dossiers/{id}"), Some("1"), &v2).await.status(),
        StatusCode::OK
    );
    let erase = format!("/v1/subjects/{}/erasure", subjects[0]);

    // Only compliance, for dsr; bad body 422.
    let (status, _) =
        w.call(Method::POST, w.token("service"), "service_delivery", &erase, Some(json!({"reason": "x"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = w.call(Method::POST, w.token("officer_a"), "dsr", &erase, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A legal hold on a dossier naming the person blocks it: 409 naming the hold, restricted instead.
    let (_, hold) = w
        .call(
            Method::POST,
            w.token("officer_a"),
            "legal_compliance",
            &format!("/v1/dossiers/{id}/legal-holds"),
            Some(json!({"reason": "r", "case_ref": "c-1"})),
        )
        .await;
    let hold_id = hold["hold_id"].as_str().unwrap();
    let (status, p) =
        w.call(Method::POST, w.token("officer_a"), "dsr", &erase, Some(json!({"reason": "consent_withdrawn"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert!(p["detail"].as_str().unwrap().contains(hold_id), "{p}");
    let (_, s) = w.call(Method::GET, w.token("officer_a"), "dsr", &format!("/v1/subjects/{}", subjects[0]), None).await;
    assert_eq!(s["status"], "restricted");
    w.send(
        Method::DELETE,
        w.token("officer_a"),
        "legal_compliance",
        &format!("/v1/dossiers/{id}/legal-holds/{hold_id}"),
        None,
    )
    .await;

    // Now it goes through.
    let (status, r) =
        w.call(Method::POST, w.token("officer_a"), "dsr", &erase, Some(json!({"reason": "consent_withdrawn"}))).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let cert_id = r["certificate_id"].as_str().unwrap().to_owned();
    assert!(cert_id.starts_with("cert_"));
    // Every version: the person reads as erased, the business record and the other contact stay.
    for v in ["/versions/1", "/versions/2", ""] {
        let (status, d) =
            w.call(Method::GET, w.token("officer_a"), "dsr", &format!("/v1/dossiers/{id}{v}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(d["contacts"][0], json!({"subject_id": subjects[0]}), "{v}");
        assert!(d["redactions"]
            .as_array()
            .unwrap()
            .contains(&json!({"path": "/contacts/0/phone", "reason": "erased"})));
        assert_eq!(d["contacts"][1]["name"], fixture(0, "x")["contacts"][1]["name"]);
        assert_eq!(d["customer"]["name"], fixture(0, "x")["customer"]["name"]);
    }
    // The export holds nothing of the person any more.
    let req = w.app.verified_request(w.token("officer_a"), w.id("officer_a"), &subjects[0], "access", w.now()).await;
    let export_path = format!("/v1/subjects/{}/export?request={req}", subjects[0]);
    let (_, export) = w.call(Method::GET, w.token("officer_a"), "dsr", &export_path, None).await;
    assert_eq!(export["subject"]["status"], "erased");
    assert_eq!(export["dossiers"], json!([]));
    assert!(!export.to_string().contains("13912345688"));
    // Idempotent, and the certificate says what happened.
    let (status, again) =
        w.call(Method::POST, w.token("officer_a"), "dsr", &erase, Some(json!({"reason": "again"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["certificate_id"], cert_id.as_str());
    let (_, cert) = w
        .call(Method::GET, w.token("officer_a"), "legal_compliance", &format!("/v1/certificates/{cert_id}"), None)
        .await;
    assert_eq!(cert["items"][0]["outcome"], "erased");
    assert_eq!(cert["items"][0]["keys_shredded"], json!([format!("s/{}", subjects[0])]));
    assert_eq!(cert["items"][0]["rule"], "data-subject-request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_rule_blocks_erasure_under_its_own_law_only_and_every_trigger_applies() {
    // Policies with a keep rule and a `created` rule beside the shipped ones.
    let extra = r#"
[[rule]]
id = "contract-contacts"
covers = "contact"
when = { status = ["active"] }
trigger = "created"
period = "10y"
action = "keep"
law = "CN"
citation = "税收征收管理法实施细则 Art. 29 (contacts named on tax documents)"

[[rule]]
id = "c-grade-trial"
covers = "dossier"
trigger = "created"
period = "2y"
action = "destroy"
approval = true
citation = "internal data-minimisation rule, PIPL Art. 19"
"#;
    let mut text = std::fs::read_to_string(policies_dir().join("retention.toml")).unwrap();
    text.push_str(extra);
    let w = world().policy("retention.toml", &text).start().await;

    let (active, subjects) = w.dossier(0, "active").await;
    let (status, p) = w
        .call(
            Method::POST,
            w.token("officer_a"),
            "dsr",
            &format!("/v1/subjects/{}/erasure", subjects[0]),
            Some(json!({"reason": "objection"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(p["detail"].as_str().unwrap().contains("contract-contacts"), "{p}");
    // A PRC keep rule does not block an EU resident's erasure: only Union or
    // member-state law may (GDPR Art. 17(3)(b)).
    let residency = format!("/v1/subjects/{}/residency", subjects[1]);
    let (status, _) =
        w.call(Method::PUT, w.token("officer_a"), "dsr", &residency, Some(json!({"residency": "FR"}))).await;
    assert_eq!(status, StatusCode::OK);
    let erasure = format!("/v1/subjects/{}/erasure", subjects[1]);
    let (status, r) =
        w.call(Method::POST, w.token("officer_a"), "dsr", &erasure, Some(json!({"reason": "objection"}))).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    // A keep rule over contacts that names no law is refused at load.
    let lawless = text.replace("law = \"CN\"\n", "");
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(policies_dir()).unwrap().flatten() {
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    std::fs::write(dir.path().join("retention.toml"), lawless).unwrap();
    let err = custos::policy::PolicySet::load(dir.path()).err().expect("refused").to_string();
    assert!(err.contains("contract-contacts") && err.contains("names the law"), "{err}");

    // created: due after 2 years; the keep rule covers contacts, not the dossier.
    w.clock().advance(time::Duration::days(2 * 365 + 1));
    let due = w.due().await;
    let item = due_for(&due, &active).expect("created trigger");
    assert_eq!(item["rule"], "c-grade-trial");
    assert_eq!(item["trigger"], "created");
    // last_activity and relationship_end are covered by the shipped rules (other tests);
    // stale dossiers are flagged after a year without change.
    assert!(due["stale"].as_array().unwrap().contains(&json!(active)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_erases_a_prospects_contact_30_days_after_consent_withdrawal() {
    let w = world().start().await;
    let (id, subjects) = w.dossier(3, "prospect").await;
    let grant = json!({"purpose": "marketing", "basis": "consent", "evidence": "web form", "granted_at": "2026-01-05T09:00:00Z"});
    let (status, _) = w
        .call(Method::POST, w.token("officer_a"), "dsr", &format!("/v1/subjects/{}/consents", subjects[0]), Some(grant))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    w.clock().advance(time::Duration::days(1));
    let r = w
        .send(
            Method::DELETE,
            w.token("officer_a"),
            "dsr",
            &format!("/v1/subjects/{}/consents/marketing", subjects[0]),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    w.clock().advance(time::Duration::days(29));
    let archive = w.app.archive();
    let report = archive.retention().retention_sweep(false).await.unwrap();
    assert!(report.executed.is_empty(), "not yet: 30 days");
    w.clock().advance(time::Duration::days(2));
    // A dry run changes nothing.
    let report = archive.retention().retention_sweep(true).await.unwrap();
    assert_eq!(report.due.items.len(), 1);
    assert!(report.executed.is_empty());
    let report = archive.retention().retention_sweep(false).await.unwrap();
    assert_eq!(report.executed.len(), 1, "no approval needed: executed at once");
    let (_, s) = w.call(Method::GET, w.token("officer_a"), "dsr", &format!("/v1/subjects/{}", subjects[0]), None).await;
    assert_eq!(s["status"], "erased");
    let (_, d) = w.call(Method::GET, w.token("service"), "service_delivery", &format!("/v1/dossiers/{id}"), None).await;
    assert_eq!(d["contacts"][0], json!({"subject_id": subjects[0]}));
    // Idempotent: nothing more to do.
    let report = archive.retention().retention_sweep(false).await.unwrap();
    assert!(report.executed.is_empty() && report.proposed.is_empty() && report.due.items.is_empty(), "{report:?}");
}

/// kill -9 while a batch of destructions executes; at that instant no
/// dossier is half destroyed, and `custos retention run` completes the batch.
#[test]
fn kill_9_during_destruction_then_the_next_run_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let mut server = BinaryServer::start(&data, &log);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ids, batch_id) = rt.block_on(async {
        let client = reqwest::Client::new();
        let base = server.base.clone();
        let (owner, service) = principal(&client, &base, &["service"], "华东").await;
        let (_, a) = principal(&client, &base, &["compliance"], "").await;
        let (_, b) = principal(&client, &base, &["compliance"], "").await;
        let mut ids = vec![];
        for i in 0..24 {
            let mut body = fixture(i, &owner);
            body["customer"]["region"] = json!("华东");
            body["status"] = json!("active");
            let r = create_dossier(&client, &base, &service, &body).await;
            let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
            // Ended long ago: due under closed-customer now.
            let r = client
                .post(format!("{base}/v1/dossiers/{id}/close"))
                .bearer_auth(&service)
                .header("X-Purpose", "service_delivery")
                .json(&json!({"ended_at": "2020-01-01T00:00:00Z"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            ids.push(id);
        }
        let r = client
            .post(format!("{base}/v1/disposition/batches"))
            .bearer_auth(&a)
            .header("X-Purpose", "legal_compliance")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let batch_id = r.json::<Value>().await.unwrap()["batch_id"].as_str().unwrap().to_owned();
        // Approve, and kill the server as soon as the first destruction is
        // in the audit log (while the batch executes).
        let approve = client
            .post(format!("{base}/v1/disposition/batches/{batch_id}/approve"))
            .bearer_auth(&b)
            .header("X-Purpose", "legal_compliance")
            .send();
        tokio::spawn(approve);
        for _ in 0..2000 {
            let r = client
                .get(format!("{base}/v1/audit/entries?action=dossier.destroy&limit=1"))
                .bearer_auth(&a)
                .send()
                .await
                .unwrap();
            if !r.json::<Value>().await.unwrap()["entries"].as_array().unwrap().is_empty() {
                break;
            }
        }
        (ids, batch_id)
    });
    server.kill9();

    // At the instant of the kill: every dossier is either wholly there or wholly gone.
    let db = data.join("db");
    let state = |store: &RocksStore| {
        ids.iter()
            .map(|id| {
                let meta: Value =
                    serde_json::from_slice(&store.get(Cf::Dossiers, id.as_bytes()).unwrap().unwrap()).unwrap();
                let key = store.get(Cf::Keys, format!("d/{id}").as_bytes()).unwrap().is_some();
                let versions =
                    store.scan(Cf::Versions, format!("{id}/").as_bytes(), format!("{id}/").as_bytes()).count();
                let destroyed = !meta["destroyed"].is_null();
                assert_eq!(destroyed, !key, "{id}: tombstone and key disagree");
                assert_eq!(destroyed, versions == 0, "{id}: tombstone and versions disagree");
                destroyed
            })
            .collect::<Vec<bool>>()
    };
    let before = { state(&RocksStore::open(&db).unwrap()) };
    let destroyed_before = before.iter().filter(|d| **d).count();
    eprintln!("at the kill: {destroyed_before} of {} dossiers destroyed", ids.len());

    // The next run completes what was approved.
    let out = std::process::Command::new(custos_bin())
        .args(["retention", "run", "--data-dir"])
        .arg(&data)
        .arg("--policies")
        .arg(policies_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let store = RocksStore::open(&db).unwrap();
    let after = state(&store);
    let batch: Value =
        serde_json::from_slice(&store.get(Cf::Disposition, format!("b/{batch_id}").as_bytes()).unwrap().unwrap())
            .unwrap();
    match batch["state"].as_str().unwrap() {
        // The kill came after the approval: the run finished it.
        "done" => {
            assert!(
                after.iter().all(|d| *d),
                "every dossier destroyed after the re-run ({destroyed_before} before): {stdout}"
            );
            let cert = batch["certificate_id"].as_str().unwrap();
            assert!(
                store.get(Cf::Disposition, format!("c/{cert}").as_bytes()).unwrap().is_some(),
                "certificate issued"
            );
        }
        // The kill came before the approval was durable: nothing was destroyed.
        "proposed" => assert_eq!(destroyed_before, 0),
        other => panic!("batch left {other}: {stdout}"),
    }
    drop(store);
    let out = audit_verify(&data);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_blocks_erasure_only_under_the_residents_law_and_a_blocked_erasure_waits_for_its_release() {
    let w = world().start().await;
    let (id, subjects) = w.dossier(0, "active").await;
    let (resident_de, resident_cn) = (&subjects[0], &subjects[1]);
    let residency = |sid: &str| format!("/v1/subjects/{sid}/residency");

    // Residency: compliance records it; a bad code is 422, service may not.
    let (status, s) = w
        .call(Method::PUT, w.token("officer_a"), "dsr", &residency(resident_de), Some(json!({"residency": "DE"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["residency"], "DE");
    let (status, p) = w
        .call(Method::PUT, w.token("officer_a"), "dsr", &residency(resident_de), Some(json!({"residency": "Germany"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (status, _) = w
        .call(
            Method::PUT,
            w.token("service"),
            "service_delivery",
            &residency(resident_de),
            Some(json!({"residency": "CN"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, s) = w.call(Method::GET, w.token("officer_a"), "dsr", &format!("/v1/subjects/{resident_cn}"), None).await;
    assert_eq!(s["residency"], "CN", "PRC residency unless stated");

    // Holds name their law: CN by default, EU or a member state; no other.
    let holds = format!("/v1/dossiers/{id}/legal-holds");
    let hold = |body: Value| w.call(Method::POST, w.token("officer_a"), "legal_compliance", &holds, Some(body));
    let (status, p) = hold(json!({"reason": "r", "case_ref": "c", "jurisdiction": "US"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (status, cn_hold) = hold(json!({"reason": "tax audit", "case_ref": "c-cn"})).await;
    assert_eq!(status, StatusCode::CREATED, "{cn_hold}");
    let cn_hold = cn_hold["hold_id"].as_str().unwrap().to_owned();
    let (_, listed) = w.call(Method::GET, w.token("officer_a"), "legal_compliance", &holds, None).await;
    assert_eq!(listed[0]["jurisdiction"], "CN", "{listed}");

    // A PRC hold does not block an EU resident's erasure (GDPR Art. 17(3)(b)).
    let erase = |sid: &str| format!("/v1/subjects/{sid}/erasure");
    let (status, r) = w
        .call(Method::POST, w.token("officer_a"), "dsr", &erase(resident_de), Some(json!({"reason": "objection"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let (_, s) = w.call(Method::GET, w.token("officer_a"), "dsr", &format!("/v1/subjects/{resident_de}"), None).await;
    assert_eq!(s["status"], "erased", "{s}");

    // An EU hold does not block a PRC resident's; the PRC hold does, and the
    // erasure waits for it, the person restricted meanwhile.
    let (status, eu_hold) = hold(json!({"reason": "litigation", "case_ref": "c-eu", "jurisdiction": "EU"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let eu_hold = eu_hold["hold_id"].as_str().unwrap().to_owned();
    let (status, p) = w
        .call(
            Method::POST,
            w.token("officer_a"),
            "dsr",
            &erase(resident_cn),
            Some(json!({"reason": "consent_withdrawn"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains(&cn_hold) && !detail.contains(&eu_hold), "{detail}");
    assert!(detail.contains("pending"), "{detail}");
    let subject = format!("/v1/subjects/{resident_cn}");
    let (_, s) = w.call(Method::GET, w.token("officer_a"), "dsr", &subject, None).await;
    assert_eq!(s["status"], "restricted");
    assert_eq!(w.app.archive().retention().pending_erasures().unwrap().len(), 1);

    // The sweep leaves it while the hold stands, and carries it out once released.
    let report = w.app.archive().retention().retention_sweep(false).await.unwrap();
    assert!(report.erasures.is_empty());
    let (_, s) = w.call(Method::GET, w.token("officer_a"), "dsr", &subject, None).await;
    assert_eq!(s["status"], "restricted");
    let r = w.send(Method::DELETE, w.token("officer_a"), "legal_compliance", &format!("{holds}/{cn_hold}"), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    w.clock().advance(time::Duration::minutes(5));
    let report = w.app.archive().retention().retention_sweep(false).await.unwrap();
    assert_eq!(report.erasures.len(), 1, "{report:?}");
    let (_, s) = w.call(Method::GET, w.token("officer_a"), "dsr", &subject, None).await;
    assert_eq!(s["status"], "erased");
    assert!(w.app.archive().retention().pending_erasures().unwrap().is_empty());
    let (_, cert) = w
        .call(
            Method::GET,
            w.token("officer_a"),
            "legal_compliance",
            &format!("/v1/certificates/{}", report.erasures[0]),
            None,
        )
        .await;
    assert_eq!(cert["items"][0]["outcome"], "erased", "{cert}");
    let log = w.app.audit(w.token("officer_a"), &format!("subject={resident_cn}&action=subject.erase")).await;
    let by_sweep = log.iter().find(|e| e["actor"] == "system:retention").expect("the sweep's erasure entry");
    assert!(by_sweep["reason"].as_str().unwrap().contains("pending erasure"), "{by_sweep}");
}
