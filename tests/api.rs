//! End-to-end API flows against the real server on port 0.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic fails the run

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dossier_crud_and_version_flow() {
    let app = spawn_app().await;
    app.assess(&["credit_assessment"], &["sensitive_data"]).await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let body = fixture(0, &sid);

    let r = app.create(&service, "service_delivery", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().contains_key("x-request-id"));
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("dos_"));
    assert_eq!(created["version"], 1);
    let subjects = created["subjects"].as_array().unwrap().clone();
    assert_eq!(subjects.len(), body["contacts"].as_array().unwrap().len());
    assert!(subjects.iter().all(|s| s.as_str().unwrap().starts_with("sub_")));

    // Read back as the role table shows it to service: confidential masked,
    // sensitive withheld, the rest as written; contacts carry their subject ids.
    let r = app.get(&service, Some("service_delivery"), &format!("/v1/dossiers/{id}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let read: Value = r.json().await.unwrap();
    assert_eq!(read["version"], 1);
    assert_eq!(read["hash"], created["hash"]);
    assert_eq!(read["customer"], body["customer"]);
    assert_eq!(read["finance"], json!({"credit_rating": "***", "payment_terms": "***"}));
    assert_eq!(read["contacts"][0]["name"], body["contacts"][0]["name"]);
    assert_eq!(read["contacts"][0]["subject_id"], subjects[0]);
    let reasons: Vec<(&str, &str)> = read["redactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["path"].as_str().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("/contacts/0/id_number", "withheld"),
            ("/finance/bank_account", "withheld"),
            ("/finance/credit_rating", "masked"),
            ("/finance/payment_terms", "masked")
        ]
    );

    // Update: If-Match required, must be current.
    let mut v2 = read.clone();
    for k in ["id", "version", "hash", "redactions"] {
        v2.as_object_mut().unwrap().remove(k);
    }
    v2["grade"] = json!("B");
    v2["remarks"] = json!("降级观察");
    let path = format!("/v1/dossiers/{id}");
    assert_problem(app.put(&service, "service_delivery", &path, None, &v2).await, StatusCode::PRECONDITION_REQUIRED)
        .await;
    assert_problem(app.put(&service, "service_delivery", &path, Some("7"), &v2).await, StatusCode::PRECONDITION_FAILED)
        .await;
    let r = app.put(&service, "service_delivery", &path, Some("1"), &v2).await;
    assert_eq!(r.status(), StatusCode::OK);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["subjects"], json!(subjects), "named subjects are reused");
    // The same If-Match again is now stale.
    assert_problem(app.put(&service, "service_delivery", &path, Some("1"), &v2).await, StatusCode::PRECONDITION_FAILED)
        .await;

    // History: v2 names v1's hash.
    let r = app.get(&service, Some("service_delivery"), &format!("/v1/dossiers/{id}/versions")).await;
    let versions: Vec<Value> = r.json().await.unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["hash"], created["hash"]);
    assert_eq!(versions[1]["prev_hash"], created["hash"]);
    assert_eq!(versions[1]["hash"], updated["hash"]);
    assert_eq!(versions[1]["actor"], json!(sid));

    // Old version still readable, unchanged; current is v2.
    let old: Value = app
        .get(&service, Some("service_delivery"), &format!("/v1/dossiers/{id}/versions/1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(old["grade"], "A");
    assert_eq!(old["version"], 1);
    let cur: Value = app.get(&service, Some("service_delivery"), &path).await.json().await.unwrap();
    assert_eq!(cur["grade"], "B");
    assert_eq!(cur["remarks"], "降级观察");
    // The masked and withheld values service sent back (or left out) did not
    // overwrite the real ones: fields it cannot see in clear are kept.
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let dsr: Value = app.get(&compliance, Some("dsr"), &path).await.json().await.unwrap();
    assert_eq!(dsr["finance"]["bank_account"], body["finance"]["bank_account"]);
    assert_eq!(dsr["contacts"][0]["id_number"], body["contacts"][0]["id_number"]);
    let (_, finance) = app.principal(&["finance"], "").await;
    let fin: Value = app.get(&finance, Some("credit_assessment"), &path).await.json().await.unwrap();
    assert_eq!(fin["finance"], body["finance"]);
    assert_problem(
        app.get(&service, Some("service_delivery"), &format!("/v1/dossiers/{id}/versions/3")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.get(&service, Some("service_delivery"), "/v1/dossiers/dos_01jd0000000000000000000000").await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // A contact naming an existing subject is the same person in a second dossier.
    let mut other = fixture(1, &sid);
    other["customer"]["region"] = json!("华东");
    other["contacts"][0]["subject_id"] = subjects[0].clone();
    let r = app.create(&service, "service_delivery", &other).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let c2: Value = r.json().await.unwrap();
    assert_eq!(c2["subjects"][0], subjects[0]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_table_ownership_region_and_admin() {
    let app = spawn_app().await;
    let (sales_id, sales) = app.principal(&["sales"], "华东").await;
    let (_, sales2) = app.principal(&["sales"], "华东").await;
    let (service_id, service_east) = app.principal(&["service"], "华东").await;
    let (_, service_south) = app.principal(&["service"], "华南").await;
    let (_, finance) = app.principal(&["finance"], "").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    assess(&app.client, &app.base, &compliance, &["credit_assessment"], &["sensitive_data"]).await;

    // Sales creates only as owner.
    assert_problem(app.create(&sales, "service_delivery", &fixture(0, &service_id)).await, StatusCode::FORBIDDEN).await;
    let r = app.create(&sales, "service_delivery", &fixture(0, &sales_id)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/dossiers/{id}");

    let cases: &[(&str, &str, Option<&str>, StatusCode)] = &[
        ("owner sales", &sales, Some("service_delivery"), StatusCode::OK),
        ("owner sales, marketing", &sales, Some("marketing"), StatusCode::OK),
        ("other sales", &sales2, Some("service_delivery"), StatusCode::FORBIDDEN),
        ("service same region", &service_east, Some("service_delivery"), StatusCode::OK),
        ("service other region", &service_south, Some("service_delivery"), StatusCode::FORBIDDEN),
        ("service, purpose not its own", &service_east, Some("marketing"), StatusCode::FORBIDDEN),
        ("finance", &finance, Some("credit_assessment"), StatusCode::OK),
        ("finance, wrong purpose", &finance, Some("service_delivery"), StatusCode::FORBIDDEN),
        ("compliance", &compliance, Some("legal_compliance"), StatusCode::OK),
        ("compliance dsr", &compliance, Some("dsr"), StatusCode::OK),
        ("admin", ADMIN_TOKEN, Some("service_delivery"), StatusCode::FORBIDDEN),
        ("no purpose", &sales, None, StatusCode::BAD_REQUEST),
        ("unknown purpose", &sales, Some("curiosity"), StatusCode::BAD_REQUEST),
        ("malformed purpose", &sales, Some("DROP TABLE"), StatusCode::BAD_REQUEST),
    ];
    for (what, token, purpose, status) in cases {
        let r = app.get(token, *purpose, &path).await;
        assert_eq!(r.status(), *status, "{what}");
    }

    // Updates: sales never, service own region only, finance/compliance never.
    let body = fixture(0, &sales_id);
    assert_problem(app.put(&sales, "service_delivery", &path, Some("1"), &body).await, StatusCode::FORBIDDEN).await;
    assert_problem(app.put(&service_south, "service_delivery", &path, Some("1"), &body).await, StatusCode::FORBIDDEN)
        .await;
    assert_problem(app.put(&compliance, "legal_compliance", &path, Some("1"), &body).await, StatusCode::FORBIDDEN)
        .await;
    let mut moved = body.clone();
    moved["customer"]["region"] = json!("华南");
    assert_problem(app.put(&service_east, "service_delivery", &path, Some("1"), &moved).await, StatusCode::FORBIDDEN)
        .await;
    assert_eq!(app.put(&service_east, "service_delivery", &path, Some("1"), &body).await.status(), StatusCode::OK);
    // Finance, compliance, admin may not create.
    for (t, p) in [(&finance, "credit_assessment"), (&compliance, "legal_compliance")] {
        assert_problem(app.create(t, p, &fixture(1, &sales_id)).await, StatusCode::FORBIDDEN).await;
    }

    // Every one of those decisions is in the audit log, denials included.
    let reads = app.audit(&compliance, &format!("resource={id}&action=dossier.read")).await;
    let denies = reads.iter().filter(|e| e["outcome"] == "deny").count();
    let allows = reads.iter().filter(|e| e["outcome"] == "allow").count();
    assert_eq!(allows, 6, "{reads:#?}");
    assert_eq!(denies, cases.len() - 6);
    let admin_read = reads.iter().find(|e| e["roles"] == json!(["admin"])).unwrap();
    assert_eq!(admin_read["outcome"], "deny");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principals_tokens_and_revocation() {
    let app = spawn_app().await;
    let (id, token) = app.principal(&["service"], "华东").await;
    // Only admin manages principals.
    let r = app
        .client
        .post(format!("{}/v1/principals", app.base))
        .bearer_auth(&token)
        .json(&json!({"name": "x", "roles": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::FORBIDDEN).await;
    // Staff names are personal data: sealed in the store.
    let r = app
        .client
        .post(format!("{}/v1/principals", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "欧阳明远", "roles": ["sales"], "department": "华东销售部", "region": "华东"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app
        .client
        .post(format!("{}/v1/principals", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "x", "roles": ["emperor"]}))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let r = app
        .client
        .post(format!("{}/v1/principals/prn_01jd0000000000000000000000/tokens", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;

    // Second token for the same principal; revoke it; it stops at once.
    let r = app
        .client
        .post(format!("{}/v1/principals/{id}/tokens", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let asked: Value = r.json().await.unwrap();
    let tid = asked["token_id"].as_str().unwrap().to_owned();
    let second = second_admin(&app.client, &app.base, false).await;
    let r = app.client.post(format!("{}/v1/tokens/{tid}/approve", app.base)).bearer_auth(&second).send().await.unwrap();
    let half = r.json::<Value>().await.unwrap()["enrollment_code_part"].as_str().unwrap().to_owned();
    let code = format!("{}{half}", asked["enrollment_code_part"].as_str().unwrap());
    let t2 = enroll_as(&app.client, &app.base, &code, Some(&id)).await;
    let body = fixture(0, &id);
    assert_eq!(app.create(&t2, "service_delivery", &body).await.status(), StatusCode::CREATED);
    let r = app.client.delete(format!("{}/v1/tokens/{tid}", app.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(app.create(&t2, "service_delivery", &body).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        app.create(&token, "service_delivery", &body).await.status(),
        StatusCode::CREATED,
        "other token unaffected"
    );
    let r = app
        .client
        .delete(format!("{}/v1/tokens/tok_01jd0000000000000000000000", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;

    // 401 for missing, malformed and unknown tokens.
    let r = app.client.get(format!("{}/v1/dossiers/x", app.base)).send().await.unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    let r = app
        .client
        .get(format!("{}/v1/dossiers/x", app.base))
        .header("Authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    assert_problem(
        app.get("cst_not-a-token", Some("service_delivery"), "/v1/dossiers/x").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Only hashes are stored: neither token nor code appears under the data directory.
    let dir = app.stop().await;
    for t in [&token, &t2, &code, &"欧阳明远".to_owned(), &"华东销售部".to_owned()] {
        assert!(files_containing(&dir.path().join("data"), t).is_empty(), "{t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_entries_api_filters_cursor_and_raw() {
    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let mut ids = vec![];
    for i in 0..5 {
        let r = app.create(&service, "service_delivery", &fixture(i, &sid)).await;
        ids.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    let read = app
        .client
        .get(format!("{}/v1/dossiers/{}", app.base, ids[0]))
        .bearer_auth(&service)
        .header("X-Purpose", "service_delivery")
        .header("X-Request-Id", "6f1c2a9e-3b7d-4e0a-9c55-0d2b8e7f1a34")
        .send()
        .await
        .unwrap();
    assert_eq!(read.headers()["x-request-id"], "6f1c2a9e-3b7d-4e0a-9c55-0d2b8e7f1a34");
    // A request id that could carry a value is replaced by one of ours.
    let r = app
        .client
        .get(format!("{}/v1/dossiers/{}", app.base, ids[1]))
        .bearer_auth(&service)
        .header("X-Purpose", "service_delivery")
        .header("X-Request-Id", "13912345688")
        .send()
        .await
        .unwrap();
    assert!(r.headers()["x-request-id"].to_str().unwrap().starts_with("req_"));

    // Only compliance may query.
    assert_problem(app.get(&service, None, "/v1/audit/entries").await, StatusCode::FORBIDDEN).await;
    assert_problem(app.get(ADMIN_TOKEN, None, "/v1/audit/entries").await, StatusCode::FORBIDDEN).await;

    let creates = app.audit(&compliance, "action=dossier.create").await;
    assert_eq!(creates.len(), 5);
    assert!(creates
        .iter()
        .all(|e| e["actor"] == json!(sid) && e["outcome"] == "allow" && e["purpose"] == "service_delivery"));
    let by_resource = app.audit(&compliance, &format!("resource={}&action=dossier.read", ids[0])).await;
    assert_eq!(by_resource.len(), 1);
    assert_eq!(by_resource[0]["request_id"], "6f1c2a9e-3b7d-4e0a-9c55-0d2b8e7f1a34");
    assert!(!by_resource[0]["subjects"].as_array().unwrap().is_empty());
    assert!(by_resource[0]["fields"]["released"].as_array().unwrap().iter().any(|p| p == "/customer/name"));
    let subject = by_resource[0]["subjects"][0].as_str().unwrap();
    assert!(!app.audit(&compliance, &format!("subject={subject}")).await.is_empty());
    assert!(app.audit(&compliance, "outcome=deny").await.len() >= 2, "the refused audit queries");

    // Paging with the cursor walks everything exactly once, in order.
    let mut seen = vec![];
    let mut cursor = String::from("0");
    loop {
        let page: Value = app
            .get(&compliance, None, &format!("/v1/audit/entries?limit=3&cursor={cursor}"))
            .await
            .json()
            .await
            .unwrap();
        seen.extend(page["entries"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "{seen:?}");
    assert_eq!(seen[0], 0);

    // One entry, and its raw canonical bytes hash to its chain hash.
    let one: Value = app.get(&compliance, None, "/v1/audit/entries/3").await.json().await.unwrap();
    assert_eq!(one["seq"], 3);
    let raw = app.get(&compliance, None, "/v1/audit/entries/3/raw").await.bytes().await.unwrap();
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&raw)), one["hash"].as_str().unwrap());
    let next: Value = app.get(&compliance, None, "/v1/audit/entries/4").await.json().await.unwrap();
    assert_eq!(next["prev_hash"], one["hash"]);
    assert_problem(app.get(&compliance, None, "/v1/audit/entries/999999").await, StatusCode::NOT_FOUND).await;
    assert_problem(app.get(&compliance, None, "/v1/audit/entries/-1").await, StatusCode::BAD_REQUEST).await;
    for q in ["limit=0", "limit=abc", "outcome=maybe", "from=yesterday", "cursor=x", "colour=red"] {
        assert_problem(app.get(&compliance, None, &format!("/v1/audit/entries?{q}")).await, StatusCode::BAD_REQUEST)
            .await;
    }
    // Time filters: everything so far is after the epoch and before 2100.
    let all = app.audit(&compliance, "from=1970-01-01T00:00:00Z&to=2100-01-01T00:00:00Z").await;
    assert!(all.len() >= 10);
    assert!(app.audit(&compliance, "from=2100-01-01T00:00:00Z").await.is_empty());

    let dir = app.stop().await;
    let out = audit_verify(&dir.path().join("data"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_and_openapi_completeness() {
    let app = spawn_app().await;
    for p in ["/healthz", "/readyz"] {
        assert_eq!(app.client.get(format!("{}{p}", app.base)).send().await.unwrap().status(), StatusCode::OK);
    }
    let (sid, service) = app.principal(&["service"], "华东").await;
    app.create(&service, "service_delivery", &fixture(0, &sid)).await;
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("custos_http_requests_total"), "{metrics}");
    assert!(metrics.contains("custos_audit_batches_total"));
    assert!(metrics.contains("route=\"/v1/dossiers\""));

    let doc: Value = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    let expected = [
        ("/v1/principals", "post"),
        ("/v1/principals/{id}/tokens", "post"),
        ("/v1/tokens/{token_id}", "delete"),
        ("/v1/dossiers", "post"),
        ("/v1/dossiers/{id}", "get"),
        ("/v1/dossiers/{id}", "put"),
        ("/v1/dossiers/{id}/versions", "get"),
        ("/v1/dossiers/{id}/versions/{v}", "get"),
        ("/v1/audit/entries", "get"),
        ("/v1/audit/entries/{seq}", "get"),
        ("/v1/audit/entries/{seq}/raw", "get"),
        ("/v1/audit/checkpoint", "get"),
        ("/v1/audit/verifier-key", "get"),
        ("/v1/audit/proofs/inclusion", "get"),
        ("/v1/audit/proofs/consistency", "get"),
        ("/v1/audit/alerts", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/schemas/{name}", "get"),
        ("/v1/subjects/{sid}", "get"),
        ("/v1/subjects/{sid}/consents", "post"),
        ("/v1/subjects/{sid}/consents", "get"),
        ("/v1/subjects/{sid}/consents/{purpose}", "delete"),
        ("/v1/subjects/{sid}/restriction", "post"),
        ("/v1/subjects/{sid}/restriction", "delete"),
        ("/v1/subjects/{sid}/export", "get"),
        ("/v1/subjects/{sid}/access-report", "get"),
        ("/v1/requests/{id}/access-report", "get"),
        ("/v1/subjects/{sid}/erasure", "post"),
        ("/v1/dossiers/{id}/close", "post"),
        ("/v1/dossiers/{id}/legal-holds", "post"),
        ("/v1/dossiers/{id}/legal-holds", "get"),
        ("/v1/dossiers/{id}/legal-holds/{hold_id}", "delete"),
        ("/v1/disposition/due", "get"),
        ("/v1/disposition/batches", "post"),
        ("/v1/disposition/batches/{id}", "get"),
        ("/v1/disposition/batches/{id}/approve", "post"),
        ("/v1/certificates/{id}", "get"),
        ("/v1/search", "get"),
        ("/v1/dossiers/{id}/documents", "get"),
        ("/v1/dossiers/{id}/documents/{name}", "put"),
        ("/v1/dossiers/{id}/documents/{name}", "get"),
        ("/v1/backups", "get"),
        ("/v1/backups", "post"),
        ("/v1/tokens/{token_id}/approve", "post"),
        ("/v1/enroll", "post"),
        ("/v1/principals/{id}/approve", "post"),
        ("/v1/principals/{id}/disable", "post"),
        ("/v1/principals/{id}/enable", "post"),
        ("/v1/principals/{id}/tokens", "get"),
        ("/v1/tokens/{token_id}/renew", "post"),
        ("/v1/subjects/{sid}/residency", "put"),
        ("/v1/subjects/{sid}/processing", "get"),
        ("/v1/requests", "post"),
        ("/v1/requests", "get"),
        ("/v1/requests/{id}", "get"),
        ("/v1/requests/{id}", "patch"),
        ("/v1/incidents", "post"),
        ("/v1/incidents", "get"),
        ("/v1/incidents/{id}", "get"),
        ("/v1/incidents/{id}/affected", "post"),
        ("/v1/incidents/{id}/affected/{n}", "get"),
        ("/v1/incidents/{id}/notifications", "post"),
        ("/v1/incidents/{id}/exemption", "post"),
        ("/v1/incidents/{id}/notice", "get"),
        ("/v1/exports", "post"),
        ("/v1/exports/{id}", "get"),
        ("/v1/exports/{id}/approve", "post"),
        ("/v1/exports/{id}/content", "get"),
        ("/v1/records-of-processing", "get"),
        ("/v1/assessments", "post"),
        ("/v1/assessments", "get"),
        ("/v1/assessments/{id}/report", "get"),
        ("/v1/assessments/coverage", "get"),
        ("/v1/officer", "get"),
        ("/v1/officer", "put"),
        ("/v1/recipients", "post"),
        ("/v1/recipients", "get"),
        ("/v1/recipients/{id}", "get"),
        ("/v1/recipients/{id}/attestation", "post"),
        ("/v1/transfers", "post"),
        ("/v1/transfers", "get"),
        ("/v1/transfers/volume", "get"),
        ("/v1/notices", "get"),
        ("/v1/dossiers/{id}/interactions", "post"),
        ("/v1/dossiers/{id}/interactions", "get"),
        ("/v1/dossiers/{id}/figures/{month}", "put"),
        ("/v1/dossiers/{id}/grade", "get"),
        ("/v1/dossiers/{id}/grade", "post"),
        ("/v1/dossiers/{id}/reviews", "post"),
        ("/v1/reviews/due", "get"),
        ("/v1/reports/summary", "get"),
        ("/v1/imports", "post"),
        ("/v1/dossiers/export", "get"),
        ("/v1/requests/{id}/handovers", "post"),
        ("/v1/requests/{id}/handovers/{recipient}/content", "get"),
        ("/v1/data-grades", "get"),
        ("/v1/data-grades/decisions", "post"),
        ("/v1/data-grades/responsible", "post"),
        ("/v1/compliance-audits", "post"),
        ("/v1/compliance-audits", "get"),
        ("/v1/compliance-audits/{id}", "get"),
        ("/v1/compliance-audits/{id}/start", "post"),
        ("/v1/compliance-audits/{id}/complete", "post"),
        ("/v1/compliance-audits/{id}/authority-report", "post"),
        ("/v1/compliance-audits/{id}/report", "get"),
        ("/v1/compliance-audits/{id}/findings", "post"),
        ("/v1/compliance-audits/{id}/findings/{n}/fix", "post"),
        ("/v1/compliance-audits/{id}/findings/{n}/verify", "post"),
        ("/v1/factor", "post"),
        ("/v1/factor/confirm", "post"),
        ("/v1/principals/{id}/factor/reset", "post"),
        ("/v1/principals/{id}/factor/unlock", "post"),
        ("/v1/subjects/{sid}/restriction/notice", "post"),
        ("/v1/dossiers/{id}/grade/contest", "post"),
        ("/v1/dossiers/{id}/grade/objection", "post"),
        ("/v1/dossiers/{id}/grade/objection/withdraw", "post"),
        ("/v1/dossiers/{id}/grade/review", "post"),
        ("/v1/notices/{version}/owed", "get"),
        ("/v1/subjects/{sid}/notified", "post"),
        ("/witness/add-checkpoint", "post"),
        ("/v1/audit/witness-key", "get"),
        ("/v1/audit/checkpoint/cosigned", "get"),
    ];
    for (path, method) in expected {
        assert!(doc["paths"][path][method].is_object(), "openapi lacks {method} {path}");
    }
    let documented: usize = doc["paths"].as_object().unwrap().values().map(|m| m.as_object().unwrap().len()).sum();
    assert_eq!(documented, expected.len(), "every documented operation is in the expected list");
    assert_eq!(doc["components"]["schemas"]["Dossier"]["properties"]["contacts"]["x-classification"], "personal");
    assert_eq!(
        doc["paths"]["/v1/dossiers"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Dossier"
    );
    // No untyped request body: every JSON body names a component schema
    // that declares its properties and refuses unknown ones.
    let mut json_bodies = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let Some(content) = op["requestBody"]["content"].as_object() else { continue };
            let Some(schema) = content.get("application/json").map(|c| &c["schema"]) else { continue };
            json_bodies += 1;
            let name = schema["$ref"].as_str().unwrap_or_else(|| panic!("{method} {path}: inline body {schema}"));
            let component = &doc["components"]["schemas"][name.trim_start_matches("#/components/schemas/")];
            assert!(component["properties"].is_object(), "{method} {path}: {name} has no properties");
            assert_eq!(component["additionalProperties"], false, "{method} {path}: {name} takes unknown members");
            let required = component["required"].as_array().is_some_and(|r| !r.is_empty());
            let some_member = component["minProperties"].as_u64().is_some_and(|n| n >= 1);
            assert!(required || some_member, "{method} {path}: {name} accepts an empty object");
        }
    }
    assert_eq!(
        json_bodies, 42,
        "dossier create and update, principal, close, hold, consent, erasure, enroll, residency, request and its \
         change, incident, affected, notification, exemption, export, assessment, officer, recipient, attestation, \
         transfer, interaction, figures, grade override, review, hand-over, grading decision, data-security \
         appointment, engagement, its start, completion and authority report, finding, fix, verification, \
         second-factor confirmation, notice before a lift, grade contest, objection, its withdrawal and review, a person told of a notice"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data_and_chain_and_refuses_a_wrong_master_key() {
    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let id = app.create(&service, "service_delivery", &fixture(2, &sid)).await.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = app.stop().await;

    let app = spawn_app_in(dir, |_| {}).await;
    let r = app.get(&service, Some("service_delivery"), &format!("/v1/dossiers/{id}")).await;
    assert_eq!(r.status(), StatusCode::OK, "token and data survive a restart");
    assert_eq!(r.json::<Value>().await.unwrap()["customer"]["name"], "ZZ食品加工厂");
    let dir = app.stop().await;

    // Another master key: start-up refuses, naming the mismatch.
    let other = dir.path().join("other.key");
    custos::crypto::MasterKey::generate().write_new(&other).unwrap();
    let mut config = test_config(dir.path());
    config.master_key_file = other;
    let err = custos::server::start(config, std::sync::Arc::new(custos::clock::SystemClock)).await.err().unwrap();
    assert!(format!("{err:#}").contains("master key"), "{err:#}");
}

/// The verifier in docs/verify_audit.py, written from docs/audit-format.md
/// alone, accepts the live log served over the API, agrees on the chain
/// hashes, and rejects a changed entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_verifier_accepts_the_log() {
    let have_python = std::process::Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !tool_available("python3 (the outside verifier)", have_python) {
        return;
    }
    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    for i in 0..3 {
        app.create(&service, "service_delivery", &fixture(i, &sid)).await;
    }
    app.get(&service, None, "/v1/dossiers/x").await; // a refusal, audited
    let entries = app.audit(&compliance, "").await;
    let out = tempfile::tempdir().unwrap();
    for e in &entries {
        let seq = e["seq"].as_u64().unwrap();
        let raw = app.get(&compliance, None, &format!("/v1/audit/entries/{seq}/raw")).await.bytes().await.unwrap();
        std::fs::write(out.path().join(format!("{seq}.bin")), &raw).unwrap();
    }
    let last_hash = entries.last().unwrap()["hash"].as_str().unwrap().to_owned();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/verify_audit.py");
    let run = || std::process::Command::new("python3").arg(&script).arg(out.path()).arg(&last_hash).output().unwrap();
    let ok = run();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));
    assert!(String::from_utf8_lossy(&ok.stdout).contains(&last_hash));

    let victim = out.path().join("2.bin");
    let mut raw = std::fs::read(&victim).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 0x20;
    std::fs::write(&victim, raw).unwrap();
    let bad = run();
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains("first bad sequence number 3"),
        "the break shows at the next entry"
    );
    app.stop().await;
}

/// An admin cannot act as anyone else by any sequence of calls: a token for
/// someone else takes a second admin's approval, and only the enrollment
/// code (shown to the approving admin, to hand over) yields it, once. Every
/// entry names the token; issuance names who asked and who approved; a code
/// redeemed from where the asking admin works raises an alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_admin_cannot_act_as_anyone() {
    let app = spawn_app().await;
    let post = |token: String, path: String, body: Option<Value>| {
        let (client, base) = (app.client.clone(), app.base.clone());
        async move {
            let mut r = client.post(format!("{base}{path}")).bearer_auth(token);
            if let Some(b) = body {
                r = r.json(&b);
            }
            r.send().await.unwrap()
        }
    };
    let admin = ADMIN_TOKEN.to_owned();
    // The first admin's principal id: the first entry of the log.
    let (_, auditor) = app.principal(&["compliance"], "").await;
    let first: Value = app.get(&auditor, None, "/v1/audit/entries/0").await.json().await.unwrap();
    let me = first["resource"].as_str().unwrap().to_owned();
    let new_principal = |roles: Value| {
        let post = &post;
        let admin = admin.clone();
        async move {
            let body = json!({"name": "x", "roles": roles, "department": "d", "region": "华东"});
            let r = post(admin, "/v1/principals".into(), Some(body)).await;
            r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
        }
    };
    // A compliance officer, and a second admin the first one makes up.
    let officer = new_principal(json!(["compliance"])).await;
    let puppet = new_principal(json!(["admin"])).await;
    let mut pending = Vec::new();
    let mut halves = Vec::new();
    for p in [&officer, &puppet] {
        let r = post(admin.clone(), format!("/v1/principals/{p}/tokens"), None).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let t: Value = r.json().await.unwrap();
        assert_eq!(t["state"], "awaiting_approval", "{t}");
        assert!(t.get("enrollment_code").is_none() && t.get("token").is_none(), "nothing to act with: {t}");
        // Half a code: the asking admin's alone enrolls nothing.
        let half = t["enrollment_code_part"].as_str().unwrap().to_owned();
        let r = app.client.post(format!("{}/v1/enroll", app.base)).json(&json!({ "code": half })).send().await.unwrap();
        assert_problem(r, StatusCode::UNAUTHORIZED).await;
        halves.push(half);
        pending.push(t["token_id"].as_str().unwrap().to_owned());
        // The asking admin cannot approve it.
        let r = post(admin.clone(), format!("/v1/tokens/{}/approve", pending.last().unwrap()), None).await;
        assert_problem(r, StatusCode::FORBIDDEN).await;
    }
    // Their own further token they may have: it reads nothing.
    let r = post(admin.clone(), format!("/v1/principals/{me}/tokens"), None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let own_code = r.json::<Value>().await.unwrap()["enrollment_code"].as_str().unwrap().to_owned();
    let own = enroll_as(&app.client, &app.base, &own_code, Some(&me)).await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let created: Value = app.create(&service, "service_delivery", &fixture(0, &sid)).await.json().await.unwrap();
    let path = format!("/v1/dossiers/{}", created["id"].as_str().unwrap());
    for (token, purpose) in [(&admin, "dsr"), (&own, "dsr"), (&own, "legal_compliance")] {
        let r = app.get(token, Some(purpose), &path).await;
        assert_problem(r, StatusCode::FORBIDDEN).await;
    }
    let r = app.request(reqwest::Method::POST, &own, "legal_compliance", "/v1/disposition/batches", None).await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
    let r = post(own.clone(), "/v1/disposition/batches/bat_01jd0000000000000000000000/approve".into(), None).await;
    assert!(r.status() == StatusCode::FORBIDDEN || r.status() == StatusCode::BAD_REQUEST, "{}", r.status());
    // Codes are one-time and nothing else enrolls.
    for code in ["enr_guess", "", &"x".repeat(300)] {
        let r = app.client.post(format!("{}/v1/enroll", app.base)).json(&json!({ "code": code })).send().await.unwrap();
        assert!(r.status() == StatusCode::UNAUTHORIZED || r.status() == StatusCode::UNPROCESSABLE_ENTITY);
    }

    // The second admin approves the officer's token; the officer enrolls.
    let second = second_admin(&app.client, &app.base, false).await;
    let r = post(second.clone(), format!("/v1/tokens/{}/approve", pending[0]), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let issued: Value = r.json().await.unwrap();
    assert_eq!(issued["state"], "enrollable");
    // The approving admin sees whom the token is for, and who asked when.
    assert_eq!(issued["principal"]["id"], officer.as_str(), "{issued}");
    assert_eq!(issued["principal"]["roles"], json!(["compliance"]));
    assert_eq!(issued["requested_by"], me.as_str());
    assert!(issued["requested_at"].is_string());
    assert!(issued.get("enrollment_code").is_none(), "half a code only: {issued}");
    let second_half = issued["enrollment_code_part"].as_str().unwrap().to_owned();
    let r = post(second.clone(), format!("/v1/tokens/{}/approve", pending[0]), None).await;
    assert_problem(r, StatusCode::CONFLICT).await;
    // The approving admin's half alone enrolls nothing either.
    let r =
        app.client.post(format!("{}/v1/enroll", app.base)).json(&json!({ "code": second_half })).send().await.unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    let code = format!("{}{second_half}", halves[0]);
    let officer_token = enroll(&app.client, &app.base, &code).await;
    let r = app.client.post(format!("{}/v1/enroll", app.base)).json(&json!({ "code": code })).send().await.unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    assert_eq!(app.get(&officer_token, Some("dsr"), &path).await.status(), StatusCode::OK);
    // A pending token revoked cannot be approved.
    let r =
        app.client.delete(format!("{}/v1/tokens/{}", app.base, pending[1])).bearer_auth(&second).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(
        post(second.clone(), format!("/v1/tokens/{}/approve", pending[1]), None).await,
        StatusCode::CONFLICT,
    )
    .await;

    // The log names the token of every entry, who asked, who approved.
    let reads = app.audit(&officer_token, &format!("actor={officer}&action=dossier.read")).await;
    assert_eq!(reads[0]["token_id"], pending[0].as_str(), "{reads:#?}");
    let made = app.audit(&officer_token, &format!("resource={}", pending[0])).await;
    // Asked, refused to the asker, approved, refused again, enrolled.
    let outcomes: Vec<(&str, &str)> =
        made.iter().map(|e| (e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap())).collect();
    assert_eq!(
        outcomes,
        [
            ("token.create", "allow"),
            ("token.approve", "deny"),
            ("token.approve", "allow"),
            ("token.approve", "error"),
            ("token.enroll", "allow")
        ],
        "{made:#?}"
    );
    assert!(made[0]["reason"].as_str().unwrap().contains(&format!("asked by {me}")), "{made:#?}");
    assert!(made[4]["reason"].as_str().unwrap().contains("approved by prn_"), "{made:#?}");
    assert_eq!(made[4]["actor"], officer.as_str());

    // A code redeemed from the address the asking admin works from.
    let from = |ip: [u8; 4]| reqwest::Client::builder().local_address(std::net::IpAddr::from(ip)).build().unwrap();
    let desk = from([127, 0, 0, 2]);
    let analyst = new_principal(json!(["finance"])).await;
    let r = desk
        .post(format!("{}/v1/principals/{analyst}/tokens", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let asked: Value = r.json().await.unwrap();
    let tid = asked["token_id"].as_str().unwrap().to_owned();
    let r = post(second.clone(), format!("/v1/tokens/{tid}/approve"), None).await;
    let half = r.json::<Value>().await.unwrap()["enrollment_code_part"].as_str().unwrap().to_owned();
    let code = format!("{}{half}", asked["enrollment_code_part"].as_str().unwrap());
    let r = factor::redeem(&desk, &app.base, &code, None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let alerts: Value = app.get(&officer_token, None, "/v1/audit/alerts").await.json().await.unwrap();
    let alerts = alerts.as_array().cloned().unwrap_or_else(|| alerts["alerts"].as_array().unwrap().clone());
    assert!(
        alerts.iter().any(|a| a["rule"] == "token.enrolled_from_admin" && a["actor"] == me.as_str()),
        "{alerts:#?}"
    );
    // From elsewhere, no alert.
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    app.stop().await;
}

/// The served OpenAPI document is exact: schemathesis (PyPI) generates
/// requests from it, valid and invalid, and runs every check against the
/// real server as three kinds of caller (admin, compliance, service): no
/// 5xx, no status, content type, header or body the document does not
/// describe, no valid request refused, no invalid one accepted. The few
/// answers that depend on the server's state are listed, with why, in
/// tests/schemathesis/schemathesis.toml.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_the_openapi_document_exact() {
    let st = std::env::var("CUSTOS_SCHEMATHESIS").unwrap_or_else(|_| "st".into());
    let present = std::process::Command::new(&st).arg("--version").output().is_ok_and(|o| o.status.success());
    if !tool_available("schemathesis (st)", present) {
        return;
    }
    let app = spawn_app().await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    assert_eq!(app.create(&service, "service_delivery", &fixture(0, &sid)).await.status(), StatusCode::CREATED);
    let config_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("schemathesis");
    let doc: Value = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    let operations: usize = doc["paths"].as_object().unwrap().values().map(|m| m.as_object().unwrap().len()).sum();
    let disabled =
        std::fs::read_to_string(config_dir.join("schemathesis.toml")).unwrap().matches("\nenabled = false").count();
    for (who, token) in [("admin", ADMIN_TOKEN.to_owned()), ("compliance", compliance), ("service", service)] {
        let (st, url, config) =
            (st.clone(), format!("{}/openapi.json", app.base), config_dir.join("schemathesis.toml"));
        // Its cache goes to a scratch directory, not the clone. One worker:
        // with two, CPython 3.11 sometimes fails inside schemathesis's own
        // code generation ("AST constructor recursion depth mismatch",
        // parsing in two threads at once), which says nothing of custos.
        let scratch = tempfile::tempdir().unwrap();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(st)
                .current_dir(scratch.path())
                .arg("--config-file")
                .arg(config)
                .args(["run", &url, "--checks", "all", "--max-examples", "25", "--workers", "1"])
                // A fixed seed: the run in CI is the run checked here
                // (explore with other seeds by hand: see docs/security.md).
                .args(["--phases", "examples,coverage,fuzzing", "--no-color", "--seed", "20261130"])
                .args(["-H", &format!("Authorization: Bearer {token}")])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "schemathesis as {who}:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
        // Every operation but the one serving the document it was loaded
        // from, and those the config turns off (each saying why).
        let tested = operations - 1 - disabled;
        assert!(text.contains(&format!("Tested: {tested}")), "every operation tested as {who}:\n{text}");
    }
    app.stop().await;
}

/// Every token expires (staff after `token_days`, admins sooner after
/// `admin_token_days`), is listed with its expiry, and its holder can renew
/// it while it works; after it, 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire_are_listed_and_renewed() {
    let clock = std::sync::Arc::new(custos::clock::ManualClock::new(time::macros::datetime!(2026-12-01 09:00 UTC)));
    let app = spawn_app_with(
        tempfile::tempdir().unwrap(),
        |c| {
            c.token_lifetimes =
                custos::archive::TokenLifetimes { staff: time::Duration::days(10), admin: time::Duration::days(3) };
        },
        clock.clone(),
    )
    .await;
    let (sid, service) = app.principal(&["service"], "华东").await;
    let (_, other) = app.principal(&["sales"], "华东").await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let list = |token: String| {
        let (client, url) = (app.client.clone(), format!("{}/v1/principals/{sid}/tokens", app.base));
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let mine: Value = list(service.clone()).await.json().await.unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(
        (&mine[0]["state"], &mine[0]["expires_at"]),
        (&json!("active"), &json!("2026-12-11T09:00:00Z")),
        "{mine}"
    );
    assert!(mine.to_string().find("cst_").is_none(), "no token in a listing: {mine}");
    assert_eq!(list(ADMIN_TOKEN.to_owned()).await.status(), StatusCode::OK);
    assert_problem(list(other.clone()).await, StatusCode::FORBIDDEN).await;
    let tid = mine[0]["token_id"].as_str().unwrap().to_owned();
    let renew = |token: String, id: String| {
        let (client, url) = (app.client.clone(), format!("{}/v1/tokens/{id}/renew", app.base));
        async move { client.post(url).bearer_auth(token).send().await.unwrap() }
    };
    // Another staff member cannot renew it.
    assert_problem(renew(other.clone(), tid.clone()).await, StatusCode::FORBIDDEN).await;

    // Four days on: the admins' tokens (3 days) have expired, staff's work.
    clock.advance(time::Duration::days(4));
    let r =
        app.client.post(format!("{}/v1/principals", app.base)).bearer_auth(ADMIN_TOKEN).json(&json!({})).send().await;
    assert_problem(r.unwrap(), StatusCode::UNAUTHORIZED).await;
    assert_eq!(app.create(&service, "service_delivery", &fixture(0, &sid)).await.status(), StatusCode::CREATED);
    // Renewed on day 4: it works until day 14, past its first expiry.
    let renewed: Value = renew(service.clone(), tid.clone()).await.json().await.unwrap();
    assert_eq!(renewed["expires_at"], "2026-12-15T09:00:00Z", "{renewed}");
    // On the record, with the token that asked for it.
    let entries = app.audit(&compliance, "action=token.renew").await;
    assert!(entries.iter().any(|e| e["outcome"] == "allow" && e["token_id"] == tid.as_str()), "{entries:#?}");
    clock.advance(time::Duration::days(8));
    assert_eq!(app.create(&service, "service_delivery", &fixture(2, &sid)).await.status(), StatusCode::CREATED);
    clock.advance(time::Duration::days(4));
    assert_problem(app.create(&service, "service_delivery", &fixture(2, &sid)).await, StatusCode::UNAUTHORIZED).await;
    assert_problem(renew(service.clone(), tid.clone()).await, StatusCode::UNAUTHORIZED).await;
    let dir = app.stop().await;
    let out = std::process::Command::new(custos_bin())
        .args(["audit", "verify", "--data-dir", dir.path().join("data").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Separation of duties: an auditor reads the audit log, its proofs,
/// checkpoint and alerts, and nothing of any dossier or person; roles that
/// conflict are refused on one principal (422, naming the pair).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_reads_the_log_and_nothing_else_and_roles_that_conflict_are_refused() {
    let app = spawn_app().await;
    for roles in [json!(["admin", "compliance"]), json!(["admin", "auditor"]), json!(["auditor", "sales"])] {
        let r = app
            .client
            .post(format!("{}/v1/principals", app.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "x", "roles": roles, "department": "d", "region": ""}))
            .send()
            .await
            .unwrap();
        let p = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(p.to_string().contains("separation of duties"), "{roles}: {p}");
    }
    let (sid, service) = app.principal(&["service"], "华东").await;
    let created: Value = app.create(&service, "service_delivery", &fixture(0, &sid)).await.json().await.unwrap();
    let (id, person) = (created["id"].as_str().unwrap(), created["subjects"][0].as_str().unwrap());
    let (_, auditor) = app.principal(&["auditor"], "").await;
    for path in
        ["/v1/audit/entries?limit=5", "/v1/audit/checkpoint", "/v1/audit/proofs/inclusion?seq=0", "/v1/audit/alerts"]
    {
        assert_eq!(app.get(&auditor, None, path).await.status(), StatusCode::OK, "{path}");
    }
    for purpose in ["service_delivery", "legal_compliance", "dsr", "credit_assessment", "marketing"] {
        for path in [format!("/v1/dossiers/{id}"), format!("/v1/subjects/{person}")] {
            let r = app.get(&auditor, Some(purpose), &path).await;
            assert_problem(r, StatusCode::FORBIDDEN).await;
        }
        // Search: refused, or (for legal_compliance, which the auditor may
        // state to read certificates) nothing found.
        let r = app.get(&auditor, Some(purpose), "/v1/search?q=%E7%94%B5%E5%AD%90").await;
        if r.status() == StatusCode::OK {
            let page: Value = r.json().await.unwrap();
            assert_eq!(page["hits"], json!([]), "{purpose}: {page}");
        } else {
            assert_problem(r, StatusCode::FORBIDDEN).await;
        }
    }
    assert_problem(app.create(&auditor, "legal_compliance", &fixture(2, &sid)).await, StatusCode::FORBIDDEN).await;
    let r = app.request(reqwest::Method::POST, &auditor, "legal_compliance", "/v1/disposition/batches", None).await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
    app.stop().await;
}

/// Failed authentication is audited without growing the log without bound:
/// one `auth.fail` entry per client address and minute with the count, and
/// an alert for a burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentication_is_counted_per_address_and_minute() {
    let clock = std::sync::Arc::new(custos::clock::ManualClock::new(time::macros::datetime!(2026-12-01 09:00:10 UTC)));
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |_| {}, clock.clone()).await;
    let (_, compliance) = app.principal(&["compliance"], "").await;
    let from = |ip: [u8; 4]| reqwest::Client::builder().local_address(std::net::IpAddr::from(ip)).build().unwrap();
    let (few, many) = (from([127, 0, 0, 2]), from([127, 0, 0, 3]));
    for (client, n) in [(&few, 3), (&many, 25)] {
        for i in 0..n {
            let r = client
                .get(format!("{}/v1/audit/entries", app.base))
                .bearer_auth(format!("cst_not-a-token-{i}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
    }
    // Nothing is written for the minute while it lasts.
    assert_eq!(app.archive().identity().flush_auth_failures(false).await.unwrap(), 0);
    assert!(app.audit(&compliance, "action=auth.fail").await.is_empty());
    clock.advance(time::Duration::seconds(60));
    assert_eq!(app.archive().identity().flush_auth_failures(false).await.unwrap(), 2);
    let entries = app.audit(&compliance, "action=auth.fail").await;
    let mut seen: Vec<(String, String)> = entries
        .iter()
        .map(|e| (e["actor"].as_str().unwrap().to_owned(), e["reason"].as_str().unwrap().to_owned()))
        .collect();
    seen.sort();
    assert_eq!(seen.len(), 2, "{entries:#?}");
    assert_eq!(seen[0].0, "source:127.0.0.2");
    assert!(seen[0].1.starts_with("3 failed authentication(s)"), "{seen:?}");
    assert_eq!(seen[1].0, "source:127.0.0.3");
    assert!(seen[1].1.starts_with("25 failed authentication(s)"), "{seen:?}");
    assert!(entries.iter().all(|e| e["outcome"] == "deny" && !e.to_string().contains("cst_not-a-token")));
    let alerts: Value = app.get(&compliance, None, "/v1/audit/alerts").await.json().await.unwrap();
    let alerts = alerts.as_array().cloned().unwrap_or_else(|| alerts["alerts"].as_array().unwrap().clone());
    let bursts: Vec<&Value> = alerts.iter().filter(|a| a["rule"] == "auth_failure_burst").collect();
    assert_eq!(bursts.len(), 1, "{alerts:#?}");
    assert_eq!(bursts[0]["actor"], "source:127.0.0.3");
    app.stop().await;
}

/// PIPL Art. 56: an impact assessment and its report are kept at least
/// three years. No call removes or changes one: every method on its paths
/// but the ones that record and read is refused, as the compliance officer
/// who recorded it and as an admin, and a second assessment of the same
/// scope is a record of its own beside the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impact_assessment_is_neither_deleted_nor_replaced_by_any_call() {
    use reqwest::Method;
    let app = spawn_app().await;
    let (_, officer) = app.principal(&["compliance"], "总部").await;
    let first = assess(&app.client, &app.base, &officer, &["credit_assessment"], &["sensitive_data"]).await;
    let listed = |token: String| {
        let app = &app;
        async move {
            let r = app.get(&token, None, "/v1/assessments").await;
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()["assessments"].as_array().unwrap().clone()
        }
    };
    let before = listed(officer.clone()).await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["id"], first.as_str());
    let report = format!("/v1/assessments/{first}/report");

    let one = format!("/v1/assessments/{first}");
    let attempts = [
        (Method::DELETE, one.clone()),
        (Method::PUT, one.clone()),
        (Method::PATCH, one.clone()),
        (Method::POST, one.clone()),
        (Method::DELETE, "/v1/assessments".to_owned()),
        (Method::PUT, "/v1/assessments".to_owned()),
        (Method::PATCH, "/v1/assessments".to_owned()),
        (Method::DELETE, report.clone()),
        (Method::PUT, report.clone()),
        (Method::POST, report.clone()),
    ];
    let replacement = json!({"scope": {"purposes": [], "data_categories": [], "processing": []},
        "conducted_on": "2020-01-02", "conclusion": "x", "report_base64": "eA==", "report_type": "text/plain"});
    for token in [officer.as_str(), ADMIN_TOKEN] {
        for (method, path) in &attempts {
            let r = app.request(method.clone(), token, "legal_compliance", path, Some(replacement.clone())).await;
            let status = r.status();
            assert!(
                status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {status}"
            );
        }
    }

    // A second assessment of the same scope is recorded beside the first.
    let second = assess(&app.client, &app.base, &officer, &["credit_assessment"], &["sensitive_data"]).await;
    assert_ne!(second, first);
    let after = listed(officer.clone()).await;
    assert_eq!(after.len(), 2, "{after:?}");
    let kept = after.iter().find(|a| a["id"] == first.as_str()).unwrap();
    assert_eq!(kept, &before[0], "the first assessment is as it was recorded");
    let r = app.get(&officer, None, &report).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"PIA report", "the report comes back whole");
    app.stop().await;
}
